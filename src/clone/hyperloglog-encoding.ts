/**
 * Redis's HyperLogLog representation, byte for byte as Redis 7.0's hyperloglog.c keeps it in a
 * string value, so that GET of an HLL key and every PFCOUNT agree with redis-server's, and a value
 * read from one (GET) and SET on the other goes on working there.
 *
 * **Layout.** A 16-byte header: "HYLL", the encoding (0 dense, 1 sparse), three unused bytes, and
 * the cached cardinality as a little-endian uint64 whose top bit set means "stale, recompute".
 * Then the 16384 registers (P = 14), each the length of the `0...01` pattern of the 50 hash bits
 * left over (Q = 50, so 1 to 51):
 *
 * - dense: 6 bits per register, packed from each byte's low bits up (12288 bytes);
 * - sparse: a run-length code of ZERO (`00xxxxxx`, 1-64 zero registers), XZERO (`01xxxxxx
 *   yyyyyyyy`, 1-16384 zero registers) and VAL (`1vvvvvxx`, 1-4 registers of value 1-32). A new
 *   key is sparse; it turns dense once a register needs more than 32 or an edit would take it past
 *   `sparseBytesMax` bytes (Redis's default hll-sparse-max-bytes).
 *
 * The hash is MurmurHash64A with seed 0xadc83b19, computed here in 32-bit halves and 16-bit limbs
 * (bigints would allocate at every step of every element). The estimate is Ertl's ("New cardinality
 * estimation algorithms for HyperLogLog sketches", arXiv:1702.01284), which Redis uses since 5.0,
 * with the same floating-point operations in the same order, so the same double, rounded as
 * `llroundl` rounds it.
 *
 * **Edits follow Redis's own algorithm** (`hllSparseSet`: split the opcode that covers the
 * register, then merge equal VAL neighbours among the next five opcodes), since a different but
 * equivalent sparse code would show in GET. Redis edits in place; here a `HyperLogLogDraft` copies
 * the value once per command and the command stores the result, as keyspace values are never
 * changed in place. Like an sds string, the draft keeps a byte past its length that a truncated
 * XZERO at the very end reads (Redis reads the sds terminator there). One difference remains, for
 * corrupt values only: when an edit splits such a truncated XZERO, Redis leaves the last byte it
 * wrote past the string's end, where later commands read it as that XZERO's second byte; a
 * stored value here has nothing past its end, so they read 0 (DECODE and the error paths of such a
 * value may then differ from Redis's).
 *
 * **Corrupt values** are anything a client SET: every walk is bounded by the value's length, and
 * a sparse code that does not cover exactly 16384 registers is refused where Redis refuses it
 * (INVALIDOBJ), never looped over or expanded without limit.
 */
import { RespError } from "../errors.ts";

/** The header: "HYLL", encoding, 3 unused bytes, cached cardinality (8 bytes, little-endian). */
export const headerBytes = 16;
/** Registers per HLL (2^P with P = 14: the hash's low 14 bits pick one). */
export const registerCount = 16384;
const registerIndexMask = registerCount - 1;
/** Bits of the hash after the 14 index bits (Redis's HLL_Q): register values go up to 51. */
const patternBits = 50;
/** A dense value's exact length: the header and 16384 registers of 6 bits. */
export const denseBytes = headerBytes + (registerCount * 6) / 8;
/**
 * A sparse value grows to at most this many bytes before it turns dense: Redis's default
 * hll-sparse-max-bytes, which Redis documents as the point where the sparse code stops paying
 * (and which bounds the time of every sparse edit).
 */
