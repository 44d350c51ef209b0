/**
 * A 3-node cluster on this machine (the cluster and the load generator share its cores), driven
 * through its leader with redis-benchmark (`-t set,get -c 50`, pipeline 1 and 16), next to
 * redis-server in the same run, and against the figures the original Go Finn reached on machines
 * like ours with 3 local nodes (SET 34k/s and 48k/s, GET 94k/s and 952k/s at pipeline 1 and 16).
 *
 *   bun run bench/cluster-compare.ts [--reps 3] [--requests 100000] [--nodes 3]
 *                                    [--clone-args "-durability medium -consistency medium"]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, machineDescription, median, runBenchmark, waitForPing, parseFlags, spawnRedis, startCluster } from "./lib.ts";

/** Finn (Go, HEAD e430290), 3 local nodes on our 2-core machines: shared/REFERENCE.md. */
const finn: Readonly<Record<string, Readonly<Record<number, number>>>> = {
  SET: { 1: 34_000, 16: 48_000 },
  GET: { 1: 94_000, 16: 952_000 },
};

interface Settings {
  reps: number;
  requests: number;
  nodes: number;
  cloneArgs: string[];
}

function parseSettings(argv: readonly string[]): Settings {
  return parseFlags<Settings>(argv, { reps: 3, requests: 100_000, nodes: 3, cloneArgs: [] });
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "finn-bench-cluster-"));
  const processes: Subprocess[] = [];
  try {
    const redisPort = await freePort();
    processes.push(spawnRedis(dir, redisPort, ["--appendonly", "no"]));
    const { port: leader } = await startCluster(dir, settings.nodes, processes, settings.cloneArgs);
    await waitForPing(redisPort);

    const samples = new Map<string, number[]>();
    const add = (key: string, value: number): void => {
      samples.set(key, [...(samples.get(key) ?? []), value]);
    };
    for (let rep = 0; rep < settings.reps; rep++) {
      for (const pipeline of [1, 16]) {
        for (const [server, port] of [["redis", redisPort], ["cluster", leader]] as const) {
          const rows = runBenchmark(port, ["set", "get"], settings.requests * (pipeline > 1 ? 4 : 1), 50, pipeline);
          for (const [test, row] of rows) {
            add(`${server}|${test}|${pipeline}|rps`, row.rps);
            add(`${server}|${test}|${pipeline}|p99`, row.p99);
          }
        }
      }
      process.stderr.write(`repetition ${rep + 1}/${settings.reps} done\n`);
    }
    console.log(`\n${settings.nodes}-node cluster through its leader, redis-benchmark -c 50, medians of ${settings.reps} runs; ${machineDescription()}`);
    console.log(`clone flags: ${settings.cloneArgs.join(" ") || "(defaults: -durability medium -consistency medium)"}\n`);
    console.log("| test | pipeline | cluster rps | cluster p99 ms | redis-server rps | cluster / redis | Finn rps | cluster / Finn |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const test of ["SET", "GET"]) {
      for (const pipeline of [1, 16]) {
        const get = (server: string, what: string): number => median(samples.get(`${server}|${test}|${pipeline}|${what}`) ?? []);
        const cluster = get("cluster", "rps");
        const redis = get("redis", "rps");
        const original = finn[test]?.[pipeline] ?? 0;
        console.log(
          `| ${test} | ${pipeline} | ${Math.round(cluster)} | ${get("cluster", "p99").toFixed(2)} | ${Math.round(redis)} | ` +
            `${(cluster / redis).toFixed(2)}x | ${original} | ${(cluster / original).toFixed(2)}x |`,
        );
      }
    }
  } finally {
    for (const child of processes) child.kill();
    await Promise.all(processes.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
