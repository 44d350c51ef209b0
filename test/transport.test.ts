/**
 * Peer links over real sockets: the handshake, batching, delivery, and every way a connection
 * that has not proven it knows the cluster secret is kept from injecting Raft traffic.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Logger } from "../src/log.ts";
import type { Replicator } from "../src/node/replicator.ts";
import { asIndex, asNodeId, asTerm, type Message } from "../src/raft/types.ts";
import { encodeCommand } from "../src/resp/reader.ts";
import type { BuiltinContext } from "../src/server/builtin.ts";
import { builtins } from "../src/server/commands/index.ts";
import { createDispatcher } from "../src/server/dispatch.ts";
import { defaultServerLimits, Server } from "../src/server/server.ts";
import { ClientApplier } from "../src/server/applier.ts";
import { decodeMessages, encodeBatch, encodeMessages, separateDataBytesMin } from "../src/transport/codec.ts";
import { nonce, openerProof, peerProtocolVersion } from "../src/transport/handshake.ts";
import type { LinkIdentity } from "../src/transport/peer-link.ts";
import { Transport } from "../src/transport/transport.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

interface PeerNode {
  readonly id: string;
  readonly server: Server;
  readonly transport: Transport;
  readonly received: Message[];
  readonly address: string;
  readonly identity: LinkIdentity;
}

const started: PeerNode[] = [];

async function eventuallyTrue(condition: () => boolean, timeoutMilliseconds = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(10);
  }
}
const logger = new Logger("quiet");

/** A server that takes peers and records what they deliver (no Raft node behind it). */
function startPeer(id: string, secret: string, cluster = "test", log: Logger = logger, clusterId = "", adopt: ((clusterId: string) => boolean) | null = null): PeerNode {
  const received: Message[] = [];
  const server = new Server({ hostname: "127.0.0.1", port: 0, limits: defaultServerLimits, logger });
  server.listen();
  const address = `127.0.0.1:${server.port}`;
  const identity: LinkIdentity = { id, address, cluster, clusterId, secret };
  const transport = new Transport(identity, log, (messages) => received.push(...messages), {
    queuedMessagesMax: 4096,
    unsentBytesMax: 64 << 20,
    frameBytesMax: 1 << 20,
    snapshotChunkBytes: 64 * 1024,
    snapshotWindowBytes: 256 * 1024,
    backoffMinMs: 10,
    backoffMaxMs: 100,
    handshakeTimeoutMs: 2000,
  }, null, adopt);
  const node: Replicator = {
    isLeader: true,
    read: () => "now",
    canReadNow: () => true,
    stopped: () => null,
    removed: false,
    appliedIndex: 0,
    watchedKeysChanged: () => false,
    beginWatch: () => ({ since: 0, release: () => {} }),
    onWrite: () => {},
    replicasHolding: () => null,
    leaderAddress: () => null,
    propose: () => {},
    writeRefusal: () => null,
    proposeNow: () => {},
    receive: () => {},
    status: () => {
      throw new Error("not used");
    },
    close: () => {},
  };
  const context: BuiltinContext = {
    server,
    node,
    transport,
    cluster: null,
    settings: { port: 0, bind: "127.0.0.1", advertise: "", dir: "", durability: "low", consistency: "low", backend: "memory", version: "7.2.0", nodeId: id, cluster: "finn", passwords: { client: "", admin: "" } },
    startedAt: Date.now(),
    startupMemory: { heapUsed: 0, rss: 0 },
    shutdown: null,
    commandSpecs: () => [],
    machineInfo: () => ({}),
  };
  server.dispatcher = createDispatcher(builtins, context, { command: () => new Error("no machine"), snapshot: () => {}, restore: () => {} }, new ClientApplier(node));
  const peer = { id, server, transport, received, address, identity };
  started.push(peer);
  return peer;
}

afterEach(() => {
  for (const peer of started.splice(0)) {
    peer.transport.close();
    peer.server.stop();
  }
});

