/**
 * One test per rule of the Raft paper (and thesis) that the core implements, each citing where the
 * rule comes from. They drive real cores through the synchronous test cluster.
 */
import { describe, expect, test } from "bun:test";
import { nodeIds, TestCluster } from "./testing/cluster.ts";
import { asIndex, asTerm, type AppendMessage, type Entry, type NodeId, type VoteMessage } from "./types.ts";

const [n1, n2, n3, n4, n5] = nodeIds(5) as [NodeId, NodeId, NodeId, NodeId, NodeId];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (entry: Entry): string => new TextDecoder().decode(entry.data);
const normal = (entries: readonly Entry[]): string[] => entries.filter((entry) => entry.type === "normal").map(text);

describe("§5.1 terms", () => {
  test("a server that sees a higher term adopts it and becomes a follower (§5.1)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const term = cluster.raft(n1).status().term;
    cluster.raft(n1).step({ type: "heartbeat", from: n2, to: n1, term: asTerm(term + 5), commit: asIndex(0), round: 0, sentIndex: asIndex(0), sentTerm: asTerm(0) });
    expect(cluster.raft(n1).status()).toMatchObject({ role: "follower", term: term + 5, leader: n2 });
  });

  test("a request with a stale term is rejected (§5.1)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const term = cluster.raft(n2).status().term;
    cluster.network = [];
    cluster.raft(n2).step({
      type: "append", from: n3, to: n2, term: asTerm(term - 1), prevIndex: asIndex(2), prevTerm: asTerm(term), entries: [], commit: asIndex(2),
    });
    cluster.process(n2);
    const replies = cluster.network.filter((message) => message.type === "appendResponse");
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ to: n3, term, reject: true });
    expect(cluster.raft(n2).status().leader).toBe(n1);
  });
});

describe("§5.2 leader election", () => {
  test("a candidate with votes from a majority becomes leader and others follow it (§5.2)", () => {
    const cluster = new TestCluster([n1, n2, n3, n4, n5]);
    cluster.elect(n3);
    expect(cluster.leaders()).toEqual([n3]);
    for (const id of [n1, n2, n4, n5]) expect(cluster.raft(id).status()).toMatchObject({ role: "follower", leader: n3 });
  });

  test("a candidate without a majority does not become leader (§5.2)", () => {
    const cluster = new TestCluster([n1, n2, n3, n4, n5], { preVote: false });
    cluster.raft(n1).campaign();
    cluster.process(n1);
    cluster.stabilize((message) => message.from === n1 || message.to === n1 ? [n1, n2].includes(message.to) && [n1, n2].includes(message.from) : true);
    expect(cluster.raft(n1).status().role).toBe("candidate");
    expect(cluster.leaders()).toEqual([]);
  });

  test("each server votes for at most one candidate per term, first come first served (§5.2)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false });
    const term = asTerm(cluster.raft(n3).status().term + 1);
    const request = (from: NodeId): VoteMessage => ({
      type: "vote", from, to: n3, term, pre: false, lastIndex: asIndex(1), lastTerm: asTerm(1), transfer: false,
    });
    cluster.raft(n3).step(request(n1));
    cluster.raft(n3).step(request(n2));
    cluster.process(n3);
    const replies = cluster.network.filter((message) => message.type === "voteResponse");
    expect(replies.map((message) => [message.to, message.type === "voteResponse" && message.reject])).toEqual([[n1, false], [n2, true]]);
    expect(cluster.node(n3).storage.hardState().vote).toBe(n1);
  });

  test("a candidate that hears from a leader of its term becomes a follower (§5.2)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false });
    cluster.raft(n2).campaign();
    cluster.process(n2);
    const term = cluster.raft(n2).status().term;
    cluster.raft(n2).step({ type: "heartbeat", from: n1, to: n2, term, commit: asIndex(0), round: 0, sentIndex: asIndex(0), sentTerm: asTerm(0) });
    expect(cluster.raft(n2).status()).toMatchObject({ role: "follower", leader: n1, term });
  });

  test("election timeouts are drawn from [electionTicks, 2 * electionTicks) (§5.2)", () => {
    const cluster = new TestCluster([n1], { electionTicks: 10, preVote: false });
    const raft = cluster.raft(n1);
    let ticks = 0;
    while (raft.status().role !== "leader") {
      raft.tick();
      cluster.process(n1);
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThan(20);
  });

  test("a follower that hears nothing for an election timeout campaigns (§5.2)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.tick(n2, 25);
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([n2]);
  });
});

