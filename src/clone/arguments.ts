/**
 * Parsing arguments as Redis does (`string2ll`, `string2d`, `strtod` in `zslParseRange`), and the
 * error replies the clone shares between its commands, with Redis's texts.
 */
import { RespError } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { millisecondsOfSeconds, parseLongDouble } from "./long-double.ts";
import { decimalDigits, writeDigits } from "../resp/writer.ts";
import { int64Max, int64Min, parseInt64, parseInteger, parseLong, safeMax, shortInteger, shortIntegerBytesMax } from "../resp/integers.ts";

export { int64Max, int64Min, parseInt64, parseInteger, parseLong };

export const errWrongType = new RespError("WRONGTYPE Operation against a key holding the wrong kind of value");
export const errNotInteger = new RespError("ERR value is not an integer or out of range");
export const errNotFloat = new RespError("ERR value is not a valid float");
export const errSyntax = new RespError("ERR syntax error");
export const errOverflow = new RespError("ERR increment or decrement would overflow");
export const errNotPositive = new RespError("ERR value is out of range, must be positive");
export const errNoSuchKey = new RespError("ERR no such key");
export const errMinMaxNotFloat = new RespError("ERR min or max is not a float");
export const errNotLexRange = new RespError("ERR min or max not valid string range item");
export const errHashNotInteger = new RespError("ERR hash value is not an integer");
export const errIndexOutOfRange = new RespError("ERR index out of range");
export const errInvalidCursor = new RespError("ERR invalid cursor");

export const uint64Max = (1n << 64n) - 1n;

/**
 * A SCAN-family cursor as Redis's `parseScanCursorOrReply` reads it: `strtoul` over the whole
 * argument, with no leading space. An optional sign, then decimal digits (none at all reads as 0,
 * a sign alone is refused), at most 2^64-1; a `-` negates modulo 2^64, as strtoul does ("-1" is
 * 2^64-1). Null when Redis answers "invalid cursor". Each command gives the number its own meaning.
 */
export function parseCursor(bytes: Uint8Array): bigint | null {
  const match = /^([+-]?)(\d*)$/.exec(latin1(bytes));
  if (match === null) return null;
  const sign = match[1] ?? "";
  const digits = match[2] ?? "";
  if (digits === "") return sign === "" ? 0n : null;
  const value = BigInt(digits);
  if (value > uint64Max) return null;
  return sign === "-" ? (uint64Max + 1n - value) & uint64Max : value;
}

/**
 * `value + amount` for INCRBY and HINCRBY: in numbers while the sum is a safe integer, else in
 * bigints. Throws Redis's overflow error outside int64.
 */
function addInt64(value: number | bigint, amount: number | bigint): number | bigint {
  if (typeof value === "number" && typeof amount === "number") {
    const sum = value + amount;
    if (Number.isSafeInteger(sum)) return sum;
  }
  const sum = BigInt(value) + BigInt(amount);
  if (sum > int64Max || sum < int64Min) throw errOverflow;
  return sum <= safeMax && sum >= -safeMax ? Number(sum) : sum;
}

/**
 * INCRBY's and HINCRBY's new value: the stored text `current` (none reads as 0) plus `amount`.
 * Throws `notInteger` when the stored text is not an integer, and the overflow error outside int64.
 */
export function incrementedInteger(current: Uint8Array | undefined, amount: number | bigint, notInteger: RespError): number | bigint {
  const value = current === undefined ? 0 : parseInt64(current);
  if (value === null) throw notInteger;
  return addInt64(value, amount);
}

/** The decimal text of an integer as bytes (digits written by hand for safe integers). */
export function integerBytes(value: number | bigint): Uint8Array {
  if (typeof value === "bigint" || !Number.isSafeInteger(value)) return Buffer.from(String(value), "latin1");
  const negative = value < 0;
  const magnitude = negative ? -value : value;
  const digits = decimalDigits(magnitude);
  const out = new Uint8Array(digits + (negative ? 1 : 0));
  if (negative) out[0] = 45;
  if (magnitude === 0) out[0] = 48;
  else writeDigits(out, negative ? 1 : 0, digits, magnitude);
  return out;
}