function heartbeat(from: string, to: string, round: number): Message {
  return { type: "heartbeat", from: asNodeId(from), to: asNodeId(to), term: asTerm(3), commit: asIndex(7), round, sentIndex: asIndex(7), sentTerm: asTerm(3) };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

describe("the message codec", () => {
  test("a vote response carries the responder's applied index when the candidate is not a member, and only then", () => {
    const base = { type: "voteResponse", from: asNodeId("node-a"), to: asNodeId("node-b"), term: asTerm(3), pre: true, reject: true } as const;
    const told = { ...base, notMemberAt: asIndex(42) };
    expect(decodeMessages(encodeMessages([base, told]), 10)).toEqual([base, told]);
    const decoded = decodeMessages(encodeMessages([base]), 10);
    expect(Array.isArray(decoded) && "notMemberAt" in decoded[0]!).toBe(false);
    expect(decodeMessages(encodeMessages([{ ...base, notMemberAt: -1 } as unknown as Message]), 10)).toContain("notMemberAt");
  });
});

describe("peer links", () => {
  test("messages reach the peer in order, entries byte-exact, many per frame", async () => {
    const a = startPeer("node-a", "s3cret");
    const b = startPeer("node-b", "s3cret");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    const data = Uint8Array.from({ length: 256 }, (_, i) => i);
    const messages: Message[] = [];
    for (let i = 0; i < 500; i++) messages.push(heartbeat("node-a", "node-b", i));
    messages.push({
      type: "append",
      from: asNodeId("node-a"),
      to: asNodeId("node-b"),
      term: asTerm(3),
      prevIndex: asIndex(6),
      prevTerm: asTerm(2),
      entries: [{ term: asTerm(3), index: asIndex(7), type: "normal", data }],
      commit: asIndex(6),
    });
    a.transport.send(messages);
    await until(() => b.received.length === messages.length, "every message");
    expect(b.received.slice(0, 500).map((message) => (message.type === "heartbeat" ? message.round : -1))).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
    const append = b.received[500];
    expect(append?.type).toBe("append");
    if (append?.type === "append") expect([...(append.entries[0]?.data ?? [])]).toEqual([...data]);
  });

  test("large entries travel as arguments of their own after the batch and arrive byte-exact, in order", async () => {
    const a = startPeer("node-a", "s3cret");
    const b = startPeer("node-b", "s3cret");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    const sizes = [10, separateDataBytesMin, 3, 300_000, separateDataBytesMin - 1, 2_500_000];
    const entries = sizes.map((size, i) => ({
      term: asTerm(3),
      index: asIndex(7 + i),
      type: "normal" as const,
      data: Uint8Array.from({ length: size }, (_, k) => (k * 7 + i) & 0xff),
    }));
    const append = (first: number, last: number): Message => ({
      type: "append", from: asNodeId("node-a"), to: asNodeId("node-b"), term: asTerm(3), prevIndex: asIndex(6 + first), prevTerm: asTerm(3), entries: entries.slice(first, last), commit: asIndex(6),
    });
    // The encoding: only the large entries' data goes after the batch, in order.
    const batch = encodeBatch([append(0, 3), heartbeat("node-a", "node-b", 1), append(3, 6)]);
    expect(batch.data.map((part) => part.length)).toEqual([separateDataBytesMin, 300_000, 2_500_000]);
    // The payload holds the small entries, the one just under the threshold included.
    expect(batch.payload.length).toBeGreaterThan(separateDataBytesMin - 1);
    expect(batch.payload.length).toBeLessThan(separateDataBytesMin + 1024);
    const messages = [append(0, 3), heartbeat("node-a", "node-b", 1), append(3, 6), heartbeat("node-a", "node-b", 2)];
    a.transport.send(messages);
    await until(() => b.received.length === messages.length, "every message");
    expect(b.received.map((message) => message.type)).toEqual(["append", "heartbeat", "append", "heartbeat"]);
    const received = b.received.flatMap((message) => (message.type === "append" ? message.entries : []));
    expect(received.map((entry) => entry.index)).toEqual(entries.map((entry) => entry.index));
    for (let i = 0; i < entries.length; i++) expect(Buffer.from(received[i]!.data).equals(Buffer.from(entries[i]!.data))).toBe(true);
  });

  test("a large snapshot is streamed in chunks, heartbeats interleaved, and arrives whole", async () => {
    const a = startPeer("node-a", "s");
    const b = startPeer("node-b", "s");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    const data = Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 31) & 255);
    const snapshot: Message = {
      type: "snapshot",
      from: asNodeId("node-a"),
      to: asNodeId("node-b"),
      term: asTerm(4),
      snapshot: { metadata: { index: asIndex(90), term: asTerm(4), membership: { voters: [asNodeId("node-a")], learners: [], addresses: {} } }, data },
    };
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await until(() => b.received.length === 1, "the first heartbeat");
    a.transport.send([snapshot, heartbeat("node-a", "node-b", 2)]);
    // Heartbeats of later turns get between the windows of the snapshot.
    await Bun.sleep(0);
    a.transport.send([heartbeat("node-a", "node-b", 3)]);
    await until(() => b.received.length === 4, "the snapshot and the heartbeats");
    const arrived = b.received.find((message) => message.type === "snapshot");
    expect(arrived?.type).toBe("snapshot");
    if (arrived?.type === "snapshot") {
      expect(arrived.snapshot.metadata.index).toBe(asIndex(90));
      expect(Buffer.from(arrived.snapshot.data).equals(Buffer.from(data))).toBe(true);
    }
    // The heartbeats sent with and after the snapshot did not wait for all of it.
    const snapshotAt = b.received.findIndex((message) => message.type === "snapshot");
    for (const round of [2, 3]) {
      expect(b.received.findIndex((message) => message.type === "heartbeat" && message.round === round)).toBeLessThan(snapshotAt);
    }
  });

  test("a peer with another secret is refused, and nothing is delivered", async () => {
    const a = startPeer("node-a", "one secret");
    const b = startPeer("node-b", "another secret");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await Bun.sleep(300);
    a.transport.send([heartbeat("node-a", "node-b", 2)]);
    await Bun.sleep(300);
    expect(b.received).toEqual([]);
    expect(a.transport.linkReady("node-b")).toBe(false);
  });

  test("a peer that refuses every handshake is dialled with backoff, not once per message, and said so in a warning", async () => {
    const lines: string[] = [];
    const a = startPeer("node-a", "one secret", "test", new Logger("notice", (line) => lines.push(line)));
    const b = startPeer("node-b", "another secret");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    // Raft sends to a peer every tick; the link must not open a connection for each message.
    for (let i = 0; i < 100; i++) {
      a.transport.send([heartbeat("node-a", "node-b", i + 1)]);
      await Bun.sleep(5);
    }
    const connects = a.transport.linkStats("node-b")?.connects ?? 0;
    // 500 ms of backoff from 10 ms, doubling to 100 ms: a handful of attempts (it was one per message).
    expect(connects).toBeGreaterThan(0);
    expect(connects).toBeLessThan(20);
    const warnings = lines.filter((line) => line.includes("the peer's proof is wrong"));
    expect(warnings.length).toBe(1);
  });

  test("a peer of another cluster refuses the handshake, and its reason reaches the log whole", async () => {
    const lines: string[] = [];
    const a = startPeer("node-a", "same", "one-cluster", new Logger("notice", (line) => lines.push(line)));
    const b = startPeer("node-b", "same", "other-cluster");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await eventuallyTrue(() => lines.some((line) => line.includes("refused the handshake")));
    expect(lines.find((line) => line.includes("refused the handshake"))).toContain("other-cluster");
    expect(lines.some((line) => line.includes("unbalanced quotes"))).toBe(false);
  });

  test("a peer of another cluster id is refused whatever its name: nothing is delivered, and the log says why", async () => {
    const lines: string[] = [];
    const a = startPeer("node-a", "same", "finn", new Logger("notice", (line) => lines.push(line)), "a".repeat(40));
    const b = startPeer("node-b", "same", "finn", logger, "b".repeat(40));
    a.transport.setPeers(new Map([["node-b", b.address]]));
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await eventuallyTrue(() => lines.some((line) => line.includes("refused the handshake")));
    expect(lines.find((line) => line.includes("refused the handshake"))).toContain("belongs to another cluster (id bbbbbbbbbbbb, not aaaaaaaaaaaa)");
    a.transport.send([heartbeat("node-a", "node-b", 2)]);
    await Bun.sleep(200);
    expect(b.received).toEqual([]);
  });

  test("a node with no cluster id takes the first peer's, then refuses every other cluster's (and still takes peers with none)", async () => {
    const adopted: string[] = [];
    const fresh = startPeer("node-f", "s", "finn", logger, "", (clusterId) => {
      adopted.push(clusterId);
      return true;
    });
    const a = startPeer("node-a", "s", "finn", logger, "a".repeat(40));
    const b = startPeer("node-b", "s", "finn", logger, "b".repeat(40));
    const none = startPeer("node-n", "s", "finn", logger, "");
    for (const peer of [a, b, none]) peer.transport.setPeers(new Map([["node-f", fresh.address]]));
    a.transport.send([heartbeat("node-a", "node-f", 1)]);
    await eventuallyTrue(() => fresh.received.length === 1);
    expect(adopted).toEqual(["a".repeat(40)]);
    expect(fresh.identity.clusterId).toBe("a".repeat(40));
    b.transport.send([heartbeat("node-b", "node-f", 1)]);
    none.transport.send([heartbeat("node-n", "node-f", 1)]);
    await eventuallyTrue(() => fresh.received.some((message) => message.from === "node-n"));
    await Bun.sleep(200);
    expect(fresh.received.map((message) => String(message.from))).toEqual(["node-a", "node-n"]);
    expect(adopted).toEqual(["a".repeat(40)]);
  });

  test("a node that may not take a cluster id (it has Raft state from before cluster ids) takes none, and refuses no one", async () => {
    const legacy = startPeer("node-l", "s", "finn", logger, "", () => false);
    const a = startPeer("node-a", "s", "finn", logger, "a".repeat(40));
    a.transport.setPeers(new Map([["node-l", legacy.address]]));
    a.transport.send([heartbeat("node-a", "node-l", 1)]);
    await eventuallyTrue(() => legacy.received.length === 1);
    expect(legacy.identity.clusterId).toBe("");
  });

  test("a member that leaves the membership is forgotten, the address its handshake taught too", async () => {
    // A member replaced at its address by a new id used to be dialled for ever, through the
    // address learned from its own handshake (found by an operator probe: a warning a minute).
    const a = startPeer("node-a", "s");
    const b = startPeer("node-b", "s");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    b.transport.setPeers(new Map([["node-a", a.address]]));
    // b opens a link to a (a learns b's address from its handshake), and a one to b.
    b.transport.send([heartbeat("node-b", "node-a", 1)]);
    await eventuallyTrue(() => a.received.length > 0);
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await eventuallyTrue(() => a.transport.linkReady("node-b"));
    a.transport.setPeers(new Map());
    expect(a.transport.linkStats("node-b")).toBeNull();
    a.transport.send([heartbeat("node-a", "node-b", 2)]);
    expect(a.transport.linkStats("node-b")).toBeNull();
  });

  test("a link refuses a different node answering at the peer's address", async () => {
    const a = startPeer("node-a", "s");
    const impostor = startPeer("node-x", "s");
    a.transport.setPeers(new Map([["node-b", impostor.address]]));
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await Bun.sleep(300);
    expect(impostor.received).toEqual([]);
    expect(a.transport.linkReady("node-b")).toBe(false);
  });

  test("a link comes back after the peer restarts", async () => {
    const a = startPeer("node-a", "s");
    const b = startPeer("node-b", "s");
    a.transport.setPeers(new Map([["node-b", b.address]]));
    a.transport.send([heartbeat("node-a", "node-b", 1)]);
    await until(() => b.received.length === 1, "the first message");
    const port = b.server.port;
    b.server.stop();
    const again = startPeerOnPort("node-b", "s", port);
    for (let round = 2; again.received.length === 0; round++) {
      a.transport.send([heartbeat("node-a", "node-b", round)]);
      await Bun.sleep(20);
      if (round > 500) throw new Error("the link never came back");
    }
    expect(again.received[0]?.type).toBe("heartbeat");
  });
});

