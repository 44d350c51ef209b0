/**
 * Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP): a
 * client waits on the leader until a write to one of its keys lets its command do something, then
 * the command goes through the log again and takes what is there (src/server/blocking.ts). The
 * tests check the replies, the order clients are served in (right behind the write that feeds them,
 * before any command sent after it, as in Redis), that a blocked client's next commands
 * wait behind it, timeouts, MULTI, clients that leave, and that nothing is popped twice or lost
 * when many clients wait and time out while writes arrive; on a 3-node cluster, that the replicas
 * agree and that a leadership change answers the waiting clients with a redirect.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { connect, next, repliesWithin, singleNode } from "./helpers/blocked-clients.ts";
import { eventually } from "./helpers/eventually.ts";
import { awaitSameDigest, InProcessNodes } from "./helpers/in-process-nodes.ts";
import { callPort, plain, type RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const node = singleNode("blocking");

test("BLPOP waits for a push, takes one element, and leaves the rest; at its timeout it answers null", async () => {
  const { port } = await node();
  const [waiting, pusher] = await Promise.all([connect(port), connect(port)]);
  try {
    waiting.command("BLPOP", "bl:empty", "bl:q", "0");
    expect(await repliesWithin(waiting, 200)).toBe(false);
    expect(plain(await pusher.call("RPUSH", "bl:q", "a", "b", "c"))).toBe(3);
    expect(await next(waiting)).toEqual(["bl:q", "a"]);
    expect(plain(await pusher.call("LRANGE", "bl:q", "0", "-1"))).toEqual(["b", "c"]);
    // Something there: answered at once, from the first key that holds a list.
    expect(plain(await waiting.call("BRPOP", "bl:empty", "bl:q", "0"))).toEqual(["bl:q", "c"]);
    // A timeout: a null array (RESP2 *-1), after at least the time asked for.
    const started = performance.now();
    waiting.send("*3\r\n$5\r\nBLPOP\r\n$8\r\nbl:empty\r\n$4\r\n0.15\r\n");
    const reply = await waiting.read(5_000);
    expect(reply).toEqual({ type: "array", value: null });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  } finally {
    waiting.close();
    pusher.close();
  }
});

test("clients blocked on one key are served first come, first served, one element each", async () => {
  const { port } = await node();
  const clients = await Promise.all([connect(port), connect(port), connect(port), connect(port)]);
  const [first, second, third, pusher] = clients as [RespConnection, RespConnection, RespConnection, RespConnection];
  try {
    for (const client of [first, second, third]) {
      client.command("BLPOP", "fifo", "0");
      // Each is blocked before the next asks.
      expect(await repliesWithin(client, 100)).toBe(false);
    }
    expect(plain(await pusher.call("RPUSH", "fifo", "1", "2"))).toBe(2);
    expect(await next(first)).toEqual(["fifo", "1"]);
    expect(await next(second)).toEqual(["fifo", "2"]);
    expect(await repliesWithin(third, 200)).toBe(false);
    expect(String(plain(await pusher.call("INFO", "clients")))).toContain("blocked_clients:1\r\n");
    expect(plain(await pusher.call("LPUSH", "fifo", "3"))).toBe(1);
    expect(await next(third)).toEqual(["fifo", "3"]);
    expect(plain(await pusher.call("EXISTS", "fifo"))).toBe(0);
  } finally {
    for (const client of clients) client.close();
  }
});

test("a waiting client is served right behind the write that feeds it: nothing sent after that write takes its element first (as Redis)", async () => {
  const { port } = await node();
  const clients = await Promise.all([connect(port), connect(port), connect(port), connect(port)]);
  const [waiting, first, second, writer] = clients as [RespConnection, RespConnection, RespConnection, RespConnection];
  try {
    // A push and a plain LPOP pipelined after it: the LPOP finds nothing, the waiting BLPOP gets it.
    waiting.command("BLPOP", "fair:q", "0");
    expect(await repliesWithin(waiting, 100)).toBe(false);
    writer.command("LPUSH", "fair:q", "x");
    writer.command("LPOP", "fair:q");
    expect((await writer.readMany(2)).map(plain)).toEqual([1, null]);
    expect(await next(waiting)).toEqual(["fair:q", "x"]);

    // Two pushes for two waiting clients, in their order, before the LPOP behind them.
    for (const client of [first, second]) {
      client.command("BLPOP", "fair:q2", "0");
      expect(await repliesWithin(client, 100)).toBe(false);
    }
    writer.command("RPUSH", "fair:q2", "a");
    writer.command("RPUSH", "fair:q2", "b");
    writer.command("LPOP", "fair:q2");
    expect((await writer.readMany(3)).map(plain)).toEqual([1, 1, null]);
    expect(await next(first)).toEqual(["fair:q2", "a"]);
    expect(await next(second)).toEqual(["fair:q2", "b"]);

    // Inside a transaction the waiting client is served after EXEC, as in Redis: the
    // transaction's own LPOP takes the element, and the client goes on waiting.
    waiting.command("BLPOP", "fair:q3", "0");
    expect(await repliesWithin(waiting, 100)).toBe(false);
    for (const command of [["MULTI"], ["RPUSH", "fair:q3", "a"], ["LPOP", "fair:q3"], ["EXEC"]]) writer.command(...command);
    expect((await writer.readMany(4)).map(plain)).toEqual(["OK", "QUEUED", "QUEUED", [1, "a"]]);
    expect(await repliesWithin(waiting, 200)).toBe(false);
    expect(plain(await writer.call("RPUSH", "fair:q3", "b"))).toBe(1);
    expect(await next(waiting)).toEqual(["fair:q3", "b"]);
  } finally {
    for (const client of clients) client.close();
  }
});

test("a blocked client's next commands wait behind it, and its replies keep their order", async () => {
  const { port } = await node();
  const [client, pusher] = await Promise.all([connect(port), connect(port)]);
  try {
    client.command("BLPOP", "order", "0");
    client.command("RPUSH", "order", "mine");
    client.command("PING");
    // The RPUSH behind the BLPOP is not read yet (as in Redis): it cannot serve its own BLPOP.
    expect(await repliesWithin(client, 200)).toBe(false);
    expect(plain(await pusher.call("LLEN", "order"))).toBe(0);
    expect(plain(await pusher.call("RPUSH", "order", "theirs"))).toBe(1);
    expect(await next(client)).toEqual(["order", "theirs"]);
    expect(await next(client)).toBe(1);
    expect(await next(client)).toBe("PONG");
  } finally {
    client.close();
    pusher.close();
  }
});

test("inside MULTI a blocking command does not wait: it answers null at once", async () => {
  const { port } = await node();
  const client = await connect(port);
  try {
    client.command("MULTI");
    client.command("BLPOP", "tx:empty", "0");
    client.command("BRPOPLPUSH", "tx:empty", "tx:dst", "0");
    client.command("BZPOPMIN", "tx:empty", "0");
    client.command("EXEC");
    const replies = (await client.readMany(5)).map(plain);
    expect(replies.slice(0, 4)).toEqual(["OK", "QUEUED", "QUEUED", "QUEUED"]);
    expect(replies[4]).toEqual([null, null, null]);
  } finally {
    client.close();
  }
});

test("BLMOVE moves what arrives, and wakes a client blocked on its destination", async () => {
  const { port } = await node();
  const clients = await Promise.all([connect(port), connect(port), connect(port)]);
  const [mover, taker, pusher] = clients as [RespConnection, RespConnection, RespConnection];
  try {
    mover.command("BLMOVE", "mv:src", "mv:dst", "LEFT", "RIGHT", "0");
    taker.command("BLPOP", "mv:dst", "0");
    expect(await repliesWithin(mover, 100)).toBe(false);
    expect(await repliesWithin(taker, 100)).toBe(false);
    expect(plain(await pusher.call("RPUSH", "mv:src", "x"))).toBe(1);
    expect(await next(mover)).toBe("x");
    expect(await next(taker)).toEqual(["mv:dst", "x"]);
    // BRPOPLPUSH times out with a null bulk.
    expect(plain(await mover.call("BRPOPLPUSH", "mv:src", "mv:dst", "0.05"))).toBe(null);
  } finally {
    for (const client of clients) client.close();
  }
});

test("BZPOPMIN, BZPOPMAX and BZMPOP wait for ZADD; BLMPOP for a push; replies as Redis's", async () => {
  const { port } = await node();
  const clients = await Promise.all([connect(port), connect(port), connect(port), connect(port)]);
  const [min, max, multi, pusher] = clients as [RespConnection, RespConnection, RespConnection, RespConnection];
  try {
    min.command("BZPOPMIN", "z:none", "z:a", "0");
    expect(await repliesWithin(min, 100)).toBe(false);
    expect(plain(await pusher.call("ZADD", "z:a", "1", "one", "2", "two", "3", "three"))).toBe(3);
    expect(await next(min)).toEqual(["z:a", "one", "1"]);
    expect(plain(await max.call("BZPOPMAX", "z:a", "0"))).toEqual(["z:a", "three", "3"]);
    multi.command("BZMPOP", "0", "2", "z:b", "z:c", "MIN", "COUNT", "5");
    expect(await repliesWithin(multi, 100)).toBe(false);
    expect(plain(await pusher.call("ZADD", "z:c", "5", "e", "4", "d"))).toBe(2);
    expect(await next(multi)).toEqual(["z:c", [["d", "4"], ["e", "5"]]]);
    expect(plain(await pusher.call("ZMPOP", "1", "z:a", "MAX"))).toEqual(["z:a", [["two", "2"]]]);
    multi.command("BLMPOP", "0", "2", "l:a", "l:b", "RIGHT", "COUNT", "2");
    expect(await repliesWithin(multi, 100)).toBe(false);
    expect(plain(await pusher.call("RPUSH", "l:b", "1", "2", "3"))).toBe(3);
    expect(await next(multi)).toEqual(["l:b", ["3", "2"]]);
  } finally {
    for (const client of clients) client.close();
  }
});

test("bad arguments and a key of another type are answered at once, as Redis does", async () => {
  const { port } = await node();
  expect(await callPort(port, "BLPOP", "k", "-1")).toEqual({ error: "ERR timeout is negative" });
  expect(await callPort(port, "BLPOP", "k", "soon")).toEqual({ error: "ERR timeout is not a float or out of range" });
  // As Redis 7.0: an infinite timeout converts to a negative count of milliseconds.
  expect(await callPort(port, "BLPOP", "k", "inf")).toEqual({ error: "ERR timeout is negative" });
  expect(await callPort(port, "BLPOP", "k")).toEqual({ error: "ERR wrong number of arguments for 'blpop' command" });
  expect(await callPort(port, "BLMPOP", "0", "0", "k", "LEFT")).toEqual({ error: "ERR numkeys should be greater than 0" });
  expect(await callPort(port, "BZMPOP", "0", "1", "k", "MIDDLE")).toEqual({ error: "ERR syntax error" });
  expect(await callPort(port, "SET", "str", "x")).toBe("OK");
  expect(await callPort(port, "BLPOP", "str", "0")).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
  expect(await callPort(port, "BZPOPMIN", "str", "0")).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
});

test("CLIENT UNBLOCK answers a blocked client as timed out, or with an error; 0 for a client not blocked", async () => {
  const { port } = await node();
  const [waiting, admin] = await Promise.all([connect(port), connect(port)]);
  try {
    const id = String(plain(await waiting.call("CLIENT", "ID")));
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id))).toBe(0);
    waiting.command("BRPOPLPUSH", "ub:src", "ub:dst", "0");
    waiting.command("PING");
    expect(await repliesWithin(waiting, 100)).toBe(false);
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id, "TIMEOUT"))).toBe(1);
    // As a timeout: a null array, then what waited behind it.
    expect(await waiting.read(5_000)).toEqual({ type: "array", value: null });
    expect(await next(waiting)).toBe("PONG");
    waiting.command("BLPOP", "ub:src", "0");
    expect(await repliesWithin(waiting, 100)).toBe(false);
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id, "error"))).toBe(1);
    expect(await next(waiting)).toEqual({ error: "UNBLOCKED client unblocked via CLIENT UNBLOCK" });
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id))).toBe(0);
    // Nothing was taken for it: a push stays.
    expect(plain(await admin.call("RPUSH", "ub:src", "v"))).toBe(1);
    expect(plain(await admin.call("LLEN", "ub:src"))).toBe(1);
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id, "LATER"))).toEqual({ error: "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR" });
    expect(plain(await admin.call("CLIENT", "UNBLOCK", "x"))).toEqual({ error: "ERR value is not an integer or out of range" });
  } finally {
    waiting.close();
    admin.close();
  }
});

test("a client that leaves while blocked takes nothing: what is pushed later stays", async () => {
  const { port } = await node();
  const [leaving, pusher] = await Promise.all([connect(port), connect(port)]);
  try {
    const id = String(plain(await leaving.call("CLIENT", "ID")));
    leaving.command("BLPOP", "gone", "0");
    expect(await repliesWithin(leaving, 100)).toBe(false);
    leaving.close();
    // The node has noticed the close (its side only: a FIN) before the push.
    await eventually("the node to drop the client", () => callPort(port, "CLIENT", "LIST", "ID", id), (listed) => listed === "");
    expect(plain(await pusher.call("RPUSH", "gone", "kept"))).toBe(1);
    await Bun.sleep(100);
    expect(plain(await pusher.call("LRANGE", "gone", "0", "-1"))).toEqual(["kept"]);
  } finally {
    pusher.close();
  }
});

test("many clients blocking with short timeouts while pushes arrive: every element is taken once or stays", async () => {
  const { port } = await node();
  const waiters = await Promise.all(Array.from({ length: 40 }, () => connect(port)));
  const pusher = await connect(port);
  const taken: string[] = [];
  let pushed = 0;
  try {
    const loops = waiters.map(async (client, index) => {
      for (let round = 0; round < 15; round++) {
        const reply = plain(await client.call("BLPOP", "storm", String(0.005 + (index % 5) * 0.01)));
        if (reply !== null) taken.push((reply as string[])[1] as string);
      }
    });
    const pushes = (async () => {
      for (let i = 0; i < 300; i++) {
        await pusher.call("RPUSH", "storm", `e${i}`);
        pushed++;
        if (i % 10 === 0) await Bun.sleep(1);
      }
    })();
    await Promise.all([...loops, pushes]);
    const left = plain(await pusher.call("LRANGE", "storm", "0", "-1")) as string[];
    const all = [...taken, ...left].sort();
    expect(all.length).toBe(pushed);
    expect(new Set(all).size).toBe(pushed);
  } finally {
    for (const client of waiters) client.close();
    pusher.close();
  }
});

test("on a 3-node cluster: served on the leader, the same on every replica; a leadership change redirects the waiting", async () => {
  const cluster = new InProcessNodes("blocking-cluster");
  const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });
  const followers = cluster.nodes.filter((one) => one !== leader);
  const follower = followers[0];
  if (follower === undefined) throw new Error("no follower");
  const [waiting, pusher] = await Promise.all([connect(leader.port), connect(leader.port)]);
  try {
    waiting.command("BLPOP", "cq", "0");
    expect(await repliesWithin(waiting, 200)).toBe(false);
    expect(plain(await pusher.call("RPUSH", "cq", "a", "b"))).toBe(2);
    expect(await next(waiting)).toEqual(["cq", "a"]);
    await awaitSameDigest(cluster.nodes.map((one) => one.port));
    expect(await callPort(follower.port, "LRANGE", "cq", "0", "-1")).toEqual(["b"]);
    // A follower sends a blocking command to the leader.
    expect(await callPort(follower.port, "BLPOP", "cq2", "0")).toEqual({ error: `MOVED 0 ${leader.address}` });

    // Blocked on the leader when leadership moves: redirected, and nothing was taken.
    waiting.command("BLPOP", "cq2", "0");
    expect(await repliesWithin(waiting, 200)).toBe(false);
    expect(await callPort(leader.port, "RAFTTRANSFER", follower.address)).toBe("OK");
    await eventually("the follower to lead", () => callPort(follower.port, "RAFTSTATE"), (state) => state === "Leader");
    expect(await next(waiting)).toEqual({ error: `MOVED 0 ${follower.address}` });
    expect(await callPort(follower.port, "RPUSH", "cq2", "z")).toBe(1);
    await Bun.sleep(100);
    expect(await callPort(follower.port, "LRANGE", "cq2", "0", "-1")).toEqual(["z"]);
  } finally {
    waiting.close();
    pusher.close();
    for (const one of cluster.nodes) await one.close();
  }
});

test("proxy mode: a follower forwards a blocking command on a link of its own; its other clients are not held behind it", async () => {
  const cluster = new InProcessNodes("blocking-proxy");
  const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", redirect: "proxy" });
  const follower = cluster.nodes.find((one) => one !== leader);
  if (follower === undefined) throw new Error("no follower");
  const clients = await Promise.all([connect(follower.port), connect(follower.port), connect(follower.port)]);
  const [waiting, other, leaving] = clients as [RespConnection, RespConnection, RespConnection];
  try {
    // Pipelined: the SET goes first (on the shared link), the BLPOP after its reply, the GET
    // only once the BLPOP is answered.
    waiting.command("SET", "px:flag", "1");
    waiting.command("BLPOP", "px:q", "0");
    waiting.command("GET", "px:flag");
    expect(await next(waiting)).toBe("OK");
    expect(await repliesWithin(waiting, 200)).toBe(false);
    // The follower's other clients go on through the shared link meanwhile.
    expect(plain(await other.call("SET", "px:other", "x"))).toBe("OK");
    expect(plain(await other.call("GET", "px:other"))).toBe("x");
    expect(plain(await other.call("RPUSH", "px:q", "job"))).toBe(1);
    expect(await next(waiting)).toEqual(["px:q", "job"]);
    expect(await next(waiting)).toBe("1");
    // A client that leaves while blocked through the follower: nothing is taken for it.
    leaving.command("BRPOP", "px:gone", "0");
    expect(await repliesWithin(leaving, 200)).toBe(false);
    leaving.close();
    // The follower closed its link to the leader for that command, and the leader noticed.
    await eventually("the leader to drop the blocked link", () => callPort(leader.port, "CLIENT", "LIST"), (listed) => !String(listed).includes("cmd=brpop"));
    expect(plain(await other.call("RPUSH", "px:gone", "kept"))).toBe(1);
    await Bun.sleep(100);
    expect(plain(await other.call("LRANGE", "px:gone", "0", "-1"))).toEqual(["kept"]);
    // A timeout answers through the follower too.
    expect(plain(await waiting.call("BLPOP", "px:none", "0.05"))).toBe(null);
  } finally {
    for (const client of clients) client.close();
    for (const one of cluster.nodes) await one.close();
  }
});
