/**
 * The HLL representation's parts that the differential test (test/clone-redis-diff-hll.test.ts)
 * sees only through replies: MurmurHash64A in 32-bit halves against a bigint reference, the
 * register and pattern length of elements as redis-server 7.0.15 gave them (PFDEBUG GETREG of a
 * one-element HLL), and sparse edits against dense ones (as Redis's PFSELFTEST checks).
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { countOf, elementPattern, HyperLogLogDraft, murmurHash64AForTest, registerOf } from "./hyperloglog-encoding.ts";

const mask = (1n << 64n) - 1n;
const m = 0xc6a4a7935bd1e995n;

/** MurmurHash64A as its C source reads, in bigints: the reference. */
function referenceMurmur(data: Uint8Array): bigint {
  let h = (0xadc83b19n ^ (BigInt(data.length) * m)) & mask;
  const blocksEnd = data.length - (data.length & 7);
  for (let at = 0; at < blocksEnd; at += 8) {
    let k = 0n;
    for (let i = 7; i >= 0; i--) k = (k << 8n) | BigInt(data[at + i] as number);
    k = (k * m) & mask;
    k ^= k >> 47n;
    k = (k * m) & mask;
    h ^= k;
    h = (h * m) & mask;
  }
  const tail = data.length & 7;
  if (tail !== 0) {
    for (let i = tail - 1; i >= 0; i--) h ^= BigInt(data[blocksEnd + i] as number) << BigInt(8 * i);
    h = (h * m) & mask;
  }
  h ^= h >> 47n;
  h = (h * m) & mask;
  h ^= h >> 47n;
  return h;
}

test("MurmurHash64A in 32-bit halves equals the bigint reference", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70 }), (data) => {
      expect(murmurHash64AForTest(data)).toBe(referenceMurmur(data));
    }),
    { numRuns: 2000 },
  );
});

test("elements land in the register, with the pattern length, that redis-server 7.0.15 gives", () => {
  // [element, register, value] from PFADD v <element>; PFDEBUG GETREG v.
  const vectors: [string, number, number][] = [
    ["", 5938, 2], ["a", 12711, 2], ["ab", 719, 1], ["abc", 9474, 1], ["abcd", 11070, 8], ["abcde", 3726, 4],
    ["abcdef", 13647, 2], ["abcdefg", 5634, 2], ["abcdefgh", 1383, 1], ["abcdefghi", 6903, 1], ["hello world", 9399, 4],
    ["0123456789abcdef", 5949, 1], ["0123456789abcdefX", 11257, 1], ["élément", 13177, 1],
  ];
  for (const [element, register, value] of vectors) {
    const pattern = elementPattern(new TextEncoder().encode(element));
    expect([element, pattern >>> 6, pattern & 63]).toEqual([element, register, value]);
  }
});

test("a sparse HLL and a dense one fed the same elements count alike and hold the same registers", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 600 }), (elements) => {
      const sparse = HyperLogLogDraft.empty();
      const dense = HyperLogLogDraft.empty();
      expect(dense.toDense()).toBe(true);
      for (const element of elements) expect(sparse.add(element)).toBe(dense.add(element));
      expect(countOf(sparse.value())).toBe(countOf(dense.value()));
      expect(sparse.toDense()).toBe(true);
      // The headers differ: sparse edits mark the cached count stale, dense ones leave that to PFADD.
      expect(sparse.value().subarray(16)).toEqual(dense.value().subarray(16));
    }),
    { numRuns: 60 },
  );
});

test("registerOf reads every register of a sparse HLL as of its dense form, and an element already counted raises none", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 300 }), (elements) => {
      const sparse = HyperLogLogDraft.empty();
      for (const element of elements) sparse.add(element);
      const sparseValue = sparse.value();
      expect(sparse.toDense()).toBe(true);
      const denseValue = sparse.value();
      for (let index = 0; index < 16384; index++) expect(registerOf(sparseValue, index)).toBe(registerOf(denseValue, index));
      // PFADD's `unchanged`: each element's register already holds its pattern length.
      for (const element of elements) {
        const pattern = elementPattern(element);
        expect(registerOf(sparseValue, pattern >>> 6) as number).toBeGreaterThanOrEqual(pattern & 63);
      }
    }),
    { numRuns: 30 },
  );
  // A sparse code cut short: the registers past its end are not known.
  const cut = HyperLogLogDraft.empty().value().subarray(0, 16);
  expect(registerOf(cut, 0)).toBeNull();
});

test("a sparse code that does not cover 16384 registers is refused, a long run of them does not loop", () => {
  const header = [72, 89, 76, 76, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];
  // XZERO:16384 twice: twice the registers.
  expect(countOf(Uint8Array.from([...header, 0x7f, 0xff, 0x7f, 0xff]))).toBeNull();
  // An XZERO cut short: its second byte reads as 0 (16129 registers).
  expect(countOf(Uint8Array.from([...header, 0x7f]))).toBeNull();
  const long = new Uint8Array(16 + 1_000_000);
  long.set(header);
  expect(countOf(long)).toBeNull();
  expect(HyperLogLogDraft.of(long).toDense()).toBe(false);
  expect(HyperLogLogDraft.of(Uint8Array.from(header)).add(new Uint8Array(1))).toBe(-1);
});
