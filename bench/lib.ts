/**
 * What the benchmark scripts share: free ports, waiting for a server, one redis-benchmark run,
 * medians and a description of the machine.
 */
import { cpus, loadavg, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";

/** Ports handed out by `freePort` in this process. */
const handedOut = new Set<number>();

/**
 * A port that was free a moment ago on 127.0.0.1, and never one handed out before in this
 * process: a server started just before may not have bound its port yet, and the kernel would
 * offer that same port again (the next server then fails to bind, and the benchmark would measure
 * the first one twice).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = listener.port;
    listener.stop(true);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Waits until `redis-cli PING` (with a password when given) answers PONG. */
export async function waitForPing(port: number, timeoutMilliseconds = 30_000, password = ""): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  const auth = password === "" ? [] : ["-a", password, "--no-auth-warning"];
  while (Date.now() < deadline) {
    const probe = Bun.spawnSync(["redis-cli", "-p", String(port), ...auth, "PING"]);
    if (probe.stdout.toString().trim() === "PONG") return;
    await Bun.sleep(50);
  }
  throw new Error(`server on port ${port} did not answer PING`);
}

export interface BenchmarkRow {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * Where the processes of a side-by-side run go: the server under test alone on the last core,
 * redis-benchmark on the others (`taskset` prefixes). Redis is single-threaded and the clone runs
 * its node on one thread, so each gets one core, as in production, and neither competes with the
 * client for it. Without pinning the kernel moves all three around and figures swing by a third
 * from run to run on a 2-core machine. Empty prefixes when disabled, on one core, or without taskset.
 */
export interface CpuPlan {
  readonly server: readonly string[];
  readonly client: readonly string[];
  readonly description: string;
}

export function cpuPlan(enabled: boolean): CpuPlan {
  const count = cpus().length;
  const taskset = Bun.which("taskset") !== null;
  if (!enabled || count < 2 || !taskset) return { server: [], client: [], description: "processes not pinned" };
  const last = count - 1;
  const clientCpus = last === 1 ? "0" : `0-${last - 1}`;
  return {
    server: ["taskset", "-c", String(last)],
    client: ["taskset", "-c", clientCpus],
    description: `server pinned to CPU ${last}, redis-benchmark to CPU ${clientCpus}`,
  };
}

/**
 * One redis-benchmark run; returns requests per second and p50/p99 latency (ms) per test. An empty
 * `tests` list passes no `-t`: redis-benchmark's whole default suite (or the command in `extra`).
 */
export function runBenchmark(
  port: number,
  tests: readonly string[],
  requests: number,
  clients: number,
  pipeline: number,
  extra: readonly string[] = [],
  prefix: readonly string[] = [],
): Map<string, BenchmarkRow> {
  const result = Bun.spawnSync([
    ...prefix,
    "redis-benchmark", "-p", String(port), ...(tests.length > 0 ? ["-t", tests.join(",")] : []), "-c", String(clients), "-n", String(requests), "-P", String(pipeline), "--csv", ...extra,
  ]);
  if (result.exitCode !== 0) throw new Error(`redis-benchmark failed: ${result.stderr.toString()}`);
  const rows = new Map<string, BenchmarkRow>();
  for (const line of result.stdout.toString().split("\n")) {
    const cells = line.split(",").map((cell) => cell.replace(/"/g, ""));
    if (cells.length < 7 || cells[0] === "test") continue;
    rows.set(cells[0] ?? "", { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) });
  }
  return rows;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** The machine, for the figures' captions. */
export function machineDescription(): string {
  const [one = 0] = loadavg();
  return `${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Bun ${Bun.version}, load average ${one.toFixed(2)}`;
}

type FlagValue = number | boolean | string | number[] | string[];

/**
 * Parses `--kebab-case value` pairs into a copy of `defaults`, whose keys are their camelCase
 * names; each value is read as its default's type: a number, a boolean (`no` is false), a string,
 * or a list (split on spaces for keys ending in `Args`, which hold command-line arguments, on
 * commas otherwise; numbers when the default list holds numbers). An unknown flag throws.
 */
export function parseFlags<T extends { [K in keyof T]: FlagValue }>(argv: readonly string[], defaults: T): T {
  const settings: Record<string, FlagValue> = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? "";
    const value = argv[i + 1] ?? "";
    const key = flag.replace(/^--/, "").replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const current = settings[key];
    if (!flag.startsWith("--") || current === undefined) throw new Error(`unknown flag ${flag}`);
    if (typeof current === "number") settings[key] = Number(value);
    else if (typeof current === "boolean") settings[key] = value !== "no";
    else if (typeof current === "string") settings[key] = value;
    else if (key.endsWith("Args")) settings[key] = value.split(" ").filter((part) => part !== "");
    else settings[key] = typeof current[0] === "number" ? value.split(",").map(Number) : value.split(",");
  }
  return settings as T;
}

/**
 * Starts redis-server on 127.0.0.1:`port` with its files in `dir`, RDB snapshots off, and
 * `args` (persistence settings); `prefix` pins it (`cpuPlan`'s `server`).
 */
export function spawnRedis(dir: string, port: number, args: readonly string[], prefix: readonly string[] = []): Subprocess {
  return Bun.spawn([...prefix, "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir, ...args], {
    stdout: "ignore",
    stderr: "ignore",
  });
}

/** A memory figure of process `pid` from /proc/<pid>/status (VmRSS: now, VmHWM: peak), in MiB. */
export function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return match === null ? 0 : Number(match[1]) / 1024;
}

/** The clone's entry point, for the benchmarks that start it. */
export const cloneScript = new URL("../src/clone.ts", import.meta.url).pathname;

/** Starts one clone node (`prefix` pins it, e.g. with `cpuPlan`'s `server`) with its data in `dir`. */
export function spawnClone(dir: string, port: number, args: readonly string[], prefix: readonly string[] = []): Subprocess {
  return Bun.spawn([...prefix, process.execPath, "run", cloneScript, "-p", String(port), "-dir", dir, "-loglevel", "warning", ...args], {
    stdout: "ignore",
    stderr: "inherit",
  });
}

/** The port of the node that leads once every one of `ports` is a voter (none a learner). */
export async function clusterLeader(ports: readonly number[], timeoutMilliseconds = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (Date.now() < deadline) {
    for (const port of ports) {
      if (Bun.spawnSync(["redis-cli", "-p", String(port), "RAFTSTATE"]).stdout.toString().trim() !== "Leader") continue;
      const peers = Bun.spawnSync(["redis-cli", "-p", String(port), "RAFTPEERS"]).stdout.toString();
      if (!peers.includes("Learner") && peers.split("\n").filter((line) => line.includes(":")).length === ports.length) return port;
    }
    await Bun.sleep(100);
  }
  throw new Error(`no leader with all ${ports.length} nodes voters`);
}

/**
 * Starts a cluster of `nodes` clone processes as the README shows (the first alone, the others
 * with `-join`), each in `dir/node-<i>`, and waits until its leader has them all as voters. Every
 * process is pushed onto `processes` as it starts (the caller stops them, also on failure).
 * Returns the leader's port, the process ids (the leader's first) and every node's port and pid.
 */
export async function startCluster(
  dir: string,
  nodes: number,
  processes: Subprocess[],
  args: readonly string[] = [],
): Promise<{ port: number; pids: number[]; nodes: { port: number; pid: number }[] }> {
  const ports: number[] = [];
  const pids: number[] = [];
  for (let i = 0; i < nodes; i++) {
    const port = await freePort();
    const child = spawnClone(`${dir}/node-${i}`, port, [...(i === 0 ? [] : ["-join", `:${ports[0]}`]), ...args]);
    processes.push(child);
    pids.push(child.pid);
    await waitForPing(port);
    ports.push(port);
  }
  const port = await clusterLeader(ports);
  const leaderAt = ports.indexOf(port);
  return {
    port,
    pids: [pids[leaderAt] ?? 0, ...pids.filter((_, i) => i !== leaderAt)],
    nodes: ports.map((nodePort, i) => ({ port: nodePort, pid: pids[i] ?? 0 })),
  };
}
