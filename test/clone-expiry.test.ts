/**
 * Expiry in the clone, in process (test/helpers/clone-harness.ts): every write is applied on a
 * leader and a replica machine at a log position whose time the test chooses (`h.time`, what
 * `replicatedTime()` gives inside mutate), and both must agree. Reads outside mutate use this
 * process's clock, so tests of what reads see set expiry times relative to `Date.now()`, far
 * enough either way that the outcome does not depend on how fast the test runs.
 */
import { describe, expect, setSystemTime, test } from "bun:test";
import { pack } from "msgpackr";
import type { Applier, SnapshotReader } from "../src/api.ts";
import { keyspaceDigest } from "../src/clone/digest.ts";
import { reclaimPerCommand } from "../src/clone/keyspace.ts";
import { Clone } from "../src/clone/machine.ts";
import { Logger } from "../src/log.ts";
import { Executor } from "../src/node/executor.ts";
import { Command } from "../src/resp/reader.ts";
import { CloneHarness, RecordingConn, type Reply } from "./helpers/clone-harness.ts";

const hour = 3_600_000;
const wrongType = { error: "WRONGTYPE Operation against a key holding the wrong kind of value" };
const notInteger = { error: "ERR value is not an integer or out of range" };
const syntax = { error: "ERR syntax error" };
const invalidExpire = (name: string) => ({ error: `ERR invalid expire time in '${name}' command` });

/** Runs `args` and checks the reply; an error reply must not have reached the log unless `logged`. */
function expectReply(h: CloneHarness, args: string[], expected: Reply, logged = false): void {
  const before = h.log.length;
  expect([args, h.run(...args)]).toEqual([args, expected]);
  if (expected !== null && typeof expected === "object" && "error" in expected && !logged) expect(h.log.length).toBe(before);
}

function agree(h: CloneHarness): void {
  const [leader, replica] = h.digests();
  expect(leader).toBe(replica);
}

/** A harness whose log time is now: reads (on the clock) and writes (on `h.time`) agree. */
function nowHarness(): CloneHarness {
  const h = new CloneHarness();
  h.time = Date.now();
  return h;
}

const readApplier: Applier = { apply: (_c, _cmd, _m, respond) => (respond as ((value: unknown) => void) | null)?.(undefined) };

function read(clone: Clone, ...args: string[]): Reply {
  const conn = new RecordingConn(2);
  const returned = clone.command(readApplier, conn, Command.of(args));
  if (returned instanceof Error) throw returned;
  return conn.replies[0] as Reply;
}

function memorySnapshot(): { writer: { write(bytes: Uint8Array): void }; reader(): SnapshotReader; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    writer: { write: (bytes: Uint8Array) => void chunks.push(bytes.slice()) },
    reader: () => ({
      readAll: async () => Buffer.concat(chunks),
      chunks: async function* () {
        yield* chunks;
      },
    }),
  };
}

