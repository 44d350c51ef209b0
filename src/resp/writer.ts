/**
 * An append-style encoder of Redis replies into one growable buffer, reused across replies: callers
 * append any number of replies, hand `bytes()` to a single `socket.write`, then `reset()`.
 *
 * RESP2 by default; after `HELLO 3` a connection's replies use the RESP3 types (null, map, set,
 * double, boolean, verbatim, push), and in RESP2 those fall back to what Redis sends.
 */
import { assert } from "../assert.ts";

const encoder = new TextEncoder();
const crlf0 = 13;
const crlf1 = 10;

/** Strings up to this many characters are written by hand when they are ASCII. */
const shortTextMax = 64;

/** Raw byte strings up to this long are copied by hand. */
const shortRawMax = 16;

/** The first size of a writer's buffer; it doubles as needed. */
const writerBytesInitial = 16 * 1024;

export type Protocol = 2 | 3;

/**
 * A finite double as Redis prints a score: the shortest digits that read back as the same double
 * (as Redis 7.2+, and the same as 7.0's `%.17g` wherever that is exact), in `%g`'s notation:
 * exponent form below 1e-4 and from 1e17, with a sign and at least two exponent digits
 * (`1e+17`, `1.5e-05`), plain decimals in between.
 */
export function formatDouble(value: number): string {
  // The usual case, plain decimals, without the exponent form's work (a double's shortest form
  // has an exponent in [-4, 17) exactly when the double is 0 or its magnitude is in [1e-4, 1e17)).
  const magnitude = Math.abs(value);
  if (magnitude === 0 || (magnitude >= 1e-4 && magnitude < 1e17)) return String(value);
  const exponential = value.toExponential();
  const e = exponential.indexOf("e");
  const exponent = Number(exponential.slice(e + 1));
  const digits = Math.abs(exponent);
  return `${exponential.slice(0, e)}e${exponent < 0 ? "-" : "+"}${digits < 10 ? "0" : ""}${digits}`;
}

/** The number of decimal digits of a non-negative safe integer. */
export function decimalDigits(value: number): number {
  let digits = 1;
  // Powers of ten are exact doubles far beyond 2^53.
  for (let bound = 10; value >= bound; bound *= 10) digits++;
  return digits;
}

/** Writes the `digits` decimal digits of a non-negative safe integer at `target[start]`, backwards from the last. */
export function writeDigits(target: Uint8Array, start: number, digits: number, value: number): void {
  let at = start + digits - 1;
  if (value <= 0x7fffffff) {
    // In int32 range the division by ten is an integer one.
    let remaining = value | 0;
    while (remaining > 0) {
      const quotient = (remaining / 10) | 0;
      target[at--] = 48 + remaining - quotient * 10;
      remaining = quotient;
    }
    return;
  }
  for (let remaining = value; remaining > 0; remaining = Math.floor(remaining / 10)) target[at--] = 48 + (remaining % 10);
}

export class RespWriter {
  private buffer: Uint8Array;
  private length = 0;
  /** The protocol of the client whose replies are being written. */
  protocol: Protocol = 2;

