/**
 * SORT and SORT_RO against the real redis-server, reply for reply (`helpers/redis-diff.ts`):
 * numeric sorts (integers, floats, hexadecimal, infinities, subnormals, leading spaces, empty
 * strings, and the weights Redis refuses: NaN, overflow, underflow, trailing text), ties (broken by the elements'
 * bytes when numeric; left in the list's order, or in pqsort's with LIMIT, when ALPHA weights are
 * equal or missing), DESC, ALPHA in byte order (with and without STORE, zero bytes included),
 * LIMIT at and past every edge, BY with string keys and hash fields (missing ones, other types),
 * BY nosort and other constant patterns on lists, sets and sorted sets, GET `#`, patterns, hash
 * fields and missing keys, STORE over keys of every type (and deleting the destination when the
 * result is empty), WRONGTYPE, syntax and integer errors in Redis's order, and SORT_RO. Then a
 * seeded random mix of lists and options, compared exactly.
 *
 * Sets are compared sorted where their order is the server's own (no sort, or ALPHA ties).
 */
import { describe, setDefaultTimeout } from "bun:test";
import { type Case, c, diffServers, diffTests, sorted, y2100 } from "./helpers/redis-diff.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const zero = (text: string): Uint8Array => Buffer.from(text.replace(/0/g, "\0"), "latin1");

const numeric: Case[] = [
  c("RPUSH", "n", "3", "1", "2", "10", "-5", "2.5", "1e2", "-0", "0", "007"),
  c("SORT", "n"), c("SORT", "n", "DESC"), c("SORT", "n", "ASC"), c("SORT", "n", "desc", "asc"), c("SORT", "n", "ALPHA"), c("SORT", "n", "ALPHA", "DESC"),
  c("RPUSH", "f", " 5", "", "0x10", "inf", "-inf", "+3", ".5", "5.", "1E1", "-Infinity", "0x1p3", "\t7", "\n8"),
  c("SORT", "f"), c("SORT", "f", "DESC"),
  c("RPUSH", "sub", "0x1p-1074", "0x1p-1022", "1.5"), c("SORT", "sub"),
  c("RPUSH", "z0", zero("10x"), "1", "0.5"), c("SORT", "z0"),
  // ties: equal numbers sort by their bytes
  c("RPUSH", "t", "1.0", "1", "01", "1e0", "1", "0x1", "2", "1.00"), c("SORT", "t"), c("SORT", "t", "DESC"), c("SORT", "t", "LIMIT", "1", "3"),
  c("SORT", "t", "LIMIT", "2", "2", "DESC"),
];

/**
 * Weights strtod refuses. Redis 7.0 reads `errno` after strtod without clearing it first, so an
 * ERANGE (overflow, underflow) may leak into the next SORT of a non-integer weight on the same
 * server thread (the clone does not copy that): this script runs last, ERANGE cases at its end.
 */
const refused: Case[] = [
  ...["5 ", "  ", "+", "nan", "abc", "1x", "0x", "--1", "1e", "1e400", "-1e400", "1e-400", "1e-310", "0x1p-2000"].flatMap((bad, i) => [
    c("RPUSH", `bad${i}`, "1", bad, "2"),
    c("SORT", `bad${i}`, "ALPHA"),
    c("SORT", `bad${i}`),
    c("SORT", `bad${i}`, "STORE", "dst"),
  ]),
  c("EXISTS", "dst"),
];

const alpha: Case[] = [
  c("RPUSH", "a", "banana", "apple", "Cherry", "cherry", "apple2", "", "Äpfel", "10", "9", "apple"),
  c("SORT", "a"), c("SORT", "a", "ALPHA"), c("SORT", "a", "ALPHA", "DESC"), c("SORT", "a", "alpha", "limit", "2", "3"),
  c("SORT", "a", "ALPHA", "STORE", "as"), c("LRANGE", "as", "0", "-1"),
  // zero bytes: strcoll stops at them without STORE, memcmp with STORE does not
  c("RPUSH", "zb", zero("a0c"), zero("a0b"), "a", zero("a0"), "b", zero("0z"), zero("0a")),
  c("SORT", "zb", "ALPHA"), c("SORT", "zb", "ALPHA", "DESC"), c("SORT", "zb", "ALPHA", "STORE", "zbs"), c("LRANGE", "zbs", "0", "-1"),
  c("SORT", "zb", "ALPHA", "DESC", "STORE", "zbs"), c("LRANGE", "zbs", "0", "-1"),
];