describe("SET with options, SETEX, PSETEX, SETNX", () => {
  test("EX, PX, EXAT, PXAT store the absolute time computed from the log entry's time", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    expectReply(h, ["SET", "a", "1", "EX", "10"], "OK");
    expectReply(h, ["SET", "b", "1", "PX", "1500"], "OK");
    expectReply(h, ["SET", "c", "1", "EXAT", String(Math.floor(t / 1000) + 100)], "OK");
    expectReply(h, ["SET", "d", "1", "PXAT", String(t + 12345)], "OK");
    expectReply(h, ["SET", "e", "1"], "OK");
    expectReply(h, ["PEXPIRETIME", "a"], t + 10_000);
    expectReply(h, ["PEXPIRETIME", "b"], t + 1500);
    expectReply(h, ["EXPIRETIME", "c"], Math.floor(t / 1000) + 100);
    expectReply(h, ["PEXPIRETIME", "c"], (Math.floor(t / 1000) + 100) * 1000);
    expectReply(h, ["PEXPIRETIME", "d"], t + 12345);
    expectReply(h, ["EXPIRETIME", "d"], Math.floor((t + 12345) / 1000));
    expectReply(h, ["PEXPIRETIME", "e"], -1);
    expectReply(h, ["EXPIRETIME", "e"], -1);
    expectReply(h, ["PEXPIRETIME", "nope"], -2);
    expectReply(h, ["EXPIRETIME", "nope"], -2);
    expect(h.leader.info().keyspace).toEqual({ db0: "keys=5,expires=4,avg_ttl=0" });
    agree(h);
  });

  test("NX, XX, GET, KEEPTTL; SET clears a TTL, KEEPTTL keeps it", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    expectReply(h, ["SET", "k", "1", "XX"], null);
    expectReply(h, ["SET", "k", "1", "NX", "PX", "1000"], "OK");
    expectReply(h, ["SET", "k", "2", "NX"], null);
    expectReply(h, ["SET", "k", "2", "NX", "GET"], "1"); // Redis 7: NX with GET answers the old value
    expectReply(h, ["GET", "k"], "1");
    expectReply(h, ["SET", "k", "2", "XX", "KEEPTTL"], "OK");
    expectReply(h, ["PEXPIRETIME", "k"], t + 1000);
    expectReply(h, ["SET", "k", "3", "GET", "KEEPTTL"], "2");
    expectReply(h, ["PEXPIRETIME", "k"], t + 1000);
    expectReply(h, ["SET", "k", "4"], "OK");
    expectReply(h, ["PEXPIRETIME", "k"], -1);
    expectReply(h, ["SET", "k", "5", "GET", "EX", "5"], "4");
    expectReply(h, ["PEXPIRETIME", "k"], t + 5000);
    expectReply(h, ["SET", "new", "v", "GET"], null);
    expectReply(h, ["SET", "k", "x", "EX", "5", "EX", "7"], "OK"); // the same option twice: the last wins
    expectReply(h, ["PEXPIRETIME", "k"], t + 7000);
    expectReply(h, ["RPUSH", "list", "a"], 1);
    expectReply(h, ["SET", "list", "v", "GET"], wrongType, true);
    expectReply(h, ["TYPE", "list"], "list");
    expectReply(h, ["SET", "list", "v"], "OK");
    agree(h);
  });

  test("a time that has already come deletes the key", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    expectReply(h, ["SET", "k", "v"], "OK");
    expectReply(h, ["SET", "k", "w", "PXAT", String(t)], "OK");
    expectReply(h, ["EXISTS", "k"], 0);
    expectReply(h, ["SET", "k", "w", "EXAT", "1", "GET"], null);
    expect(h.leader.size).toBe(0);
    expect(h.replica.size).toBe(0);
    agree(h);
  });

  test("argument errors, with Redis's texts, never reach the log", () => {
    const h = nowHarness();
    expectReply(h, ["SET", "k", "v", "EX", "0"], invalidExpire("set"));
    expectReply(h, ["SET", "k", "v", "PX", "-5"], invalidExpire("set"));
    expectReply(h, ["SET", "k", "v", "EXAT", "0"], invalidExpire("set"));
    expectReply(h, ["SET", "k", "v", "EX", "9223372036854775807"], invalidExpire("set"));
    expectReply(h, ["SET", "k", "v", "PX", "9223372036854775000"], invalidExpire("set"));
    expectReply(h, ["SET", "k", "v", "EX", "x"], notInteger);
    expectReply(h, ["SET", "k", "v", "EX", "1.5"], notInteger);
    expectReply(h, ["SET", "k", "v", "EX"], syntax);
    expectReply(h, ["SET", "k", "v", "NX", "XX"], syntax);
    expectReply(h, ["SET", "k", "v", "EX", "1", "PX", "1"], syntax);
    expectReply(h, ["SET", "k", "v", "KEEPTTL", "EX", "1"], syntax);
    expectReply(h, ["SET", "k", "v", "EX", "1", "KEEPTTL"], syntax);
    expectReply(h, ["SET", "k", "v", "PERSIST"], syntax);
    expectReply(h, ["SET", "k", "v", "FOO"], syntax);
    expectReply(h, ["SETEX", "k", "0", "v"], invalidExpire("setex"));
    expectReply(h, ["SETEX", "k", "x", "v"], notInteger);
    expectReply(h, ["PSETEX", "k", "-1", "v"], invalidExpire("psetex"));
    expectReply(h, ["SETEX", "k", "1"], { error: "ERR wrong number of arguments for 'setex' command" });
    expectReply(h, ["SETNX", "k"], { error: "ERR wrong number of arguments for 'setnx' command" });
    expect(h.log).toEqual([]);
  });

  test("SETEX, PSETEX, SETNX", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    expectReply(h, ["SETEX", "a", "100", "v"], "OK");
    expectReply(h, ["PEXPIRETIME", "a"], t + 100_000);
    expectReply(h, ["PSETEX", "b", "250", "w"], "OK");
    expectReply(h, ["PEXPIRETIME", "b"], t + 250);
    expectReply(h, ["GET", "b"], "w");
    expectReply(h, ["SETNX", "b", "x"], 0);
    expectReply(h, ["SETNX", "c", "x"], 1);
    expectReply(h, ["PEXPIRETIME", "c"], -1);
    expectReply(h, ["RPUSH", "l", "a"], 1);
    expectReply(h, ["SETEX", "l", "10", "v"], "OK"); // SETEX overwrites any type, as SET does
    expectReply(h, ["TYPE", "l"], "string");
    agree(h);
  });
});

