/**
 * A seeded, structure-aware fuzzer for Redis request streams, and an independent reference model
 * of what the request reader must make of any byte string.
 *
 * - `Rng`: a small seeded generator; `caseRng(seed, index)` gives every case its own stream, so
 *   one case replays alone (`FUZZ_SEED` and `FUZZ_CASE` in the tests).
 * - Generators: valid streams (multibulk frames with binary arguments, inline lines with plain,
 *   double-quoted and single-quoted arguments, embedded NULs, empty frames and blank lines) whose
 *   intended commands are known, and mutations of them that know the protocol: lengths replaced
 *   by negative, huge, overflowing, leading-zero or malformed values, markers swapped (`+`, `-`,
 *   `:` ... where `*` or `$` is expected), CRLFs dropped or mangled, truncation, bytes deleted,
 *   duplicated, swapped or overwritten, NULs and protocol tokens inserted, giant argument counts.
 *   Plus raw random bytes and protocol-token soup.
 * - `referenceParse`: a whole-input, non-incremental model of the reader, written from the
 *   README and Redis's rules (networking.c `processMultibulkBuffer` / `processInlineBuffer`,
 *   sds.c `sdssplitargs`), not from the reader's code: the commands a stream holds, the protocol
 *   error it ends with, and how many bytes a complete parse consumes.
 * - `liveTraffic`: the same machinery aimed at a real server: commands the clone knows, on keys
 *   of the fuzzer's own (`fz:`), then mutated.
 */
import type { ReaderLimits } from "../../src/resp/reader.ts";

// ---------------------------------------------------------------------------------------------
// Randomness

/** SplitMix32-style generator: fast, seeded, good enough for fuzzing (not for cryptography). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  /** A 32-bit unsigned integer. */
  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return mix32(this.state) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [low, high], both inclusive. */
  int(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** A length biased toward small values: most are below `typical`, some reach `max`. */
  size(typical: number, max: number): number {
    if (max <= 0) return 0;
    const roll = this.float();
    if (roll < 0.7) return this.int(0, Math.min(typical, max));
    if (roll < 0.95) return this.int(0, Math.min(max, typical * 8));
    return this.int(0, max);
  }
}

function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** The generator of case `index` of a run with base `seed`: independent of every other case. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng(mix32(mix32(seed ^ 0x5bd1e995) ^ Math.imul(index + 1, 0x27d4eb2d)));
}

/** Reads a seed from the environment (decimal or 0x hex), or returns the default. */
export function seedFromEnvironment(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  if (text === "random") return (Math.random() * 0x1_0000_0000) >>> 0;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name}=${text} is not an integer`);
  return value >>> 0;
}

/** Reads a count from the environment, or returns the default. */
export function countFromEnvironment(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${text} is not a count`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Bytes as latin1 strings (one character per byte): easy to build, slice and compare.

