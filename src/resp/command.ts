/**
 * One request: its arguments (the first is the command name) and its raw bytes, exactly as the
 * client sent them.
 *
 * A command from a multibulk frame keeps only the offsets of its arguments in the bytes that
 * arrived; argument views (`args`, `arg(i)`) are made when asked for. The hot paths never make
 * them: dispatch needs only the name (interned, see `lowerCaseName`), a lookup needs `key(i)`
 * (decoded straight from the bytes) and a stored value needs `copyArg(i)` (one copy). Creating a
 * typed-array view costs as much as parsing the whole frame, so this matters.
 */
import { assert } from "../assert.ts";

const empty = new Uint8Array(0);
const textEncoder = new TextEncoder();

/**
 * `bytes` as a Buffer over the same memory (no copy), for its native latin1 decoding and copying.
 * Bun hands socket data over as Buffers already; reading `.buffer` of one would make the engine
 * materialise its backing store, which costs microseconds, so Buffers are used as they are.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytes as a string with one character per byte: binary-safe, and fast for keys and names. */
export function latin1(bytes: Uint8Array): string {
  return asBuffer(bytes).toString("latin1");
}

/** Node's Buffer method that Bun implements too, missing from its type declarations. */
type BufferWithLatin1Slice = Buffer & { latin1Slice(start: number, end: number): string };

export class Command {
  private views: Uint8Array[] | null;
  /** Views `arg(i)` made, by argument. */
  private argViews: (Uint8Array | undefined)[] | null = null;
  private lowerName: string | null = null;
  /**
   * @internal The `mutate` and `unchanged` a machine made for this command on the node that holds
   * its client, and the state they belong to, kept for when the same object is applied there (that
   * node applies an entry it proposed from the commands it was built from). The framework neither
   * reads nor writes them. Three fields rather than one object: a write then answered without the
   * log keeps them too, and allocates nothing more.
   */
  keptMutate: unknown = undefined;
  /** @internal See `keptMutate`. */
  keptUnchanged: unknown = undefined;
  /** @internal See `keptMutate`. */
  keptFor: unknown = undefined;

  /** @internal Made by the reader; use `Command.of` to build one. */
  constructor(
    /** The bytes the command arrived in. */
    private readonly source: Buffer,
    /** Start and end offsets of each argument in `source`, or null when `views` are given. */
    private readonly offsets: readonly number[] | null,
    views: Uint8Array[] | null,
    private readonly start: number,
    private readonly end: number,
    /** True when the command came as an inline line rather than a multibulk frame. */
    readonly inline: boolean,
  ) {
    assert((offsets === null) !== (views === null), "a command has either offsets or views");
    this.views = views;
  }

  /** Arguments, the command name first: views of the bytes as they arrived. Do not write to them. */
  get args(): Uint8Array[] {
    if (this.views === null) {
      const views = new Array<Uint8Array>(this.argCount);
      // The views `arg` made (or makes now, and keeps): one view per argument either way.
      for (let i = 0; i < views.length; i++) views[i] = this.arg(i);
      this.views = views;
    }
    return this.views;
  }

  /** The number of arguments, the name included. */
  get argCount(): number {
    return this.views !== null ? this.views.length : (this.offsets?.length ?? 0) >> 1;
  }

  /** The command's bytes exactly as they arrived (an inline command's line, or its RESP frame). */
  get raw(): Uint8Array {
    return this.source.subarray(this.start, this.end);
  }

  /** The command name in lower case (ASCII only, as Redis compares names), computed once. */
  get name(): string {
    if (this.lowerName === null) {
      const offsets = this.offsets;
      this.lowerName =
        offsets !== null
          ? lowerCaseName(this.source, offsets[0] ?? 0, offsets[1] ?? 0)
          : lowerCaseName(this.views?.[0] ?? empty, 0, this.views?.[0]?.length ?? 0);
    }
    return this.lowerName;
  }

  /** Argument `index` (0 is the name) as a view, or an empty array when there is none. */
  arg(index: number): Uint8Array {
    const offsets = this.offsets;
    if (offsets === null) return this.views?.[index] ?? empty;
    if (index < 0 || 2 * index >= offsets.length) return empty;
    // A view is made once per argument: a command is dispatched, then applied, and both ask.
    let made = this.argViews;
    if (made === null) made = this.argViews = new Array<Uint8Array | undefined>(offsets.length >> 1);
    let view = made[index];
    if (view === undefined) view = made[index] = this.source.subarray(offsets[2 * index] ?? 0, offsets[2 * index + 1] ?? 0);
    return view;
  }

  /** A copy of argument `index`, safe to keep (a view would pin the client's whole buffer). */
  copyArg(index: number): Uint8Array {
    const offsets = this.offsets;
    if (offsets === null) return (this.views?.[index] ?? empty).slice();
    if (index < 0 || 2 * index >= offsets.length) return new Uint8Array(0);
    const start = offsets[2 * index] ?? 0;
    const end = offsets[2 * index + 1] ?? 0;
    // Buffer's own slice would be a view: copy explicitly.
    const copy = new Uint8Array(end - start);
    this.source.copy(copy, 0, start, end);
    return copy;
  }

  /**
   * Argument `index` as a binary-safe string key: one character per byte (latin1), so any bytes
   * round-trip with `Buffer.from(key, "latin1")`.
   */
  key(index: number): string {
    const offsets = this.offsets;
    if (offsets === null) return latin1(this.views?.[index] ?? empty);
    if (index < 0 || 2 * index >= offsets.length) return "";
    // Node's `latin1Slice`, which Bun keeps: `toString("latin1", ...)` without reading the
    // encoding's name, 32 ns against 43 for a 16-byte key (a GET at pipeline 16 spends ~800 ns).
    // The offsets are the parser's, inside the source (it throws past the end; toString clamps).
    return (this.source as BufferWithLatin1Slice).latin1Slice(offsets[2 * index] ?? 0, offsets[2 * index + 1] ?? 0);
  }

