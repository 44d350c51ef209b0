/**
 * The list and sorted set commands added to the clone (LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP;
 * ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZLEXCOUNT, ZRANDMEMBER, ZSCAN, ZRANGESTORE,
 * ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD) against the real redis-server, reply for
 * reply (`helpers/redis-diff.ts`); then a ZSCAN of a large set over a whole iteration (whose order
 * is each server's own), and a 3-node cluster that applies the added writes alike.
 *
 * Scores are chosen so that Redis 7.0's `%.17g` and the clone's shortest form print the same.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, scanAll, size, sortedPairs, y2100 } from "./helpers/redis-diff.ts";
import { callPort, plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const lists: Case[] = [
  // LINSERT
  c("RPUSH", "l", "a", "b", "c", "b"), c("LINSERT", "l", "BEFORE", "b", "x"), c("LINSERT", "l", "after", "b", "y"), c("LRANGE", "l", "0", "-1"),
  c("LINSERT", "l", "AFTER", "b", "z"), c("LINSERT", "l", "before", "a", "first"), c("LINSERT", "l", "AFTER", "b", "last"), c("LRANGE", "l", "0", "-1"),
  c("LINSERT", "l", "BEFORE", "nothing", "x"), c("LINSERT", "nope", "BEFORE", "a", "x"), c("EXISTS", "nope"), c("LINSERT", "l", "MIDDLE", "a", "x"),
  c("LINSERT", "nope", "MIDDLE", "a", "x"), c("SET", "str", "v"), c("LINSERT", "str", "BEFORE", "a", "x"), c("LINSERT", "str", "AROUND", "a", "x"),
  c("LINSERT", "l", "BEFORE", "a"), c("LINSERT", "l", "BEFORE", "a", "x", "y"), c("LINSERT", "l", "AFTER", "c", "c2"), c("LRANGE", "l", "0", "-1"),
  // LINSERT into a longer list, near either end (the ring buffer moves the shorter side)
  c("RPUSH", "long", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"), c("LPOP", "long", "3"),
  c("LINSERT", "long", "AFTER", "4", "i1"), c("LINSERT", "long", "BEFORE", "14", "i2"), c("LPUSH", "long", "p1", "p2"), c("LINSERT", "long", "AFTER", "p1", "i3"),
  c("RPUSH", "long", "r1", "r2", "r3"), c("LINSERT", "long", "BEFORE", "r3", "i4"), c("LRANGE", "long", "0", "-1"), c("LLEN", "long"),
  // LPOS
  c("DEL", "l"), c("RPUSH", "l", "a", "b", "c", "a", "b", "a", "c"), c("LPOS", "l", "a"), c("LPOS", "l", "c"), c("LPOS", "l", "zz"),
  c("LPOS", "l", "a", "RANK", "2"), c("LPOS", "l", "a", "RANK", "3"), c("LPOS", "l", "a", "RANK", "4"), c("LPOS", "l", "a", "RANK", "-1"),
  c("LPOS", "l", "a", "RANK", "-3"), c("LPOS", "l", "a", "RANK", "-4"), c("LPOS", "l", "a", "COUNT", "0"), c("LPOS", "l", "a", "COUNT", "2"),
  c("LPOS", "l", "a", "COUNT", "10"), c("LPOS", "l", "zz", "COUNT", "1"), c("LPOS", "l", "a", "RANK", "-1", "COUNT", "2"),
  c("LPOS", "l", "a", "RANK", "2", "COUNT", "0"), c("LPOS", "l", "a", "MAXLEN", "3"), c("LPOS", "l", "a", "MAXLEN", "1"),
  c("LPOS", "l", "b", "MAXLEN", "1"), c("LPOS", "l", "a", "COUNT", "0", "MAXLEN", "4"), c("LPOS", "l", "a", "RANK", "-1", "COUNT", "0", "MAXLEN", "2"),
  c("LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1"), c("LPOS", "l", "a", "MAXLEN", "0"), c("lpos", "l", "b", "rank", "1", "rank", "2", "count", "5"),
  c("LPOS", "l", "a", "RANK", "0"), c("LPOS", "l", "a", "RANK", "x"), c("LPOS", "l", "a", "RANK", "1.5"), c("LPOS", "l", "a", "RANK", "9223372036854775807"),
  c("LPOS", "l", "a", "RANK", "-9223372036854775807", "COUNT", "0"), c("LPOS", "l", "a", "RANK", "9223372036854775808"),
  // Redis negates RANK -2^63 into itself: every match from the tail, COUNT ignored.
  c("LPOS", "l", "a", "RANK", "-9223372036854775808"), c("LPOS", "l", "a", "RANK", "-9223372036854775808", "COUNT", "1"),
  c("LPOS", "l", "a", "COUNT", "-1"), c("LPOS", "l", "a", "COUNT", "x"), c("LPOS", "l", "a", "MAXLEN", "-1"), c("LPOS", "l", "a", "MAXLEN", "x"),
  c("LPOS", "l", "a", "RANK"), c("LPOS", "l", "a", "COUNT"), c("LPOS", "l", "a", "FOO", "1"), c("LPOS", "l"), c("LPOS", "nope", "a"),
  c("LPOS", "nope", "a", "COUNT", "0"), c("LPOS", "nope", "a", "RANK", "0"), c("LPOS", "str", "a"), c("LPOS", "str", "a", "COUNT", "x"),
  // LMOVE and RPOPLPUSH
  c("DEL", "l"), c("RPUSH", "src", "a", "b", "c"), c("LMOVE", "src", "dst", "LEFT", "RIGHT"), c("LMOVE", "src", "dst", "RIGHT", "LEFT"),
  c("LRANGE", "src", "0", "-1"), c("LRANGE", "dst", "0", "-1"), c("LMOVE", "src", "dst", "left", "left"), c("EXISTS", "src"), c("LRANGE", "dst", "0", "-1"),
  c("LMOVE", "src", "dst", "LEFT", "LEFT"), c("LMOVE", "dst", "dst", "LEFT", "RIGHT"), c("LRANGE", "dst", "0", "-1"), c("LMOVE", "dst", "dst", "RIGHT", "LEFT"),
  c("LMOVE", "dst", "dst", "LEFT", "LEFT"), c("LMOVE", "dst", "dst", "RIGHT", "RIGHT"), c("LRANGE", "dst", "0", "-1"), c("RPOPLPUSH", "dst", "dst"),
  c("LRANGE", "dst", "0", "-1"), c("RPOPLPUSH", "dst", "other"), c("RPOPLPUSH", "nope", "other"), c("LRANGE", "other", "0", "-1"),
  c("LMOVE", "dst", "str", "LEFT", "LEFT"), c("LRANGE", "dst", "0", "-1"), c("RPOPLPUSH", "dst", "str"), c("LMOVE", "str", "dst", "LEFT", "LEFT"),
  c("LMOVE", "nope", "str", "LEFT", "LEFT"), c("LMOVE", "dst", "other", "UP", "LEFT"), c("LMOVE", "dst", "other", "LEFT", "DOWN"),
  c("LMOVE", "nope", "other", "UP", "LEFT"), c("LMOVE", "dst", "other", "LEFT"), c("RPOPLPUSH", "dst"), c("RPOPLPUSH", "dst", "other", "x"),
  c("RPUSH", "one", "x"), c("RPOPLPUSH", "one", "one"), c("LRANGE", "one", "0", "-1"), c("LMOVE", "one", "moved", "RIGHT", "LEFT"),
  c("EXISTS", "one"), c("LRANGE", "moved", "0", "-1"), c("SET", "ttl", "v"), c("RPUSH", "tl", "a", "b"), c("EXPIREAT", "tl", y2100),
  c("LMOVE", "tl", "tl2", "LEFT", "LEFT"), c("EXPIRETIME", "tl"), c("EXPIRETIME", "tl2"),
  // LMPOP
  c("DEL", "dst", "other"), c("RPUSH", "m1", "a", "b", "c"), c("RPUSH", "m2", "x", "y"), c("LMPOP", "1", "m1", "LEFT"), c("LMPOP", "2", "m1", "m2", "RIGHT"),
  c("LMPOP", "2", "nope", "m2", "left", "COUNT", "1"), c("LMPOP", "3", "nope", "m1", "m2", "RIGHT", "COUNT", "10"), c("EXISTS", "m1"),
  c("LMPOP", "2", "nope", "m2", "LEFT", "count", "5"), c("EXISTS", "m2"), c("LMPOP", "2", "nope", "m2", "LEFT"), c("LMPOP", "1", "nope", "LEFT", "COUNT", "3"),
  c("RPUSH", "m3", "a"), c("LMPOP", "2", "str", "m3", "LEFT"), c("LMPOP", "2", "m3", "str", "LEFT"), c("LMPOP", "2", "nope", "str", "LEFT"),
  c("LMPOP", "0", "m3", "LEFT"), c("LMPOP", "-1", "m3", "LEFT"), c("LMPOP", "x", "m3", "LEFT"), c("LMPOP", "2", "m3", "LEFT"), c("LMPOP", "1", "m3", "MIDDLE"),
  c("LMPOP", "1", "m3", "LEFT", "COUNT", "0"), c("LMPOP", "1", "m3", "LEFT", "COUNT", "-1"), c("LMPOP", "1", "m3", "LEFT", "COUNT", "x"),
  c("LMPOP", "1", "m3", "LEFT", "COUNT"), c("LMPOP", "1", "m3", "LEFT", "COUNT", "1", "COUNT", "1"), c("LMPOP", "1", "m3", "LEFT", "FOO"),
  c("LMPOP", "1", "m3"), c("LMPOP", "9223372036854775807", "m3", "LEFT"), c("LRANGE", "m3", "0", "-1"), c("DBSIZE"),
];

const zsets: Case[] = [
  // ZREMRANGEBYRANK
  c("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"), c("ZREMRANGEBYRANK", "z", "1", "2"), c("ZRANGE", "z", "0", "-1", "WITHSCORES"),
  c("ZREMRANGEBYRANK", "z", "-1", "-1"), c("ZREMRANGEBYRANK", "z", "5", "10"), c("ZREMRANGEBYRANK", "z", "2", "1"), c("ZREMRANGEBYRANK", "z", "-100", "0"),
  c("ZRANGE", "z", "0", "-1"), c("ZREMRANGEBYRANK", "z", "0", "-1"), c("EXISTS", "z"), c("ZREMRANGEBYRANK", "nope", "0", "-1"),
  c("ZREMRANGEBYRANK", "z", "x", "1"), c("ZREMRANGEBYRANK", "z", "0", "1.5"), c("SET", "str", "v"), c("ZREMRANGEBYRANK", "str", "0", "1"),
  c("ZREMRANGEBYRANK", "str", "x", "1"), c("ZREMRANGEBYRANK", "z", "0"), c("ZREMRANGEBYRANK", "z", "0", "1", "2"),
  c("ZADD", "z", "1", "a", "2", "b", "3", "c"), c("ZREMRANGEBYRANK", "z", "-9223372036854775808", "9223372036854775807"), c("EXISTS", "z"),
  // ZREMRANGEBYSCORE
  c("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "-inf", "lo", "+inf", "hi"), c("ZREMRANGEBYSCORE", "z", "2", "3"),
  c("ZREMRANGEBYSCORE", "z", "(4", "5"), c("ZRANGE", "z", "0", "-1", "WITHSCORES"), c("ZREMRANGEBYSCORE", "z", "(1", "(4"), c("ZREMRANGEBYSCORE", "z", "10", "1"),
  c("ZREMRANGEBYSCORE", "z", "(1", "1"), c("ZREMRANGEBYSCORE", "z", "-inf", "-inf"), c("ZREMRANGEBYSCORE", "z", "(+inf", "+inf"),
  c("ZRANGE", "z", "0", "-1", "WITHSCORES"), c("ZREMRANGEBYSCORE", "z", "-inf", "+inf"), c("EXISTS", "z"), c("ZREMRANGEBYSCORE", "nope", "0", "1"),
  c("ZREMRANGEBYSCORE", "z", "x", "1"), c("ZREMRANGEBYSCORE", "z", "1", "nan"), c("ZREMRANGEBYSCORE", "str", "x", "1"), c("ZREMRANGEBYSCORE", "str", "0", "1"),
  c("ZREMRANGEBYSCORE", "z", "0"),
  // ZREMRANGEBYLEX and ZLEXCOUNT (equal scores)
  c("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f"), c("ZLEXCOUNT", "lex", "-", "+"), c("ZLEXCOUNT", "lex", "[b", "(e"),
  c("ZLEXCOUNT", "lex", "(b", "[e"), c("ZLEXCOUNT", "lex", "[x", "+"), c("ZLEXCOUNT", "lex", "+", "-"), c("ZLEXCOUNT", "lex", "[c", "[c"),
  c("ZLEXCOUNT", "lex", "(c", "[c"), c("ZLEXCOUNT", "lex", "[d", "[b"), c("ZLEXCOUNT", "nope", "-", "+"), c("ZLEXCOUNT", "lex", "a", "+"),
  c("ZLEXCOUNT", "lex", "-", "z"), c("ZLEXCOUNT", "str", "-", "+"), c("ZLEXCOUNT", "str", "x", "+"), c("ZLEXCOUNT", "lex", "-"),
  c("ZREMRANGEBYLEX", "lex", "[b", "(d"), c("ZRANGE", "lex", "0", "-1"), c("ZREMRANGEBYLEX", "lex", "(d", "+"), c("ZRANGE", "lex", "0", "-1"),
  c("ZREMRANGEBYLEX", "lex", "[x", "+"), c("ZREMRANGEBYLEX", "lex", "+", "-"), c("ZREMRANGEBYLEX", "lex", "-", "+"), c("EXISTS", "lex"),
  c("ZREMRANGEBYLEX", "nope", "-", "+"), c("ZREMRANGEBYLEX", "lex", "a", "+"), c("ZREMRANGEBYLEX", "str", "-", "+"), c("ZREMRANGEBYLEX", "str", "x", "+"),
  // lexicographic ranges over scores that differ (unspecified in Redis; the clone walks as Redis does for a small set)
  c("ZADD", "mixed", "3", "a", "1", "b", "2", "c", "5", "d", "0", "e"), c("ZRANGEBYLEX", "mixed", "[b", "[c"), c("ZLEXCOUNT", "mixed", "[b", "[c"),
  c("ZRANGEBYLEX", "mixed", "[a", "+"), c("ZLEXCOUNT", "mixed", "[a", "+"), c("ZRANGEBYLEX", "mixed", "-", "[c"), c("ZREVRANGEBYLEX", "mixed", "+", "[a"),
  c("ZREMRANGEBYLEX", "mixed", "[b", "[d"), c("ZREMRANGEBYLEX", "mixed", "[e", "+"), c("ZRANGE", "mixed", "0", "-1"), c("ZADD", "mixed", "4", "z"),
  c("ZLEXCOUNT", "mixed", "[b", "[e"), c("ZRANGEBYLEX", "mixed", "[b", "[e"), c("ZREVRANGEBYLEX", "mixed", "[e", "[b"), c("ZREMRANGEBYLEX", "mixed", "[b", "[e"),
  c("ZRANGE", "mixed", "0", "-1"),
  // ZRANGESTORE
  c("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"), c("ZRANGESTORE", "dst", "z", "1", "3"), c("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
  c("ZRANGESTORE", "dst", "z", "0", "1", "REV"), c("ZRANGE", "dst", "0", "-1", "WITHSCORES"), c("ZRANGESTORE", "dst", "z", "(2", "+inf", "BYSCORE", "LIMIT", "1", "2"),
  c("ZRANGE", "dst", "0", "-1", "WITHSCORES"), c("ZRANGESTORE", "dst", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "2"), c("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
  c("ZADD", "lex", "0", "a", "0", "b", "0", "c"), c("ZRANGESTORE", "dst", "lex", "[b", "+", "BYLEX"), c("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
  c("ZRANGESTORE", "dst", "lex", "+", "-", "BYLEX", "REV", "LIMIT", "1", "1"), c("ZRANGE", "dst", "0", "-1"), c("ZRANGESTORE", "dst", "z", "10", "20"),
  c("EXISTS", "dst"), c("SET", "dst", "v"), c("EXPIREAT", "dst", y2100), c("ZRANGESTORE", "dst", "z", "0", "0"), c("TYPE", "dst"), c("TTL", "dst"),
  c("SET", "dst", "v"), c("ZRANGESTORE", "dst", "nope", "0", "-1"), c("EXISTS", "dst"), c("ZRANGESTORE", "z2", "z", "0", "-1"), c("ZRANGESTORE", "z2", "z2", "0", "1"),
  c("ZRANGE", "z2", "0", "-1", "WITHSCORES"), c("ZRANGESTORE", "dst", "str", "0", "-1"), c("ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"),
  c("ZRANGESTORE", "dst", "z", "0", "1", "LIMIT", "0", "1"), c("ZRANGESTORE", "dst", "z", "x", "1"), c("ZRANGESTORE", "dst", "str", "x", "1"),
  c("ZRANGESTORE", "dst", "z", "x", "1", "BYSCORE"), c("ZRANGESTORE", "dst", "lex", "-", "+", "BYLEX", "WITHSCORES"), c("ZRANGESTORE", "dst", "z", "0"),
  c("ZRANGESTORE", "dst", "z", "0", "1", "BYSCORE", "BYLEX"), c("ZRANGESTORE", "dst", "z", "0", "1", "REV", "REV"),
  // ZRANDMEMBER (random picks: compared by size; a single pick from a one-member set exactly)
  size("ZRANDMEMBER", "z", "3"), size("ZRANDMEMBER", "z", "5"), size("ZRANDMEMBER", "z", "10"), size("ZRANDMEMBER", "z", "-8"),
  size("ZRANDMEMBER", "z", "2", "WITHSCORES"), size("ZRANDMEMBER", "z", "-3", "withscores"), size("ZRANDMEMBER", "z", "9", "WITHSCORES"),
  size("ZRANDMEMBER", "z", "1"), c("ZRANDMEMBER", "z", "0"), c("ZRANDMEMBER", "z", "0", "WITHSCORES"), c("ZADD", "single", "2.5", "only"),
  c("ZRANDMEMBER", "single"), c("ZRANDMEMBER", "single", "1", "WITHSCORES"), c("ZRANDMEMBER", "single", "-2", "WITHSCORES"), c("ZRANDMEMBER", "single", "5"),
  c("ZRANDMEMBER", "nope"), c("ZRANDMEMBER", "nope", "3"), c("ZRANDMEMBER", "nope", "-3", "WITHSCORES"), c("ZRANDMEMBER", "str"), c("ZRANDMEMBER", "str", "1"),
  c("ZRANDMEMBER", "str", "0"), c("ZRANDMEMBER", "z", "x"), c("ZRANDMEMBER", "z", "1.5"), c("ZRANDMEMBER", "nope", "x"), c("ZRANDMEMBER", "z", "1", "FOO"),
  c("ZRANDMEMBER", "z", "1", "WITHSCORES", "x"), c("ZRANDMEMBER", "z", "-9223372036854775808"), c("ZRANDMEMBER", "z", "9223372036854775808"),
  c("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"), c("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"),
  size("ZRANDMEMBER", "z", "4611686018427387903", "WITHSCORES"), size("ZRANDMEMBER", "z", "9223372036854775807"),
  // ZSCAN of a small set: all of it in one reply, with cursor 0 (scores as Redis 7.0 prints them there)
  c("ZADD", "sc", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "-inf", "e", "1e17", "f", "1e18", "g", "-1e18", "h", "9.5e18", "i", "0.0000152587890625", "j"),
  c("ZSCAN", "sc", "0"), c("ZSCAN", "sc", "0", "COUNT", "1"), c("ZSCAN", "sc", "123", "count", "2"), c("ZSCAN", "sc", "0", "MATCH", "[a-c]"),
  c("ZSCAN", "sc", "0", "MATCH", "*"), c("ZSCAN", "sc", "0", "MATCH", "zz*"), c("ZSCAN", "sc", "0", "MATCH", "a", "COUNT", "100", "MATCH", "b"),
  c("ZSCAN", "sc", "-1"), c("ZSCAN", "sc", "+5"), c("ZSCAN", "sc", "18446744073709551615"), c("ZSCAN", "sc", "007"),
  c("ZSCAN", "sc", ""), c("ZSCAN", "sc", "-18446744073709551615"), c("ZSCAN", "sc", "-18446744073709551616"),
  c("ZSCAN", "sc", "18446744073709551616"), c("ZSCAN", "sc", "x"), c("ZSCAN", "sc", "1.5"), c("ZSCAN", "sc", " 1"), c("ZSCAN", "sc", "-"),
  c("ZSCAN", "sc", "0", "COUNT", "0"), c("ZSCAN", "sc", "0", "COUNT", "x"), c("ZSCAN", "sc", "0", "COUNT"), c("ZSCAN", "sc", "0", "TYPE", "zset"),
  c("ZSCAN", "sc", "0", "FOO", "bar"), c("ZSCAN", "nope", "0"), c("ZSCAN", "nope", "0", "FOO"), c("ZSCAN", "nope", "x"), c("ZSCAN", "str", "0"),
  c("ZSCAN", "str", "0", "FOO"), c("ZSCAN", "str", "x"), c("ZSCAN", "sc"),
  // ZUNION, ZINTER, ZDIFF and their STORE forms; a plain set counts with scores of 1
  c("DEL", "z", "z2", "dst"), c("ZADD", "za", "1", "a", "2", "b", "3", "c", "4", "d"), c("ZADD", "zb", "10", "b", "20", "c", "30", "e"), c("SADD", "set", "a", "x"),
  c("ZUNION", "2", "za", "zb"), c("ZUNION", "2", "za", "zb", "WITHSCORES"), c("ZUNION", "3", "za", "zb", "set", "WITHSCORES"),
  c("ZUNION", "2", "za", "zb", "WEIGHTS", "2", "0.5", "WITHSCORES"), c("ZUNION", "2", "za", "zb", "AGGREGATE", "MIN", "WITHSCORES"),
  c("ZUNION", "2", "za", "zb", "aggregate", "max", "withscores"), c("ZUNION", "2", "za", "zb", "WEIGHTS", "1", "-1", "AGGREGATE", "SUM", "WITHSCORES"),
  c("ZUNION", "2", "za", "nope", "WITHSCORES"), c("ZUNION", "1", "nope"), c("ZUNION", "2", "za", "za", "WITHSCORES"),
  c("ZINTER", "2", "za", "zb"), c("ZINTER", "2", "za", "zb", "WITHSCORES"), c("ZINTER", "2", "za", "set", "WITHSCORES"), c("ZINTER", "2", "za", "nope"),
  c("ZINTER", "3", "za", "zb", "za", "WEIGHTS", "1", "2", "3", "AGGREGATE", "MAX", "WITHSCORES"), c("ZINTER", "2", "zb", "za", "AGGREGATE", "MIN", "WITHSCORES"),
  c("ZDIFF", "2", "za", "zb"), c("ZDIFF", "2", "za", "zb", "WITHSCORES"), c("ZDIFF", "3", "za", "zb", "set", "WITHSCORES"), c("ZDIFF", "1", "za", "WITHSCORES"),
  c("ZDIFF", "2", "za", "za"), c("ZDIFF", "2", "nope", "za"), c("ZDIFF", "2", "set", "za", "WITHSCORES"),
  c("ZUNIONSTORE", "out", "2", "za", "zb"), c("ZRANGE", "out", "0", "-1", "WITHSCORES"), c("ZINTERSTORE", "out", "2", "za", "zb", "WEIGHTS", "3", "1"),
  c("ZRANGE", "out", "0", "-1", "WITHSCORES"), c("ZDIFFSTORE", "out", "2", "za", "zb"), c("ZRANGE", "out", "0", "-1", "WITHSCORES"),
  c("ZUNIONSTORE", "out", "2", "set", "set"), c("ZRANGE", "out", "0", "-1", "WITHSCORES"), c("ZINTERSTORE", "out", "2", "za", "nope"), c("EXISTS", "out"),
  c("SET", "out", "v"), c("EXPIREAT", "out", y2100), c("ZUNIONSTORE", "out", "1", "za"), c("TYPE", "out"), c("TTL", "out"), c("ZDIFFSTORE", "out", "2", "za", "za"),
  c("EXISTS", "out"), c("ZUNIONSTORE", "za", "2", "za", "zb", "AGGREGATE", "MAX"), c("ZRANGE", "za", "0", "-1", "WITHSCORES"),
  // infinities: inf * 0 and inf - inf count as 0
  c("ZADD", "zi", "0", "a", "inf", "b", "-inf", "c"), c("ZUNION", "1", "zi", "WEIGHTS", "inf", "WITHSCORES"), c("ZUNION", "2", "zi", "zi", "WITHSCORES"),
  c("ZUNION", "2", "zi", "zi", "WEIGHTS", "1", "-1", "WITHSCORES"), c("ZINTER", "2", "zi", "zi", "WEIGHTS", "0", "1", "AGGREGATE", "MIN", "WITHSCORES"),
  c("ZINTER", "2", "zi", "zi", "WEIGHTS", "1", "0", "AGGREGATE", "MAX", "WITHSCORES"), c("ZUNIONSTORE", "out", "2", "zi", "zi", "WEIGHTS", "inf", "-inf"),
  c("ZRANGE", "out", "0", "-1", "WITHSCORES"),
  // -0: a reply says "-0", a stored set "0"
  c("ZADD", "zero", "0", "a", "1", "b"), c("ZUNION", "1", "zero", "WEIGHTS", "-1", "WITHSCORES"), c("ZUNIONSTORE", "out", "1", "zero", "WEIGHTS", "-1"),
  c("ZRANGE", "out", "0", "-1", "WITHSCORES"), c("ZSCORE", "out", "a"), c("ZADD", "zero1", "0", "a"),
  c("ZUNION", "2", "zero", "zero1", "WEIGHTS", "1", "-1", "AGGREGATE", "MIN", "WITHSCORES"), c("ZUNION", "2", "zero1", "zero", "WEIGHTS", "-1", "1", "AGGREGATE", "MAX", "WITHSCORES"),
  c("ZINTER", "2", "zero", "zero1", "WEIGHTS", "1", "-1", "AGGREGATE", "MAX", "WITHSCORES"),
  // ZINTERCARD
  c("ZINTERCARD", "2", "za", "zb"), c("ZINTERCARD", "2", "za", "set"), c("ZINTERCARD", "2", "za", "za", "LIMIT", "1"), c("ZINTERCARD", "2", "za", "za", "LIMIT", "0"),
  c("ZINTERCARD", "1", "nope"), c("ZINTERCARD", "2", "za", "zb", "LIMIT", "-1"), c("ZINTERCARD", "2", "za", "zb", "LIMIT", "x"), c("ZINTERCARD", "2", "za", "zb", "LIMIT"),
  c("ZINTERCARD", "2", "za", "zb", "WITHSCORES"), c("ZINTERCARD", "2", "za", "zb", "WEIGHTS", "1", "1"), c("ZINTERCARD", "0", "za"), c("ZINTERCARD", "2", "str", "za", "LIMIT", "x"),
  // errors: numkeys, then the inputs' types, then the options
  c("ZUNION", "0", "za"), c("ZUNION", "-1", "za"), c("ZUNION", "x", "za"), c("ZUNION", "9223372036854775807", "za"), c("ZUNION", "9223372036854775808", "za"), c("ZUNION", "3", "za", "zb"), c("ZUNIONSTORE", "out", "0", "za"),
  c("ZINTERSTORE", "out", "x", "za"), c("ZDIFFSTORE", "out", "0", "za"), c("ZDIFF", "0", "za"), c("ZINTER", "0", "za"), c("ZDIFFSTORE", "out", "3", "za"),
  c("ZUNION", "2", "za", "str"), c("ZUNIONSTORE", "out", "2", "za", "str"), c("ZUNIONSTORE", "str", "1", "za"), c("TYPE", "str"), c("SET", "str", "v"),
  c("ZUNION", "1", "str", "WEIGHTS", "x"), c("ZUNION", "1", "za", "WEIGHTS", "x"), c("ZUNIONSTORE", "out", "1", "str", "FOO"), c("ZUNIONSTORE", "out", "1", "za", "FOO"),
  c("ZUNION", "2", "za", "zb", "WEIGHTS", "1"), c("ZUNION", "2", "za", "zb", "WEIGHTS", "1", "nan"), c("ZUNION", "1", "za", "WEIGHTS", "1e400"),
  c("ZUNION", "1", "za", "WEIGHTS", " 1"), c("ZUNION", "1", "za", "WEIGHTS", "0x10", "WITHSCORES"), c("ZUNION", "1", "za", "AGGREGATE", "AVG"),
  c("ZUNION", "1", "za", "AGGREGATE"), c("ZUNION", "1", "za", "WEIGHTS", "2", "WEIGHTS", "3", "AGGREGATE", "MIN", "AGGREGATE", "SUM", "WITHSCORES", "WITHSCORES"),
  c("ZUNIONSTORE", "out", "1", "za", "WITHSCORES"), c("ZDIFF", "2", "za", "zb", "WEIGHTS", "1", "1"), c("ZDIFF", "2", "za", "zb", "AGGREGATE", "SUM"),
  c("ZDIFFSTORE", "out", "2", "za", "zb", "WITHSCORES"), c("ZUNION", "1"), c("ZUNIONSTORE", "out", "1"), c("ZINTERCARD", "1"), c("DBSIZE"),
];

describe("the added list and sorted set commands answer as redis-server does", () => {
  diffTests(servers, "lists", lists);
  diffTests(servers, "sorted sets", zsets);

  test("ZSCAN of a large sorted set returns the same members and scores as redis-server over a whole iteration", async () => {
    const collect = async (port: number, options: string[]): Promise<string[]> => sortedPairs(await scanAll(port, ["ZSCAN", "big"], options));
    for (const port of [servers.redisPort, servers.clonePort]) {
      const connection = await RespConnection.connect(port);
      await connection.call("DEL", "big");
      // 300 members (more than a small set holds), with runs of equal scores.
      for (let i = 0; i < 300; i += 50) {
        const args: string[] = [];
        for (let j = i; j < i + 50; j++) args.push(String(j % 7 === 0 ? 7 : j), `member:${j}`);
        await connection.call("ZADD", "big", ...args);
      }
      connection.close();
    }
    for (const options of [[], ["COUNT", "7"], ["COUNT", "1"], ["MATCH", "member:1*", "COUNT", "3"], ["COUNT", "1000"]]) {
      const expected = await collect(servers.redisPort, options);
      expect(expected.length).toBeGreaterThan(0);
      expect(await collect(servers.clonePort, options)).toEqual(expected);
    }
  });

  test("a ZSCAN that removes most of what it was given (the set shrinks to a small one) sees every member once", async () => {
    const connection = await RespConnection.connect(servers.clonePort);
    try {
      await connection.call("DEL", "scan-del");
      const members: string[] = [];
      for (let i = 0; i < 500; i++) members.push(String(i % 40), `m${i}`);
      await connection.call("ZADD", "scan-del", ...members);
      const seen = new Map<string, number>();
      let cursor = "0";
      let step = 0;
      let shrunk = false;
      do {
        if (cursor !== "0" && Number(plain(await connection.call("ZCARD", "scan-del"))) <= 128) shrunk = true;
        const [next, items] = plain(await connection.call("ZSCAN", "scan-del", cursor, "COUNT", "25")) as [string, string[]];
        cursor = next;
        const names = items.filter((_, i) => i % 2 === 0);
        for (const name of names) seen.set(name, (seen.get(name) ?? 0) + 1);
        // Remove nine in ten of what came back (the set gets small before the end), and add members behind the cursor and ahead of it.
        if (names.length > 0) await connection.call("ZREM", "scan-del", ...names.filter((_, i) => i % 10 !== 0));
        await connection.call("ZADD", "scan-del", "-1", `behind${step}`, "100", `ahead${step}`);
        step++;
      } while (cursor !== "0" && step < 1000);
      expect(shrunk).toBe(true);
      for (let i = 0; i < 500; i++) expect(seen.get(`m${i}`)).toBe(1);
      for (const [name, times] of seen) if (name.startsWith("ahead")) expect(times).toBe(1);
      expect([...seen.keys()].some((name) => name.startsWith("behind"))).toBe(false);
    } finally {
      connection.close();
    }
  });
});

describe("a 3-node cluster", () => {
  const cluster = new InProcessNodes("lists-zsets");

  test("applies the added writes alike on every node (DEBUG DIGEST)", async () => {
    // Low consistency: each node answers DEBUG DIGEST from its own state.
    const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });

    const many: string[] = [];
    for (let i = 0; i < 300; i++) many.push(String(i % 13), `m${i}`);
    const writes: string[][] = [
      ["RPUSH", "l", "a", "b", "c", "b"],
      ["LINSERT", "l", "BEFORE", "b", "x"],
      ["LINSERT", "l", "AFTER", "c", "y"],
      ["LMOVE", "l", "l2", "LEFT", "RIGHT"],
      ["LMOVE", "l", "l", "RIGHT", "LEFT"],
      ["RPOPLPUSH", "l", "l2"],
      ["LMPOP", "2", "nope", "l", "RIGHT", "COUNT", "2"],
      ["RPUSH", "gone", "only"],
      ["LMPOP", "1", "gone", "LEFT"],
      ["ZADD", "big", ...many],
      ["ZREMRANGEBYRANK", "big", "10", "40"],
      ["ZREMRANGEBYSCORE", "big", "(3", "5"],
      ["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"],
      ["ZREMRANGEBYLEX", "lex", "[b", "(d"],
      // Scores that differ: the range's ends are found by walking, the same on every node.
      ["ZADD", "mixed", "3", "a", "1", "b", "2", "c", "5", "d", "0", "e", "4", "z"],
      ["ZREMRANGEBYLEX", "mixed", "[b", "[e"],
      ["SADD", "set", "m1", "m2", "extra"],
      ["ZUNIONSTORE", "u", "3", "big", "lex", "set", "WEIGHTS", "2", "1", "0.5", "AGGREGATE", "SUM"],
      ["ZINTERSTORE", "i", "2", "big", "set", "AGGREGATE", "MAX"],
      ["ZDIFFSTORE", "d", "2", "big", "set"],
      ["ZRANGESTORE", "r", "big", "5", "+inf", "BYSCORE", "REV", "LIMIT", "3", "50"],
      ["ZRANGESTORE", "lex", "nope", "0", "-1"],
    ];
    await writeEach(first.port, writes);
    const ports = cluster.nodes.map((node) => node.port);
    await awaitSameDigest(ports);
    const size = await callPort(first.port, "DBSIZE");
    expect(size).toBeGreaterThan(5);
    for (const port of ports) {
      expect(await callPort(port, "DBSIZE")).toBe(size);
      expect(await callPort(port, "ZRANGE", "mixed", "0", "-1")).toEqual(["z", "d"]);
    }
    // ZSCAN's cursors come from the data: every node answers a step alike, and one node's cursor goes on at another.
    const steps = await Promise.all(ports.map((port) => callPort(port, "ZSCAN", "big", "0", "COUNT", "20")));
    for (const step of steps) expect(step).toEqual(steps[0]);
    const [cursor] = steps[0] as [string, string[]];
    expect(cursor).not.toBe("0");
    const next = await Promise.all(ports.map((port) => callPort(port, "ZSCAN", "big", cursor, "COUNT", "20")));
    for (const step of next) expect(step).toEqual(next[0]);
  });
});
