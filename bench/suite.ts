/**
 * The whole comparison in one run (`npm run bench`): real redis-server in three modes (no
 * persistence; `appendonly yes` with `appendfsync everysec`; `appendfsync always`), the clone as
 * one node at each durability level (low, medium, high; and high with the memory backend) and a
 * 3-node cluster, all started at once
 * and driven in turn by redis-benchmark (`-t set` and `-t get`, `-c 50`) at pipeline 1 and 16.
 * Repetitions alternate the servers, so that drift in the machine's load hits all alike.
 *
 * For each server, test and pipeline it reports medians of requests per second, p50 and p99
 * latency (redis-benchmark's), CPU time of the server per request (its processes' user + system
 * time over the run, from /proc, all three nodes for the cluster), its minor page faults per
 * request (the same processes; memory the allocator handed back and faults in again shows here),
 * and the peak resident memory
 * of each process over the whole run (VmHWM); and the ratio to the matching redis-server mode:
 * low to no persistence, medium and the cluster to `everysec`, high to `always`. It writes a
 * markdown table, the raw figures (JSON) and a chart (SVG) to `--out` (bench/results).
 *
 * Single-process servers run alone on the last core and redis-benchmark on the others (see
 * `cpuPlan`); the cluster's three nodes and redis-benchmark share every core, unpinned. While one
 * server is measured, every other one is stopped (SIGSTOP), so that its timers and garbage
 * collection do not run on the cores being measured.
 *
 *   bun run bench/suite.ts [--reps 3] [--warmup 3] [--requests 100000] [--clients 50]
 *                          [--pipelines 1,16] [--pin yes] [--out bench/results] [--only redis-none,clone-medium,...]
 *
 * At pipeline P > 1 each run sends 4 × requests, so that it lasts about as long as at P1.
 *
 * Each server first gets `--warmup` untimed passes of every test and pipeline (3: 1.5 million
 * SETs and as many GETs). The clone runs on a JIT compiler that keeps compiling its hot code for
 * its first half a million requests or so (`BUN_JSC_reportCompileTimes=1`: 585 compilations taking
 * 2.6 s of compile time during its first 300,000 SETs at pipeline 1, 35 taking 1.0 s during the
 * next 300,000, then a few), on the core it serves from; measured after one pass it did 0.69x
 * redis-server's SETs at pipeline 1 with a p99 of 3.5 ms, after three 1.00x and 0.95 ms.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { clusterLeader, cpuPlan, freePort, machineDescription, median, memoryMiB, parseFlags, runBenchmark, spawnClone, spawnRedis, startCluster, waitForPing, type CpuPlan } from "./lib.ts";
import { barChart } from "./chart.ts";

interface Settings {
  reps: number;
  warmup: number;
  requests: number;
  clients: number;
  pipelines: number[];
  pin: boolean;
  out: string;
  only: string[];
}

/** A server under test: one process (redis-server, a clone node) or several (the cluster). */
interface Target {
  readonly name: string;
  /** The redis-server target whose figures this one is compared with ("" for redis itself). */
  readonly matches: string;
  readonly describe: string;
  port: number;
  pids: number[];
  /** Whether the processes run pinned (single processes) or share every core (the cluster). */
  readonly pinned: boolean;
  /** A cluster's nodes: after a pause the leader may have changed, and is looked up again. */
  readonly nodes?: readonly { port: number; pid: number }[];
}

/**
 * Stops every process of the servers not being measured (SIGSTOP) and resumes the one that is:
 * an idle server still runs timers and, after a run, its garbage collector, on the core the next
 * server is measured on. A resumed cluster may hold an election (its timers ran out while it was
 * stopped), so its leader is looked up again.
 */
async function focus(targets: readonly Target[], on: Target): Promise<void> {
  for (const target of targets) if (target !== on) for (const pid of target.pids) process.kill(pid, "SIGSTOP");
  for (const pid of on.pids) process.kill(pid, "SIGCONT");
  if (on.nodes !== undefined) {
    on.port = await clusterLeader(on.nodes.map((node) => node.port));
    const leaderPid = on.nodes.find((node) => node.port === on.port)?.pid ?? 0;
    on.pids = [leaderPid, ...on.nodes.filter((node) => node.pid !== leaderPid).map((node) => node.pid)];
  }
  await waitForPing(on.port);
}

/**
 * User + system CPU time of `pid` so far, in seconds (100 ticks a second), and its minor page
 * faults, all its threads' (from /proc/<pid>/stat).
 */
function processCounters(pid: number): { cpuSeconds: number; minorFaults: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, minorFaults: Number(fields[7]) };
}