export const sparseBytesMax = 3000;
/** The largest register value a VAL opcode holds. */
const sparseValueMax = 32;
/** The most registers a VAL opcode covers. */
const sparseValueRunMax = 4;
/** The most zero registers a ZERO opcode covers (longer runs are XZERO). */
const sparseZeroRunMax = 64;
/** Encoding bytes (the header's fifth). */
const encodingDense = 0;
const encodingSparse = 1;
/** The byte of the header whose top bit marks the cached cardinality stale. */
const cacheFlagByte = 15;
/** 0.5 / ln(2): the estimator's constant for an infinite number of registers (HLL_ALPHA_INF). */
const alphaInfinity = 0.72134752044448170368;
const twoTo32 = 2 ** 32;
const twoTo63 = 2 ** 63;

/** PFADD and friends on a string that is not an HLL (Redis's wording, code included). */
export const errNotHyperLogLog = new RespError("WRONGTYPE Key is not a valid HyperLogLog string value.");
/** An HLL whose sparse code is broken. */
export const errCorrupt = new RespError("INVALIDOBJ Corrupted HLL object detected");

// MurmurHash64A in 32-bit halves.

/** The result of `multiplyByM`: the low 64 bits of the product, as two uint32 halves. */
let productHigh = 0;
let productLow = 0;

/**
 * `(high:low) * 0xc6a4a7935bd1e995` modulo 2^64, in 16-bit limbs so that every partial product and
 * sum is an exact double (as Long.js multiplies).
 */
function multiplyByM(high: number, low: number): void {
  const a48 = high >>> 16;
  const a32 = high & 0xffff;
  const a16 = low >>> 16;
  const a00 = low & 0xffff;
  // The limbs of 0xc6a4a7935bd1e995.
  const b48 = 0xc6a4;
  const b32 = 0xa793;
  const b16 = 0x5bd1;
  const b00 = 0xe995;
  let c00 = a00 * b00;
  let c16 = c00 >>> 16;
  c00 &= 0xffff;
  c16 += a16 * b00;
  let c32 = c16 >>> 16;
  c16 &= 0xffff;
  c16 += a00 * b16;
  c32 += c16 >>> 16;
  c16 &= 0xffff;
  c32 += a32 * b00;
  let c48 = c32 >>> 16;
  c32 &= 0xffff;
  c32 += a16 * b16;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  c32 += a00 * b32;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  // Only the low 16 bits of the top limb are kept: the sum is exact, `&` takes them.
  c48 = (c48 + a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48) & 0xffff;
  productLow = ((c16 << 16) | c00) >>> 0;
  productHigh = ((c48 << 16) | c32) >>> 0;
}

function uint32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
}

/** The result of `murmurHash64A`, as two uint32 halves. */
let hashHigh = 0;
let hashLow = 0;

/** MurmurHash64A of `data` with Redis's seed (little-endian reads, as Redis's endian-neutral copy), into `hashHigh:hashLow`. */
function murmurHash64A(data: Uint8Array): void {
  const length = data.length;
  // h = seed ^ (len * m); the seed is 32 bits.
  multiplyByM(0, length);
  let high = productHigh;
  let low = (productLow ^ 0xadc83b19) >>> 0;
  const blocksEnd = length - (length & 7);
  for (let at = 0; at < blocksEnd; at += 8) {
    multiplyByM(uint32At(data, at + 4), uint32At(data, at));
    // k ^= k >> 47; k *= m
    multiplyByM(productHigh, (productLow ^ (productHigh >>> 15)) >>> 0);
    multiplyByM((high ^ productHigh) >>> 0, (low ^ productLow) >>> 0);
    high = productHigh;
    low = productLow;
  }
  const tail = length & 7;
  if (tail !== 0) {
    for (let i = tail - 1; i >= 0; i--) {
      const byte = data[blocksEnd + i] as number;
      if (i >= 4) high = (high ^ (byte << (8 * (i - 4)))) >>> 0;
      else low = (low ^ (byte << (8 * i))) >>> 0;
    }
    multiplyByM(high, low);
    high = productHigh;
    low = productLow;
  }
  low = (low ^ (high >>> 15)) >>> 0;
  multiplyByM(high, low);
  hashHigh = productHigh;
  hashLow = (productLow ^ (productHigh >>> 15)) >>> 0;
}