export function bytesOfLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function latin1Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** A short printable rendering of a byte string for failure messages. */
export function show(text: string, max = 600): string {
  const shown = JSON.stringify(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${shown}... (${text.length} bytes)` : shown;
}

// ---------------------------------------------------------------------------------------------
// The reference model

export interface RefCommand {
  readonly args: readonly string[];
  /** The command's bytes in the input: the whole frame, or the inline line with its newline. */
  readonly raw: string;
  readonly inline: boolean;
}

export type RefStatus = { readonly kind: "ok" } | { readonly kind: "error"; readonly message: string };

export interface RefOutcome {
  readonly commands: RefCommand[];
  readonly status: RefStatus;
  /** Bytes taken by complete commands and skipped empty frames and lines (for status ok). */
  readonly consumed: number;
}

/** Longest length a header may declare, in digits (more is refused as not a length). */
const headerDigitsMax = 18;
/** A header line may hold this many characters before its `\r`: the digits, a sign and slack. */
const headerWindow = headerDigitsMax + 2;

/**
 * The integer of a length header, as Redis's string2ll reads it: an optional `-`, then 1 to 18
 * digits, no leading zero (but "0" itself), no "-0". Null when it is not such a number.
 */
function headerNumber(text: string): bigint | null {
  const match = /^(-?)([0-9]+)$/.exec(text);
  if (match === null) return null;
  const digits = match[2] ?? "";
  if (digits.length > headerDigitsMax) return null;
  if (digits.length > 1 && digits.startsWith("0")) return null;
  if (digits === "0" && match[1] === "-") return null;
  return BigInt(text);
}

/** Where the `\r\n` of a header line whose text starts at `from` is; or why there is none yet. */
function headerLineEnd(input: string, from: number): number | "incomplete" | "invalid" {
  const windowEnd = from + headerWindow;
  const scanEnd = Math.min(input.length, windowEnd);
  for (let i = from; i < scanEnd; i++) {
    if (input.charCodeAt(i) !== 13) continue;
    if (i + 1 >= input.length) return "incomplete";
    return input.charCodeAt(i + 1) === 10 ? i : "invalid";
  }
  return input.length < windowEnd ? "incomplete" : "invalid";
}

function printable(code: number): string {
  return code >= 32 && code < 127 ? String.fromCharCode(code) : `\\x${code.toString(16).padStart(2, "0")}`;
}

function isCSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/**
 * sds.c `sdssplitargs`, on the C string of `line` (it ends at the first NUL). Null for unbalanced
 * quotes or a closing quote not followed by white space.
 */
export function splitArgsReference(line: string): string[] | null {
  const nul = line.indexOf("\0");
  const text = nul >= 0 ? line.slice(0, nul) : line;
  const at = (i: number): number => (i < text.length ? text.charCodeAt(i) : 0);
  const args: string[] = [];
  let p = 0;
  for (;;) {
    while (at(p) !== 0 && isCSpace(at(p))) p++;
    if (at(p) === 0) return args;
    let current = "";
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        if (c === 92 && at(p + 1) === 120 && hexDigit(at(p + 2)) >= 0 && hexDigit(at(p + 3)) >= 0) {
          current += String.fromCharCode(hexDigit(at(p + 2)) * 16 + hexDigit(at(p + 3)));
          p += 3;
        } else if (c === 92 && at(p + 1) !== 0) {
          p++;
          const e = at(p);
          current += e === 110 ? "\n" : e === 114 ? "\r" : e === 116 ? "\t" : e === 98 ? "\b" : e === 97 ? "\x07" : String.fromCharCode(e);
        } else if (c === 34) {
          if (at(p + 1) !== 0 && !isCSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          current += String.fromCharCode(c);
        }
      } else if (inSingle) {
        if (c === 92 && at(p + 1) === 39) {
          p++;
          current += "'";
        } else if (c === 39) {
          if (at(p + 1) !== 0 && !isCSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          current += String.fromCharCode(c);
        }
      } else if (c === 32 || c === 10 || c === 13 || c === 9 || c === 0) {
        done = true;
      } else if (c === 34) {
        inDouble = true;
      } else if (c === 39) {
        inSingle = true;
      } else {
        current += String.fromCharCode(c);
      }
      if (at(p) !== 0) p++;
    }
    args.push(current);
  }
}

/**
 * What the reader must make of `input` when it is fed whole, with `queryBufferBytesMax` not in
 * play: the commands, then either ok (with whatever incomplete tail waits) or the first error.
 */
export function referenceParse(input: string, limits: ReaderLimits): RefOutcome {
  const commands: RefCommand[] = [];
  const n = input.length;
  const error = (detail: string): RefOutcome => ({
    commands,
    status: { kind: "error", message: `Protocol error: ${detail}` },
    consumed: -1,
  });
  let pos = 0;
  for (;;) {
    if (pos >= n) return { commands, status: { kind: "ok" }, consumed: pos };
    const waiting: RefOutcome = { commands, status: { kind: "ok" }, consumed: pos };
    if (input.charCodeAt(pos) === 42) {
      // `*<count>\r\n`, then count times `$<length>\r\n<bytes>\r\n`.
      const countEnd = headerLineEnd(input, pos + 1);
      if (countEnd === "invalid") return error("invalid multibulk length");
      if (countEnd === "incomplete") return waiting;
      const count = headerNumber(input.slice(pos + 1, countEnd));
      if (count === null || count > BigInt(limits.argumentsMax)) return error("invalid multibulk length");
      if (count <= 0n) {
        pos = countEnd + 2;
        continue;
      }
      const args: string[] = [];
      let p = countEnd + 2;
      for (let k = 0; k < Number(count); k++) {
        if (p >= n) return waiting;
        const marker = input.charCodeAt(p);
        if (marker !== 36) return error(`expected '$', got '${printable(marker)}'`);
        const lengthEnd = headerLineEnd(input, p + 1);
        if (lengthEnd === "invalid") return error("invalid bulk length");
        if (lengthEnd === "incomplete") return waiting;
        const length = headerNumber(input.slice(p + 1, lengthEnd));
        if (length === null || length < 0n || length > BigInt(limits.bulkBytesMax)) return error("invalid bulk length");
        const start = lengthEnd + 2;
        const end = start + Number(length);
        if (end + 2 > n) return waiting;
        if (input.charCodeAt(end) !== 13 || input.charCodeAt(end + 1) !== 10) return error("bulk argument not terminated by CRLF");
        args.push(input.slice(start, end));
        p = end + 2;
      }
      commands.push({ args, raw: input.slice(pos, p), inline: false });
      pos = p;
    } else {
      // An inline line: up to `\n`, a `\r` before it dropped, split as sdssplitargs does.
      const newline = input.indexOf("\n", pos);
      if (newline < 0) return n - pos > limits.inlineBytesMax ? error("too big inline request") : waiting;
      if (newline - pos > limits.inlineBytesMax) return error("too big inline request");
      let lineEnd = newline;
      if (lineEnd > pos && input.charCodeAt(lineEnd - 1) === 13) lineEnd--;
      const args = splitArgsReference(input.slice(pos, lineEnd));
      if (args === null) return error("unbalanced quotes in request");
      const raw = input.slice(pos, newline + 1);
      pos = newline + 1;
      if (args.length === 0) continue;
      if (args.length > limits.argumentsMax) return error("invalid multibulk length");
      commands.push({ args, raw, inline: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Valid streams

/** One piece of a valid stream: a command, or an empty frame / blank line the reader skips. */
export interface Element {
  readonly text: string;
  readonly command: RefCommand | null;
}

export interface GenerateOptions {
  readonly limits: ReaderLimits;
  /** Command names to use some of the time (the live fuzzer uses the clone's). */
  readonly vocabulary?: readonly (readonly string[])[];
  /** Typical and largest argument lengths generated (the limits cap them too). */
  readonly argumentBytesTypical?: number;
  readonly argumentBytesMax?: number;
}

const protocolBytes = ["\r\n", "\r", "\n", "*", "$", "\0", "\xff", "-", ":", "+", "1", "0", " ", '"', "'", "\\"];

function randomBytes(rng: Rng, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = rng.below(256);
  return latin1Of(bytes);
}

function printableText(rng: Rng, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = rng.int(33, 126);
  return latin1Of(bytes);
}

/** An argument's bytes: empty, printable, binary with protocol bytes inside, or long. */
function argumentBytes(rng: Rng, maxLength: number, typical: number): string {
  const mode = rng.below(10);
  if (mode === 0 || maxLength === 0) return "";
  if (mode <= 4) return printableText(rng, rng.int(1, Math.min(maxLength, typical)));
  if (mode <= 7) {
    let out = "";
    const target = rng.int(1, Math.min(maxLength, typical * 2));
    while (out.length < target) out += rng.chance(0.5) ? rng.pick(protocolBytes) : String.fromCharCode(rng.below(256));
    return out.slice(0, Math.min(maxLength, target));
  }
  if (mode === 8) return randomBytes(rng, rng.int(1, Math.min(maxLength, typical * 4)));
  // Right at the limit, or long.
  return rng.chance(0.5) ? "b".repeat(maxLength) : randomBytes(rng, rng.size(typical * 4, maxLength));
}

export function encodeMultibulk(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${arg.length}\r\n${arg}\r\n`;
  return out;
}

/** A plain inline token: no white space, quotes or NUL (\v and \f inside, never first). */
function plainTokenAllowed(arg: string): boolean {
  if (arg.length === 0) return false;
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i);
    if (c === 0 || c === 34 || c === 39 || c === 32 || c === 9 || c === 10 || c === 13) return false;
    if ((c === 11 || c === 12) && i === 0) return false;
  }
  return true;
}

