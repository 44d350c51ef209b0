/**
 * Membership changes against real clusters, as explicit sequences (the random membership nemesis
 * is in faults.test.ts):
 *
 * - A change sent to an old leader cut off from the others (RAFTREMOVEPEER of a follower, then
 *   RAFTADDPEER of a fresh node) must not take effect: its reply is an error (or no reply) whose
 *   outcome the README documents as "not applied" or "unknown", never OK; meanwhile the majority
 *   makes its own change (adds a node, removes one), and after the heal every member, the old
 *   leader too, has exactly the majority's membership.
 * - The leader removed through itself (README: "RAFTREMOVEPEER address (the leader too: it hands
 *   over)") hands over: the next leader campaigns at once on the leader's TimeoutNow (its first
 *   Candidate state is in the next term: no pre-vote, so no election timeout), and has every
 *   acknowledged write.
 * - A fresh member brought up by a snapshot install at every durability level is promoted and
 *   follows the log (at `-durability low` it used to wait forever for a sync after the install).
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CloneProcess, freePort } from "../helpers/clone-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { plain } from "../helpers/resp-client.ts";
import { classifyError, destroyAllClusters, errorText, FaultCluster, probe } from "./cluster.ts";
import { isolateLinks } from "./partition-proxy.ts";

setDefaultTimeout(180_000);

const flags = ["-consistency", "high", "-durability", "high"];
/** How long an administration command sent to the isolated leader may take to answer (its proposals expire after 10 s). */
const isolatedReplyTimeoutMs = 20_000;
/** The error codes of the README's table ("Errors and what they guarantee"). */
const documentedCodes = new Set(["MOVED", "TRY", "CLUSTERDOWN", "TRYAGAIN", "UNCERTAIN", "LOADING", "ERR"]);

let cluster: FaultCluster | null = null;
const strays: CloneProcess[] = [];

afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
  await Promise.allSettled(strays.splice(0).map((node) => node.cleanup()));
});
afterAll(async () => {
  await destroyAllClusters();
});

/** One command on a fresh connection: the reply as text (`OK`, `-ERR ...`), or `no reply: ...`. */
async function send(port: number, timeoutMs: number, ...args: string[]): Promise<{ reply: string; error: string | null }> {
  try {
    const value = await probe(port, timeoutMs, ...args);
    const error = errorText(value);
    return { reply: error === null ? String(plain(value)) : `-${error}`, error };
  } catch (caught) {
    const reply = `no reply: ${caught instanceof Error ? caught.message : String(caught)}`;
    return { reply, error: reply };
  }
}

/** The node among `candidates` that says it leads, waiting for one (bounded). */
async function leaderAmong(of: FaultCluster, candidates: readonly number[]): Promise<number> {
  return eventually(
    "a leader among the majority",
    async () => {
      for (const index of candidates) {
        const node = of.nodes[index];
        if (node === undefined) continue;
        try {
          if (plain(await probe(node.port, 1_000, "RAFTSTATE")) === "Leader") return index;
        } catch {
          // not answering: not a leader
        }
      }
      return -1;
    },
    (index) => index >= 0,
    30_000,
    50,
  );
}

/** Waits until every member (every non-vacant slot) lists exactly `expected`, all voters; returns their RAFTPEERS. */
async function everyMemberAgrees(of: FaultCluster, expected: readonly string[]): Promise<Record<string, string>> {
  const want = JSON.stringify([...expected].sort());
  const members = of.nodes.map((_, index) => index).filter((index) => !of.vacant.has(index));
  const views = await eventually(
    `every member to list ${want}, all voters`,
    async () => {
      const result: Record<string, string> = {};
      for (const index of members) result[of.nodes[index]?.name ?? String(index)] = JSON.stringify(await of.peersAt(index));
      return result;
    },
    (result) =>
      Object.values(result).every((text) => {
        const rows = JSON.parse(text) as [string, string][];
        return JSON.stringify(rows.map(([address]) => address).sort()) === want && rows.every(([, state]) => state !== "Learner");
      }),
    30_000,
    200,
  );
  return views;
}

/** The README's outcome of a reply to an administration command: it must not be OK. */
function outcomeOf(result: { reply: string; error: string | null }): string {
  if (result.error === null) return "ok";
  if (result.reply.startsWith("no reply")) return "unknown (no reply)";
  const code = result.error.split(" ", 1)[0] ?? "";
  return `${classifyError(result.error)} (${documentedCodes.has(code) ? code : `undocumented ${code}`})`;
}