/** The number of trailing zero bits of a non-zero uint32. */
function trailingZeros(value: number): number {
  return 31 - Math.clz32(value & -value);
}

/**
 * Redis's `hllPatLen`: the register `element` falls in (the hash's low 14 bits) and the length of
 * the `0...01` pattern in the 50 bits above them (51 when they are all zero), packed as
 * `index * 64 + count` so that no object is made per element.
 */
export function elementPattern(element: Uint8Array): number {
  murmurHash64A(element);
  const index = hashLow & registerIndexMask;
  // hash >>= 14, then bit 50 set so that the count stops at 51.
  const low = ((hashLow >>> 14) | (hashHigh << 18)) >>> 0;
  const high = ((hashHigh >>> 14) | (1 << (patternBits - 32))) >>> 0;
  const count = low !== 0 ? trailingZeros(low) + 1 : 32 + trailingZeros(high) + 1;
  return index * 64 + count;
}

/** @internal MurmurHash64A with Redis's seed as a bigint (tests compare it with a bigint reference). */
export function murmurHash64AForTest(data: Uint8Array): bigint {
  murmurHash64A(data);
  return (BigInt(hashHigh) << 32n) | BigInt(hashLow);
}

// Registers.

/** Dense register `index` of `bytes` (a whole value, header included). */
function denseRegister(bytes: Uint8Array, index: number): number {
  const bit = index * 6;
  const at = headerBytes + (bit >>> 3);
  const shift = bit & 7;
  // The last register ends in the last byte (shift 2): the byte after it is never needed.
  const next = shift > 2 ? (bytes[at + 1] as number) << (8 - shift) : 0;
  return (((bytes[at] as number) >>> shift) | next) & 63;
}

/**
 * Register `index` of `value` (a checked HLL, dense or sparse), or null when a sparse code ends
 * before it (broken: Redis finds that when it walks the code).
 */
export function registerOf(value: Uint8Array, index: number): number | null {
  if (isDense(value)) return denseRegister(value, index);
  let first = 0;
  for (let at = headerBytes; at < value.length; at += isXZero(value[at] as number) ? 2 : 1) {
    const opcode = value[at] as number;
    const run = runLength(value, at);
    if (index < first + run) return isValue(opcode) ? opcodeValue(opcode) : 0;
    first += run;
  }
  return null;
}

/** Raises dense register `index` to `count`; 1 when it was lower, else 0 (Redis's `hllDenseSet`). */
function raiseDenseRegister(bytes: Uint8Array, index: number, count: number): number {
  if (count <= denseRegister(bytes, index)) return 0;
  const bit = index * 6;
  const at = headerBytes + (bit >>> 3);
  const shift = bit & 7;
  bytes[at] = ((bytes[at] as number) & ~(63 << shift)) | (count << shift);
  if (shift > 2) bytes[at + 1] = ((bytes[at + 1] as number) & ~(63 >>> (8 - shift))) | (count >>> (8 - shift));
  return 1;
}

/** A VAL opcode: `count` registers of value `value`. */
function valueOpcode(value: number, count: number): number {
  return (((value - 1) << 2) | (count - 1) | 0x80) & 0xff;
}

/**
 * Writes a run of `count` zero registers at `at` as Redis does (ZERO up to 64, else XZERO) and
 * returns where the next opcode goes.
 */
function writeZeroRun(bytes: Uint8Array, at: number, count: number): number {
  if (count > sparseZeroRunMax) {
    bytes[at] = (((count - 1) >>> 8) | 0x40) & 0xff;
    bytes[at + 1] = (count - 1) & 0xff;
    return at + 2;
  }
  bytes[at] = count - 1;
  return at + 1;
}

