/**
 * XREAD, XDEL and XTRIM against the real redis-server, reply for reply (`helpers/redis-diff.ts`):
 * every reply shape (one stream, several, a key given twice, none: a null array; a map in RESP3),
 * COUNT, `$`, ids at the edges, every argument error in Redis's order (a key's WRONGTYPE before a
 * later key's bad id), XREAD BLOCK where it does not wait long (served at once, a short timeout,
 * MULTI), and XADD's LIMIT checks, which XTRIM shares. Waiting itself is tested in
 * stream-blocking.test.ts.
 */
import { describe, setDefaultTimeout } from "bun:test";
import { type Case, c, diffServers, diffTests } from "./helpers/redis-diff.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const setup: Case[] = [
  c("XADD", "s", "1-0", "a", "1"), c("XADD", "s", "2-0", "b", "2"), c("XADD", "s", "3-0", "c", "3", "cc", "33"), c("XADD", "s", "5-5", "d", "4"),
  c("XADD", "t", "1-1", "x", "y"), c("SET", "str", "v"),
];

const reads: Case[] = [
  ...setup,
  c("XREAD", "STREAMS", "s", "0"), c("xread", "streams", "s", "0-0"), c("XREAD", "COUNT", "2", "STREAMS", "s", "0"), c("XREAD", "COUNT", "0", "STREAMS", "s", "0"),
  c("XREAD", "COUNT", "-1", "STREAMS", "s", "1"), c("XREAD", "COUNT", "1", "COUNT", "3", "STREAMS", "s", "0"), c("XREAD", "STREAMS", "s", "2"),
  c("XREAD", "STREAMS", "s", "2-0"), c("XREAD", "STREAMS", "s", "3-0"), c("XREAD", "STREAMS", "s", "5-4"), c("XREAD", "STREAMS", "s", "5-5"),
  c("XREAD", "STREAMS", "s", "$"), c("XREAD", "STREAMS", "s", "99"), c("XREAD", "COUNT", "9223372036854775807", "STREAMS", "s", "0"),
  // several streams, missing ones, a key twice
  c("XREAD", "STREAMS", "s", "t", "0", "0"), c("XREAD", "STREAMS", "s", "t", "3", "0"), c("XREAD", "STREAMS", "s", "t", "$", "0"),
  c("XREAD", "STREAMS", "s", "t", "0", "$"), c("XREAD", "COUNT", "1", "STREAMS", "t", "s", "0", "0"), c("XREAD", "STREAMS", "s", "nokey", "0", "0"),
  c("XREAD", "STREAMS", "nokey", "s", "0", "0"), c("XREAD", "STREAMS", "s", "s", "0", "2"), c("XREAD", "STREAMS", "nokey", "nokey2", "0", "$"),
  c("XREAD", "STREAMS", "nokey", "$"), c("XREAD", "STREAMS", "t", "s", "1-1", "5-5"),
  // ids at the edges
  c("XREAD", "STREAMS", "s", "18446744073709551615-18446744073709551615"), c("XREAD", "STREAMS", "s", "18446744073709551616"),
  c("XREAD", "STREAMS", "s", "0-18446744073709551615"), c("XREAD", "STREAMS", "s", "+1"), c("XREAD", "STREAMS", "s", " 2"), c("XREAD", "STREAMS", "s", "-"),
  c("XREAD", "STREAMS", "s", "+"), c("XREAD", "STREAMS", "s", ">"), c("XREAD", "STREAMS", "s", "1-x"), c("XREAD", "STREAMS", "s", ""), c("XREAD", "STREAMS", "s", "1-"),
  c("XREAD", "STREAMS", "s", "-1"), c("XREAD", "STREAMS", "s", "1-*"), c("XREAD", "STREAMS", "s", "*"), c("XREAD", "STREAMS", "s", "$$"),
  // argument errors, in Redis's order
  c("XREAD"), c("XREAD", "STREAMS"), c("XREAD", "STREAMS", "s"), c("XREAD", "STREAMS", "s", "t", "0"), c("XREAD", "STREAMS", "STREAMS", "s", "0"),
  c("XREAD", "COUNT", "1", "STREAMS"), c("XREAD", "COUNT", "1", "STREAMS", "s"), c("XREAD", "COUNT", "x", "STREAMS", "s", "0"),
  c("XREAD", "COUNT", "1.5", "STREAMS", "s", "0"), c("XREAD", "COUNT", "9223372036854775808", "STREAMS", "s", "0"), c("XREAD", "COUNT", "STREAMS", "s", "0"),
  c("XREAD", "BLOCK", "-1", "STREAMS", "s", "0"), c("XREAD", "BLOCK", "x", "STREAMS", "s", "0"), c("XREAD", "BLOCK", "1.5", "STREAMS", "s", "0"),
  c("XREAD", "BLOCK", "99999999999999999999", "STREAMS", "s", "0"), c("XREAD", "BLOCK", "", "STREAMS", "s", "0"), c("XREAD", "BLOCK", " 1", "STREAMS", "s", "0"),
  c("XREAD", "BLOCK", "-1", "COUNT", "x", "STREAMS", "s", "0"), c("XREAD", "COUNT", "x", "BLOCK", "-1", "STREAMS", "s", "0"),
  c("XREAD", "foo", "STREAMS", "s", "0"), c("XREAD", "STREAMS", "s", "0", "extra"), c("XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"),
  c("XREAD", "COUNT", "1", "GROUP", "g"), c("XREAD", "NOACK", "STREAMS", "s", "0"), c("XREAD", "COUNT", "1", "NOACK"), c("XREAD", "COUNT", "1", "BLOCK"),
  c("XREAD", "STREAMS", "s", "t", "bad", "0"), c("XREAD", "STREAMS", "s", "t", "0", "bad"),
  // a key of another type: WRONGTYPE where Redis looks at it, before the ids of the keys after it
  c("XREAD", "STREAMS", "str", "0"), c("XREAD", "STREAMS", "str", "s", "0", "0"), c("XREAD", "STREAMS", "s", "str", "0", "0"),
  c("XREAD", "STREAMS", "s", "str", "bad", "0"), c("XREAD", "STREAMS", "str", "s", "bad", "0"), c("XREAD", "STREAMS", "s", "str", "0", "bad"),
  c("XREAD", "STREAMS", "s", "nokey", "0", "bad"), c("XREAD", "STREAMS", "s", "str", ">", "0"), c("XREAD", "STREAMS", "str", "$"),
  // BLOCK where it does not wait long: served at once, a short timeout (null), errors
  c("XREAD", "BLOCK", "0", "STREAMS", "s", "0"), c("XREAD", "BLOCK", "0", "COUNT", "1", "STREAMS", "nokey", "s", "0", "3"), c("XREAD", "BLOCK", "10", "STREAMS", "nokey", "0"),
  c("XREAD", "BLOCK", "5", "STREAMS", "s", "$"), c("XREAD", "COUNT", "2", "BLOCK", "5", "STREAMS", "s", "t", "$", "$"), c("XREAD", "BLOCK", "0", "STREAMS", "s", "bad"),
  c("XREAD", "BLOCK", "0", "STREAMS", "str", "0"), c("XREAD", "BLOCK", "0", "STREAMS", "str", "s", "bad", "0"), c("XREAD", "BLOCK", "0", "STREAMS", "s", ">"),
  c("XADD", "ключ", "1-0", "поле", "значение"), c("XREAD", "BLOCK", "0", "STREAMS", "ключ", "0"), c("XREAD", "STREAMS", "ключ", "0"),
  // inside a transaction nothing waits
  c("MULTI"), c("XREAD", "BLOCK", "0", "STREAMS", "nokey", "$"), c("XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "0"), c("XADD", "nokey", "1-0", "f", "v"),
  c("XREAD", "BLOCK", "0", "STREAMS", "nokey", "0"), c("XREAD", "BLOCK", "0", "STREAMS", "str", "0"), c("EXEC"),
];

const deletes: Case[] = [
  ...setup,
  c("XDEL", "s", "1-0", "1-0", "3"), c("XRANGE", "s", "-", "+"), c("XDEL", "s", "9-9"), c("XDEL", "nokey", "bad"), c("XDEL", "nokey", "1-0"), c("EXISTS", "nokey"),
  c("XDEL", "s", "bad", "2-0"), c("XDEL", "s", "2-0", "bad"), c("XDEL", "s", "-"), c("XDEL", "s", "+"), c("XDEL", "s", "18446744073709551616"), c("XDEL", "s"), c("XDEL"),
  c("XDEL", "str", "1-0"), c("XDEL", "str", "bad"), c("XLEN", "s"), c("XREAD", "STREAMS", "s", "0"),
  // the last entry deleted: XREAD compares with the last entry there is; new ids stay above the deleted one
  c("XDEL", "s", "5-5"), c("XREAD", "STREAMS", "s", "2-0"), c("XREAD", "STREAMS", "s", "1-0"), c("XREAD", "BLOCK", "5", "STREAMS", "s", "2-0"),
  c("XADD", "s", "5-5", "e", "5"), c("XADD", "s", "5-*", "e", "5"), c("XDEL", "s", "2", "5-6"), c("EXISTS", "s"), c("XLEN", "s"), c("TYPE", "s"), c("XRANGE", "s", "-", "+"),
  c("XREVRANGE", "s", "+", "-"), c("XREAD", "STREAMS", "s", "0"), c("XREAD", "STREAMS", "s", "$"), c("XADD", "s", "5-6", "f", "6"), c("XADD", "s", "6-0", "f", "7"),
  c("XREAD", "STREAMS", "s", "0"),
  // deletes in the middle and at both ends of a longer stream
  ...Array.from({ length: 30 }, (_, i) => c("XADD", "long", `${i + 1}-0`, "f", String(i))),
  c("XDEL", "long", "1", "15", "30", "16", "2", "29", "99"), c("XLEN", "long"), c("XRANGE", "long", "-", "+"), c("XRANGE", "long", "14", "17"),
  c("XREVRANGE", "long", "+", "-", "COUNT", "3"), c("XREAD", "COUNT", "3", "STREAMS", "long", "13"), c("XTRIM", "long", "MAXLEN", "20"), c("XRANGE", "long", "-", "+", "COUNT", "2"),
  c("MULTI"), c("XDEL", "long", "10"), c("XDEL", "long", "bad"), c("XDEL", "str", "1"), c("XLEN", "long"), c("EXEC"),
];

const trims: Case[] = [
  ...setup,
  c("XTRIM", "s", "MAXLEN", "3"), c("XRANGE", "s", "-", "+"), c("XTRIM", "s", "MAXLEN", "=", "2"), c("XTRIM", "s", "maxlen", "5"), c("XTRIM", "s", "MINID", "5-5"),
  c("XRANGE", "s", "-", "+"), c("XTRIM", "s", "MINID", "=", "6"), c("XTRIM", "s", "MAXLEN", "0"), c("EXISTS", "s"), c("XLEN", "s"), c("TYPE", "s"), c("XADD", "s", "5-5", "a", "b"),
  c("XTRIM", "nokey", "MAXLEN", "1"), c("XTRIM", "nokey", "MAXLEN", "bad"), c("EXISTS", "nokey"), c("XTRIM", "str", "MAXLEN", "1"), c("XTRIM", "str", "MAXLEN", "x"),
  // errors, in Redis's order
  c("XTRIM", "t"), c("XTRIM", "t", "MAXLEN"), c("XTRIM", "t", "MINID"), c("XTRIM", "t", "foo", "1"), c("XTRIM", "t", "MINID", "bad"), c("XTRIM", "t", "MAXLEN", "~"),
  c("XTRIM", "t", "MAXLEN", "-1"), c("XTRIM", "t", "MAXLEN", "1.5"), c("XTRIM", "t", "MAXLEN", "1", "LIMIT", "1"), c("XTRIM", "t", "MAXLEN", "=", "1", "LIMIT", "1"),
  c("XTRIM", "t", "LIMIT", "1", "MAXLEN", "1"), c("XTRIM", "t", "LIMIT", "0", "MAXLEN", "1"), c("XTRIM", "t", "LIMIT", "0"), c("XTRIM", "t", "LIMIT", "5"),
  c("XTRIM", "t", "MAXLEN", "1", "MINID", "1"), c("XTRIM", "t", "MAXLEN", "1", "MAXLEN", "2"), c("XTRIM", "t", "MAXLEN", "1", "LIMIT", "-1"),
  c("XTRIM", "t", "MAXLEN", "1", "LIMIT", "x"), c("XTRIM", "t", "MAXLEN", "1", "foo"), c("XTRIM", "t", "MAXLEN", "1", "LIMIT"), c("XTRIM", "t", "NOMKSTREAM", "MAXLEN", "1"),
  c("XTRIM", "t", "MAXLEN", "~", "1", "LIMIT", "1"), c("XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "0"), c("XTRIM", "t", "MINID", "=", "5"), c("XTRIM", "t", "MINID", "-"),
  c("XTRIM", "t", "MINID", "~", "18446744073709551615-18446744073709551615"), c("XLEN", "t"),
  // XADD's LIMIT checks, which XTRIM shares (LIMIT 0 alone is refused by the later check)
  c("XADD", "t", "LIMIT", "5", "*", "a", "b"), c("XADD", "t", "LIMIT", "0", "*", "a", "b"), c("XADD", "t", "MAXLEN", "1", "LIMIT", "0", "*", "a", "b"),
  c("XADD", "t", "LIMIT", "0", "MAXLEN", "1", "*", "a", "b"), c("XADD", "t", "MAXLEN", "~", "5", "LIMIT", "0", "9-0", "a", "b"),
  // approximate trimming removes whole blocks of 100 entries (Redis's nodes), at most LIMIT's worth
  ...Array.from({ length: 250 }, (_, i) => c("XADD", "big", `${i + 1}-0`, "f", "v")),
  c("XTRIM", "big", "MAXLEN", "~", "200"), c("XTRIM", "big", "MAXLEN", "~", "100", "LIMIT", "99"), c("XTRIM", "big", "MAXLEN", "~", "100"), c("XLEN", "big"),
  c("XTRIM", "big", "MAXLEN", "~", "0", "LIMIT", "100"), c("XLEN", "big"), c("XTRIM", "big", "MINID", "~", "240"), c("XTRIM", "big", "MINID", "240"), c("XLEN", "big"),
  c("XRANGE", "big", "-", "+", "COUNT", "1"), c("XTRIM", "big", "MAXLEN", "~", "0", "LIMIT", "0"), c("XTRIM", "big", "MAXLEN", "0"), c("XLEN", "big"),
  c("MULTI"), c("XTRIM", "t", "MAXLEN", "0"), c("XTRIM", "t", "LIMIT", "5"), c("XTRIM", "str", "MAXLEN", "0"), c("XLEN", "t"), c("EXEC"),
];

/** `count` XADDs to `key` with ids `from`-0 on, each with `options` before its id. */
function adds(key: string, from: number, count: number, ...options: string[]): Case[] {
  return Array.from({ length: count }, (_, i) => c("XADD", key, ...options, `${from + i}-0`, "f", "v"));
}

// Which entries share a node (100 slots each, deleted entries keeping theirs; a node goes with its
// last entry) decides what approximate trimming and LIMIT remove: exact trims and XDEL change it.
const layouts: Case[] = [
  ...adds("n", 1, 300),
  c("XTRIM", "n", "MAXLEN", "250"), c("XTRIM", "n", "MAXLEN", "~", "200"), c("XLEN", "n"), c("XRANGE", "n", "-", "+", "COUNT", "1"),
  ...Array.from({ length: 30 }, (_, i) => c("XDEL", "n", `${120 + i}-0`)),
  c("XTRIM", "n", "MAXLEN", "~", "100"), c("XTRIM", "n", "MAXLEN", "~", "60"), c("XLEN", "n"), c("XTRIM", "n", "MAXLEN", "~", "0", "LIMIT", "69"),
  c("XTRIM", "n", "MAXLEN", "~", "0", "LIMIT", "70"), c("XLEN", "n"), c("XTRIM", "n", "MAXLEN", "~", "0"), c("XLEN", "n"), c("EXISTS", "n"),
  // a node whose last entry was deleted: MINID compares with that entry's id
  ...adds("m", 1, 250), c("XDEL", "m", "200-0", "199-0"), c("XTRIM", "m", "MINID", "~", "199"), c("XTRIM", "m", "MINID", "~", "200"), c("XTRIM", "m", "MINID", "~", "201"),
  c("XLEN", "m"), c("XRANGE", "m", "-", "+", "COUNT", "1"),
  // exact MINID can leave a node with nothing live in it (its deleted last entry is not below MINID)
  c("XDEL", "m", "250-0"), c("XTRIM", "m", "MINID", "250"), c("XLEN", "m"), c("EXISTS", "m"), ...adds("m", 251, 3), c("XTRIM", "m", "MAXLEN", "~", "2"),
  c("XTRIM", "m", "MAXLEN", "~", "0", "LIMIT", "2"), c("XTRIM", "m", "MAXLEN", "~", "0", "LIMIT", "3"), c("XLEN", "m"),
  // a node emptied by XDEL goes: the next XADD starts a new one
  ...adds("d", 1, 150), ...Array.from({ length: 50 }, (_, i) => c("XDEL", "d", `${101 + i}-0`)), ...adds("d", 151, 10), c("XTRIM", "d", "MAXLEN", "~", "10"),
  c("XLEN", "d"), c("XTRIM", "d", "MAXLEN", "~", "0", "LIMIT", "10"), c("XLEN", "d"),
  // XADD trimming as it goes: MAXLEN ~ keeps whole nodes; LIMIT bounds each trim
  ...adds("cap", 1, 260, "MAXLEN", "~", "120"), c("XLEN", "cap"), c("XRANGE", "cap", "-", "+", "COUNT", "1"),
  ...adds("cap", 261, 150, "MAXLEN", "~", "10", "LIMIT", "100"), c("XLEN", "cap"), ...adds("cap", 411, 5, "MINID", "~", "400"), c("XLEN", "cap"),
  ...adds("cap", 416, 3, "MAXLEN", "=", "2"), c("XLEN", "cap"), c("XRANGE", "cap", "-", "+"),
];

describe("XREAD, XDEL and XTRIM answer as redis-server does", () => {
  diffTests(servers, "XREAD", reads);
  diffTests(servers, "XDEL", deletes);
  diffTests(servers, "XTRIM", trims);
  diffTests(servers, "approximate trimming after exact trims and XDEL", layouts);
});