describe("§5.3 log replication", () => {
  test("the leader commits an entry once a majority stores it, and everyone applies it (§5.3)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    // Only n2 hears about it: n1 and n2 are a majority of three.
    cluster.stabilize((message) => message.to !== n3 && message.from !== n3);
    expect(normal(cluster.node(n1).applied)).toEqual(["x"]);
    expect(normal(cluster.node(n3).applied)).toEqual([]);
    cluster.stabilize();
    expect(normal(cluster.node(n3).applied)).toEqual(["x"]);
  });

  test("commit news: a commit travels with the next appends, and alone only once the leader is quiet", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const appends = (): AppendMessage[] => cluster.network.filter((message): message is AppendMessage => message.type === "append");
    cluster.raft(n1).propose(bytes("x"));
    // Replicate x and hand the acknowledgements back without the quiet step of stabilize().
    for (let round = 0; round < 3; round++) {
      cluster.processAll();
      cluster.deliver();
    }
    cluster.processAll();
    expect(normal(cluster.node(n1).applied)).toEqual(["x"]);
    // Committed, and nothing sent for it alone.
    expect(appends()).toEqual([]);
    const x = cluster.raft(n1).status().commit;
    expect(cluster.raft(n1).commitNewsOwed()).toBe(x);
    // The next proposal's appends carry it: the followers apply x on receiving y.
    cluster.raft(n1).propose(bytes("y"));
    cluster.process(n1);
    expect(appends().map((message) => [message.to, message.commit, message.entries.length])).toEqual([[n2, x, 1], [n3, x, 1]]);
    expect(cluster.raft(n1).commitNewsOwed()).toBeNull();
    cluster.deliver();
    cluster.processAll();
    for (const id of [n2, n3]) expect(normal(cluster.node(id).applied)).toEqual(["x"]);
    // Once quiet (the node's short timer), the commit of y goes out alone.
    cluster.deliver();
    cluster.processAll();
    const y = cluster.raft(n1).status().commit;
    expect(y).toBeGreaterThan(x);
    expect(appends()).toEqual([]);
    cluster.raft(n1).sendCommitNews(y);
    cluster.process(n1);
    expect(appends().map((message) => [message.to, message.commit, message.entries.length])).toEqual([[n2, y, 0], [n3, y, 0]]);
    cluster.stabilize();
    for (const id of [n2, n3]) expect(normal(cluster.node(id).applied)).toEqual(["x", "y"]);
  });

  test("commit news: a committed membership change is sent to every member at once", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const change = cluster.raft(n1).proposeConfigChange({ kind: "remove", node: n3 });
    expect(change.ok).toBe(true);
    // The change goes out, the acknowledgements come back, and the leader commits it.
    for (let round = 0; round < 2; round++) {
      cluster.processAll();
      cluster.deliver();
    }
    cluster.process(n1);
    const commit = cluster.raft(n1).status().commit;
    expect(change.ok && commit).toBe(change.ok && change.lastIndex);
    const told = cluster.network.filter((message): message is AppendMessage => message.type === "append" && message.commit === commit);
    expect(told.map((message) => message.to).sort()).toEqual([n2, n3]);
  });

  test("a follower rejects an append whose previous entry it does not hold (§5.3 consistency check)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const term = cluster.raft(n2).status().term;
    cluster.raft(n2).step({
      type: "append", from: n1, to: n2, term, prevIndex: asIndex(9), prevTerm: asTerm(term), entries: [], commit: asIndex(2),
    });
    cluster.process(n2);
    const reply = cluster.network.find((message) => message.type === "appendResponse" && message.from === n2);
    expect(reply).toMatchObject({ reject: true, index: 9, hintIndex: 2 });
  });

  test("a follower replaces conflicting uncommitted entries with the leader's (§5.3)", () => {
    const cluster = new TestCluster([n1, n2, n3], { checkQuorum: false });
    cluster.elect(n1);
    // n1 appends entries nobody else sees, then loses leadership to n2.
    cluster.raft(n1).propose([bytes("lost1"), bytes("lost2")]);
    cluster.process(n1);
    cluster.network = [];
    cluster.elect(n2);
    cluster.raft(n2).propose(bytes("kept"));
    cluster.stabilize();
    for (const id of [n1, n2, n3]) expect(normal(cluster.node(id).applied)).toEqual(["kept"]);
    expect(normal(cluster.node(n1).storage.entries(asIndex(1), asIndex(cluster.node(n1).storage.lastIndex() + 1), Infinity))).toEqual(["kept"]);
  });

  test("fast backtracking skips a whole conflicting term per round trip (§5.3)", () => {
    const cluster = new TestCluster([n1, n2, n3], { checkQuorum: false });
    cluster.elect(n1);
    // n1 writes 50 entries in its term that only it holds.
    for (let position = 0; position < 50; position++) cluster.raft(n1).propose(bytes(`old${position}`));
    cluster.process(n1);
    cluster.network = [];
    cluster.elect(n2);
    for (let position = 0; position < 50; position++) cluster.raft(n2).propose(bytes(`new${position}`));
    cluster.stabilize((message) => message.to !== n1 && message.from !== n1);
    cluster.network = [];
    cluster.tick(n2, 2);
    let rejections = 0;
    for (let round = 0; round < 20; round++) {
      cluster.processAll();
      const delivered = cluster.deliver();
      rejections += delivered.filter((message) => message.type === "appendResponse" && message.reject).length;
      if (delivered.length === 0) break;
    }
    expect(rejections).toBeLessThanOrEqual(2);
    cluster.stabilize();
    expect(normal(cluster.node(n1).applied).slice(-1)).toEqual(["new49"]);
  });

  test("appends are idempotent: duplicated and reordered messages change nothing (§5.3, §5.5)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("a"));
    cluster.process(n1);
    const appends = cluster.network.filter((message) => message.type === "append");
    cluster.raft(n1).propose(bytes("b"));
    cluster.process(n1);
    const later = cluster.network.filter((message) => message.type === "append" && !appends.includes(message));
    cluster.network = [...later, ...appends, ...appends, ...later];
    cluster.stabilize();
    for (const id of [n1, n2, n3]) expect(normal(cluster.node(id).applied)).toEqual(["a", "b"]);
  });

  test("pipelined replication carries many entries per message under flow control", () => {
    const cluster = new TestCluster([n1, n2, n3], { inflightMessagesMax: 2, messageBytesMax: 200 });
    cluster.elect(n1);
    for (let position = 0; position < 100; position++) cluster.raft(n1).propose(bytes(`e${position}`));
    cluster.process(n1);
    const appends = cluster.network.filter((message): message is AppendMessage => message.type === "append" && message.to === n2);
    // Two messages in flight at most, each with several entries (200 bytes / 26 per entry).
    expect(appends.length).toBe(2);
    expect(appends[0]!.entries.length).toBeGreaterThan(3);
    cluster.stabilize();
    expect(normal(cluster.node(n3).applied)).toHaveLength(100);
  });

  test("the leader refuses proposals beyond the uncommitted byte limit", () => {
    const cluster = new TestCluster([n1, n2, n3], { uncommittedBytesMax: 100 });
    cluster.elect(n1);
    cluster.network = [];
    expect(cluster.raft(n1).propose(new Uint8Array(80)).ok).toBe(true);
    expect(cluster.raft(n1).propose(new Uint8Array(80))).toEqual({ ok: false, reason: "uncommittedLimit" });
    cluster.stabilize();
    expect(cluster.raft(n1).propose(new Uint8Array(80)).ok).toBe(true);
  });
});