/** An opcode's run of registers; `bytes[at + 1]` is an XZERO's second byte (the sds terminator when cut short). */
function runLength(bytes: Uint8Array, at: number): number {
  const opcode = bytes[at] as number;
  if ((opcode & 0xc0) === 0) return (opcode & 0x3f) + 1;
  if ((opcode & 0x80) !== 0) return (opcode & 3) + 1;
  return (((opcode & 0x3f) << 8) | (bytes[at + 1] ?? 0)) + 1;
}

function isXZero(opcode: number): boolean {
  return (opcode & 0xc0) === 0x40;
}

function isValue(opcode: number): boolean {
  return (opcode & 0x80) !== 0;
}

function opcodeValue(opcode: number): number {
  return ((opcode >>> 2) & 0x1f) + 1;
}

// Reading values.

/**
 * Throws Redis's WRONGTYPE for a string that is not an HLL (`isHLLObjectOrReply`): too short, no
 * "HYLL", an unknown encoding, or a dense one of the wrong length. A sparse code is not checked
 * here: Redis finds a broken one only when it walks it.
 */
export function checkHyperLogLog(value: Uint8Array): void {
  if (
    value.length < headerBytes ||
    value[0] !== 72 || // H
    value[1] !== 89 || // Y
    value[2] !== 76 || // L
    value[3] !== 76 || // L
    (value[4] as number) > encodingSparse ||
    (value[4] === encodingDense && value.length !== denseBytes)
  ) {
    throw errNotHyperLogLog;
  }
}

/** True for a dense value (encoding 0), false for a sparse one. */
export function isDense(value: Uint8Array): boolean {
  return value[4] === encodingDense;
}

/** The cached cardinality when it is valid (its top bit clear), else null. */
export function cachedCardinality(value: Uint8Array): number | bigint | null {
  if (((value[cacheFlagByte] as number) & 0x80) !== 0) return null;
  const high = uint32At(value, 12);
  const low = uint32At(value, 8);
  // Exact as a number up to 2^53; a crafted header can hold anything below 2^63.
  return high < 0x200000 ? high * twoTo32 + low : (BigInt(high) << 32n) | BigInt(low);
}

/**
 * Raises `max[i]` to register i of `value` (a checked HLL) for every register: Redis's `hllMerge`.
 * False when a sparse code does not cover exactly 16384 registers.
 */
export function mergeInto(max: Uint8Array, value: Uint8Array): boolean {
  if (isDense(value)) {
    for (let i = 0; i < registerCount; i++) {
      const register = denseRegister(value, i);
      if (register > (max[i] as number)) max[i] = register;
    }
    return true;
  }
  let index = 0;
  for (let at = headerBytes; at < value.length; ) {
    const opcode = value[at] as number;
    const run = runLength(value, at);
    if (!isValue(opcode)) {
      index += run;
      at += isXZero(opcode) ? 2 : 1;
      continue;
    }
    if (index + run > registerCount) return false;
    const register = opcodeValue(opcode);
    for (const end = index + run; index < end; index++) if (register > (max[index] as number)) max[index] = register;
    at++;
  }
  return index === registerCount;
}

// Counting.

/** How many registers hold each value (reused: every count is synchronous). */
const histogram = new Int32Array(64);

/** Ertl's sigma: the correction for registers still at zero. */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

/** Ertl's tau: the correction for registers at the largest value (51). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    // Redis writes pow(1 - x, 2); glibc's pow gives the correctly rounded square but perhaps
    // within a hair of a tie. Only crafted values reach here (registers at 51).
    z -= (1 - x) * (1 - x) * y;
  } while (previous !== z);
  return z / 3;
}

/**
 * The estimate from `histogram`, as Redis's `hllCount` computes it: the same double operations in
 * the same order, then rounded half away from zero as `llroundl`. A result past int64 (only a
 * crafted dense value gets there) is what x86-64 makes of it, 2^63: the number is returned as
 * the uint64 Redis keeps.
 */
