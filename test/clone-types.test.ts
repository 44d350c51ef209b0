/**
 * The clone's data types, command by command, in process (test/helpers/clone-harness.ts): every
 * write is applied on a leader and a replica machine as the executor does, and both must agree;
 * argument errors must not reach the log. Replies and error texts are Redis 7's (the ones that
 * also exist in the installed redis-server are compared against it in clone-redis-diff.test.ts).
 * Also: snapshots of every type (format 2, format 1 still read, copy-on-write while a snapshot is
 * written), SCAN's guarantee under concurrent changes, and the skip list against a simple model.
 */
import { describe, expect, setSystemTime, test } from "bun:test";
import fc from "fast-check";
import { pack } from "msgpackr";
import type { Applier, SnapshotReader } from "../src/api.ts";
import { Clone } from "../src/clone/machine.ts";
import { SkipList } from "../src/clone/zset.ts";
import { Command } from "../src/resp/reader.ts";
import { CloneHarness, RecordingConn, type Reply } from "./helpers/clone-harness.ts";

const wrongType = { error: "WRONGTYPE Operation against a key holding the wrong kind of value" };
const notInteger = { error: "ERR value is not an integer or out of range" };
const notFloat = { error: "ERR value is not a valid float" };
const syntax = { error: "ERR syntax error" };
const notPositive = { error: "ERR value is out of range, must be positive" };
const arity = (name: string) => ({ error: `ERR wrong number of arguments for '${name}' command` });

/** Runs `args` and checks the reply; an error reply must not have reached the log unless `logged`. */
function expectReply(h: CloneHarness, args: string[], expected: Reply, logged = false): void {
  const before = h.log.length;
  expect(h.run(...args)).toEqual(expected);
  if (expected !== null && typeof expected === "object" && "error" in expected && !logged) expect(h.log.length).toBe(before);
}

function agree(h: CloneHarness): void {
  const [leader, replica] = h.digests();
  expect(leader).toBe(replica);
}

describe("lists", () => {
  test("LPUSH, RPUSH, LRANGE, LLEN, LINDEX", () => {
    const h = new CloneHarness();
    expectReply(h, ["RPUSH", "l", "a", "b", "c"], 3);
    expectReply(h, ["LPUSH", "l", "x", "y"], 5);
    expectReply(h, ["LRANGE", "l", "0", "-1"], ["y", "x", "a", "b", "c"]);
    expectReply(h, ["LRANGE", "l", "1", "2"], ["x", "a"]);
    expectReply(h, ["LRANGE", "l", "-2", "100"], ["b", "c"]);
    expectReply(h, ["LRANGE", "l", "3", "1"], []);
    expectReply(h, ["LRANGE", "l", "-100", "0"], ["y"]);
    expectReply(h, ["LRANGE", "nope", "0", "-1"], []);
    expectReply(h, ["LLEN", "l"], 5);
    expectReply(h, ["LLEN", "nope"], 0);
    expectReply(h, ["LINDEX", "l", "0"], "y");
    expectReply(h, ["LINDEX", "l", "-1"], "c");
    expectReply(h, ["LINDEX", "l", "5"], null);
    expectReply(h, ["LINDEX", "nope", "0"], null);
    expectReply(h, ["LINDEX", "nope", "x"], null); // Redis looks at the key first
    expectReply(h, ["LINDEX", "l", "x"], notInteger);
    expectReply(h, ["LRANGE", "l", "0", "x"], notInteger);
    expectReply(h, ["LPUSH", "l"], arity("lpush"));
    expectReply(h, ["TYPE", "l"], "list");
    agree(h);
  });

  test("LPOP and RPOP, with and without a count; the last pop deletes the key", () => {
    const h = new CloneHarness();
    expectReply(h, ["RPUSH", "l", "1", "2", "3", "4", "5"], 5);
    expectReply(h, ["LPOP", "l"], "1");
    expectReply(h, ["RPOP", "l"], "5");
    expectReply(h, ["LPOP", "l", "2"], ["2", "3"]);
    expectReply(h, ["LPOP", "l", "0"], []);
    expectReply(h, ["RPOP", "l", "10"], ["4"]);
    expectReply(h, ["EXISTS", "l"], 0);
    expectReply(h, ["LPOP", "l"], null);
    expectReply(h, ["LPOP", "l", "1"], null);
    expect(h.run3("LPOP", "l", "1")).toBe(null);
    expectReply(h, ["LPOP", "l", "-1"], notPositive);
    expectReply(h, ["LPOP", "l", "x"], notPositive);
    expectReply(h, ["LPOP", "l", "1", "2"], arity("lpop"));
    agree(h);
  });

  test("LPUSHX, RPUSHX, LSET, LTRIM, LREM", () => {
    const h = new CloneHarness();
    expectReply(h, ["LPUSHX", "l", "a"], 0);
    expectReply(h, ["EXISTS", "l"], 0);
    expectReply(h, ["RPUSH", "l", "a", "b", "a", "c", "a"], 5);
    expectReply(h, ["RPUSHX", "l", "d"], 6);
    expectReply(h, ["LSET", "l", "1", "B"], "OK");
    expectReply(h, ["LSET", "l", "-1", "D"], "OK");
    expectReply(h, ["LSET", "l", "6", "x"], { error: "ERR index out of range" }, true);
    expectReply(h, ["LSET", "nope", "0", "x"], { error: "ERR no such key" }, true);
    expectReply(h, ["LSET", "l", "x", "x"], notInteger);
    expectReply(h, ["LRANGE", "l", "0", "-1"], ["a", "B", "a", "c", "a", "D"]);
    expectReply(h, ["LREM", "l", "-1", "a"], 1);
    expectReply(h, ["LRANGE", "l", "0", "-1"], ["a", "B", "a", "c", "D"]);
    expectReply(h, ["LREM", "l", "0", "a"], 2);
    expectReply(h, ["LTRIM", "l", "1", "-1"], "OK");
    expectReply(h, ["LRANGE", "l", "0", "-1"], ["c", "D"]);
    expectReply(h, ["LTRIM", "l", "5", "10"], "OK");
    expectReply(h, ["EXISTS", "l"], 0);
    agree(h);
  });

  test("a long list: pushes and pops at both ends keep order (ring buffer growth and shrink)", () => {
    const h = new CloneHarness();
    const model: string[] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) {
        h.run("LPUSH", "big", `v${i}`);
        model.unshift(`v${i}`);
      } else {
        h.run("RPUSH", "big", `v${i}`);
        model.push(`v${i}`);
      }
    }
    expect(h.run("LRANGE", "big", "0", "-1")).toEqual(model);
    expect(h.run("LPOP", "big", "250")).toEqual(model.splice(0, 250));
    expect(h.run("LRANGE", "big", "0", "-1")).toEqual(model);
    expect(h.run("LINDEX", "big", "10")).toBe(model[10] as string);
    agree(h);
  });
});