/**
 * `LIMIT offset count` (ZRANGE's, SORT's): the two integers after the word at `at`, as Redis reads
 * them with `getLongFromObjectOrReply`; "not an integer" when either is not one.
 */
export function parseOffsetCount(command: Command, at: number): readonly [offset: number, count: number] | RespError {
  const offset = parseLong(command.arg(at + 1));
  const count = parseLong(command.arg(at + 2));
  return offset === null || count === null ? errNotInteger : [offset, count];
}

/** Redis's `getPositiveLongFromObjectOrReply`: a non-negative integer, or "must be positive". */
export function parsePositiveCount(bytes: Uint8Array): number {
  const value = parseLong(bytes);
  if (value === null || value < 0) throw errNotPositive;
  return value;
}

/** Decimal floats as strtod reads them, hexadecimal ones, and inf/infinity in upper or lower case. */
const decimalFloat = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const hexFloat = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const infinity = /^([+-]?)(?:inf|infinity)$/i;

/**
 * A hexadecimal float as strtod reads it (`0x10`, `0x1.8p3`, `-0x.8p-1`), or null when `text` is
 * not one. The digits are read exactly and rounded once; a value too small for a double (that
 * is not zero) is null, as strtod's ERANGE, and one too large is an infinity, as strtod's.
 */
function parseHexFloat(text: string): number | null {
  const match = hexFloat.exec(text);
  if (match === null) return null;
  const whole = match[2] ?? "";
  const fraction = match[3] ?? "";
  if (whole.length + fraction.length === 0) return null;
  const mantissa = BigInt(`0x${whole}${fraction}`);
  // Past ±100,000 the result is 0 or infinite whatever the digits (at most 400 of them).
  const exponent = Math.max(-100_000, Math.min(100_000, Number(match[4] ?? "0"))) - 4 * fraction.length;
  let value = Number(mantissa);
  // Scaling by powers of two is exact until the result leaves the range of doubles.
  for (let left = exponent; left !== 0; ) {
    const step = Math.max(-1000, Math.min(1000, left));
    value *= 2 ** step;
    left -= step;
  }
  if (value === 0 && mantissa !== 0n) return null;
  return match[1] === "-" ? -value : value;
}

/**
 * What `strtod` makes of the whole of `text`, or null when it does not take all of it. Overflow
 * gives an infinity and underflow zero (strtod's values; callers that refuse them check).
 */
export function strtodWhole(text: string): number | null {
  if (decimalFloat.test(text)) return Number(text);
  if (text.length > 2 && (text.charCodeAt(1) === 120 || text.charCodeAt(1) === 88 || text.charCodeAt(2) === 120 || text.charCodeAt(2) === 88)) {
    // "0x…" or "±0x…": hexadecimal.
    return parseHexFloat(text);
  }
  const infinite = infinity.exec(text);
  if (infinite !== null) return infinite[1] === "-" ? -Infinity : Infinity;
  return null;
}

/** True when a decimal literal has a non-zero digit in its mantissa. */
export function hasNonZeroDigit(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 101 || code === 69) return false; // the exponent starts
    if (code >= 49 && code <= 57) return true;
  }
  return false;
}

/**
 * A double as Redis's `string2d` reads it (`getDoubleFromObject`): the whole argument, no leading
 * space, not NaN, and no overflow or underflow to zero. Null otherwise. Hexadecimal floats are
 * taken, as strtod takes them.
 */
export function parseDouble(bytes: Uint8Array): number | null {
  if (bytes.length === 0 || bytes.length > 400) return null;
  // Plain integers (the usual score) read exactly by hand; strtod reads them the same, leading
  // zeros and "-0" included.
  if (bytes.length <= shortIntegerBytesMax && isDigits(bytes)) return shortInteger(bytes);
  const text = latin1(bytes);
  const value = strtodWhole(text);
  if (value === null) return null;
  if (value === Infinity || value === -Infinity) {
    // A literal infinity is fine; a finite literal that overflowed is ERANGE.
    return infinity.test(text) ? value : null;
  }
  if (value === 0 && hasNonZeroDigit(text)) return null; // underflow
  return value;
}

const errTimeoutNotFloat = new RespError("ERR timeout is not a float or out of range");
const errTimeoutNegative = new RespError("ERR timeout is negative");