describe("a membership change through an isolated old leader", () => {
  test("is not applied (RAFTREMOVEPEER, then RAFTADDPEER); after the heal every member has the majority's membership", async () => {
    const of = await FaultCluster.start(3, flags, { partitions: true, spareSlots: 1 });
    cluster = of;
    const network = of.network;
    if (network === null) throw new Error("no network");
    const observed: string[] = [];

    // 1. The old leader is asked to remove a follower; the majority adds a fourth node.
    const leader1 = await of.waitLeader(20_000);
    const majority1 = [0, 1, 2].filter((index) => index !== leader1);
    const target = majority1[0] ?? -1;
    const targetAddress = of.advertisedAddress(target);
    expect((await send(of.nodes[leader1]?.port ?? 0, 5_000, "SET", "before", "1")).reply).toBe("OK");
    of.cut(isolateLinks(leader1, network.size));
    const removal = send(of.nodes[leader1]?.port ?? 0, isolatedReplyTimeoutMs, "RAFTREMOVEPEER", targetAddress);
    const newLeader1 = await leaderAmong(of, majority1);
    const added = await of.addNode(newLeader1);
    const voter = await of.waitVoter(added, performance.now() + 30_000);
    expect(voter).toStartWith("a voter");
    expect((await send(of.nodes[newLeader1]?.port ?? 0, 5_000, "SET", "during", "1")).reply).toBe("OK");
    of.healPartitions();
    const removalResult = await removal;
    observed.push(`RAFTREMOVEPEER ${targetAddress} at the isolated ${of.nodes[leader1]?.name}: ${removalResult.reply} -> ${outcomeOf(removalResult)}`);
    expect(removalResult.error).not.toBeNull();
    expect(outcomeOf(removalResult)).not.toContain("undocumented");
    const after1 = [0, 1, 2, 3].map((index) => of.advertisedAddress(index));
    const views1 = await everyMemberAgrees(of, after1);
    observed.push(`after the heal every member lists the majority's 4 voters (${targetAddress} among them): ${JSON.stringify(views1)}`);

    // 2. The (new) old leader is asked to add a fresh node; the majority removes one of its own.
    // The candidate joins nothing by itself: its -join names a port where nothing listens.
    const deadPort = await freePort();
    const candidate = await CloneProcess.start({ name: "candidate", join: `127.0.0.1:${deadPort}`, extraArguments: flags });
    strays.push(candidate);
    const leader2 = await of.waitLeader(20_000);
    const majority2 = [0, 1, 2, 3].filter((index) => index !== leader2);
    of.cut(isolateLinks(leader2, network.size));
    const addition = send(of.nodes[leader2]?.port ?? 0, isolatedReplyTimeoutMs, "RAFTADDPEER", candidate.address);
    const newLeader2 = await leaderAmong(of, majority2);
    const victim = majority2.find((index) => index !== newLeader2) ?? -1;
    const victimAddress = of.advertisedAddress(victim);
    // The majority's change, at its leader (it must commit: three of four voters are connected).
    // A leader refuses membership changes until its first entry commits ("another membership
    // change is in progress"): that refusal is retried, anything else is the answer.
    const removedByMajority = await eventually(
      "the majority's RAFTREMOVEPEER",
      () => send(of.nodes[newLeader2]?.port ?? 0, 15_000, "RAFTREMOVEPEER", victimAddress),
      (result) => !(result.error ?? "").includes("another membership change is in progress"),
      20_000,
      50,
    );
    expect(removedByMajority.reply).toBe("OK");
    await of.retire(victim);
    of.healPartitions();
    const additionResult = await addition;
    observed.push(`RAFTADDPEER ${candidate.address} at the isolated ${of.nodes[leader2]?.name}: ${additionResult.reply} -> ${outcomeOf(additionResult)}`);
    expect(additionResult.error).not.toBeNull();
    expect(outcomeOf(additionResult)).not.toContain("undocumented");
    const after2 = after1.filter((address) => address !== victimAddress);
    const views2 = await everyMemberAgrees(of, after2);
    observed.push(`after the heal every member lists the majority's 3 voters (not ${candidate.address}, not ${victimAddress}): ${JSON.stringify(views2)}`);
    // The candidate was never added: it knows no member, and no member knows it.
    expect(plain(await probe(candidate.port, 1_000, "RAFTPEERS"))).toEqual([]);
    // And the data written before and during the partition is there.
    const finalLeader = await of.waitLeader(20_000);
    expect((await send(of.nodes[finalLeader]?.port ?? 0, 5_000, "MGET", "before", "during")).reply).toBe("1,1");
    console.log(`membership through an isolated old leader:\n  ${observed.join("\n  ")}`);
  });
});

