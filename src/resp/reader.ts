/**
 * An incremental, zero-copy reader of Redis requests: RESP2 multibulk frames and inline commands.
 *
 * Every complete command in a chunk is handed to the sink at once. Arguments are `subarray` views of
 * the bytes as they arrived (Bun hands each `data` event a fresh buffer, so the views stay valid for
 * as long as anyone holds them); only a frame that is split across chunks is copied, once, into a
 * pending buffer that grows by doubling. The parse state (argument offsets so far, the bulk length
 * being waited for) survives between chunks, so a frame with many arguments that trickles in is not
 * parsed again from its start on every chunk.
 *
 * Limits and error texts follow Redis (networking.c): a protocol error is reported once, the
 * connection is expected to answer `-ERR Protocol error: ...` and close, and the reader refuses to
 * continue afterwards.
 */
import { assert } from "../assert.ts";
import { asBuffer, Command } from "./command.ts";
import { splitPlainOffsets, splitQuoted } from "./inline.ts";

export { Command, encodeCommand, latin1 } from "./command.ts";

/** Limits on what one client may send. Named with the unit last; see `defaultReaderLimits`. */
export interface ReaderLimits {
  /** Largest bulk argument, in bytes (Redis `proto-max-bulk-len`, 512 MB by default). */
  readonly bulkBytesMax: number;
  /** Most arguments in one multibulk frame (Redis accepts up to INT_MAX; a million is plenty). */
  readonly argumentsMax: number;
  /** Longest inline command line or header line, in bytes (Redis PROTO_INLINE_MAX_SIZE, 64 KB). */
  readonly inlineBytesMax: number;
  /** Most bytes buffered for one incomplete command (Redis `client-query-buffer-limit`, 1 GB). */
  readonly queryBufferBytesMax: number;
  /** Limits for a client that has not authenticated yet: errors say so, as Redis's do. */
  readonly unauthenticated?: boolean;
}

export const defaultReaderLimits: ReaderLimits = {
  bulkBytesMax: 512 * 1024 * 1024,
  argumentsMax: 1024 * 1024,
  inlineBytesMax: 64 * 1024,
  queryBufferBytesMax: 1024 * 1024 * 1024,
};

/**
 * What a client may send before it authenticates, when a password is set (Redis 7: a multibulk of
 * more than 10 arguments or a bulk over 16 KB is a protocol error then), so that nobody without the
 * password can make a node buffer megabytes.
 */
export const unauthenticatedReaderLimits: ReaderLimits = {
  bulkBytesMax: 16 * 1024,
  argumentsMax: 10,
  inlineBytesMax: 64 * 1024,
  queryBufferBytesMax: 256 * 1024,
  unauthenticated: true,
};


/** Receives each complete command; returning false stops parsing (the rest stays buffered). */
export interface CommandSink {
  onCommand(command: Command): boolean;
}

/** What `feed` and `resume` report. */
export type ReadStatus =
  /** Everything buffered was parsed; a partial frame may wait for more bytes. */
  | { readonly kind: "ok" }
  /** The sink asked to stop; call `resume` to go on with the buffered bytes. */
  | { readonly kind: "stopped" }
  /** The client broke the protocol; answer `-ERR <message>` and close the connection. */
  | { readonly kind: "error"; readonly message: string };

const statusOk: ReadStatus = { kind: "ok" };
const statusStopped: ReadStatus = { kind: "stopped" };

const asciiCarriageReturn = 13;
const asciiNewline = 10;
const asciiStar = 42;
const asciiDollar = 36;
const asciiMinus = 45;
const asciiZero = 48;
/** More digits than any length we accept; stops absurd header lines early. */
const lengthDigitsMax = 18;
/** The pending buffer's first size: most split frames are small. */
const pendingBytesMin = 16 * 1024;

