/**
 * The blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP) and
 * ZMPOP against the real redis-server, reply for reply (`helpers/redis-diff.ts`), where they do not
 * wait: something to take, a short timeout that passes, MULTI, and every argument and type error.
 * Waiting itself is tested in blocking.test.ts.
 */
import { describe, setDefaultTimeout } from "bun:test";
import { type Case, c, diffServers, diffTests } from "./helpers/redis-diff.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const lists: Case[] = [
  c("DEL", "l", "l2", "d", "str"), c("RPUSH", "l", "a", "b", "c", "d", "e"), c("BLPOP", "l", "0"), c("BRPOP", "l", "0"), c("BLPOP", "none", "l", "0"),
  c("BRPOP", "none", "none2", "l", "1.5"), c("LRANGE", "l", "0", "-1"), c("BLPOP", "none", "0.01"), c("BRPOP", "none", "none2", "0.002"),
  c("BLPOP", "l", "0"), c("EXISTS", "l"), c("blpop", "none", ".005"),
  c("RPUSH", "l", "x", "y", "z"), c("BLMOVE", "l", "d", "LEFT", "RIGHT", "0"), c("BLMOVE", "l", "d", "right", "left", "0.1"), c("LRANGE", "d", "0", "-1"),
  c("BRPOPLPUSH", "l", "d", "0"), c("EXISTS", "l"), c("BRPOPLPUSH", "l", "d", "0.01"), c("BLMOVE", "l", "d", "LEFT", "LEFT", "0.01"), c("LRANGE", "d", "0", "-1"),
  c("BLMOVE", "d", "d", "LEFT", "RIGHT", "0"), c("LRANGE", "d", "0", "-1"),
  c("RPUSH", "l2", "1", "2", "3", "4"), c("BLMPOP", "0", "2", "none", "l2", "LEFT"), c("BLMPOP", "0", "1", "l2", "RIGHT", "COUNT", "2"),
  c("BLMPOP", "0.01", "1", "none", "LEFT"), c("BLMPOP", "0", "1", "l2", "left", "count", "10"), c("EXISTS", "l2"),
  // errors
  // (A timeout's milliseconds are rounded up from a long double: -0.001 waits for ever, and
  // timeouts below a millisecond wait one.)
  c("BLPOP", "none", "0.0001"), c("BRPOP", "none", "0.0009"), c("BLPOP", "none", "0.001"), c("BLMOVE", "none", "d", "LEFT", "RIGHT", "1e-300"),
  c("BLMPOP", "0x0.0001p0", "1", "none", "LEFT"), c("BZPOPMIN", "none", "0.0005"), c("BLPOP", "none", "0.0010000000000000001"),
  c("BLPOP", "l", "-1"), c("BLPOP", "l", "-0.002"), c("BLPOP", "l", "abc"), c("BLPOP", "l", ""), c("BLPOP", "l", " 1"), c("BLPOP", "l", "inf"),
  c("BLPOP", "l", "-inf"), c("BLPOP", "l", "nan"), c("BLPOP", "l", "1e400"), c("BLPOP", "l", "9223372036854775807"), c("BLPOP", "l", "1e16"), c("BLPOP", "l", "0x1p70"),
  c("BLPOP", "l"), c("BLPOP"), c("BRPOPLPUSH", "l", "d"), c("BLMOVE", "l", "d", "LEFT", "UP", "0"), c("BLMOVE", "l", "d", "LEFT", "RIGHT", "x"),
  c("BLMPOP", "0", "0", "l", "LEFT"), c("BLMPOP", "0", "-1", "l", "LEFT"), c("BLMPOP", "0", "3", "l", "LEFT"), c("BLMPOP", "0", "1", "l", "MIDDLE"),
  c("BLMPOP", "0", "1", "l", "LEFT", "COUNT", "0"), c("BLMPOP", "0", "1", "l", "LEFT", "COUNT", "-1"), c("BLMPOP", "0", "1", "l", "LEFT", "COUNT"),
  c("BLMPOP", "0", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"), c("BLMPOP", "x", "1", "l", "LEFT"), c("BLMPOP", "-1", "1", "l", "LEFT"), c("BLMPOP", "0", "1"),
  c("SET", "str", "v"), c("BLPOP", "str", "0"), c("BLPOP", "none", "str", "0"), c("BRPOPLPUSH", "str", "d", "0"), c("BRPOPLPUSH", "d", "str", "0"),
  c("BLMPOP", "0", "2", "none", "str", "LEFT"), c("LRANGE", "d", "0", "-1"),
  // inside a transaction nothing waits
  c("MULTI"), c("BLPOP", "none", "0"), c("BRPOPLPUSH", "none", "d", "0"), c("BLMOVE", "none", "d", "LEFT", "RIGHT", "0"), c("BLMPOP", "0", "1", "none", "LEFT"),
  c("RPUSH", "none", "v"), c("BLPOP", "none", "0"), c("EXEC"),
];

