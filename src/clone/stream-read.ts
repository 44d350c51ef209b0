/**
 * XREAD [COUNT count] [BLOCK milliseconds] STREAMS key... id..., with Redis 7.0.15's replies and
 * errors: for each stream that has entries after its id, `[key, entries]` (a map in RESP3), in
 * the order of the keys (a key given twice is answered twice); a null array when none has.
 *
 * Without BLOCK it is a read. With BLOCK it goes through the log as BLPOP does (see `Blocked` in
 * api.ts): its `mutate` answers what is there, or waits for a write to one of its streams. Two
 * things a retry must not do as the first run did, and that its arguments say instead (`block`'s
 * `retryArgs`): read `$` again (the stream's last id when the command first ran, not at each
 * retry, which would miss the entry that woke it), and read without a COUNT (Redis serves a
 * client that waited at most 1000 entries when it gave none). Every replica computes the same
 * rewrite in `mutate`, and each retry carries explicit ids in the log.
 */
import { block, Blocked, type Applier, type Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { latin1, type Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errNotInteger, errSyntax, option, parseInteger } from "./arguments.ts";
import { bytesOf, type CloneCommand, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { assert } from "../assert.ts";
import { compareIds, errInvalidStreamId, formatId, parseStreamId, type StreamEntry, type StreamId, type StreamValue, uint64Max, zeroId } from "./stream.ts";
import { writeEntry } from "./streams.ts";

const errUnbalanced = new RespError("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
const errMissingGroup = new RespError("ERR Missing GROUP option for XREADGROUP");
const errGroupDollar = new RespError(
  "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
);
const errGroup = new RespError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
const errNoAck = new RespError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
const errGreaterId = new RespError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
const errTimeoutNotInteger = new RespError("ERR timeout is not an integer or out of range");
const errTimeoutNegative = new RespError("ERR timeout is negative");
/** The most entries a client that waited is served per stream when it gave no COUNT (Redis's XREAD_BLOCKED_DEFAULT_COUNT). */
const blockedCountDefault = 1000;

/** XREAD's (and XREADGROUP's) arguments, as far as they depend on nothing but themselves. */
export interface ReadArguments {
  /** COUNT: 0 for every entry (COUNT 0 and a negative COUNT mean that too, as in Redis). */
  count: number;
  /** BLOCK's milliseconds (0: for ever); null without BLOCK. */
  timeout: number | null;
  /** Where the keys start (the ids follow them), and how many streams there are. */
  keysAt: number;
  streams: number;
  /**
   * Each stream's id: an id, `$` (XREAD), `>` (XREADGROUP: new entries; the largest id reads as
   * that too, as in Redis), or the error its text is, answered in its turn (after the types of the
   * keys before it).
   */
  ids: (StreamId | "$" | ">" | RespError)[];
  /** Some id is an error: the command answers an error whatever the state, and never waits. */
  failing: boolean;
  /** Some id is `$`. */
  dollar: boolean;
  /** XREADGROUP's GROUP group consumer (argument positions), and NOACK. */
  groupAt: number;
  noAck: boolean;
}

/** The options, in Redis's order (`xreadCommand`): the first bad one answers. */
export function parseRead(command: Command, xreadgroup = false): ReadArguments | RespError {
  let count = 0;
  let groupAt = 0;
  let noAck = false;
  let timeout: number | null = null;
  let keysAt = 0;
  for (let i = 1; i < command.argCount; i++) {
    const more = command.argCount - i - 1;
    const name = option(command.arg(i));
    if (name === "block" && more > 0) {
      const value = parseInteger(command.arg(++i));
      if (value === null) return errTimeoutNotInteger;
      if (value < 0n) return errTimeoutNegative;
      // Past 2^53 it waits for ever all the same (Redis's own deadline overflows there).
      timeout = Number(value);
    } else if (name === "count" && more > 0) {
      const value = parseInteger(command.arg(++i));
      if (value === null) return errNotInteger;
      count = value < 0n ? 0 : Number(value);
    } else if (name === "streams" && more > 0) {
      keysAt = i + 1;
      if ((command.argCount - keysAt) % 2 !== 0) return errUnbalanced; // XREADGROUP's too, in Redis 7.0
      break;
    } else if (name === "group" && more >= 2) {
      if (!xreadgroup) return errGroup;
      groupAt = i + 1;
      i += 2;
    } else if (name === "noack") {
      if (!xreadgroup) return errNoAck;
      noAck = true;
    } else {
      return errSyntax;
    }
  }
  if (keysAt === 0) return errSyntax;
  if (xreadgroup && groupAt === 0) return errMissingGroup;
  const streams = (command.argCount - keysAt) / 2;
  const parsed: ReadArguments = { count, timeout, keysAt, streams, ids: [], failing: false, dollar: false, groupAt, noAck };
  for (let i = keysAt + streams; i < command.argCount; i++) {
    const text = latin1(command.arg(i));
    if (xreadgroup) {
      const id = text === "$" ? errGroupDollar : text === ">" ? ">" : parseStreamId(text, 0n, { minMax: false, autoSeq: false });
      if (id === null || id instanceof RespError || (id !== ">" && id.seq === null)) {
        parsed.ids.push(id instanceof RespError ? id : errInvalidStreamId);
        parsed.failing = true;
      } else if (id === ">" || (id.ms === uint64Max && id.seq === uint64Max)) parsed.ids.push(">");
      else parsed.ids.push({ ms: id.ms, seq: id.seq as bigint });
      continue;
    }
    if (text === "$") {
      parsed.ids.push("$");
      parsed.dollar = true;
      continue;
    }
    const id = text === ">" ? null : parseStreamId(text, 0n, { minMax: false, autoSeq: false });
    if (id === null || id.seq === null) {
      parsed.ids.push(text === ">" ? errGreaterId : errInvalidStreamId);
      parsed.failing = true;
    } else parsed.ids.push({ ms: id.ms, seq: id.seq });
  }
  return parsed;
}

/** The streams (undefined when missing) and the id to read after in each, checked as Redis does: key i's type, then id i. */
function resolve(db: Keyspace, command: Command, parsed: ReadArguments): { streams: (StreamValue | undefined)[]; after: StreamId[] } {
  const streams: (StreamValue | undefined)[] = [];
  const after: StreamId[] = [];
  for (let i = 0; i < parsed.streams; i++) {
    const stream = db.lookup<StreamValue>(command.key(parsed.keysAt + i), "stream");
    const id = parsed.ids[i] ?? zeroId;
    if (id instanceof RespError) throw id;
    assert(id !== ">", "XREAD has no > ids");
    streams.push(stream);
    after.push(id === "$" ? (stream?.lastId ?? zeroId) : id);
  }
  return { streams, after };
}

/** Where the entries after `after` start in `stream`, or -1 when it has none (Redis compares with its last entry's id). */
function firstAfter(stream: StreamValue | undefined, after: StreamId): number {
  if (stream === undefined || stream.size === 0 || compareIds(stream.at(stream.size - 1).id, after) <= 0) return -1;
  return stream.upperBound(after);
}

/** How many entries from `from` a read answers. */
function taken(stream: StreamValue, from: number, count: number): number {
  const available = stream.size - from;
  return count > 0 ? Math.min(count, available) : available;
}

/** The reply's head: n pairs of key and entries, a map in RESP3. */
function writeHead(conn: Conn, streams: number): void {
  if (conn.protocol === 3) conn.writeMap(streams);
  else conn.writeArray(streams);
}

/** XREAD without BLOCK (or with an id that answers an error anyway): a read, written as it goes. */
function readNow(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, parsed: ReadArguments): void {
  return applier.apply(conn, command, null, () => {
    const { streams, after } = resolve(db, command, parsed);
    if (conn === null) return;
    let served = 0;
    for (let i = 0; i < parsed.streams; i++) if (firstAfter(streams[i], after[i] ?? zeroId) >= 0) served++;
    if (served === 0) {
      writeNullArray(conn);
      return;
    }
    writeHead(conn, served);
    for (let i = 0; i < parsed.streams; i++) {
      const stream = streams[i];
      const from = firstAfter(stream, after[i] ?? zeroId);
      if (stream === undefined || from < 0) continue;
      if (conn.protocol !== 3) conn.writeArray(2);
      conn.writeBulk(command.arg(parsed.keysAt + i));
      const take = taken(stream, from, parsed.count);
      conn.writeArray(take);
      for (let k = 0; k < take; k++) writeEntry(conn, stream.at(from + k));
    }
  });
}

/** An entry a read answers, or (XREADGROUP) a pending id whose entry was deleted, answered `[id, null]`. */
export type ReadEntry = StreamEntry | { readonly id: StreamId; readonly fields: null };

/** What a blocking XREAD (or an XREADGROUP) served: each stream with entries, and them. */
export interface Served {
  readonly key: string;
  readonly entries: readonly ReadEntry[];
}

/** Writes what was served: `[key, entries]` per stream (a map in RESP3). */
export function writeServed(conn: Conn, served: readonly Served[]): void {
  writeHead(conn, served.length);
  for (const { key, entries } of served) {
    if (conn.protocol !== 3) conn.writeArray(2);
    conn.writeBulk(bytesOf(key));
    conn.writeArray(entries.length);
    for (const entry of entries) {
      if (entry.fields !== null) {
        writeEntry(conn, entry);
        continue;
      }
      conn.writeArray(2);
      conn.writeBulk(formatId(entry.id));
      writeNullArray(conn);
    }
  }
}

/**
 * The command a waiting XREAD's retries propose: `$` replaced by the ids it stood for, and a COUNT
 * of 1000 when it gave none (see the file's comment). Null when it would be the command itself.
 */
function retryArgs(command: Command, parsed: ReadArguments, after: readonly StreamId[]): (Uint8Array | string)[] | null {
  if (!parsed.dollar && parsed.count > 0) return null;
  const args: (Uint8Array | string)[] = ["XREAD", "COUNT", String(parsed.count > 0 ? parsed.count : blockedCountDefault), "BLOCK", String(parsed.timeout ?? 0), "STREAMS"];
  for (let i = 0; i < parsed.streams; i++) args.push(command.copyArg(parsed.keysAt + i));
  for (const id of after) args.push(formatId(id));
  return args;
}

/** XREAD with BLOCK: through the log, served at once or waiting (a null array at its timeout, and in MULTI). */
function readOrWait(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, parsed: ReadArguments, timeout: number): void {
  return applier.apply(
    conn,
    command,
    (): Served[] | Blocked => {
      const { streams, after } = resolve(db, command, parsed);
      const served: Served[] = [];
      for (let i = 0; i < parsed.streams; i++) {
        const stream = streams[i];
        const from = firstAfter(stream, after[i] ?? zeroId);
        if (stream === undefined || from < 0) continue;
        const entries: StreamEntry[] = [];
        const take = taken(stream, from, parsed.count);
        // Entries are never changed in place: the reply may hold them.
        for (let k = 0; k < take; k++) entries.push(stream.at(from + k));
        served.push({ key: command.key(parsed.keysAt + i), entries });
      }
      if (served.length > 0) return served;
      const keys: string[] = [];
      for (let i = 0; i < parsed.streams; i++) keys.push(command.key(parsed.keysAt + i));
      const retry = retryArgs(command, parsed, after);
      return retry === null ? block(keys, timeout) : block(keys, timeout, retry);
    },
    (result) => {
      if (conn === null) return;
      if (result instanceof Blocked) writeNullArray(conn);
      else writeServed(conn, result);
    },
  );
}

export const streamReadCommands: readonly CloneCommand[] = [
  {
    // The keys follow STREAMS: no fixed positions (a WATCH is not concerned: XREAD writes nothing).
    spec: spec(
      "xread",
      -4,
      "readonly blocking movablekeys",
      [0, 0, 0],
      "stream",
      "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
      "[COUNT count:integer] [BLOCK milliseconds:integer] STREAMS (key... id:string...)",
    ),
    run(db, applier, conn, command) {
      const parsed = parseRead(command);
      if (parsed instanceof RespError) return parsed;
      // An id that is an error answers one whatever the state (WRONGTYPE, or that error): a read.
      if (parsed.timeout === null || parsed.failing) return readNow(db, applier, conn, command, parsed);
      return readOrWait(db, applier, conn, command, parsed, parsed.timeout);
    },
  },
];
