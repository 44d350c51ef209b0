/**
 * The simulator's teeth: each classic Raft bug, switched on in every core through a test-only
 * flag, must be caught (a safety violation, an assertion, a liveness failure or a
 * non-linearizable history) within the CI seed budget. If a bug ever slips through, the simulator
 * has gone blind to it and this test fails.
 */
import { expect, test } from "bun:test";
import type { RaftTestBugs } from "../../src/raft/index.ts";
import type { SimulationOptions } from "./simulator.ts";
import { checkRegisterHistory } from "./linearizability.ts";
import { Simulation } from "./simulator.ts";

/** Seeds tried per bug before declaring the simulator blind to it. */
const seedsPerBugMax = Number.parseInt(process.env["SIM_TEETH_SEEDS"] ?? "300", 10);

/** The first seed that catches `bugs`, and what caught it; null if none within the budget. */
function firstCatch(bugs: Pick<SimulationOptions, "bugs" | "driverBugs" | "faultMs" | "nodeCount">): { seed: number; why: string } | null {
  for (let seed = 1; seed <= seedsPerBugMax; seed++) {
    try {
      const result = new Simulation({ seed, ...bugs }).run();
      const verdict = checkRegisterHistory(result.history, { timeoutMs: 5000 });
      if (!verdict.ok) return { seed, why: `not linearizable (key ${verdict.key})` };
    } catch (error) {
      return { seed, why: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }
  return null;
}

const core = (bugs: RaftTestBugs): Pick<SimulationOptions, "bugs"> => ({ bugs });
const bugs: [string, Pick<SimulationOptions, "bugs" | "driverBugs" | "faultMs" | "nodeCount">][] = [
  // Figure 8 needs a precise sequence of elections: in the default runs 2 to 4 seeds in 1000
  // caught it (the first 96, then 691 once a follower's election due among a pause's late ticks
  // waited for the next tick), in runs of 3 servers and four times the faults 8 in 300 (first 9).
  ["commit an old-term entry by counting replicas (§5.4.2)", { bugs: { commitOldTermByCounting: true }, faultMs: 12_000, nodeCount: 3 }],
  ["grant a vote to a candidate with a stale log (§5.4.1)", core({ voteForStaleLog: true })],
  ["serve reads on a possibly deposed leader without ReadIndex (thesis §6.4)", core({ readWithoutQuorum: true })],
  ["acknowledge an append before it is durable (Figure 2)", core({ ackBeforePersist: true })],
  ["apply a membership change twice", core({ applyConfigTwice: true })],
  // A driver bug, not a core one: after a pause it ticks once instead of catching up, so the
  // leader's lease outlives the followers' promise (the drift bound is broken). It shows only
  // when a paused, isolated leader is asked to read right after it resumes: with the default
  // runs about 1 seed in 800 caught it (seed 114 before session 7's probe change, 501 after),
  // so this case runs 3 servers and four times the faults, where about 1 in 75 does.
  ["a driver that does not catch up ticks after a pause (lease reads)", { driverBugs: { tickOnceAfterPause: true }, faultMs: 12_000, nodeCount: 3 }],
];

for (const [name, flags] of bugs) {
  test(`the simulator catches: ${name}`, () => {
    const caught = firstCatch(flags);
    if (process.env["SIM_VERBOSE"] !== undefined) console.log(name, caught);
    expect(caught).not.toBeNull();
  }, 600_000);
}