describe("GETDEL and GETEX", () => {
  test("GETDEL answers the value and deletes the key", () => {
    const h = nowHarness();
    expectReply(h, ["SET", "k", "v", "EX", "100"], "OK");
    expectReply(h, ["GETDEL", "k"], "v");
    expectReply(h, ["EXISTS", "k"], 0);
    expectReply(h, ["GETDEL", "k"], null);
    expectReply(h, ["SADD", "s", "m"], 1);
    expectReply(h, ["GETDEL", "s"], wrongType, true);
    expect(h.leader.keyspace.expiresCount).toBe(0);
    agree(h);
  });

  test("GETEX sets, replaces or removes the TTL; without options it is a read", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    expectReply(h, ["SET", "k", "v"], "OK");
    const logged = h.log.length;
    expectReply(h, ["GETEX", "k"], "v");
    expectReply(h, ["GETEX", "nope"], null);
    expect(h.log.length).toBe(logged);
    expectReply(h, ["GETEX", "k", "EX", "10"], "v");
    expectReply(h, ["PEXPIRETIME", "k"], t + 10_000);
    expectReply(h, ["GETEX", "k", "PX", "20"], "v");
    expectReply(h, ["PEXPIRETIME", "k"], t + 20);
    expectReply(h, ["GETEX", "k", "PXAT", String(t + 99)], "v");
    expectReply(h, ["PEXPIRETIME", "k"], t + 99);
    expectReply(h, ["GETEX", "k", "EXAT", String(Math.floor(t / 1000) + 9)], "v");
    expectReply(h, ["EXPIRETIME", "k"], Math.floor(t / 1000) + 9);
    expectReply(h, ["GETEX", "k", "PERSIST"], "v");
    expectReply(h, ["PEXPIRETIME", "k"], -1);
    expectReply(h, ["GETEX", "nope", "EX", "10"], null);
    expectReply(h, ["EXISTS", "nope"], 0);
    expectReply(h, ["GETEX", "k", "PXAT", "1"], "v"); // a time already come deletes
    expectReply(h, ["EXISTS", "k"], 0);
    expectReply(h, ["SADD", "s", "m"], 1);
    expectReply(h, ["GETEX", "s", "EX", "1"], wrongType, true);
    expectReply(h, ["GETEX", "s"], wrongType);
    agree(h);
  });

  test("GETEX argument errors", () => {
    const h = nowHarness();
    // As in redis-server 7: a missing key answers nil before the time is looked at, and a key of
    // another type WRONGTYPE.
    expectReply(h, ["GETEX", "k", "EX", "0"], null);
    expectReply(h, ["GETEX", "k", "EX", "x"], null);
    expectReply(h, ["SET", "k", "v"], "OK", true);
    expectReply(h, ["GETEX", "k", "EX", "0"], invalidExpire("getex"));
    expectReply(h, ["GETEX", "k", "PX", "-1"], invalidExpire("getex"));
    expectReply(h, ["GETEX", "k", "EX", "x"], notInteger);
    expectReply(h, ["GETEX", "k", "EX"], syntax);
    expectReply(h, ["GETEX", "k", "EX", "1", "PERSIST"], syntax);
    expectReply(h, ["GETEX", "k", "PERSIST", "PX", "1"], syntax);
    expectReply(h, ["GETEX", "k", "KEEPTTL"], syntax);
    expectReply(h, ["GETEX", "k", "NX"], syntax);
    expectReply(h, ["SADD", "set", "m"], 1, true);
    expectReply(h, ["GETEX", "set", "EX", "x"], wrongType);
    expectReply(h, ["GETEX", "set", "PX", "-1"], wrongType);
    // Only the SET and the SADD reached the log: a GETEX with a bad time changes nothing, and is
    // answered as a read, whatever the key holds.
    expect(h.log.length).toBe(2);
  });
});