describe("sets", () => {
  test("SADD, SREM, SMEMBERS (a set in RESP3), SISMEMBER, SMISMEMBER, SCARD", () => {
    const h = new CloneHarness();
    expectReply(h, ["SADD", "s", "a", "b", "a", "c"], 3);
    expectReply(h, ["SADD", "s", "c", "d"], 1);
    expectReply(h, ["SCARD", "s"], 4);
    expectReply(h, ["SISMEMBER", "s", "a"], 1);
    expectReply(h, ["SISMEMBER", "s", "z"], 0);
    expectReply(h, ["SISMEMBER", "nope", "z"], 0);
    expectReply(h, ["SMISMEMBER", "s", "a", "z"], [1, 0]);
    expect((h.run("SMEMBERS", "s") as string[]).sort()).toEqual(["a", "b", "c", "d"]);
    const members = h.run3("SMEMBERS", "s") as { set: string[] };
    expect(members.set.sort()).toEqual(["a", "b", "c", "d"]);
    expect(h.run3("SMEMBERS", "nope")).toEqual({ set: [] });
    expectReply(h, ["SREM", "s", "a", "z"], 1);
    expectReply(h, ["SREM", "s", "b", "c", "d"], 3);
    expectReply(h, ["EXISTS", "s"], 0);
    expectReply(h, ["SCARD", "s"], 0);
    agree(h);
  });

  test("SPOP with and without a count: replicas pop the same members; the last pop deletes the key", () => {
    const h = new CloneHarness();
    const all = Array.from({ length: 50 }, (_, i) => `m${i}`);
    h.run("SADD", "s", ...all);
    const one = h.run("SPOP", "s") as string;
    expect(all).toContain(one);
    const some = h.run("SPOP", "s", "10") as string[];
    expect(some.length).toBe(10);
    expect(new Set([one, ...some]).size).toBe(11);
    const three = h.run3("SPOP", "s", "3") as { set: string[] };
    expect(three.set.length).toBe(3);
    agree(h); // the replica popped the same members
    expect(h.run("SCARD", "s")).toBe(36);
    expect((h.run("SPOP", "s", "100") as string[]).length).toBe(36);
    expectReply(h, ["EXISTS", "s"], 0);
    expectReply(h, ["SPOP", "s"], null);
    expectReply(h, ["SPOP", "s", "2"], []);
    expect(h.run3("SPOP", "s", "2")).toEqual({ set: [] });
    expectReply(h, ["SPOP", "s", "-1"], notPositive);
    expectReply(h, ["SPOP", "s", "1", "2"], syntax);
    agree(h);
  });

  test("the pops differ between log positions (the choice is random, not always the first member)", () => {
    const firsts = new Set<string>();
    for (let run = 0; run < 20; run++) {
      const h = new CloneHarness();
      for (let skip = 0; skip < run; skip++) h.run("SET", "x", "y"); // moves the log position
      h.run("SADD", "s", "a", "b", "c", "d", "e", "f", "g", "h");
      firsts.add(h.run("SPOP", "s") as string);
    }
    expect(firsts.size).toBeGreaterThan(2);
  });

  test("SRANDMEMBER reads without removing", () => {
    const h = new CloneHarness();
    h.run("SADD", "s", "a", "b", "c");
    expect(["a", "b", "c"]).toContain(h.run("SRANDMEMBER", "s") as string);
    expect((h.run("SRANDMEMBER", "s", "5") as string[]).sort()).toEqual(["a", "b", "c"]);
    expect((h.run("SRANDMEMBER", "s", "-5") as string[]).length).toBe(5);
    expectReply(h, ["SRANDMEMBER", "nope"], null);
    expectReply(h, ["SRANDMEMBER", "nope", "3"], []);
    expectReply(h, ["SCARD", "s"], 3);
  });
});

describe("hashes", () => {
  test("HSET, HMSET, HSETNX, HGET, HMGET, HGETALL (a map in RESP3), HLEN, HEXISTS, HKEYS, HVALS, HSTRLEN, HDEL", () => {
    const h = new CloneHarness();
    expectReply(h, ["HSET", "h", "a", "1", "b", "2"], 2);
    expectReply(h, ["HSET", "h", "a", "10", "c", "3"], 1);
    expectReply(h, ["HMSET", "h", "d", "4"], "OK");
    expectReply(h, ["HSETNX", "h", "d", "x"], 0);
    expectReply(h, ["HSETNX", "h", "e", "five"], 1);
    expectReply(h, ["HGET", "h", "a"], "10");
    expectReply(h, ["HGET", "h", "z"], null);
    expectReply(h, ["HGET", "nope", "z"], null);
    expectReply(h, ["HMGET", "h", "a", "z", "b"], ["10", null, "2"]);
    expectReply(h, ["HGETALL", "h"], ["a", "10", "b", "2", "c", "3", "d", "4", "e", "five"]);
    expect(h.run3("HGETALL", "h")).toEqual(new Map([["a", "10"], ["b", "2"], ["c", "3"], ["d", "4"], ["e", "five"]]));
    expect(h.run3("HGETALL", "nope")).toEqual(new Map());
    expectReply(h, ["HGETALL", "nope"], []);
    expectReply(h, ["HLEN", "h"], 5);
    expectReply(h, ["HEXISTS", "h", "a"], 1);
    expectReply(h, ["HEXISTS", "h", "z"], 0);
    expectReply(h, ["HKEYS", "h"], ["a", "b", "c", "d", "e"]);
    expectReply(h, ["HVALS", "h"], ["10", "2", "3", "4", "five"]);
    expectReply(h, ["HSTRLEN", "h", "e"], 4);
    expectReply(h, ["HSET", "h", "a"], arity("hset"));
    expectReply(h, ["HSET", "h", "a", "1", "b"], arity("hset"));
    expectReply(h, ["HMSET", "h", "a", "1", "b"], arity("hmset"));
    expectReply(h, ["HDEL", "h", "a", "z"], 1);
    expectReply(h, ["HDEL", "h", "b", "c", "d", "e"], 4);
    expectReply(h, ["EXISTS", "h"], 0);
    agree(h);
  });

  test("HINCRBY: creates, adds, refuses non-integers and overflow", () => {
    const h = new CloneHarness();
    expectReply(h, ["HINCRBY", "h", "n", "5"], 5);
    expectReply(h, ["HINCRBY", "h", "n", "-7"], -2);
    expectReply(h, ["HINCRBY", "h", "n", "x"], notInteger);
    expectReply(h, ["HINCRBY", "h", "n", "1.5"], notInteger);
    h.run("HSET", "h", "s", "text", "big", "9223372036854775806");
    expectReply(h, ["HINCRBY", "h", "s", "1"], { error: "ERR hash value is not an integer" }, true);
    expectReply(h, ["HINCRBY", "h", "big", "1"], 9223372036854775807n);
    expectReply(h, ["HINCRBY", "h", "big", "1"], { error: "ERR increment or decrement would overflow" }, true);
    expectReply(h, ["HGET", "h", "big"], "9223372036854775807");
    agree(h);
  });
});

