/**
 * Redis's `long double` arithmetic, exactly, for INCRBYFLOAT and HINCRBYFLOAT: Redis computes in
 * the x87 80-bit `long double` (64-bit mantissa), which JS numbers cannot reproduce (0.1 + 0.2 must
 * give "0.3"). Emulated with bigints: strtold's reading (`string2ld`), the correctly rounded sum,
 * and `%.17Lf` with trailing zeros removed (`ld2string`, LD_STR_HUMAN). The text replied is the
 * value stored, so every replica stores the same bytes.
 */
import { RespError } from "../errors.ts";
import { latin1 } from "../resp/reader.ts";

/**
 * A finite x87 `long double`: `mantissa * 2^exponent` with |mantissa| < 2^64 (the sign is the
 * mantissa's; zero is 0n, whose sign no reply shows: `%.17Lf` of -0 is trimmed to "0").
 */
export interface LongDouble {
  readonly mantissa: bigint;
  readonly exponent: number;
}

const zero: LongDouble = { mantissa: 0n, exponent: 0 };
const mantissaLimit = 1n << 64n;
/** The smallest subnormal is 2^-16445; finite values stay below 2^16384. */
const exponentMin = -16445;
const exponentMax = 16384 - 64;
/** Redis's `string2ld` refuses texts this long or longer (MAX_LONG_DOUBLE_CHARS). */
const longDoubleTextMax = 5 * 1024;
/** Exponents of a text past these read as 0 or infinite whatever its digits (at most 5,120). */
const exponentClamp = 1_000_000;
/** `%.17Lf`: 17 digits after the point. */
const fractionDigits = 17;
const fractionScale = 10n ** BigInt(fractionDigits);

const decimalText = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const hexText = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const infinityText = /^[+-]?(?:inf|infinity)$/i;

function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

/** `numerator / denominator` (both positive) divided with the rounding the FPU does: to nearest, ties to even. */
function divideRounded(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  const twice = (numerator - quotient * denominator) * 2n;
  return twice > denominator || (twice === denominator && (quotient & 1n) === 1n) ? quotient + 1n : quotient;
}

/**
 * The long double nearest `numerator / denominator` (both non-negative; subnormals included), with
 * the sign given; null when it overflows (strtold's ERANGE to infinity, or an infinite sum).
 */
function roundLongDouble(negative: boolean, numerator: bigint, denominator: bigint): LongDouble | null {
  if (numerator === 0n) return zero;
  // The quotient at this exponent lies in [2^63, 2^65): one step up at most brings it under 2^64.
  let exponent = Math.max(exponentMin, bitLength(numerator) - bitLength(denominator) - 64);
  for (;;) {
    const scaled = exponent < 0 ? numerator << BigInt(-exponent) : numerator;
    const divisor = exponent > 0 ? denominator << BigInt(exponent) : denominator;
    if (scaled / divisor >= mantissaLimit) {
      exponent++;
      continue;
    }
    let mantissa = divideRounded(scaled, divisor);
    if (mantissa === mantissaLimit) {
      mantissa >>= 1n;
      exponent++;
    }
    if (exponent > exponentMax) return null;
    return { mantissa: negative ? -mantissa : mantissa, exponent };
  }
}

/** `digits * base^scale` rounded, `base` 10 or 2; null when it overflows or underflows to zero (ERANGE). */
function scaledLongDouble(negative: boolean, digits: bigint, base: bigint, scale: number): LongDouble | null {
  const factor = base ** BigInt(Math.abs(scale));
  const value = scale >= 0 ? roundLongDouble(negative, digits * factor, 1n) : roundLongDouble(negative, digits, factor);
  return value === null || value.mantissa === 0n ? null : value;
}

/** The exponent written in a float's text (0 when absent), clamped to where it no longer matters. */
function writtenExponent(text: string | undefined): number {
  return Math.max(-exponentClamp, Math.min(exponentClamp, Number(text ?? "0")));
}

/**
 * A value as Redis's `string2ld` reads it: all of it taken by strtold (decimal, hexadecimal or an
 * infinity; no leading space), not NaN, and neither overflowing nor underflowing to zero. Returns
 * "infinite" for an infinity, null for anything refused.
 */
