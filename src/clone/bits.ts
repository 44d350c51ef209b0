/**
 * Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP (AND, OR, XOR, NOT), BITFIELD and
 * BITFIELD_RO, with Redis 7.0's replies and errors. A bitmap is a string: bit 0 is the most
 * significant bit of the first byte, and bits past the end read as 0.
 *
 * Bit offsets are below 2^32 (a string of at most 512 MB, Redis's proto-max-bulk-len); a BITFIELD
 * write may reach 63 bits past that, as in Redis. SETBIT and BITFIELD change the string in place
 * through `Keyspace.modifyString` (copied first only when something else may still hold it, see
 * keyspace.ts), so a bit set on a large bitmap costs no copy of it; they keep the key's TTL and
 * create the key when it is missing. BITOP stores a new string (the destination's TTL goes, as
 * with SET), or deletes the destination when the result is empty.
 *
 * Redis 7.0 looks the key up before it reads BITCOUNT's and BITPOS's range arguments: a missing
 * key answers 0 (BITPOS: -1 for a 1, 0 for a 0) and another type WRONGTYPE, whatever follows. The
 * clone answers in that order (both are reads: nothing reaches the log). BITFIELD with only GETs
 * is a read too (it changes nothing); its argument errors, like every write's, are answered
 * before anything is applied.
 */
import { RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errNotInteger, errSyntax, option, parseInt64, parseInteger, parseLong } from "./arguments.ts";
import type { CloneCommand } from "./command.ts";
import { valueBytesMax } from "./strings.ts";

const errBitOffset = new RespError("ERR bit offset is not an integer or out of range");
const errBitValue = new RespError("ERR bit is not an integer or out of range");
const errBitArgument = new RespError("ERR The bit argument must be 1 or 0.");
const errBitfieldType = new RespError("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
const errOverflowType = new RespError("ERR Invalid OVERFLOW type specified");
const errReadOnlyBitfield = new RespError("ERR BITFIELD_RO only supports the GET subcommand");
const errNotSingleKey = new RespError("ERR BITOP NOT must be called with a single source key.");

/** Bit offsets stop short of this: the byte they fall in must be within the 512 MB a string may hold. */
const bitOffsetsMax = valueBytesMax * 8;
/** `#n` offsets with n up to this are multiplied in doubles: times 64 at most, exact. */
const exactCountMax = 2 ** 46;

/**
 * A bit offset as Redis's `getBitOffsetFromArgument` reads it: an integer from 0 to 2^32-1; with
 * `multiplier` (a BITFIELD type's width) also `#n`, meaning n times the width (multiplied in int64,
 * wrapping as Redis's does, and then checked).
 */
function parseBitOffset(bytes: Uint8Array, multiplier = 0): number {
  if (multiplier > 0 && bytes[0] === 35) {
    const digits = bytes.subarray(1);
    const count = parseLong(digits);
    if (count === null) throw errBitOffset;
    // Small counts multiply exactly in doubles; others as Redis does, in int64, wrapping (a
    // product past 2^53 is inexact as a number, but in range only where it is exact).
    const offset = Math.abs(count) <= exactCountMax ? count * multiplier : Number(BigInt.asIntN(64, (parseInteger(digits) ?? 0n) * BigInt(multiplier)));
    if (offset < 0 || offset >= bitOffsetsMax) throw errBitOffset;
    return offset;
  }
  // Past 2^53 the number is not exact, but it is out of range either way.
  const offset = parseLong(bytes);
  if (offset === null || offset < 0 || offset >= bitOffsetsMax) throw errBitOffset;
  return offset;
}

/** The bit at `offset` (0 past the end). */
function bitAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[Math.floor(offset / 8)] ?? 0) >> (7 - (offset % 8))) & 1;
}

/** Bits set in each byte value. */
const bitsInByte = Uint8Array.from({ length: 256 }, (_, byte) => {
  let count = 0;
  for (let rest = byte; rest !== 0; rest &= rest - 1) count++;
  return count;
});

/**
 * Bits set in a 32-bit word (SWAR). Words are read signed (Int32Array): JavaScriptCore's JIT keeps
 * them as int32, where an Uint32Array's words past 2^31 are doubles that make this loop several
 * times slower; the `| 0` keeps the first step in int32 too (the arithmetic is the same modulo 2^32).
 */
