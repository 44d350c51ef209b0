/**
 * OBJECT and MEMORY USAGE (and the arities of MEMORY's other subcommands) against the real redis-server, reply for reply (`helpers/redis-diff.ts`):
 * the encodings Redis 7.0 names for values built the ordinary way (strings by content and length,
 * small and large sets, hashes and sorted sets, lists, streams), REFCOUNT's shared integers, the
 * errors and arities of both commands, OBJECT FREQ's refusal; MEMORY USAGE's figure is the
 * clone's own (compared as positive), and null for a missing key. Where Redis remembers history the
 * clone does not keep (an APPENDed short string is `raw` there), nothing is compared.
 */
import { describe, setDefaultTimeout } from "bun:test";
import { type Case, c, diffServers, diffTests, positive } from "./helpers/redis-diff.ts";

setDefaultTimeout(60_000);

const servers = diffServers();

const many = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

const script: Case[] = [
  // strings: int (string2ll, 20 bytes at most), embstr (44 bytes at most), raw
  c("SET", "i", "123"), c("SET", "neg", "-5"), c("SET", "max", "9223372036854775807"), c("SET", "over", "9223372036854775808"),
  c("SET", "zeros", "007"), c("SET", "negzero", "-0"), c("SET", "plus", "+1"), c("SET", "empty", ""), c("SET", "word", "hello"),
  c("SET", "s44", "x".repeat(44)), c("SET", "s45", "x".repeat(45)), c("SET", "shared", "9999"), c("SET", "unshared", "10000"),
  ...["i", "neg", "max", "over", "zeros", "negzero", "plus", "empty", "word", "s44", "s45", "shared", "unshared"].flatMap((key) => [
    c("OBJECT", "ENCODING", key),
    c("OBJECT", "REFCOUNT", key),
  ]),
  c("INCR", "unshared"), c("OBJECT", "ENCODING", "unshared"), c("OBJECT", "REFCOUNT", "unshared"), c("SET", "f", "1.5"), c("INCRBYFLOAT", "f", "1"),
  c("OBJECT", "ENCODING", "f"),
  // aggregates, small and large
  c("RPUSH", "list", "a", "b"), c("OBJECT", "ENCODING", "list"), c("OBJECT", "REFCOUNT", "list"),
  c("SADD", "ints", "1", "2", "-3"), c("OBJECT", "ENCODING", "ints"), c("SADD", "words", "1", "a"), c("OBJECT", "ENCODING", "words"),
  c("SADD", "midints", ...many("", 512)), c("OBJECT", "ENCODING", "midints"), c("SADD", "bigints", ...many("", 513)), c("OBJECT", "ENCODING", "bigints"),
  c("ZADD", "midzset", ...many("m", 128).flatMap((member, i) => [String(i), member])), c("OBJECT", "ENCODING", "midzset"),
  c("HSET", "hash", "f", "v"), c("OBJECT", "ENCODING", "hash"), c("HSET", "longvalue", "f", "v".repeat(65)), c("OBJECT", "ENCODING", "longvalue"),
  c("HSET", "midhash", ...many("f", 129).flatMap((field) => [field, "v"])), c("OBJECT", "ENCODING", "midhash"),
  c("HSET", "bighash", ...many("f", 513).flatMap((field) => [field, "v"])), c("OBJECT", "ENCODING", "bighash"),
  c("ZADD", "zset", "1", "a"), c("OBJECT", "ENCODING", "zset"), c("ZADD", "longmember", "1", "m".repeat(65)), c("OBJECT", "ENCODING", "longmember"),
  c("ZADD", "bigzset", ...many("m", 129).flatMap((member, i) => [String(i), member])), c("OBJECT", "ENCODING", "bigzset"),
  c("XADD", "stream", "1-1", "f", "v"), c("OBJECT", "ENCODING", "stream"),
  // missing keys, errors, arities
  c("OBJECT", "ENCODING", "nope"), c("OBJECT", "REFCOUNT", "nope"), c("OBJECT", "FREQ", "i"), c("OBJECT", "FREQ", "nope"),
  c("OBJECT", "encoding", "i"), c("OBJECT", "foo", "i"), c("OBJECT", "foo"), c("OBJECT"), c("OBJECT", "ENCODING"), c("OBJECT", "ENCODING", "i", "x"),
  c("OBJECT", "HELP", "x"),
  // MEMORY USAGE: the clone's own estimate (positive), null for a missing key, Redis's argument errors
  positive("MEMORY", "USAGE", "i"), positive("MEMORY", "USAGE", "s45"), positive("MEMORY", "USAGE", "bighash"), positive("MEMORY", "USAGE", "bigints", "SAMPLES", "0"),
  positive("MEMORY", "USAGE", "list", "samples", "2"), positive("MEMORY", "USAGE", "stream"), positive("MEMORY", "USAGE", "bigzset", "SAMPLES", "5", "SAMPLES", "1"),
  c("MEMORY", "USAGE", "nope"), c("MEMORY", "USAGE", "i", "SAMPLES"), c("MEMORY", "USAGE", "i", "SAMPLES", "-1"), c("MEMORY", "USAGE", "i", "SAMPLES", "x"),
  c("MEMORY", "USAGE", "i", "FOO", "1"), c("MEMORY", "USAGE"), c("MEMORY"), c("MEMORY", "FOO"), c("MEMORY", "HELP", "x"),
  // The node's own subcommands (test/memory-command.test.ts checks their figures): PURGE's reply, the arities
  c("MEMORY", "PURGE"), c("MEMORY", "purge", "x"), c("MEMORY", "STATS", "x"), c("MEMORY", "DOCTOR", "x"), c("MEMORY", "MALLOC-STATS", "x"),
];

describe("OBJECT and MEMORY USAGE answer as redis-server does", () => {
  diffTests(servers, "OBJECT and MEMORY USAGE", script);
});