function estimate(): number {
  const m = registerCount;
  let z = m * tau((m - (histogram[patternBits + 1] as number)) / m);
  for (let j = patternBits; j >= 1; j--) {
    z += histogram[j] as number;
    z *= 0.5;
  }
  z += m * sigma((histogram[0] as number) / m);
  const exact = (alphaInfinity * m * m) / z;
  return exact < twoTo63 ? Math.round(exact) : twoTo63;
}

/**
 * The estimated cardinality of an HLL value (checked by `checkHyperLogLog`), as a uint64 in a
 * number (integers past 2^53 are doubles' integers, exactly as Redis's `(uint64_t) E`); null
 * when a sparse code does not cover exactly 16384 registers.
 */
export function countOf(value: Uint8Array): number | null {
  histogram.fill(0);
  if (isDense(value)) {
    for (let at = headerBytes; at < denseBytes; at += 3) {
      const b0 = value[at] as number;
      const b1 = value[at + 1] as number;
      const b2 = value[at + 2] as number;
      (histogram[b0 & 63] as number)++;
      (histogram[((b0 >>> 6) | (b1 << 2)) & 63] as number)++;
      (histogram[((b1 >>> 4) | (b2 << 4)) & 63] as number)++;
      (histogram[b2 >>> 2] as number)++;
    }
    return estimate();
  }
  let index = 0;
  for (let at = headerBytes; at < value.length; ) {
    const opcode = value[at] as number;
    const run = runLength(value, at);
    index += run;
    if (isValue(opcode)) {
      histogram[opcodeValue(opcode)] = (histogram[opcodeValue(opcode)] as number) + run;
      at++;
    } else {
      histogram[0] = (histogram[0] as number) + run;
      at += isXZero(opcode) ? 2 : 1;
    }
  }
  return index === registerCount ? estimate() : null;
}

/** The estimated cardinality of 16384 registers of one byte each (PFCOUNT of several keys). */
export function countOfRegisters(registers: Uint8Array): number {
  histogram.fill(0);
  for (let i = 0; i < registerCount; i++) (histogram[registers[i] as number] as number)++;
  return estimate();
}

/** A count as PFCOUNT replies it: Redis sends the uint64 as a long long, so 2^63 is -2^63. */
export function countReply(count: number): number | bigint {
  if (count <= Number.MAX_SAFE_INTEGER) return count;
  return BigInt.asIntN(64, BigInt(count));
}

/** `value` with `count` as its cached cardinality (a new array: values are never changed in place). */
export function withCachedCount(value: Uint8Array, count: number): Uint8Array {
  const next = value.slice();
  let low = count % twoTo32;
  let high = Math.floor(count / twoTo32);
  for (let i = 0; i < 4; i++) {
    next[8 + i] = low & 0xff;
    next[12 + i] = high & 0xff;
    low = Math.floor(low / 256);
    high = Math.floor(high / 256);
  }
  return next;
}

/** The 16384 registers of one byte each that PFCOUNT and PFMERGE merge into (reused, zeroed by `clearedRegisters`). */
const mergeRegisters = new Uint8Array(registerCount);

/** `mergeRegisters`, all zero. */
export function clearedRegisters(): Uint8Array {
  return mergeRegisters.fill(0);
}

// Changing values.

/** A scratch for the opcodes that replace one (at most XZERO VAL XZERO: 5 bytes). */
const replacement = new Uint8Array(5);

/**
 * An HLL being changed by one command: a copy of the value (or a new empty one) with room to
 * grow, edited in place by Redis's algorithms, then stored with `value()`. Like Redis's sds
 * string, `bytes[length]` is a byte the code may read past the end (see the file comment).
 */
export class HyperLogLogDraft {
  private constructor(
    private bytes: Uint8Array,
    private length: number,
  ) {}

  /** A new HLL as Redis's `createHLLObject` makes it: sparse, all registers zero (one XZERO), cached count 0. */
  static empty(): HyperLogLogDraft {
    const bytes = new Uint8Array(sparseBytesMax + 1);
    bytes.set([72, 89, 76, 76, encodingSparse]);
    writeZeroRun(bytes, headerBytes, registerCount);
    return new HyperLogLogDraft(bytes, headerBytes + 2);
  }