/** Parses a decimal length between `start` and `end`; NaN when it is not a plain integer. */
function parseLength(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end && bytes[i] === asciiMinus) {
    negative = true;
    i++;
  }
  if (i === end || end - i > lengthDigitsMax) return Number.NaN;
  // As Redis's string2ll: no leading zeros, and no "-0".
  if (bytes[i] === asciiZero && (end - i > 1 || negative)) return Number.NaN;
  let value = 0;
  for (; i < end; i++) {
    const digit = (bytes[i] ?? 0) - asciiZero;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/** A printable form of one byte for error messages, as Redis prints `%c`. */
function printableByte(byte: number): string {
  return byte >= 32 && byte < 127 ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
}

/**
 * The incremental request reader of one connection. Not shared between connections.
 */
/** The buffer of a reader with nothing pending (shared: it is never written to). */
const noBytes = Buffer.alloc(0);

export class RespReader {
  /** Bytes being parsed: the caller's chunk, or the pending buffer after a split frame. */
  private buffer: Buffer = noBytes;
  /** Parse position in `buffer`. */
  private position = 0;
  /** End of valid bytes in `buffer`. */
  private end = 0;
  /** True while `buffer` is our own pending copy (it may be appended to), false for a chunk. */
  private owned = false;

  /** Start of the frame being parsed, or -1 between frames. */
  private frameStart = -1;
  /** Arguments the current multibulk frame declares. */
  private frameArguments = 0;
  /** Start and end offsets (in `buffer`) of the arguments of the current frame parsed so far. */
  private argumentOffsets: number[] = [];
  /** Length of the bulk argument being waited for, or -1 when its `$` header is next. */
  private bulkLength = -1;

  /** Where the search for an inline command's newline resumes, so a slow line is scanned once. */
  private inlineSearchFrom = 0;

  private failure: string | null = null;

  constructor(private limits: ReaderLimits = defaultReaderLimits) {
    assert(limits.bulkBytesMax >= 0 && limits.argumentsMax >= 1, "reader limits must be positive");
  }

  /** Changes the limits for what is read from now on (a peer link, once authenticated, gets wider ones). */
  setLimits(limits: ReaderLimits): void {
    assert(limits.bulkBytesMax >= 0 && limits.argumentsMax >= 1, "reader limits must be positive");
    this.limits = limits;
  }

  /** Bytes received but not yet handed out as commands. */
  get bufferedBytes(): number {
    return this.end - this.position + (this.frameStart >= 0 ? this.position - this.frameStart : 0);
  }

  /** Parses `chunk`, handing every complete command to `sink`. */
  feed(chunk: Uint8Array, sink: CommandSink): ReadStatus {
    if (this.failure !== null) return { kind: "error", message: this.failure };
    this.take(chunk);
    return this.resume(sink);
  }

  /**
   * Keeps `chunk` without parsing it, for a sink that takes no commands now: `resume` parses it
   * later. The query buffer limit holds as in `feed`.
   */
  hold(chunk: Uint8Array): ReadStatus {
    if (this.failure !== null) return { kind: "error", message: this.failure };
    this.take(chunk);
    if (!this.owned && this.end > 0) this.adopt();
    if (this.bufferedBytes > this.limits.queryBufferBytesMax) {
      this.failure = "Protocol error: query buffer limit reached";
      this.release();
      return { kind: "error", message: this.failure };
    }
    return statusStopped;
  }

  /** Adds `chunk` to what is buffered: in place (zero-copy) when nothing is pending. */
  private take(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.position === this.end && this.frameStart < 0) {
      this.buffer = asBuffer(chunk);
      this.position = 0;
      this.end = chunk.length;
      this.owned = false;
    } else {
      this.append(chunk);
    }
  }

  /** Goes on parsing buffered bytes after the sink stopped. */
  resume(sink: CommandSink): ReadStatus {
    if (this.failure !== null) return { kind: "error", message: this.failure };
    const status = this.parse(sink);
    if (status.kind === "error") {
      this.failure = status.message;
      this.release();
      return status;
    }
    if (this.position === this.end && this.frameStart < 0) {
      this.release();
    } else if (!this.owned) {
      // The chunk belongs to the caller's event; keep only what is left, in our own buffer.
      this.adopt();
    }
    if (this.bufferedBytes > this.limits.queryBufferBytesMax) {
      this.failure = "Protocol error: query buffer limit reached";
      this.release();
      return { kind: "error", message: this.failure };
    }
    return status;
  }

  /** A header past `argumentsMax` or `bulkBytesMax`, in Redis's words (which name unauthenticated clients). */
  private pastLimit(what: "multibulk" | "bulk"): ReadStatus {
    return protocolError(`${this.limits.unauthenticated === true ? "unauthenticated" : "invalid"} ${what} length`);
  }

  /** Drops every buffered byte. */
  private release(): void {
    this.buffer = noBytes;
    this.position = 0;
    this.end = 0;
    this.owned = false;
    this.frameStart = -1;
    this.argumentOffsets.length = 0;
    this.bulkLength = -1;
    this.inlineSearchFrom = 0;
  }

  /** The first byte we must keep: the start of the frame in progress, or the parse position. */
  private keepFrom(): number {
    return this.frameStart >= 0 ? this.frameStart : this.position;
  }

  /** Copies the unparsed remainder of a caller's chunk into a pending buffer of our own. */
  private adopt(): void {
    this.moveTo(Buffer.allocUnsafe(Math.max(pendingBytesMin, 2 * (this.end - this.keepFrom()))));
  }

  /** Appends a chunk to the pending buffer, growing it by doubling when it is full. */
  private append(chunk: Uint8Array): void {
    assert(this.owned, "only a pending buffer of our own is appended to");
    if (this.end + chunk.length > this.buffer.length) {
      // Never compact in place: commands already handed out may still view the old bytes.
      const kept = this.end - this.keepFrom();
      this.moveTo(Buffer.allocUnsafe(Math.max(pendingBytesMin, 2 * (kept + chunk.length))));
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Moves the bytes still needed into `target` and rebases every offset. */
  private moveTo(target: Buffer): void {
    const from = this.keepFrom();
    this.buffer.copy(target, 0, from, this.end);
    const offsets = this.argumentOffsets;
    for (let i = 0; i < offsets.length; i++) offsets[i] = (offsets[i] ?? 0) - from;
    if (this.frameStart >= 0) this.frameStart -= from;
    if (this.inlineSearchFrom > 0) this.inlineSearchFrom = Math.max(0, this.inlineSearchFrom - from);
    this.position -= from;
    this.end -= from;
    this.buffer = target;
    this.owned = true;
  }

  private parse(sink: CommandSink): ReadStatus {
    for (;;) {
      if (this.frameStart < 0) {
        if (this.position >= this.end) return statusOk;
        if (this.buffer[this.position] !== asciiStar) {
          const status = this.parseInline(sink);
          if (status !== null) return status;
          continue;
        }
        const header = this.parseMultibulkHeader();
        if (header !== null) return header;
        if (this.frameStart < 0) continue; // an empty frame, skipped as Redis does
      }
      const status = this.parseArguments();
      if (status !== null) return status;
      if (!this.emitFrame(sink)) return statusStopped;
    }
  }

  /** Reads `*<count>\r\n`; returns a status to stop with, or null to go on. */
  private parseMultibulkHeader(): ReadStatus | null {
    const start = this.position;
    const lineEnd = this.findLineEnd(start + 1);
    if (lineEnd === -2) return protocolError("invalid multibulk length");
    if (lineEnd < 0) return statusOk;
    const count = parseLength(this.buffer, start + 1, lineEnd);
    if (Number.isNaN(count)) return protocolError("invalid multibulk length");
    if (count > this.limits.argumentsMax) return this.pastLimit("multibulk");
    this.position = lineEnd + 2;
    if (count <= 0) return null;
    this.frameStart = start;
    this.frameArguments = count;
    this.argumentOffsets.length = 0;
    this.bulkLength = -1;
    return null;
  }

  /** Reads the bulk arguments of the current frame; returns a status to stop with, or null once complete. */
  private parseArguments(): ReadStatus | null {
    const bytes = this.buffer;
    const offsets = this.argumentOffsets;
    while (offsets.length < 2 * this.frameArguments) {
      if (this.bulkLength < 0) {
        if (this.position >= this.end) return statusOk;
        const marker = bytes[this.position] ?? 0;
        if (marker !== asciiDollar) return protocolError(`expected '$', got '${printableByte(marker)}'`);
        const lineEnd = this.findLineEnd(this.position + 1);
        if (lineEnd === -2) return protocolError("invalid bulk length");
        if (lineEnd < 0) return statusOk;
        const length = parseLength(bytes, this.position + 1, lineEnd);
        if (Number.isNaN(length) || length < 0) return protocolError("invalid bulk length");
        if (length > this.limits.bulkBytesMax) return this.pastLimit("bulk");
        this.bulkLength = length;
        this.position = lineEnd + 2;
      }
      const argumentEnd = this.position + this.bulkLength;
      if (argumentEnd + 2 > this.end) {
        if (argumentEnd - this.frameStart > this.limits.queryBufferBytesMax) {
          return protocolError("query buffer limit reached");
        }
        return statusOk;
      }
      if (bytes[argumentEnd] !== asciiCarriageReturn || bytes[argumentEnd + 1] !== asciiNewline) {
        return protocolError("bulk argument not terminated by CRLF");
      }
      offsets.push(this.position, argumentEnd);
      this.position = argumentEnd + 2;
      this.bulkLength = -1;
    }
    return null;
  }

  /** Hands the completed frame to the sink; the command takes the offsets array with it. */
  private emitFrame(sink: CommandSink): boolean {
    const offsets = this.argumentOffsets;
    assert(offsets.length === 2 * this.frameArguments, "every argument of the frame is parsed");
    const command = new Command(this.buffer, offsets, null, this.frameStart, this.position, false);
    this.argumentOffsets = [];
    this.frameStart = -1;
    return sink.onCommand(command);
  }

  /** Reads one inline command line; returns a status to stop with, or null to go on. */
  private parseInline(sink: CommandSink): ReadStatus | null {
    const start = this.position;
    const searchFrom = Math.max(start, this.inlineSearchFrom);
    // A loop, not indexOf on a subarray: lines are short, and a view per command costs more.
    const bytes = this.buffer;
    // No line is longer than the limit, so the scan need not go further than that.
    const end = Math.min(this.end, start + this.limits.inlineBytesMax + 1);
    let newline = searchFrom;
    while (newline < end && bytes[newline] !== asciiNewline) newline++;
    if (newline === end) {
      if (this.end - start > this.limits.inlineBytesMax) return protocolError("too big inline request");
      this.inlineSearchFrom = this.end;
      return statusOk;
    }
    this.inlineSearchFrom = 0;
    if (newline - start > this.limits.inlineBytesMax) return protocolError("too big inline request");
    let lineEnd = newline;
    if (lineEnd > start && this.buffer[lineEnd - 1] === asciiCarriageReturn) lineEnd--;
    this.position = newline + 1;
    // A plain line's arguments stay offsets into the bytes, as a multibulk frame's do; only a line
    // with quotes needs argument copies.
    const offsets = splitPlainOffsets(this.buffer, start, lineEnd);
    const args = offsets === null ? splitQuoted(this.buffer, start, lineEnd) : null;
    if (offsets === null && args === null) return protocolError("unbalanced quotes in request");
    const count = offsets !== null ? offsets.length >> 1 : (args?.length ?? 0);
    if (count === 0) return null;
    if (count > this.limits.argumentsMax) return this.pastLimit("multibulk");
    const command = new Command(this.buffer, offsets, args, start, newline + 1, true);
    return sink.onCommand(command) ? null : statusStopped;
  }

  /**
   * Finds the `\r\n` that ends a header line (`*<count>` or `$<length>`) whose digits start at
   * `from`: the index of `\r`, -1 when more bytes are needed, -2 when the line cannot be a valid
   * header (a `\r` without `\n`, or more characters than any accepted length has). The scan is
   * bounded, so a header that never ends costs nothing to look at again.
   */
  private findLineEnd(from: number): number {
    const bytes = this.buffer;
    const limit = Math.min(this.end, from + lengthDigitsMax + 2);
    for (let i = from; i < limit; i++) {
      if (bytes[i] !== asciiCarriageReturn) continue;
      if (i + 1 >= this.end) return -1;
      return bytes[i + 1] === asciiNewline ? i : -2;
    }
    return limit < from + lengthDigitsMax + 2 ? -1 : -2;
  }
}

function protocolError(detail: string): ReadStatus {
  return { kind: "error", message: `Protocol error: ${detail}` };
}