export function parseLongDouble(bytes: Uint8Array): LongDouble | "infinite" | null {
  if (bytes.length === 0 || bytes.length >= longDoubleTextMax) return null;
  const text = latin1(bytes);
  const hex = hexText.exec(text);
  if (hex !== null) {
    const whole = hex[2] ?? "";
    const fraction = hex[3] ?? "";
    if (whole.length + fraction.length === 0) return null;
    const digits = BigInt(`0x${whole}${fraction}`);
    if (digits === 0n) return zero;
    // The value is below 2^order and at least 2^(order-4): past the ends it is infinite or 0.
    const scale = writtenExponent(hex[4]) - 4 * fraction.length;
    const order = scale + 4 * (whole + fraction).replace(/^0+/, "").length;
    if (order > 16384 + 4 || order < exponentMin) return null;
    return scaledLongDouble(hex[1] === "-", digits, 2n, scale);
  }
  const decimal = decimalText.exec(text);
  if (decimal !== null) {
    const whole = decimal[2] ?? "";
    const fraction = decimal[3] ?? "";
    if (whole.length + fraction.length === 0) return null;
    const significant = `${whole}${fraction}`.replace(/^0+/, "");
    if (significant === "") return zero;
    // The value is below 10^order and at least 10^(order-1); long doubles lie within
    // [3.6e-4951, 1.19e4932], and below half the smallest the value rounds to 0.
    const scale = writtenExponent(decimal[4]) - fraction.length;
    const order = scale + significant.length;
    if (order > 4933 || order <= -4951) return null;
    return scaledLongDouble(decimal[1] === "-", BigInt(significant), 10n, scale);
  }
  return infinityText.test(text) ? "infinite" : null;
}

const int64Limit = 1n << 63n;

/**
 * `(long long) ceill(value * 1000.0)`, as Redis 7.0.15 turns a timeout in seconds into
 * milliseconds (`getTimeoutFromObjectOrReply`): the product rounded to a long double, then rounded
 * up to a whole number; a product out of the 64-bit range (an infinity included) converts, as the
 * x87 does, to -2^63. So a positive timeout below a millisecond waits one millisecond (not for
 * ever, as 0 would), and one above -1 ms rounds up to 0 (which waits for ever, as in Redis).
 */
export function millisecondsOfSeconds(value: LongDouble | "infinite"): bigint {
  if (value === "infinite") return -int64Limit;
  const negative = value.mantissa < 0n;
  const magnitude = (negative ? -value.mantissa : value.mantissa) * 1000n;
  const product =
    value.exponent >= 0
      ? roundLongDouble(negative, magnitude << BigInt(value.exponent), 1n)
      : roundLongDouble(negative, magnitude, 1n << BigInt(-value.exponent));
  if (product === null) return -int64Limit;
  let whole = product.mantissa;
  if (product.exponent >= 0) whole <<= BigInt(product.exponent);
  else {
    const divisor = 1n << BigInt(-product.exponent);
    // BigInt division truncates toward zero: that is the ceiling of a negative product already.
    const truncated = whole / divisor;
    whole = truncated * divisor !== whole && whole > 0n ? truncated + 1n : truncated;
  }
  return whole >= int64Limit || whole < -int64Limit ? -int64Limit : whole;
}

/** The exact sum of two long doubles, rounded; null when it overflows. */
function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  const exponent = Math.min(a.exponent, b.exponent);
  const sum = (a.mantissa << BigInt(a.exponent - exponent)) + (b.mantissa << BigInt(b.exponent - exponent));
  const magnitude = sum < 0n ? -sum : sum;
  if (exponent >= 0) return roundLongDouble(sum < 0n, magnitude << BigInt(exponent), 1n);
  return roundLongDouble(sum < 0n, magnitude, 1n << BigInt(-exponent));
}

/**
 * Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` (the exact value rounded to 17 decimals, ties
 * to even, as glibc does), then trailing zeros and a trailing point removed, and "-0" made "0".
 */
function formatLongDouble(value: LongDouble): string {
  const negative = value.mantissa < 0n;
  const magnitude = negative ? -value.mantissa : value.mantissa;
  const scaled =
    value.exponent >= 0
      ? (magnitude << BigInt(value.exponent)) * fractionScale
      : divideRounded(magnitude * fractionScale, 1n << BigInt(-value.exponent));
  const digits = scaled.toString().padStart(fractionDigits + 1, "0");
  const text = `${digits.slice(0, -fractionDigits)}.${digits.slice(-fractionDigits)}`.replace(/\.?0+$/, "");
  return negative && text !== "0" ? `-${text}` : text;
}

const errInfiniteSum = new RespError("ERR increment would produce NaN or Infinity");

/**
 * INCRBYFLOAT's and HINCRBYFLOAT's new value, as the text to store and reply: the stored text
 * `current` (none reads as 0) plus `increment`. Throws `notFloat` when the stored text is not a
 * long double, and Redis's error when either is infinite or the sum overflows.
 */
export function incrementedText(current: Uint8Array | undefined, increment: LongDouble | "infinite", notFloat: RespError): Uint8Array {
  const value = current === undefined ? zero : parseLongDouble(current);
  if (value === null) throw notFloat;
  const sum = value === "infinite" || increment === "infinite" ? null : addLongDouble(value, increment);
  if (sum === null) throw errInfiniteSum;
  return Buffer.from(formatLongDouble(sum), "latin1");
}