  /**
   * A copy of `value` (checked by `checkHyperLogLog`) to edit. A sparse one gets room for what a
   * sparse edit can add before it turns dense (see `setSparse`), so it is copied only once.
   */
  static of(value: Uint8Array): HyperLogLogDraft {
    const capacity = isDense(value) ? denseBytes + 1 : Math.max(value.length, sparseBytesMax) + 1;
    const bytes = new Uint8Array(capacity);
    bytes.set(value);
    return new HyperLogLogDraft(bytes, value.length);
  }

  /** True once the draft is dense. */
  get dense(): boolean {
    return this.bytes[4] === encodingDense;
  }

  /** The bytes to store. */
  value(): Uint8Array {
    // A dense draft is exactly the value and its spare byte; a sparse one is cut to its length.
    return this.dense ? this.bytes.subarray(0, this.length) : this.bytes.slice(0, this.length);
  }

  /** Marks the cached cardinality stale (HLL_INVALIDATE_CACHE). */
  invalidateCache(): void {
    this.bytes[cacheFlagByte] = (this.bytes[cacheFlagByte] as number) | 0x80;
  }

  /** Adds an element (Redis's `hllAdd`): 1 when a register rose, 0 when none did, -1 for a broken sparse code. */
  add(element: Uint8Array): number {
    const pattern = elementPattern(element);
    return this.set(pattern >>> 6, pattern & 63);
  }

  /** Raises register `index` to `count`: 1 when it rose, 0 when it did not, -1 for a broken sparse code. */
  set(index: number, count: number): number {
    return this.dense ? raiseDenseRegister(this.bytes, index, count) : this.setSparse(index, count);
  }

  /**
   * Turns a sparse draft dense (Redis's `hllSparseToDense`), header and cached count kept; false
   * (and nothing changed) when the sparse code does not cover exactly 16384 registers.
   */
  toDense(): boolean {
    if (this.dense) return true;
    const sparse = this.bytes;
    const dense = new Uint8Array(denseBytes + 1);
    dense.set(sparse.subarray(0, headerBytes));
    dense[4] = encodingDense;
    let index = 0;
    for (let at = headerBytes; at < this.length; ) {
      const opcode = sparse[at] as number;
      const run = runLength(sparse, at);
      if (!isValue(opcode)) {
        index += run;
        at += isXZero(opcode) ? 2 : 1;
        continue;
      }
      if (index + run > registerCount) break;
      const register = opcodeValue(opcode);
      for (const end = index + run; index < end; index++) raiseDenseRegister(dense, index, register);
      at++;
    }
    if (index !== registerCount) return false;
    this.bytes = dense;
    this.length = denseBytes;
    return true;
  }

  /** Sets the length after an edit, and the terminator after it, as `sdsIncrLen` does. */
  private resize(length: number): void {
    this.length = length;
    this.bytes[length] = 0;
  }

  /** Turns dense, then raises the register (the end of `hllSparseSet`); -1 for a broken sparse code. */
  private promote(index: number, count: number): number {
    if (!this.toDense()) return -1;
    return raiseDenseRegister(this.bytes, index, count);
  }