const limits: Case[] = [
  c("RPUSH", "l", "5", "3", "9", "1", "7", "2", "8"),
  ...[
    ["0", "0"], ["0", "1"], ["0", "-1"], ["0", "-2"], ["2", "3"], ["6", "1"], ["6", "5"], ["7", "1"], ["8", "2"], ["-1", "2"], ["-5", "3"], ["3", "-1"],
    ["3", "0"], ["0", "7"], ["0", "100"], ["100", "-1"], ["9223372036854775807", "9223372036854775807"], ["-9223372036854775808", "9223372036854775807"],
    ["1", "9223372036854775807"], ["0", "-9223372036854775808"],
  ].flatMap(([start = "", count = ""]) => [
    c("SORT", "l", "LIMIT", start, count),
    c("SORT", "l", "LIMIT", start, count, "DESC"),
    c("SORT", "l", "LIMIT", start, count, "BY", "nosort"),
    c("SORT", "l", "LIMIT", start, count, "BY", "nosort", "DESC"),
    c("SORT", "l", "LIMIT", start, count, "BY", "w_*"),
    c("SORT", "l", "LIMIT", start, count, "STORE", "ls"),
    c("LRANGE", "ls", "0", "-1"),
  ]),
  c("SORT", "l", "LIMIT", "1", "2", "LIMIT", "3", "2"),
  c("SORT", "nope", "LIMIT", "0", "1"), c("SORT", "nope", "LIMIT", "-1", "-1", "BY", "nosort"), c("SORT", "nope", "BY", "nosort", "DESC"),
];

const by: Case[] = [
  c("RPUSH", "u", "1", "2", "3", "4", "5"),
  c("MSET", "w_1", "50", "w_2", "30", "w_3", "x", "w_4", "10"),
  c("HSET", "h_1", "f", "3", "g", "b"), c("HSET", "h_2", "f", "1", "g", "a"), c("HSET", "h_3", "f", "2"), c("HSET", "h_5", "g", "c"),
  c("SET", "h_4", "notahash"), c("SADD", "w_5", "x"),
  c("SORT", "u", "BY", "w_*"), c("DEL", "w_3"), c("SORT", "u", "BY", "w_*"), c("SORT", "u", "BY", "w_*", "DESC"),
  c("SORT", "u", "BY", "w_*", "ALPHA"), c("SORT", "u", "BY", "w_*", "ALPHA", "DESC"), c("SORT", "u", "BY", "h_*->f"), c("SORT", "u", "BY", "h_*->f", "DESC"),
  c("SORT", "u", "BY", "h_*->g", "ALPHA"), c("SORT", "u", "BY", "h_*->g", "ALPHA", "DESC"), c("SORT", "u", "BY", "h_*->g", "ALPHA", "LIMIT", "1", "2"),
  c("SORT", "u", "BY", "h_*->g", "ALPHA", "LIMIT", "0", "2", "DESC"), c("SORT", "u", "BY", "h_*->g", "ALPHA", "STORE", "us"), c("LRANGE", "us", "0", "-1"),
  c("SORT", "u", "BY", "h_*->"), c("SORT", "u", "BY", "h_*->", "ALPHA"), c("SORT", "u", "BY", "h_*->g->x"), c("SORT", "u", "BY", "*"), c("SORT", "u", "BY", "w_*_x"),
  c("SORT", "u", "BY", "h_*->f", "GET", "h_*->g"), c("SORT", "u", "BY", "*->f"), c("SORT", "u", "BY", "h_->*"), c("SORT", "u", "BY", "h_*-"),
  // ties with ALPHA weights: missing and equal weights keep the list's order (qsort), or pqsort's with LIMIT
  c("RPUSH", "ties", ...Array.from({ length: 60 }, (_, i) => String((i * 37) % 61))),
  ...Array.from({ length: 61 }, (_, i) => c("SET", `tw_${i}`, String.fromCharCode(97 + (i % 3)))),
  c("SORT", "ties", "BY", "tw_*", "ALPHA"), c("SORT", "ties", "BY", "tw_*", "ALPHA", "DESC"), c("SORT", "ties", "BY", "tw_*", "ALPHA", "LIMIT", "10", "20"),
  c("SORT", "ties", "BY", "tw_*", "ALPHA", "LIMIT", "0", "59", "DESC"), c("SORT", "ties", "BY", "tw_*", "ALPHA", "LIMIT", "25", "30"),
  c("SORT", "ties", "BY", "none_*", "ALPHA"), c("SORT", "ties", "BY", "none_*", "ALPHA", "LIMIT", "5", "10"), c("SORT", "ties", "BY", "none_*"),
  c("SORT", "ties", "BY", "none_*", "LIMIT", "5", "10", "DESC"), c("SORT", "ties", "BY", "tw_*"),
  // BY errors: weights that are not doubles
  c("SET", "w_1", "abc"), c("SORT", "u", "BY", "w_*"), c("SORT", "u", "BY", "w_*", "ALPHA"), c("SORT", "u", "BY", "w_*", "STORE", "us"), c("LLEN", "us"),
];