describe("the leader removed through itself", () => {
  test("hands over: the next leader campaigns at once on its TimeoutNow, with every acknowledged write", async () => {
    const of = await FaultCluster.start(3, flags);
    cluster = of;
    const rounds = 3;
    const observed: string[] = [];
    let counter = 0;
    for (let round = 0; round < rounds; round++) {
      const leader = await of.waitLeader(20_000);
      const leaderNode = of.nodes[leader];
      if (leaderNode === undefined) throw new Error("no leader node");
      for (let i = 0; i < 20; i++) {
        const result = await send(leaderNode.port, 5_000, "INCR", "counter");
        expect(result.reply).toBe(String(++counter));
      }
      const stats = plain(await probe(leaderNode.port, 1_000, "RAFTSTATS"));
      if (!Array.isArray(stats)) throw new Error(`RAFTSTATS: ${JSON.stringify(stats)}`);
      const term = Number(stats[stats.indexOf("term") + 1]);
      const others = [0, 1, 2].filter((index) => index !== leader);
      const candidatesBefore = others.map((index) => candidateLines(of.nodes[index]?.log() ?? "").length);
      const removedAt = performance.now();
      const reply = await send(leaderNode.port, 15_000, "RAFTREMOVEPEER", of.advertisedAddress(leader));
      expect(reply.reply).toBe("OK");
      const next = await leaderAmong(of, others);
      const leaderlessMs = Math.round(performance.now() - removedAt);
      const nextNode = of.nodes[next];
      if (nextNode === undefined) throw new Error("no next leader");
      // The first state change of the next leader after the removal: Candidate in term + 1 means
      // it campaigned at once (TimeoutNow skips pre-vote); Candidate in the same term is a
      // pre-vote, which a follower starts only when its election timer ran out.
      const firstCandidacy = candidateLines(nextNode.log())[candidatesBefore[others.indexOf(next)] ?? 0];
      observed.push(`round ${round}: ${leaderNode.name} (term ${term}) removed; ${nextNode.name} leads after ${leaderlessMs} ms; its first candidacy: ${firstCandidacy ?? "none"}`);
      console.log(observed.at(-1));
      if (!(firstCandidacy ?? "").includes(`(term ${term + 1})`)) {
        console.log(`--- ${leaderNode.name} (removed) ---\n${leaderNode.log().split("\n").slice(-8).join("\n")}\n--- ${nextNode.name} ---\n${nextNode.log().split("\n").slice(-8).join("\n")}`);
      }
      expect(firstCandidacy).toContain(`Raft state is now Candidate (term ${term + 1})`);
      // Every acknowledged increment is at the next leader.
      expect((await send(nextNode.port, 5_000, "GET", "counter")).reply).toBe(String(counter));
      // The removed node says so and serves nothing; it comes back as a fresh member.
      await eventually("the removed leader to stop", () => probe(leaderNode.port, 1_000, "RAFTSTATE").then(plain), (state) => state === "Shutdown");
      await of.retire(leader);
      await of.joinFresh(leader, false);
      expect(await of.waitVoter(leader, performance.now() + 30_000)).toStartWith("a voter");
    }
    console.log(`the leader removed through itself:\n  ${observed.join("\n  ")}`);
  });
});

/** The "Raft state is now Candidate (term N)" lines of a log, in order. */
function candidateLines(log: string): string[] {
  return log.split("\n").filter((line) => line.includes("Raft state is now Candidate"));
}

// At high durability the membership scenario of faults.test.ts brings fresh members up by
// snapshot installs in every run; these two levels are the ones it does not run by default.
describe("a fresh member brought up by a snapshot install", () => {
  for (const durability of ["low", "medium"] as const) {
    test(`is promoted and follows the log (-durability ${durability})`, async () => {
      // A snapshot every 50 entries with a trail of 10: a new member can only start from one.
      const of = await FaultCluster.start(3, ["-consistency", "high", "-durability", durability, "-snapshot-entries", "50", "-snapshot-trail", "10"]);
      cluster = of;
      const leader = await of.waitLeader(20_000);
      const leaderNode = of.nodes[leader];
      if (leaderNode === undefined) throw new Error("no leader");
      for (let i = 0; i < 200; i++) expect((await send(leaderNode.port, 5_000, "SET", `k${i % 20}`, String(i))).reply).toBe("OK");
      const slot = [0, 1, 2].find((index) => index !== leader) ?? -1;
      const note = await of.replaceMember(slot, { newAddress: true, downMs: 0 });
      const fresh = of.nodes[slot];
      if (fresh === undefined) throw new Error("no fresh node");
      console.log(`-durability ${durability}: ${note}`);
      expect(fresh.log()).toContain("Installed a snapshot from the leader");
      expect(note).toContain("a voter after promotion");
      // It keeps following: a later write reaches it (its applied index passes the leader's commit).
      expect((await send(leaderNode.port, 5_000, "SET", "after", "1")).reply).toBe("OK");
      const stats = plain(await probe(leaderNode.port, 1_000, "RAFTSTATS"));
      if (!Array.isArray(stats)) throw new Error("RAFTSTATS");
      const commit = Number(stats[stats.indexOf("commit_index") + 1]);
      await eventually(
        "the fresh member to apply the leader's commit",
        async () => {
          const own = plain(await probe(fresh.port, 1_000, "RAFTSTATS"));
          return Array.isArray(own) ? Number(own[own.indexOf("applied_index") + 1]) : -1;
        },
        (applied) => applied >= commit,
        20_000,
        50,
      );
    });
  }
});