describe("sorted sets", () => {
  test("ZADD, ZSCORE (a double in RESP3), ZCARD, ZRANGE with WITHSCORES (pairs in RESP3), ZREM", () => {
    const h = new CloneHarness();
    expectReply(h, ["ZADD", "z", "1", "a", "2", "b", "3", "c"], 3);
    expectReply(h, ["ZADD", "z", "1.5", "a", "4", "d"], 1);
    expectReply(h, ["ZCARD", "z"], 4);
    expectReply(h, ["ZSCORE", "z", "a"], "1.5");
    expect(h.run3("ZSCORE", "z", "a")).toEqual({ double: 1.5 });
    expectReply(h, ["ZSCORE", "z", "zz"], null);
    expectReply(h, ["ZSCORE", "nope", "zz"], null);
    expectReply(h, ["ZMSCORE", "z", "a", "zz", "d"], ["1.5", null, "4"]);
    expectReply(h, ["ZRANGE", "z", "0", "-1"], ["a", "b", "c", "d"]);
    expectReply(h, ["ZRANGE", "z", "0", "1", "WITHSCORES"], ["a", "1.5", "b", "2"]);
    expect(h.run3("ZRANGE", "z", "0", "1", "WITHSCORES")).toEqual([["a", { double: 1.5 }], ["b", { double: 2 }]]);
    expectReply(h, ["ZRANGE", "z", "-2", "-1"], ["c", "d"]);
    expectReply(h, ["ZRANGE", "z", "0", "-1", "REV"], ["d", "c", "b", "a"]);
    expectReply(h, ["ZREVRANGE", "z", "0", "1", "WITHSCORES"], ["d", "4", "c", "3"]);
    expectReply(h, ["ZRANGE", "z", "5", "10"], []);
    expectReply(h, ["ZRANGE", "nope", "0", "-1"], []);
    expectReply(h, ["ZRANK", "z", "c"], 2);
    expectReply(h, ["ZREVRANK", "z", "c"], 1);
    expectReply(h, ["ZRANK", "z", "zz"], null);
    expectReply(h, ["ZREM", "z", "a", "zz"], 1);
    expectReply(h, ["ZREM", "z", "b", "c", "d"], 3);
    expectReply(h, ["EXISTS", "z"], 0);
    agree(h);
  });

  test("equal scores order by member bytes; -inf and +inf scores", () => {
    const h = new CloneHarness();
    h.run("ZADD", "z", "1", "b", "1", "a", "1", "c", "-inf", "low", "+inf", "high", "0", "\u00ff", "0", "\u0001");
    // Arguments are sent as UTF-8 and replies read as latin1: "\u00ff" is the bytes c3 bf.
    expectReply(h, ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["low", "-inf", "\u0001", "0", "\u00c3\u00bf", "0", "a", "1", "b", "1", "c", "1", "high", "inf"]);
  });

  test("ZADD options: NX, XX, GT, LT, CH, INCR, and their errors", () => {
    const h = new CloneHarness();
    expectReply(h, ["ZADD", "z", "XX", "1", "a"], 0);
    expectReply(h, ["EXISTS", "z"], 0); // XX on a missing key makes no key
    expectReply(h, ["ZADD", "z", "1", "a", "2", "b"], 2);
    expectReply(h, ["ZADD", "z", "NX", "5", "a", "3", "c"], 1);
    expectReply(h, ["ZSCORE", "z", "a"], "1");
    expectReply(h, ["ZADD", "z", "XX", "CH", "5", "a", "9", "new"], 1);
    expectReply(h, ["ZSCORE", "z", "new"], null);
    expectReply(h, ["ZADD", "z", "GT", "CH", "4", "a", "10", "b"], 1); // a stays 5, b goes up
    expectReply(h, ["ZADD", "z", "LT", "CH", "4", "a", "20", "b"], 1);
    expectReply(h, ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["c", "3", "a", "4", "b", "10"]);
    expectReply(h, ["ZADD", "z", "CH", "4", "a", "1", "d"], 1); // unchanged score: not counted
    expectReply(h, ["ZADD", "z", "INCR", "2.5", "a"], "6.5");
    expect(h.run3("ZADD", "z", "INCR", "1", "a")).toEqual({ double: 7.5 });
    expectReply(h, ["ZADD", "z", "NX", "INCR", "1", "a"], null);
    expectReply(h, ["ZADD", "z", "XX", "INCR", "1", "nobody"], null);
    expectReply(h, ["ZADD", "z", "GT", "INCR", "-1", "a"], null);
    expectReply(h, ["ZINCRBY", "z", "10", "a"], "17.5");
    expectReply(h, ["ZINCRBY", "z", "x", "a"], notFloat);
    expectReply(h, ["ZADD", "z", "NX", "XX", "1", "a"], { error: "ERR XX and NX options at the same time are not compatible" });
    expectReply(h, ["ZADD", "z", "GT", "LT", "1", "a"], { error: "ERR GT, LT, and/or NX options at the same time are not compatible" });
    expectReply(h, ["ZADD", "z", "NX", "GT", "1", "a"], { error: "ERR GT, LT, and/or NX options at the same time are not compatible" });
    expectReply(h, ["ZADD", "z", "INCR", "1", "a", "2", "b"], { error: "ERR INCR option supports a single increment-element pair" });
    expectReply(h, ["ZADD", "z", "1", "a", "2"], syntax);
    expectReply(h, ["ZADD", "z", "NX"], arity("zadd"));
    expectReply(h, ["ZADD", "z", "NX", "1"], syntax);
    expectReply(h, ["ZADD", "z", "x", "a"], notFloat);
    expectReply(h, ["ZADD", "z", "1", "a", "nan", "b"], notFloat);
    expectReply(h, ["ZADD", "z", "1e400", "a"], notFloat);
    expectReply(h, ["ZADD", "z", " 1", "a"], notFloat);
    h.run("ZADD", "inf", "+inf", "m");
    expectReply(h, ["ZINCRBY", "inf", "-inf", "m"], { error: "ERR resulting score is not a number (NaN)" }, true);
    expectReply(h, ["ZSCORE", "inf", "m"], "inf");
    agree(h);
  });

  test("ZRANGEBYSCORE and ZRANGE BYSCORE: inclusive and exclusive bounds, infinities, LIMIT, REV", () => {
    const h = new CloneHarness();
    h.run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e");
    expectReply(h, ["ZRANGEBYSCORE", "z", "2", "4"], ["b", "c", "d"]);
    expectReply(h, ["ZRANGEBYSCORE", "z", "(2", "(4"], ["c"]);
    expectReply(h, ["ZRANGEBYSCORE", "z", "-inf", "+inf"], ["a", "b", "c", "d", "e"]);
    expectReply(h, ["ZRANGEBYSCORE", "z", "(1", "inf", "WITHSCORES", "LIMIT", "1", "2"], ["c", "3", "d", "4"]);
    expectReply(h, ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "-1"], ["c", "d", "e"]);
    expectReply(h, ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"], []);
    expectReply(h, ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "5", "2"], []);
    expectReply(h, ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"], []);
    expectReply(h, ["ZRANGEBYSCORE", "z", "4", "2"], []);
    expectReply(h, ["ZRANGEBYSCORE", "z", "(2", "2"], []);
    expectReply(h, ["ZREVRANGEBYSCORE", "z", "4", "(1", "LIMIT", "1", "10"], ["c", "b"]);
    expectReply(h, ["ZRANGE", "z", "(4", "2", "BYSCORE", "REV"], ["c", "b"]);
    expectReply(h, ["ZRANGE", "z", "2", "+inf", "BYSCORE", "LIMIT", "1", "1", "WITHSCORES"], ["c", "3"]);
    expectReply(h, ["ZCOUNT", "z", "(1", "4"], 3);
    expectReply(h, ["ZCOUNT", "z", "6", "+inf"], 0);
    expectReply(h, ["ZCOUNT", "nope", "-inf", "+inf"], 0);
    expectReply(h, ["ZRANGEBYSCORE", "z", "x", "4"], { error: "ERR min or max is not a float" });
    expectReply(h, ["ZRANGEBYSCORE", "z", "(", "4"], ["a", "b", "c", "d"]); // strtod reads "" as 0
    expectReply(h, ["ZRANGEBYSCORE", "z", "1", "nan"], { error: "ERR min or max is not a float" });
    expectReply(h, ["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"], syntax);
    expectReply(h, ["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"], notInteger);
    expectReply(h, ["ZRANGEBYSCORE", "z", "1", "2", "REV"], syntax);
    expectReply(h, ["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], { error: "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" });
    expectReply(h, ["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], syntax);
    expectReply(h, ["ZRANGE", "z", "x", "1"], notInteger);
    agree(h);
  });

  test("ZRANGE BYLEX, ZRANGEBYLEX, ZREVRANGEBYLEX", () => {
    const h = new CloneHarness();
    h.run("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d");
    expectReply(h, ["ZRANGEBYLEX", "z", "-", "+"], ["a", "b", "c", "d"]);
    expectReply(h, ["ZRANGEBYLEX", "z", "[b", "(d"], ["b", "c"]);
    expectReply(h, ["ZRANGEBYLEX", "z", "(a", "+", "LIMIT", "1", "1"], ["c"]);
    expectReply(h, ["ZREVRANGEBYLEX", "z", "+", "[b"], ["d", "c", "b"]);
    expectReply(h, ["ZRANGE", "z", "[c", "-", "BYLEX", "REV"], ["c", "b", "a"]);
    expectReply(h, ["ZRANGEBYLEX", "z", "b", "+"], { error: "ERR min or max not valid string range item" });
    expectReply(h, ["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"], { error: "ERR syntax error, WITHSCORES not supported in combination with BYLEX" });
  });

  test("ZPOPMIN and ZPOPMAX: flat pairs without a count, nested in RESP3 with one; the last pop deletes", () => {
    const h = new CloneHarness();
    h.run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d");
    expectReply(h, ["ZPOPMIN", "z"], ["a", "1"]);
    expect(h.run3("ZPOPMIN", "z")).toEqual(["b", { double: 2 }]);
    expect(h.run3("ZPOPMAX", "z", "1")).toEqual([["d", { double: 4 }]]);
    expectReply(h, ["ZPOPMAX", "z", "5"], ["c", "3"]);
    expectReply(h, ["EXISTS", "z"], 0);
    expectReply(h, ["ZPOPMIN", "z"], []);
    expectReply(h, ["ZPOPMIN", "z", "0"], []);
    expectReply(h, ["ZPOPMIN", "z", "-1"], notPositive);
    expectReply(h, ["ZPOPMIN", "z", "1", "2"], syntax);
    h.run("SET", "str", "x");
    const logged = h.log.length;
    expectReply(h, ["ZPOPMIN", "str", "0"], wrongType, true);
    expect(h.log.length).toBe(logged); // count 0 pops nothing: answered as a read
    expectReply(h, ["ZPOPMIN", "z", "0"], []);
    expectReply(h, ["ZPOPMIN", "str"], wrongType, true);
    agree(h);
  });

  test("a large sorted set: ranks, ranges and pops agree with a sorted model", () => {
    const h = new CloneHarness();
    const model = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const member = `m${(i * 7919) % 1500}`;
      const score = (i * 104729) % 997;
      h.run("ZADD", "big", String(score), member);
      model.set(member, score);
    }
    const sorted = [...model].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0)).map(([member]) => member);
    expect(h.run("ZCARD", "big")).toBe(sorted.length);
    expect(h.run("ZRANGE", "big", "0", "-1")).toEqual(sorted);
    expect(h.run("ZRANGE", "big", "700", "709")).toEqual(sorted.slice(700, 710));
    expect(h.run("ZREVRANGE", "big", "0", "4")).toEqual(sorted.slice(-5).reverse());
    expect(h.run("ZRANK", "big", sorted[1234] as string)).toBe(1234);
    const inRange = sorted.filter((member) => (model.get(member) as number) > 100 && (model.get(member) as number) <= 200);
    expect(h.run("ZRANGEBYSCORE", "big", "(100", "200")).toEqual(inRange);
    expect(h.run("ZCOUNT", "big", "(100", "200")).toBe(inRange.length);
    expect(h.run("ZRANGEBYSCORE", "big", "(100", "200", "LIMIT", "10", "5")).toEqual(inRange.slice(10, 15));
    expect((h.run("ZPOPMIN", "big", "3") as string[]).filter((_, i) => i % 2 === 0)).toEqual(sorted.slice(0, 3));
    agree(h);
  });
});

describe("streams (minimal)", () => {
  test("XADD with *, ms-*, explicit ids; XLEN, XRANGE, XREVRANGE; trimming; errors", () => {
    const h = new CloneHarness();
    h.time = 1000;
    expectReply(h, ["XADD", "s", "*", "f", "v"], "1000-0");
    expectReply(h, ["XADD", "s", "*", "f", "v2"], "1000-1"); // the same entry time: the sequence goes up
    h.time = 999; // a clock behind the last id still makes a larger id
    expectReply(h, ["XADD", "s", "*", "f", "v3"], "1000-2");
    expectReply(h, ["XADD", "s", "1000-*", "f", "v4"], "1000-3");
    expectReply(h, ["XADD", "s", "2000", "f", "v5"], "2000-0");
    expectReply(h, ["XADD", "s", "2000-0", "f", "x"], { error: "ERR The ID specified in XADD is equal or smaller than the target stream top item" }, true);
    expectReply(h, ["XADD", "s", "0-0", "f", "x"], { error: "ERR The ID specified in XADD must be greater than 0-0" });
    expectReply(h, ["XADD", "s", "bad", "f", "x"], { error: "ERR Invalid stream ID specified as stream command argument" });
    expectReply(h, ["XADD", "s", "*", "f"], arity("xadd"));
    expectReply(h, ["XLEN", "s"], 5);
    expectReply(h, ["XRANGE", "s", "-", "+", "COUNT", "2"], [["1000-0", ["f", "v"]], ["1000-1", ["f", "v2"]]]);
    expectReply(h, ["XRANGE", "s", "(1000-2", "+"], [["1000-3", ["f", "v4"]], ["2000-0", ["f", "v5"]]]);
    expectReply(h, ["XREVRANGE", "s", "+", "1000-3", "COUNT", "1"], [["2000-0", ["f", "v5"]]]);
    expectReply(h, ["XRANGE", "s", "1000", "1000"], [["1000-0", ["f", "v"]], ["1000-1", ["f", "v2"]], ["1000-2", ["f", "v3"]], ["1000-3", ["f", "v4"]]]);
    expectReply(h, ["XRANGE", "s", "-", "+", "COUNT", "0"], null);
    expectReply(h, ["XRANGE", "nope", "-", "+"], []);
    expectReply(h, ["XADD", "s", "MAXLEN", "2", "*", "f", "v6"], "2000-1");
    expectReply(h, ["XLEN", "s"], 2);
    expectReply(h, ["XADD", "nope", "NOMKSTREAM", "*", "f", "v"], null);
    expectReply(h, ["EXISTS", "nope"], 0);
    expectReply(h, ["XADD", "s", "MAXLEN", "1", "LIMIT", "5", "*", "f", "v"], { error: "ERR syntax error, LIMIT cannot be used without the special ~ option" });
    expectReply(h, ["XADD", "s", "MAXLEN", "~", "1", "*", "f", "v"], "2000-2"); // approximate: nothing trimmed
    expectReply(h, ["XLEN", "s"], 3);
    expectReply(h, ["XADD", "s", "MINID", "2000-2", "*", "f", "v"], "2000-3");
    expectReply(h, ["XLEN", "s"], 2);
    expectReply(h, ["TYPE", "s"], "stream");
    agree(h);
  });
});

describe("keyspace commands over every type", () => {
  function fill(h: CloneHarness): void {
    h.run("SET", "str", "v");
    h.run("RPUSH", "list", "a");
    h.run("SADD", "set", "a");
    h.run("HSET", "hash", "f", "v");
    h.run("ZADD", "zset", "1", "a");
    h.run("XADD", "stream", "1-1", "f", "v");
  }

  test("TYPE, EXISTS, DEL, DBSIZE, KEYS, FLUSHALL", () => {
    const h = new CloneHarness();
    fill(h);
    for (const [key, type] of [["str", "string"], ["list", "list"], ["set", "set"], ["hash", "hash"], ["zset", "zset"], ["stream", "stream"], ["nope", "none"]]) {
      expectReply(h, ["TYPE", key as string], type as string);
    }
    expectReply(h, ["EXISTS", "str", "list", "set", "hash", "zset", "stream", "nope", "list"], 7);
    expectReply(h, ["DBSIZE"], 6);
    expectReply(h, ["KEYS", "*"], ["hash", "list", "set", "str", "stream", "zset"]);
    expectReply(h, ["KEYS", "s*"], ["set", "str", "stream"]);
    expectReply(h, ["DEL", "list", "set", "nope"], 2);
    expectReply(h, ["DBSIZE"], 4);
    expectReply(h, ["FLUSHALL", "x"], syntax);
    expectReply(h, ["FLUSHALL"], "OK");
    expectReply(h, ["DBSIZE"], 0);
    agree(h);
  });

  test("every command refuses a key of the wrong type with WRONGTYPE; nothing changes", () => {
    const h = new CloneHarness();
    fill(h);
    const before = h.digests()[0];
    const onString: string[][] = [
      ["LPUSH", "str", "x"], ["RPUSH", "str", "x"], ["LPUSHX", "str", "x"], ["LPOP", "str"], ["RPOP", "str", "2"], ["LRANGE", "str", "0", "1"],
      ["LLEN", "str"], ["LINDEX", "str", "0"], ["LSET", "str", "0", "x"], ["LTRIM", "str", "0", "1"], ["LREM", "str", "0", "x"],
      ["SADD", "str", "x"], ["SREM", "str", "x"], ["SMEMBERS", "str"], ["SISMEMBER", "str", "x"], ["SMISMEMBER", "str", "x"], ["SCARD", "str"],
      ["SPOP", "str"], ["SPOP", "str", "1"], ["SRANDMEMBER", "str"],
      ["HSET", "str", "f", "v"], ["HMSET", "str", "f", "v"], ["HSETNX", "str", "f", "v"], ["HGET", "str", "f"], ["HMGET", "str", "f"], ["HGETALL", "str"],
      ["HDEL", "str", "f"], ["HINCRBY", "str", "f", "1"], ["HLEN", "str"], ["HEXISTS", "str", "f"], ["HKEYS", "str"], ["HVALS", "str"], ["HSTRLEN", "str", "f"],
      ["ZADD", "str", "1", "a"], ["ZINCRBY", "str", "1", "a"], ["ZREM", "str", "a"], ["ZSCORE", "str", "a"], ["ZMSCORE", "str", "a"], ["ZCARD", "str"],
      ["ZRANK", "str", "a"], ["ZCOUNT", "str", "0", "1"], ["ZRANGE", "str", "0", "1"], ["ZRANGEBYSCORE", "str", "0", "1"], ["ZRANGEBYLEX", "str", "-", "+"],
      ["ZPOPMIN", "str"], ["ZPOPMAX", "str", "2"],
      ["XADD", "str", "*", "f", "v"], ["XLEN", "str"], ["XRANGE", "str", "-", "+"],
    ];
    for (const args of onString) expect([args, h.run(...args)]).toEqual([args, wrongType]);
    for (const args of [["GET", "list"], ["INCR", "list"], ["INCRBY", "set", "2"], ["DECR", "hash"], ["APPEND", "zset", "x"], ["STRLEN", "stream"], ["LPUSH", "set", "x"], ["SADD", "list", "x"], ["HSET", "zset", "f", "v"], ["ZADD", "hash", "1", "m"]]) {
      expect([args, h.run(...args)]).toEqual([args, wrongType]);
    }
    expect(h.digests()[0]).toBe(before);
    // MGET answers null for a key of another type; SET and MSET overwrite any type.
    expectReply(h, ["MGET", "str", "list", "nope"], ["v", null, null]);
    expectReply(h, ["SET", "list", "now a string"], "OK");
    expectReply(h, ["MSET", "set", "s", "hash", "h"], "OK");
    expectReply(h, ["TYPE", "list"], "string");
    expectReply(h, ["GET", "hash"], "h");
    agree(h);
  });

  test("RENAME and RENAMENX move a value of any type", () => {
    const h = new CloneHarness();
    fill(h);
    expectReply(h, ["RENAME", "zset", "z2"], "OK");
    expectReply(h, ["ZSCORE", "z2", "a"], "1");
    expectReply(h, ["EXISTS", "zset"], 0);
    expectReply(h, ["RENAME", "list", "str"], "OK"); // overwrites a key of another type
    expectReply(h, ["TYPE", "str"], "list");
    expectReply(h, ["RENAME", "str", "str"], "OK");
    expectReply(h, ["RENAME", "nope", "x"], { error: "ERR no such key" }, true);
    expectReply(h, ["RENAMENX", "set", "hash"], 0);
    expectReply(h, ["RENAMENX", "set", "set2"], 1);
    expectReply(h, ["RENAMENX", "nope", "x"], { error: "ERR no such key" }, true);
    expectReply(h, ["KEYS", "*"], ["hash", "set2", "str", "stream", "z2"]);
    agree(h);
  });

  test("SCAN: cursors, COUNT, MATCH, TYPE, and their errors", () => {
    const h = new CloneHarness();
    for (let i = 0; i < 25; i++) h.run("SET", `k${i}`, "v");
    h.run("RPUSH", "list", "a");
    h.run("SADD", "kset", "a");
    const seen: string[] = [];
    let cursor = "0";
    let steps = 0;
    do {
      const [next, keys] = h.run("SCAN", cursor, "COUNT", "4") as [string, string[]];
      expect(keys.length).toBeLessThanOrEqual(4);
      seen.push(...keys);
      cursor = next;
      steps++;
    } while (cursor !== "0" && steps < 100);
    expect(seen.sort()).toEqual([...Array.from({ length: 25 }, (_, i) => `k${i}`), "kset", "list"].sort());
    const [, all] = h.run("SCAN", "0", "COUNT", "1000", "MATCH", "k1*") as [string, string[]];
    expect(all.sort()).toEqual(["k1", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19"]);
    expect(h.run("SCAN", "0", "COUNT", "1000", "TYPE", "list")).toEqual(["0", ["list"]]);
    expect(h.run("SCAN", "0", "COUNT", "1000", "TYPE", "SET", "MATCH", "k*")).toEqual(["0", ["kset"]]);
    expect(h.run("SCAN", "0", "COUNT", "1000", "TYPE", "nosuchtype")).toEqual(["0", []]);
    expectReply(h, ["SCAN", "x"], { error: "ERR invalid cursor" });
    expectReply(h, ["SCAN", " 1"], { error: "ERR invalid cursor" });
    expectReply(h, ["SCAN", "18446744073709551616"], { error: "ERR invalid cursor" });
    // As strtoul reads it, "-1" is 2^64-1: past every key. "" reads as 0.
    expect(h.run("SCAN", "-1")).toEqual(["0", []]);
    expect((h.run("SCAN", "", "COUNT", "1000") as [string, string[]])[1].length).toBe(27);
    expectReply(h, ["SCAN", "0", "COUNT", "0"], syntax);
    expectReply(h, ["SCAN", "0", "COUNT", "x"], notInteger);
    expectReply(h, ["SCAN", "0", "MATCH"], syntax);
    expectReply(h, ["SCAN", "0", "FOO", "bar"], syntax);
    expect(h.run("SCAN", "99999")).toEqual(["0", []]);
  });

  test("SCAN returns every key present for the whole scan, whatever is added and removed meanwhile", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("add", "del", "scan"), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 7 })), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 0, max: 60 }),
        (operations, initial) => {
          const h = new CloneHarness();
          const present = new Set<string>();
          for (let i = 0; i < initial; i++) {
            h.run("SADD", `key${i}`, "m");
            present.add(`key${i}`);
          }
          const everPresentAtStart = new Set(present);
          const removedDuring = new Set<string>();
          const seen = new Set<string>();
          let cursor = "0";
          let finished = false;
          const step = (count: number): void => {
            const [next, keys] = h.run("SCAN", cursor, "COUNT", String(count)) as [string, string[]];
            for (const key of keys) seen.add(key);
            cursor = next;
            if (next === "0") finished = true;
          };
          for (const [kind, n, count] of operations) {
            if (finished) break;
            if (kind === "add") {
              h.run("SADD", `key${n}`, "m");
              present.add(`key${n}`);
            } else if (kind === "del") {
              h.run("DEL", `key${n}`);
              if (present.delete(`key${n}`)) removedDuring.add(`key${n}`);
            } else {
              step(count);
            }
          }
          for (let guard = 0; !finished && guard < 1000; guard++) step(5);
          expect(finished).toBe(true);
          for (const key of everPresentAtStart) if (!removedDuring.has(key)) expect(seen.has(key)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("DEBUG DIGEST: equal for equal data whatever the order it was built in; DIGEST-VALUE per key", () => {
    const a = new CloneHarness();
    const b = new CloneHarness();
    expect(a.run("DEBUG", "DIGEST")).toBe("0".repeat(40));
    a.run("SADD", "s", "x", "y", "z");
    a.run("HSET", "h", "f", "1", "g", "2");
    b.run("HSET", "h", "g", "2", "f", "1");
    b.run("SADD", "s", "z", "y");
    b.run("SADD", "s", "x");
    expect(a.run("DEBUG", "DIGEST")).toBe(b.run("DEBUG", "DIGEST"));
    b.run("SADD", "s", "w");
    expect(a.run("DEBUG", "DIGEST")).not.toBe(b.run("DEBUG", "DIGEST"));
    const [digest, missing] = a.run("DEBUG", "DIGEST-VALUE", "s", "nope") as string[];
    expect(digest).toMatch(/^[0-9a-f]{40}$/);
    expect(missing).toBe("0".repeat(40));
    expect(a.run("DEBUG", "NOPE")).toEqual({ error: "ERR unknown subcommand 'NOPE'. Try DEBUG HELP." });
  });
});

describe("argument errors never reach the log", () => {
  test("every malformed command is refused before apply", () => {
    const h = new CloneHarness();
    const bad: string[][] = [
      ["LPOP", "k", "x"], ["RPOP", "k", "-2"], ["LSET", "k", "x", "v"], ["LTRIM", "k", "a", "1"], ["LREM", "k", "x", "v"],
      ["SPOP", "k", "x"], ["SPOP", "k", "1", "2"], ["HSET", "k", "f"], ["HINCRBY", "k", "f", "1.0"],
      ["ZADD", "k", "x", "m"], ["ZADD", "k", "NX", "XX", "1", "m"], ["ZINCRBY", "k", "x", "m"], ["ZPOPMIN", "k", "x"],
      ["XADD", "k", "bad", "f", "v"], ["XADD", "k", "0-0", "f", "v"], ["XADD", "k", "MAXLEN", "-1", "*", "f", "v"], ["XADD", "k", "*", "f"],
      ["MSET", "a", "1", "b"], ["INCRBY", "k", "x"], ["FLUSHALL", "x"], ["SET", "k", "v", "EX", "0"],
      ["SET", "k", "v", "EX"], ["SET", "k", "v", "NX", "XX"], ["SET", "k", "v", "EX", "1", "KEEPTTL"], ["SETEX", "k", "x", "v"],
      ["EXPIRE", "k", "x"], ["EXPIRE", "k", "1", "NX", "XX"], ["GETEX", "k", "EX"], ["PEXPIRE", "k", "1", "FOO"],
      ["XTRIM", "k", "MAXLEN", "-1"], ["XTRIM", "k", "LIMIT", "5"], ["XTRIM", "k", "MAXLEN", "1", "LIMIT", "1"], ["XDEL", "k"],
      ["XREAD", "BLOCK", "-1", "STREAMS", "k", "0"], ["XREAD", "BLOCK", "0", "STREAMS", "k"], ["XREAD", "BLOCK", "0", "STREAMS", "k", "bad"],
      ["XREAD", "BLOCK", "0", "STREAMS", "k", ">"],
    ];
    for (const args of bad) {
      const reply = h.run(...args);
      expect([args, typeof reply === "object" && reply !== null && "error" in reply]).toEqual([args, true]);
    }
    // XDEL with a bad id answers 0 for a missing key (as Redis), as a read.
    expect(h.run("XDEL", "k", "bad")).toBe(0);
    expect(h.log).toEqual([]);
  });
});

/** A snapshot writer that keeps the chunks, and a reader over them. */
function memorySnapshot(): { writer: { write(bytes: Uint8Array): Promise<void> }; chunks: Uint8Array[]; reader(): SnapshotReader } {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    writer: {
      async write(bytes: Uint8Array) {
        chunks.push(bytes.slice());
        await Bun.sleep(0); // let other work run between records, as a real writer does
      },
    },
    reader: () => ({
      readAll: async () => Buffer.concat(chunks),
      chunks: async function* () {
        yield* chunks;
      },
    }),
  };
}