/** Like startPeer, on a given port (to restart a peer where it was). */
function startPeerOnPort(id: string, secret: string, port: number): PeerNode {
  const peer = startPeer(id, secret);
  // Rebind: stop the server on its random port and listen again where the old one was.
  peer.server.stop();
  const server = new Server({ hostname: "127.0.0.1", port, limits: defaultServerLimits, logger });
  server.dispatcher = peer.server.dispatcher;
  server.listen();
  const moved = { ...peer, server };
  started.push(moved);
  return moved;
}

/** Completes the peer handshake on a raw connection as node-a, knowing `secret`; returns the reply to RAFTAUTH. */
async function handshake(client: RespConnection, secret: string): Promise<unknown> {
  const mine = nonce();
  client.send(encodeCommand(["RAFTHELLO", peerProtocolVersion, "test", "", "node-a", mine, "127.0.0.1:1"].map((part) => Buffer.from(part))));
  const hello = plain(await client.read());
  expect(Array.isArray(hello)).toBe(true);
  const peerNonce = Array.isArray(hello) ? String(hello[1]) : "";
  const proof = openerProof({ secret, cluster: "test", clusterId: "", openerId: "node-a", openerNonce: mine, openerAddress: "127.0.0.1:1", peerId: "node-b", peerNonce });
  client.send(encodeCommand([Buffer.from("RAFTAUTH"), Buffer.from(proof)]));
  return plain(await client.read());
}