describe("EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, PERSIST", () => {
  test("each form sets the absolute time from the log entry's time", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    for (const key of ["a", "b", "c", "d"]) h.run("SET", key, "v");
    expectReply(h, ["EXPIRE", "a", "100"], 1);
    expectReply(h, ["PEXPIRE", "b", "100"], 1);
    expectReply(h, ["EXPIREAT", "c", String(Math.floor(t / 1000) + 50)], 1);
    expectReply(h, ["PEXPIREAT", "d", String(t + 77)], 1);
    expectReply(h, ["PEXPIRETIME", "a"], t + 100_000);
    expectReply(h, ["PEXPIRETIME", "b"], t + 100);
    expectReply(h, ["PEXPIRETIME", "c"], (Math.floor(t / 1000) + 50) * 1000);
    expectReply(h, ["PEXPIRETIME", "d"], t + 77);
    expectReply(h, ["EXPIRE", "nope", "100"], 0);
    expectReply(h, ["PEXPIREAT", "nope", String(t + 1)], 0);
    agree(h);
  });

  test("NX, XX, GT, LT (no TTL counts as infinite)", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    h.run("SET", "k", "v");
    expectReply(h, ["EXPIRE", "k", "100", "XX"], 0);
    expectReply(h, ["EXPIRE", "k", "100", "GT"], 0);
    expectReply(h, ["EXPIRE", "k", "100", "LT"], 1);
    expectReply(h, ["EXPIRE", "k", "50", "NX"], 0);
    expectReply(h, ["EXPIRE", "k", "50", "XX"], 1);
    expectReply(h, ["PEXPIRETIME", "k"], t + 50_000);
    expectReply(h, ["EXPIRE", "k", "40", "GT"], 0);
    expectReply(h, ["EXPIRE", "k", "50", "GT"], 0);
    expectReply(h, ["EXPIRE", "k", "60", "GT"], 1);
    expectReply(h, ["EXPIRE", "k", "60", "LT"], 0);
    expectReply(h, ["EXPIRE", "k", "70", "LT"], 0);
    expectReply(h, ["EXPIRE", "k", "30", "LT", "XX"], 1);
    expectReply(h, ["PEXPIRETIME", "k"], t + 30_000);
    h.run("PERSIST", "k");
    expectReply(h, ["EXPIRE", "k", "30", "NX"], 1);
    expectReply(h, ["PEXPIRETIME", "k"], t + 30_000);
    agree(h);
  });

  test("a time that has come (0, negative, in the past) deletes the key and answers 1", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    for (const key of ["a", "b", "c", "d", "e"]) h.run("SET", key, "v");
    expectReply(h, ["EXPIRE", "a", "0"], 1);
    expectReply(h, ["PEXPIRE", "b", "-100"], 1);
    expectReply(h, ["EXPIREAT", "c", "1"], 1);
    expectReply(h, ["PEXPIREAT", "d", String(t)], 1);
    expectReply(h, ["PEXPIREAT", "e", String(t + 1)], 1);
    expect(h.leader.size).toBe(1);
    expect(h.replica.size).toBe(1);
    expectReply(h, ["EXISTS", "a", "b", "c", "d", "e"], 1);
    agree(h);
  });

  test("errors", () => {
    const h = nowHarness();
    h.run("SET", "k", "v");
    const logged = h.log.length;
    expectReply(h, ["EXPIRE", "k", "x"], notInteger);
    expectReply(h, ["EXPIRE", "k", "1.5"], notInteger);
    expectReply(h, ["EXPIRE", "k", "9223372036854775807"], invalidExpire("expire"));
    expectReply(h, ["EXPIRE", "k", "-9223372036854775808"], invalidExpire("expire"));
    expectReply(h, ["PEXPIRE", "k", "9223372036854775807"], invalidExpire("pexpire"));
    expectReply(h, ["EXPIREAT", "k", "9223372036854775807"], invalidExpire("expireat"));
    expectReply(h, ["EXPIRE", "k", "1", "NX", "XX"], { error: "ERR NX and XX, GT or LT options at the same time are not compatible" });
    expectReply(h, ["EXPIRE", "k", "1", "NX", "GT"], { error: "ERR NX and XX, GT or LT options at the same time are not compatible" });
    expectReply(h, ["EXPIRE", "k", "1", "GT", "LT"], { error: "ERR GT and LT options at the same time are not compatible" });
    expectReply(h, ["EXPIRE", "k", "1", "foo"], { error: "ERR Unsupported option foo" });
    expectReply(h, ["EXPIRE", "k"], { error: "ERR wrong number of arguments for 'expire' command" });
    expectReply(h, ["TTL", "k", "x"], { error: "ERR wrong number of arguments for 'ttl' command" });
    expect(h.log.length).toBe(logged);
  });

  test("TTL and PTTL count from the clock; PERSIST removes a TTL", () => {
    const h = nowHarness();
    h.run("SET", "k", "v", "EX", "1000");
    h.run("SET", "p", "v");
    const ttl = h.run("TTL", "k") as number;
    const pttl = h.run("PTTL", "k") as number;
    // Loose on purpose: some time passes between the write and the reads.
    expect(ttl).toBeGreaterThan(990);
    expect(ttl).toBeLessThanOrEqual(1000);
    expect(pttl).toBeGreaterThan(990_000);
    expect(pttl).toBeLessThanOrEqual(1_000_000);
    expectReply(h, ["TTL", "p"], -1);
    expectReply(h, ["PTTL", "p"], -1);
    expectReply(h, ["TTL", "nope"], -2);
    expectReply(h, ["PTTL", "nope"], -2);
    expectReply(h, ["PERSIST", "k"], 1);
    expectReply(h, ["PERSIST", "k"], 0);
    expectReply(h, ["PERSIST", "p"], 0);
    expectReply(h, ["PERSIST", "nope"], 0);
    expectReply(h, ["TTL", "k"], -1);
    expect(h.leader.info().keyspace).toEqual({ db0: "keys=2,expires=0,avg_ttl=0" });
    agree(h);
  });
});

