/**
 * The clone against the real redis-server installed on this machine, reply for reply
 * (`helpers/redis-diff.ts`): the same command sequence goes to both, in RESP2 and in RESP3.
 * Scores are chosen so that Redis 7.0's `%.17g` and the shortest round-trip form (Redis 7.2+, and
 * the clone) print the same. Stream ids are given explicitly (`*` uses each server's clock).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Case, c, diffServers, diffTests, positive, scanAll, size, sorted, y2100 } from "./helpers/redis-diff.ts";
import { RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

/** The script: every type's commands, edge cases and errors. */
const script: Case[] = [
  // strings and type errors
  c("SET", "str", "hello"), c("GET", "str"), c("APPEND", "str", "!"), c("STRLEN", "str"), c("INCR", "str"), c("SET", "n", "10"),
  c("INCRBY", "n", "5"), c("DECRBY", "n", "x"), c("MSET", "a", "1", "b"), c("MGET", "str", "nope"),
  // integers across the safe-integer (2^53) and int64 bounds, and texts string2ll refuses
  c("SET", "i", "9007199254740990"), c("INCRBY", "i", "5"), c("GET", "i"), c("INCR", "i"), c("DECRBY", "i", "9007199254740999"), c("GET", "i"),
  c("SET", "i", "-9007199254740990"), c("DECRBY", "i", "5"), c("INCRBY", "i", "-9007199254740990"), c("GET", "i"), c("INCRBY", "i", "18014398509481980"),
  c("SET", "i", "9223372036854775806"), c("INCR", "i"), c("INCR", "i"), c("GET", "i"), c("DECRBY", "i", "-9223372036854775808"),
  c("SET", "i", "-9223372036854775807"), c("DECR", "i"), c("DECR", "i"), c("INCRBY", "i", "9223372036854775807"), c("GET", "i"),
  c("INCRBY", "i", "9223372036854775808"), c("INCRBY", "i", "-9223372036854775809"), c("INCRBY", "i", "007"), c("INCRBY", "i", "-0"), c("INCRBY", "i", "+1"),
  c("INCRBY", "i", " 1"), c("INCRBY", "i", "0"), c("INCRBY", "i", "-"), c("INCRBY", "i", "123456789012345"), c("INCRBY", "i", "-1234567890123456"),
  c("SET", "i", "007"), c("INCR", "i"), c("SET", "i", "-0"), c("INCR", "i"), c("SET", "i", "1.0"), c("INCR", "i"), c("SET", "i", ""), c("DECR", "i"),
  c("HSET", "hi", "f", "9007199254740991"), c("HINCRBY", "hi", "f", "1"), c("HINCRBY", "hi", "f", "-9007199254740992"), c("HGET", "hi", "f"),
  c("HINCRBY", "hi", "f", "9223372036854775807"), c("HINCRBY", "hi", "f", "-9223372036854775808"), c("HGET", "hi", "f"), c("HINCRBY", "hi", "g", "-0"),
  c("ZADD", "zi", "007", "a", "-0", "b", "-12", "c", "123456789012345", "d", "1234567890123456789", "e", "-", "f"), c("ZADD", "zi", "0012", "g"),
  c("ZRANGE", "zi", "0", "-1", "WITHSCORES"), c("ZADD", "zi", "-", "x"), c("ZADD", "zi", "1-", "x"), c("ZADD", "zi", "--1", "x"),
  // expiry times, short (read in numbers) and long (in bigints), at their bounds
  c("SET", "e", "v", "EX", "0"), c("SET", "e", "v", "EX", "-5"), c("SET", "e", "v", "PX", "x"), c("SET", "e", "v", "EX", "007"),
  c("SET", "e", "v", "EXAT", "999999999999"), c("EXPIRETIME", "e"), c("PEXPIRETIME", "e"), c("SET", "e", "v", "PXAT", "1"), c("EXISTS", "e"),
  c("SET", "e", "v", "EXAT", "9223372036854775"), c("SET", "e", "v", "EXAT", "9223372036854776"), c("SET", "e", "v", "PXAT", "9007199254740991"),
  c("PEXPIRETIME", "e"), c("SET", "e", "v", "EX", "9223372036854775"), c("SET", "e", "v", "PX", "9223372036854775807"), c("GETEX", "e", "EXAT", "99999999999"),
  c("EXPIRETIME", "e"), c("GETEX", "e", "EX", "0"), c("EXPIREAT", "e", "123456789012"), c("EXPIRETIME", "e"), c("PEXPIREAT", "e", "-1234567890123"),
  c("EXISTS", "e"), c("SET", "e", "v"), c("EXPIRE", "e", "-99999999999"), c("EXISTS", "e"), c("SET", "e", "v"), c("EXPIRE", "e", "9223372036854776"),
  c("EXPIREAT", "e", "9007199254740"), c("EXPIRETIME", "e"), c("EXPIREAT", "e", "9223372036854776"), c("PEXPIRE", "e", "9223372036854775807"), c("SETEX", "e", "-1", "v"), c("PSETEX", "e", "0", "v"),
  // lists
  c("RPUSH", "l", "a", "b", "c"), c("LPUSH", "l", "x", "y"), c("LRANGE", "l", "0", "-1"), c("LRANGE", "l", "-2", "100"), c("LRANGE", "l", "3", "1"),
  c("LRANGE", "l", "0", "x"), c("LRANGE", "nope", "0", "-1"), c("LLEN", "l"), c("LLEN", "nope"), c("LINDEX", "l", "-1"), c("LINDEX", "l", "9"),
  c("LINDEX", "nope", "x"), c("LINDEX", "l", "x"), c("LPOP", "l"), c("RPOP", "l"), c("LPOP", "l", "2"), c("LPOP", "l", "0"), c("RPOP", "l", "9"),
  c("EXISTS", "l"), c("LPOP", "l"), c("LPOP", "l", "2"), c("LPOP", "l", "-1"), c("LPOP", "l", "x"), c("LPOP", "l", "1", "2"), c("LPOP", "str"),
  c("LPUSH", "str", "x"), c("GET", "l"), c("LPUSHX", "l", "a"), c("RPUSH", "l", "a", "b", "a", "c", "a"), c("RPUSHX", "l", "d"),
  c("LSET", "l", "1", "B"), c("LSET", "l", "-1", "D"), c("LSET", "l", "10", "x"), c("LSET", "nope", "0", "x"), c("LREM", "l", "-1", "a"),
  // The key is answered for before the index (missing, or another type), as in Redis.
  c("LSET", "nope", "x", "v"), c("SADD", "lset-set", "a"), c("LSET", "lset-set", "x", "v"), c("LSET", "l", "x", "v"),
  c("LRANGE", "l", "0", "-1"), c("LREM", "l", "0", "a"), c("LTRIM", "l", "1", "-1"), c("LRANGE", "l", "0", "-1"), c("LTRIM", "l", "5", "10"),
  c("EXISTS", "l"), c("TYPE", "l"), c("LPUSH", "l"),
  // sets
  c("SADD", "s", "a", "b", "a", "c"), c("SADD", "s", "c", "d"), c("SCARD", "s"), c("SISMEMBER", "s", "a"), c("SISMEMBER", "s", "z"),
  c("SMISMEMBER", "s", "a", "z"), sorted("SMEMBERS", "s"), sorted("SMEMBERS", "nope"), c("SREM", "s", "a", "z"), c("SPOP", "nope"),
  c("SPOP", "nope", "2"), c("SPOP", "s", "-1"), c("SPOP", "s", "x"), c("SPOP", "s", "1", "2"), c("SPOP", "s", "0"), size("SPOP", "s", "2"),
  c("SCARD", "s"), size("SPOP", "s", "10"), c("EXISTS", "s"), c("SADD", "s", "only"), c("SPOP", "s"), c("EXISTS", "s"), c("SADD", "str", "x"),
  c("SADD", "s", "p", "q", "r"), size("SRANDMEMBER", "s", "2"), size("SRANDMEMBER", "s", "-5"), size("SRANDMEMBER", "s", "10"),
  c("SRANDMEMBER", "nope"), c("SRANDMEMBER", "nope", "3"), c("SRANDMEMBER", "s", "x"), c("TYPE", "s"),
  // hashes
  c("HSET", "h", "a", "1", "b", "2"), c("HSET", "h", "a", "10", "c", "3"), c("HMSET", "h", "d", "4"), c("HSETNX", "h", "d", "x"), c("HSETNX", "h", "e", "five"),
  c("HGET", "h", "a"), c("HGET", "h", "z"), c("HMGET", "h", "a", "z", "b"), c("HGETALL", "h"), c("HGETALL", "nope"), c("HLEN", "h"),
  c("HEXISTS", "h", "a"), c("HKEYS", "h"), c("HVALS", "h"), c("HSTRLEN", "h", "e"), c("HSET", "h", "a"), c("HSET", "h", "a", "1", "b"),
  c("HMSET", "h", "a", "1", "b"), c("HINCRBY", "h", "n", "5"), c("HINCRBY", "h", "n", "-7"), c("HINCRBY", "h", "n", "x"), c("HINCRBY", "h", "e", "1"),
  c("HSET", "h", "big", "9223372036854775806"), c("HINCRBY", "h", "big", "1"), c("HINCRBY", "h", "big", "1"), c("HDEL", "h", "a", "z"),
  c("HDEL", "h", "b", "c", "d", "e", "n", "big"), c("EXISTS", "h"), c("HGET", "str", "f"), c("TYPE", "h"),
  // sorted sets
  c("ZADD", "z", "1", "a", "2", "b", "3", "c"), c("ZADD", "z", "1.5", "a", "4", "d"), c("ZCARD", "z"), c("ZSCORE", "z", "a"), c("ZSCORE", "z", "zz"),
  c("ZMSCORE", "z", "a", "zz"), c("ZRANGE", "z", "0", "-1"), c("ZRANGE", "z", "0", "1", "WITHSCORES"), c("ZRANGE", "z", "0", "-1", "REV", "WITHSCORES"),
  c("ZREVRANGE", "z", "0", "1", "WITHSCORES"), c("ZRANGE", "z", "5", "10"), c("ZRANK", "z", "c"), c("ZREVRANK", "z", "c"), c("ZRANK", "z", "zz"),
  c("ZADD", "z", "XX", "1", "new"), c("ZADD", "z", "NX", "5", "a", "3", "e"), c("ZADD", "z", "XX", "CH", "5", "a", "9", "new"),
  c("ZADD", "z", "GT", "CH", "4", "a", "10", "b"), c("ZADD", "z", "LT", "CH", "4", "a", "20", "b"), c("ZADD", "z", "INCR", "2.5", "a"),
  c("ZADD", "z", "NX", "INCR", "1", "a"), c("ZADD", "z", "XX", "INCR", "1", "nobody"), c("ZADD", "z", "GT", "INCR", "-1", "a"), c("ZINCRBY", "z", "10", "a"),
  c("ZINCRBY", "z", "x", "a"), c("ZINCRBY", "z", "XX", "a"), c("ZINCRBY", "z", "nx", "incr"), c("ZINCRBY", "z", "GT", "1"), c("ZINCRBY", "z", "ch", "a"), c("ZADD", "z", "NX", "XX", "1", "a"), c("ZADD", "z", "GT", "LT", "1", "a"), c("ZADD", "z", "NX", "GT", "1", "a"),
  c("ZADD", "z", "INCR", "1", "a", "2", "b"), c("ZADD", "z", "1", "a", "2"), c("ZADD", "z", "NX"), c("ZADD", "z", "NX", "1"), c("ZADD", "z", "x", "a"),
  c("ZADD", "z", "nan", "a"), c("ZADD", "z", "1e400", "a"), c("ZADD", "z", " 1", "a"), c("ZADD", "zx", "XX", "1", "a"), c("EXISTS", "zx"),
  c("ZADD", "inf", "+inf", "m", "-inf", "n", "-0", "o"), c("ZINCRBY", "inf", "-inf", "m"), c("ZRANGE", "inf", "0", "-1", "WITHSCORES"),
  // Scores printed in exponent form from 1e17 and below 1e-4, with two exponent digits at least.
  c("ZADD", "big", "1e17", "a", "1152921504606846976", "b", "0.00000095367431640625", "c", "-1e20", "d", "0.0001220703125", "e"),
  c("ZRANGE", "big", "0", "-1", "WITHSCORES"), c("ZSCORE", "big", "b"), c("ZINCRBY", "big", "1e20", "a"),
  // Hexadecimal floats, as strtod reads them; too large or too small (not zero) is refused.
  c("ZADD", "hex", "0x10", "a", "0x1p-2", "b", "-0x.8", "c", "0X1.8P3", "d"), c("ZRANGE", "hex", "0", "-1", "WITHSCORES"),
  c("ZINCRBY", "hex", "0x1p4", "a"), c("ZCOUNT", "hex", "(0x0", "0x20"), c("ZRANGEBYSCORE", "hex", "-0x1p0", "(0x10"),
  c("ZADD", "hex", "0x1p2000", "e"), c("ZADD", "hex", "0x1p-2000", "e"), c("ZADD", "hex", "0x", "e"), c("ZADD", "hex", "0x1g", "e"),
  c("DEL", "z"), c("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"),
  c("ZRANGEBYSCORE", "z", "2", "4"), c("ZRANGEBYSCORE", "z", "(2", "(4"), c("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"),
  c("ZRANGEBYSCORE", "z", "(1", "inf", "WITHSCORES", "LIMIT", "1", "2"), c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "-1"),
  c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"), c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "5", "2"),
  c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"), c("ZRANGEBYSCORE", "z", "4", "2"), c("ZRANGEBYSCORE", "z", "(2", "2"),
  c("ZREVRANGEBYSCORE", "z", "4", "(1", "LIMIT", "1", "10"), c("ZRANGE", "z", "(4", "2", "BYSCORE", "REV"),
  c("ZRANGE", "z", "2", "+inf", "BYSCORE", "LIMIT", "1", "1", "WITHSCORES"), c("ZCOUNT", "z", "(1", "4"), c("ZCOUNT", "z", "6", "+inf"),
  c("ZCOUNT", "z", "x", "1"), c("ZRANGEBYSCORE", "z", "x", "4"), c("ZRANGEBYSCORE", "z", "(", "4"), c("ZRANGEBYSCORE", "z", "1", "nan"),
  c("ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"), c("ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"), c("ZRANGEBYSCORE", "z", "1", "2", "REV"),
  c("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"), c("ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"), c("ZRANGE", "z", "x", "1"),
  c("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"), c("ZRANGEBYLEX", "lex", "-", "+"), c("ZRANGEBYLEX", "lex", "[b", "(d"),
  c("ZRANGEBYLEX", "lex", "(a", "+", "LIMIT", "1", "1"), c("ZREVRANGEBYLEX", "lex", "+", "[b"), c("ZRANGE", "lex", "[c", "-", "BYLEX", "REV"),
  c("ZRANGEBYLEX", "lex", "b", "+"), c("ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"),
  c("ZPOPMIN", "z"), c("ZPOPMAX", "z", "1"), c("ZPOPMAX", "z", "2"), c("ZPOPMIN", "z", "5"), c("EXISTS", "z"), c("ZPOPMIN", "z"), c("ZPOPMIN", "z", "0"),
  c("ZPOPMIN", "z", "-1"), c("ZPOPMIN", "z", "1", "2"), c("ZPOPMIN", "str", "0"), c("ZPOPMIN", "str"), c("ZREM", "lex", "a", "zz"), c("TYPE", "lex"),
  // streams (explicit ids)
  c("XADD", "st", "1000-0", "f", "v"), c("XADD", "st", "1000-*", "f", "v2"), c("XADD", "st", "2000", "f", "v3"), c("XADD", "st", "2000-0", "f", "x"),
  c("XADD", "st", "0-0", "f", "x"), c("XADD", "st", "bad", "f", "x"), c("XADD", "st", "3000-0", "f"), c("XLEN", "st"), c("XRANGE", "st", "-", "+"),
  // Id parts as strtoull reads them: leading spaces and a + are taken, a - is not.
  c("XADD", "sp", "+2", "f", "v"), c("XADD", "sp", " 3-0", "f", "v"), c("XADD", "sp", "4-+1", "f", "v"), c("XADD", "sp", "5- 1", "f", "v"),
  c("XRANGE", "sp", "+1", "+"), c("XADD", "sp", " -1", "f", "v"), c("XADD", "sp", "6 ", "f", "v"), c("XADD", "sp", "7--1", "f", "v"),
  c("XRANGE", "st", "-", "+", "COUNT", "2"), c("XRANGE", "st", "(1000-0", "+"), c("XREVRANGE", "st", "+", "-", "COUNT", "1"), c("XRANGE", "st", "1000", "1000"),
  c("XRANGE", "st", "-", "+", "COUNT", "0"), c("XRANGE", "nope", "-", "+"), c("XADD", "st", "MAXLEN", "2", "4000-0", "f", "v4"), c("XLEN", "st"),
  c("XADD", "nope", "NOMKSTREAM", "5-0", "f", "v"), c("EXISTS", "nope"), c("XADD", "st", "MAXLEN", "1", "LIMIT", "5", "5000-0", "f", "v"),
  c("XADD", "st", "MAXLEN", "~", "1", "5000-0", "f", "v"), c("XLEN", "st"), c("XADD", "st", "MINID", "5000-0", "6000-0", "f", "v"), c("XLEN", "st"),
  c("XADD", "st", "MAXLEN", "-1", "7000-0", "f", "v"), c("XADD", "str", "8000-0", "f", "v"), c("XLEN", "str"), c("XRANGE", "st", "x", "+"), c("TYPE", "st"),
  // expiry (absolute times where replies are compared exactly; relative TTLs compared as positive)
  c("SET", "t1", "v", "EXAT", y2100), c("EXPIRETIME", "t1"), c("PEXPIRETIME", "t1"), c("SET", "t1", "w", "KEEPTTL"), c("EXPIRETIME", "t1"),
  c("SET", "t1", "x"), c("TTL", "t1"), c("PTTL", "t1"), c("TTL", "nope"), c("PTTL", "nope"), c("EXPIRETIME", "nope"), c("SET", "t1", "v", "PXAT", `${y2100}123`),
  c("PEXPIRETIME", "t1"), c("EXPIRETIME", "t1"), positive("TTL", "t1"), positive("PTTL", "t1"), c("SET", "t2", "v", "NX", "GET"),
  c("SET", "t2", "w", "NX", "GET"), c("SET", "t2", "w", "XX"), c("SET", "t3", "w", "XX"), c("SET", "t2", "z", "GET"), c("SET", "t2", "y", "XX", "GET", "PX", "100000"),
  positive("PTTL", "t2"), c("SET", "l", "v", "GET"), c("SET", "k", "v", "EX", "0"), c("SET", "k", "v", "PX", "-1"), c("SET", "k", "v", "EX", "x"),
  c("SET", "k", "v", "NX", "XX"), c("SET", "k", "v", "EX", "1", "KEEPTTL"), c("SET", "k", "v", "EX", "1", "PX", "1"),
  c("SET", "k", "v", "EX", "9223372036854775807"), c("SET", "k", "v", "EX"), c("SET", "k", "v", "FOO"), c("SET", "t7", "v", "EXAT", "1"), c("EXISTS", "t7"),
  c("SETEX", "t4", "100", "v"), positive("TTL", "t4"), c("SETEX", "t4", "0", "v"), c("SETEX", "t4", "x", "v"), c("PSETEX", "t4", "-1", "v"),
  c("PSETEX", "t4", "100000", "w"), c("GET", "t4"), c("SETNX", "t4", "x"), c("SETNX", "t5", "x"),
  c("EXPIRE", "t5", "100", "XX"), c("EXPIRE", "t5", "100", "GT"), c("EXPIREAT", "t5", y2100, "LT"), c("EXPIRETIME", "t5"),
  c("EXPIREAT", "t5", "4102444801", "GT"), c("EXPIREAT", "t5", "4102444700", "GT"), c("EXPIRETIME", "t5"), c("EXPIREAT", "t5", "4102444700", "LT"),
  c("EXPIRETIME", "t5"), c("EXPIREAT", "t5", "4102444801", "NX"), c("PEXPIREAT", "t5", `${y2100}000`, "XX"), c("PEXPIRETIME", "t5"),
  c("EXPIRE", "t5", "1", "NX", "XX"), c("EXPIRE", "t5", "1", "GT", "LT"), c("EXPIRE", "t5", "1", "foo"), c("EXPIRE", "t5", "x"),
  c("EXPIRE", "t5", "9223372036854775807"), c("PEXPIRE", "t5", "9223372036854775807"), c("PERSIST", "t5"), c("PERSIST", "t5"), c("PERSIST", "nope"),
  c("TTL", "t5"), c("EXPIRE", "t5", "-1"), c("EXISTS", "t5"), c("EXPIRE", "nope", "10"), c("PEXPIREAT", "t4", "1"), c("EXISTS", "t4"),
  c("SET", "g", "v"), c("GETEX", "g"), c("GETEX", "g", "EXAT", y2100), c("EXPIRETIME", "g"), c("GETEX", "g", "PERSIST"), c("TTL", "g"),
  c("GETEX", "g", "PX", "100000"), positive("PTTL", "g"), c("GETEX", "g", "EX", "0"), c("GETEX", "g", "EX", "1", "PERSIST"), c("GETEX", "g", "NX"),
  c("GETEX", "nope", "EX", "10"), c("RPUSH", "gl", "a"), c("GETEX", "gl", "EX", "10"), c("GETDEL", "gl"), c("GETDEL", "g"), c("GETDEL", "g"),
  c("SADD", "gs", "a"), c("GETEX", "gs", "EX", "x"), c("GETEX", "gs", "PX", "-9223372036854775808"), c("GETEX", "nope", "EX", "x"),
  c("SET", "t6", "v", "EXAT", y2100), c("APPEND", "t6", "x"), c("INCR", "t6"), c("EXPIRETIME", "t6"), c("RENAME", "t6", "t6b"), c("EXPIRETIME", "t6b"),
  c("RPUSH", "tl", "a"), c("EXPIREAT", "tl", y2100), c("RPUSH", "tl", "b"), c("EXPIRETIME", "tl"), c("RENAMENX", "tl", "tl2"), c("EXPIRETIME", "tl2"),
  c("MSET", "t6b", "m"), c("EXPIRETIME", "t6b"), c("GETEX", "g", "PXAT", "1"),
  // connection commands with wrong arguments, WATCH inside MULTI (found by probing, 27 Nov)
  c("GETEX", "nope", "EX", "-1"), c("COMMAND", "COUNT", "x"), c("HELLO", "-1"), c("HELLO", "x"), c("AUTH", "admin", "x"), c("AUTH", "default", "x"),
  c("CLIENT", "KILL"), c("CLIENT", "KILL", "ID", "abc"), c("CLIENT", "KILL", "SKIPME", "maybe"), c("CLIENT", "KILL", "FOO", "bar"),
  c("CLIENT", "KILL", "TYPE", "foo"), c("CLIENT", "KILL", "TYPE", "pubsub"), c("CLIENT", "KILL", "TYPE", "master"), c("CLIENT", "KILL", "USER", "nobody"),
  c("CLIENT", "KILL", "MAXAGE", "x"), c("CLIENT", "KILL", "LADDR", "1.2.3.4:5"), c("CLIENT", "KILL", "USER", "default"),
  c("CLIENT", "NO-EVICT", "maybe"), c("CLIENT", "NO-EVICT", "on"), c("CLIENT", "INFO", "x"), c("CLIENT", "LIST", "ID", "abc"),
  c("CLIENT", "LIST", "TYPE", "foo"), c("CLIENT", "LIST", "TYPE", "pubsub"), c("CLIENT", "ID", "x"), c("CLIENT", "GETNAME", "x"),
  c("MULTI"), c("WATCH", "w"), c("SET", "w", "1"), c("EXEC"), c("GET", "w"),
  // keyspace over every type
  c("DBSIZE"), c("EXISTS", "str", "lex", "st", "inf", "nope", "str"), c("TYPE", "nope"), c("RENAME", "lex", "lex2"), c("RENAME", "nope", "x"),
  c("RENAME", "lex2", "str"), c("TYPE", "str"), c("RENAME", "str", "str"), c("RENAMENX", "st", "inf"), c("RENAMENX", "st", "st2"), c("RENAMENX", "nope", "x"),
  sorted("KEYS", "*"), sorted("KEYS", "st*"), c("SCAN", "x"), c("SCAN", "0", "COUNT", "0"), c("SCAN", "0", "COUNT", "x"), c("SCAN", "0", "MATCH"),
  c("SCAN", "0", "FOO", "bar"), c("DEL", "str", "st2", "nope"), c("DBSIZE"), c("FLUSHALL", "x"), c("FLUSHALL"), c("DBSIZE"),
  // SCAN cursors as strtoul reads them ("-1" is 2^64-1): first with no keys, then with one (replies that do not depend on Redis's hash table)
  c("SCAN", "-1"), c("SCAN", "18446744073709551615"), c("SCAN", "18446744073709551616"), c("SCAN", " 1"), c("SCAN", "1 "), c("SCAN", "+"),
  c("SCAN", "-"), c("SCAN", "-18446744073709551616"), c("SET", "one", "v"), c("SCAN", ""), c("SCAN", "+0"), c("SCAN", "-0"),
  // WAIT on one node: no replicas to count (redis-server has none either), and Redis's argument errors
  c("SET", "waited", "v"), c("WAIT", "0", "0"), c("WAIT", "1", "10"), c("WAIT", "-1", "0"), c("WAIT", "x", "0"), c("WAIT", "01", "0"),
  c("WAIT", "1", "-1"), c("WAIT", "1", "x"), c("WAIT", "1"),
  // inside a transaction WAIT does not wait, and its reply keeps its place in EXEC's
  c("MULTI"), c("SET", "waited", "w"), c("WAIT", "1", "10"), c("GET", "waited"), c("EXEC"),
];

