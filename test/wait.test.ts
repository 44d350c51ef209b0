/**
 * WAIT numreplicas timeout on a 3-node cluster: the leader answers how many other members hold the
 * connection's writes, at once when enough do, else when the timeout passes (with a member down,
 * fewer); a WAIT pipelined behind the connection's own write counts that write; a follower
 * redirects WAIT as it does a write, or in proxy mode sends it on to the leader. (Its argument errors are compared with redis-server's in
 * clone-redis-diff.test.ts.)
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { callPort, plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const cluster = new InProcessNodes("wait");

test("WAIT counts the members that hold the connection's writes, and waits for them up to its timeout", async () => {
  const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning" });
  const followers = cluster.nodes.filter((node) => node !== leader);
  const connection = await RespConnection.connect(leader.port);
  try {
    expect(plain(await connection.call("SET", "k", "v1"))).toBe("OK");
    // Both followers acknowledge the write soon after it commits (one of them did before the reply).
    expect(plain(await connection.call("WAIT", "2", "10000"))).toBe(2);
    expect(plain(await connection.call("WAIT", "0", "0"))).toBeGreaterThanOrEqual(1);
    // Pipelined behind the connection's own write: the write is counted, and replies keep order.
    connection.command("SET", "k", "v2");
    connection.command("WAIT", "2", "10000");
    connection.command("GET", "k");
    expect((await connection.readMany(3)).map(plain)).toEqual(["OK", 2, "v2"]);

    // A follower redirects WAIT, as it does a write.
    const follower = followers[0];
    if (follower === undefined) throw new Error("no follower");
    expect(await callPort(follower.port, "WAIT", "1", "0")).toEqual({ error: `MOVED 0 ${leader.address}` });

    // With one follower down, a write reaches the other only: WAIT 2 answers 1 once its timeout
    // passes, and WAIT 1 at once.
    await follower.close();
    expect(plain(await connection.call("SET", "k", "v3"))).toBe("OK");
    const started = performance.now();
    expect(plain(await connection.call("WAIT", "2", "300"))).toBe(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(plain(await connection.call("WAIT", "1", "0"))).toBe(1);
    // A client that sends more behind a WAIT that waits gets its replies in order.
    connection.command("WAIT", "2", "200");
    connection.command("PING");
    expect((await connection.readMany(2)).map(plain)).toEqual([1, "PONG"]);
  } finally {
    connection.close();
  }
});

test("a single node has no one to wait for: WAIT answers 0, after its timeout when it asks for more", async () => {
  const node = await cluster.open(new Clone(), { logLevel: "warning" });
  await eventually("a leader", () => callPort(node.port, "RAFTSTATE"), (state) => state === "Leader");
  expect(await callPort(node.port, "SET", "k", "v")).toBe("OK");
  expect(await callPort(node.port, "WAIT", "0", "0")).toBe(0);
  expect(await callPort(node.port, "WAIT", "1", "50")).toBe(0);
  // Many waiting at once (one timer looks at them all): each answers after its timeout, in order.
  const connection = await RespConnection.connect(node.port);
  try {
    for (let i = 0; i < 500; i++) connection.command("WAIT", "1", String(10 + (i % 7)));
    connection.command("PING");
    const replies = (await connection.readMany(501)).map(plain);
    expect(replies.slice(0, 500).every((reply) => reply === 0)).toBe(true);
    expect(replies[500]).toBe("PONG");
  } finally {
    connection.close();
  }
});

test("proxy mode: a follower sends WAIT to the leader after the client's forwarded writes, and holds no other client behind it", async () => {
  const proxied = new InProcessNodes("wait-proxy");
  const leader = await proxied.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", redirect: "proxy" });
  const [follower, other] = proxied.nodes.filter((node) => node !== leader);
  if (follower === undefined || other === undefined) throw new Error("no followers");
  const connection = await RespConnection.connect(follower.port);
  const bystander = await RespConnection.connect(follower.port);
  try {
    // Pipelined: the SET is forwarded, the WAIT follows once it is answered and counts it, the
    // GET is answered after the WAIT.
    connection.command("SET", "w:k", "v1");
    connection.command("WAIT", "2", "10000");
    connection.command("GET", "w:k");
    expect((await connection.readMany(3)).map(plain)).toEqual(["OK", 2, "v1"]);

    // With the other follower down, WAIT 2 (no timeout) waits at the leader; the follower's
    // other clients are served meanwhile, and the WAIT answers once the member is back.
    await other.close();
    expect(plain(await connection.call("SET", "w:k", "v2"))).toBe("OK");
    connection.command("WAIT", "2", "0");
    connection.command("PING");
    expect(plain(await bystander.call("SET", "w:other", "x"))).toBe("OK");
    expect(plain(await bystander.call("GET", "w:other"))).toBe("x");
    await expect(connection.read(200)).rejects.toThrow();
    await proxied.restart(other, new Clone(), { logLevel: "warning", redirect: "proxy" });
    expect((await connection.readMany(2, 30_000)).map(plain)).toEqual([2, "PONG"]);
  } finally {
    connection.close();
    bystander.close();
    for (const node of proxied.nodes) await node.close();
  }
});
