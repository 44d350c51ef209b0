/**
 * XREAD BLOCK: a client waits on the leader until a write to one of its streams, then its command
 * goes through the log again (src/server/blocking.ts) with `$` replaced by the last id it stood
 * for when the command first ran (`block`'s `retryArgs`), so it gets exactly what came after.
 * XREAD takes nothing: one XADD serves every client waiting on the stream (as in Redis), each with
 * a retry of its own. The tests check the entries served, COUNT (and Redis's cap of 1000 for a
 * client that waited without one), timeouts, several streams, CLIENT UNBLOCK, that a waiting XREAD
 * does not abort a WATCH (it writes nothing), and on 3 nodes identical replicas, redirects, reads
 * on a follower, and proxy mode (the follower forwards the command as sent; the leader rewrites).
 * XREADGROUP BLOCK with `>` is a write: its waiters are served one at a time, each new entry to one.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { next, repliesWithin, singleNode, withClients, withCluster } from "./helpers/blocked-clients.ts";
import { eventually } from "./helpers/eventually.ts";
import { awaitSameDigest } from "./helpers/in-process-nodes.ts";
import { callPort, plain } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const node = singleNode("stream-blocking");

/** An XREAD reply in RESP2 as `plain` gives it: `[[key, [[id, [field, value...]]...]]...]`. */
type Reply = [string, [string, string[]][]][];

test("XREAD BLOCK with $ gets exactly what is added after it blocked, not the entries before", async () => {
  const { port } = await node();
  await withClients(port, 2, async (reader, writer) => {
    await writer.call("XADD", "xs", "1-0", "old", "1");
    await writer.call("XADD", "xs", "2-0", "old", "2");
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xs", "$");
    expect(await repliesWithin(reader, 200)).toBe(false);
    // Its retry resolves nothing again: were `$` read at the retry, it would mean 3-0 and wait on.
    expect(plain(await writer.call("XADD", "xs", "3-0", "new", "3"))).toBe("3-0");
    expect(await next(reader)).toEqual([["xs", [["3-0", ["new", "3"]]]]]);
    expect(plain(await writer.call("XADD", "xs", "4-0", "new", "4"))).toBe("4-0");
    expect(await repliesWithin(reader, 100)).toBe(false);

    // Several XADDs at once from another client: what it gets starts right after 4-0, in order.
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xs", "$");
    expect(await repliesWithin(reader, 200)).toBe(false);
    for (let i = 5; i <= 9; i++) writer.command("XADD", "xs", `${i}-0`, "burst", String(i));
    await writer.readMany(5);
    const served = (await next(reader)) as Reply;
    expect(served.length).toBe(1);
    expect(served[0]?.[0]).toBe("xs");
    const ids = (served[0]?.[1] ?? []).map(([id]) => id);
    expect(ids.length).toBeGreaterThanOrEqual(1);
    expect(ids).toEqual(["5-0", "6-0", "7-0", "8-0", "9-0"].slice(0, ids.length));
  });
});

test("$ keeps the id it stood for: a stream made again with lower ids does not serve the client until it passes that id", async () => {
  const { port } = await node();
  await withClients(port, 2, async (reader, writer) => {
    await writer.call("XADD", "xagain", "5-0", "f", "v");
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xagain", "$");
    expect(await repliesWithin(reader, 100)).toBe(false);
    expect(plain(await writer.call("DEL", "xagain"))).toBe(1);
    expect(plain(await writer.call("XADD", "xagain", "1-0", "low", "1"))).toBe("1-0");
    expect(await repliesWithin(reader, 200)).toBe(false);
    expect(plain(await writer.call("XADD", "xagain", "6-0", "high", "6"))).toBe("6-0");
    expect(await next(reader)).toEqual([["xagain", [["6-0", ["high", "6"]]]]]);
  });
});