describe("which commands keep, move or clear a TTL", () => {
  test("in-place changes keep it; RENAME and RENAMENX carry it; SET, MSET, DEL, FLUSHALL clear it", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    h.run("SET", "s", "a", "PX", "5000");
    expectReply(h, ["APPEND", "s", "b"], 2);
    expectReply(h, ["PEXPIRETIME", "s"], t + 5000);
    h.run("SET", "n", "1", "PX", "5000");
    expectReply(h, ["INCRBY", "n", "5"], 6);
    expectReply(h, ["PEXPIRETIME", "n"], t + 5000);
    h.run("RPUSH", "l", "a");
    h.run("PEXPIRE", "l", "5000");
    expectReply(h, ["LPUSH", "l", "b"], 2);
    expectReply(h, ["PEXPIRETIME", "l"], t + 5000);
    h.run("HSET", "hash", "f", "v");
    h.run("PEXPIRE", "hash", "6000");
    expectReply(h, ["HSET", "hash", "g", "w"], 1);
    expectReply(h, ["PEXPIRETIME", "hash"], t + 6000);

    expectReply(h, ["RENAME", "s", "s2"], "OK");
    expectReply(h, ["PEXPIRETIME", "s2"], t + 5000);
    expectReply(h, ["EXISTS", "s"], 0);
    h.run("SET", "target", "x", "PX", "9000");
    expectReply(h, ["RENAME", "n", "target"], "OK"); // the target's own TTL goes with it
    expectReply(h, ["PEXPIRETIME", "target"], t + 5000);
    h.run("SET", "plain", "x");
    h.run("SET", "plain2", "y", "PX", "100");
    expectReply(h, ["RENAME", "plain", "plain2"], "OK");
    expectReply(h, ["PEXPIRETIME", "plain2"], -1);
    expectReply(h, ["RENAMENX", "l", "l2"], 1);
    expectReply(h, ["PEXPIRETIME", "l2"], t + 5000);

    expectReply(h, ["MSET", "s2", "new"], "OK");
    expectReply(h, ["PEXPIRETIME", "s2"], -1);
    expectReply(h, ["DEL", "target"], 1);
    h.run("SET", "target", "again");
    expectReply(h, ["PEXPIRETIME", "target"], -1);
    expect(h.leader.keyspace.expiresCount).toBe(2); // l2, hash
    expectReply(h, ["FLUSHALL"], "OK");
    expect(h.leader.keyspace.expiresCount).toBe(0);
    h.run("SET", "l2", "v");
    expectReply(h, ["PEXPIRETIME", "l2"], -1);
    agree(h);
  });
});