const nosort: Case[] = [
  c("RPUSH", "nl", "c", "a", "b", "d"), c("ZADD", "nz", "3", "c", "1", "a", "2", "b", "2", "bb", "0", "z"), c("SADD", "ns", "c", "a", "b", "1"),
  c("SADD", "ni", "5", "3", "1", "4"),
  ...["nosort", "constant", "#", "w_->f", "", "#*x"].flatMap((pattern) => [
    c("SORT", "nl", "BY", pattern), c("SORT", "nl", "BY", pattern, "DESC"), c("SORT", "nl", "BY", pattern, "LIMIT", "1", "2"),
    c("SORT", "nl", "BY", pattern, "LIMIT", "1", "2", "DESC"), c("SORT", "nl", "BY", pattern, "ALPHA", "DESC", "LIMIT", "0", "-1"),
    c("SORT", "nz", "BY", pattern), c("SORT", "nz", "BY", pattern, "DESC"), c("SORT", "nz", "BY", pattern, "LIMIT", "1", "3"),
    c("SORT", "nz", "BY", pattern, "LIMIT", "1", "3", "DESC"), c("SORT", "nz", "BY", pattern, "LIMIT", "4", "10", "DESC"),
    c("SORT", "nz", "BY", pattern, "STORE", "nzs"), c("LRANGE", "nzs", "0", "-1"), c("SORT", "nl", "BY", pattern, "DESC", "STORE", "nls"), c("LRANGE", "nls", "0", "-1"),
    sorted("SORT", "ns", "BY", pattern), sorted("SORT", "ni", "BY", pattern, "DESC"),
    // a set with STORE is sorted ALPHA
    c("SORT", "ns", "BY", pattern, "STORE", "nss"), c("LRANGE", "nss", "0", "-1"), c("SORT", "ni", "BY", pattern, "DESC", "STORE", "nss"), c("LRANGE", "nss", "0", "-1"),
  ]),
  // sorted sets and sets sorted by their members
  c("SORT", "nz", "ALPHA"), c("SORT", "nz", "ALPHA", "DESC", "LIMIT", "1", "2"), c("SORT", "nz"), c("SORT", "ni"), c("SORT", "ni", "DESC"),
  c("SORT", "ns", "ALPHA"), c("SORT", "ns"), c("ZADD", "nzn", "1", "10", "2", "9", "3", "8.5"), c("SORT", "nzn"), c("SORT", "nzn", "BY", "nosort"),
];

