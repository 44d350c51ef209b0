/**
 * How throughput and memory change with scale, the clone (one node, `-durability medium`, and
 * clusters of 3 and 5 nodes) next to redis-server (`appendonly yes`, `appendfsync everysec`) in
 * the same run, with redis-benchmark:
 *
 * - value size: `-d 16 … 65536` (SET then GET, pipeline 16, 50 clients);
 * - sustained: rounds of SETs of 4 KB values on the same servers (10 clients, pipeline 1), long
 *   enough for the clone to snapshot and compact its log several times;
 * - connections: `-c 1 … 1000` (SET and GET, pipeline 1);
 * - keys: the keyspace filled with N keys (`DEBUG POPULATE`-like, through SET with `-r`), then SET
 *   and GET over random keys among them (`-r N`, pipeline 16), with each server's RSS;
 * - nodes: clusters of 3 and 5 nodes through the leader (SET and GET, pipeline 1 and 16);
 * - memory: RSS at idle, and with 1,000,000 values of 100 bytes.
 *
 * Single processes are pinned as in the other benchmarks (server on the last core); clusters
 * share every core with redis-benchmark. Medians of `--reps` runs; a fresh pair of servers for
 * each section. Prints markdown tables, writes them (and JSON) to `--out`.
 *
 *   bun run bench/scale.ts [--reps 3] [--sections values,sustained,clients,keys,nodes,memory]
 *                          [--key-counts 1,1000000,10000000] [--out bench/results]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { clusterLeader, cpuPlan, freePort, machineDescription, median, memoryMiB, parseFlags, runBenchmark, spawnClone, spawnRedis, startCluster, waitForPing, type CpuPlan } from "./lib.ts";

interface Settings {
  reps: number;
  sections: string[];
  valueSizes: number[];
  sustainedValueBytes: number;
  sustainedRounds: number;
  sustainedRequests: number;
  clientCounts: number[];
  keyCounts: number[];
  nodeCounts: number[];
  requests: number;
  out: string;
}

const rssMiB = (pid: number): number => memoryMiB(pid, "VmRSS");

/** A running server (or cluster): the port to drive and the processes to measure. */
interface Running {
  readonly port: number;
  readonly pids: readonly number[];
  readonly pinned: boolean;
  /** A cluster's node ports (its leader may change). */
  readonly nodePorts?: readonly number[];
}

/**
 * Writes keys `key:000000000000` … (redis-benchmark's `-r` key names) with `valueBytes`-byte
 * values through one pipelined connection, a window of commands at a time.
 */
async function fill(port: number, keys: number, valueBytes: number): Promise<void> {
  const value = "x".repeat(valueBytes);
  const window = 2000;
  let replies = 0;
  let errors = 0;
  let firstError = "";
  let waiting: (() => void) | null = null;
  let drained: (() => void) | null = null;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        // Every reply to SET is +OK\r\n or an error line (-MOVED ... when leadership moved): count
        // line ends, and the errors.
        let lineStart = 0;
        for (let i = 0; i < data.length; i++) {
          if (data[i] !== 10) continue;
          replies++;
          if (data[lineStart] === 45) {
            errors++;
            if (firstError === "") firstError = Buffer.from(data.subarray(lineStart, i - 1)).toString("latin1");
          }
          lineStart = i + 1;
        }
        waiting?.();
      },
      drain() {
        drained?.();
      },
    },
  });
  /** Writes all of `bytes`, waiting for the socket to drain when it takes only part. */
  const writeAll = async (bytes: Buffer): Promise<void> => {
    let at = 0;
    while (at < bytes.length) {
      const written = socket.write(bytes.subarray(at));
      if (written < 0) throw new Error("the connection closed while filling");
      at += written;
      if (at < bytes.length) await new Promise<void>((resolve) => (drained = resolve));
    }
  };
  for (let from = 0; from < keys; from += window) {
    const to = Math.min(keys, from + window);
    let batch = "";
    for (let i = from; i < to; i++) {
      const key = `key:${String(i).padStart(12, "0")}`;
      batch += `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${valueBytes}\r\n${value}\r\n`;
    }
    await writeAll(Buffer.from(batch, "latin1"));
    while (replies < to) await new Promise<void>((resolve) => (waiting = resolve));
    if (errors > 0) {
      socket.end();
      throw new Error(`filling port ${port}: ${errors} errors, the first: ${firstError}`);
    }
  }
  socket.end();
}