function doubleQuoted(rng: Rng, arg: string): string {
  let out = '"';
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i);
    if (c === 34) out += '\\"';
    else if (c === 92) out += "\\\\";
    else if (c === 10 && rng.chance(0.5)) out += "\\n";
    else if (c === 13 && rng.chance(0.5)) out += "\\r";
    else if (c === 9 && rng.chance(0.5)) out += "\\t";
    else if (c === 8 && rng.chance(0.5)) out += "\\b";
    else if (c === 7 && rng.chance(0.5)) out += "\\a";
    else if (c >= 32 && c < 127) out += arg[i];
    else if (c >= 128 && rng.chance(0.3)) out += arg[i];
    else {
      const hex = c.toString(16).padStart(2, "0");
      out += `\\x${rng.chance(0.5) ? hex : hex.toUpperCase()}`;
    }
  }
  return `${out}"`;
}

function singleQuotedAllowed(arg: string): boolean {
  return !arg.includes("\0") && !arg.includes("\n") && !arg.endsWith("\\");
}

function singleQuoted(arg: string): string {
  return `'${arg.replace(/'/g, "\\'")}'`;
}

/** An inline line for `args`, or null when it cannot be written as one within the limits. */
function inlineLine(rng: Rng, args: readonly string[], limits: ReaderLimits): string | null {
  if (args.length === 0 || args.length > limits.argumentsMax) return null;
  const tokens: string[] = [];
  for (const arg of args) {
    const choices: string[] = [];
    if (plainTokenAllowed(arg)) choices.push("plain", "plain");
    if (singleQuotedAllowed(arg)) choices.push("single");
    choices.push("double");
    const choice = rng.pick(choices);
    tokens.push(choice === "plain" ? arg : choice === "single" ? singleQuoted(arg) : doubleQuoted(rng, arg));
  }
  const separator = (): string => rng.pick([" ", " ", "\t", "  ", " \t "]);
  let line = rng.chance(0.15) ? rng.pick([" ", "\t", "\x0b", "\x0c", "  "]) : "";
  line += tokens.map((token, i) => (i === 0 ? token : separator() + token)).join("");
  if (rng.chance(0.15)) line += rng.pick([" ", "\t", "  "]);
  if (line.startsWith("*")) line = ` ${line}`;
  const terminator = rng.chance(0.8) ? "\r\n" : "\n";
  if (line.length + terminator.length - 1 > limits.inlineBytesMax) return null;
  return line + terminator;
}