/** The counters of `processCounters` summed over `pids`. */
function counters(pids: readonly number[]): { cpuSeconds: number; minorFaults: number } {
  const sum = { cpuSeconds: 0, minorFaults: 0 };
  for (const pid of pids) {
    const one = processCounters(pid);
    sum.cpuSeconds += one.cpuSeconds;
    sum.minorFaults += one.minorFaults;
  }
  return sum;
}


async function startRedis(dir: string, cpu: CpuPlan, name: string, persistence: readonly string[], describe: string, processes: Subprocess[]): Promise<Target> {
  const port = await freePort();
  const child = spawnRedis(mkdtempSync(join(dir, `${name}-`)), port, persistence, cpu.server);
  processes.push(child);
  return { name, matches: "", describe, port, pids: [child.pid], pinned: cpu.server.length > 0 };
}

async function startClone(dir: string, cpu: CpuPlan, level: string, matches: string, processes: Subprocess[], backend = "lmdb"): Promise<Target> {
  const port = await freePort();
  const name = backend === "lmdb" ? `clone-${level}` : `clone-${level}-${backend}`;
  const flags = backend === "lmdb" ? ["-durability", level] : ["-durability", level, "-backend", backend];
  const child = spawnClone(join(dir, name), port, flags, cpu.server);
  processes.push(child);
  return { name, matches, describe: `clone, 1 node, ${flags.join(" ")}`, port, pids: [child.pid], pinned: cpu.server.length > 0 };
}

/** Three nodes joined as the README shows; the benchmark drives the leader. */
async function startThreeNodes(dir: string, processes: Subprocess[]): Promise<Target> {
  const { port, pids, nodes } = await startCluster(join(dir, "cluster"), 3, processes);
  return { name: "cluster-3", matches: "redis-everysec", describe: "clone, 3 nodes, defaults (-durability medium -consistency medium), through the leader", port, pids, pinned: false, nodes };
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuMicros: number;
  faults: number;
}