  constructor(initialBytes = writerBytesInitial) {
    this.buffer = new Uint8Array(initialBytes);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  /** A view of everything written; valid until the next write or reset. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  /**
   * The buffer the bytes are written into, without making a view: its first `size` bytes are what
   * was written (the rest is not). Valid until the next write or reset.
   */
  backing(): Uint8Array {
    return this.buffer;
  }

  /**
   * Hands over the buffer, bytes written included, and starts again with a new one (empty): a
   * large batch that the socket did not take is kept as it is rather than copied out.
   */
  detach(): Uint8Array {
    const buffer = this.buffer;
    this.buffer = new Uint8Array(writerBytesInitial);
    this.length = 0;
    return buffer;
  }

  /** Forgets everything written; keeps the buffer. */
  reset(): void {
    this.length = 0;
  }

  /** Cuts the written bytes back to `size` (used to take back a reply that must wait in a queue). */
  truncate(size: number): void {
    assert(size >= 0 && size <= this.length, "truncate within what was written");
    this.length = size;
  }

  /** A copy of the bytes from `start` to the end. */
  copyFrom(start: number): Uint8Array {
    return this.buffer.slice(start, this.length);
  }

  /** Drops a buffer that grew far beyond normal back to its initial size. */
  shrink(bytesMax: number): void {
    if (this.length === 0 && this.buffer.length > bytesMax) this.buffer = new Uint8Array(writerBytesInitial);
  }

  /**
   * Past this many bytes, growing the buffer first calls `overLimit` (which may `reset()`): a
   * reply too large to send is cut off while it is built, not once it exists whole in memory.
   * A large bulk value may pass it by its own length (see `bulk`).
   */
  bytesLimit = Infinity;
  overLimit: (() => void) | null = null;

  private reserve(extra: number, beyondLimit = 0): void {
    if (this.length + extra <= this.buffer.length) return;
    if (this.length + extra > this.bytesLimit + beyondLimit) this.overLimit?.();
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let capacity = Math.max(64, this.buffer.length * 2);
    while (capacity < needed) capacity *= 2;
    // Past the limit (by a value: see `bulk`) the buffer grows to what is needed, not double.
    if (capacity > this.bytesLimit) capacity = Math.max(needed, this.bytesLimit);
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  private byte(value: number): void {
    this.buffer[this.length++] = value;
  }

  private crlf(): void {
    this.buffer[this.length++] = crlf0;
    this.buffer[this.length++] = crlf1;
  }

  /**
   * Appends one whole reply already encoded (relayed from the leader, or set aside earlier): like
   * a large bulk value, one of a quarter of `bytesLimit` or more may take the output past it by
   * its own length, since it exists in memory already (the proxy bounds what it takes).
   */
  reply(bytes: Uint8Array): void {
    this.reserve(bytes.length, this.pastLimitAllowed(bytes.length));
    this.raw(bytes);
  }

  /**
   * How far one value of `length` bytes may take the output past `bytesLimit`: by its own length
   * when it is a quarter of the limit or more (see `bulk`), else not at all.
   */
  private pastLimitAllowed(length: number): number {
    return length >= this.bytesLimit / 4 ? length : 0;
  }

  /** Appends raw bytes, already encoded. */
  raw(bytes: Uint8Array): void {
    const length = bytes.length;
    this.reserve(length);
    if (length <= shortRawMax) {
      // A few bytes (a canned reply) are cheaper to copy by hand than through a native call.
      const buffer = this.buffer;
      let at = this.length;
      for (let i = 0; i < length; i++) buffer[at++] = bytes[i] ?? 0;
      this.length = at;
      return;
    }
    this.buffer.set(bytes, this.length);
    this.length += length;
  }

  /** Appends a string's UTF-8 bytes. */
  private text(value: string): void {
    // A UTF-8 encoding takes at most three bytes per UTF-16 unit.
    this.reserve(value.length * 3);
    if (value.length <= shortTextMax) {
      // Short ASCII text is copied by hand: cheaper than making a view for encodeInto.
      const buffer = this.buffer;
      const start = this.length;
      let i = 0;
      for (; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code > 127) break;
        buffer[start + i] = code;
      }
      if (i === value.length) {
        this.length += i;
        return;
      }
    }
    const { written } = encoder.encodeInto(value, this.buffer.subarray(this.length));
    this.length += written;
  }

  /** Appends a decimal integer (safe integers and bigints). */
  private decimal(value: number | bigint): void {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      this.text(String(value));
      return;
    }
    this.reserve(20);
    let remaining = value;
    if (remaining < 0) {
      this.byte(45);
      remaining = -remaining;
    }
    if (remaining < 10) {
      this.byte(48 + remaining);
      return;
    }
    const digits = decimalDigits(remaining);
    writeDigits(this.buffer, this.length, digits, remaining);
    this.length += digits;
  }

  /** Appends a header such as `$5\r\n` or `*3\r\n`. */
  private header(marker: number, value: number | bigint): void {
    this.reserve(24);
    this.byte(marker);
    this.decimal(value);
    this.reserve(2);
    this.crlf();
  }

  /** `+value`: a status reply. CR and LF are replaced by spaces so the frame cannot break. */
  simple(value: string): void {
    this.reserve(3);
    this.byte(43);
    this.text(lineSafe(value));
    this.reserve(2);
    this.crlf();
  }

