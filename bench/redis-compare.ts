/**
 * Runs real redis-server and the clone side by side with redis-benchmark, in one run on one
 * machine, and prints requests per second (medians of several repetitions, alternating the two
 * servers so that drift in the machine's load hits both alike) and the ratio to Redis.
 *
 * Before the timed repetitions, each server gets three untimed passes of every test (`--warmup 3`):
 * the clone runs on a JIT compiler, which keeps compiling its hot code during its first half a
 * million requests or so (see bench/suite.ts), and a long-running server is measured as it runs
 * most of its life. Redis gets the same passes.
 *
 * Each server runs alone on one core and redis-benchmark on the others (see `cpuPlan`; `--pin no`
 * turns that off).
 *
 *   bun run bench/redis-compare.ts [--reps 5] [--warmup 3] [--pin yes] [--requests 200000] [--clients 50]
 *                                  [--pipelines 1,16] [--tests ping,set,get]
 *                                  [--redis-args "--appendonly yes --appendfsync everysec"]
 *                                  [--clone-args "-durability medium"] [--json out.json]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cpuPlan, freePort, machineDescription, median, runBenchmark, waitForPing, parseFlags, spawnClone, spawnRedis } from "./lib.ts";

interface Settings {
  reps: number;
  warmup: number;
  pin: boolean;
  requests: number;
  clients: number;
  pipelines: number[];
  tests: string[];
  redisArgs: string[];
  cloneArgs: string[];
  json: string;
}

function parseSettings(argv: readonly string[]): Settings {
  return parseFlags<Settings>(argv, {
    reps: 5,
    warmup: 3,
    pin: true,
    requests: 200000,
    clients: 50,
    pipelines: [1, 16],
    tests: ["ping", "set", "get"],
    redisArgs: [],
    cloneArgs: [],
    json: "",
  });
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "finn-bench-"));
  const processes: Subprocess[] = [];
  const cpu = cpuPlan(settings.pin);
  try {
    const redisPort = await freePort();
    const redis = spawnRedis(dir, redisPort, ["--appendonly", "no", ...settings.redisArgs], cpu.server);
    processes.push(redis);
    const clonePort = await freePort();
    const clone = spawnClone(join(dir, "clone"), clonePort, settings.cloneArgs, cpu.server);
    processes.push(clone);
    await waitForPing(redisPort);
    await waitForPing(clonePort);

    const samples = new Map<string, number[]>();
    const add = (key: string, value: number): void => {
      const list = samples.get(key) ?? [];
      list.push(value);
      samples.set(key, list);
    };
    for (let pass = 0; pass < settings.warmup; pass++) {
      for (const port of [redisPort, clonePort]) {
        for (const pipeline of settings.pipelines) runBenchmark(port, settings.tests, settings.requests, settings.clients, pipeline, [], cpu.client);
      }
    }
    for (let rep = 0; rep < settings.reps; rep++) {
      for (const pipeline of settings.pipelines) {
        for (const [server, port] of [
          ["redis", redisPort],
          ["clone", clonePort],
        ] as const) {
          const rows = runBenchmark(port, settings.tests, settings.requests * (pipeline > 1 ? 4 : 1), settings.clients, pipeline, [], cpu.client);
          for (const [test, row] of rows) {
            add(`${server}|${test}|${pipeline}|rps`, row.rps);
            add(`${server}|${test}|${pipeline}|p50`, row.p50);
            add(`${server}|${test}|${pipeline}|p99`, row.p99);
          }
        }
      }
      process.stderr.write(`repetition ${rep + 1}/${settings.reps} done\n`);
    }

    const machine = machineDescription();
    console.log(`\nredis-benchmark -c ${settings.clients}, medians of ${settings.reps} runs after ${settings.warmup} untimed, ${machine}, ${cpu.description}`);
    console.log(`redis-server ${settings.redisArgs.join(" ") || "(no persistence)"}; clone ${settings.cloneArgs.join(" ") || "(defaults)"}\n`);
    console.log("| test | pipeline | redis rps | clone rps | ratio | redis p50/p99 ms | clone p50/p99 ms |");
    console.log("|---|---|---|---|---|---|---|");
    const report: Record<string, unknown>[] = [];
    const tests = [...new Set([...samples.keys()].map((key) => key.split("|")[1] ?? ""))];
    for (const test of tests) {
      for (const pipeline of settings.pipelines) {
        const get = (server: string, what: string): number => median(samples.get(`${server}|${test}|${pipeline}|${what}`) ?? [0]);
        const redisRps = get("redis", "rps");
        const cloneRps = get("clone", "rps");
        const ratio = redisRps > 0 ? cloneRps / redisRps : 0;
        console.log(
          `| ${test} | ${pipeline} | ${Math.round(redisRps)} | ${Math.round(cloneRps)} | ${ratio.toFixed(2)}x | ` +
            `${get("redis", "p50").toFixed(3)}/${get("redis", "p99").toFixed(3)} | ${get("clone", "p50").toFixed(3)}/${get("clone", "p99").toFixed(3)} |`,
        );
        report.push({ test, pipeline, redisRps, cloneRps, ratio });
      }
    }
    if (settings.json !== "") writeFileSync(settings.json, JSON.stringify({ machine, settings, report }, null, 2));
  } finally {
    for (const child of processes) child.kill();
    await Promise.all(processes.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
