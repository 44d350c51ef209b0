/**
 * Start-up time and disk use of a single clone node, per log backend.
 *
 * 1. Start-up: SETs pipelined with redis-benchmark (`-t set -P 16 -c 50 -r 100000`, 1,000,000 by
 *    default) into a node that takes no automatic snapshot, a graceful stop, then the time from
 *    spawning the node to its first PONG (it answers LOADING while it replays): first with no
 *    snapshot (the whole log is replayed), then after RAFTSNAPSHOT (the snapshot is loaded and
 *    nothing is replayed). Medians of a few restarts; DBSIZE is checked after every restart.
 * 2. Disk: a long run of SETs over a fixed set of keys (10,000 by default) with default snapshot
 *    settings, the data directory's size sampled every few seconds.
 *
 *   bun run bench/restart.ts [--writes 1000000] [--restarts 3] [--backends lmdb,memory]
 *                            [--disk-writes 3000000] [--disk-keys 10000] [--disk-pipeline 1]
 *                            [--sample-seconds 3] [--skip-startup] [--skip-disk]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, median } from "./lib.ts";

interface Settings {
  writes: number;
  restarts: number;
  backends: string[];
  diskWrites: number;
  diskKeys: number;
  diskPipeline: number;
  sampleSeconds: number;
  startup: boolean;
  disk: boolean;
}

function parseSettings(argv: readonly string[]): Settings {
  const settings: Settings = {
    writes: 1_000_000,
    restarts: 3,
    backends: ["lmdb", "memory"],
    diskWrites: 3_000_000,
    diskKeys: 10_000,
    diskPipeline: 1,
    sampleSeconds: 3,
    startup: true,
    disk: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? "";
    if (flag === "--skip-startup") {
      settings.startup = false;
      continue;
    }
    if (flag === "--skip-disk") {
      settings.disk = false;
      continue;
    }
    const value = argv[++i] ?? "";
    switch (flag) {
      case "--writes":
        settings.writes = Number(value);
        break;
      case "--restarts":
        settings.restarts = Number(value);
        break;
      case "--backends":
        settings.backends = value.split(",");
        break;
      case "--disk-writes":
        settings.diskWrites = Number(value);
        break;
      case "--disk-keys":
        settings.diskKeys = Number(value);
        break;
      case "--disk-pipeline":
        settings.diskPipeline = Number(value);
        break;
      case "--sample-seconds":
        settings.sampleSeconds = Number(value);
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  return settings;
}


function redisCli(port: number, ...args: string[]): string {
  const result = Bun.spawnSync(["redis-cli", "-p", String(port), ...args]);
  return result.stdout.toString().trim();
}

function raftStats(port: number): Record<string, string> {
  const lines = redisCli(port, "RAFTSTATS").split("\n");
  const stats: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) stats[lines[i] ?? ""] = lines[i + 1] ?? "";
  return stats;
}

/** A clone process in its own process group, so that it and only it is stopped. */
class Node {
  private child: Subprocess | null = null;
  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly flags: readonly string[],
  ) {}

  /** Spawns the node and resolves with the milliseconds until it answered PING with PONG. */
  async start(): Promise<number> {
    const started = performance.now();
    this.child = Bun.spawn(
      [process.execPath, "run", join(import.meta.dir, "..", "src", "clone.ts"), "-p", String(this.port), "-dir", this.dir, "-loglevel", "warning", ...this.flags],
      { stdout: "ignore", stderr: "inherit", detached: true },
    );
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`node on ${this.port} exited with ${this.child.exitCode}`);
      // A raw PING per probe, so that the measurement is not redis-cli's start-up.
      if (await pingOnce(this.port)) return performance.now() - started;
      await Bun.sleep(5);
    }
    throw new Error(`node on ${this.port} did not answer PING`);
  }

  /** SIGTERM to the group and wait: the node flushes its log and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    const code = await child.exited;
    if (code !== 0) throw new Error(`node on ${this.port} exited with ${code} after SIGTERM`);
  }

  killNow(): void {
    if (this.child === null) return;
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** True when a PING on a fresh connection is answered +PONG within 1 s (LOADING and refusals are false). */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    let received = "";
    const finish = (value: boolean, socket?: { end(): void }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(value);
    };
    const timer = setTimeout(() => finish(false), 1_000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          socket.write("PING\r\n");
        },
        data(socket, chunk) {
          received += chunk.toString();
          if (received.includes("\r\n")) finish(received.startsWith("+PONG"), socket);
        },
        close() {
          finish(false);
        },
        error() {
          finish(false);
        },
        connectError() {
          finish(false);
        },
      },
    }).catch(() => finish(false));
  });
}


/** Bytes of every file under `path`: apparent (file sizes) and allocated (disk blocks). */
function directoryBytes(path: string): { apparent: number; allocated: number; files: Record<string, number> } {
  let apparent = 0;
  let allocated = 0;
  const files: Record<string, number> = {};
  const visit = (directory: string, prefix: string): void => {
    let names: string[];
    try {
      names = readdirSync(directory);
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(directory, name);
      try {
        const stat = statSync(full);
        if (stat.isDirectory()) visit(full, `${prefix}${name}/`);
        else {
          apparent += stat.size;
          allocated += stat.blocks * 512;
          const group = name.endsWith(".snap") || name.endsWith(".tmp") ? `${prefix}*.snap` : `${prefix}${name}`;
          files[group] = (files[group] ?? 0) + stat.blocks * 512;
        }
      } catch {
        // The node renamed or deleted the file while we looked: it is counted at the next sample.
      }
    }
  };
  visit(path, "");
  return { apparent, allocated, files };
}

const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