function bitsInWord(word: number): number {
  word = (word - ((word >>> 1) & 0x55555555)) | 0;
  word = (word & 0x33333333) + ((word >>> 2) & 0x33333333);
  return (Math.imul((word + (word >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/**
 * Whole 32-bit words of `bytes` from byte `from` (rounded up to where words align) to byte `to`
 * (exclusive): a view, so that long runs are read four bytes at a time. `first` is the byte the
 * view starts at; the view is empty when the run is too short.
 */
function wordsOf(bytes: Uint8Array, from: number, to: number): { words: Int32Array; first: number } {
  const first = from + ((4 - ((bytes.byteOffset + from) % 4)) % 4);
  const count = to > first ? Math.floor((to - first) / 4) : 0;
  return { words: new Int32Array(bytes.buffer, bytes.byteOffset + first, count), first };
}

/** Runs shorter than this are read a byte at a time (a word view costs more than it saves). */
const wordRunBytesMin = 64;

/** Bits set in bytes `from` to `to` (exclusive). */
function bitsSetIn(bytes: Uint8Array, from: number, to: number): number {
  let count = 0;
  let at = from;
  if (to - from >= wordRunBytesMin) {
    const { words, first } = wordsOf(bytes, from, to);
    for (; at < first; at++) count += bitsInByte[bytes[at] as number] as number;
    for (let i = 0; i < words.length; i++) count += bitsInWord(words[i] as number);
    at = first + words.length * 4;
  }
  for (; at < to; at++) count += bitsInByte[bytes[at] as number] as number;
  return count;
}

/** Bits set from bit `start` to bit `end` (inclusive, both within `bytes`). */
function bitsSetBetween(bytes: Uint8Array, start: number, end: number): number {
  const first = Math.floor(start / 8);
  const last = Math.floor(end / 8);
  let count = bitsSetIn(bytes, first, last + 1);
  // Take back the bits of the first and last bytes outside the range.
  count -= bitsInByte[(bytes[first] as number) & ~(0xff >> (start % 8)) & 0xff] as number;
  count -= bitsInByte[(bytes[last] as number) & (0xff >> ((end % 8) + 1))] as number;
  return count;
}

/**
 * The first bit equal to `bit` from bit `start` to bit `end` (inclusive, within `bytes`), or -1.
 * Bytes (and whole words, on long runs) without one are skipped at once.
 */
function firstBitBetween(bytes: Uint8Array, bit: number, start: number, end: number): number {
  const flip = bit === 1 ? 0 : 0xff;
  const first = Math.floor(start / 8);
  const last = Math.floor(end / 8);
  let at = first;
  let words: Int32Array | null = null;
  let wordsFirst = 0;
  if (last - first >= wordRunBytesMin) ({ words, first: wordsFirst } = wordsOf(bytes, first + 1, last));
  while (at <= last) {
    if (words !== null && at === wordsFirst) {
      // A word without the bit looked for is all ones (looking for 0) or all zeros (for 1).
      const skip = bit === 1 ? 0 : -1;
      let i = 0;
      while (i < words.length && words[i] === skip) i++;
      at = wordsFirst + i * 4;
      words = null;
      continue;
    }
    // The byte with the bits looked for as ones, those outside the range cleared.
    let candidate = (bytes[at] as number) ^ flip;
    if (at === first) candidate &= 0xff >> (start % 8);
    if (at === last) candidate &= ~(0xff >> ((end % 8) + 1)) & 0xff;
    if (candidate !== 0) return at * 8 + Math.clz32(candidate) - 24;
    at++;
  }
  return -1;
}

/** A BITCOUNT or BITPOS range unit: BYTE (the default) or BIT. */
function parseUnit(bytes: Uint8Array): boolean {
  const unit = option(bytes);
  if (unit === "bit") return true;
  if (unit === "byte") return false;
  throw errSyntax;
}

/** A range index (`getLongLongFromObjectOrReply`): exact as parsed, for the comparisons Redis makes before it clamps. */
function parseIndex(bytes: Uint8Array): number | bigint {
  const index = parseInt64(bytes);
  if (index === null) throw errNotInteger;
  return index;
}

/**
 * Redis's range rule for BITCOUNT and BITPOS: negative indexes count from the end of `total` units,
 * then both are clamped into the string. Null when the range is empty. (Indexes past 2^53 lose
 * precision as numbers here, but they are clamped the same either way: strings are far shorter.)
 */
function clampIndexes(start: number | bigint, end: number | bigint, total: number): [number, number] | null {
  let from = Number(start);
  let to = Number(end);
  if (from < 0) from += total;
  if (to < 0) to += total;
  if (from < 0) from = 0;
  if (to < 0) to = 0;
  if (to >= total) to = total - 1;
  return from > to ? null : [from, to];
}

/** BITCOUNT's answer for an existing string (Redis 7.0's `bitcountCommand` after the lookup). */
function bitCount(value: Uint8Array, command: Command): number {
  const count = command.argCount;
  if (count === 2) return bitsSetIn(value, 0, value.length);
  if (count !== 4 && count !== 5) throw errSyntax;
  const start = parseIndex(command.arg(2));
  const end = parseIndex(command.arg(3));
  const inBits = count === 5 && parseUnit(command.arg(4));
  // Both from the end with the start after the end: empty before clamping, as in Redis.
  if (start < 0 && end < 0 && start > end) return 0;
  const range = clampIndexes(start, end, inBits ? value.length * 8 : value.length);
  if (range === null) return 0;
  return inBits ? bitsSetBetween(value, range[0], range[1]) : bitsSetIn(value, range[0], range[1] + 1);
}

/** BITPOS's answer for an existing string (Redis 7.0's `bitposCommand` after the lookup). */
function bitPosition(value: Uint8Array, bit: number, command: Command): number {
  const count = command.argCount;
  if (count > 6) throw errSyntax;
  let start: number | bigint = 0;
  let end: number | bigint = -1;
  let inBits = false;
  if (count >= 4) {
    start = parseIndex(command.arg(3));
    // The unit is read before the end, as Redis does (a bad unit wins over a bad end).
    if (count === 6) inBits = parseUnit(command.arg(5));
    if (count >= 5) end = parseIndex(command.arg(4));
  }
  const range = clampIndexes(start, end, inBits ? value.length * 8 : value.length);
  if (range === null) return -1;
  const [from, to] = inBits ? range : [range[0] * 8, range[1] * 8 + 7];
  const found = firstBitBetween(value, bit, from, to);
  // Looking for a 0 with no end given: the string reads as padded with zeros past its end.
  if (found === -1 && bit === 0 && count < 5) return to + 1;
  return found;
}

// BITOP.

type BitOperation = "and" | "or" | "xor" | "not";

/** BITOP's result: the operation over the sources, the shorter ones padded with zero bytes. */
function combine(operation: BitOperation, sources: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const source of sources) length = Math.max(length, source.length);
  const result = new Uint8Array(length);
  const [first, ...others] = sources;
  if (first === undefined || length === 0) return result;
  result.set(first);
  if (operation === "not") {
    for (let i = 0; i < length; i++) result[i] = ~(result[i] as number);
    return result;
  }
  for (const source of others) {
    const shared = source.length;
    if (operation === "and") {
      for (let i = 0; i < shared; i++) result[i] = (result[i] as number) & (source[i] as number);
      result.fill(0, shared);
    } else if (operation === "or") {
      for (let i = 0; i < shared; i++) result[i] = (result[i] as number) | (source[i] as number);
    } else {
      for (let i = 0; i < shared; i++) result[i] = (result[i] as number) ^ (source[i] as number);
    }
  }
  return result;
}

// BITFIELD.

type Overflow = "wrap" | "sat" | "fail";

/** One BITFIELD operation: a GET, or a SET or INCRBY with its value and the OVERFLOW in force. */
interface FieldOperation {
  readonly kind: "get" | "set" | "incrby";
  readonly signed: boolean;
  readonly bits: number;
  readonly offset: number;
  /** SET's value or INCRBY's increment (a bigint only past 2^53). */
  readonly value: number | bigint;
  readonly overflow: Overflow;
}

/** A BITFIELD type: `i1` to `i64` or `u1` to `u63` (a u64 could not be replied as a RESP integer). */
function parseFieldType(bytes: Uint8Array): { signed: boolean; bits: number } {
  const sign = bytes[0];
  if (sign !== 105 && sign !== 117) throw errBitfieldType;
  const bits = parseLong(bytes.subarray(1));
  const signed = sign === 105;
  if (bits === null || bits < 1 || bits > (signed ? 64 : 63)) throw errBitfieldType;
  return { signed, bits };
}

/**
 * BITFIELD's operations, parsed as Redis's `bitfieldGeneric` does, all before anything runs: the
 * first error met is the answer.
 */
function parseFieldOperations(command: Command): FieldOperation[] {
  const operations: FieldOperation[] = [];
  let overflow: Overflow = "wrap";
  const count = command.argCount;
  for (let at = 2; at < count; at++) {
    const left = count - at - 1;
    const name = option(command.arg(at));
    if (name === "overflow" && left >= 1) {
      const chosen = option(command.arg(++at));
      if (chosen !== "wrap" && chosen !== "sat" && chosen !== "fail") throw errOverflowType;
      overflow = chosen;
      continue;
    }
    if (!((name === "get" && left >= 2) || ((name === "set" || name === "incrby") && left >= 3))) throw errSyntax;
    const { signed, bits } = parseFieldType(command.arg(at + 1));
    const offset = parseBitOffset(command.arg(at + 2), bits);
    let value: number | bigint = 0;
    if (name !== "get") {
      const parsed = parseInt64(command.arg(at + 3));
      if (parsed === null) throw errNotInteger;
      value = parsed;
    }
    operations.push({ kind: name, signed, bits, offset, value, overflow });
    at += name === "get" ? 2 : 3;
  }
  return operations;
}

/**
 * The `bits`-wide (1 to 32) field at bit `offset`, unsigned; bits past the end read as 0. It spans
 * at most 5 bytes: 40 bits, exact in a double.
 */
function readBits(bytes: Uint8Array, offset: number, bits: number): number {
  const first = Math.floor(offset / 8);
  const end = offset + bits;
  const last = Math.floor((end - 1) / 8);
  let value = 0;
  for (let at = first; at <= last; at++) value = value * 256 + (bytes[at] ?? 0);
  return Math.floor(value / 2 ** (last * 8 + 8 - end)) % 2 ** bits;
}

/** Writes `value` (0 to 2^bits - 1) as the `bits`-wide (1 to 32) field at bit `offset` (within `bytes`). */
function writeBits(bytes: Uint8Array, offset: number, bits: number, value: number): void {
  let rest = value;
  // From the field's last bit back to its first, one byte's worth at a time.
  for (let end = offset + bits; end > offset; ) {
    const at = Math.floor((end - 1) / 8);
    const from = Math.max(offset, at * 8);
    const width = end - from;
    const shift = at * 8 + 8 - end;
    const mask = ((1 << width) - 1) << shift;
    bytes[at] = ((bytes[at] as number) & ~mask) | ((rest % (1 << width)) << shift);
    rest = Math.floor(rest / (1 << width));
    end = from;
  }
}

/** A field as its type reads it: a number up to 32 bits, a bigint past that (two 32-bit reads or fewer). */
function readField(bytes: Uint8Array, operation: FieldOperation): number | bigint {
  const { signed, bits, offset } = operation;
  if (bits <= 32) {
    const raw = readBits(bytes, offset, bits);
    return signed && raw >= 2 ** (bits - 1) ? raw - 2 ** bits : raw;
  }
  const raw = (BigInt(readBits(bytes, offset, bits - 32)) << 32n) | BigInt(readBits(bytes, offset + bits - 32, 32));
  return signed ? BigInt.asIntN(bits, raw) : raw;
}

/** Writes a field of `operation`'s type; `value` is within the type's range. */
function writeField(bytes: Uint8Array, operation: FieldOperation, value: number | bigint): void {
  const { bits, offset } = operation;
  if (bits <= 32) {
    const small = Number(value);
    writeBits(bytes, offset, bits, small < 0 ? small + 2 ** bits : small);
    return;
  }
  const raw = BigInt.asUintN(bits, BigInt(value));
  writeBits(bytes, offset, bits - 32, Number(raw >> 32n));
  writeBits(bytes, offset + bits - 32, 32, Number(raw & 0xffffffffn));
}

const uint64Span = 1n << 64n;

/** The largest value of a BITFIELD type (a signed one's smallest is one less than its negation). */
function maxOf(signed: boolean, bits: number): bigint {
  return (1n << BigInt(signed ? bits - 1 : bits)) - 1n;
}

/**
 * Whether `value + increment` leaves the `bits`-wide type: 1 above, -1 below, 0 not. Redis's
 * `checkSignedBitfieldOverflow` and `checkUnsignedBitfieldOverflow` to the letter, their int64
 * subtractions wrapping as in C: so a SET of a value far below a signed type's minimum reads as an
 * overflow above it (SAT stores the maximum), as in Redis. `value` is what C holds: for an
 * unsigned type an uint64 (a negative SET value plus 2^64).
 */
function overflowOf(signed: boolean, bits: number, value: bigint, increment: bigint): number {
  const max = maxOf(signed, bits);
  if (!signed) {
    if (value > max || (increment > 0n && increment > BigInt.asIntN(64, max - value))) return 1;
    return increment < 0n && increment < BigInt.asIntN(64, -value) ? -1 : 0;
  }
  const min = -max - 1n;
  const maxIncrement = BigInt.asIntN(64, max - value);
  const minIncrement = BigInt.asIntN(64, min - value);
  if (value > max || (bits !== 64 && increment > maxIncrement) || (value >= 0n && increment > 0n && increment > maxIncrement)) return 1;
  if (value < min || (bits !== 64 && increment < minIncrement) || (value < 0n && increment < 0n && increment < minIncrement)) return -1;
  return 0;
}

/** A SET's or INCRBY's result in bigints, Redis's C arithmetic emulated (see `overflowOf`); null when it fails. */
function wideResult(operation: FieldOperation, old: bigint): bigint | null {
  const { signed, bits } = operation;
  const setting = operation.kind === "set";
  let value = setting ? BigInt(operation.value) : old;
  if (!signed && value < 0n) value += uint64Span;
  const increment = setting ? 0n : BigInt(operation.value);
  const next = value + increment;
  const direction = overflowOf(signed, bits, value, increment);
  if (direction === 0) return next;
  if (operation.overflow === "fail") return null;
  if (operation.overflow === "wrap") return signed ? BigInt.asIntN(bits, next) : BigInt.asUintN(bits, next);
  return direction > 0 ? maxOf(signed, bits) : signed ? -maxOf(signed, bits) - 1n : 0n;
}

/** Values and increments up to this go through `smallResult`: their sums with a 32-bit field are exact in doubles. */
const smallIncrementMax = 2 ** 48;

/**
 * The same in numbers, for a type of 32 bits or fewer and a value up to 2^48: there C's int64
 * subtractions cannot wrap, so exact arithmetic gives Redis's answer. A negative SET value for an
 * unsigned type is above its maximum (Redis reads it as an uint64).
 */
function smallResult(operation: FieldOperation, old: number, given: number): number | null {
  const { signed, bits } = operation;
  const span = 2 ** bits;
  const max = signed ? span / 2 - 1 : span - 1;
  const min = signed ? -max - 1 : 0;
  const setting = operation.kind === "set";
  const next = setting ? given : old + given;
  const direction = next > max || (!signed && setting && given < 0) ? 1 : next < min ? -1 : 0;
  if (direction === 0) return next;
  if (operation.overflow === "fail") return null;
  if (operation.overflow === "sat") return direction > 0 ? max : min;
  const wrapped = (((next - min) % span) + span) % span;
  return wrapped + min;
}

/**
 * A SET or INCRBY on `bytes`: the reply (SET: the old value, INCRBY: the new one), or null when
 * the result overflows under FAIL (nothing is written then). Past the type's range the result
 * wraps (modulo 2^bits, as two's complement for a signed type) or saturates at the limit the
 * overflow went past.
 */
function applyFieldWrite(bytes: Uint8Array, operation: FieldOperation): number | bigint | null {
  const old = readField(bytes, operation);
  const given = operation.value;
  const next =
    typeof old === "number" && typeof given === "number" && Math.abs(given) <= smallIncrementMax
      ? smallResult(operation, old, given)
      : wideResult(operation, BigInt(old));
  if (next === null) return null;
  writeField(bytes, operation, next);
  return operation.kind === "set" ? old : operation.bits <= 32 ? Number(next) : next;
}

const empty = new Uint8Array(0);

/** BITFIELD and BITFIELD_RO (`readOnly`: only GETs are taken). */
function bitfield(name: string, arity: number, flags: string, summary: string, syntax: string, readOnly: boolean): CloneCommand {
  return {
    spec: spec(name, arity, flags, [1, 1, 1], "bitmap", summary, syntax),
    run(db, applier, conn, command) {
      const operations = parseFieldOperations(command);
      let writeEnd = 0;
      for (const operation of operations) if (operation.kind !== "get") writeEnd = Math.max(writeEnd, operation.offset + operation.bits);
      const reply = (results: readonly (number | bigint | null)[]): void => {
        conn?.writeArray(results.length);
        for (const result of results) {
          if (result === null) conn?.writeNull();
          else conn?.writeInt(result);
        }
      };
      if (writeEnd === 0) {
        // Only GETs: a read, on the string as it is (or none).
        return applier.apply(conn, command, null, () => {
          const value = db.lookupString(command.key(1)) ?? empty;
          reply(operations.map((operation) => readField(value, operation)));
        });
      }
      if (readOnly) return errReadOnlyBitfield;
      return applier.apply(
        conn,
        command,
        () => {
          // The string grows to the farthest bit written first, even if every write then fails.
          const bytes = db.modifyString(command.key(1), Math.ceil(writeEnd / 8));
          return operations.map((operation) => (operation.kind === "get" ? readField(bytes, operation) : applyFieldWrite(bytes, operation)));
        },
        reply,
      );
    },
  };
}

const bitfieldOperations = "[GET encoding offset:integer]... [OVERFLOW WRAP|SAT|FAIL]... [SET encoding offset:integer value:integer]... [INCRBY encoding offset:integer increment:integer]...";

export const bitCommands: readonly CloneCommand[] = [
  {
    spec: spec("setbit", 4, "write denyoom", [1, 1, 1], "bitmap", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "key offset:integer value:integer"),
    run(db, applier, conn, command) {
      const offset = parseBitOffset(command.arg(2));
      const bit = parseLong(command.arg(3));
      if (bit !== 0 && bit !== 1) return errBitValue;
      return applier.apply(
        conn,
        command,
        () => {
          const at = Math.floor(offset / 8);
          const bytes = db.modifyString(command.key(1), at + 1);
          const byte = bytes[at] as number;
          const mask = 0x80 >> (offset % 8);
          bytes[at] = bit === 1 ? byte | mask : byte & ~mask;
          return (byte & mask) === 0 ? 0 : 1;
        },
        (old) => conn?.writeInt(old),
      );
    },
  },
  {
    spec: spec("getbit", 3, "readonly fast", [1, 1, 1], "bitmap", "Returns a bit value by offset.", "key offset:integer"),
    run(db, applier, conn, command) {
      const offset = parseBitOffset(command.arg(2));
      return applier.apply(conn, command, null, () => conn?.writeInt(bitAt(db.lookupString(command.key(1)) ?? empty, offset)));
    },
  },
  {
    spec: spec("bitcount", -2, "readonly", [1, 1, 1], "bitmap", "Counts the number of set bits (population counting) in a string.", "key [(start:integer end:integer [BYTE|BIT])]"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const value = db.lookupString(command.key(1));
        conn?.writeInt(value === undefined ? 0 : bitCount(value, command));
      });
    },
  },
  {
    spec: spec("bitpos", -3, "readonly", [1, 1, 1], "bitmap", "Finds the first set (1) or clear (0) bit in a string.", "key bit:integer [(start:integer [(end:integer [BYTE|BIT])])]"),
    run(db, applier, conn, command) {
      const bit = parseLong(command.arg(2));
      if (bit === null) return errNotInteger;
      if (bit !== 0 && bit !== 1) return errBitArgument;
      return applier.apply(conn, command, null, () => {
        const value = db.lookupString(command.key(1));
        // A missing key is an endless run of zeros.
        conn?.writeInt(value === undefined ? (bit === 1 ? -1 : 0) : bitPosition(value, bit, command));
      });
    },
  },
  {
    spec: spec("bitop", -4, "write denyoom", [2, -1, 1], "bitmap", "Performs bitwise operations on multiple strings, and stores the result.", "AND|OR|XOR|NOT destkey:key key ..."),
    run(db, applier, conn, command) {
      const operation = option(command.arg(1));
      if (operation !== "and" && operation !== "or" && operation !== "xor" && operation !== "not") return errSyntax;
      if (operation === "not" && command.argCount !== 4) return errNotSingleKey;
      return applier.apply(
        conn,
        command,
        () => {
          const sources: Uint8Array[] = [];
          for (let i = 3; i < command.argCount; i++) sources.push(db.lookupString(command.key(i)) ?? empty);
          const result = combine(operation, sources);
          const destination = command.key(2);
          if (result.length > 0) db.set(destination, result);
          else db.delete(destination);
          return result.length;
        },
        (length) => conn?.writeInt(length),
      );
    },
  },
  bitfield("bitfield", -2, "write denyoom", "Performs arbitrary bitfield integer operations on strings.", `key ${bitfieldOperations}`, false),
  bitfield("bitfield_ro", -2, "readonly fast", "Performs arbitrary read-only bitfield integer operations on strings.", "key [GET encoding offset:integer]...", true),
];