const gets: Case[] = [
  c("RPUSH", "g", "1", "2", "3"), c("MSET", "name_1", "one", "name_2", "two", "w_1", "3", "w_2", "1", "w_3", "2"), c("HSET", "i_2", "x", "X2"),
  c("SORT", "g", "GET", "#"), c("SORT", "g", "GET", "name_*"), c("SORT", "g", "GET", "#", "GET", "name_*", "GET", "i_*->x", "GET", "nothing"),
  c("SORT", "g", "BY", "w_*", "GET", "name_*", "GET", "#"), c("SORT", "g", "BY", "nosort", "GET", "name_*", "DESC"), c("SORT", "g", "GET", "#", "LIMIT", "1", "1"),
  c("SORT", "g", "GET", "name_*", "LIMIT", "5", "1"), c("SORT", "g", "GET", "i_*->"), c("SORT", "g", "GET", "i_*->y"), c("SORT", "g", "GET", "*"), c("SORT", "g", "GET", "#x"),
  c("SORT", "g", "GET", "name_*", "STORE", "gs"), c("LRANGE", "gs", "0", "-1"), c("SORT", "g", "GET", "#", "GET", "i_*->x", "STORE", "gs"), c("LRANGE", "gs", "0", "-1"),
  c("SORT", "g", "GET", "nothing_*", "STORE", "gs"), c("LRANGE", "gs", "0", "-1"), c("SORT", "g", "GET", "g", "STORE", "gs"), c("LRANGE", "gs", "0", "-1"),
  c("SORT", "g", "GET", "#", "STORE", "g"), c("LRANGE", "g", "0", "-1"), c("SORT", "g", "GET", "name_*", "STORE", "name_1"), c("LRANGE", "name_1", "0", "-1"),
  c("SORT", "g", "GET", "name_*"),
  c("SADD", "gset", "2", "1"), c("SORT", "gset", "GET", "name_*", "GET", "#"), c("SORT", "gset", "BY", "nosort", "GET", "#", "STORE", "gs"), c("LRANGE", "gs", "0", "-1"),
];

const stores: Case[] = [
  c("RPUSH", "s", "2", "1"), c("SET", "dstr", "x", "EXAT", y2100), c("SADD", "dset", "m"), c("HSET", "dhash", "f", "v"), c("ZADD", "dz", "1", "m"),
  c("XADD", "dx", "1-1", "f", "v"), c("RPUSH", "dlist", "old", "older"),
  ...["dstr", "dset", "dhash", "dz", "dx", "dlist", "dnew"].flatMap((destination) => [
    c("SORT", "s", "STORE", destination), c("TYPE", destination), c("TTL", destination), c("LRANGE", destination, "0", "-1"),
  ]),
  c("SORT", "nope", "STORE", "dlist"), c("EXISTS", "dlist"), c("SORT", "s", "LIMIT", "5", "1", "STORE", "dstr"), c("EXISTS", "dstr"),
  c("SORT", "s", "STORE", "x", "STORE", "y"), c("EXISTS", "x"), c("LRANGE", "y", "0", "-1"), c("SORT", "s", "STORE", "s"), c("LRANGE", "s", "0", "-1"),
  c("SORT", "s", "DESC", "STORE", "s"), c("LRANGE", "s", "0", "-1"),
];