async function startupBenchmark(settings: Settings, backend: string, root: string, nodes: Node[]): Promise<void> {
  const port = await freePort();
  const dir = join(root, `startup-${backend}`);
  // No automatic snapshot, so that the first restarts replay the whole log.
  const node = new Node(port, dir, ["-backend", backend, "-durability", "medium", "-snapshot-entries", "1000000000"]);
  nodes.push(node);
  await node.start();
  const loadStarted = performance.now();
  const load = Bun.spawnSync([
    "redis-benchmark", "-p", String(port), "-t", "set", "-n", String(settings.writes), "-r", "100000", "-P", "16", "-c", "50", "-q",
  ]);
  if (load.exitCode !== 0) throw new Error(`redis-benchmark failed: ${load.stderr.toString()}`);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const keys = redisCli(port, "DBSIZE");
  const before = raftStats(port);
  await node.stop();
  const withoutSnapshot: number[] = [];
  for (let i = 0; i < settings.restarts; i++) {
    withoutSnapshot.push(await node.start());
    if (redisCli(port, "DBSIZE") !== keys) throw new Error(`DBSIZE after restart differs from ${keys}`);
    if (i === settings.restarts - 1) break;
    await node.stop();
  }
  const replayStats = raftStats(port);
  if (redisCli(port, "RAFTSNAPSHOT") !== "OK") throw new Error("RAFTSNAPSHOT failed");
  const sizeWithSnapshot = directoryBytes(dir);
  await node.stop();
  const withSnapshot: number[] = [];
  for (let i = 0; i < settings.restarts; i++) {
    withSnapshot.push(await node.start());
    if (redisCli(port, "DBSIZE") !== keys) throw new Error(`DBSIZE after restart differs from ${keys}`);
    await node.stop();
  }
  console.log(
    `| ${backend} | ${settings.writes.toLocaleString("en")} | ${Number(before.last_log_index).toLocaleString("en")} | ${Number(keys).toLocaleString("en")} | ` +
      `${Math.round(settings.writes / loadSeconds).toLocaleString("en")} | ${Math.round(median(withoutSnapshot))} (${withoutSnapshot.map(Math.round).join(", ")}) | ` +
      `${Math.round(median(withSnapshot))} (${withSnapshot.map(Math.round).join(", ")}) | ${mebibytes(sizeWithSnapshot.allocated)} |`,
  );
  process.stderr.write(`${backend}: before ${JSON.stringify(before)}\n${backend}: after replay ${JSON.stringify(replayStats)}\n`);
  rmSync(dir, { recursive: true, force: true });
}

async function diskBenchmark(settings: Settings, backend: string, root: string, nodes: Node[]): Promise<void> {
  const port = await freePort();
  const dir = join(root, `disk-${backend}`);
  const node = new Node(port, dir, ["-backend", backend, "-durability", "medium"]);
  nodes.push(node);
  await node.start();
  const started = performance.now();
  const writer = Bun.spawn(
    ["redis-benchmark", "-p", String(port), "-t", "set", "-n", String(settings.diskWrites), "-r", String(settings.diskKeys),
      "-P", String(settings.diskPipeline), "-c", "50", "-q"],
    { stdout: "ignore", stderr: "ignore" },
  );
  console.log(`\n#### ${backend}: ${settings.diskWrites.toLocaleString("en")} SETs over ${settings.diskKeys.toLocaleString("en")} keys (redis-benchmark -P ${settings.diskPipeline} -c 50), default snapshot settings\n`);
  console.log("| seconds | applied index | last snapshot index | data dir MiB (allocated) | files (MiB allocated) |");
  console.log("|---:|---:|---:|---:|---|");
  const sample = (): void => {
    const stats = raftStats(port);
    const size = directoryBytes(dir);
    const files = Object.entries(size.files)
      .filter(([, bytes]) => bytes > 0)
      .map(([name, bytes]) => `${name} ${mebibytes(bytes)}`)
      .join(", ");
    console.log(
      `| ${((performance.now() - started) / 1000).toFixed(0)} | ${Number(stats.applied_index).toLocaleString("en")} | ` +
        `${Number(stats.last_snapshot_index).toLocaleString("en")} | ${mebibytes(size.allocated)} | ${files} |`,
    );
  };
  let done = false;
  void writer.exited.then(() => {
    done = true;
  });
  while (!done) {
    await Promise.race([Bun.sleep(settings.sampleSeconds * 1000), writer.exited]);
    sample();
  }
  if ((await writer.exited) !== 0) throw new Error("redis-benchmark failed");
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${backend}: ${Math.round(settings.diskWrites / seconds).toLocaleString("en")} SET/s over the run; DBSIZE ${redisCli(port, "DBSIZE")}`);
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), "finn-bench-restart-"));
  const nodes: Node[] = [];
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Bun ${Bun.version}`;
  console.log(`${machine}; 1-minute load average at start ${(loadavg()[0] ?? 0).toFixed(1)}\n`);
  try {
    if (settings.startup) {
      console.log(`### Start-up: ${settings.writes.toLocaleString("en")} SETs (redis-benchmark -t set -P 16 -c 50 -r 100000), ms from spawn to the first PONG, median of ${settings.restarts} (runs)\n`);
      console.log("| backend | SETs | log entries | keys | load SET/s | no snapshot: replay, ms | recent snapshot, ms | data dir MiB |");
      console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
      for (const backend of settings.backends) await startupBenchmark(settings, backend, root, nodes);
    }
    if (settings.disk) {
      console.log(`\n### Disk use during a long run of writes (sampled every ${settings.sampleSeconds} s)`);
      for (const backend of settings.backends) await diskBenchmark(settings, backend, root, nodes);
    }
    console.log(`\n1-minute load average at the end ${(loadavg()[0] ?? 0).toFixed(1)}`);
  } finally {
    for (const node of nodes) node.killNow();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
export {};
