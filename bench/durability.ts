/**
 * SET through the real log: the single-node clone against redis-server with an append-only file,
 * at matching durability, in the same run with redis-benchmark (`-t set -c 50`):
 *
 * - clone `-durability medium` (fsync at least once a second) vs `--appendonly yes --appendfsync everysec`
 * - clone `-durability high` (fsync before the reply) vs `--appendonly yes --appendfsync always`
 *
 * Each pairing gets fresh servers on fresh directories; repetitions alternate the two servers so
 * that drift in the machine's load hits both alike. Prints medians and ratios as a markdown table.
 *
 * Each server runs alone on one core and redis-benchmark on the others (`cpuPlan`; `--pin no` turns
 * it off), and each gets `--warmup` untimed passes first (the clone's hot code is compiled by the
 * JIT during its first half a million requests or so: see bench/suite.ts).
 *
 *   bun run bench/durability.ts [--reps 3] [--warmup 3] [--pin yes] [--requests 100000] [--clients 50]
 *                               [--pipelines 1,16] [--backends lmdb,memory] [--levels medium,high] [--json out.json]
 *
 * At pipeline P > 1 each run sends 4 × requests, so that it lasts about as long as P1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cpuPlan, freePort, median, runBenchmark, waitForPing, parseFlags, spawnClone, spawnRedis, type CpuPlan } from "./lib.ts";

interface Settings {
  reps: number;
  warmup: number;
  pin: boolean;
  requests: number;
  clients: number;
  pipelines: number[];
  backends: string[];
  levels: string[];
  json: string;
}

function parseSettings(argv: readonly string[]): Settings {
  return parseFlags<Settings>(argv, { reps: 3, warmup: 3, pin: true, requests: 100_000, clients: 50, pipelines: [1, 16], backends: ["lmdb"], levels: ["medium", "high"], json: "" });
}

/** One redis-benchmark run of SET; returns requests per second. */
function benchmarkSet(port: number, requests: number, clients: number, pipeline: number, cpu: CpuPlan): number {
  const row = runBenchmark(port, ["set"], requests, clients, pipeline, [], cpu.client).get("SET");
  if (row === undefined) throw new Error("no SET row in redis-benchmark's output");
  return row.rps;
}

interface Pairing {
  readonly level: "medium" | "high";
  readonly appendfsync: "everysec" | "always";
}

const pairings: readonly Pairing[] = [
  { level: "medium", appendfsync: "everysec" },
  { level: "high", appendfsync: "always" },
];

interface Row {
  backend: string;
  clone: string;
  redis: string;
  pipeline: number;
  cloneRps: number[];
  redisRps: number[];
}

async function runPairing(settings: Settings, cpu: CpuPlan, backend: string, pairing: Pairing, rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "finn-bench-durability-"));
  const processes: Subprocess[] = [];
  try {
    const redisPort = await freePort();
    processes.push(spawnRedis(dir, redisPort, ["--appendonly", "yes", "--appendfsync", pairing.appendfsync], cpu.server));
    const clonePort = await freePort();
    processes.push(spawnClone(join(dir, "clone"), clonePort, ["-backend", backend, "-durability", pairing.level], cpu.server));
    await waitForPing(redisPort);
    await waitForPing(clonePort);
    const pairRows = settings.pipelines.map((pipeline): Row => ({
      backend,
      clone: `-durability ${pairing.level}`,
      redis: `appendfsync ${pairing.appendfsync}`,
      pipeline,
      cloneRps: [],
      redisRps: [],
    }));
    for (let pass = 0; pass < settings.warmup; pass++) {
      for (const row of pairRows) {
        for (const port of [redisPort, clonePort]) benchmarkSet(port, settings.requests, settings.clients, row.pipeline, cpu);
      }
    }
    for (let rep = 0; rep < settings.reps; rep++) {
      for (const row of pairRows) {
        const requests = settings.requests * (row.pipeline > 1 ? 4 : 1);
        // Alternate which server goes first, so that a trend in the machine's load is shared.
        const order = rep % 2 === 0 ? (["redis", "clone"] as const) : (["clone", "redis"] as const);
        for (const server of order) {
          const rps = benchmarkSet(server === "redis" ? redisPort : clonePort, requests, settings.clients, row.pipeline, cpu);
          (server === "redis" ? row.redisRps : row.cloneRps).push(rps);
        }
      }
      process.stderr.write(`${backend} ${pairing.level}/${pairing.appendfsync}: repetition ${rep + 1}/${settings.reps} done\n`);
    }
    rows.push(...pairRows);
  } finally {
    for (const child of processes) child.kill();
    await Promise.all(processes.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const cpu = cpuPlan(settings.pin);
  const rows: Row[] = [];
  const loadBefore = loadavg()[0] ?? 0;
  for (const backend of settings.backends) {
    for (const pairing of pairings) {
      if (settings.levels.includes(pairing.level)) await runPairing(settings, cpu, backend, pairing, rows);
    }
  }
  const loadAfter = loadavg()[0] ?? 0;
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Bun ${Bun.version}`;
  console.log(`\nredis-benchmark -t set -c ${settings.clients}, -n ${settings.requests} (×4 when pipelined), medians of ${settings.reps} runs after ${settings.warmup} untimed, ${cpu.description}`);
  console.log(`${machine}; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after\n`);
  console.log("| backend | clone | redis-server (--appendonly yes) | pipeline | clone SET/s | redis SET/s | clone / redis | clone runs | redis runs |");
  console.log("|---|---|---|---:|---:|---:|---:|---|---|");
  const report: Record<string, unknown>[] = [];
  for (const row of rows) {
    const cloneMedian = median(row.cloneRps);
    const redisMedian = median(row.redisRps);
    const ratio = redisMedian > 0 ? cloneMedian / redisMedian : 0;
    const runs = (values: readonly number[]): string => values.map((value) => Math.round(value / 1000) + "k").join(", ");
    console.log(
      `| ${row.backend} | ${row.clone} | ${row.redis} | ${row.pipeline} | ${Math.round(cloneMedian).toLocaleString("en")} | ` +
        `${Math.round(redisMedian).toLocaleString("en")} | ${ratio.toFixed(2)} | ${runs(row.cloneRps)} | ${runs(row.redisRps)} |`,
    );
    report.push({ ...row, cloneMedian, redisMedian, ratio });
  }
  if (settings.json !== "") writeFileSync(settings.json, JSON.stringify({ machine, settings, report }, null, 2));
}

await main();
export {};
