/**
 * Network partitions: the partition proxy itself (against fake nodes), and the proof that the
 * fault harness's register checker sees a stale read when a partition produces one.
 *
 * The stale-read test drives one explicit sequence, not the random nemesis: write `old` through
 * the leader, keep reading the register at that leader, isolate it from the other two nodes
 * (clients still reach every node), wait for a new leader among the other two, write a new value
 * there until it is acknowledged, and keep reading at the old, isolated leader. At
 * `-consistency low` every node answers reads from its own state, so the isolated node must go on
 * answering `old` after the new value was acknowledged, and `checkRegisterHistory` must reject
 * the history. At `medium` (lease) and `high` (ReadIndex) the same sequence must not produce a
 * stale read: the isolated node refuses, redirects or times out once its lease is over, and any
 * read it answered must fit a linearization (the checker decides).
 *
 * Slow links: a large entry goes to each follower in one frame, and the messages behind it
 * (heartbeats, and the followers' answers to them) wait until it has crossed. With nothing but
 * whole messages to go by, both followers timed out at once and granted each other their
 * pre-votes, and the leader, hearing no answers, stepped down (check-quorum), although it was
 * sending to them all along. The proxies limit the peer links' bandwidth so that one frame takes
 * longer than several election timeouts; clients reach the nodes directly.
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createServer, type Server, Socket } from "node:net";
import { eventually } from "../helpers/eventually.ts";
import { encodeCommand, plain, RespConnection, type RespValue } from "../helpers/resp-client.ts";
import { checkRegisterHistory } from "../sim/linearizability.ts";
import { classifyError, destroyAllClusters, errorText, FaultCluster, probe, probeTimeoutMilliseconds, replyText, sleep } from "./cluster.ts";
import { isolateLinks, PartitionNetwork } from "./partition-proxy.ts";
import { type HistoryEntry, registerOperations, registerWorkload } from "./workloads.ts";

setDefaultTimeout(120_000);

afterAll(async () => {
  await destroyAllClusters();
});

/** The real cluster of the test running, destroyed after it. */
let cluster: FaultCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

// ---------------------------------------------------------------------------------------------
// The proxy against fake nodes: servers that echo every byte and count what they received.

class FakeNode {
  received = 0;
  connections = 0;
  readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(): Promise<FakeNode> {
    return new Promise((resolveNode, reject) => {
      let node: FakeNode | undefined;
      const server = createServer((socket) => {
        if (node === undefined) {
          socket.destroy();
          return;
        }
        const self = node;
        self.connections++;
        self.sockets.add(socket);
        socket.on("data", (chunk: Buffer) => {
          self.received += chunk.length;
          socket.write(chunk);
        });
        socket.on("error", () => socket.destroy());
        socket.on("close", () => self.sockets.delete(socket));
      });
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (address === null || typeof address === "string") {
          reject(new Error("no port"));
          return;
        }
        node = new FakeNode(server, address.port);
        resolveNode(node);
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolveClose) => this.server.close(() => resolveClose()));
  }
}

/** A raw client socket that keeps what it received and whether it closed. */
class RawClient {
  received = Buffer.alloc(0);
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolveClient, reject) => {
      const socket = new Socket();
      socket.once("error", reject);
      socket.connect(port, "127.0.0.1", () => {
        socket.off("error", reject);
        resolveClient(new RawClient(socket));
      });
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }
}

const hello = (openerAddress: string): Buffer => encodeCommand(["RAFTHELLO", "2", "finn", "", "id-of-the-opener", "nonce", openerAddress]);