describe("Figure 2: persistent state before responding", () => {
  test("votes, vote requests and append acknowledgements wait for persistence; leader appends do not (thesis §10.2.1)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false });
    cluster.raft(n1).campaign();
    const [candidateReady] = cluster.process(n1);
    // The candidate's own vote is in the hard state, and its requests leave only once it is durable.
    expect(candidateReady?.hardState).toMatchObject({ vote: n1 });
    expect(candidateReady?.messages).toEqual([]);
    expect(candidateReady?.messagesAfterPersist.map((message) => message.type)).toEqual(["vote", "vote"]);
    cluster.deliver();
    const [voterReady] = cluster.process(n2);
    expect(voterReady?.hardState).toMatchObject({ vote: n1 });
    expect(voterReady?.messagesAfterPersist.map((message) => message.type)).toEqual(["voteResponse"]);
    cluster.process(n3);
    cluster.deliver();
    const [leaderReady] = cluster.process(n1);
    // The leader's appends carry its no-op, which it is persisting in this same Ready.
    expect(leaderReady?.entries.map((entry) => entry.type)).toEqual(["noop"]);
    expect(leaderReady?.messages.map((message) => message.type)).toEqual(["append", "append"]);
    cluster.deliver();
    const [followerReady] = cluster.process(n2);
    expect(followerReady?.entries.map((entry) => entry.type)).toEqual(["noop"]);
    expect(followerReady?.messages).toEqual([]);
    expect(followerReady?.messagesAfterPersist.map((message) => message.type)).toEqual(["appendResponse"]);
  });

  test("the leader counts itself only for entries it has persisted (thesis §10.2.1)", () => {
    const cluster = new TestCluster([n1]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    const ready = cluster.raft(n1).ready();
    // Appended but not yet persisted: a single-server cluster cannot have committed it.
    expect(ready.entries.map(text)).toEqual(["x"]);
    expect(ready.committedEntries).toEqual([]);
    cluster.node(n1).storage.append(ready.entries);
    cluster.raft(n1).advance();
    const next = cluster.raft(n1).ready();
    expect(next.committedEntries.map(text)).toEqual(["x"]);
    cluster.raft(n1).advance();
  });
});