const errors: Case[] = [
  c("SET", "str", "v"), c("HSET", "hh", "f", "v"), c("RPUSH", "e", "1"),
  c("SORT", "str"), c("SORT", "hh"), c("SORT", "str", "BY", "nosort"), c("SORT", "str", "STORE", "d"), c("SORT", "nope"), c("SORT", "nope", "STORE", "e"), c("EXISTS", "e"),
  c("SORT"), c("SORT_RO"), c("SORT", "e", "FOO"), c("SORT", "str", "FOO"), c("SORT", "e", "LIMIT"), c("SORT", "e", "LIMIT", "1"), c("SORT", "e", "LIMIT", "x", "1"),
  c("SORT", "e", "LIMIT", "1", "x"), c("SORT", "str", "LIMIT", "x", "1"), c("SORT", "e", "LIMIT", "1", "1.5"), c("SORT", "e", "LIMIT", "9223372036854775808", "1"),
  c("SORT", "e", "BY"), c("SORT", "e", "GET"), c("SORT", "e", "STORE"), c("SORT", "e", "LIMIT", "x", "1", "FOO"), c("SORT", "e", "FOO", "LIMIT", "x", "1"),
  c("SORT", "e", "ALPHA", "DESC", "BY"), c("SORT", "e", "asc", "ALPHA", "bY", "nosort", "gEt", "#", "Limit", "0", "1"),
  // SORT_RO: no STORE, otherwise the same
  c("RPUSH", "r", "3", "1", "2"), c("SORT_RO", "r"), c("SORT_RO", "r", "DESC", "LIMIT", "0", "2"), c("SORT_RO", "r", "STORE", "d"), c("EXISTS", "d"),
  c("SORT_RO", "r", "BY", "nosort", "GET", "#", "ALPHA"), c("SORT_RO", "str"), c("SORT_RO", "nope"), c("SORT_RO", "r", "LIMIT", "x", "0"),
];

/** A seeded random mix: lists of small numbers and words, weights and hash fields, sorted with random options. */
function randomCases(seed: number, count: number): Case[] {
  let state = seed;
  const random = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const cases: Case[] = [];
  const words = ["a", "b", "ab", "B", "1", "2", "10", "-1", "1.5", "x"];
  for (let i = 0; i < 8; i++) {
    cases.push(c("RPUSH", `rl${i}`, ...Array.from({ length: 1 + random(40) }, () => String(random(20)))));
    cases.push(c("ZADD", `rz${i}`, ...Array.from({ length: 1 + random(20) }, (_, j) => [String(random(5)), `m${j}`]).flat()));
  }
  for (let i = 0; i < 20; i++) cases.push(c("SET", `rw_${i}`, words[random(words.length)] ?? "a"), c("HSET", `rh_${i}`, "f", String(random(4))));
  for (let i = 0; i < count; i++) {
    // A sorted set is read in Redis's hash table order: ALPHA weights that tie would come out in it.
    const zset = random(3) === 0;
    const args = ["SORT", zset ? `rz${random(8)}` : `rl${random(8)}`];
    const by = zset ? [0, 2, 4][random(3)] : random(5);
    if (by === 0) args.push("BY", "rh_*->f");
    else if (by === 1) args.push("BY", "rw_*");
    else if (by === 2) args.push("BY", "nosort");
    const alphaSort = by !== 1 || random(2) === 0;
    if (random(2) === 0 && alphaSort && !(zset && by === 0)) args.push("ALPHA");
    if (by === 1 && !args.includes("ALPHA")) args.push("ALPHA");
    if (random(2) === 0) args.push("DESC");
    if (random(2) === 0) args.push("LIMIT", String(random(30) - 3), String(random(30) - 2));
    if (random(3) === 0) args.push("GET", "#", "GET", "rh_*->f");
    cases.push(c(...args));
  }
  return cases;
}

/** The scripts in order; the one with weights strtod refuses runs last (see `refused`). */
const scripts: ReadonlyArray<readonly [string, readonly Case[]]> = [
  ["numeric sorts and weights", numeric],
  ["ALPHA", alpha],
  ["LIMIT", limits],
  ["BY patterns and ties", by],
  ["BY nosort on lists, sets and sorted sets", nosort],
  ["GET", gets],
  ["STORE", stores],
  ["errors and SORT_RO", errors],
  ["a seeded random mix", randomCases(20261128, 300)],
  ["weights strtod refuses", refused],
];

describe("SORT and SORT_RO answer as redis-server's", () => {
  for (const [what, script] of scripts) diffTests(servers, what, script);
});