describe("the partition proxy", () => {
  let network: PartitionNetwork | null = null;
  const fakes: FakeNode[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy();
    await network?.close();
    network = null;
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  test("lets clients through, black-holes a cut peer link both ways without a reset, heals by resetting", async () => {
    network = await PartitionNetwork.start(2);
    const net = network;
    for (let i = 0; i < 2; i++) {
      const fake = await FakeNode.start();
      fakes.push(fake);
      net.setTarget(i, fake.port);
    }
    const node1 = fakes[1] as FakeNode;
    const into1 = net.proxy(1);
    const from0 = net.proxy(0).address;

    // A peer link from node 0 into node 1 forwards while nothing is cut.
    const link = await RawClient.connect(into1.port);
    clients.push(link);
    const helloBytes = hello(from0);
    link.write(helloBytes);
    await eventually("the hello echoed", () => link.received.length, (length) => length === helloBytes.length);
    expect(into1.stats.peerConnections).toBe(1);
    // The reverse direction (node 1 into node 0) and a client, for later.
    const reverse = await RawClient.connect(net.proxy(0).port);
    clients.push(reverse);
    reverse.write(hello(into1.address));
    await eventually("the reverse hello echoed", () => reverse.received.length, (length) => length > 0);

    // Cut 0 -> 1 only (one way).
    net.cut([[0, 1]]);
    expect(into1.openConnections().blackholed).toBe(1);
    const receivedBefore = node1.received;
    const echoedBefore = link.received.length;
    link.write("*1\r\n$4\r\nPING\r\n");
    await eventually("the proxy to drop the bytes", () => into1.stats.droppedBytes, (dropped) => dropped >= 14);
    expect(node1.received).toBe(receivedBefore); // never reached the node
    expect(link.received.length).toBe(echoedBefore); // and nothing came back
    expect(link.closed).toBe(false); // no reset: the sender just hears nothing
    // Bytes from the node on that connection are dropped too.
    const droppedBefore = into1.stats.droppedBytes;
    for (const socket of node1.sockets) socket.write("+FROM-THE-NODE\r\n");
    await eventually("the proxy to drop the node's bytes", () => into1.stats.droppedBytes, (dropped) => dropped > droppedBefore);
    expect(link.received.length).toBe(echoedBefore);

    // A new connection from node 0 is accepted and black-holed as soon as its hello is read.
    const connectionsBefore = node1.connections;
    const late = await RawClient.connect(into1.port);
    clients.push(late);
    late.write(hello(from0));
    await eventually("the late link to be black-holed", () => into1.openConnections().blackholed, (count) => count === 2);
    expect(node1.connections).toBe(connectionsBefore); // no upstream connection was even opened
    expect(late.closed).toBe(false);

    // Clients pass during the cut, and the direction that is not cut still forwards.
    const client = await RawClient.connect(into1.port);
    clients.push(client);
    client.write("*1\r\n$4\r\nPING\r\n");
    await eventually("the client's bytes echoed", () => client.received.toString(), (text) => text === "*1\r\n$4\r\nPING\r\n");
    const reverseBefore = reverse.received.length;
    reverse.write("*1\r\n$4\r\nPING\r\n");
    await eventually("the uncut direction echoed", () => reverse.received.length, (length) => length === reverseBefore + 14);

    // Healing resets the black-holed connections (their streams lost bytes) and nothing else.
    expect(net.heal()).toBe(2);
    await eventually("the black-holed links closed", () => link.closed && late.closed, (closed) => closed);
    expect(client.closed).toBe(false);
    expect(reverse.closed).toBe(false);
    const again = await RawClient.connect(into1.port);
    clients.push(again);
    again.write(helloBytes);
    await eventually("a new link forwarded after the heal", () => again.received.length, (length) => length === helloBytes.length);
  });

  test("a hello from an unknown address, an inline command and a split first command are handled", async () => {
    network = await PartitionNetwork.start(2);
    const net = network;
    const fake = await FakeNode.start();
    fakes.push(fake);
    net.setTarget(0, fake.port);
    net.setTarget(1, fake.port);
    net.cut([[1, 0]]);
    // An unknown opener is a client: it passes.
    const stranger = await RawClient.connect(net.proxy(0).port);
    clients.push(stranger);
    const strangerHello = hello("10.1.2.3:7000");
    stranger.write(strangerHello);
    await eventually("the stranger passed", () => stranger.received.length, (length) => length === strangerHello.length);
    // An inline command is a client's.
    const inline = await RawClient.connect(net.proxy(0).port);
    clients.push(inline);
    inline.write("PING\r\n");
    await eventually("the inline command passed", () => inline.received.toString(), (text) => text === "PING\r\n");
    // A hello from node 1 split over two writes is still recognised (and is cut).
    const split = await RawClient.connect(net.proxy(0).port);
    clients.push(split);
    const splitHello = hello(net.proxy(1).address);
    split.write(splitHello.subarray(0, 20));
    await sleep(50);
    split.write(splitHello.subarray(20));
    await eventually("the split hello black-holed", () => net.proxy(0).openConnections().blackholed, (count) => count === 1);
    expect(split.received.length).toBe(0);
    expect(net.proxy(0).stats.peerConnections).toBe(1);
    expect(net.proxy(0).stats.clientConnections).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// An isolated old leader, a new leader, a new value: stale reads at low, none at medium or high.

const key = "register:0";
/** How long one operation of the sequence may wait for its reply (then it is recorded as unknown). */
const operationTimeoutMs = 3_000;
/** Reads the reader sends to the old leader after the new value was acknowledged. */
const readsAfterAckWanted = 6;

/** One client of the sequence: a connection to one node, every operation recorded. */
class SequenceClient {
  private connection: RespConnection | null = null;
  private connectedTo = -1;

  constructor(
    readonly client: number,
    private readonly cluster: FaultCluster,
    private readonly history: HistoryEntry[],
  ) {}

  /** Sends one command to node `index` and records it; never throws for the command's outcome. */
  async run(index: number, kind: "read" | "write", command: string[], value: string | null): Promise<HistoryEntry> {
    const node = this.cluster.nodes[index];
    if (node === undefined) throw new Error(`no node ${index}`);
    if (this.connection === null || this.connection.closed || this.connectedTo !== index) {
      this.connection?.close(true);
      this.connection = await RespConnection.connect(node.port, node.host, { timeoutMilliseconds: operationTimeoutMs });
      this.connectedTo = index;
    }
    const entry: HistoryEntry = {
      index: this.history.length,
      client: this.client,
      workload: "register",
      node: node.name,
      command,
      key,
      kind,
      value,
      reply: "",
      integer: null,
      invoke: performance.now(),
      complete: null,
      outcome: "unknown",
    };
    this.history.push(entry);
    this.connection.command(...command);
    let reply: RespValue;
    try {
      reply = await this.connection.read(operationTimeoutMs);
    } catch (error) {
      entry.reply = `no reply: ${error instanceof Error ? error.message : String(error)}`;
      this.connection.close(true);
      this.connection = null;
      return entry;
    }
    entry.complete = performance.now();
    entry.reply = replyText(reply);
    const error = errorText(reply);
    if (error !== null) {
      entry.outcome = classifyError(error);
      return entry;
    }
    entry.outcome = "ok";
    if (kind === "read") {
      const converted = plain(reply);
      entry.value = converted === null ? null : String(converted);
    }
    return entry;
  }

  close(): void {
    this.connection?.close(true);
    this.connection = null;
  }
}

interface SequenceResult {
  history: HistoryEntry[];
  oldLeader: string;
  newLeader: string;
  newValue: string;
  ackedAt: number;
  /** The reader's reads at the old leader begun after the new value was acknowledged. */
  readsAfterAck: HistoryEntry[];
  /** The reader's ok reads of `old` at the old leader before the cut. */
  oldReadsBeforeCut: number;
  droppedBytes: number;
}

/** The node among `candidates` that says it leads, or null. */
async function leaderAmong(cluster: FaultCluster, candidates: readonly number[]): Promise<number | null> {
  for (const index of candidates) {
    const node = cluster.nodes[index];
    if (node === undefined) continue;
    try {
      if (plain(await probe(node.port, 1_000, "RAFTSTATE")) === "Leader") return index;
    } catch {
      // not answering: not a leader we can use
    }
  }
  return null;
}

async function isolatedLeaderSequence(cluster: FaultCluster): Promise<SequenceResult> {
  const history: HistoryEntry[] = [];
  const writer = new SequenceClient(0, cluster, history);
  const reader = new SequenceClient(1, cluster, history);
  const oldIndex = await cluster.waitLeader(20_000);
  const oldLeader = cluster.nodes[oldIndex]?.name ?? "?";
  const others = cluster.nodes.map((_, index) => index).filter((index) => index !== oldIndex);

  const first = await writer.run(oldIndex, "write", ["SET", key, "old"], "old");
  if (first.outcome !== "ok") throw new Error(`SET old at the leader ${oldLeader} was not acknowledged: ${first.reply}`);

  // The reader keeps reading at the old leader, whatever it answers, until told to stop.
  let stop = false;
  let ackedAt = Infinity;
  let oldReadsBeforeCut = 0;
  let cutAt = Infinity;
  const readsAfterAck: HistoryEntry[] = [];
  const readerLoop = (async () => {
    while (!stop) {
      const entry = await reader.run(oldIndex, "read", ["GET", key], null);
      if (entry.invoke > ackedAt) readsAfterAck.push(entry);
      if (entry.complete !== null && entry.complete < cutAt && entry.outcome === "ok" && entry.value === "old") oldReadsBeforeCut++;
      await sleep(20);
    }
  })();
  try {
    await eventually("a read of old at the leader before the cut", () => oldReadsBeforeCut, (count) => count > 0, 20_000);

    // Isolate the old leader from the other two (both directions); clients still reach it.
    const before = cluster.network?.totals().droppedBytes ?? 0;
    cutAt = performance.now();
    cluster.cut(isolateLinks(oldIndex, cluster.nodes.length));

    // A new leader among the other two, and a new value written there until acknowledged.
    let newValue = "";
    let newLeader = "";
    let attempt = 0;
    const writeDeadline = performance.now() + 30_000;
    while (newValue === "" && performance.now() < writeDeadline) {
      const next = await leaderAmong(cluster, others);
      if (next === null) {
        await sleep(50);
        continue;
      }
      const value = `new-${attempt++}`;
      const entry = await writer.run(next, "write", ["SET", key, value], value);
      if (entry.outcome === "ok") {
        newValue = value;
        newLeader = cluster.nodes[next]?.name ?? "?";
        ackedAt = entry.complete ?? Infinity;
      } else {
        await sleep(50);
      }
    }
    if (newValue === "") throw new Error("no new value was acknowledged by a new leader within 30 s");

    // Keep reading at the old leader a while after the acknowledgement.
    await eventually("reads at the old leader after the new value", () => readsAfterAck.length, (count) => count >= readsAfterAckWanted, 60_000);
    stop = true;
    await readerLoop;
    const droppedBytes = (cluster.network?.totals().droppedBytes ?? 0) - before;
    return { history, oldLeader, newLeader, newValue, ackedAt, readsAfterAck, oldReadsBeforeCut, droppedBytes };
  } finally {
    stop = true;
    await readerLoop.catch(() => {});
    writer.close();
    reader.close();
  }
}

function describeReads(entries: readonly HistoryEntry[]): string {
  return entries.map((entry) => `${entry.reply}${entry.outcome === "ok" ? "" : ` (${entry.outcome})`}`).join(", ");
}

describe("an isolated old leader", () => {
  test("at low consistency answers stale reads, and the register checker rejects the history", async () => {
    cluster = await FaultCluster.start(3, ["-consistency", "low", "-durability", "high"], { partitions: true });
    const result = await isolatedLeaderSequence(cluster);
    const stale = result.readsAfterAck.filter((entry) => entry.outcome === "ok" && entry.value === "old");
    console.log(
      `low: old leader ${result.oldLeader}, new leader ${result.newLeader} acknowledged ${result.newValue}; ` +
        `${result.droppedBytes} bytes dropped; reads at the old leader after the ack: ${describeReads(result.readsAfterAck)}`,
    );
    // Every read the isolated node answered after the acknowledgement is the old value: at low
    // consistency it answers from its own state, which cannot have the new value.
    expect(stale.length).toBeGreaterThan(0);
    expect(result.readsAfterAck.filter((entry) => entry.outcome === "ok" && entry.value !== "old")).toEqual([]);

    const verdict = checkRegisterHistory(registerOperations(result.history), { timeoutMs: 30_000 });
    console.log(`checker: ${verdict.ok ? "linearizable" : "NOT linearizable"}\n${verdict.explanation ?? ""}`);
    expect(verdict.ok).toBe(false);
    expect(verdict.key).toBe(key);
    // The harness's register check (the same checker, through the workload) reports it too.
    const report = registerWorkload().check(result.history, new Map());
    expect(report.violations.length).toBe(1);

    // After the heal the old leader catches up (low reads at any node: it answers its own state).
    cluster.healPartitions();
    const oldIndex = cluster.nodes.findIndex((node) => node.name === result.oldLeader);
    await eventually(
      "the old leader to catch up after the heal",
      async () => plain(await probe(cluster?.nodes[oldIndex]?.port ?? 0, 1_000, "GET", key)),
      (value) => value === result.newValue,
      30_000,
      100,
    );
  });

  for (const consistency of ["medium", "high"] as const) {
    test(`at ${consistency} consistency answers no stale read`, async () => {
      cluster = await FaultCluster.start(3, ["-consistency", consistency, "-durability", "high"], { partitions: true });
      const result = await isolatedLeaderSequence(cluster);
      const stale = result.readsAfterAck.filter((entry) => entry.outcome === "ok" && entry.value === "old");
      console.log(
        `${consistency}: old leader ${result.oldLeader}, new leader ${result.newLeader} acknowledged ${result.newValue}; ` +
          `${result.droppedBytes} bytes dropped; reads at the old leader after the ack: ${describeReads(result.readsAfterAck)}`,
      );
      expect(result.readsAfterAck.length).toBeGreaterThanOrEqual(readsAfterAckWanted);
      expect(stale).toEqual([]);
      const verdict = checkRegisterHistory(registerOperations(result.history), { timeoutMs: 30_000 });
      if (!verdict.ok) console.log(`checker: NOT linearizable\n${verdict.explanation ?? ""}`);
      expect(verdict.ok).toBe(true);
      expect(verdict.timedOut).toBeUndefined();
    });
  }
});

describe("a link slower than a large entry needs", () => {
  const megabyte = 1024 * 1024;
  const stat = async (port: number, name: string): Promise<number> => {
    const stats = plain(await probe(port, probeTimeoutMilliseconds, "RAFTSTATS")) as string[];
    return Number(stats[stats.indexOf(name) + 1]);
  };

  test("24 MB SETs over peer links of 12 MB/s (2 s a frame, four default election timeouts): committed, no change of leader or term", async () => {
    const started = await FaultCluster.start(3, ["-consistency", "high", "-durability", "high"], { partitions: true });
    cluster = started;
    const leader = started.nodes[await started.waitLeader(10_000)]!;
    const term = await stat(leader.port, "term");
    started.network!.limitPeerBandwidth(12 * megabyte);
    const writer = await RespConnection.connect(leader.port);
    try {
      for (let round = 0; round < 2; round++) {
        const began = performance.now();
        const reply = plain(await writer.call("SET", `slow:${round}`, Buffer.alloc(24 * megabyte, 97 + round)));
        const elapsed = performance.now() - began;
        expect({ round, reply }).toEqual({ round, reply: "OK" });
        // The link was as slow as the test needs: the frame took longer than election timeouts.
        expect(elapsed).toBeGreaterThan(1500);
      }
    } finally {
      writer.close();
    }
    const target = await stat(leader.port, "applied_index");
    for (const node of started.nodes) {
      await eventually(`${node.name} to apply the large writes`, () => stat(node.port, "applied_index"), (index) => index >= target);
      expect({ node: node.name, term: await stat(node.port, "term") }).toEqual({ node: node.name, term });
    }
    // Each entry crossed each link once (sent again as lost, they had crossed 203 MB, not 96 MB).
    // Counted once every node holds them: a write commits with one follower's copy, and a CI run
    // counted the other's last 12 KB still on their way.
    const crossed = started.network!.totals().peerBytesIn;
    expect(crossed).toBeGreaterThan(2 * 48 * megabyte);
    expect(crossed).toBeLessThan(2 * 48 * megabyte * 1.25);
    expect(plain(await probe(leader.port, probeTimeoutMilliseconds, "RAFTSTATE"))).toBe("Leader");
    expect(plain(await probe(leader.port, probeTimeoutMilliseconds, "STRLEN", "slow:1"))).toBe(24 * megabyte);
  });
});