describe("§5.4 safety", () => {
  test("a voter denies its vote to a candidate whose log is less up-to-date (§5.4.1)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false });
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    cluster.stabilize((message) => message.to !== n3 && message.from !== n3);
    // n3 missed the entry: n1 and n2 must refuse it.
    cluster.network = [];
    cluster.tick(n1, 0);
    cluster.raft(n3).campaign();
    cluster.process(n3);
    for (const id of [n1, n2]) cluster.restart(id);
    cluster.raft(n3).campaign();
    cluster.process(n3);
    cluster.deliver((message) => message.type === "vote");
    cluster.processAll();
    const replies = cluster.network.filter((message) => message.type === "voteResponse" && message.to === n3);
    expect(replies.length).toBe(2);
    expect(replies.every((message) => message.type === "voteResponse" && message.reject)).toBe(true);
  });

  test("entries from earlier terms are not committed by counting replicas (§5.4.2, Figure 8)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false, checkQuorum: false });
    cluster.elect(n1);
    // n1 appends an entry of its term that only it holds, then restarts and wins the next term
    // with votes alone; its appends are lost.
    cluster.raft(n1).propose(bytes("old"));
    cluster.process(n1);
    cluster.network = [];
    cluster.restart(n1);
    cluster.raft(n1).campaign();
    cluster.stabilize((message) => message.type === "vote" || message.type === "voteResponse");
    const status = cluster.raft(n1).status();
    expect(status).toMatchObject({ role: "leader", lastIndex: 4 });
    cluster.network = [];
    // n2 now holds index 3 (the old-term entry) but not the new no-op: n1 and n2 are a majority
    // holding index 3, yet its term is not the current one, so it must not be committed.
    const oldEntries = cluster.raft(n1).entriesBetween(asIndex(3), asIndex(4));
    cluster.raft(n2).step({
      type: "append", from: n1, to: n2, term: status.term, prevIndex: asIndex(2), prevTerm: asTerm(2), entries: oldEntries, commit: asIndex(2),
    });
    cluster.process(n2);
    cluster.deliver((message) => message.type === "appendResponse" && message.from === n2);
    cluster.process(n1);
    expect(cluster.raft(n1).progressOf(n2)?.match).toBe(asIndex(3));
    expect(cluster.raft(n1).status().commit).toBeLessThan(3);
    cluster.network = [];
    cluster.tick(n1, 2);
    cluster.stabilize();
    // Once the no-op of the current term is replicated, it commits, and "old" with it.
    expect(cluster.raft(n1).status().commit).toBe(asIndex(4));
    expect(normal(cluster.node(n1).applied)).toEqual(["old"]);
  });

  test("a newly elected leader commits a no-op of its term (§8)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n2);
    const applied = cluster.node(n3).applied;
    expect(applied[applied.length - 1]).toMatchObject({ type: "noop", term: cluster.raft(n2).status().term });
  });

  test("a leader never overwrites or deletes its own entries (§5.3 Leader Append-Only)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("a"));
    cluster.process(n1);
    const before = cluster.raft(n1).status().lastIndex;
    const term = cluster.raft(n1).status().term;
    cluster.raft(n1).step({ type: "appendResponse", from: n2, to: n1, term, reject: true, index: asIndex(0), hintIndex: asIndex(0), hintTerm: asTerm(0) });
    cluster.stabilize();
    expect(cluster.raft(n1).status().lastIndex).toBe(before);
    expect(normal(cluster.node(n1).applied)).toEqual(["a"]);
  });
});