describe("expired at exactly its time, inside mutate", () => {
  test("a key is alive one millisecond before its time and gone at it", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    h.run("SET", "k", "v", "PX", "100");
    h.time = t + 99;
    // SET NX GET answers the old value without writing when the key exists.
    expectReply(h, ["SET", "k", "new", "NX", "GET"], "v");
    h.time = t + 100;
    expectReply(h, ["SET", "k", "new", "NX", "GET"], null);
    expectReply(h, ["PEXPIRETIME", "k"], -1);
    expectReply(h, ["GET", "k"], "new");
    agree(h);
  });

  test("every write sees an expired key as absent, and deletes it", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    h.run("SET", "n", "10", "PX", "10");
    h.run("RPUSH", "l", "a", "b");
    h.run("PEXPIRE", "l", "10");
    h.run("SET", "r", "x", "PX", "10");
    h.time = t + 10;
    expectReply(h, ["INCR", "n"], 1);
    expectReply(h, ["PEXPIRETIME", "n"], -1);
    expectReply(h, ["LPUSH", "l", "c"], 1);
    expectReply(h, ["RENAME", "r", "r2"], { error: "ERR no such key" }, true);
    expectReply(h, ["EXPIRE", "r", "100"], 0);
    agree(h);
  });
});

describe("reads never see expired keys and never delete them", () => {
  test("GET, EXISTS, TYPE, TTL, KEYS, SCAN, STRLEN, LRANGE, MGET skip an expired key; DBSIZE counts it until reclaimed", () => {
    const h = new CloneHarness();
    // Written at a log time well in the past, with a TTL that has run out by the clock now.
    h.time = Date.now() - hour;
    h.run("SET", "gone", "v", "PX", "1000");
    h.run("RPUSH", "gonelist", "a");
    h.run("PEXPIRE", "gonelist", "1000");
    h.run("SET", "alive", "v", "PX", String(2 * hour));
    h.run("SET", "forever", "v");
    expectReply(h, ["GET", "gone"], null);
    expectReply(h, ["STRLEN", "gone"], 0);
    expectReply(h, ["MGET", "gone", "alive"], [null, "v"]);
    expectReply(h, ["LRANGE", "gonelist", "0", "-1"], []);
    expectReply(h, ["EXISTS", "gone", "gonelist", "alive", "forever"], 2);
    expectReply(h, ["TYPE", "gone"], "none");
    expectReply(h, ["TTL", "gone"], -2);
    expectReply(h, ["PTTL", "gonelist"], -2);
    expectReply(h, ["EXPIRETIME", "gone"], -2);
    expectReply(h, ["KEYS", "*"], ["alive", "forever"]);
    expectReply(h, ["SCAN", "0", "COUNT", "100"], ["0", ["alive", "forever"]]);
    expectReply(h, ["GETEX", "gone"], null);
    expectReply(h, ["DEBUG", "DIGEST-VALUE", "gone"], ["0".repeat(40)]);
    // Still held: reads do not delete (followers do not run them).
    expectReply(h, ["DBSIZE"], 4);
    expect(h.leader.size).toBe(4);
    expect(h.replica.size).toBe(4);
    // The next write, at a log time past their expiry, reclaims them on every replica.
    h.time = Date.now();
    h.run("SET", "other", "x");
    expect(h.leader.size).toBe(3);
    expect(h.replica.size).toBe(3);
    expectReply(h, ["DBSIZE"], 3);
    agree(h);
  });
});

