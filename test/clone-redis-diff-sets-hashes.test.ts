/**
 * The set and hash commands added to the clone (SINTER, SUNION, SDIFF and their STORE forms,
 * SINTERCARD, SMOVE, SSCAN, HINCRBYFLOAT, HSCAN, HRANDFIELD) against the real redis-server, reply
 * for reply (`helpers/redis-diff.ts`), then: whole SSCAN and HSCAN iterations return what Redis's
 * do; an iteration returns every member present throughout exactly once while the set changes;
 * and on a 3-node cluster the writes leave every node with the same data, while an SSCAN goes on
 * from node to node.
 *
 * Set replies are compared sorted (the order is each server's own); SSCAN and HSCAN replies are
 * compared exactly only where both servers return a small collection whole in the same order
 * (integers added in increasing order, which Redis keeps in an intset; a hash's insertion order,
 * which Redis keeps in a listpack). HINCRBYFLOAT's replies are compared exactly: both compute in
 * x87 long doubles.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import type { FinnNode } from "../src/finn.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, scanAll, size, sorted, sortedPairs, y2100 } from "./helpers/redis-diff.ts";
import { callPort, plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const sets: Case[] = [
  c("SADD", "a", "1", "2", "3", "x"), c("SADD", "b", "2", "3", "y", "z"), c("SADD", "c", "3", "z", "w"), c("SET", "str", "v"), c("HSET", "hh", "f", "v"),
  // SINTER, SUNION, SDIFF: missing keys are empty sets, every key is type-checked first
  sorted("SINTER", "a", "b"), sorted("SINTER", "a", "b", "c"), sorted("SINTER", "a"), sorted("SINTER", "a", "a"), sorted("SINTER", "a", "nope"),
  sorted("SINTER", "nope"), c("SINTER", "a", "str"), c("SINTER", "nope", "str"), c("SINTER", "str", "nope"), c("SINTER"),
  sorted("SUNION", "a", "b"), sorted("SUNION", "a", "b", "c", "nope"), sorted("SUNION", "nope"), c("SUNION", "a", "hh"), c("SUNION", "nope", "hh"), c("SUNION"),
  sorted("SDIFF", "a", "b"), sorted("SDIFF", "b", "a", "c"), sorted("SDIFF", "a", "nope"), sorted("SDIFF", "nope", "a"), sorted("SDIFF", "a", "a"),
  sorted("SDIFF", "a", "b", "c", "a"), c("SDIFF", "a", "str"), c("SDIFF", "nope", "str"), c("SDIFF"),
  // the STORE forms: overwrite whatever the destination held (its TTL goes), delete it when empty
  c("SINTERSTORE", "d", "a", "b"), sorted("SMEMBERS", "d"), c("SUNIONSTORE", "d", "a", "b", "c"), sorted("SMEMBERS", "d"), c("SCARD", "d"),
  c("SDIFFSTORE", "d", "a", "b"), sorted("SMEMBERS", "d"), c("SINTERSTORE", "d", "a", "nope"), c("EXISTS", "d"), c("SDIFFSTORE", "d", "nope", "a"),
  c("SUNIONSTORE", "d", "nope"), c("EXISTS", "d"), c("SADD", "d", "old"), c("EXPIREAT", "d", y2100), c("SUNIONSTORE", "d", "c"), c("TTL", "d"),
  sorted("SMEMBERS", "d"), c("EXPIREAT", "d", y2100), c("SINTERSTORE", "d", "c", "nope"), c("EXISTS", "d"), c("SET", "d", "string", "EXAT", y2100),
  c("SDIFFSTORE", "d", "a", "c"), c("TYPE", "d"), c("TTL", "d"), sorted("SMEMBERS", "d"), c("SINTERSTORE", "d", "a", "hh"), sorted("SMEMBERS", "d"),
  c("SUNIONSTORE", "d", "nope", "str"), c("TYPE", "d"), c("SINTERSTORE", "str2", "a", "b"), c("SET", "str2", "v"), c("SINTERSTORE", "str2", "a", "b"),
  c("TYPE", "str2"), c("SUNIONSTORE", "hh2", "a"), c("SDIFFSTORE", "a2", "a", "a"), c("EXISTS", "a2"), c("SUNIONSTORE", "u", "a", "u"),
  c("SUNIONSTORE", "u", "u", "b"), sorted("SMEMBERS", "u"), c("SDIFFSTORE", "u", "u", "a"), sorted("SMEMBERS", "u"), c("SINTERSTORE", "u", "u", "c"),
  sorted("SMEMBERS", "u"), c("SINTERSTORE", "d"), c("SUNIONSTORE", "d"), c("SDIFFSTORE", "d"),
  // SINTERCARD numkeys key... [LIMIT n]
  c("SINTERCARD", "2", "a", "b"), c("SINTERCARD", "3", "a", "b", "c"), c("SINTERCARD", "1", "a"), c("SINTERCARD", "2", "a", "b", "LIMIT", "1"),
  c("SINTERCARD", "2", "a", "b", "limit", "0"), c("SINTERCARD", "2", "a", "b", "LIMIT", "100"), c("SINTERCARD", "1", "a", "LIMIT", "2", "LIMIT", "3"),
  c("SINTERCARD", "2", "a", "nope"), c("SINTERCARD", "1", "nope"), c("SINTERCARD", "2", "a", "hh"), c("SINTERCARD", "2", "nope", "hh"),
  c("SINTERCARD", "1", "a", "b"), c("SINTERCARD", "0", "a"), c("SINTERCARD", "-1", "a"), c("SINTERCARD", "x", "a"), c("SINTERCARD", "3", "a", "b"),
  c("SINTERCARD", "9223372036854775808", "a"), c("SINTERCARD", "1", "a", "LIMIT"), c("SINTERCARD", "1", "a", "LIMIT", "-1"),
  c("SINTERCARD", "1", "a", "LIMIT", "x"), c("SINTERCARD", "1", "a", "FOO", "1"), c("SINTERCARD", "1", "nope", "LIMIT", "-1"), c("SINTERCARD", "1"),
  // SMOVE: a missing source is 0 before the destination's type is looked at
  c("SMOVE", "a", "b", "2"), c("SMOVE", "a", "b", "x"), c("SMOVE", "a", "b", "x"), sorted("SMEMBERS", "b"), c("SMOVE", "a", "new", "1"), c("TYPE", "new"),
  c("SMOVE", "a", "a", "3"), c("SMOVE", "a", "a", "zz"), c("SMOVE", "nope", "b", "1"), c("SMOVE", "nope", "str", "1"), c("SMOVE", "a", "str", "3"),
  c("SMOVE", "str", "a", "3"), c("SMOVE", "a", "hh", "zz"), c("SMOVE", "b", "a", "zz"), c("EXPIREAT", "b", y2100), c("SMOVE", "a", "b", "3"),
  c("EXISTS", "a"), c("EXPIRETIME", "b"), c("SMOVE", "new", "b", "1"), c("EXISTS", "new"), c("SCARD", "b"), c("SMOVE", "a", "b"), c("SMOVE", "a", "b", "1", "2"),
  // SSCAN (small collections are returned whole by both; integers added in increasing order are in the same order)
  c("SADD", "si", "1", "2", "3", "5", "8", "13", "21"), c("SSCAN", "si", "0"), c("SSCAN", "si", "0", "MATCH", "1*"), c("SSCAN", "si", "0", "COUNT", "2"),
  c("SSCAN", "si", "0", "match", "*", "count", "1"), c("SSCAN", "si", "0", "MATCH", "[2-5]", "COUNT", "3", "MATCH", "2*"), c("SSCAN", "si", "00"),
  c("SSCAN", "si", ""), c("SSCAN", "si", "+0"), c("SSCAN", "si", "-0"), c("SSCAN", "si", "0", "MATCH", "nothing"), c("SADD", "one", "hello"),
  c("SSCAN", "one", "0"), c("SSCAN", "one", "0", "MATCH", "h*", "COUNT", "100"), c("SSCAN", "nope", "0"), c("SSCAN", "nope", "0", "COUNT", "x"),
  c("SSCAN", "nope", "0", "FOO"), c("SSCAN", "hh", "0"), c("SSCAN", "hh", "0", "COUNT", "x"), c("SSCAN", "si", "x"), c("SSCAN", "nope", "x"),
  c("SSCAN", "si", " 1"), c("SSCAN", "si", "1 "), c("SSCAN", "si", "+"), c("SSCAN", "si", "-"), c("SSCAN", "si", "0x1"), c("SSCAN", "si", "18446744073709551616"),
  c("SSCAN", "si", "-18446744073709551616"), c("SSCAN", "si", "0", "COUNT", "0"), c("SSCAN", "si", "0", "COUNT", "-1"), c("SSCAN", "si", "0", "COUNT", "x"),
  c("SSCAN", "si", "0", "COUNT", "9223372036854775808"), c("SSCAN", "si", "0", "MATCH"), c("SSCAN", "si", "0", "COUNT"), c("SSCAN", "si", "0", "FOO", "bar"),
  c("SSCAN", "si", "0", "TYPE", "set"), c("SSCAN", "si"),
  // SRANDMEMBER's count at the bounds of a long
  c("SRANDMEMBER", "si", "-9223372036854775808"), c("SRANDMEMBER", "si", "9223372036854775808"), size("SRANDMEMBER", "si", "9223372036854775807"),
  size("SRANDMEMBER", "si", "-3"), size("SRANDMEMBER", "si", "0"),
];

const hashes: Case[] = [
  c("SET", "str", "v"),
  // HINCRBYFLOAT in long doubles: 0.1 + 0.2 is 0.3, and 1000.3 is 1000.29999999999999999
  c("HINCRBYFLOAT", "h", "f", "0.1"), c("HINCRBYFLOAT", "h", "f", "0.2"), c("HINCRBYFLOAT", "h", "f", "1e3"), c("HINCRBYFLOAT", "h", "f", "-1000.3"),
  c("HINCRBYFLOAT", "h", "f", "0x10"), c("HINCRBYFLOAT", "h", "f", "0X1.8p-1"), c("HINCRBYFLOAT", "h", "f", "-.5"), c("HINCRBYFLOAT", "h", "f", "+5."),
  c("HINCRBYFLOAT", "h", "f", "1E+2"), c("HINCRBYFLOAT", "h", "f", "00012"), c("HGET", "h", "f"), c("HINCRBYFLOAT", "h", "f", "inf"),
  c("HINCRBYFLOAT", "h", "f", "-Infinity"), c("HINCRBYFLOAT", "h", "f", "nan"), c("HINCRBYFLOAT", "h", "f", " 1"), c("HINCRBYFLOAT", "h", "f", "1 "),
  c("HINCRBYFLOAT", "h", "f", ""), c("HINCRBYFLOAT", "h", "f", "abc"), c("HINCRBYFLOAT", "h", "f", "1e5000"), c("HINCRBYFLOAT", "h", "f", "1e-5000"),
  c("HINCRBYFLOAT", "h", "f", "3.0e"), c("HINCRBYFLOAT", "h", "f", "."), c("HINCRBYFLOAT", "h", "f", "0x"), c("HINCRBYFLOAT", "h", "f", "0x1p"),
  c("HINCRBYFLOAT", "h", "f", "0x1p-16446"), c("HINCRBYFLOAT", "h", "f", "1_0"), c("HGET", "h", "f"),
  // ties in the 17th decimal go to even (2^-18, 3 * 2^-18); tiny and huge values; -0 is "0"
  c("HINCRBYFLOAT", "h", "tie", "0.000003814697265625"), c("HINCRBYFLOAT", "h", "tie2", "0.000011444091796875"), c("HINCRBYFLOAT", "h", "tiny", "1e-30"),
  c("HINCRBYFLOAT", "h", "tiny", "-2e-30"), c("HINCRBYFLOAT", "h", "sub", "0x1p-16445"), c("HINCRBYFLOAT", "h", "sub", "1e-4940"),
  c("HINCRBYFLOAT", "h", "big", "1e4931"), c("HINCRBYFLOAT", "h", "big", "1.18e4932"), c("HINCRBYFLOAT", "h", "big", "-1e4931"),
  c("HINCRBYFLOAT", "h", "max", "0x1.fffffffffffffffep16383"), c("HINCRBYFLOAT", "h", "max", "0x1p16383"), c("HINCRBYFLOAT", "h", "max", "0x1.ffffffffffffffffp16383"),
  c("HINCRBYFLOAT", "h", "z", "-0"), c("HINCRBYFLOAT", "h", "z", "-0.0"), c("HINCRBYFLOAT", "h", "z", "-1e-20"), c("HINCRBYFLOAT", "h", "z", "1e17"),
  c("HINCRBYFLOAT", "h", "z", "0.5"), c("HINCRBYFLOAT", "h", "z", "123456789012345678901234567890"), c("HINCRBYFLOAT", "h", "z", "-1e29"),
  // the stored value is read as strtold reads it
  c("HSET", "h", "t", " 1"), c("HINCRBYFLOAT", "h", "t", "1"), c("HSET", "h", "t", "abc"), c("HINCRBYFLOAT", "h", "t", "1"), c("HSET", "h", "t", "0x1p3"),
  c("HINCRBYFLOAT", "h", "t", "1"), c("HSET", "h", "t", "1e-5000"), c("HINCRBYFLOAT", "h", "t", "1"), c("HSET", "h", "t", "inf"), c("HINCRBYFLOAT", "h", "t", "1"),
  c("HSET", "h", "t", "-0"), c("HINCRBYFLOAT", "h", "t", "0"), c("HSET", "h", "t", "1e4932"), c("HINCRBYFLOAT", "h", "t", "1e4932"), c("HSET", "h", "t", "007"),
  c("HINCRBYFLOAT", "h", "t", "0.5"), c("HSET", "h", "i", "10"), c("HINCRBYFLOAT", "h", "i", "0.5"), c("HINCRBY", "h", "i", "1"), c("HINCRBYFLOAT", "h", "i", "-0.5"),
  c("HINCRBY", "h", "i", "1"), c("HGET", "h", "t"), c("HINCRBYFLOAT", "str", "f", "1"), c("HINCRBYFLOAT", "str", "f", "x"), c("HINCRBYFLOAT", "nope", "f", "x"),
  c("HINCRBYFLOAT", "nope", "f", "inf"), c("EXISTS", "nope"), c("HINCRBYFLOAT", "h", "f"), c("HINCRBYFLOAT", "h", "f", "1", "2"), c("HLEN", "h"),
  // HSCAN (a small hash is returned whole, in insertion order, by both)
  c("HSET", "hs", "a", "1", "b", "2", "c", "3"), c("HSCAN", "hs", "0"), c("HSCAN", "hs", "0", "MATCH", "[ab]"), c("HSCAN", "hs", "0", "COUNT", "1"),
  c("HDEL", "hs", "b"), c("HSET", "hs", "b", "4", "a", "9"), c("HSCAN", "hs", "0", "MATCH", "*"), c("HSCAN", "hs", "0", "MATCH", "zz"), c("HSCAN", "nope", "0"),
  c("HSCAN", "nope", "0", "COUNT", "0"), c("HSCAN", "str", "0"), c("HSCAN", "str", "0", "FOO"), c("HSCAN", "hs", "x"), c("HSCAN", "nope", "-"),
  c("HSCAN", "hs", "0", "COUNT", "0"), c("HSCAN", "hs", "0", "COUNT", "x"), c("HSCAN", "hs", "0", "MATCH"), c("HSCAN", "hs", "0", "NOVALUES"), c("HSCAN", "hs"),
  // HRANDFIELD (random picks compared by size; a hash of one field exactly, reply shapes included)
  size("HRANDFIELD", "hs", "2"), size("HRANDFIELD", "hs", "-5"), size("HRANDFIELD", "hs", "10"), size("HRANDFIELD", "hs", "2", "WITHVALUES"),
  size("HRANDFIELD", "hs", "-4", "withvalues"), size("HRANDFIELD", "hs", "10", "WITHVALUES"), size("HRANDFIELD", "hs", "0"), size("HRANDFIELD", "hs", "0", "WITHVALUES"),
  size("HRANDFIELD", "hs", "4611686018427387903", "WITHVALUES"), size("HRANDFIELD", "hs", "9223372036854775807"), c("HSET", "one", "f", "v"),
  c("HRANDFIELD", "one"), c("HRANDFIELD", "one", "1"), c("HRANDFIELD", "one", "1", "WITHVALUES"), c("HRANDFIELD", "one", "-2", "WITHVALUES"),
  c("HRANDFIELD", "one", "5", "WITHVALUES"), c("HRANDFIELD", "one", "-3"), c("HRANDFIELD", "nope"), c("HRANDFIELD", "nope", "3"),
  c("HRANDFIELD", "nope", "-3", "WITHVALUES"), c("HRANDFIELD", "nope", "x"), c("HRANDFIELD", "nope", "5", "foo"), c("HRANDFIELD", "hs", "x"),
  c("HRANDFIELD", "hs", "1", "foo"), c("HRANDFIELD", "hs", "x", "foo"), c("HRANDFIELD", "hs", "1", "WITHVALUES", "extra"),
  c("HRANDFIELD", "hs", "-9223372036854775808"), c("HRANDFIELD", "hs", "9223372036854775808"), c("HRANDFIELD", "hs", "4611686018427387904", "WITHVALUES"),
  c("HRANDFIELD", "hs", "-4611686018427387904", "WITHVALUES"), c("HRANDFIELD", "str"), c("HRANDFIELD", "str", "1"), c("HRANDFIELD", "str", "1", "foo"),
  c("HRANDFIELD"),
];

describe("the clone's set and hash commands answer as redis-server's", () => {
  diffTests(servers, "sets", sets);
  diffTests(servers, "hashes", hashes);

  test("whole SSCAN and HSCAN iterations, with MATCH and COUNT, return what redis-server's return", async () => {
    for (const port of [servers.redisPort, servers.clonePort]) {
      const connection = await RespConnection.connect(port);
      await connection.call("FLUSHALL");
      await connection.call("SADD", "set", ...Array.from({ length: 700 }, (_, i) => `member:${i}`));
      await connection.call("HSET", "hash", ...Array.from({ length: 300 }, (_, i) => [`field:${i}`, `value:${i}`]).flat());
      connection.close();
    }
    for (const options of [[], ["COUNT", "7"], ["COUNT", "1000"], ["MATCH", "*:1*", "COUNT", "3"], ["MATCH", "member:5?"]]) {
      const members = (await scanAll(servers.redisPort, ["SSCAN", "set"], options)).sort();
      expect(members.length).toBeGreaterThan(0);
      expect((await scanAll(servers.clonePort, ["SSCAN", "set"], options)).sort()).toEqual(members);
      const fieldOptions = options.map((option) => option.replace("member", "field"));
      const fields = sortedPairs(await scanAll(servers.redisPort, ["HSCAN", "hash"], fieldOptions));
      expect(fields.length).toBeGreaterThan(0);
      expect(sortedPairs(await scanAll(servers.clonePort, ["HSCAN", "hash"], fieldOptions))).toEqual(fields);
    }
  });

  test("an SSCAN returns every member present throughout exactly once while members are removed and added", async () => {
    const connection = await RespConnection.connect(servers.clonePort);
    try {
      await connection.call("DEL", "churn");
      const total = 3000;
      await connection.call("SADD", "churn", ...Array.from({ length: total }, (_, i) => `m${i}`));
      const seen = new Map<string, number>();
      const removed = new Set<string>();
      let cursor = "0";
      let steps = 0;
      do {
        const [next, items] = plain(await connection.call("SSCAN", "churn", cursor, "COUNT", "20")) as [string, string[]];
        cursor = next;
        for (const item of items) seen.set(item, (seen.get(item) ?? 0) + 1);
        // Removing moves the set's last member into the hole; adding appends; neither matters.
        for (let i = 0; i < 5; i++) {
          const victim = `m${(steps * 7919 + i * 104729) % total}`;
          removed.add(victim);
          await connection.call("SREM", "churn", victim);
          await connection.call("SADD", "churn", `new${steps}:${i}`);
        }
        steps++;
      } while (cursor !== "0");
      expect(steps).toBeGreaterThan(20);
      for (let i = 0; i < total; i++) {
        const member = `m${i}`;
        if (!removed.has(member)) expect(seen.get(member)).toBe(1);
      }
      for (const [member, times] of seen) expect([member, times]).toEqual([member, 1]);
    } finally {
      connection.close();
    }
  });
});

test("random picks from large sets, hashes and sorted sets are members, distinct unless repeats are asked for, and reach every member", async () => {
  const connection = await RespConnection.connect(servers.clonePort);
  try {
    await connection.call("DEL", "rs", "rh", "rz");
    const names = Array.from({ length: 300 }, (_, i) => `n${i}`);
    await connection.call("SADD", "rs", ...names);
    await connection.call("HSET", "rh", ...names.flatMap((name) => [name, `v:${name}`]));
    await connection.call("ZADD", "rz", ...names.flatMap((name, i) => [String(i), name]));
    const known = new Set(names);
    const reached = { rs: new Set<string>(), rh: new Set<string>(), rz: new Set<string>() };
    for (let round = 0; round < 400; round++) {
      const members = plain(await connection.call("SRANDMEMBER", "rs", "20")) as string[];
      const pairs = plain(await connection.call("HRANDFIELD", "rh", "20", "WITHVALUES")) as string[];
      const scored = plain(await connection.call("ZRANDMEMBER", "rz", "20", "WITHSCORES")) as string[];
      const fields = pairs.filter((_, i) => i % 2 === 0);
      const zmembers = scored.filter((_, i) => i % 2 === 0);
      for (const [list, seen] of [[members, reached.rs], [fields, reached.rh], [zmembers, reached.rz]] as const) {
        expect(list.length).toBe(20);
        expect(new Set(list).size).toBe(20);
        for (const one of list) {
          expect(known.has(one)).toBe(true);
          seen.add(one);
        }
      }
      for (let i = 0; i < pairs.length; i += 2) expect(pairs[i + 1]).toBe(`v:${pairs[i]}`);
      for (let i = 0; i < scored.length; i += 2) expect(scored[i + 1]).toBe(String(names.indexOf(scored[i]!)));
      for (const [command, key] of [["SRANDMEMBER", "rs"], ["HRANDFIELD", "rh"], ["ZRANDMEMBER", "rz"]] as const) {
        const repeats = plain(await connection.call(command, key, "-30")) as string[];
        expect(repeats.length).toBe(30);
        for (const one of repeats) expect(known.has(one)).toBe(true);
      }
    }
    // 400 rounds of 20 of 300: a given member is missed by all with a chance of (14/15)^400, about e^-27.
    expect(reached.rs.size).toBe(300);
    expect(reached.rh.size).toBe(300);
    expect(reached.rz.size).toBe(300);
  } finally {
    connection.close();
  }
});

const cluster = new InProcessNodes("sets-hashes");

test("on a 3-node cluster, the new writes leave every node with the same data, and an SSCAN goes on from node to node", async () => {
  const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });
  const leader = first.port;

  const connection = await RespConnection.connect(leader);
  try {
    const writes: string[][] = [];
    for (let i = 0; i < 40; i++) {
      writes.push(["SADD", `s${i % 4}`, ...Array.from({ length: 30 }, (_, j) => `m${(i * 13 + j * 7) % 90}`)]);
      writes.push(["SREM", `s${(i + 1) % 4}`, `m${(i * 11) % 90}`, `m${(i * 17) % 90}`]);
      writes.push(["SMOVE", `s${i % 4}`, `s${(i + 2) % 4}`, `m${(i * 5) % 90}`]);
      writes.push(["SINTERSTORE", `inter${i % 3}`, `s${i % 4}`, `s${(i + 1) % 4}`]);
      writes.push(["SUNIONSTORE", `union${i % 3}`, `s${i % 4}`, `s${(i + 3) % 4}`, `inter${i % 3}`]);
      writes.push(["SDIFFSTORE", `diff${i % 3}`, `union${(i + 1) % 3}`, `s${(i + 2) % 4}`]);
      writes.push(["SPOP", `union${i % 3}`]);
      writes.push(["HINCRBYFLOAT", `h${i % 2}`, `f${i % 5}`, `${(i * 0.37).toFixed(2)}`]);
      writes.push(["HINCRBYFLOAT", `h${i % 2}`, `g${i % 3}`, `1e-${i % 25}`]);
    }
    for (const write of writes) connection.command(...write);
    const replies = (await connection.readMany(writes.length, 30_000)).map(plain);
    for (const reply of replies) expect(typeof reply === "object" && reply !== null && "error" in reply ? reply : "ok").toBe("ok");
  } finally {
    connection.close();
  }

  const ports = cluster.nodes.map((node: FinnNode) => node.port);
  const keys = ["s0", "s1", "s2", "s3", "inter0", "inter1", "inter2", "union0", "union1", "union2", "diff0", "diff1", "diff2"];
  /** What a node holds: its digest, and each set's members in the node's own order (SPOP picks by it). */
  const state = async (port: number): Promise<unknown> => [await callPort(port, "DEBUG", "DIGEST"), ...(await Promise.all(keys.map((key) => callPort(port, "SMEMBERS", key))))];
  const expected = await state(leader);
  expect(await callPort(leader, "HGETALL", "h0")).not.toEqual([]);
  for (const port of ports) await eventually(`node ${port} to hold what the leader holds`, () => state(port), (held) => JSON.stringify(held) === JSON.stringify(expected), 30_000);

  // The cursor depends on the members only: each step on the next node.
  const scanned: string[] = [];
  let cursor = "0";
  let step = 0;
  await callPort(leader, "SADD", "wide", ...Array.from({ length: 1000 }, (_, i) => `w${i}`));
  for (const port of ports) await eventually(`node ${port} to hold the set`, () => callPort(port, "SCARD", "wide"), (count) => count === 1000, 30_000);
  do {
    const [next, items] = (await callPort(ports[step % ports.length] as number, "SSCAN", "wide", cursor, "COUNT", "25")) as [string, string[]];
    scanned.push(...items);
    cursor = next;
    step++;
  } while (cursor !== "0");
  expect(step).toBeGreaterThan(10);
  expect(scanned.sort()).toEqual(Array.from({ length: 1000 }, (_, i) => `w${i}`).sort());
});