const zsets: Case[] = [
  c("DEL", "z", "z2", "str"), c("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "2.5", "e"), c("BZPOPMIN", "z", "0"), c("BZPOPMAX", "z", "0"),
  c("BZPOPMIN", "none", "z", "0.5"), c("BZPOPMIN", "none", "0.01"), c("BZPOPMAX", "none", "none2", "0.002"), c("ZRANGE", "z", "0", "-1", "WITHSCORES"),
  c("ZADD", "z2", "-1", "m", "inf", "n", "0.5", "o"), c("BZMPOP", "0", "2", "none", "z2", "MIN"), c("BZMPOP", "0", "1", "z2", "MAX", "COUNT", "5"),
  c("BZMPOP", "0.01", "1", "z2", "MIN"), c("ZMPOP", "1", "z", "MAX"), c("ZMPOP", "2", "none", "z", "min", "count", "10"), c("ZMPOP", "1", "z", "MIN"),
  c("EXISTS", "z"), c("ZADD", "z", "1", "a"),
  // errors
  c("BZPOPMIN", "z", "-1"), c("BZPOPMIN", "z", "x"), c("BZPOPMAX", "z"), c("BZMPOP", "0", "0", "z", "MIN"), c("BZMPOP", "0", "2", "z", "MIN"),
  c("BZMPOP", "0", "1", "z", "LEFT"), c("BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"), c("BZMPOP", "0", "1", "z", "MIN", "COUNT", "x"),
  c("BZMPOP", "0", "1", "z", "MIN", "LIMIT", "1"), c("BZMPOP", "-2", "1", "z", "MIN"), c("ZMPOP", "0", "z", "MIN"), c("ZMPOP", "1", "z"), c("ZMPOP", "1"),
  c("ZMPOP", "1", "z", "MAX", "COUNT", "2", "COUNT", "2"), c("SET", "str", "v"), c("BZPOPMIN", "str", "0"), c("BZPOPMAX", "none", "str", "0"),
  c("BZMPOP", "0", "1", "str", "MIN"), c("ZMPOP", "2", "none", "str", "MAX"),
  c("MULTI"), c("BZPOPMIN", "none", "0"), c("BZPOPMAX", "none", "0"), c("BZMPOP", "0", "1", "none", "MIN"), c("ZMPOP", "1", "none", "MIN"), c("EXEC"),
  c("ZRANGE", "z", "0", "-1", "WITHSCORES"),
  // CLIENT UNBLOCK of a client that is not blocked, and its errors
  c("CLIENT", "UNBLOCK", "999999"), c("CLIENT", "UNBLOCK", "999999", "ERROR"), c("CLIENT", "UNBLOCK", "1", "LATER"), c("CLIENT", "UNBLOCK", "x"),
  c("CLIENT", "UNBLOCK"), c("CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"),
];

describe("blocking commands answer as redis-server does when they do not wait", () => {
  diffTests(servers, "lists", lists);
  diffTests(servers, "sorted sets", zsets);
});
