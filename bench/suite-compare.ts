/**
 * redis-benchmark's whole default suite (no -t: PING, SET, GET, INCR, LPUSH, RPUSH, LPOP, RPOP,
 * SADD, HSET, SPOP, ZADD, ZPOPMIN, LPUSH + LRANGE_100/300/500/600, MSET, and XADD where the
 * installed redis-benchmark has it) against real redis-server and the clone side by side, as
 * bench/redis-compare.ts does for PING/SET/GET: medians of several repetitions, alternating the two
 * servers, each server alone on one core (`--pin no` turns that off), three untimed passes first
 * (the JIT, see bench/suite.ts).
 *
 * redis-benchmark before 7.2 has no XADD test in its default suite; this script then also runs
 * `XADD mystream * myfield <3 bytes>` as a custom command (what 7.2's XADD test sends), reported
 * as its own row, so that the table covers XADD either way.
 *
 *   bun run bench/suite-compare.ts [--reps 3] [--warmup 3] [--pin yes] [--requests 100000] [--clients 50]
 *                                  [--pipeline 1] [--clone-args "-durability medium"] [--json out.json]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type BenchmarkRow, cpuPlan, freePort, machineDescription, median, runBenchmark, waitForPing, parseFlags, spawnClone, spawnRedis } from "./lib.ts";

interface Settings {
  reps: number;
  warmup: number;
  pin: boolean;
  requests: number;
  clients: number;
  pipeline: number;
  cloneArgs: string[];
  json: string;
}

function parseSettings(argv: readonly string[]): Settings {
  return parseFlags<Settings>(argv, { reps: 3, warmup: 3, pin: true, requests: 100000, clients: 50, pipeline: 1, cloneArgs: [], json: "" });
}

/** The installed redis-benchmark's version, e.g. "7.0.15". */
function benchmarkVersion(): string {
  const output = Bun.spawnSync(["redis-benchmark", "--version"]).stdout.toString();
  return /(\d+\.\d+\.\d+)/.exec(output)?.[1] ?? "unknown";
}

const xaddRow = "XADD (custom command)";

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "finn-suite-"));
  const processes: Subprocess[] = [];
  const cpu = cpuPlan(settings.pin);
  const version = benchmarkVersion();
  try {
    const redisPort = await freePort();
    const redis = spawnRedis(dir, redisPort, ["--appendonly", "no"], cpu.server);
    processes.push(redis);
    const clonePort = await freePort();
    const clone = spawnClone(join(dir, "clone"), clonePort, settings.cloneArgs, cpu.server);
    processes.push(clone);
    await waitForPing(redisPort);
    await waitForPing(clonePort);

    /** One pass of the whole suite, plus XADD as a custom command when the suite lacks it. */
    const suite = (port: number): Map<string, BenchmarkRow> => {
      const rows = runBenchmark(port, [], settings.requests, settings.clients, settings.pipeline, [], cpu.client);
      if (![...rows.keys()].some((test) => test.startsWith("XADD"))) {
        const xadd = runBenchmark(port, [], settings.requests, settings.clients, settings.pipeline, ["XADD", "mystream", "*", "myfield", "xxx"], cpu.client);
        const row = [...xadd.values()][0];
        if (row !== undefined) rows.set(xaddRow, row);
      }
      return rows;
    };

    const samples = new Map<string, number[]>();
    const tests: string[] = [];
    for (let pass = 0; pass < settings.warmup; pass++) for (const port of [redisPort, clonePort]) suite(port);
    for (let rep = 0; rep < settings.reps; rep++) {
      for (const [server, port] of [["redis", redisPort], ["clone", clonePort]] as const) {
        for (const [test, row] of suite(port)) {
          if (!tests.includes(test)) tests.push(test);
          const key = `${server}|${test}`;
          samples.set(key, [...(samples.get(key) ?? []), row.rps]);
        }
      }
      process.stderr.write(`repetition ${rep + 1}/${settings.reps} done\n`);
    }

    const machine = machineDescription();
    console.log(
      `\nredis-benchmark ${version} default suite (no -t), -c ${settings.clients} -n ${settings.requests} -P ${settings.pipeline}, ` +
        `medians of ${settings.reps} runs after ${settings.warmup} untimed, ${machine}, ${cpu.description}`,
    );
    console.log(`redis-server without persistence; clone ${settings.cloneArgs.join(" ") || "(defaults: LMDB, -durability medium)"}`);
    if (tests.includes(xaddRow)) console.log(`redis-benchmark ${version} has no XADD test; "${xaddRow}" is XADD mystream * myfield xxx, as 7.2's test sends it`);
    console.log("\n| test | redis rps | clone rps | clone / redis |");
    console.log("|---|---|---|---|");
    const report: Record<string, unknown>[] = [];
    for (const test of tests) {
      const redisRps = median(samples.get(`redis|${test}`) ?? [0]);
      const cloneRps = median(samples.get(`clone|${test}`) ?? [0]);
      const ratio = redisRps > 0 ? cloneRps / redisRps : 0;
      console.log(`| ${test} | ${Math.round(redisRps)} | ${Math.round(cloneRps)} | ${ratio.toFixed(2)}x |`);
      report.push({ test, redisRps, cloneRps, ratio });
    }
    if (settings.json !== "") writeFileSync(settings.json, JSON.stringify({ machine, version, settings, report }, null, 2));
  } finally {
    for (const child of processes) child.kill();
    await Promise.all(processes.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
