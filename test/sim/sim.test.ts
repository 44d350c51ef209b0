/**
 * Whole clusters of real cores under every fault the simulator knows, checked after every event
 * for Raft's safety properties, at the end for linearizability of the clients' history, and after
 * healing for liveness. `SIM_SEEDS=<n>` sets the seed count, `SIM_SEED=<n>` replays one seed.
 */
import { expect, test } from "bun:test";
import { checkRegisterHistory } from "./linearizability.ts";
import { replayCommand, seedsToRun } from "./seeds.ts";
import { Simulation } from "./simulator.ts";

/** Runs one seed; on any failure, the error names the command that replays it. */
export function runSeed(seed: number, testName: string): Record<string, number> {
  try {
    const result = new Simulation({ seed }).run();
    const verdict = checkRegisterHistory(result.history, { timeoutMs: 5000 });
    if (!verdict.ok) throw new Error(`not linearizable (key ${verdict.key}): ${verdict.explanation}`);
    if (verdict.timedOut === true) result.stats["linearizability.undecided"] = 1;
    return result.stats;
  } catch (error) {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Error(`seed ${seed} failed: ${why}\nreplay: ${replayCommand(seed, "test/sim/sim.test.ts", testName)}`);
  }
}

test("simulated clusters stay safe, linearizable and live under faults", () => {
  const totals: Record<string, number> = {};
  for (const seed of seedsToRun()) {
    const stats = runSeed(seed, "simulated clusters");
    for (const [name, value] of Object.entries(stats)) totals[name] = (totals[name] ?? 0) + value;
  }
  // The faults must actually happen, or the run proves nothing.
  if (process.env["SIM_SEED"] === undefined) {
    expect(totals["crashes"] ?? 0).toBeGreaterThan(0);
    expect(totals["snapshotsInstalled"] ?? 0).toBeGreaterThan(0);
    expect(totals["membership.add"] ?? 0).toBeGreaterThan(0);
    expect(totals["op.write.ok"] ?? 0).toBeGreaterThan(0);
    expect(totals["op.read.ok"] ?? 0).toBeGreaterThan(0);
  }
  if (process.env["SIM_VERBOSE"] !== undefined) console.log(totals);
}, 600_000);

test("a seed replays exactly: same history, same statistics", () => {
  const seed = seedsToRun()[0]!;
  const first = new Simulation({ seed }).run();
  const second = new Simulation({ seed }).run();
  expect(JSON.stringify(second.history)).toBe(JSON.stringify(first.history));
  expect(second.stats).toEqual(first.stats);
});
