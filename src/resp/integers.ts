/**
 * Integers as Redis reads them from arguments (`string2ll`): an optional `-`, digits, no leading
 * zeros, no spaces, no `+`, within int64. For the framework's own commands and for machines (the
 * clone re-exports these from its arguments.ts).
 */
import { latin1 } from "./reader.ts";

export const int64Max = (1n << 63n) - 1n;
export const int64Min = -(1n << 63n);

/**
 * An integer as Redis's `string2ll` reads it: an optional `-`, digits, no leading zeros, no
 * spaces, no `+`, within int64. Null otherwise.
 */
export function parseInteger(bytes: Uint8Array): bigint | null {
  if (!isIntegerText(bytes)) return null;
  const value = BigInt(latin1(bytes));
  if (value > int64Max || value < int64Min) return null;
  return value;
}

/** The syntax `string2ll` accepts (the int64 range is checked by the caller). */
function isIntegerText(bytes: Uint8Array): boolean {
  const length = bytes.length;
  if (length === 0 || length > 20) return false;
  let i = 0;
  if (bytes[0] === 45) {
    if (length === 1) return false;
    i = 1;
  }
  // Redis refuses leading zeros ("01") and "-0", but accepts "0".
  if (bytes[i] === 48 && (length > i + 1 || i === 1)) return false;
  for (let j = i; j < length; j++) {
    const byte = bytes[j] ?? 0;
    if (byte < 48 || byte > 57) return false;
  }
  return true;
}

/**
 * An int64 as a JavaScript number, for indices and counts (exact up to 2^53; beyond that, values
 * act the same in every range computation the clone does). Null when it is not an integer.
 */
export function parseLong(bytes: Uint8Array): number | null {
  // Short ones (the common case: counts, indices) without a BigInt.
  if (bytes.length <= shortIntegerBytesMax) return isIntegerText(bytes) ? shortInteger(bytes) : null;
  const value = parseInteger(bytes);
  return value === null ? null : Number(value);
}

/** Integer texts this long or shorter (sign included) hold at most 15 digits: always safe integers. */
export const shortIntegerBytesMax = 15;
export const safeMax = BigInt(Number.MAX_SAFE_INTEGER);

/** The value of a short text `isIntegerText` accepted, read digit by digit (exact: under 2^53). */
export function shortInteger(bytes: Uint8Array): number {
  const negative = bytes[0] === 45;
  let value = 0;
  for (let i = negative ? 1 : 0; i < bytes.length; i++) value = value * 10 + ((bytes[i] ?? 48) - 48);
  return negative ? -value : value;
}

/**
 * An int64 as `parseInteger` reads it, as a number when it is a safe integer (the common case,
 * with no BigInt made) and as a bigint beyond. Null when it is not an integer.
 */
export function parseInt64(bytes: Uint8Array): number | bigint | null {
  if (bytes.length <= shortIntegerBytesMax) return isIntegerText(bytes) ? shortInteger(bytes) : null;
  const value = parseInteger(bytes);
  if (value === null) return null;
  return value <= safeMax && value >= -safeMax ? Number(value) : value;
}

