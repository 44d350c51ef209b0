/**
 * Liveness under one-way faults (thesis §9.6 pre-vote, §6.2 check-quorum): a minority cut off in
 * one direction must not disrupt a healthy majority, and a leader that cannot hear its followers
 * must step down so that the majority can go on. (Liveness after healing every fault is checked
 * by every seed of sim.test.ts: a write commits within 10 election timeouts.)
 */
import { expect, test } from "bun:test";
import type { NodeId } from "../../src/raft/index.ts";
import { checkRegisterHistory } from "./linearizability.ts";
import { seedsToRun } from "./seeds.ts";
import { Simulation } from "./simulator.ts";

const quiet = { crashes: true, membership: true, partitions: true } as const;
/** Scenario seeds: a few are enough, each scenario is scripted. */
const scenarioSeeds = seedsToRun().slice(0, 10);

function okWritesBetween(sim: Simulation, from: number, to: number): number {
  return sim.history.filter((op) => op.kind === "write" && op.outcome === "ok" && op.complete >= from && op.complete <= to).length;
}

function stableLeader(sim: Simulation): NodeId {
  sim.startClients(3);
  sim.runUntil(1000);
  const leader = sim.leaderId();
  expect(leader).toBeDefined();
  return leader!;
}

for (const seed of scenarioSeeds) {
  test(`seed ${seed}: a follower that can send but not receive does not disrupt the majority`, () => {
    const sim = new Simulation({ seed, nodeCount: 5, nemesis: false, quiet, faultMs: 5000 });
    const leader = stableLeader(sim);
    const term = sim.statusOf(leader)!.term;
    const victim = sim.ids().find((id) => id !== leader)!;
    for (const other of sim.ids()) if (other !== victim) sim.cut(other, victim);
    sim.runUntil(4000);
    // The victim times out again and again, but its pre-votes fail and its term stays put, and the
    // others, hearing from their leader, ignore it.
    expect(sim.leaderId()).toBe(leader);
    expect(sim.statusOf(leader)!.term).toBe(term);
    expect(sim.statusOf(victim)!.term).toBe(term);
    expect(okWritesBetween(sim, 1500, 4000)).toBeGreaterThan(20);
    sim.reconnect();
    // Some seeds draw tiny messages and one append in flight: catching up takes a while.
    sim.runUntil(9000);
    expect(sim.statusOf(victim)!.commit).toBe(sim.statusOf(leader)!.commit);
    expect(checkRegisterHistory(sim.history).ok).toBe(true);
  });

  test(`seed ${seed}: a follower that can receive but not send does not disrupt the majority`, () => {
    const sim = new Simulation({ seed, nodeCount: 3, nemesis: false, quiet, faultMs: 5000 });
    const leader = stableLeader(sim);
    const term = sim.statusOf(leader)!.term;
    const victim = sim.ids().find((id) => id !== leader)!;
    for (const other of sim.ids()) if (other !== victim) sim.cut(victim, other);
    sim.runUntil(4000);
    expect(sim.leaderId()).toBe(leader);
    expect(sim.statusOf(leader)!.term).toBe(term);
    expect(okWritesBetween(sim, 1500, 4000)).toBeGreaterThan(20);
    expect(checkRegisterHistory(sim.history).ok).toBe(true);
  });

  test(`seed ${seed}: a leader that cannot hear its followers steps down and the majority goes on`, () => {
    const sim = new Simulation({ seed, nodeCount: 3, nemesis: false, quiet, faultMs: 5000 });
    const leader = stableLeader(sim);
    for (const other of sim.ids()) if (other !== leader) sim.cut(other, leader);
    // Check-quorum: within two election timeouts (2 x 200 ms) the old leader steps down. The
    // followers still hear it until then, so they elect a new leader only afterwards.
    sim.runUntil(1000 + 400 + 50);
    expect(sim.statusOf(leader)!.role).not.toBe("leader");
    sim.runUntil(4000);
    const next = sim.leaderId();
    expect(next).toBeDefined();
    expect(next).not.toBe(leader);
    expect(okWritesBetween(sim, 2500, 4000)).toBeGreaterThan(10);
    expect(checkRegisterHistory(sim.history).ok).toBe(true);
  });
}