/** Fills a cluster through its leader, finding the leader again if leadership moves meanwhile. */
async function fillCluster(ports: readonly number[], keys: number, valueBytes: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fill(await clusterLeader(ports), keys, valueBytes);
      return;
    } catch (error) {
      // SET is idempotent: filling again from the start is safe.
      if (attempt >= 3) throw error;
      console.error(`${String(error)}; finding the leader again`);
    }
  }
}

class Servers {
  private readonly processes: Subprocess[] = [];
  constructor(
    private readonly dir: string,
    private readonly cpu: CpuPlan,
  ) {}

  async redis(): Promise<Running> {
    const port = await freePort();
    const child = spawnRedis(mkdtempSync(join(this.dir, "redis-")), port, ["--appendonly", "yes", "--appendfsync", "everysec"], this.cpu.server);
    this.processes.push(child);
    await waitForPing(port);
    return { port, pids: [child.pid], pinned: this.cpu.server.length > 0 };
  }

  async clone(): Promise<Running> {
    const port = await freePort();
    const child = spawnClone(mkdtempSync(join(this.dir, "clone-")), port, ["-durability", "medium"], this.cpu.server);
    this.processes.push(child);
    await waitForPing(port);
    return { port, pids: [child.pid], pinned: this.cpu.server.length > 0 };
  }

  /** `nodes` clone processes joined into one cluster; the leader's port once all are voters. */
  async cluster(nodes: number): Promise<Running> {
    const { port, pids, nodes: members } = await startCluster(mkdtempSync(join(this.dir, "cluster-")), nodes, this.processes);
    return { port, pids, pinned: false, nodePorts: members.map((member) => member.port) };
  }

  async stopAll(): Promise<void> {
    for (const child of this.processes.splice(0)) child.kill();
    await Bun.sleep(200);
  }

  async close(): Promise<void> {
    const all = [...this.processes];
    for (const child of all) child.kill();
    await Promise.all(all.map((child) => child.exited));
  }
}