/**
 * A blocking command's timeout in seconds (a float; 0 waits for ever) as milliseconds, exactly as
 * Redis 7.0.15 reads it (`getTimeoutFromObjectOrReply`): a long double times 1000, rounded up
 * (so 0.0001 waits a millisecond, and an infinity or a product past 64 bits is negative).
 */
export function parseTimeout(bytes: Uint8Array): number | RespError {
  const seconds = parseLongDouble(bytes);
  if (seconds === null) return errTimeoutNotFloat;
  const milliseconds = millisecondsOfSeconds(seconds);
  if (milliseconds < 0n) return errTimeoutNegative;
  return Number(milliseconds);
}

/** An optional `-` then one or more decimal digits, leading zeros allowed (as strtod reads them). */
function isDigits(bytes: Uint8Array): boolean {
  const start = bytes[0] === 45 ? 1 : 0;
  if (start === bytes.length) return false;
  for (let i = start; i < bytes.length; i++) {
    const byte = bytes[i] ?? 0;
    if (byte < 48 || byte > 57) return false;
  }
  return true;
}

/** True for the bytes C's `isspace` accepts. */
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/**
 * A bound as `zslParseRange` reads it: `(` for exclusive, then what `strtod` reads, which must
 * be all of the rest (strtod skips leading spaces; an empty rest reads as 0). NaN is refused.
 */
export interface ScoreRange {
  min: number;
  max: number;
  minExclusive: boolean;
  maxExclusive: boolean;
}

function parseBound(bytes: Uint8Array): { value: number; exclusive: boolean } | null {
  let text = latin1(bytes);
  let exclusive = false;
  if (text.startsWith("(")) {
    exclusive = true;
    text = text.slice(1);
  }
  if (text.length === 0) return { value: 0, exclusive };
  let start = 0;
  while (start < text.length && isSpace(text.charCodeAt(start))) start++;
  const value = strtodWhole(text.slice(start));
  if (value === null || Number.isNaN(value)) return null;
  return { value, exclusive };
}

export function parseScoreRange(minBytes: Uint8Array, maxBytes: Uint8Array): ScoreRange {
  const min = parseBound(minBytes);
  const max = parseBound(maxBytes);
  if (min === null || max === null) throw errMinMaxNotFloat;
  return { min: min.value, max: max.value, minExclusive: min.exclusive, maxExclusive: max.exclusive };
}

/** One end of a lexicographic range: `-`, `+`, or a member with `[` (inclusive) or `(` (exclusive). */
export interface LexBound {
  readonly kind: "min" | "max" | "value";
  readonly value: string;
  readonly exclusive: boolean;
}

export interface LexRange {
  min: LexBound;
  max: LexBound;
}

function parseLexBound(bytes: Uint8Array): LexBound | null {
  const text = latin1(bytes);
  if (text === "-") return { kind: "min", value: "", exclusive: false };
  if (text === "+") return { kind: "max", value: "", exclusive: false };
  if (text.startsWith("[")) return { kind: "value", value: text.slice(1), exclusive: false };
  if (text.startsWith("(")) return { kind: "value", value: text.slice(1), exclusive: true };
  return null;
}

export function parseLexRange(minBytes: Uint8Array, maxBytes: Uint8Array): LexRange {
  const min = parseLexBound(minBytes);
  const max = parseLexBound(maxBytes);
  if (min === null || max === null) throw errNotLexRange;
  return { min, max };
}

/**
 * An argument as lower-case text, for options (`WITHSCORES`, `NX`...); "" for anything that cannot
 * be one: longer than 16 bytes, or not starting with a letter (a score, a count, a member), which
 * is then not decoded at all.
 */
export function option(bytes: Uint8Array): string {
  const first = (bytes[0] ?? 0) | 32;
  if (bytes.length > 16 || first < 97 || first > 122) return "";
  return latin1(bytes).toLowerCase();
}

/** Redis's rule for start/stop indices (LRANGE, ZRANGE): negative counts from the end, then clamp. */
export function clampRange(start: number, stop: number, length: number): [number, number] | null {
  if (start < 0) start = length + start;
  if (stop < 0) stop = length + stop;
  if (start < 0) start = 0;
  if (start > stop || start >= length) return null;
  if (stop >= length) stop = length - 1;
  return [start, stop];
}