describe("active expiry", () => {
  test("each write first reclaims up to 20 due keys, earliest first, identically on every replica", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    // 50 keys due at t+1..t+50, created in reverse order so that expiry order is not creation order.
    for (let i = 50; i >= 1; i--) h.run("SET", `k${i}`, "v", "PX", String(i));
    h.run("SET", "stays", "v", "PX", String(hour));
    expect(h.leader.size).toBe(51);
    h.time = t + 30; // k1..k30 are due
    h.run("SET", "unrelated", "x");
    expect(reclaimPerCommand).toBe(20);
    expect(h.leader.size).toBe(52 - 20);
    expect(h.replica.size).toBe(52 - 20);
    // The earliest twenty went first.
    const held = new Set([...h.leader.keyspace.held()].map((entry) => entry.key));
    for (let i = 1; i <= 20; i++) expect(held.has(`k${i}`)).toBe(false);
    for (let i = 21; i <= 50; i++) expect(held.has(`k${i}`)).toBe(true);
    h.run("SET", "unrelated", "y");
    expect(h.leader.size).toBe(32 - 10); // only k21..k30 were due
    h.run("SET", "unrelated", "z");
    expect(h.leader.size).toBe(22);
    agree(h);
  });

  test("stale heap items (changed or deleted TTLs) are skipped; a failing command still reclaims", () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    h.run("SET", "a", "v", "PX", "10");
    for (let i = 0; i < 100; i++) h.run("PEXPIRE", "a", String(10 + i)); // 100 stale items for one key
    h.run("SET", "b", "v", "PX", "5");
    h.run("SET", "c", "v", "PX", "5");
    h.run("DEL", "c");
    h.run("SET", "c", "v"); // a new key without TTL: the old item is stale
    h.time = t + 1000;
    expectReply(h, ["LPUSH", "c", "x"], wrongType, true);
    expect([...h.leader.keyspace.held()].map((entry) => entry.key).sort()).toEqual(["c"]);
    expect(h.replica.size).toBe(1);
    agree(h);
  });

  test("reads reclaim nothing", () => {
    const h = new CloneHarness();
    h.time = Date.now() - hour;
    for (let i = 0; i < 10; i++) h.run("SET", `k${i}`, "v", "PX", "1");
    for (let i = 0; i < 5; i++) h.run("GET", `k${i}`);
    h.run("KEYS", "*");
    expect(h.leader.size).toBe(10);
    expect(h.leader.keyspace.reclaimExpired()).toBe(0); // outside mutate: nothing
    expect(h.leader.size).toBe(10);
  });
});

