/**
 * The HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG) against the real redis-server, reply
 * for reply (`helpers/redis-diff.ts`), with GET of the raw value after every kind of change, so
 * the representation itself is compared byte for byte: the header and its cached count (stale
 * after PFADD and PFMERGE, written back by PFCOUNT of one key), the sparse code as PFADD edits
 * it, its promotion to dense (gradually, and in the middle of one PFADD of thousands of elements),
 * dense values, PFMERGE into sparse and dense destinations (missing sources, the destination
 * among its own sources, TTLs kept), and counts from a few to 50,000 elements and of several keys.
 *
 * Then values no PFADD makes, SET by hand: strings that are not HLLs (WRONGTYPE), a "HYLL" header
 * with garbage, sparse codes that cover too many or too few registers, one cut short, one longer
 * than the sparse limit, cached counts past 2^53, and dense values whose registers reach 50, 51
 * and 63 (where the estimate leaves int64); with arity errors and PFDEBUG's. Then, in process,
 * what reaches the log, and a 3-node cluster that applies a mix of these writes alike.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { CloneHarness } from "./helpers/clone-harness.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, y2100 } from "./helpers/redis-diff.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

/** `count` distinct elements `<prefix><from>`, `<prefix><from + 1>`... */
function many(prefix: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${from + i}`);
}

/** A stale cached count (the top bit of its last byte set), as PFADD leaves it. */
const stale = [0, 0, 0, 0, 0, 0, 0, 0x80];

/** An HLL header: "HYLL", the encoding, 3 unused bytes, the cached count's 8 bytes. */
function header(encoding: number, cached: readonly number[] = stale): number[] {
  return [72, 89, 76, 76, encoding, 0, 0, 0, ...cached];
}

/** A sparse value of the given opcodes. */
function sparse(opcodes: readonly number[], cached: readonly number[] = stale): Uint8Array {
  return Uint8Array.from([...header(1, cached), ...opcodes]);
}

/** An XZERO opcode: `count` zero registers. */
function xzero(count: number): number[] {
  return [0x40 | ((count - 1) >> 8), (count - 1) & 0xff];
}

/** A dense value whose register i is `register(i)` (6 bits each, packed from each byte's low bits). */
function dense(register: (index: number) => number, cached: readonly number[] = stale): Uint8Array {
  const bytes = new Uint8Array(16 + 12288);
  bytes.set(header(0, cached));
  for (let i = 0; i < 16384; i++) {
    const value = register(i) & 63;
    const bit = i * 6;
    const at = 16 + (bit >> 3);
    const shift = bit & 7;
    bytes[at] = (bytes[at] as number) | ((value << shift) & 0xff);
    if (shift > 2) bytes[at + 1] = (bytes[at + 1] as number) | (value >> (8 - shift));
  }
  return bytes;
}

const addAndCount: Case[] = [
  // PFADD's reply, the cache marked stale by a change, written back by PFCOUNT of one key
  c("PFADD", "h", "a", "b", "c"), c("PFADD", "h", "a"), c("PFADD", "h"), c("GET", "h"), c("PFCOUNT", "h"), c("GET", "h"), c("PFCOUNT", "h"),
  c("PFADD", "h", "d"), c("GET", "h"), c("PFADD", "h", "a", "b"), c("GET", "h"), c("PFCOUNT", "h"), c("GET", "h"),
  // PFADD of no elements creates the key (with a stale cache), PFCOUNT of a missing key is 0
  c("PFADD", "new"), c("GET", "new"), c("PFCOUNT", "new"), c("GET", "new"), c("PFADD", "new"), c("GET", "new"), c("PFCOUNT", "nope"), c("EXISTS", "nope"),
  c("PFADD", "dup", "x", "x", "x"), c("PFCOUNT", "dup"), c("PFADD", "bin", "", "\u0000", "é", "0123456789abcdefX", "a b"), c("GET", "bin"), c("PFCOUNT", "bin"),
  // a sparse value growing 400 elements at a time, until it turns dense
  ...[0, 1, 2, 3, 4, 5].flatMap((step) => [
    c("PFADD", "g", ...many("g", 400, step * 400)), c("PFDEBUG", "ENCODING", "g"), c("GET", "g"), c("PFCOUNT", "g"), c("GET", "g"),
  ]),
  c("PFADD", "g", ...many("g", 400)), c("PFADD", "g", "one more"), c("GET", "g"),
  // turning dense in the middle of one PFADD
  c("PFADD", "one", ...many("o", 2500)), c("PFDEBUG", "ENCODING", "one"), c("GET", "one"), c("PFCOUNT", "one"), c("GET", "one"),
  // counts from a few elements to 50,000
  ...[1, 2, 3, 5, 10, 30, 100, 300, 1000].flatMap((count) => [c("PFADD", `n${count}`, ...many("n", count)), c("PFCOUNT", `n${count}`)]),
  ...[0, 1, 2, 3, 4].flatMap((step) => [c("PFADD", "big", ...many("big", 10_000, step * 10_000)), c("PFCOUNT", "big")]),
  c("GET", "big"),
  // several keys: merged in memory, nothing written
  c("PFCOUNT", "g", "one", "big", "nope"), c("PFCOUNT", "g", "g"), c("PFCOUNT", "h", "nope"), c("PFCOUNT", "nope", "nope2"), c("PFCOUNT", "n1", "n2", "n3"),
  c("GET", "g"),
  // the TTL stays
  c("PFADD", "t", "a"), c("EXPIREAT", "t", y2100), c("PFADD", "t", "b"), c("EXPIRETIME", "t"), c("PFCOUNT", "t"), c("EXPIRETIME", "t"),
];

const merge: Case[] = [
  c("PFADD", "a", ...many("a", 50)), c("PFADD", "b", ...many("b", 60), ...many("a", 20)), c("PFADD", "c", ...many("c", 3000)),
  // sparse sources: a sparse destination; a dense one among them: dense
  c("PFMERGE", "m1", "a", "b"), c("PFDEBUG", "ENCODING", "m1"), c("GET", "m1"), c("PFCOUNT", "m1"), c("GET", "m1"),
  c("PFMERGE", "m2", "a", "nope", "b", "c"), c("PFDEBUG", "ENCODING", "m2"), c("GET", "m2"), c("PFCOUNT", "m2"), c("PFCOUNT", "a", "nope", "b", "c"),
  // the destination is one of the sources; no sources at all; only missing ones
  c("PFMERGE", "a", "a", "b"), c("GET", "a"), c("PFCOUNT", "a"), c("PFMERGE", "m3"), c("GET", "m3"), c("PFMERGE", "m3"), c("GET", "m3"),
  c("PFMERGE", "m4", "nope", "nope2"), c("GET", "m4"), c("PFMERGE", "b", "nope"), c("GET", "b"), c("PFMERGE", "m1", "m1"), c("GET", "m1"),
  // sparse sources whose union passes the sparse limit: the destination turns dense while merging
  c("PFADD", "s1", ...many("s", 1200)), c("PFADD", "s2", ...many("t", 1200)), c("PFMERGE", "s3", "s1", "s2"), c("PFDEBUG", "ENCODING", "s3"),
  c("GET", "s3"), c("PFCOUNT", "s3"), c("PFCOUNT", "s1", "s2"),
  // a sparse destination merged with a dense source, and a dense one with sparse sources
  c("PFMERGE", "s1", "c"), c("PFDEBUG", "ENCODING", "s1"), c("GET", "s1"), c("PFMERGE", "c", "a", "b"), c("GET", "c"), c("PFCOUNT", "c"),
  // the destination's TTL stays; PFADD after a merge
  c("PFADD", "ttl", "x"), c("EXPIREAT", "ttl", y2100), c("PFMERGE", "ttl", "a"), c("EXPIRETIME", "ttl"), c("GET", "ttl"), c("PFADD", "m1", "zz"), c("GET", "m1"),
];

const wrongType = [c("RPUSH", "list", "x"), c("SET", "str", "hello"), c("SET", "num", "12345"), c("SET", "empty", ""), c("PFADD", "h", "a", "b")];

const errors: Case[] = [
  ...wrongType,
  // other types, and strings that are not HLLs
  c("PFADD", "list", "a"), c("PFADD", "str", "a"), c("PFADD", "num"), c("PFADD", "empty", "a"), c("PFCOUNT", "list"), c("PFCOUNT", "str"),
  c("PFCOUNT", "h", "list"), c("PFCOUNT", "nope", "str"), c("PFCOUNT", "str", "nope"), c("PFMERGE", "list", "h"), c("PFMERGE", "d", "list"),
  c("PFMERGE", "d", "h", "str"), c("EXISTS", "d"), c("PFMERGE", "str"), c("PFMERGE", "h", "str"), c("GET", "h"),
  c("SET", "short", "HYLL"), c("PFADD", "short", "a"), c("SET", "h15", Uint8Array.from(header(1).slice(0, 15))), c("PFCOUNT", "h15"),
  c("SET", "enc2", sparse(xzero(16384)).map((byte, i) => (i === 4 ? 2 : byte))), c("PFADD", "enc2", "a"), c("PFCOUNT", "enc2"),
  c("SET", "dshort", Uint8Array.from([...header(0), 1, 2, 3])), c("PFCOUNT", "dshort"), c("SET", "dlong", new Uint8Array(12305).fill(0).map((_, i) => [72, 89, 76, 76][i] ?? 0)),
  c("PFCOUNT", "dlong"), c("SET", "header", Uint8Array.from(header(1))), c("PFCOUNT", "header"), c("PFADD", "header", "a"), c("GET", "header"),
  // a "HYLL" header with garbage: a sparse code that does not cover 16384 registers
  c("SET", "garbage", "HYLL\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000garbage!"), c("PFCOUNT", "garbage"),
  c("PFCOUNT", "garbage", "h"), c("PFMERGE", "x", "garbage"), c("EXISTS", "x"), c("PFMERGE", "garbage", "h"), c("PFDEBUG", "DECODE", "garbage"),
  c("PFDEBUG", "GETREG", "garbage"), c("PFDEBUG", "TODENSE", "garbage"), c("PFADD", "garbage", "a", "b", "c"), c("GET", "garbage"),
  // twice the registers: PFADD edits the code, counting refuses it
  c("SET", "twice", sparse([...xzero(16384), ...xzero(16384)])), c("PFCOUNT", "twice"), c("PFADD", "twice", "a", "b"), c("GET", "twice"),
  c("PFCOUNT", "twice"), c("PFADD", "twice", ...many("w", 2000)), c("GET", "twice"),
  // half the registers: the elements before the first that falls past them are kept
  c("SET", "half", sparse(xzero(8000))), c("PFADD", "half", "ab", "hello world", "abcdefgh", "abc", "a"), c("GET", "half"), c("PFCOUNT", "half"),
  c("PFADD", "half", "ab"), c("PFADD", "half", "abc"), c("GET", "half"),
  // an XZERO cut short at the end (its second byte reads as the terminator, 0)
  c("SET", "cut", sparse([0x7f])), c("PFCOUNT", "cut"), c("PFDEBUG", "DECODE", "cut"), c("PFADD", "cut", "ab"), c("GET", "cut"),
  c("SET", "cut2", sparse([0x80, 0x7f])), c("PFADD", "cut2", "abcdefgh"), c("GET", "cut2"),
  // a valid sparse code longer than the sparse limit: edits in place keep it sparse, growing ones turn it dense
  c("SET", "long", sparse([...new Array<number>(3499).fill(0), ...xzero(16384 - 3499)])), c("PFCOUNT", "long"), c("PFADD", "long", "ab", "abc"),
  c("PFDEBUG", "ENCODING", "long"), c("GET", "long"), c("PFADD", "long", "hello world"), c("PFDEBUG", "ENCODING", "long"), c("PFCOUNT", "long"),
  // cached counts: valid ones are answered as they are, past 2^53 too
  c("SET", "cached", sparse(xzero(16384), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), c("PFCOUNT", "cached"),
  c("SET", "cached2", sparse(xzero(16384), [0x39, 0x30, 0, 0, 0, 0, 0x20, 0])), c("PFCOUNT", "cached2"), c("PFCOUNT", "cached2", "h"),
  c("SET", "cached3", sparse(xzero(16384), [1, 0, 0, 0, 0, 0, 0, 0])), c("PFCOUNT", "cached3"), c("PFADD", "cached3", "a"), c("PFCOUNT", "cached3"),
  // dense values no hash makes: registers at 50, 51 (the estimate's corrections) and 63, mixtures
  c("SET", "d50", dense(() => 50)), c("PFCOUNT", "d50"), c("GET", "d50"), c("PFCOUNT", "d50"),
  c("SET", "d51", dense(() => 51)), c("PFCOUNT", "d51"), c("PFCOUNT", "d51", "h"), c("SET", "d63", dense(() => 63)), c("PFCOUNT", "d63"),
  c("SET", "dmix", dense((i) => i % 64)), c("PFCOUNT", "dmix"), c("PFCOUNT", "dmix", "d50"), c("PFMERGE", "dm", "dmix", "h"), c("GET", "dm"), c("PFCOUNT", "dm"),
  c("SET", "d40", dense((i) => (i < 200 ? 40 : i % 3))), c("PFCOUNT", "d40"), c("PFADD", "d40", ...many("d", 500)), c("GET", "d40"), c("PFCOUNT", "d40"),
  c("SET", "dtau", dense((i) => (i % 7 === 0 ? 51 : 1 + (i % 20)))), c("PFCOUNT", "dtau"), c("SET", "d1", dense((i) => (i < 8000 ? 1 : 0))), c("PFCOUNT", "d1"),
  c("SET", "dfew", dense((i) => (i % 1000 === 0 ? 2 : 0), [0, 0, 0, 0, 0, 0, 0, 0x80])), c("PFCOUNT", "dfew"), c("PFMERGE", "dfew2", "dfew", "h"), c("PFCOUNT", "dfew2"),
  c("PFADD", "sp", "a"), c("PFMERGE", "sp", "d63"), c("PFDEBUG", "ENCODING", "sp"), c("PFCOUNT", "sp"),
  // arity
  c("PFADD"), c("PFCOUNT"), c("PFMERGE"), c("PFDEBUG"), c("PFDEBUG", "ENCODING"), c("PFDEBUG", "ENCODING", "h", "x"),
  // PFDEBUG: the key first, then the subcommand
  c("PFDEBUG", "ENCODING", "nope"), c("PFDEBUG", "FOO", "nope"), c("PFDEBUG", "FOO", "h"), c("PFDEBUG", "encoding", "list"), c("PFDEBUG", "encoding", "str"),
  c("PFDEBUG", "DECODE", "h"), c("PFDEBUG", "decode", "d50"), c("PFDEBUG", "ENCODING", "h"), c("PFDEBUG", "TODENSE", "h"), c("PFDEBUG", "TODENSE", "h"),
  c("PFDEBUG", "ENCODING", "h"), c("GET", "h"), c("PFADD", "small", "x", "y"), c("PFDEBUG", "GETREG", "small"), c("GET", "small"), c("PFDEBUG", "GETREG", "d1"),
];

describe("HyperLogLog commands answer as redis-server does", () => {
  diffTests(servers, "PFADD and PFCOUNT, sparse to dense", addAndCount);
  diffTests(servers, "PFMERGE", merge);
  diffTests(servers, "wrong types, crafted and corrupt values, arity, PFDEBUG", errors);
});

describe("in process", () => {
  test("PFCOUNT of one key is logged (it may write the cache); of several keys, and reads of PFDEBUG, are not", () => {
    const h = new CloneHarness();
    h.run("PFADD", "a", "x", "y");
    h.run("PFADD", "b", "z");
    const before = h.log.length;
    expect(h.run("PFCOUNT", "a", "b")).toBe(3);
    expect(h.run("PFDEBUG", "ENCODING", "a")).toBe("sparse");
    expect(h.run("PFDEBUG", "DECODE", "b")).toMatch(/^Z:\d+ v:\d,1 Z:\d+$/);
    expect(h.log.length).toBe(before);
    expect(h.run("PFCOUNT", "a")).toBe(2);
    expect(h.log.length).toBe(before + 1);
    // The cache written by the first PFCOUNT is the same on leader and replica.
    const [leader, replica] = h.digests();
    expect(leader).toBe(replica);
    // A count past 2^53 is exact, and 2^63 answers as Redis's long long does.
    h.run("SET", "big", sparse(xzero(16384), [1, 0, 0, 0, 0, 0, 0x20, 0x7f]));
    expect(h.run("PFCOUNT", "big")).toBe(0x7f20000000000001n);
    h.run("SET", "d51", dense(() => 51));
    expect(h.run("PFCOUNT", "d51")).toBe(-(2n ** 63n));
  });
});

describe("a 3-node cluster", () => {
  const cluster = new InProcessNodes("hyperloglog");

  test("applies PFADD, PFMERGE, PFCOUNT and PFDEBUG TODENSE alike on every node (DEBUG DIGEST, GET)", async () => {
    // Low consistency: each node answers DEBUG DIGEST and GET from its own state.
    const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });
    const writes: string[][] = [];
    for (let i = 0; i < 6; i++) {
      writes.push(["PFADD", `h${i % 3}`, ...many(`e${i}-`, 300 * (i + 1))]);
      writes.push(["PFCOUNT", `h${i % 3}`]);
      writes.push(["PFMERGE", `m${i % 2}`, `h${i % 3}`, `h${(i + 1) % 3}`, "missing"]);
      writes.push(["PFCOUNT", `m${i % 2}`]);
    }
    writes.push(["PFADD", "small", "a", "b"], ["PFDEBUG", "TODENSE", "small"], ["PFADD", "empty"], ["PFMERGE", "h0", "h0"]);
    await writeEach(first.port, writes);
    const ports = cluster.nodes.map((node) => node.port);
    await awaitSameDigest(ports);
    const keys = ["h0", "h1", "h2", "m0", "m1", "small", "empty"];
    const values = await Promise.all(ports.map((port) => Promise.all(keys.map((key) => callPort(port, "GET", key)))));
    for (const one of values) expect(one).toEqual(values[0] as unknown[]);
  });
});