  /** The command as a RESP multibulk frame: the raw bytes, or an encoding of an inline command. */
  frame(): Uint8Array {
    return this.inline ? encodeCommand(this.args) : this.raw;
  }

  /** The length of `frame()`. */
  get frameLength(): number {
    return this.inline ? this.frame().length : this.end - this.start;
  }

  /** Copies `frame()` into `target` at `at` (without making a view of a multibulk frame). */
  copyFrameInto(target: Uint8Array, at: number): void {
    if (this.inline) target.set(this.frame(), at);
    else this.source.copy(target, at, this.start, this.end);
  }

  /**
   * Copies the frames of `commands[from, to)` into `target` at `at`, one after the other; returns
   * where the last one ends. Frames that lie back to back in the same client buffer (a pipeline's
   * commands from one chunk) are copied with a single call.
   */
  static copyFrames(commands: readonly Command[], from: number, to: number, target: Uint8Array, at: number): number {
    let runSource: Buffer | null = null;
    let runStart = 0;
    let runEnd = 0;
    let written = at;
    for (let i = from; i < to; i++) {
      const command = commands[i];
      assert(command !== undefined, "command in range");
      if (!command.inline && command.source === runSource && command.start === runEnd) {
        runEnd = command.end;
        continue;
      }
      if (runSource !== null) written += runSource.copy(target, written, runStart, runEnd);
      runSource = null;
      if (command.inline) {
        command.copyFrameInto(target, written);
        written += command.frameLength;
        continue;
      }
      runSource = command.source;
      runStart = command.start;
      runEnd = command.end;
    }
    if (runSource !== null) written += runSource.copy(target, written, runStart, runEnd);
    return written;
  }

  /** Builds a command from arguments, encoded as a RESP multibulk frame. */
  static of(args: readonly (Uint8Array | string)[]): Command {
    const views = args.map((arg) => (typeof arg === "string" ? textEncoder.encode(arg) : arg));
    const frame = encodeCommand(views);
    const offsets: number[] = [];
    let at = 0;
    for (const view of views) {
      at = frame.indexOf(10, at) + 1; // past the `$<length>\r\n` header (the first pass skips `*<n>\r\n`)
      if (offsets.length === 0) at = frame.indexOf(10, at) + 1;
      offsets.push(at, at + view.length);
      at += view.length + 2;
    }
    return new Command(asBuffer(frame), offsets, null, 0, frame.length, false);
  }
}

/** Names this long or shorter are interned; longer ones are decoded each time. */
const internedNameBytesMax = 24;
/**
 * The intern table: open addressing by the name's hash, a few slots probed, each slot kept by the
 * first name that takes it. Random names cannot grow it: a name whose slots are all taken is
 * decoded each time.
 */
const internedSlotMask = 2047;
const internedProbes = 4;
const internedNames: ({ readonly bytes: Uint8Array; readonly name: string } | undefined)[] = new Array(internedSlotMask + 1).fill(undefined);

function lowerByte(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

/**
 * The lower-case name in `bytes[start, end)`. Every command needs it for dispatch, so common names
 * are interned: a hash of the lower-cased bytes finds the string without decoding anything.
 */
function lowerCaseName(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length > internedNameBytesMax) return asciiLowerCase(bytes, start, end);
  let hash = 2166136261;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ lowerByte(bytes[i] ?? 0), 16777619);
  let free = -1;
  for (let probe = 0; probe < internedProbes; probe++) {
    const slot = (hash + probe) & internedSlotMask;
    const found = internedNames[slot];
    if (found === undefined) {
      free = slot;
      break;
    }
    if (sameLowerCase(found.bytes, bytes, start, end)) return found.name;
  }
  const name = asciiLowerCase(bytes, start, end);
  if (free >= 0) internedNames[free] = { bytes: Buffer.from(name, "latin1"), name };
  return name;
}

/** Bytes as latin1 text with A-Z lowered, as Redis compares command names (ASCII only). */
function asciiLowerCase(bytes: Uint8Array, start: number, end: number): string {
  const lowered = new Uint8Array(end - start);
  for (let i = start; i < end; i++) lowered[i - start] = lowerByte(bytes[i] ?? 0);
  return latin1(lowered);
}

/** True when `bytes[start, end)`, lower-cased, equal `lower`. */
function sameLowerCase(lower: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (lower.length !== end - start) return false;
  for (let i = start; i < end; i++) if (lowerByte(bytes[i] ?? 0) !== lower[i - start]) return false;
  return true;
}

/** Encodes arguments as a RESP multibulk frame. */
export function encodeCommand(args: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  const headers = args.map((arg) => {
    const header = textEncoder.encode(`$${arg.length}\r\n`);
    size += header.length + arg.length + 2;
    return header;
  });
  const first = textEncoder.encode(`*${args.length}\r\n`);
  // Every byte is written below: no need to zero the buffer first.
  const out = Buffer.allocUnsafe(first.length + size);
  out.set(first, 0);
  let at = first.length;
  for (let i = 0; i < args.length; i++) {
    const header = headers[i] ?? empty;
    const arg = args[i] ?? empty;
    out.set(header, at);
    at += header.length;
    out.set(arg, at);
    at += arg.length;
    out[at++] = 13;
    out[at++] = 10;
  }
  return out;
}