describe("digests and snapshots", () => {
  test("DEBUG DIGEST includes expiry times", () => {
    const a = new CloneHarness();
    const b = new CloneHarness();
    // One time for both: read per harness, the clock could tick in between, and PEXPIRE's
    // absolute times (and so the digests) would differ by a millisecond.
    const time = Date.now() + hour;
    for (const h of [a, b]) {
      h.time = time;
      h.run("SET", "k", "v");
    }
    expect(a.digests()[0]).toBe(b.digests()[0]);
    a.run("PEXPIRE", "k", "1000");
    expect(a.digests()[0]).not.toBe(b.digests()[0]);
    b.run("PEXPIRE", "k", "1001");
    expect(a.digests()[0]).not.toBe(b.digests()[0]);
    b.run("PEXPIRE", "k", "1000");
    expect(a.digests()[0]).toBe(b.digests()[0]);
    a.run("PERSIST", "k");
    b.run("PERSIST", "k");
    expect(a.digests()[0]).toBe(b.digests()[0]);
    const c = new CloneHarness();
    c.run("SET", "k", "v");
    expect(c.digests()[0]).toBe(a.digests()[0]); // no TTL: the same digest as ever
  });

  test("a snapshot carries every expiry (expired keys not reclaimed yet too) and the restored node reclaims alike", async () => {
    const h = new CloneHarness();
    const t = Date.now() + hour;
    h.time = t;
    for (let i = 0; i < 30; i++) h.run("SET", `s${i}`, "v", "PX", String(100 + i));
    h.run("RPUSH", "list", ...Array.from({ length: 5000 }, (_, i) => `e${i}`)); // several records
    h.run("PEXPIRE", "list", "500");
    h.run("HSET", "hash", "f", "v");
    h.run("PEXPIRE", "hash", String(hour));
    h.run("SET", "plain", "v");
    for (let i = 0; i < 20; i++) h.run("PEXPIRE", "s0", String(100 + i)); // stale items on the leader
    // At t+200 all 30 are due; one write reclaims 20, so the snapshot holds 10 expired keys.
    h.time = t + 200;
    h.run("SET", "w", "1");
    expect(h.leader.size).toBe(34 - 20); // 30 strings, list, hash, plain, w
    const memory = memorySnapshot();
    await h.leader.snapshot(memory.writer);
    const restored = new Clone();
    await restored.restore(memory.reader());
    expect(read(restored, "DEBUG", "DIGEST")).toBe(h.digests()[0]);
    expect(read(restored, "PEXPIRETIME", "s25")).toBe(t + 125); // due by log time, not by the clock
    expect(read(restored, "PEXPIRETIME", "list")).toBe(t + 500);
    expect(read(restored, "PEXPIRETIME", "plain")).toBe(-1);
    // The keyspace section (keys and expires) is state; the stats section counts this node's own reads.
    expect(restored.info().keyspace).toEqual(h.leader.info().keyspace);
    // Applying the same commands to the restored node and the leader keeps them equal.
    const applier = (): Applier & { value?: unknown } => ({
      apply(_conn, _command, mutate) {
        if (mutate !== null) this.value = mutate();
      },
    });
    const { enterLogPosition, leaveLogPosition } = await import("../src/replicated.ts");
    for (const [time, args] of [
      [t + 300, ["SET", "x", "1"]],
      [t + 1000, ["SET", "y", "1"]],
      [t + 1000, ["SET", "z", "1"]],
    ] as Array<[number, string[]]>) {
      h.time = time;
      h.run(...args);
      enterLogPosition(1_000_000, 0, time);
      try {
        restored.command(applier(), null, Command.of(args));
      } finally {
        leaveLogPosition();
      }
      expect(read(restored, "DEBUG", "DIGEST")).toBe(h.digests()[0]);
      expect(restored.size).toBe(h.leader.size);
    }
  });

  test("format 2 snapshots (no expiry times) still load; malformed expiry times are refused", async () => {
    const reader = (records: Uint8Array[]): SnapshotReader => ({
      readAll: async () => Buffer.concat(records),
      chunks: async function* () {
        yield* records;
      },
    });
    const old = new Clone();
    await old.restore(reader([pack({ format: 2, keys: 1, nextSeq: 2 }), pack([[Buffer.from("k"), 0, 1, Buffer.from("v")]])]));
    expect(read(old, "GET", "k")).toBe("v");
    expect(read(old, "TTL", "k")).toBe(-1);
    await expect(
      new Clone().restore(reader([pack({ format: 2, keys: 1, nextSeq: 2 }), pack([[Buffer.from("k"), 0, 1, Buffer.from("v"), 5]])])),
    ).rejects.toThrow(/malformed/);
    await expect(
      new Clone().restore(reader([pack({ format: 3, keys: 1, nextSeq: 2 }), pack([[Buffer.from("k"), 0, 1, Buffer.from("v"), "soon"]])])),
    ).rejects.toThrow(/malformed/);
    const later = Date.now() + hour;
    const fresh = new Clone();
    await fresh.restore(reader([pack({ format: 3, keys: 1, nextSeq: 2 }), pack([[Buffer.from("k"), 0, 1, Buffer.from("v"), later]])]));
    expect(read(fresh, "PEXPIRETIME", "k")).toBe(later);
  });
});

describe("a time within the replicas' clock difference of overflowing", () => {
  // Applied at the same log position, with the same entry time, on two replicas whose clocks are
  // 2 s apart: the check that refuses an overflowing time must read the entry's time, as `mutate`
  // does, or one replica sets the key and the other refuses the command.
  const entryTime = 1_700_000_000_000;
  const nearMax = (9223372036854775807n - BigInt(entryTime) - 500n).toString();
  // As the node's executor applies an entry (a refusal is its result: the digests below compare).
  const apply = (machine: Clone, args: string[], index: number): void =>
    new Executor(machine, new Logger("quiet")).applyParsed(index, entryTime, [Command.of(args)], { before() {}, after() {} });
  for (const args of [
    ["SET", "k", "v", "PX", nearMax],
    ["PSETEX", "k", nearMax, "v"],
    ["PEXPIRE", "k", nearMax],
    ["GETEX", "k", "PX", nearMax],
  ]) {
    test(`${args.slice(0, 2).join(" ")} ... sets the same expiry on both`, () => {
      const replicas = [new Clone(), new Clone()];
      try {
        replicas.forEach((machine, i) => {
          setSystemTime(new Date(entryTime + (i === 0 ? -1000 : 1000)));
          apply(machine, ["SET", "k", "v"], 1);
          apply(machine, args, 2);
        });
      } finally {
        setSystemTime();
      }
      expect(replicas[0]!.keyspace.expiresCount).toBe(1);
      expect(keyspaceDigest(replicas[1]!.keyspace)).toBe(keyspaceDigest(replicas[0]!.keyspace));
    });
  }
});