describe("thesis extensions", () => {
  test("pre-vote: a partitioned server does not raise its term (thesis §9.6)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const term = cluster.raft(n3).status().term;
    for (let round = 0; round < 10; round++) {
      cluster.tick(n3, 25);
      cluster.drop((message) => message.from === n3 || message.to === n3);
    }
    expect(cluster.raft(n3).status().term).toBe(term);
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([n1]);
  });

  test("check-quorum: a leader that does not hear from a quorum steps down (thesis §6.2)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    for (let tick = 0; tick < 25; tick++) {
      cluster.tick(n1);
      cluster.drop(() => true);
    }
    expect(cluster.raft(n1).status().role).toBe("follower");
  });

  test("check-quorum after the loop stood still: its late ticks do not step a leader down before the answers that waited are read", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const lateTicks = (count: number, drop: boolean): void => {
      for (let tick = 0; tick < count; tick++) {
        cluster.raft(n1).tick(true);
        cluster.process(n1);
        if (drop) cluster.drop(() => true);
      }
    };
    // A stall of 22 ticks (what RaftNode catches up at most): two election timeouts pass before
    // the followers' answers, sent meanwhile, are read.
    lateTicks(22, false);
    expect(cluster.raft(n1).status().role).toBe("leader");
    cluster.stabilize();
    cluster.tick(n1);
    expect(cluster.raft(n1).status().role).toBe("leader");
    // With no answers at all, the next tick on time judges...
    lateTicks(15, true);
    expect(cluster.raft(n1).status().role).toBe("leader");
    cluster.tick(n1);
    cluster.drop(() => true);
    expect(cluster.raft(n1).status().role).toBe("follower");
    // ...and a loop that is always late steps down after another election timeout.
    cluster.stabilize();
    cluster.elect(n2);
    const late = (count: number): void => {
      for (let tick = 0; tick < count; tick++) {
        cluster.raft(n2).tick(true);
        cluster.process(n2);
        cluster.drop(() => true);
      }
    };
    late(30);
    expect(cluster.raft(n2).status().role).toBe("follower");
  });

  test("a follower whose election comes due among a stalled loop's late ticks waits for the next tick, after the messages that waited are read", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const role = () => cluster.raft(n2).status().role;
    // 22 ticks at once (what RaftNode catches up at most): the election is due, and waits.
    cluster.raft(n2).catchUp(22);
    cluster.process(n2);
    expect(role()).toBe("follower");
    expect(cluster.drop((message) => message.from === n2)).toEqual([]);
    // The leader's heartbeat, read before the next tick, restarts its timer: a stall right after
    // waits again, and a heartbeat after that keeps it a follower for a whole timeout.
    cluster.tick(n1);
    cluster.stabilize();
    cluster.raft(n2).catchUp(22);
    cluster.process(n2);
    expect(role()).toBe("follower");
    cluster.tick(n1);
    cluster.stabilize();
    cluster.tick(n2, 9);
    expect(role()).toBe("follower");
    // With nothing from the leader, the next tick on time starts the (pre-)election...
    cluster.raft(n2).catchUp(22);
    cluster.process(n2);
    expect(role()).toBe("follower");
    cluster.tick(n2);
    expect(role()).toBe("preCandidate");
    // ...and so does the next batch of late ticks, for a loop that is always late.
    cluster.drop(() => true);
    cluster.tick(n1);
    cluster.stabilize();
    expect(role()).toBe("follower");
    cluster.raft(n2).catchUp(22);
    cluster.process(n2);
    expect(role()).toBe("follower");
    cluster.raft(n2).catchUp(2);
    cluster.process(n2);
    expect(role()).toBe("preCandidate");
  });

  test("a link that shows its peer alive with no whole message: a follower's leader restarts its election timer, a follower that reads counts for check-quorum", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    // Bytes of a long frame from its leader, every few ticks: no election, however long.
    for (let tick = 0; tick < 50; tick++) {
      cluster.tick(n2);
      cluster.drop(() => true);
      if (tick % 5 === 0) expect(cluster.raft(n2).heardFrom(n1)).toBe(true);
    }
    expect(cluster.raft(n2).status().role).toBe("follower");
    // Bytes from a node that is not its leader do not count.
    expect(cluster.raft(n2).heardFrom(n3)).toBe(false);
    expect(cluster.raft(n1).heardFrom(n2)).toBe(false);
    cluster.tick(n2, 20);
    expect(cluster.raft(n2).status().role).toBe("preCandidate");
    // The leader, its answers held up behind the frames it sends, keeps leading while the
    // followers read them (no answers at all for 50 ticks), and steps down once they do not.
    cluster.drop(() => true);
    cluster.stabilize();
    cluster.elect(n1);
    for (let tick = 0; tick < 50; tick++) {
      cluster.tick(n1);
      cluster.drop(() => true);
      cluster.raft(n1).peerReading(n2);
      cluster.raft(n1).peerReading(n3);
    }
    expect(cluster.raft(n1).status().role).toBe("leader");
    cluster.tick(n1, 20);
    expect(cluster.raft(n1).status().role).toBe("follower");
  });

  test("check-quorum: followers in touch with a leader ignore a disruptive candidate (thesis §4.2.3)", () => {
    const cluster = new TestCluster([n1, n2, n3], { preVote: false });
    cluster.elect(n1);
    const term = cluster.raft(n2).status().term;
    cluster.raft(n2).step({ type: "vote", from: n3, to: n2, term: asTerm(term + 1), pre: false, lastIndex: asIndex(99), lastTerm: asTerm(term), transfer: false });
    expect(cluster.raft(n2).status().term).toBe(term);
  });

  test("ReadIndex: a read is confirmed by one heartbeat round and released at its index (thesis §6.4)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    cluster.stabilize();
    cluster.raft(n1).readIndex(1);
    cluster.raft(n1).readIndex(2);
    cluster.process(n1);
    const heartbeats = cluster.network.filter((message) => message.type === "heartbeat");
    // One round for both reads, no log write.
    expect(heartbeats).toHaveLength(2);
    expect(cluster.node(n1).readStates).toEqual([]);
    cluster.stabilize();
    const commit = cluster.raft(n1).status().commit;
    expect(cluster.node(n1).readStates).toEqual([{ ctx: 1, index: commit }, { ctx: 2, index: commit }]);
    expect(cluster.raft(n1).status().lastIndex).toBe(commit);
  });

  test("ReadIndex waits for the leader's first commit in its term (thesis §6.4 step 1)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.raft(n1).campaign();
    cluster.stabilize((message) => message.type === "vote" || message.type === "voteResponse");
    expect(cluster.raft(n1).status().role).toBe("leader");
    cluster.raft(n1).readIndex(7);
    cluster.process(n1);
    expect(cluster.node(n1).readStates).toEqual([]);
    cluster.stabilize();
    expect(cluster.node(n1).readStates.map((read) => read.ctx)).toEqual([7]);
  });

  test("a deposed leader drops its unconfirmed reads (thesis §6.4)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).readIndex(5);
    cluster.process(n1);
    cluster.network = [];
    const term = cluster.raft(n1).status().term;
    cluster.raft(n1).step({ type: "heartbeat", from: n2, to: n1, term: asTerm(term + 1), commit: asIndex(0), round: 0, sentIndex: asIndex(0), sentTerm: asTerm(0) });
    cluster.process(n1);
    expect(cluster.node(n1).droppedReads).toEqual([5]);
    expect(cluster.node(n1).readStates).toEqual([]);
  });

  test("lease: a leader serves reads locally while a quorum acknowledged it recently (thesis §6.4.1)", () => {
    const cluster = new TestCluster([n1, n2, n3], { electionTicks: 10, heartbeatTicks: 1 });
    cluster.elect(n1);
    cluster.tick(n1);
    cluster.stabilize();
    expect(cluster.raft(n1).leaseValid()).toBe(true);
    cluster.raft(n1).readIndex(9, "lease");
    cluster.process(n1);
    expect(cluster.node(n1).readStates.map((read) => read.ctx)).toEqual([9]);
    // Cut off from the followers, the lease runs out before any follower would vote again:
    // (electionTicks - 1) / (1 + drift) - 1 = 7 ticks after the last acknowledged heartbeat.
    const acknowledged = 1;
    let ticks = 1;
    while (cluster.raft(n1).leaseValid()) {
      cluster.tick(n1);
      cluster.drop(() => true);
      ticks++;
    }
    expect(ticks - acknowledged).toBe(8);
  });

  test("lease: a leader that sent TimeoutNow gives up its lease for the rest of its term (thesis §6.4.1)", () => {
    const cluster = new TestCluster([n1, n2, n3], { electionTicks: 10, heartbeatTicks: 1 });
    cluster.elect(n1);
    cluster.tick(n1);
    cluster.stabilize();
    expect(cluster.raft(n1).leaseValid()).toBe(true);
    cluster.raft(n1).transferLeadership(n3);
    cluster.process(n1);
    // The TimeoutNow is delayed, not lost: the transfer is aborted, but n3 may still campaign
    // later, and voters grant a transfer's votes inside their lease.
    const timeoutNow = cluster.drop((message) => message.type === "timeoutNow");
    expect(timeoutNow).toHaveLength(1);
    for (let tick = 0; tick < 12; tick++) {
      cluster.tick(n1);
      cluster.stabilize();
    }
    expect(cluster.raft(n1).status()).toMatchObject({ role: "leader", leadTransferee: null });
    expect(cluster.raft(n1).leaseValid()).toBe(false);
    cluster.raft(n1).readIndex(4, "lease");
    cluster.process(n1);
    expect(cluster.node(n1).readStates.map((read) => read.ctx)).toEqual([]);
    cluster.stabilize();
    expect(cluster.node(n1).readStates.map((read) => read.ctx)).toEqual([4]);
  });

  test("lease: a restarted server refuses votes for an election timeout (the promise survives a crash)", () => {
    const cluster = new TestCluster([n1, n2, n3], { voteGuardAfterStart: true, preVote: false });
    // Every server just started: let the guard run out before the first election.
    for (const id of [n1, n2, n3]) cluster.tick(id, 10);
    cluster.network = [];
    cluster.elect(n1);
    cluster.restart(n2);
    const term = cluster.raft(n2).status().term;
    const request: VoteMessage = {
      type: "vote", from: n3, to: n2, term: asTerm(term + 1), pre: false, lastIndex: asIndex(9), lastTerm: asTerm(term), transfer: false,
    };
    cluster.raft(n2).step(request);
    expect(cluster.raft(n2).status().term).toBe(term);
    cluster.tick(n2, 10);
    cluster.network = [];
    cluster.raft(n2).step(request);
    expect(cluster.raft(n2).status()).toMatchObject({ term: term + 1, vote: n3 });
  });

  test("leadership transfer: the transferee campaigns at once and wins (thesis §3.10)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    cluster.stabilize((message) => message.to !== n3);
    expect(cluster.raft(n1).transferLeadership(n3)).toBe(true);
    expect(cluster.raft(n1).propose(bytes("refused"))).toEqual({ ok: false, reason: "transferring" });
    cluster.stabilize();
    expect(cluster.leaders()).toEqual([n3]);
    expect(cluster.raft(n1).leaseValid()).toBe(false);
  });
});