function commandArgs(rng: Rng, options: GenerateOptions): string[] {
  const limits = options.limits;
  const typical = options.argumentBytesTypical ?? 12;
  const vocabulary = options.vocabulary;
  if (vocabulary !== undefined && vocabulary.length > 0 && rng.chance(0.8)) return [...rng.pick(vocabulary)];
  const manyMax = Math.min(limits.argumentsMax, 64);
  const count = rng.chance(0.9) ? rng.int(1, Math.min(6, limits.argumentsMax)) : rng.int(1, manyMax);
  const bulkMax = Math.min(limits.bulkBytesMax, options.argumentBytesMax ?? 512);
  return Array.from({ length: count }, () => argumentBytes(rng, bulkMax, typical));
}

function emptyElement(rng: Rng, limits: ReaderLimits): Element {
  const frames = ["*0\r\n", "*-1\r\n", `*-${rng.int(1, 99999)}\r\n`];
  // Blank lines are inline lines: within the inline limit (counted without the "\n") only.
  const lines = ["\r\n", "\n", " \t \r\n", "\x0b\r\n", "\0garbage after a NUL\r\n"].filter((line) => line.length - 1 <= limits.inlineBytesMax);
  return { text: rng.pick([...frames, ...lines]), command: null };
}

/** An inline line with a NUL: the C string ends there, so only the arguments before it count. */
function nulLineElement(rng: Rng, options: GenerateOptions): Element | null {
  const args = Array.from({ length: rng.int(1, Math.min(3, options.limits.argumentsMax)) }, () => printableText(rng, rng.int(1, 6)).replace(/["'*]/g, "x"));
  let tail = "";
  for (let i = rng.int(0, 8); i > 0; i--) {
    const c = rng.below(256);
    if (c !== 10) tail += String.fromCharCode(c);
  }
  const line = `${args.join(" ")}\0${tail}\r\n`;
  if (line.length - 1 > options.limits.inlineBytesMax) return null;
  return { text: line, command: { args, raw: line, inline: true } };
}

/** One element of a valid stream. */
export function validElement(rng: Rng, options: GenerateOptions): Element {
  const roll = rng.below(20);
  if (roll === 0) return emptyElement(rng, options.limits);
  if (roll === 1) {
    const element = nulLineElement(rng, options);
    if (element !== null) return element;
  }
  const args = commandArgs(rng, options);
  if (roll < 7) {
    const line = inlineLine(rng, args, options.limits);
    if (line !== null) return { text: line, command: { args, raw: line, inline: true } };
  }
  const text = encodeMultibulk(args);
  return { text, command: { args, raw: text, inline: false } };
}

export function validStream(rng: Rng, options: GenerateOptions, elementsMax = 8): Element[] {
  return Array.from({ length: rng.int(0, elementsMax) }, () => validElement(rng, options));
}

/** The commands of the elements that lie wholly within the first `cut` bytes, and where they end. */
export function intendedPrefix(elements: readonly Element[], cut: number): { commands: RefCommand[]; consumed: number } {
  const commands: RefCommand[] = [];
  let at = 0;
  for (const element of elements) {
    if (at + element.text.length > cut) break;
    at += element.text.length;
    if (element.command !== null) commands.push(element.command);
  }
  return { commands, consumed: at };
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** Values to put where a length belongs. */
function lengthReplacement(rng: Rng, actual: number, limits: ReaderLimits, isCount: boolean): string {
  const limit = isCount ? limits.argumentsMax : limits.bulkBytesMax;
  return rng.pick([
    () => "-1",
    () => `-${rng.int(2, 1000)}`,
    () => "-0",
    () => "0",
    () => "00",
    () => `0${actual}`,
    () => `00${rng.int(1, 9)}`,
    () => String(limit),
    () => String(limit + 1),
    () => String(limit + rng.int(2, 1_000_000)),
    () => "2147483647",
    () => "2147483648",
    () => "4294967296",
    () => "9007199254740993",
    () => "9223372036854775807",
    () => "9223372036854775808",
    () => "18446744073709551616",
    () => "999999999999999999",
    () => "1000000000000000000",
    () => "99999999999999999999",
    () => "9".repeat(rng.int(19, 40)),
    () => "",
    () => ` ${actual}`,
    () => `${actual} `,
    () => `+${actual}`,
    () => `0x${actual.toString(16)}`,
    () => `${actual}e0`,
    () => `${actual}.0`,
    () => "-",
    () => "--1",
    () => `${actual}-`,
    () => `\0${actual}`,
    () => `${actual}\0`,
    () => String(Math.max(0, actual - 1)),
    () => String(actual + 1),
    () => String(actual + rng.int(2, 64)),
    () => String(actual * 2 + 1),
    () => String(rng.int(0, 3 * limit)),
    () => randomBytes(rng, rng.int(1, 4)),
  ])();
}

interface Header {
  /** Where the digits start and end (the `\r\n` follows). */
  readonly start: number;
  readonly end: number;
  readonly isCount: boolean;
  readonly value: number;
}

/** The length headers of a multibulk element's text. */
function headersOf(text: string): Header[] {
  const headers: Header[] = [];
  if (!text.startsWith("*")) return headers;
  // Earlier mutations may have broken the element: stop at the first header that is not sound.
  let end = text.indexOf("\r\n");
  if (end < 0) return headers;
  const count = Number(text.slice(1, end));
  if (!Number.isSafeInteger(count)) return headers;
  headers.push({ start: 1, end, isCount: true, value: count });
  let p = end + 2;
  for (let k = 0; k < count && p < text.length && text[p] === "$"; k++) {
    end = text.indexOf("\r\n", p);
    if (end < 0) break;
    const length = Number(text.slice(p + 1, end));
    if (!Number.isSafeInteger(length) || length < 0) break;
    headers.push({ start: p + 1, end, isCount: false, value: length });
    p = end + 2 + length + 2;
  }
  return headers;
}

/** The offsets of the `\r\n` pairs that are protocol framing (not argument bytes) in an element. */
function framingCrlfs(text: string): number[] {
  if (!text.startsWith("*")) {
    const at = text.lastIndexOf("\n");
    return at > 0 && text[at - 1] === "\r" ? [at - 1] : [];
  }
  const out: number[] = [];
  for (const header of headersOf(text)) {
    out.push(header.end);
    if (!header.isCount) out.push(header.end + 2 + header.value);
  }
  return out;
}

const markerReplacements = ["+", "-", ":", "$", "*", "_", ",", "#", "%", "~", ">", "!", "=", "(", "|", " ", "\0", "\r", "\n", "x", "9"];

const insertions = [
  "\0",
  "\0\0\0\0",
  "\r\n",
  "\r",
  "\n",
  "*",
  "$",
  "*1\r\n",
  "*2\r\n$3\r\n",
  "$-1\r\n",
  "*-1\r\n",
  "*1048577\r\n",
  "*1048576\r\n",
  "$536870913\r\n",
  "$536870912\r\n",
  "*99999999999999999999\r\n",
  '"',
  "'",
  "\\",
  "\\x4",
  '"unterminated',
  "+OK\r\n",
  "-ERR x\r\n",
  ":1\r\n",
];

export interface Mutated {
  readonly text: string;
  /** What was done, for failure messages and the per-kind counts. */
  readonly kinds: string[];
  /** When the only change was a truncation: the intended commands of the prefix are known. */
  readonly truncatedAt: number | null;
}

/** Applies one to three protocol-aware mutations to a valid stream. */
export function mutateStream(rng: Rng, elements: readonly Element[], limits: ReaderLimits): Mutated {
  const texts = elements.map((element) => element.text);
  const kinds: string[] = [];
  const rounds = rng.chance(0.6) ? 1 : rng.int(2, 3);
  let truncatedAt: number | null = null;
  let structural = false;
  for (let round = 0; round < rounds; round++) {
    const joined = texts.join("");
    const op = rng.below(12);
    const multibulkIndexes = op <= 3 ? texts.map((text, i) => (text.startsWith("*") && headersOf(text).length > 0 ? i : -1)).filter((i) => i >= 0) : [];
    if (op === 0 || (op <= 2 && multibulkIndexes.length === 0)) {
      // Truncation; alone, it keeps the oracle exact.
      const cut = rng.int(0, joined.length);
      texts.splice(0, texts.length, joined.slice(0, cut));
      if (!structural) truncatedAt = cut;
      kinds.push("truncate");
      continue;
    }
    structural = true;
    truncatedAt = null;
    if (op <= 2) {
      const i = rng.pick(multibulkIndexes);
      const text = texts[i] ?? "";
      const header = rng.pick(headersOf(text));
      const replacement = lengthReplacement(rng, header.value, limits, header.isCount);
      texts[i] = text.slice(0, header.start) + replacement + text.slice(header.end);
      kinds.push(header.isCount ? "count" : "bulk-length");
    } else if (op === 3 && multibulkIndexes.length > 0) {
      const i = rng.pick(multibulkIndexes);
      const text = texts[i] ?? "";
      const headers = headersOf(text);
      const header = rng.pick(headers);
      const markerAt = header.start - 1;
      texts[i] = text.slice(0, markerAt) + rng.pick(markerReplacements) + text.slice(markerAt + 1);
      kinds.push(header.isCount ? "marker-star" : "marker-dollar");
    } else if (op === 4) {
      const candidates = texts.map((text, i) => ({ i, crlfs: framingCrlfs(text) })).filter((entry) => entry.crlfs.length > 0);
      if (candidates.length === 0) {
        kinds.push("noop");
        continue;
      }
      const { i, crlfs } = rng.pick(candidates);
      const text = texts[i] ?? "";
      const at = rng.pick(crlfs);
      const replacement = rng.pick(["", "\r", "\n", "\n\r", "\r\r\n", " \r\n", "\r \n", "\r\0\n", "\r\n\r\n"]);
      texts[i] = text.slice(0, at) + replacement + text.slice(at + 2);
      kinds.push("crlf");
    } else {
      const bytes = joined;
      let out = bytes;
      const at = rng.int(0, bytes.length);
      switch (op) {
        case 5: {
          const length = rng.size(4, Math.max(0, bytes.length - at));
          out = bytes.slice(0, at) + bytes.slice(at + length);
          kinds.push("delete");
          break;
        }
        case 6: {
          const length = rng.size(8, Math.max(0, bytes.length - at));
          const times = rng.chance(0.8) ? 1 : rng.int(2, 50);
          out = bytes.slice(0, at + length) + bytes.slice(at, at + length).repeat(times) + bytes.slice(at + length);
          kinds.push("duplicate");
          break;
        }
        case 7: {
          if (bytes.length >= 2) {
            const first = rng.below(bytes.length);
            const second = rng.below(bytes.length);
            const a = Math.min(first, second);
            const b = Math.max(first, second);
            if (a !== b) out = bytes.slice(0, a) + bytes.charAt(b) + bytes.slice(a + 1, b) + bytes.charAt(a) + bytes.slice(b + 1);
          }
          kinds.push("swap");
          break;
        }
        case 8: {
          if (bytes.length > 0) {
            const where = rng.below(bytes.length);
            const value = rng.chance(0.5) ? rng.pick(protocolBytes).charAt(0) : String.fromCharCode(rng.below(256));
            out = bytes.slice(0, where) + value + bytes.slice(where + 1);
          }
          kinds.push("overwrite");
          break;
        }
        case 9:
          out = bytes.slice(0, at) + rng.pick(insertions) + bytes.slice(at);
          kinds.push("insert-token");
          break;
        case 10:
          out = bytes.slice(0, at) + "\0".repeat(rng.int(1, 16)) + bytes.slice(at);
          kinds.push("insert-nul");
          break;
        default:
          out = bytes + (rng.chance(0.5) ? randomBytes(rng, rng.int(1, 64)) : tokenSoup(rng, rng.int(1, 20)));
          kinds.push("append-garbage");
          break;
      }
      texts.splice(0, texts.length, out);
    }
  }
  return { text: texts.join(""), kinds, truncatedAt };
}

const soupTokens = [
  "*", "$", "\r\n", "\r", "\n", "0", "1", "2", "3", "-", "-1", "00", "99999999999999999999", " ", "\t", '"', "'", "\\",
  "\\x", "\\x4", "\\x41", "x", "a", "\0", "\xff", "+", ":", "*1\r\n", "$1\r\n", "PING", "SET",
];

/** Protocol tokens in random order. */
export function tokenSoup(rng: Rng, count: number): string {
  let out = "";
  for (let i = 0; i < count; i++) out += rng.pick(soupTokens);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cases for the reader

export interface FuzzCase {
  readonly family: string;
  readonly input: string;
  readonly limits: ReaderLimits;
  /** The intended commands and consumed bytes, when the input is valid or a truncated valid stream. */
  readonly intended: { readonly commands: RefCommand[]; readonly consumed: number } | null;
  /**
   * For inputs that end inside a bulk whose declared end lies past `queryBufferBytesMax` from its
   * frame's start: true when the reader must refuse the frame as soon as the header arrives,
   * false when it must wait. Undefined otherwise.
   */
  readonly queryBufferRefusal?: boolean;
}

const unlimitedQueryBuffer = 1024 * 1024 * 1024;

/** Limits for a case: the defaults, or small ones that random inputs reach. */
function caseLimits(rng: Rng, defaults: ReaderLimits): ReaderLimits {
  const roll = rng.below(10);
  if (roll < 3) return defaults;
  const small: ReaderLimits = {
    bulkBytesMax: rng.pick([0, 1, 2, 8, 40, 64, 300]),
    argumentsMax: rng.pick([1, 2, 3, 6, 8, 40]),
    inlineBytesMax: rng.pick([0, 1, 8, 20, 48, 80, 300]),
    queryBufferBytesMax: unlimitedQueryBuffer,
  };
  // Some cases also cap the query buffer: the reference cannot predict where (it depends on the
  // chunks), so those cases check the weaker rule described in `checkAgainstReference`.
  if (roll === 9) return { ...small, queryBufferBytesMax: rng.pick([1, 16, 64, 100, 500, 2000]) };
  return small;
}

/**
 * Inputs right at the limits, one step either side: inline lines of inlineBytesMax - 1 to + 2
 * bytes (with and without their "\r"), bulks of bulkBytesMax and one more, frames and lines of
 * argumentsMax arguments and one more. Small limits, so that the sizes stay cheap.
 */
function boundaryCase(rng: Rng): FuzzCase {
  const limits: ReaderLimits = {
    bulkBytesMax: rng.int(0, 64),
    argumentsMax: rng.int(1, 12),
    inlineBytesMax: rng.int(4, 96),
    queryBufferBytesMax: unlimitedQueryBuffer,
  };
  const step = rng.int(-1, 2);
  const prefix = rng.chance(0.5) ? encodeMultibulk(["PING"]) : "";
  let text: string;
  switch (rng.below(4)) {
    case 0: {
      // "E xxxx" with its "\r" counted: the line (without "\n") is inlineBytesMax + step long.
      const crlf = rng.chance(0.5);
      const length = Math.max(2, limits.inlineBytesMax + step);
      text = `E ${"x".repeat(Math.max(0, length - 2 - (crlf ? 1 : 0)))}${crlf ? "\r\n" : "\n"}`;
      break;
    }
    case 1:
      text = encodeMultibulk(["SET", "k", "v".repeat(Math.max(0, limits.bulkBytesMax + Math.min(step, 1)))]);
      break;
    case 2:
      text = encodeMultibulk(Array.from({ length: Math.max(1, limits.argumentsMax + Math.min(step, 1)) }, (_, i) => `a${i}`));
      break;
    default:
      text = `${Array.from({ length: Math.max(1, limits.argumentsMax + Math.min(step, 1)) }, (_, i) => `a${i}`).join(" ")}\r\n`;
      break;
  }
  // Whether it is accepted or refused is the reference's to say; the intended commands are not
  // known here (a step past a limit is an error), so the case is checked against the reference.
  return { family: "boundary", input: prefix + text + (rng.chance(0.5) ? encodeMultibulk(["GET", "after"]) : ""), limits, intended: null };
}

/**
 * A frame cut inside its last bulk, declared to end just within, at, or just past the query
 * buffer limit counted from the frame's `*`: refused on its header when past, else waited for.
 */
function queryBufferCase(rng: Rng): FuzzCase {
  const queryBufferBytesMax = rng.int(32, 4096);
  const limits: ReaderLimits = { bulkBytesMax: 1024 * 1024, argumentsMax: 16, inlineBytesMax: 1024, queryBufferBytesMax };
  const before = rng.chance(0.5) ? encodeMultibulk(["PING"]) : "";
  // `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$<n>\r\n` then n bytes: the frame's bulk ends at header + n.
  const target = queryBufferBytesMax + rng.int(-2, 2);
  let length = 0;
  let header = "";
  for (let guess = Math.max(0, target - 30); guess <= target; guess++) {
    header = `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${guess}\r\n`;
    if (header.length + guess >= target) {
      length = guess;
      break;
    }
  }
  const frameEnd = header.length + length;
  // Only part of the value arrives, never the whole frame (nor more bytes than the limit).
  const sent = rng.int(0, Math.max(0, Math.min(length - 1, queryBufferBytesMax - header.length)));
  const input = before + header + "v".repeat(sent);
  return {
    family: "query-buffer-boundary",
    input,
    limits,
    intended: null,
    queryBufferRefusal: frameEnd > queryBufferBytesMax,
  };
}

/** Arguments of tens of kilobytes, so that the reader's own buffer grows past its first size. */
function largeCase(rng: Rng, defaults: ReaderLimits): FuzzCase {
  const limits = rng.chance(0.5) ? defaults : { ...defaults, queryBufferBytesMax: rng.int(16 * 1024, 128 * 1024) };
  const elements: Element[] = [];
  for (let i = rng.int(1, 3); i > 0; i--) {
    const args = ["SET", "k", randomBytes(rng, rng.int(16 * 1024, 48 * 1024))];
    const text = encodeMultibulk(args);
    elements.push({ text, command: { args, raw: text, inline: false } });
    if (rng.chance(0.3)) {
      const line = `ECHO ${"l".repeat(rng.int(1, 40 * 1024))}\r\n`;
      elements.push({ text: line, command: { args: ["ECHO", line.slice(5, -2)], raw: line, inline: true } });
    }
  }
  const input = elements.map((element) => element.text).join("");
  const valid = limits.queryBufferBytesMax >= input.length;
  return { family: "large", input, limits, intended: valid ? intendedPrefix(elements, input.length) : null };
}

/** One fuzz case: valid, truncated, mutated, at the limits, large, random bytes or token soup. */
export function generateCase(rng: Rng, defaults: ReaderLimits): FuzzCase {
  const family = rng.below(200);
  if (family < 10) return boundaryCase(rng);
  if (family < 11) return largeCase(rng, defaults);
  if (family < 14) return queryBufferCase(rng);
  const limits = caseLimits(rng, defaults);
  const options: GenerateOptions = { limits };
  const roll = rng.below(20);
  if (roll < 3) {
    const elements = validStream(rng, options);
    const input = elements.map((element) => element.text).join("");
    return { family: "valid", input, limits, intended: intendedPrefix(elements, input.length) };
  }
  if (roll < 16) {
    const elements = validStream(rng, options);
    const mutated = mutateStream(rng, elements, limits);
    const intended = mutated.truncatedAt === null ? null : intendedPrefix(elements, mutated.truncatedAt);
    return { family: mutated.truncatedAt === null ? `mutated:${mutated.kinds.join("+")}` : "truncated", input: mutated.text, limits, intended };
  }
  if (roll < 18) return { family: "random-bytes", input: randomBytes(rng, rng.size(40, 400)), limits, intended: null };
  return { family: "token-soup", input: tokenSoup(rng, rng.size(20, 120)), limits, intended: null };
}

// ---------------------------------------------------------------------------------------------
// Traffic for a live server

/** Commands the clone knows, on the fuzzer's own keys, and a few it does not. */
export const liveVocabulary: readonly (readonly string[])[] = [
  ["SET", "fz:a", "value"],
  ["SET", "fz:b", "x".repeat(300)],
  ["GET", "fz:a"],
  ["DEL", "fz:a", "fz:b"],
  ["EXISTS", "fz:a", "fz:c"],
  ["INCR", "fz:n"],
  ["INCRBY", "fz:n", "-7"],
  ["APPEND", "fz:c", "tail"],
  ["STRLEN", "fz:c"],
  ["MSET", "fz:d", "1", "fz:e", "2"],
  ["MGET", "fz:d", "fz:e", "fz:f"],
  ["KEYS", "fz:*"],
  ["DBSIZE"],
  ["PING"],
  ["PING", "hello"],
  ["ECHO", "\r\n*1\r\n$4\r\nPING\r\n"],
  ["INFO", "server"],
  ["COMMAND", "COUNT"],
  ["SELECT", "0"],
  ["CLIENT", "SETNAME", "fuzzer"],
  ["CLIENT", "GETNAME"],
  ["CONFIG", "GET", "maxclients"],
  ["MULTI"],
  ["EXEC"],
  ["DISCARD"],
  ["HELLO", "3"],
  ["HELLO", "2"],
  ["AUTH", "nobody", "wrong"],
  ["RAFTLEADER"],
  ["RAFTSTATE"],
  ["RAFTSTATS"],
  ["RAFTMSG", "\x93\x01\x02"],
  ["RAFTAUTH", "0000"],
  ["RAFTHELLO", "2", "finn", "", "fz-node", "nonce", "127.0.0.1:1"],
  ["RAFTSNAP", "t", "chunk", "0", "x"],
  ["NOSUCHCOMMAND", "x"],
  ["GET"],
  ["SET", "fz:only-key"],
];

/**
 * A burst of hostile traffic for a live server: valid commands of the vocabulary and random
 * ones, mutated, or raw garbage. Never names a key outside `fz:` on purpose (a random mutation
 * could, with vanishing odds, and the good client's keys are long random names).
 */
export function liveTraffic(rng: Rng, limits: ReaderLimits): string {
  const options: GenerateOptions = { limits, vocabulary: liveVocabulary, argumentBytesTypical: 16 };
  const roll = rng.below(10);
  const elements = validStream(rng, options, 12);
  if (roll < 2) return elements.map((element) => element.text).join("");
  if (roll < 8) return mutateStream(rng, elements, limits).text;
  if (roll < 9) return randomBytes(rng, rng.size(64, 2048));
  return tokenSoup(rng, rng.size(20, 200));
}