const readApplier: Applier = { apply: (_c, _cmd, _m, respond) => (respond as ((value: unknown) => void) | null)?.(undefined) };

/** A read on one machine (no harness), through a read-only applier. */
function read(clone: Clone, ...args: string[]): Reply {
  const conn = new RecordingConn(2);
  const returned = clone.command(readApplier, conn, Command.of(args));
  if (returned instanceof Error) throw returned;
  return conn.replies[0] as Reply;
}

function digestOf(clone: Clone): string {
  return read(clone, "DEBUG", "DIGEST") as string;
}

describe("snapshots", () => {
  function filled(): CloneHarness {
    const h = new CloneHarness();
    h.run("SET", "str", "value");
    h.run("SET", "bin", "\u0000\u00ff\r\n");
    // A bitmap changed in place: a view on bytes with spare room after it (only the view is written).
    for (const offset of ["7", "900", "100000", "100001"]) h.run("SETBIT", "bitmap", offset, "1");
    h.run("RPUSH", "list", ...Array.from({ length: 10_000 }, (_, i) => `e${i}`)); // spans several records
    h.run("RPUSH", "binlist", "", "\u0000\u00ff\r\n", "x".repeat(70_000), ""); // packed: empty, binary and long elements
    // Values of 64 KB or more are records of their own, their msgpack made around them by hand.
    h.run("SET", "big", "b".repeat(200_000));
    h.run("SET", "k".repeat(300), "\u0000".repeat(70_000), "PX", "1000000000");
    h.run("SET", "small-after-big", "s");
    h.run("SADD", "set", ...Array.from({ length: 5000 }, (_, i) => `m${i}`));
    h.run("SPOP", "set", "7");
    h.run("HSET", "hash", ...Array.from({ length: 9000 }, (_, i) => [`f${i}`, `v${i}`]).flat());
    h.run("ZADD", "zset", "-inf", "low", "+inf", "high", "-0", "negzero", "1.25", "a", ...Array.from({ length: 5000 }, (_, i) => [String(i / 7), `z${i}`]).flat());
    h.time = 5000;
    h.run("XADD", "stream", "*", "f", "v");
    h.run("XADD", "stream", "*", "g", "w");
    h.run("XADD", "emptied", "MAXLEN", "0", "*", "f", "v"); // a stream may be empty
    // Consumer groups (format 6): consumers with and without pending entries, a NOACK reader, a claim.
    h.run("XGROUP", "CREATE", "stream", "g", "0");
    h.run("XGROUP", "CREATE", "stream", "h", "$", "ENTRIESREAD", "2");
    h.run("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "stream", ">");
    h.run("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "stream", ">");
    h.time = 6000;
    h.run("XCLAIM", "stream", "g", "carol", "0", "5000-1", "RETRYCOUNT", "4");
    h.run("XGROUP", "CREATECONSUMER", "stream", "h", "dave");
    h.run("XREADGROUP", "GROUP", "h", "erin", "NOACK", "STREAMS", "stream", ">");
    h.run("XDEL", "stream", "5000-0");
    h.run("XGROUP", "CREATE", "emptied", "\u0000\u00ff", "0");
    // Streams whose nodes are not what appending alone makes (approximate trimming depends on
    // them): an exact trim, deletes around a record's edge, and a node with nothing live in it.
    for (let i = 1; i <= 2500; i++) h.run("XADD", "nodes", `${i}-0`, "f", String(i));
    h.run("XTRIM", "nodes", "MAXLEN", "2450");
    h.run("XDEL", "nodes", ...Array.from({ length: 40 }, (_, i) => `${1000 + i}-0`), "1100-0", "2500-0");
    for (let i = 1; i <= 200; i++) h.run("XADD", "nodes0", `${i}-0`, "f", "v");
    h.run("XDEL", "nodes0", "200-0");
    h.run("XTRIM", "nodes0", "MINID", "200");
    for (let i = 201; i <= 210; i++) h.run("XADD", "nodes0", `${i}-0`, "f", "v");
    for (let i = 0; i < 40; i++) h.run("SET", `tmp${i}`, "x");
    for (let i = 0; i < 40; i += 2) h.run("DEL", `tmp${i}`);
    return h;
  }

  test("every type round-trips through a snapshot; SCAN cursors continue on the restored node", async () => {
    const h = filled();
    const memory = memorySnapshot();
    await h.leader.snapshot(memory.writer);
    expect(memory.chunks.length).toBeGreaterThan(5);
    const restored = new Clone();
    await restored.restore(memory.reader());
    expect(digestOf(restored)).toBe(h.digests()[0]);
    expect(restored.size).toBe(h.leader.size);
    // The same SCAN steps on both give the same keys (sequence numbers travel with the snapshot).
    const scanAll = (clone: Clone): string[] => {
      const out: string[] = [];
      let cursor = "0";
      do {
        const [next, keys] = read(clone, "SCAN", cursor, "COUNT", "3") as [string, string[]];
        out.push(`${cursor}:${keys.join(",")}`);
        cursor = next;
      } while (cursor !== "0");
      return out;
    };
    expect(scanAll(restored)).toEqual(scanAll(h.leader));
    // And the restored node keeps working: a write after restore.
    const after = new CloneHarness();
    await after.leader.restore(memory.reader());
    await after.replica.restore(memory.reader());
    expect(after.run("LPOP", "list")).toBe("e0");
    expect(after.run("ZSCORE", "zset", "negzero")).toBe("0"); // -0 is kept as 0, as Redis answers
    expect(after.run("XADD", "stream", "*", "h", "x")).toBe(`${after.time}-0`);
    expect(after.run("XLEN", "emptied")).toBe(0);
    expect(after.run("TYPE", "emptied")).toBe("stream");
    // The nodes came back as they were (the digest covers them), so trimming removes the same.
    // (Appended afresh, 2408 entries would fill the first node: 100 would go.)
    expect(after.run("XTRIM", "nodes", "MAXLEN", "~", "2300")).toBe(50);
    expect(after.run("XTRIM", "nodes0", "MAXLEN", "~", "0", "LIMIT", "10")).toBe(10);
  });

  test("a snapshot is point-in-time: writes while it is being written do not leak into it", async () => {
    const h = filled();
    const expected = h.digests()[0];
    const memory = memorySnapshot();
    const writing = h.leader.snapshot(memory.writer);
    // While the snapshot streams (its writer yields between records), change every type.
    for (let i = 0; i < 20; i++) {
      h.run("RPUSH", "list", "new");
      h.run("LPOP", "list");
      h.run("SADD", "set", `new${i}`);
      h.run("HSET", "hash", "f1", `changed${i}`);
      h.run("ZADD", "zset", "1000", `new${i}`);
      h.run("XADD", "stream", "*", "n", "v");
      h.run("XDEL", "nodes", `${1200 + i}-0`);
      h.run("XTRIM", "nodes0", "MAXLEN", "=", String(9 - (i % 10)));
      h.run("SET", "str", `changed${i}`);
      h.run("DEL", "bin");
      await Bun.sleep(0);
    }
    await writing;
    const restored = new Clone();
    await restored.restore(memory.reader());
    expect(digestOf(restored)).toBe(expected);
    expect(h.digests()[0]).not.toBe(expected);
    // After the snapshot, values are no longer copied on write (nothing holds them).
    agree(h);
  });

  test("format 1 (strings only) is still read", async () => {
    const chunks = [pack({ format: 1, keys: 2 }), pack([Buffer.from("a"), Buffer.from("1"), Buffer.from("b"), Buffer.from("2")])];
    const clone = new Clone();
    await clone.restore({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
    const h = new CloneHarness();
    h.run("SET", "a", "1");
    h.run("SET", "b", "2");
    expect(digestOf(clone)).toBe(h.digests()[0]);
  });

  test("format 3 (a list's elements as msgpack items) is still read", async () => {
    const chunks = [
      pack({ format: 3, keys: 2, nextSeq: 3 }),
      pack([
        [Buffer.from("l"), 1, 1, [Buffer.from("a"), Buffer.from(""), Buffer.from("c")]],
        [Buffer.from("l"), 1, 1, [Buffer.from("d")]],
        [Buffer.from("s"), 0, 2, Buffer.from("v")],
      ]),
    ];
    const clone = new Clone();
    await clone.restore({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
    const h = new CloneHarness();
    h.run("RPUSH", "l", "a", "", "c", "d");
    h.run("SET", "s", "v");
    expect(digestOf(clone)).toBe(h.digests()[0]);
  });

  test("a snapshot keeps consumer groups (format 6): a restored node answers XPENDING and XINFO alike", async () => {
    const h = filled();
    const memory = memorySnapshot();
    await h.leader.snapshot(memory.writer);
    const restored = new Clone();
    await restored.restore(memory.reader());
    // XPENDING's idle times are counted from this node's clock at the read: both reads at one instant
    // (two reads a millisecond apart differ by one).
    setSystemTime(new Date(Date.now()));
    try {
      for (const args of [["XPENDING", "stream", "g"], ["XPENDING", "stream", "g", "-", "+", "10"], ["XINFO", "GROUPS", "stream"], ["XINFO", "GROUPS", "emptied"]]) {
        const replies = [read(h.leader, ...args), read(restored, ...args)];
        expect(replies[1]).toEqual(replies[0]);
      }
    } finally {
      setSystemTime();
    }
    expect(JSON.stringify(read(restored, "XPENDING", "stream", "g"))).toContain("carol");
  });

  test("format 5 streams (no groups) are still read: entries added are the entries held", async () => {
    const entries = Array.from({ length: 3 }, (_, i) => [`${i + 1}-0`, [Buffer.from("f"), Buffer.from("v")]]);
    const chunks = [pack({ format: 5, keys: 1, nextSeq: 2 }), pack([[Buffer.from("s"), 5, 1, ["3-0", entries, [[3, 3, "3-0"]]]]])];
    const clone = new Clone();
    await clone.restore({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
    const h = new CloneHarness();
    for (let i = 1; i <= 3; i++) h.run("XADD", "s", `${i}-0`, "f", "v");
    expect(digestOf(clone)).toBe(h.digests()[0]);
  });

  test("format 4 streams (no node layout) get the layout appending their entries makes", async () => {
    const entries = Array.from({ length: 150 }, (_, i) => [`${i + 1}-0`, [Buffer.from("f"), Buffer.from("v")]]);
    const chunks = [pack({ format: 4, keys: 1, nextSeq: 2 }), pack([[Buffer.from("s"), 5, 1, ["150-0", entries]]])];
    const clone = new Clone();
    await clone.restore({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
    const h = new CloneHarness();
    for (let i = 1; i <= 150; i++) h.run("XADD", "s", `${i}-0`, "f", "v");
    expect(digestOf(clone)).toBe(h.digests()[0]);
  });

  test("a malformed or unknown snapshot is refused", async () => {
    const reader = (chunks: Uint8Array[]): SnapshotReader => ({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
    await expect(new Clone().restore(reader([pack({ format: 9, keys: 0 })]))).rejects.toThrow(/format 9/);
    await expect(new Clone().restore(reader([pack({ format: 2, keys: 1, nextSeq: 2 }), pack([[Buffer.from("k"), 1, 1, "not a list"]])]))).rejects.toThrow(/malformed/);
    await expect(new Clone().restore(reader([pack({ format: 2, keys: 2, nextSeq: 3 }), pack([[Buffer.from("k"), 0, 1, Buffer.from("v")]])]))).rejects.toThrow(/header says 2/);
    // Format 4 lists: packed bytes, whose counts and lengths must match the bytes exactly.
    const packed = (...varints: number[]): Buffer => Buffer.concat([Buffer.from(varints), Buffer.from("ab")]);
    const list = (data: unknown): Uint8Array[] => [pack({ format: 4, keys: 1, nextSeq: 2 }), pack([[Buffer.from("l"), 1, 1, data]])];
    await expect(new Clone().restore(reader(list([Buffer.from("a")])))).rejects.toThrow(/not packed bytes/);
    await expect(new Clone().restore(reader(list(packed(3, 1, 1))))).rejects.toThrow(/cut short/);
    await expect(new Clone().restore(reader(list(packed(1, 5))))).rejects.toThrow(/cut short/);
    await expect(new Clone().restore(reader(list(packed(1, 1))))).rejects.toThrow(/past its elements/);
    await expect(new Clone().restore(reader(list(Buffer.from([1, 0x80]))))).rejects.toThrow(/cut short/);
    await new Clone().restore(reader(list(packed(2, 1, 1))));
    // Format 5 streams: their nodes must hold their entries exactly.
    const stream = (data: unknown): Uint8Array[] => [pack({ format: 5, keys: 1, nextSeq: 2 }), pack([[Buffer.from("s"), 5, 1, data]])];
    const entry = ["1-0", [Buffer.from("f"), Buffer.from("v")]];
    await expect(new Clone().restore(reader(stream(["1-0", [entry]])))).rejects.toThrow(/not \[last id, entries, nodes\]/);
    await expect(new Clone().restore(reader(stream(["1-0", [entry], [[2, 2, "1-0"]]])))).rejects.toThrow(/nodes do not hold/);
    await expect(new Clone().restore(reader(stream(["1-0", [entry], [[1, 101, "1-0"]]])))).rejects.toThrow(/nodes do not hold/);
    await expect(new Clone().restore(reader(stream(["1-0", [entry], [[1, 1, "0-5"]]])))).rejects.toThrow(/nodes do not hold/);
    await expect(new Clone().restore(reader(stream(["1-0", [entry], [[1, 1]]])))).rejects.toThrow(/not \[live, slots, last id\]/);
    await new Clone().restore(reader(stream(["1-0", [entry], [[0, 100, "0-9"], [1, 1, "1-0"]]])));
    // Format 6 streams: groups must be whole, and name consumers that are there.
    const grouped = (meta: unknown): Uint8Array[] => [pack({ format: 6, keys: 1, nextSeq: 2 }), pack([[Buffer.from("s"), 5, 1, ["1-0", [entry], [[1, 1, "1-0", "1-0"]], meta]]])];
    const group = (pending: unknown): unknown => [1, "0-0", [[Buffer.from("g"), "1-0", 1, [[Buffer.from("c"), 5]], pending]]];
    await expect(new Clone().restore(reader(grouped([1, "0-0"])))).rejects.toThrow(/not \[entries added/);
    await expect(new Clone().restore(reader(grouped(group([["1-0", 1, 5, 1]]))))).rejects.toThrow(/pending entry is not/);
    await expect(new Clone().restore(reader(grouped(group([["1-0", 0, 5, 1], ["1-0", 0, 5, 1]]))))).rejects.toThrow(/pending entry repeats/);
    await new Clone().restore(reader(grouped(group([["1-0", 0, 5, 1]]))));
  });
});

describe("the skip list", () => {
  test("inserts, deletes, ranks and ranges agree with a sorted array", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.integer({ min: -5, max: 5 })), { maxLength: 300 }),
        (operations) => {
          const list = new SkipList();
          const model = new Map<string, number>();
          for (const [insert, id, score] of operations) {
            const member = `m${id}`;
            const current = model.get(member);
            if (current !== undefined) {
              expect(list.delete(current, member)).toBe(true);
              model.delete(member);
            }
            if (insert) {
              list.insert(score, member);
              model.set(member, score);
            }
          }
          const sorted = [...model].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0));
          expect(list.length).toBe(sorted.length);
          sorted.forEach(([member, score], i) => {
            expect(list.rankOf(score, member)).toBe(i + 1);
            expect(list.byRank(i + 1)?.member).toBe(member);
          });
          const walked: string[] = [];
          for (let node = list.last(); node !== null; node = node.previous) walked.push(node.member);
          expect(walked).toEqual(sorted.map(([member]) => member).reverse());
          // A copy built in order (what copy-on-write makes) behaves the same, and keeps working.
          const copy = SkipList.fromSorted(sorted);
          expect(copy.length).toBe(sorted.length);
          sorted.forEach(([member, score], i) => {
            expect(copy.rankOf(score, member)).toBe(i + 1);
            expect(copy.byRank(i + 1)?.member).toBe(member);
          });
          copy.insert(0.5, "extra");
          const withExtra = [...sorted, ["extra", 0.5] as [string, number]].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0));
          withExtra.forEach(([member, score], i) => expect(copy.rankOf(score, member)).toBe(i + 1));
          if (sorted[0] !== undefined) {
            expect(copy.delete(sorted[0][1], sorted[0][0])).toBe(true);
            expect(copy.byRank(1)?.member).toBe(withExtra.filter(([member]) => member !== sorted[0]?.[0])[0]?.[0]);
          }
          const range = { min: -2, max: 2, minExclusive: true, maxExclusive: false };
          const inRange = sorted.filter(([, score]) => score > -2 && score <= 2);
          expect(list.firstInRange(range)?.member ?? null).toBe(inRange[0]?.[0] ?? null);
          expect(list.lastInRange(range)?.member ?? null).toBe(inRange[inRange.length - 1]?.[0] ?? null);
        },
      ),
      { numRuns: 300 },
    );
  });
});