describe("injection", () => {
  function rawFrame(batch: readonly Message[]): Uint8Array {
    return encodeCommand([Buffer.from("RAFTMSG"), encodeMessages(batch)]);
  }

  test("a plain client cannot send Raft messages without the handshake", async () => {
    const b = startPeer("node-b", "s");
    const client = await RespConnection.connect(b.server.port);
    try {
      client.send(rawFrame([heartbeat("node-a", "node-b", 1)]));
      const reply = plain(await client.read());
      expect(JSON.stringify(reply)).toContain("NOAUTH");
      expect(b.received).toEqual([]);
    } finally {
      client.close();
    }
  });

  test("a client that guesses the handshake without the secret is refused and closed", async () => {
    const b = startPeer("node-b", "s");
    const client = await RespConnection.connect(b.server.port);
    try {
      expect(JSON.stringify(await handshake(client, "guess"))).toContain("authentication failed");
      await client.waitClosed();
      expect(b.received).toEqual([]);
    } finally {
      client.close();
    }
  });

  test("a snapshot stream out of order is refused and its link closed", async () => {
    const b = startPeer("node-b", "s");
    const client = await RespConnection.connect(b.server.port);
    try {
      expect(await handshake(client, "s")).toBe("OK");
      const header: Message = {
        type: "snapshot",
        from: asNodeId("node-a"),
        to: asNodeId("node-b"),
        term: asTerm(2),
        snapshot: { metadata: { index: asIndex(5), term: asTerm(2), membership: { voters: [], learners: [], addresses: {} } }, data: new Uint8Array(0) },
      };
      client.send(encodeCommand(["RAFTSNAP", "t1", "begin", "100", encodeMessages([header])].map((part) => (typeof part === "string" ? Buffer.from(part) : part))));
      client.send(encodeCommand(["RAFTSNAP", "t1", "chunk", "50", "x".repeat(10)].map((part) => Buffer.from(part))));
      expect(JSON.stringify(plain(await client.read()))).toContain("bad snapshot stream");
      await client.waitClosed();
      expect(b.received).toEqual([]);
    } finally {
      client.close();
    }
  });

  test("data after the batch that no entry takes, or that an entry takes twice or does not find, closes the link", async () => {
    const bigEntry = { term: asTerm(3), index: asIndex(7), type: "normal" as const, data: new Uint8Array(separateDataBytesMin).fill(1) };
    const append: Message = {
      type: "append", from: asNodeId("node-a"), to: asNodeId("node-b"), term: asTerm(3), prevIndex: asIndex(6), prevTerm: asTerm(3), entries: [bigEntry, { ...bigEntry, index: asIndex(8) }], commit: asIndex(6),
    };
    const { payload, data } = encodeBatch([append]);
    expect(data).toHaveLength(2);
    const frames: [string, Uint8Array][] = [
      ["an argument no entry takes", encodeCommand([Buffer.from("RAFTMSG"), payload, data[0]!, data[1]!, Buffer.from("extra")])],
      ["an argument the frame lacks", encodeCommand([Buffer.from("RAFTMSG"), payload, data[0]!])],
      ["the same argument twice", encodeCommand([Buffer.from("RAFTMSG"), encodeMessages([{ ...append, entries: [0, 0].map((k, i) => ({ ...bigEntry, index: asIndex(7 + i), data: k })) } as unknown as Message]), data[0]!])],
    ];
    for (const [what, frame] of frames) {
      const b = startPeer("node-b", "s");
      const client = await RespConnection.connect(b.server.port);
      try {
        expect(await handshake(client, "s")).toBe("OK");
        client.send(frame);
        expect({ what, reply: JSON.stringify(plain(await client.read())) }).toEqual({ what, reply: expect.stringContaining("bad Raft frame") });
        await client.waitClosed();
        expect(b.received).toHaveLength(0);
      } finally {
        client.close();
      }
    }
  });

  test("an authenticated peer cannot speak for another node, and garbage closes its link", async () => {
    const b = startPeer("node-b", "s");
    const client = await RespConnection.connect(b.server.port);
    try {
      expect(await handshake(client, "s")).toBe("OK");
      client.send(rawFrame([heartbeat("node-c", "node-b", 1), heartbeat("node-a", "node-x", 2), heartbeat("node-a", "node-b", 3)]));
      await until(() => b.received.length === 1, "the one genuine message");
      expect(b.received[0]?.type === "heartbeat" ? b.received[0].round : -1).toBe(3);
      client.send(encodeCommand([Buffer.from("RAFTMSG"), Uint8Array.of(0xc1, 0xff, 0x00)]));
      expect(JSON.stringify(plain(await client.read()))).toContain("bad Raft frame");
      await client.waitClosed();
      expect(b.received.length).toBe(1);
    } finally {
      client.close();
    }
  });
});