/** RESET: the connection as it opened (RESP2 after it: in the RESP3 runs replies change form). */
const resets: Case[] = [
  c("MULTI"), c("SET", "reset:a", "1"), c("RESET"), c("EXEC"), c("GET", "reset:a"), c("CLIENT", "SETNAME", "named"), c("RESET"), c("CLIENT", "GETNAME"),
  c("WATCH", "reset:a"), c("RESET"), c("MULTI"), c("SET", "reset:a", "2"), c("EXEC"), c("RESET", "extra"), c("reset"),
  c("SUBSCRIBE", "reset:channel"), c("RESET"), c("PING"), c("HSET", "reset:h", "f", "v"), c("HGETALL", "reset:h"), c("DEL", "reset:a", "reset:h"),
];

describe("the clone answers as redis-server does", () => {
  diffTests(servers, "over every type", script);
  diffTests(servers, "RESET", resets);

  test("SCAN with MATCH, COUNT and TYPE returns the same keys as redis-server over a whole iteration", async () => {
    const collect = async (port: number, options: string[]): Promise<string[]> => (await scanAll(port, ["SCAN"], options)).sort();
    for (const port of [servers.redisPort, servers.clonePort]) {
      const connection = await RespConnection.connect(port);
      await connection.call("FLUSHALL");
      for (let i = 0; i < 200; i++) await connection.call("SET", `key:${i}`, "v");
      for (let i = 0; i < 30; i++) await connection.call("SADD", `set:${i}`, "m");
      await connection.call("RPUSH", "key:list", "a");
      connection.close();
    }
    for (const options of [[], ["COUNT", "7"], ["MATCH", "key:1*", "COUNT", "3"], ["TYPE", "set"], ["TYPE", "list", "MATCH", "key:*"], ["TYPE", "string", "COUNT", "1000"]]) {
      const expected = await collect(servers.redisPort, options);
      expect(expected.length).toBeGreaterThan(0);
      expect(await collect(servers.clonePort, options)).toEqual(expected);
    }
  });
});