test("one XADD serves every client blocked on the stream, and only them", async () => {
  const { port } = await node();
  await withClients(port, 5, async (first, second, third, elsewhere, writer) => {
    for (const client of [first, second, third]) {
      client.command("XREAD", "BLOCK", "0", "STREAMS", "xall", "$");
      expect(await repliesWithin(client, 100)).toBe(false);
    }
    elsewhere.command("XREAD", "BLOCK", "0", "STREAMS", "xother", "$");
    expect(await repliesWithin(elsewhere, 100)).toBe(false);
    expect(String(plain(await writer.call("INFO", "clients")))).toContain("blocked_clients:4\r\n");
    expect(plain(await writer.call("XADD", "xall", "1-0", "k", "v"))).toBe("1-0");
    for (const client of [first, second, third]) expect(await next(client)).toEqual([["xall", [["1-0", ["k", "v"]]]]]);
    expect(await repliesWithin(elsewhere, 100)).toBe(false);
    expect(String(plain(await writer.call("INFO", "clients")))).toContain("blocked_clients:1\r\n");
    // Something after its id: served at once, while another client waits on the same stream.
    first.command("XREAD", "BLOCK", "0", "STREAMS", "xall", "$");
    second.command("XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "xall", "0");
    expect(await next(second)).toEqual([["xall", [["1-0", ["k", "v"]]]]]);
    expect(await repliesWithin(first, 100)).toBe(false);
    expect(plain(await writer.call("XADD", "xother", "7-0", "o", "p"))).toBe("7-0");
    expect(await next(elsewhere)).toEqual([["xother", [["7-0", ["o", "p"]]]]]);
    expect(plain(await writer.call("XADD", "xall", "2-0", "k2", "v2"))).toBe("2-0");
    expect(await next(first)).toEqual([["xall", [["2-0", ["k2", "v2"]]]]]);
  });
});

test("COUNT bounds what a waiting client gets; without one Redis's cap of 1000 applies; RESP3 answers a map", async () => {
  const { port } = await node();
  await withClients(port, 2, async (reader, writer) => {
    reader.command("XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "xc", "$");
    expect(await repliesWithin(reader, 100)).toBe(false);
    writer.command("MULTI");
    for (let i = 1; i <= 3; i++) writer.command("XADD", "xc", `${i}-0`, "f", String(i));
    writer.command("EXEC");
    await writer.readMany(5);
    expect(await next(reader)).toEqual([["xc", [["1-0", ["f", "1"]], ["2-0", ["f", "2"]]]]]);

    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xcap", "$");
    expect(await repliesWithin(reader, 100)).toBe(false);
    writer.command("MULTI");
    for (let i = 1; i <= 1500; i++) writer.command("XADD", "xcap", `${i}-0`, "f", "v");
    writer.command("EXEC");
    await writer.readMany(1502);
    const capped = (await next(reader)) as Reply;
    expect(capped[0]?.[1].length).toBe(1000);
    expect(capped[0]?.[1][999]?.[0]).toBe("1000-0");
    // Not waiting, it answers everything.
    expect(((plain(await reader.call("XREAD", "STREAMS", "xcap", "0")) as Reply)[0]?.[1] ?? []).length).toBe(1500);

    // Several streams: what the one written answers; in RESP3 as a map.
    await reader.call("HELLO", "3");
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xm1", "xm2", "$", "$");
    expect(await repliesWithin(reader, 100)).toBe(false);
    expect(plain(await writer.call("XADD", "xm2", "3-3", "a", "b"))).toBe("3-3");
    expect(await next(reader)).toEqual(new Map([["xm2", [["3-3", ["a", "b"]]]]]));
  });
});

test("a timeout answers a null array (RESP3: null); CLIENT UNBLOCK answers as a timeout or an error", async () => {
  const { port } = await node();
  await withClients(port, 2, async (reader, admin) => {
    const started = performance.now();
    reader.command("XREAD", "BLOCK", "150", "STREAMS", "xnone", "$");
    expect(await reader.read(5_000)).toEqual({ type: "array", value: null });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    const id = String(plain(await reader.call("CLIENT", "ID")));
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xnone", "$");
    reader.command("PING");
    expect(await repliesWithin(reader, 100)).toBe(false);
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id))).toBe(1);
    expect(await reader.read(5_000)).toEqual({ type: "array", value: null });
    expect(await next(reader)).toBe("PONG");
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xnone", "0");
    expect(await repliesWithin(reader, 100)).toBe(false);
    expect(plain(await admin.call("CLIENT", "UNBLOCK", id, "ERROR"))).toBe(1);
    expect(await next(reader)).toEqual({ error: "UNBLOCKED client unblocked via CLIENT UNBLOCK" });

    await reader.call("HELLO", "3");
    expect(await reader.call("XREAD", "BLOCK", "20", "STREAMS", "xnone", "$")).toEqual({ type: "null" });
  });
});

