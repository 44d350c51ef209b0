/**
 * The string and keyspace commands added to the clone (GETSET, GETRANGE, SUBSTR, SETRANGE,
 * INCRBYFLOAT, MSETNX, LCS; UNLINK, TOUCH, FLUSHDB, COPY, RANDOMKEY) against the real redis-server,
 * reply for reply (`helpers/redis-diff.ts`); then, in process, what the diff cannot show (what
 * reaches the log, RANDOMKEY and expired keys), and a 3-node cluster that applies them alike.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { CloneHarness } from "./helpers/clone-harness.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, y2100 } from "./helpers/redis-diff.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const strings: Case[] = [
  // GETSET: the old value, and the TTL cleared as SET does
  c("GETSET", "gs", "a"), c("GETSET", "gs", "b"), c("GET", "gs"), c("EXPIREAT", "gs", y2100), c("GETSET", "gs", "c"), c("TTL", "gs"),
  c("RPUSH", "list", "x"), c("GETSET", "list", "v"), c("GETSET", "gs"), c("GETSET", "gs", "a", "b"),
  // GETRANGE and SUBSTR, with Redis 7.0's index rules (an end before the start reads as 0)
  c("SET", "s", "Hello, world"), c("GETRANGE", "s", "0", "4"), c("GETRANGE", "s", "-5", "-1"), c("GETRANGE", "s", "0", "-1"),
  c("GETRANGE", "s", "7", "100"), c("GETRANGE", "s", "5", "2"), c("GETRANGE", "s", "-1", "-5"), c("GETRANGE", "s", "0", "-100"),
  c("GETRANGE", "s", "-100", "-50"), c("GETRANGE", "s", "-100", "2"), c("GETRANGE", "s", "12", "20"), c("GETRANGE", "s", "11", "11"),
  c("GETRANGE", "s", "-9223372036854775808", "9223372036854775807"), c("GETRANGE", "s", "9223372036854775807", "-9223372036854775808"),
  c("GETRANGE", "s", "x", "1"), c("GETRANGE", "s", "0", "1.5"), c("GETRANGE", "s", "0", "9223372036854775808"), c("GETRANGE", "nope", "0", "-1"),
  c("GETRANGE", "nope", "x", "1"), c("GETRANGE", "list", "0", "1"), c("GETRANGE", "s", "0"), c("SET", "n", "12345"), c("GETRANGE", "n", "1", "-2"),
  c("SET", "e", ""), c("GETRANGE", "e", "0", "-1"), c("GETRANGE", "e", "-1", "0"),
  c("SUBSTR", "s", "0", "4"), c("SUBSTR", "s", "-3", "-1"), c("SUBSTR", "nope", "0", "1"), c("SUBSTR", "list", "0", "1"), c("SUBSTR", "s", "a", "b"), c("SUBSTR", "s"),
  // SETRANGE: zero bytes pad, the TTL stays, the limit is 512 MB
  c("SET", "r", "Hello World"), c("SETRANGE", "r", "6", "Redis"), c("GET", "r"), c("SETRANGE", "r", "15", "!"), c("GET", "r"), c("STRLEN", "r"),
  c("SETRANGE", "r", "0", "J"), c("GET", "r"), c("SETRANGE", "pad", "3", "x"), c("GET", "pad"), c("SETRANGE", "r", "2", ""), c("SETRANGE", "nope", "5", ""),
  c("EXISTS", "nope"), c("SETRANGE", "list", "0", ""), c("SETRANGE", "list", "0", "x"), c("SETRANGE", "r", "-1", "x"), c("SETRANGE", "r", "x", "x"),
  c("SETRANGE", "r", "536870912", "x"), c("SETRANGE", "nope", "536870912", "x"), c("SETRANGE", "list", "536870912", "x"), c("SETRANGE", "r", "536870911", ""),
  c("SETRANGE", "r", "9223372036854775807", "x"), c("SETRANGE", "r", "9223372036854775808", "x"), c("EXISTS", "nope"),
  c("EXPIREAT", "r", y2100), c("SETRANGE", "r", "1", "ab"), c("EXPIRETIME", "r"), c("SETRANGE", "n", "0", "9"), c("INCR", "n"), c("SETRANGE", "r", "1"),
  // MSETNX: all or nothing; another type counts as existing
  c("MSETNX", "m1", "a", "m2", "b"), c("MGET", "m1", "m2"), c("MSETNX", "m2", "x", "m3", "y"), c("EXISTS", "m3"), c("MSETNX", "m3", "x", "list", "y"),
  c("EXISTS", "m3"), c("MSETNX", "m4", "1", "m4", "2"), c("GET", "m4"), c("MSETNX", "m5"), c("MSETNX", "m5", "a", "m6"), c("MSETNX"),
  // LCS, with Redis's own examples and every option
  c("MSET", "key1", "ohmytext", "key2", "mynewtext"), c("LCS", "key1", "key2"), c("LCS", "key1", "key2", "LEN"), c("LCS", "key1", "key2", "IDX"),
  c("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"), c("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
  c("LCS", "key1", "key2", "idx", "withmatchlen"), c("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "-3"), c("LCS", "key2", "key1", "IDX", "WITHMATCHLEN"),
  c("LCS", "key1", "nope"), c("LCS", "nope", "nope2", "IDX"), c("LCS", "nope", "key1", "LEN"), c("LCS", "key1", "key1", "IDX", "WITHMATCHLEN"),
  c("LCS", "key1", "key2", "LEN", "IDX"), c("LCS", "key1", "key2", "IDX", "MINMATCHLEN"), c("LCS", "key1", "key2", "MINMATCHLEN", "x"),
  c("LCS", "key1", "key2", "FOO"), c("LCS", "key1", "list"), c("LCS", "list", "key1", "FOO"), c("LCS", "key1"), c("SET", "ab", "abcabcbb"),
  c("SET", "ba", "bcbbacab"), c("LCS", "ab", "ba", "IDX", "WITHMATCHLEN"), c("LCS", "ab", "ba"), c("LCS", "ab", "ba", "IDX", "MINMATCHLEN", "2"),
];

const floats: Case[] = [
  // INCRBYFLOAT: long double arithmetic and Redis's %.17Lf formatting
  c("SET", "f", "10.5"), c("INCRBYFLOAT", "f", "0.1"), c("INCRBYFLOAT", "f", "-5"), c("INCRBYFLOAT", "f", "5.0e3"), c("GET", "f"),
  c("INCRBYFLOAT", "g", "0.1"), c("INCRBYFLOAT", "g", "0.2"), c("INCRBYFLOAT", "g", "-0.3"), c("INCRBYFLOAT", "g", "1e20"), c("INCRBYFLOAT", "g", "-1e20"),
  c("INCRBYFLOAT", "g", "0x10"), c("INCRBYFLOAT", "g", "0x1p-3"), c("INCRBYFLOAT", "g", "-0X1.8P+1"), c("INCRBYFLOAT", "g", "+.5"), c("INCRBYFLOAT", "g", "5."),
  c("INCRBYFLOAT", "g", "0e99999"), c("INCRBYFLOAT", "g", "-0"), c("INCRBYFLOAT", "g", "1.5e-3"), c("INCRBYFLOAT", "g", "123456789.123456789123456789"),
  c("INCRBYFLOAT", "h", "9007199254740993"), c("INCRBYFLOAT", "h", "18446744073709551617"), c("INCRBYFLOAT", "h", "0.1"),
  c("SET", "h", "3"), c("INCRBYFLOAT", "h", "0.333333333333333333333333"), c("SET", "h", "0.000003814697265625"), c("INCRBYFLOAT", "h", "0"),
  c("SET", "h", "-0.00000000000000000001"), c("INCRBYFLOAT", "h", "0"), c("INCRBYFLOAT", "t1", "5e-18"), c("INCRBYFLOAT", "t2", "-5e-18"),
  c("INCRBYFLOAT", "t3", "1.5e-17"), c("INCRBYFLOAT", "t4", "0.99999999999999999999"), c("INCRBYFLOAT", "t5", "-1e-30"),
  c("SET", "h", "1e300"), c("INCRBYFLOAT", "h", "1e300"), c("INCRBYFLOAT", "h", "-2e300"),
  // the long double range: beyond a double's, up to 1.19e4932 and down to subnormals
  c("INCRBYFLOAT", "big", "1e4000"), c("INCRBYFLOAT", "big", "1e4932"), c("INCRBYFLOAT", "big", "1e4933"), c("INCRBYFLOAT", "big", "1.18973149535723176508e+4932"),
  c("SET", "max", "1.18973149535723176502e+4932"), c("INCRBYFLOAT", "max", "1e4914"), c("INCRBYFLOAT", "max", "1e4913"), c("INCRBYFLOAT", "max", "-1"),
  c("INCRBYFLOAT", "tiny", "1e-4950"), c("INCRBYFLOAT", "tiny", "1e-4955"), c("INCRBYFLOAT", "tiny", "1.8e-4951"), c("INCRBYFLOAT", "tiny", "0x1p-16445"),
  c("INCRBYFLOAT", "tiny", "0x1p-16446"), c("INCRBYFLOAT", "tiny", "0x1.8p-16446"), c("INCRBYFLOAT", "tiny", "0x1p16384"), c("INCRBYFLOAT", "tiny", "0xffffffffffffffff8p16316"),
  // what strtold does not take whole, NaN, infinities
  c("INCRBYFLOAT", "x", "inf"), c("INCRBYFLOAT", "x", "-INFINITY"), c("INCRBYFLOAT", "x", "nan"), c("INCRBYFLOAT", "x", " 1"), c("INCRBYFLOAT", "x", "1 "),
  c("INCRBYFLOAT", "x", ""), c("INCRBYFLOAT", "x", "0x"), c("INCRBYFLOAT", "x", "0x.p1"), c("INCRBYFLOAT", "x", "1e"), c("INCRBYFLOAT", "x", "."),
  c("INCRBYFLOAT", "x", "-.e1"), c("INCRBYFLOAT", "x", "1,5"), c("INCRBYFLOAT", "x", "infinit"), c("EXISTS", "x"), c("INCRBYFLOAT", "x"), c("INCRBYFLOAT", "x", "1", "2"),
  c("SET", "x", "inf"), c("INCRBYFLOAT", "x", "1"), c("SET", "x", "abc"), c("INCRBYFLOAT", "x", "1"), c("INCRBYFLOAT", "x", "abc"), c("SET", "x", " 1"), c("INCRBYFLOAT", "x", "1"),
  c("RPUSH", "list", "a"), c("INCRBYFLOAT", "list", "1"), c("INCRBYFLOAT", "list", "abc"),
  // the TTL stays
  c("SET", "ttl", "1.5", "EXAT", y2100), c("INCRBYFLOAT", "ttl", "1"), c("EXPIRETIME", "ttl"), c("INCR", "ttl"), c("SET", "i", "7"), c("INCRBYFLOAT", "i", "0.5"), c("INCR", "i"),
];

const keys: Case[] = [
  // UNLINK and TOUCH
  c("MSET", "a", "1", "b", "2"), c("SADD", "set", "m"), c("TOUCH", "a", "b", "set", "nope", "a"), c("UNLINK", "a", "nope", "set"), c("EXISTS", "a", "set", "b"),
  c("TOUCH"), c("UNLINK"), c("TOUCH", "nope"),
  // FLUSHDB, as FLUSHALL
  c("FLUSHDB"), c("DBSIZE"), c("SET", "a", "1"), c("FLUSHDB", "ASYNC"), c("SET", "a", "1"), c("FLUSHDB", "sync"), c("DBSIZE"), c("FLUSHDB", "LAZY"),
  c("FLUSHDB", "ASYNC", "SYNC"),
  // RANDOMKEY (one key: the only answer)
  c("RANDOMKEY"), c("SET", "only", "v"), c("RANDOMKEY"), c("RANDOMKEY", "x"), c("DEL", "only"), c("RANDOMKEY"),
  // COPY of every type: a deep copy (changing one leaves the other), with the TTL
  c("SET", "str", "hello", "EXAT", y2100), c("COPY", "str", "str2"), c("GET", "str2"), c("EXPIRETIME", "str2"), c("APPEND", "str2", "!"), c("GET", "str"),
  c("RPUSH", "list", "a", "b", "c"), c("COPY", "list", "list2"), c("RPUSH", "list2", "d"), c("LRANGE", "list", "0", "-1"), c("LRANGE", "list2", "0", "-1"),
  c("TTL", "list2"), c("HSET", "hash", "f", "1", "g", "2"), c("COPY", "hash", "hash2"), c("HSET", "hash2", "f", "9"), c("HGETALL", "hash"), c("HGETALL", "hash2"),
  c("SADD", "set", "x"), c("COPY", "set", "set2"), c("SADD", "set2", "y"), c("SCARD", "set"), c("SCARD", "set2"), c("SISMEMBER", "set2", "x"),
  c("ZADD", "zset", "1", "a", "2.5", "b"), c("PEXPIREAT", "zset", "4102444800123"), c("COPY", "zset", "zset2"), c("ZINCRBY", "zset2", "1", "a"),
  c("ZRANGE", "zset", "0", "-1", "WITHSCORES"), c("ZRANGE", "zset2", "0", "-1", "WITHSCORES"), c("PEXPIRETIME", "zset2"),
  c("XADD", "stream", "1-1", "f", "v"), c("COPY", "stream", "stream2"), c("XADD", "stream2", "2-1", "f", "w"), c("XLEN", "stream"), c("XLEN", "stream2"),
  c("XRANGE", "stream2", "-", "+"), c("TYPE", "stream2"),
  // an existing destination: 0 unless REPLACE, which also replaces the TTL (none here)
  c("COPY", "list", "str2"), c("GET", "str2"), c("COPY", "list", "str2", "REPLACE"), c("TYPE", "str2"), c("LRANGE", "str2", "0", "-1"), c("TTL", "str2"),
  c("COPY", "hash", "str2", "replace", "DB", "0"), c("HGETALL", "str2"), c("COPY", "nope", "str2", "REPLACE"), c("TYPE", "str2"), c("COPY", "nope", "fresh"),
  c("EXISTS", "fresh"),
  // options and errors
  c("COPY", "str", "str"), c("COPY", "str", "str", "DB", "0"), c("COPY", "str", "c1", "DB", "0"), c("COPY", "str", "c2", "db", "0", "REPLACE", "REPLACE"),
  c("COPY", "str", "c3", "DB", "x"), c("COPY", "str", "c3", "DB", "4294967296"), c("COPY", "str", "c3", "DB", "-1"), c("COPY", "str", "c3", "DB", "16"),
  c("COPY", "str", "c3", "DB"), c("COPY", "str", "c3", "FOO"), c("COPY", "str", "c3", "FOO", "DB", "0"), c("COPY", "str", "c3", "DB", "0", "FOO"),
  c("COPY", "str", "c3", "DB", "1.5"), c("EXISTS", "c1", "c2", "c3"), c("COPY", "str"), c("COPY"),
];

describe("the added string and keyspace commands answer as redis-server does", () => {
  diffTests(servers, "GETSET, GETRANGE, SUBSTR, SETRANGE, MSETNX, LCS", strings);
  diffTests(servers, "INCRBYFLOAT", floats);
  diffTests(servers, "UNLINK, TOUCH, FLUSHDB, RANDOMKEY, COPY", keys);
});

describe("in process", () => {
  test("argument errors never reach the log; state-dependent ones are the same on leader and replica", () => {
    const h = new CloneHarness();
    h.run("RPUSH", "list", "a");
    h.run("SET", "s", "abc");
    const before = h.log.length;
    expect(h.run("INCRBYFLOAT", "s", "nan")).toEqual({ error: "ERR value is not a valid float" });
    expect(h.run("INCRBYFLOAT", "list", "nan")).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
    expect(h.run("SETRANGE", "s", "536870912", "x")).toEqual({ error: "ERR string exceeds maximum allowed size (proto-max-bulk-len)" });
    expect(h.run("SETRANGE", "s", "1", "")).toBe(3);
    expect(h.run("COPY", "s", "t", "DB", "1")).toEqual({ error: "ERR DB index is out of range" });
    expect(h.run("COPY", "s", "s")).toEqual({ error: "ERR source and destination objects are the same" });
    expect(h.run("MSETNX", "a", "1", "b")).toEqual({ error: "ERR wrong number of arguments for 'msetnx' command" });
    expect(h.run("TOUCH", "s", "list")).toBe(2);
    expect(h.run("LCS", "s", "s")).toBe("abc");
    expect(h.log.length).toBe(before);
    // Errors found while applying: the same on both machines (the harness checks), nothing changed.
    expect(h.run("INCRBYFLOAT", "s", "1")).toEqual({ error: "ERR value is not a valid float" });
    expect(h.run("SET", "f", "1e4932")).toBe("OK");
    expect(h.run("INCRBYFLOAT", "f", "1e4932")).toEqual({ error: "ERR increment would produce NaN or Infinity" });
    expect(h.run("GETSET", "list", "x")).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
    const [leader, replica] = h.digests();
    expect(leader).toBe(replica);
  });

  test("RANDOMKEY never returns an expired key, and changes nothing", async () => {
    const h = new CloneHarness();
    h.time = Date.now();
    h.run("SET", "short", "v", "PX", "30");
    h.run("SET", "long", "v", "EX", "3600");
    await Bun.sleep(60);
    for (let i = 0; i < 50; i++) expect(h.run("RANDOMKEY")).toBe("long");
    h.run("DEL", "long");
    // The expired key is still held (not reclaimed: reads change nothing), but never answered.
    expect(h.run("DBSIZE")).toBe(1);
    expect(h.run("RANDOMKEY")).toBeNull();
    const seen = new Set<unknown>();
    for (let i = 0; i < 10; i++) h.run("SET", `k${i}`, "v");
    for (let i = 0; i < 200; i++) seen.add(h.run("RANDOMKEY"));
    expect(seen.size).toBeGreaterThan(5);
    expect(h.log.filter((args) => args[0] === "RANDOMKEY")).toEqual([]);
  });

  test("RANDOMKEY finds the one live key among many deleted and expired ones", async () => {
    const h = new CloneHarness();
    h.time = Date.now();
    // Deleted keys stay in the keyspace's creation order until it is compacted; expired ones until
    // they are reclaimed: random places mostly land on them, and the pick must walk on.
    for (let i = 0; i < 3000; i++) h.run("SET", `gone${i}`, "v");
    for (let i = 0; i < 2999; i++) h.run("DEL", `gone${i}`);
    for (let i = 0; i < 500; i++) h.run("SET", `expiring${i}`, "v", "PX", "20");
    await Bun.sleep(40);
    for (let i = 0; i < 20; i++) expect(h.run("RANDOMKEY")).toBe("gone2999");
    h.run("DEL", "gone2999");
    expect(h.run("RANDOMKEY")).toBeNull();
  });

  test("COPY gives an independent copy of every type, equal in value (DEBUG DIGEST-VALUE)", () => {
    const h = new CloneHarness();
    h.run("RPUSH", "list", "a", "b");
    h.run("SADD", "set", "a", "b");
    h.run("HSET", "hash", "f", "v");
    h.run("ZADD", "zset", "1", "a");
    h.run("XADD", "stream", "1-1", "f", "v");
    h.run("SET", "string", "v");
    for (const key of ["list", "set", "hash", "zset", "stream", "string"]) {
      expect(h.run("COPY", key, `${key}:copy`)).toBe(1);
      expect(h.run("DEBUG", "DIGEST-VALUE", `${key}:copy`)).toEqual(h.run("DEBUG", "DIGEST-VALUE", key));
    }
    h.run("RPUSH", "list:copy", "c");
    h.run("SREM", "set:copy", "a");
    h.run("HDEL", "hash:copy", "f");
    h.run("ZADD", "zset:copy", "2", "b");
    h.run("XADD", "stream:copy", "2-1", "f", "w");
    expect(h.run("LRANGE", "list", "0", "-1")).toEqual(["a", "b"]);
    expect(h.run("SCARD", "set")).toBe(2);
    expect(h.run("HGETALL", "hash")).toEqual(["f", "v"]);
    expect(h.run("ZCARD", "zset")).toBe(1);
    expect(h.run("XLEN", "stream")).toBe(1);
    expect(h.run("EXISTS", "hash:copy")).toBe(0);
  });
});

describe("a 3-node cluster", () => {
  const cluster = new InProcessNodes("strings-keys");

  test("applies the added writes alike on every node (DEBUG DIGEST)", async () => {
    // Low consistency: each node answers DEBUG DIGEST from its own state.
    const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });

    const writes: string[][] = [
      ["SET", "f", "10.5"],
      ["INCRBYFLOAT", "f", "0.1"],
      ["INCRBYFLOAT", "g", "0.333333333333333333333"],
      ["INCRBYFLOAT", "g", "1e-10"],
      ["GETSET", "s", "hello"],
      ["SETRANGE", "s", "8", "world"],
      ["SETRANGE", "p", "3", "x"],
      ["MSETNX", "m1", "a", "m2", "b"],
      ["MSETNX", "m2", "c", "m3", "d"],
      ["RPUSH", "list", "a", "b", "c"],
      ["PEXPIRE", "list", "3600000"],
      ["COPY", "list", "list2"],
      ["RPUSH", "list2", "d"],
      ["ZADD", "z", "1", "a", "2", "b"],
      ["COPY", "z", "s", "REPLACE"],
      ["HSET", "h", "f", "v"],
      ["COPY", "h", "h2"],
      ["UNLINK", "m1", "h"],
      ["FLUSHDB", "ASYNC"],
      ["INCRBYFLOAT", "f", "2.5"],
      ["SETRANGE", "f", "0", "9"],
      ["SADD", "set", "a", "b"],
      ["COPY", "set", "set2"],
      ["XADD", "x", "1-1", "f", "v"],
      ["COPY", "x", "x2"],
      ["GETSET", "g", "1"],
    ];
    await writeEach(first.port, writes);
    const ports = cluster.nodes.map((node) => node.port);
    await awaitSameDigest(ports);
    expect(await callPort(first.port, "DBSIZE")).toBe(6);
    for (const port of ports) expect(await callPort(port, "DBSIZE")).toBe(6);
  });
});