  /** `-message`: an error reply. The message should start with a code such as `ERR`. */
  error(message: string): void {
    this.reserve(3);
    this.byte(45);
    this.text(lineSafe(message));
    this.reserve(2);
    this.crlf();
  }

  /** `:n`: an integer reply. */
  integer(value: number | bigint): void {
    if (!(typeof value === "bigint" || Number.isInteger(value))) assert(false, `an integer reply needs an integer, not ${value}`);
    this.header(58, value);
  }

  /** `$n\r\n...`: a bulk string from bytes or from a string (UTF-8). */
  bulk(value: Uint8Array | string): void {
    if (typeof value === "string") {
      if (isAscii(value)) {
        this.header(36, value.length);
        this.text(value);
        this.reserve(2);
        this.crlf();
        return;
      }
      value = encoder.encode(value);
    }
    this.header(36, value.length);
    // A value of a quarter of `bytesLimit` or more may take the output past it by its own length:
    // a string as long as the store holds is sent whole (GET of a 100 MB value), while a reply of
    // many smaller values (MGET, LRANGE) stays within the limit. (Smaller values always fit: the
    // server stops reading a client whose output passed its far lower soft limit.)
    this.reserve(value.length + 2, this.pastLimitAllowed(value.length));
    this.raw(value);
    this.crlf();
  }

  /** A null: `$-1` in RESP2, `_` in RESP3. */
  null(): void {
    if (this.protocol === 3) {
      this.reserve(3);
      this.byte(95);
      this.crlf();
    } else {
      this.raw(nullBulk);
    }
  }

  /** A null array: `*-1` in RESP2 (as EXEC after a failed WATCH), `_` in RESP3. */
  nullArray(): void {
    if (this.protocol === 3) this.null();
    else this.raw(nullArray);
  }

  /** `*n`: an array of n replies to follow. */
  array(count: number): void {
    this.header(42, count);
  }

  /** `%n`: a map of n key/value pairs to follow (a flat array of 2n in RESP2). */
  map(pairs: number): void {
    if (this.protocol === 3) this.header(37, pairs);
    else this.header(42, pairs * 2);
  }

  /** `~n`: a set of n replies to follow (an array in RESP2). */
  set(count: number): void {
    this.header(this.protocol === 3 ? 126 : 42, count);
  }

  /** `>n`: an out-of-band push of n replies (an array in RESP2). */
  push(count: number): void {
    this.header(this.protocol === 3 ? 62 : 42, count);
  }

  /** `,d`: a double (a bulk string in RESP2, as Redis does). */
  double(value: number): void {
    const text = Number.isNaN(value)
      ? "nan"
      : value === Infinity
        ? "inf"
        : value === -Infinity
          ? "-inf"
          : Object.is(value, -0)
            ? "-0"
            : formatDouble(value);
    if (this.protocol === 3) {
      this.reserve(3);
      this.byte(44);
      this.text(text);
      this.reserve(2);
      this.crlf();
    } else {
      this.bulk(text);
    }
  }

  /** `#t` / `#f`: a boolean (the integer 1 or 0 in RESP2). */
  boolean(value: boolean): void {
    if (this.protocol === 3) {
      this.reserve(4);
      this.byte(35);
      this.byte(value ? 116 : 102);
      this.crlf();
    } else {
      this.integer(value ? 1 : 0);
    }
  }

  /** `=n\r\ntxt:...`: verbatim text (a bulk string in RESP2). */
  verbatim(value: string, format = "txt"): void {
    if (this.protocol !== 3) {
      this.bulk(value);
      return;
    }
    const body = encoder.encode(value);
    this.header(61, body.length + 4);
    this.text(format.slice(0, 3).padEnd(3, " "));
    this.text(":");
    this.raw(body);
    this.reserve(2);
    this.crlf();
  }
}

const nullBulk = encoder.encode("$-1\r\n");
const nullArray = encoder.encode("*-1\r\n");

function isAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 127) return false;
  return true;
}

/** Redis replaces CR and LF in status and error lines with spaces. */
function lineSafe(value: string): string {
  return value.includes("\r") || value.includes("\n") ? value.replace(/[\r\n]/g, " ") : value;
}