test("a waiting XREAD writes nothing: it does not abort another client's WATCH", async () => {
  const { port } = await node();
  await withClients(port, 4, async (watcher, reader, otherReader, writer) => {
    expect(plain(await watcher.call("WATCH", "xw:key", "xw:stream"))).toBe("OK");
    // First runs and a retry, all through the log.
    reader.command("XREAD", "BLOCK", "0", "STREAMS", "xw:stream", "$");
    otherReader.command("XREAD", "BLOCK", "0", "STREAMS", "xw:other", "$");
    expect(await repliesWithin(reader, 100)).toBe(false);
    expect(await repliesWithin(otherReader, 10)).toBe(false);
    expect(plain(await writer.call("XADD", "xw:other", "1-0", "f", "v"))).toBe("1-0");
    expect(await next(otherReader)).toEqual([["xw:other", [["1-0", ["f", "v"]]]]]);
    expect(plain(await watcher.call("MULTI"))).toBe("OK");
    expect(plain(await watcher.call("SET", "xw:key", "1"))).toBe("QUEUED");
    expect(plain(await watcher.call("EXEC"))).toEqual(["OK"]);
    // A write to the watched stream still aborts it.
    expect(plain(await watcher.call("WATCH", "xw:stream"))).toBe("OK");
    expect(plain(await writer.call("XADD", "xw:stream", "1-0", "f", "v"))).toBe("1-0");
    expect(await next(reader)).toEqual([["xw:stream", [["1-0", ["f", "v"]]]]]);
    expect(plain(await watcher.call("MULTI"))).toBe("OK");
    expect(plain(await watcher.call("SET", "xw:key", "2"))).toBe("QUEUED");
    expect(plain(await watcher.call("EXEC"))).toBe(null);
  });
});