async function main(): Promise<void> {
  const settings = parseFlags<Settings>(process.argv.slice(2), {
    reps: 3,
    sections: ["values", "sustained", "clients", "keys", "nodes", "memory"],
    valueSizes: [16, 256, 4096, 65536],
    sustainedValueBytes: 4096,
    sustainedRounds: 6,
    sustainedRequests: 30_000,
    clientCounts: [1, 10, 50, 200, 1000],
    keyCounts: [1, 1_000_000, 10_000_000],
    nodeCounts: [3, 5],
    requests: 100_000,
    out: join(import.meta.dir, "results"),
  });
  const cpu = cpuPlan(true);
  const dir = mkdtempSync(join(tmpdir(), "finn-bench-scale-"));
  const servers = new Servers(dir, cpu);
  const output: string[] = [`Scale, ${machineDescription()}; single processes: ${cpu.description}; clusters unpinned. Medians of ${settings.reps}.`, ""];
  const report: Record<string, unknown> = {};
  const say = (line: string): void => {
    output.push(line);
    console.log(line);
  };
  /** Medians of `reps` alternating runs on each server: test name → [redis rps, clone rps]. */
  const sideBySide = (pair: readonly Running[], tests: readonly string[], requests: number, clients: number, pipeline: number, extra: readonly string[]): Map<string, number[]> => {
    const runs = new Map<string, number[][]>();
    for (let rep = 0; rep < settings.reps; rep++) {
      pair.forEach((server, index) => {
        const rows = runBenchmark(server.port, tests, requests, clients, pipeline, extra, server.pinned ? cpu.client : []);
        for (const [test, row] of rows) {
          const perServer = runs.get(test) ?? pair.map(() => []);
          perServer[index]?.push(row.rps);
          runs.set(test, perServer);
        }
      });
    }
    return new Map([...runs].map(([test, perServer]) => [test, perServer.map(median)]));
  };
  const ratio = (clone: number, redis: number): string => (redis > 0 ? `${(clone / redis).toFixed(2)}x` : "–");
  /** The table cells every section shares: redis rps | clone rps | clone / redis. */
  const rpsCells = (redis: number, clone: number): string =>
    `${Math.round(redis).toLocaleString("en")} | ${Math.round(clone).toLocaleString("en")} | ${ratio(clone, redis)}`;
  try {
    if (settings.sections.includes("values")) {
      say("### Value size (pipeline 16, 50 clients)\n");
      say("| value bytes | test | redis everysec rps | clone medium rps | clone / redis |");
      say("|---:|---|---:|---:|---:|");
      const rows: unknown[] = [];
      for (const size of settings.valueSizes) {
        const pair = [await servers.redis(), await servers.clone()];
        // Large values move far more bytes per request: fewer requests keep runs a few seconds long.
        const requests = Math.max(20_000, Math.round((settings.requests * 4 * 256) / Math.max(256, size)));
        runBenchmark(pair[1]!.port, ["set", "get"], requests, 50, 16, ["-d", String(size)], cpu.client);
        const result = sideBySide(pair, ["set", "get"], requests, 50, 16, ["-d", String(size)]);
        for (const [test, [redis = 0, clone = 0]] of result) {
          say(`| ${size} | ${test} | ${rpsCells(redis, clone)} |`);
          rows.push({ size, test, redis, clone });
        }
        await servers.stopAll();
      }
      report.values = rows;
      say("");
    }
    if (settings.sections.includes("sustained")) {
      // One server each, written to round after round: the clone's log is snapshotted and
      // compacted meanwhile (every 64 MB of entries), which a single short run never reaches.
      const size = settings.sustainedValueBytes;
      say(`### Sustained writes (${settings.sustainedRounds} rounds of ${settings.sustainedRequests.toLocaleString("en")} SETs of ${size} bytes, 10 clients, pipeline 1, on the same servers)\n`);
      say("| round | redis everysec rps | clone medium rps | clone / redis |");
      say("|---:|---:|---:|---:|");
      const rows: unknown[] = [];
      const pair = [await servers.redis(), await servers.clone()];
      for (let round = 1; round <= settings.sustainedRounds; round++) {
        const [redis = 0, clone = 0] = pair.map(
          (server) => runBenchmark(server.port, ["set"], settings.sustainedRequests, 10, 1, ["-d", String(size)], server.pinned ? cpu.client : []).get("SET")?.rps ?? 0,
        );
        say(`| ${round} | ${rpsCells(redis, clone)} |`);
        rows.push({ round, size, redis, clone });
      }
      await servers.stopAll();
      report.sustained = rows;
      say("");
    }
    if (settings.sections.includes("clients")) {
      say("### Connections (pipeline 1)\n");
      say("| clients | test | redis everysec rps | clone medium rps | clone / redis |");
      say("|---:|---|---:|---:|---:|");
      const rows: unknown[] = [];
      const pair = [await servers.redis(), await servers.clone()];
      runBenchmark(pair[1]!.port, ["set", "get"], settings.requests, 50, 1, [], cpu.client);
      for (const clients of settings.clientCounts) {
        const requests = Math.max(clients * 20, clients === 1 ? settings.requests / 5 : settings.requests);
        const result = sideBySide(pair, ["set", "get"], requests, clients, 1, []);
        for (const [test, [redis = 0, clone = 0]] of result) {
          say(`| ${clients} | ${test} | ${rpsCells(redis, clone)} |`);
          rows.push({ clients, test, redis, clone });
        }
      }
      await servers.stopAll();
      report.clients = rows;
      say("");
    }
    if (settings.sections.includes("keys")) {
      say("### Keys (random keys among N, 3-byte values, pipeline 16, 50 clients)\n");
      say("| keys | test | redis everysec rps | clone medium rps | clone / redis | redis RSS MiB | clone RSS MiB |");
      say("|---:|---|---:|---:|---:|---:|---:|");
      const rows: unknown[] = [];
      for (const keys of settings.keyCounts) {
        const pair = [await servers.redis(), await servers.clone()];
        if (keys > 1) for (const server of pair) await fill(server.port, keys, 3);
        const requests = settings.requests * 4;
        const extra = keys > 1 ? ["-r", String(keys)] : [];
        const result = sideBySide(pair, ["set", "get"], requests, 50, 16, extra);
        const dbsize = pair.map((server) => Bun.spawnSync(["redis-cli", "-p", String(server.port), "DBSIZE"]).stdout.toString().trim());
        const rss = pair.map((server) => rssMiB(server.pids[0] ?? 0));
        for (const [test, [redis = 0, clone = 0]] of result) {
          say(`| ${keys.toLocaleString("en")} (DBSIZE ${dbsize.join(" / ")}) | ${test} | ${rpsCells(redis, clone)} | ${rss[0]?.toFixed(0)} | ${rss[1]?.toFixed(0)} |`);
          rows.push({ keys, test, redis, clone, dbsize, rss });
        }
        await servers.stopAll();
      }
      report.keys = rows;
      say("");
    }
    if (settings.sections.includes("nodes")) {
      say("### Cluster size (through the leader, 50 clients; every node and redis-benchmark share the cores)\n");
      say("| nodes | test | pipeline | redis everysec rps (1 node) | cluster rps | cluster / redis | RSS per node MiB |");
      say("|---:|---|---:|---:|---:|---:|---|");
      const rows: unknown[] = [];
      for (const nodes of settings.nodeCounts) {
        const pair = [await servers.redis(), await servers.cluster(nodes)];
        for (const pipeline of [1, 16]) {
          const requests = settings.requests * (pipeline > 1 ? 4 : 1);
          runBenchmark(pair[1]!.port, ["set", "get"], requests, 50, pipeline);
          const result = sideBySide(pair, ["set", "get"], requests, 50, pipeline, []);
          const rss = (pair[1]?.pids ?? []).map((pid) => rssMiB(pid).toFixed(0)).join(" / ");
          for (const [test, [redis = 0, clone = 0]] of result) {
            say(`| ${nodes} | ${test} | ${pipeline} | ${rpsCells(redis, clone)} | ${rss} |`);
            rows.push({ nodes, test, pipeline, redis, clone, rss });
          }
        }
        await servers.stopAll();
      }
      report.nodes = rows;
      say("");
    }
    if (settings.sections.includes("memory")) {
      say("### Memory (RSS of one process)\n");
      say("| state | redis everysec MiB | clone medium MiB | 3-node cluster MiB per node (leader first) |");
      say("|---|---:|---:|---|");
      const redis = await servers.redis();
      const clone = await servers.clone();
      const cluster = await servers.cluster(3);
      await Bun.sleep(2000);
      const clusterRss = (): string => cluster.pids.map((pid) => rssMiB(pid).toFixed(0)).join(" / ");
      const idle = [rssMiB(redis.pids[0] ?? 0), rssMiB(clone.pids[0] ?? 0)];
      say(`| idle, just started | ${idle[0]?.toFixed(0)} | ${idle[1]?.toFixed(0)} | ${clusterRss()} |`);
      for (const server of [redis, clone]) await fill(server.port, 1_000_000, 100);
      await fillCluster(cluster.nodePorts ?? [cluster.port], 1_000_000, 100);
      await Bun.sleep(2000);
      const clusterPort = await clusterLeader(cluster.nodePorts ?? [cluster.port]);
      const dbsize = [redis.port, clone.port, clusterPort].map((port) => Bun.spawnSync(["redis-cli", "-p", String(port), "DBSIZE"]).stdout.toString().trim());
      const full = [rssMiB(redis.pids[0] ?? 0), rssMiB(clone.pids[0] ?? 0)];
      say(`| 1,000,000 values of 100 bytes (DBSIZE ${dbsize.join(" / ")}) | ${full[0]?.toFixed(0)} | ${full[1]?.toFixed(0)} | ${clusterRss()} |`);
      report.memory = { idle, full, dbsize };
      await servers.stopAll();
      say("");
    }
    mkdirSync(settings.out, { recursive: true });
    writeFileSync(join(settings.out, "scale.md"), `${output.join("\n")}\n`);
    writeFileSync(join(settings.out, "scale.json"), `${JSON.stringify({ machine: machineDescription(), settings, report }, null, 2)}\n`);
  } finally {
    await servers.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