async function main(): Promise<void> {
  const settings = parseFlags<Settings>(process.argv.slice(2), {
    reps: 3,
    warmup: 3,
    requests: 100_000,
    clients: 50,
    pipelines: [1, 16],
    pin: true,
    out: join(import.meta.dir, "results"),
    only: [],
  });
  const cpu = cpuPlan(settings.pin);
  const dir = mkdtempSync(join(tmpdir(), "finn-bench-suite-"));
  const processes: Subprocess[] = [];
  const wanted = (name: string): boolean => settings.only.length === 0 || settings.only.includes(name);
  try {
    const targets: Target[] = [];
    const add = async (name: string, start: () => Promise<Target>): Promise<void> => {
      if (wanted(name)) targets.push(await start());
    };
    await add("redis-none", () => startRedis(dir, cpu, "redis-none", ["--appendonly", "no"], "redis-server, no persistence", processes));
    await add("redis-everysec", () =>
      startRedis(dir, cpu, "redis-everysec", ["--appendonly", "yes", "--appendfsync", "everysec"], "redis-server, appendonly yes, appendfsync everysec", processes),
    );
    await add("redis-always", () =>
      startRedis(dir, cpu, "redis-always", ["--appendonly", "yes", "--appendfsync", "always"], "redis-server, appendonly yes, appendfsync always", processes),
    );
    await add("clone-low", () => startClone(dir, cpu, "low", "redis-none", processes));
    await add("clone-medium", () => startClone(dir, cpu, "medium", "redis-everysec", processes));
    await add("clone-high", () => startClone(dir, cpu, "high", "redis-always", processes));
    // The log in memory and an append-only file (Finn's FastLog): one flush per commit at High, where LMDB's takes two.
    await add("clone-high-memory", () => startClone(dir, cpu, "high", "redis-always", processes, "memory"));
    await add("cluster-3", () => startThreeNodes(dir, processes));
    for (const target of targets) await waitForPing(target.port);

    const samples = new Map<string, Sample[]>();
    const run = (target: Target, test: string, pipeline: number, record: boolean): void => {
      const requests = settings.requests * (pipeline > 1 ? 4 : 1);
      const before = counters(target.pids);
      const row = runBenchmark(target.port, [test], requests, settings.clients, pipeline, [], target.pinned ? cpu.client : []).get(test.toUpperCase());
      const after = counters(target.pids);
      if (row === undefined) throw new Error(`no ${test} row from redis-benchmark against ${target.name}`);
      if (!record) return;
      const key = `${target.name}|${test}|${pipeline}`;
      samples.set(key, [...(samples.get(key) ?? []), {
          rps: row.rps,
          p50: row.p50,
          p99: row.p99,
          cpuMicros: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / requests,
          faults: (after.minorFaults - before.minorFaults) / requests,
        }]);
    };
    const tests = ["set", "get"];
    for (let pass = 0; pass < settings.warmup; pass++) {
      for (const target of targets) {
        await focus(targets, target);
        for (const pipeline of settings.pipelines) for (const test of tests) run(target, test, pipeline, false);
      }
    }
    for (let rep = 0; rep < settings.reps; rep++) {
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        await focus(targets, target);
        for (const pipeline of settings.pipelines) for (const test of tests) run(target, test, pipeline, true);
      }
      process.stderr.write(`repetition ${rep + 1}/${settings.reps} done\n`);
    }

    const machine = machineDescription();
    const peak = new Map(targets.map((target) => [target.name, target.pids.map((pid) => memoryMiB(pid, "VmHWM"))]));
    const rows: Record<string, unknown>[] = [];
    const lines: string[] = [];
    lines.push(`redis-benchmark -c ${settings.clients} -n ${settings.requests} (×4 at pipeline > 1), medians of ${settings.reps} runs after ${settings.warmup} untimed`);
    lines.push(`${machine}; single processes: ${cpu.description}; the cluster and redis-benchmark unpinned`);
    lines.push("");
    lines.push("| server | test | pipeline | rps | p50 ms | p99 ms | CPU µs/request | page faults/request | vs matching redis | peak RSS MiB |");
    lines.push("|---|---|---:|---:|---:|---:|---:|---:|---|---|");
    const medianOf = (key: string, field: keyof Sample): number => median((samples.get(key) ?? []).map((sample) => sample[field]));
    for (const target of targets) {
      for (const test of tests) {
        for (const pipeline of settings.pipelines) {
          const key = `${target.name}|${test}|${pipeline}`;
          const rps = medianOf(key, "rps");
          const matching = target.matches === "" ? 0 : medianOf(`${target.matches}|${test}|${pipeline}`, "rps");
          const ratio = matching > 0 ? rps / matching : null;
          const rss = peak.get(target.name) ?? [];
          lines.push(
            `| ${target.name} | ${test.toUpperCase()} | ${pipeline} | ${Math.round(rps).toLocaleString("en")} | ${medianOf(key, "p50").toFixed(3)} | ` +
              `${medianOf(key, "p99").toFixed(3)} | ${medianOf(key, "cpuMicros").toFixed(2)} | ${medianOf(key, "faults").toFixed(3)} | ` +
              `${ratio === null ? (target.matches === "" ? "–" : "n/a") : `${ratio.toFixed(2)}x ${target.matches}`} | ${rss.map((mib) => mib.toFixed(0)).join(" / ")} |`,
          );
          rows.push({
            server: target.name,
            describe: target.describe,
            test,
            pipeline,
            rps,
            p50: medianOf(key, "p50"),
            p99: medianOf(key, "p99"),
            cpuMicrosPerRequest: medianOf(key, "cpuMicros"),
            pageFaultsPerRequest: medianOf(key, "faults"),
            matches: target.matches,
            ratio,
            peakRssMiB: rss,
            runs: samples.get(key) ?? [],
          });
        }
      }
    }
    lines.push("");
    for (const target of targets) lines.push(`- \`${target.name}\`: ${target.describe}`);
    const table = lines.join("\n");
    console.log(`\n${table}`);

    mkdirSync(settings.out, { recursive: true });
    writeFileSync(join(settings.out, "suite.md"), `${table}\n`);
    writeFileSync(join(settings.out, "suite.json"), `${JSON.stringify({ machine, settings, cpu: cpu.description, rows }, null, 2)}\n`);
    const chart = barChart({
      title: `Requests per second, redis-benchmark -c ${settings.clients}, medians of ${settings.reps} (${machine})`,
      panels: settings.pipelines.map((pipeline) => ({
        title: `pipeline ${pipeline}`,
        groups: tests.map((test) => ({
          label: test.toUpperCase(),
          bars: targets.map((target) => ({ series: target.name, value: medianOf(`${target.name}|${test}|${pipeline}`, "rps") })),
        })),
      })),
      series: targets.map((target) => target.name),
    });
    writeFileSync(join(settings.out, "suite.svg"), chart);
    process.stderr.write(`wrote ${join(settings.out, "suite.md")}, suite.json and suite.svg\n`);
  } finally {
    for (const child of processes) {
      child.kill();
      // A stopped process holds its SIGTERM until it runs again.
      if (child.exitCode === null) process.kill(child.pid, "SIGCONT");
    }
    await Promise.all(processes.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