describe("membership (thesis §4)", () => {
  test("a new server joins as a learner and is promoted once caught up (thesis §4.2.1)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    for (let position = 0; position < 20; position++) cluster.raft(n1).propose(bytes(`e${position}`));
    cluster.stabilize();
    cluster.addNode(n4);
    const result = cluster.raft(n1).proposeConfigChange({ kind: "addLearner", node: n4, address: "n4:1" });
    expect(result.ok).toBe(true);
    expect(cluster.raft(n1).proposeConfigChange({ kind: "addLearner", node: n5, address: "n5:1" })).toEqual({ ok: false, reason: "configPending" });
    cluster.stabilize();
    for (let tick = 0; tick < 3; tick++) {
      cluster.tick(n1);
      cluster.stabilize();
    }
    for (const id of [n1, n2, n3, n4]) {
      expect(cluster.raft(id).status().membership.voters).toEqual([n1, n2, n3, n4]);
      expect(normal(cluster.node(id).applied)).toHaveLength(20);
    }
  });

  test("a removed leader hands over and steps down (thesis §4.2.2)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    expect(cluster.raft(n1).proposeConfigChange({ kind: "remove", node: n1 }).ok).toBe(true);
    cluster.stabilize();
    const leaders = cluster.leaders();
    expect(leaders).toHaveLength(1);
    expect(leaders[0]).not.toBe(n1);
    expect(cluster.raft(leaders[0]!).status().membership.voters).toEqual([n2, n3]);
    cluster.raft(leaders[0]!).propose(bytes("after"));
    cluster.stabilize();
    expect(normal(cluster.node(n2).applied)).toEqual(["after"]);
  });

  test("a server that may not campaign still stops refusing votes once its leader is silent (thesis §4.2.3)", () => {
    // A learner (or a server that does not know yet it was promoted) cannot campaign, but the
    // voters may need its vote: its election timer must not restart as if it heard a leader.
    const cluster = new TestCluster([n1, n2, n3], { preVote: false, autoPromote: false });
    cluster.elect(n1);
    cluster.addNode(n4);
    cluster.raft(n1).proposeConfigChange({ kind: "addLearner", node: n4, address: "n4:1" });
    cluster.stabilize();
    expect(cluster.raft(n4).status().membership.learners).toEqual([n4]);
    cluster.network = [];
    cluster.tick(n4, 10);
    // From now on n4 has not heard from n1 for an election timeout: it answers every pre-vote
    // (which changes nothing on n4, so the same question can be asked at every tick).
    const term = asTerm(cluster.raft(n4).status().term + 1);
    for (let tick = 0; tick < 40; tick++) {
      cluster.tick(n4);
      cluster.raft(n4).step({ type: "vote", from: n2, to: n4, term, pre: true, lastIndex: asIndex(99), lastTerm: term, transfer: false });
      cluster.process(n4);
      expect(cluster.drop((message) => message.type === "voteResponse" && message.from === n4)).toHaveLength(1);
    }
  });

  test("a removed server that missed the commit of its removal learns of it from a member's vote response", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    const cut = (message: { from: NodeId; to: NodeId }): boolean => message.from !== n3 && message.to !== n3;
    expect(cluster.raft(n1).proposeConfigChange({ kind: "remove", node: n3 }).ok).toBe(true);
    // n3 hears nothing more: the leader applied the removal and stopped sending to it.
    cluster.stabilize(cut);
    cluster.network = [];
    expect(cluster.raft(n1).status().membership.voters).toEqual([n1, n2]);
    expect(cluster.raft(n3).status().membership.voters).toEqual([n1, n2, n3]);
    const term = cluster.raft(n1).status().term;
    // n3 times out and asks for pre-votes; the members, in touch with their leader, refuse, and
    // say that n3 is not a member of what they applied.
    for (let tick = 0; tick < 30 && !cluster.raft(n3).status().removalLearned; tick++) {
      cluster.tick(n3);
      cluster.stabilize();
    }
    expect(cluster.raft(n3).status()).toMatchObject({ removalLearned: true, role: "follower" });
    // It campaigns no more, and the cluster was not disturbed.
    for (let tick = 0; tick < 50; tick++) cluster.tick(n3);
    expect(cluster.network.filter((message) => message.from === n3)).toEqual([]);
    expect(cluster.raft(n1).status()).toMatchObject({ role: "leader", term });
  });

  test("a removed learner that missed the commit of its removal asks the voters once its leader is silent, and learns of it", () => {
    const cluster = new TestCluster([n1, n2, n3], { autoPromote: false });
    cluster.elect(n1);
    cluster.addNode(n4);
    cluster.raft(n1).proposeConfigChange({ kind: "addLearner", node: n4, address: "n4:1" });
    cluster.stabilize();
    expect(cluster.raft(n4).status().membership.learners).toEqual([n4]);
    expect(cluster.raft(n1).proposeConfigChange({ kind: "remove", node: n4 }).ok).toBe(true);
    cluster.stabilize((message) => message.from !== n4 && message.to !== n4);
    cluster.network = [];
    expect(cluster.raft(n1).status().membership.learners).toEqual([]);
    const term = cluster.raft(n1).status().term;
    for (let tick = 0; tick < 60 && !cluster.raft(n4).status().removalLearned; tick++) {
      cluster.tick(n4);
      cluster.stabilize();
    }
    expect(cluster.raft(n4).status().removalLearned).toBe(true);
    // It asks nothing more, and the cluster was not disturbed.
    for (let tick = 0; tick < 50; tick++) cluster.tick(n4);
    expect(cluster.network.filter((message) => message.from === n4)).toEqual([]);
    expect(cluster.raft(n1).status()).toMatchObject({ role: "leader", term });
  });

  test("an answer from a member that applied less does not make a server think it was removed", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose(bytes("x"));
    cluster.stabilize();
    const applied = cluster.raft(n3).status().applied;
    const answer = (notMemberAt: number) =>
      cluster.raft(n3).step({ type: "voteResponse", from: n2, to: n3, term: cluster.raft(n3).status().term, pre: true, reject: true, notMemberAt: asIndex(notMemberAt) });
    // A member that has not applied what added n3 yet does not hold it either: not news.
    answer(applied - 1);
    expect(cluster.raft(n3).status().removalLearned).toBe(false);
    answer(applied);
    expect(cluster.raft(n3).status().removalLearned).toBe(true);
  });

  test("the last voter cannot be removed", () => {
    const cluster = new TestCluster([n1]);
    cluster.elect(n1);
    expect(cluster.raft(n1).proposeConfigChange({ kind: "remove", node: n1 })).toEqual({ ok: false, reason: "invalidChange" });
  });
});