test("on a 3-node cluster: served on the leader, replicas identical; a follower reads, redirects BLOCK, and a leadership change redirects the waiting", async () => {
  await withCluster("stream-blocking-cluster", { logLevel: "warning", consistency: "low" }, async (leader, follower, ports) => {
    await withClients(leader.port, 3, async (first, second, writer) => {
      await writer.call("XADD", "cx", "1-0", "old", "v");
      first.command("XREAD", "BLOCK", "0", "STREAMS", "cx", "$");
      second.command("XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "cx", "cy", "$", "$");
      expect(await repliesWithin(first, 200)).toBe(false);
      expect(await repliesWithin(second, 10)).toBe(false);
      expect(plain(await writer.call("XADD", "cx", "2-0", "new", "v"))).toBe("2-0");
      expect(await next(first)).toEqual([["cx", [["2-0", ["new", "v"]]]]]);
      expect(await next(second)).toEqual([["cx", [["2-0", ["new", "v"]]]]]);
      expect(plain(await writer.call("XDEL", "cx", "1-0"))).toBe(1);
      expect(plain(await writer.call("XTRIM", "cx", "MAXLEN", "0"))).toBe(1);
      await awaitSameDigest(ports);
      expect(await callPort(follower.port, "XLEN", "cx")).toBe(0);
      // Without BLOCK it is a read, which a follower serves (consistency low); with BLOCK it goes to the leader.
      await writer.call("XADD", "cz", "1-0", "f", "v");
      await eventually("the follower to apply", () => callPort(follower.port, "XLEN", "cz"), (length) => length === 1);
      expect(await callPort(follower.port, "XREAD", "STREAMS", "cz", "0")).toEqual([["cz", [["1-0", ["f", "v"]]]]]);
      expect(await callPort(follower.port, "XREAD", "BLOCK", "0", "STREAMS", "cz", "$")).toEqual({ error: `MOVED 0 ${leader.address}` });

      // Blocked on the leader when leadership moves: redirected.
      first.command("XREAD", "BLOCK", "0", "STREAMS", "cw", "$");
      expect(await repliesWithin(first, 200)).toBe(false);
      expect(await callPort(leader.port, "RAFTTRANSFER", follower.address)).toBe("OK");
      await eventually("the follower to lead", () => callPort(follower.port, "RAFTSTATE"), (state) => state === "Leader");
      expect(await next(first)).toEqual({ error: `MOVED 0 ${follower.address}` });
    });
  });
});

test("proxy mode: a follower forwards XREAD BLOCK as sent; the leader resolves $ and serves it", async () => {
  await withCluster("stream-blocking-proxy", { logLevel: "warning", redirect: "proxy" }, async (leader, follower, ports) => {
    await withClients(follower.port, 3, async (reader, other, writer) => {
      expect(plain(await writer.call("XADD", "px", "1-0", "old", "v"))).toBe("1-0");
      reader.command("XREAD", "BLOCK", "0", "STREAMS", "px", "$");
      reader.command("XLEN", "px");
      other.command("XREAD", "BLOCK", "0", "STREAMS", "px", "$");
      expect(await repliesWithin(reader, 200)).toBe(false);
      expect(await repliesWithin(other, 10)).toBe(false);
      // The leader holds the command as the client sent it (its own link from the follower).
      const listed = String(await callPort(leader.port, "CLIENT", "LIST"));
      expect(listed.split("cmd=xread").length - 1).toBe(2);
      // The follower's other clients go on meanwhile.
      expect(plain(await writer.call("XADD", "px", "2-0", "new", "v"))).toBe("2-0");
      expect(await next(reader)).toEqual([["px", [["2-0", ["new", "v"]]]]]);
      expect(await next(reader)).toBe(2);
      expect(await next(other)).toEqual([["px", [["2-0", ["new", "v"]]]]]);
      expect(plain(await reader.call("XREAD", "BLOCK", "30", "STREAMS", "px", "$"))).toBe(null);
      expect(plain(await reader.call("XREAD", "STREAMS", "px", "1"))).toEqual([["px", [["2-0", ["new", "v"]]]]]);
      await awaitSameDigest(ports);
    });
  });
});

test("XREADGROUP BLOCK with >: each new entry goes to one waiting consumer, first come first served, and into its PEL", async () => {
  const { port } = await node();
  await withClients(port, 3, async (first, second, writer) => {
    await writer.call("XGROUP", "CREATE", "gx", "g", "$", "MKSTREAM");
    first.command("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(first, 100)).toBe(false);
    second.command("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(second, 100)).toBe(false);
    expect(plain(await writer.call("XADD", "gx", "1-0", "f", "1"))).toBe("1-0");
    expect(await next(first)).toEqual([["gx", [["1-0", ["f", "1"]]]]]);
    expect(await repliesWithin(second, 100)).toBe(false);
    expect(plain(await writer.call("XADD", "gx", "2-0", "f", "2"))).toBe("2-0");
    expect(await next(second)).toEqual([["gx", [["2-0", ["f", "2"]]]]]);
    expect(plain(await writer.call("XPENDING", "gx", "g"))).toEqual([2, "1-0", "2-0", [["alice", "1"], ["bob", "1"]]]);
    // Two entries at once (one transaction) for two waiters taking one each: served one after the other.
    first.command("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(first, 100)).toBe(false);
    second.command("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(second, 100)).toBe(false);
    for (const args of [["MULTI"], ["XADD", "gx", "3-0", "f", "3"], ["XADD", "gx", "4-0", "f", "4"], ["EXEC"]]) writer.command(...args);
    await writer.readMany(4);
    expect(await next(first)).toEqual([["gx", [["3-0", ["f", "3"]]]]]);
    expect(await next(second)).toEqual([["gx", [["4-0", ["f", "4"]]]]]);
    expect(plain(await writer.call("XACK", "gx", "g", "3-0", "4-0"))).toBe(2);
    // Waiters of two groups: one entry serves both (each group reads every entry).
    await writer.call("XGROUP", "CREATE", "gx", "other", "$");
    first.command("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(first, 100)).toBe(false);
    second.command("XREADGROUP", "GROUP", "other", "carol", "BLOCK", "0", "STREAMS", "gx", ">");
    expect(await repliesWithin(second, 100)).toBe(false);
    expect(plain(await writer.call("XADD", "gx", "5-0", "f", "5"))).toBe("5-0");
    expect(await next(first)).toEqual([["gx", [["5-0", ["f", "5"]]]]]);
    expect(await next(second)).toEqual([["gx", [["5-0", ["f", "5"]]]]]);
    expect(plain(await writer.call("XACK", "gx", "g", "5-0"))).toBe(1);
    // A history read, or something new already there, is served at once; a timeout answers a null array.
    expect(plain(await first.call("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "gx", "0"))).toEqual([["gx", [["1-0", ["f", "1"]]]]]);
    expect(plain(await first.call("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "50", "STREAMS", "gx", ">"))).toBeNull();
  });
});

test("on a 3-node cluster: XREADGROUP BLOCK served on the leader leaves identical replicas; a follower redirects it (a write, even without BLOCK)", async () => {
  await withCluster("stream-blocking-groups", { logLevel: "warning", consistency: "low" }, async (leader, follower, ports) => {
    await withClients(leader.port, 3, async (first, second, writer) => {
      await writer.call("XGROUP", "CREATE", "gc", "g", "$", "MKSTREAM");
      first.command("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "gc", ">");
      expect(await repliesWithin(first, 200)).toBe(false);
      second.command("XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", "gc", ">");
      expect(await repliesWithin(second, 100)).toBe(false);
      expect(plain(await writer.call("XADD", "gc", "1-0", "f", "1"))).toBe("1-0");
      expect(plain(await writer.call("XADD", "gc", "2-0", "f", "2"))).toBe("2-0");
      expect(await next(first)).toEqual([["gc", [["1-0", ["f", "1"]]]]]);
      expect(await next(second)).toEqual([["gc", [["2-0", ["f", "2"]]]]]);
      await awaitSameDigest(ports);
      expect(await callPort(follower.port, "XPENDING", "gc", "g")).toEqual([2, "1-0", "2-0", [["alice", "1"], ["bob", "1"]]]);
      expect(await callPort(follower.port, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "gc", "0")).toEqual({ error: `MOVED 0 ${leader.address}` });
    });
  });
});