  /**
   * Redis's `hllSparseSet`: finds the opcode that covers register `index`; when the register must
   * rise, rewrites that opcode as up to three (the run before, a VAL of one, the run after), then
   * merges equal VAL neighbours. Turns dense instead when `count` is past what VAL holds, or the
   * value would grow past `sparseBytesMax`.
   */
  private setSparse(index: number, count: number): number {
    if (count > sparseValueMax) return this.promote(index, count);
    const bytes = this.bytes;
    const end = this.length;
    let at = headerBytes;
    let first = 0;
    let previous = -1;
    let span = 0;
    while (at < end) {
      span = runLength(bytes, at);
      if (index <= first + span - 1) break;
      previous = at;
      at += isXZero(bytes[at] as number) ? 2 : 1;
      first += span;
    }
    if (span === 0 || at >= end) return -1;
    const opcode = bytes[at] as number;
    const xZero = isXZero(opcode);
    let next = xZero ? at + 2 : at + 1;
    if (next >= end) next = -1;

    if (isValue(opcode)) {
      const old = opcodeValue(opcode);
      if (old >= count) return 0;
      if (span === 1) {
        bytes[at] = valueOpcode(count, 1);
        return this.mergeValues(previous);
      }
    } else if (!xZero && span === 1) {
      bytes[at] = valueOpcode(count, 1);
      return this.mergeValues(previous);
    }

    // The general case: the opcode becomes the run before the register, the register, the run after.
    const last = first + span - 1;
    let written = 0;
    if (isValue(opcode)) {
      const current = opcodeValue(opcode);
      if (index !== first) replacement[written++] = valueOpcode(current, index - first);
      replacement[written++] = valueOpcode(count, 1);
      if (index !== last) replacement[written++] = valueOpcode(current, last - index);
    } else {
      if (index !== first) written = writeZeroRun(replacement, written, index - first);
      replacement[written++] = valueOpcode(count, 1);
      if (index !== last) written = writeZeroRun(replacement, written, last - index);
    }
    const delta = written - (xZero ? 2 : 1);
    if (delta > 0 && end + delta > sparseBytesMax) return this.promote(index, count);
    if (delta !== 0 && next !== -1) bytes.copyWithin(next + delta, next, end);
    // Redis moves the length (and its terminator) first, then copies the new opcodes, which may
    // cover the terminator when the opcode was an XZERO cut short at the end.
    this.resize(end + delta);
    for (let i = 0; i < written; i++) bytes[at + i] = replacement[i] as number;
    return this.mergeValues(previous);
  }

  /**
   * After a sparse edit: merges adjacent VAL opcodes of equal value (at most 4 registers each)
   * among the five opcodes from the one before the edit, marks the cached count stale, and
   * returns 1 (the end of `hllSparseSet`).
   */
  private mergeValues(previous: number): number {
    const bytes = this.bytes;
    let at = previous === -1 ? headerBytes : previous;
    let end = this.length;
    for (let scan = 5; at < end && scan > 0; scan--) {
      const opcode = bytes[at] as number;
      if (isXZero(opcode)) {
        at += 2;
        continue;
      }
      if (!isValue(opcode)) {
        at++;
        continue;
      }
      const following = bytes[at + 1] as number;
      if (at + 1 < end && isValue(following) && opcodeValue(opcode) === opcodeValue(following)) {
        const run = (opcode & 3) + (following & 3) + 2;
        if (run <= sparseValueRunMax) {
          bytes[at + 1] = valueOpcode(opcodeValue(opcode), run);
          // Redis's memmove moves the terminator too; the next try is at the same place.
          bytes.copyWithin(at, at + 1, end + 1);
          this.resize(end - 1);
          end--;
          continue;
        }
      }
      at++;
    }
    this.invalidateCache();
    return 1;
  }

  /** Redis's `PFDEBUG DECODE` text of a sparse draft: `z:n`, `Z:n` and `v:value,n`, space-separated. */
  decode(): string {
    const parts: string[] = [];
    for (let at = headerBytes; at < this.length; ) {
      const opcode = this.bytes[at] as number;
      const run = runLength(this.bytes, at);
      if (isValue(opcode)) parts.push(`v:${opcodeValue(opcode)},${run}`);
      else parts.push(`${isXZero(opcode) ? "Z" : "z"}:${run}`);
      at += isXZero(opcode) ? 2 : 1;
    }
    return parts.join(" ");
  }

  /** Register `index` of a dense draft. */
  register(index: number): number {
    return denseRegister(this.bytes, index);
  }
}