describe("§7 log compaction", () => {
  test("a follower behind the compacted log is brought up with InstallSnapshot (§7)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    for (let position = 0; position < 10; position++) cluster.raft(n1).propose(bytes(`e${position}`));
    cluster.stabilize((message) => message.to !== n3 && message.from !== n3);
    const leader = cluster.node(n1);
    const applied = cluster.raft(n1).status().applied;
    leader.storage.createSnapshot(applied, cluster.raft(n1).status().membership, bytes("image"));
    leader.storage.compact(applied);
    cluster.network = [];
    // The appends to n3 were lost: the leader notices within an election timeout and probes.
    for (let tick = 0; tick < 12; tick++) {
      cluster.tick(n1);
      cluster.stabilize();
    }
    expect(cluster.node(n3).storage.snapshotMetadata().index).toBe(applied);
    expect(cluster.raft(n3).status().commit).toBe(applied);
    cluster.raft(n1).propose(bytes("after"));
    cluster.stabilize();
    expect(normal(cluster.node(n3).applied)).toEqual(["after"]);
  });

  test("a restarted server resumes from its snapshot and replays the committed entries after it (§5.5, §7)", () => {
    const cluster = new TestCluster([n1, n2, n3]);
    cluster.elect(n1);
    cluster.raft(n1).propose([bytes("a"), bytes("b")]);
    cluster.stabilize();
    const follower = cluster.node(n2);
    const applied = cluster.raft(n2).status().applied;
    follower.storage.createSnapshot(applied, cluster.raft(n2).status().membership, bytes("image"));
    follower.storage.compact(asIndex(applied - 1));
    cluster.raft(n1).propose(bytes("c"));
    cluster.stabilize();
    cluster.restart(n2);
    // The state machine restarts from the snapshot; only what came after it is applied again.
    expect(cluster.raft(n2).status()).toMatchObject({ applied: applied + 1, commit: applied + 1, term: cluster.raft(n1).status().term });
    expect(normal(cluster.node(n2).applied)).toEqual(["c"]);
  });
});
