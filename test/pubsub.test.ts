/**
 * Publish/subscribe (src/server/pubsub.ts): the replies of SUBSCRIBE and its family, PUBLISH and
 * PUBSUB, reply for reply against redis-server in RESP2 and RESP3 (one reply per command in the
 * script: one channel at a time); messages and pattern messages reaching RESP2 and RESP3
 * subscribers; a RESP2 subscriber limited to managing its subscriptions; a message waiting behind
 * a subscriber's earlier replies; and on a 3-node cluster, a message published on the leader
 * reaching subscribers on every node in the same order.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { c, type Case, diffServers, diffTests } from "./helpers/redis-diff.ts";
import { callPort, plain, RespConnection, type RespValue } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const servers = diffServers();

const script: Case[] = [
  c("PUBLISH", "ch", "nobody"), c("PUBSUB", "NUMSUB", "ch", "other"), c("PUBSUB", "NUMPAT"), c("PUBSUB", "CHANNELS"),
  c("UNSUBSCRIBE"), c("PUNSUBSCRIBE"), c("SUBSCRIBE", "ch"), c("SUBSCRIBE", "ch"), c("SUBSCRIBE", "other"), c("PSUBSCRIBE", "c*"),
  c("PING"), c("PING", "hello"), c("GET", "k"), c("PUBLISH", "x", "y"), c("PUBSUB", "NUMPAT"),
  c("UNSUBSCRIBE", "ch"), c("UNSUBSCRIBE", "never"), c("PUNSUBSCRIBE", "c*"), c("UNSUBSCRIBE", "other"),
  c("PING"), c("SUBSCRIBE"), c("PSUBSCRIBE"), c("PUBLISH", "ch"), c("PUBSUB", "NOPE"), c("PUBSUB", "NUMPAT", "x"), c("PUBSUB", "CHANNELS", "a", "b"),
  c("PUBSUB", "NUMSUB"), c("PUBLISH", "ch", "after"),
];

describe("publish/subscribe replies as redis-server's", () => {
  diffTests(servers, "pub/sub", script);
});

async function subscriber(port: number, protocol: 2 | 3, command: string, ...channels: string[]): Promise<RespConnection> {
  const connection = await RespConnection.connect(port);
  if (protocol === 3) await connection.call("HELLO", "3");
  for (const channel of channels) {
    connection.command(command, channel);
    await connection.read();
  }
  return connection;
}

function message(reply: RespValue): unknown {
  return { type: reply.type, value: plain(reply) };
}

test("messages reach RESP2 and RESP3 subscribers and pattern subscribers; a RESP2 subscriber only manages subscriptions", async () => {
  const port = servers.clonePort;
  const resp2 = await subscriber(port, 2, "SUBSCRIBE", "news");
  const resp3 = await subscriber(port, 3, "SUBSCRIBE", "news");
  const pattern = await subscriber(port, 2, "PSUBSCRIBE", "ne*");
  const publisher = await RespConnection.connect(port);
  try {
    expect(plain(await publisher.call("PUBLISH", "news", "one"))).toBe(3);
    expect(message(await resp2.read())).toEqual({ type: "array", value: ["message", "news", "one"] });
    expect(message(await resp3.read())).toEqual({ type: "push", value: ["message", "news", "one"] });
    expect(message(await pattern.read())).toEqual({ type: "array", value: ["pmessage", "ne*", "news", "one"] });
    expect(plain(await publisher.call("PUBLISH", "nothing", "x"))).toBe(0);
    const stats = String(plain(await publisher.call("INFO", "stats")));
    expect(stats).toContain("pubsub_channels:1\r\n");
    expect(stats).toContain("pubsub_patterns:1\r\n");
    // CLIENT LIST shows subscribers as Redis does: type pubsub, flag P, their counts.
    const listed = String(plain(await publisher.call("CLIENT", "LIST", "TYPE", "pubsub"))).trim().split("\n");
    expect(listed.length).toBe(3);
    expect(listed.every((line) => line.includes(" flags=P "))).toBe(true);
    expect(listed.filter((line) => line.includes(" sub=1 psub=0 ")).length).toBe(2);
    expect(listed.filter((line) => line.includes(" sub=0 psub=1 ")).length).toBe(1);
    // RESP3 subscribers may send anything; RESP2 ones only (P)(UN)SUBSCRIBE, PING, QUIT.
    expect(plain(await resp3.call("SET", "ps:k", "v"))).toBe("OK");
    expect(plain(await resp2.call("SET", "ps:k", "v"))).toEqual({
      error: "ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
    });
    // Binary channels and payloads, byte for byte.
    const bytes = Buffer.from([0, 255, 13, 10, 36, 42]);
    const binary = await RespConnection.connect(port);
    binary.command("SUBSCRIBE", bytes);
    await binary.read();
    expect(plain(await publisher.call("PUBLISH", bytes, bytes))).toBe(1);
    const got = await binary.read();
    expect(got.type === "array" && got.value?.[2]?.type === "bulk" ? got.value[2].value : null).toEqual(bytes);
    binary.close();
  } finally {
    for (const one of [resp2, resp3, pattern, publisher]) one.close();
  }
});

test("a message to a RESP3 client waits behind the replies to its earlier commands, and a closed subscriber is forgotten", async () => {
  const port = servers.clonePort;
  const client = await subscriber(port, 3, "SUBSCRIBE", "ordered");
  const publisher = await RespConnection.connect(port);
  try {
    // A write in flight (its reply waits for the log) and a PUBLISH behind it from elsewhere.
    client.command("INCR", "ps:counter");
    expect(plain(await publisher.call("PUBLISH", "ordered", "m"))).toBe(1);
    const replies = [await client.read(), await client.read()].map(message);
    expect(replies).toEqual([{ type: "integer", value: 1 }, { type: "push", value: ["message", "ordered", "m"] }]);
    client.close();
    await eventually("the closed subscriber forgotten", () => callPort(port, "PUBSUB", "NUMSUB", "ordered"), (reply) => JSON.stringify(reply) === JSON.stringify(["ordered", 0]));
    expect(plain(await publisher.call("PUBLISH", "ordered", "m2"))).toBe(0);
  } finally {
    publisher.close();
  }
});

test("PUBLISH inside MULTI, and with a WATCH open: it touches no key, so EXEC runs", async () => {
  const port = servers.clonePort;
  const listener = await subscriber(port, 2, "SUBSCRIBE", "tx");
  const client = await RespConnection.connect(port);
  try {
    for (const args of [["WATCH", "ps:watched"], ["PUBLISH", "tx", "before"], ["MULTI"], ["PUBLISH", "tx", "inside"], ["SET", "ps:watched", "1"], ["EXEC"]]) {
      client.command(...args);
    }
    expect((await client.readMany(6)).map(plain)).toEqual(["OK", 1, "OK", "QUEUED", "QUEUED", [1, "OK"]]);
    expect((await listener.readMany(2)).map((reply) => (plain(reply) as string[])[2])).toEqual(["before", "inside"]);
  } finally {
    listener.close();
    client.close();
  }
});

test("on a 3-node cluster a message published on the leader reaches subscribers on every node, in order", async () => {
  const cluster = new InProcessNodes("pubsub-cluster");
  const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning" });
  const follower = cluster.nodes.find((one) => one !== leader);
  if (follower === undefined) throw new Error("no follower");
  const subscribers = await Promise.all(cluster.nodes.map((one, i) => subscriber(one.port, i % 2 === 0 ? 2 : 3, "SUBSCRIBE", "feed")));
  const publisher = await RespConnection.connect(leader.port);
  try {
    for (let i = 0; i < 20; i++) publisher.command("PUBLISH", "feed", `m${i}`);
    const counts = (await publisher.readMany(20)).map(plain);
    // The leader counts its own subscribers.
    expect(counts.every((count) => count === 1)).toBe(true);
    for (const one of subscribers) {
      const got = (await one.readMany(20)).map((reply) => (plain(reply) as string[])[2]);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    }
    // A follower sends PUBLISH to the leader, as it does a write.
    expect(await callPort(follower.port, "PUBLISH", "feed", "x")).toEqual({ error: `MOVED 0 ${leader.address}` });
  } finally {
    for (const one of subscribers) one.close();
    publisher.close();
    for (const one of cluster.nodes) await one.close();
  }
});
