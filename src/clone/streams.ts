/**
 * A minimal set of stream commands: XADD (explicit ids, `ms-*`, `*`, NOMKSTREAM, MAXLEN/MINID with
 * `=` or `~` and LIMIT), XLEN, XRANGE and XREVRANGE (with `(` exclusive bounds and COUNT), XDEL,
 * and XTRIM (XADD's trimming on its own: one parser and one trim for both). XREAD is in
 * stream-read.ts.
 *
 * `*` takes its milliseconds from `replicatedTime()` inside `mutate`: the time the leader stamped
 * on the log entry, the same on every replica, so every replica makes the same id. Approximate
 * trimming (`~`) removes whole radix-tree nodes as Redis does (their layout is kept in
 * `StreamValue`), so at least the asked-for entries remain, as Redis promises.
 */
import type { Applier, Conn } from "../api.ts";
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import { latin1, type Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errSyntax, option, parseInteger } from "./arguments.ts";
import { type CloneCommand, unchangedNull, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import {
  compareIds,
  errInvalidStreamId,
  formatId,
  nodeEntriesMax,
  parseStreamId,
  type StreamEntry,
  type StreamId,
  type StreamTrim,
  StreamValue,
  uint64Max,
} from "./stream.ts";

const errIdTooSmall = new RespError("ERR The ID specified in XADD is equal or smaller than the target stream top item");
const errIdZero = new RespError("ERR The ID specified in XADD must be greater than 0-0");
const errExhausted = new RespError("ERR The stream has exhausted the last possible ID, unable to add more items");
/** Approximate trimming's LIMIT when none is given (Redis: 100 * stream-node-max-entries). */
const approximateLimitDefault = 100 * nodeEntriesMax;

interface AddArguments {
  noMakeStream: boolean;
  trim: StreamTrim | null;
  /** null for `*`; seq null for `ms-*`. */
  id: { ms: bigint; seq: bigint | null } | null;
  /** Where the field/value pairs start. */
  fieldsAt: number;
}

/**
 * XADD's options and id (`xadd`), or XTRIM's options, as Redis's `streamParseAddOrTrimArgsOrReply`
 * reads them, checks in its order. `at` is where XADD's id (or `*`) is.
 */
function parseAddOrTrim(command: Command, xadd: boolean): { noMakeStream: boolean; trim: StreamTrim | null; id: AddArguments["id"]; at: number } | Error {
  const parsed = { noMakeStream: false, trim: null as StreamTrim | null, id: null as AddArguments["id"], at: 0 };
  let limit: number | null = null;
  let i = 2;
  for (; i < command.argCount; i++) {
    const more = command.argCount - 1 - i;
    const text = latin1(command.arg(i));
    const name = option(command.arg(i));
    if (xadd && text === "*") break;
    if ((name === "maxlen" || name === "minid") && more > 0) {
      if (parsed.trim !== null) return new RespError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
      const trim: StreamTrim = { strategy: name, approximate: false, maxLength: 0, minId: { ms: 0n, seq: 0n }, limit: 0 };
      const next = latin1(command.arg(i + 1));
      if (more >= 2 && (next === "~" || next === "=")) {
        trim.approximate = next === "~";
        i++;
      }
      if (name === "maxlen") {
        const length = parseInteger(command.arg(i + 1));
        if (length === null) return new RespError("ERR value is not an integer or out of range");
        if (length < 0n) return new RespError("ERR The MAXLEN argument must be >= 0.");
        trim.maxLength = Number(length);
      } else {
        const id = parseStreamId(latin1(command.arg(i + 1)), 0n, { minMax: false, autoSeq: false });
        if (id === null || id.seq === null) return errInvalidStreamId;
        trim.minId = { ms: id.ms, seq: id.seq };
      }
      i++;
      parsed.trim = trim;
    } else if (name === "limit" && more > 0) {
      const value = parseInteger(command.arg(i + 1));
      if (value === null) return new RespError("ERR value is not an integer or out of range");
      if (value < 0n) return new RespError("ERR The LIMIT argument must be >= 0.");
      limit = Number(value);
      i++;
    } else if (xadd && name === "nomkstream") {
      parsed.noMakeStream = true;
    } else if (xadd) {
      const id = parseStreamId(text, 0n, { minMax: false, autoSeq: true });
      if (id === null) return errInvalidStreamId;
      parsed.id = id;
      break;
    } else {
      return errSyntax;
    }
  }
  // As Redis: LIMIT 0 (no limit) alone is refused by the next checks, with their texts.
  if (limit !== null && limit > 0 && parsed.trim === null) return new RespError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
  if (!xadd && parsed.trim === null) return new RespError("ERR syntax error, XTRIM must be called with a trimming strategy");
  if (limit !== null && parsed.trim?.approximate !== true) return new RespError("ERR syntax error, LIMIT cannot be used without the special ~ option");
  if (parsed.trim !== null) parsed.trim.limit = parsed.trim.approximate ? (limit ?? approximateLimitDefault) : 0;
  parsed.at = i;
  return parsed;
}

function parseAdd(command: Command): AddArguments | Error {
  const options = parseAddOrTrim(command, true);
  if (options instanceof Error) return options;
  const parsed: AddArguments = { noMakeStream: options.noMakeStream, trim: options.trim, id: options.id, fieldsAt: options.at + 1 };
  const pairs = command.argCount - parsed.fieldsAt;
  if (pairs < 2 || pairs % 2 === 1) return ErrWrongNumberOfArguments;
  if (parsed.id !== null && parsed.id.seq === 0n && parsed.id.ms === 0n) return errIdZero;
  return parsed;
}

/** The id XADD gives a new entry, or an error when it would not be above the stream's last one. */
function nextId(stream: StreamValue, wanted: AddArguments["id"]): StreamId {
  const last = stream.lastId;
  if (last.ms === uint64Max && last.seq === uint64Max) throw errExhausted;
  if (wanted === null) {
    const now = BigInt(replicatedTime());
    if (now > last.ms) return { ms: now, seq: 0n };
    return last.seq === uint64Max ? { ms: last.ms + 1n, seq: 0n } : { ms: last.ms, seq: last.seq + 1n };
  }
  if (wanted.seq === null) {
    if (wanted.ms > last.ms) return { ms: wanted.ms, seq: 0n };
    if (wanted.ms === last.ms && last.seq !== uint64Max) return { ms: last.ms, seq: last.seq + 1n };
    throw errIdTooSmall;
  }
  const id = { ms: wanted.ms, seq: wanted.seq };
  if (compareIds(id, last) <= 0) throw errIdTooSmall;
  return id;
}

/** An entry as XRANGE and XREAD answer it: `[id, [field, value...]]`. */
export function writeEntry(conn: Conn, entry: StreamEntry): void {
  conn.writeArray(2);
  conn.writeBulk(formatId(entry.id));
  conn.writeArray(entry.fields.length);
  for (const field of entry.fields) conn.writeBulk(field);
}

/** XRANGE and XREVRANGE. */
function range(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, reverse: boolean): void | Error {
  const startText = latin1(command.arg(reverse ? 3 : 2));
  const endText = latin1(command.arg(reverse ? 2 : 3));
  const bound = (text: string, missingSeq: bigint): { id: StreamId; exclusive: boolean } | null => {
    const exclusive = text.length > 1 && text.startsWith("(");
    const parsed = exclusive
      ? parseStreamId(text.slice(1), missingSeq, { minMax: false, autoSeq: false })
      : parseStreamId(text, missingSeq, { minMax: true, autoSeq: false });
    return parsed === null || parsed.seq === null ? null : { id: { ms: parsed.ms, seq: parsed.seq }, exclusive };
  };
  const start = bound(startText, 0n);
  if (start === null) return errInvalidStreamId;
  let startId = start.id;
  if (start.exclusive) {
    if (startId.ms === uint64Max && startId.seq === uint64Max) return new RespError("ERR invalid start ID for the interval");
    startId = startId.seq === uint64Max ? { ms: startId.ms + 1n, seq: 0n } : { ms: startId.ms, seq: startId.seq + 1n };
  }
  const end = bound(endText, uint64Max);
  if (end === null) return errInvalidStreamId;
  let endId = end.id;
  if (end.exclusive) {
    if (endId.ms === 0n && endId.seq === 0n) return new RespError("ERR invalid end ID for the interval");
    endId = endId.seq === 0n ? { ms: endId.ms - 1n, seq: uint64Max } : { ms: endId.ms, seq: endId.seq - 1n };
  }
  let count = -1;
  for (let j = 4; j < command.argCount; j++) {
    if (option(command.arg(j)) === "count" && j + 1 < command.argCount) {
      const value = parseInteger(command.arg(j + 1));
      if (value === null) return new RespError("ERR value is not an integer or out of range");
      count = value < 0n ? 0 : Number(value);
      j++;
    } else {
      return errSyntax;
    }
  }
  return applier.apply(conn, command, null, () => {
    const stream = db.lookup<StreamValue>(command.key(1), "stream");
    if (conn === null) return;
    if (stream === undefined) {
      conn.writeArray(0);
      return;
    }
    if (count === 0) {
      writeNullArray(conn);
      return;
    }
    const from = stream.lowerBound(startId);
    let to = stream.lowerBound(endId);
    if (to < stream.size && compareIds(stream.at(to).id, endId) === 0) to++;
    const inRange = Math.max(0, to - from);
    const take = count > 0 ? Math.min(count, inRange) : inRange;
    conn.writeArray(take);
    for (let k = 0; k < take; k++) writeEntry(conn, stream.at(reverse ? to - 1 - k : from + k));
  });
}

export const streamCommands: readonly CloneCommand[] = [
  {
    spec: spec(
      "xadd",
      -5,
      "write denyoom fast",
      [1, 1, 1],
      "stream",
      "Appends a new message to a stream. Creates the key if it doesn't exist.",
      "key [NOMKSTREAM] [(MAXLEN|MINID [=|~] threshold:string [LIMIT count:integer])] id:string (field value)...",
    ),
    run(db, applier, conn, command) {
      const parsed = parseAdd(command);
      if (parsed instanceof Error) return parsed;
      return applier.apply(
        conn,
        command,
        (): string | null => {
          const key = command.key(1);
          let stream = db.modify<StreamValue>(key, "stream");
          if (stream === undefined) {
            if (parsed.noMakeStream) return null;
            // The id is checked before the stream is made, so a failure leaves no empty key.
            const id = nextId(new StreamValue(0), parsed.id);
            stream = new StreamValue(db.epoch);
            db.set(key, stream);
            return append(stream, id, command, parsed);
          }
          return append(stream, nextId(stream, parsed.id), command, parsed);
        },
        (id) => {
          if (id === null) conn?.writeNull();
          else conn?.writeBulk(id);
        },
        // NOMKSTREAM of a missing stream: nothing added.
        parsed.noMakeStream ? () => (db.lookup<StreamValue>(command.key(1), "stream") === undefined ? unchangedNull : null) : null,
      );
    },
  },
  {
    spec: spec("xlen", 2, "readonly fast", [1, 1, 1], "stream", "Return the number of messages in a stream.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookup<StreamValue>(command.key(1), "stream")?.size ?? 0));
    },
  },
  {
    spec: spec("xrange", -4, "readonly", [1, 1, 1], "stream", "Returns the messages from a stream within a range of IDs.", "key start:string end:string [COUNT count:integer]"),
    run: (db, applier, conn, command) => range(db, applier, conn, command, false),
  },
  {
    spec: spec("xrevrange", -4, "readonly", [1, 1, 1], "stream", "Returns the messages from a stream within a range of IDs in reverse order.", "key end:string start:string [COUNT count:integer]"),
    run: (db, applier, conn, command) => range(db, applier, conn, command, true),
  },
  {
    spec: spec(
      "xdel",
      -3,
      "write fast",
      [1, 1, 1],
      "stream",
      "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
      "key id:string...",
    ),
    run(db, applier, conn, command) {
      const ids: StreamId[] = [];
      for (let i = 2; i < command.argCount; i++) {
        const id = parseStreamId(latin1(command.arg(i)), 0n, { minMax: false, autoSeq: false });
        if (id === null || id.seq === null) {
          // Redis answers 0 for a missing key, WRONGTYPE, or this error, and deletes nothing:
          // answered as a read, it never reaches the log.
          return applier.apply(conn, command, null, () => {
            if (db.lookup<StreamValue>(command.key(1), "stream") !== undefined) throw errInvalidStreamId;
            conn?.writeInt(0);
          });
        }
        ids.push({ ms: id.ms, seq: id.seq });
      }
      return applier.apply(
        conn,
        command,
        () => {
          // An emptied stream stays, as in Redis.
          const stream = db.modify<StreamValue>(command.key(1), "stream");
          let deleted = 0;
          if (stream !== undefined) for (const id of ids) if (stream.delete(id)) deleted++;
          return deleted;
        },
        (deleted) => conn?.writeInt(deleted),
      );
    },
  },
  {
    spec: spec(
      "xtrim",
      -4,
      "write",
      [1, 1, 1],
      "stream",
      "Trims the stream to (approximately if '~' is passed) a certain size",
      "key (MAXLEN|MINID [=|~] threshold:string [LIMIT count:integer])",
    ),
    run(db, applier, conn, command) {
      const parsed = parseAddOrTrim(command, false);
      if (parsed instanceof Error) return parsed;
      const how = parsed.trim as StreamTrim;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const current = db.lookup<StreamValue>(key, "stream");
          // Copied (if a snapshot holds it) only when something goes; an emptied stream stays.
          if (current === undefined || current.trim(how, true) === 0) return 0;
          return (db.modify<StreamValue>(key, "stream") as StreamValue).trim(how);
        },
        (count) => conn?.writeInt(count),
      );
    },
  },
];

function append(stream: StreamValue, id: StreamId, command: Command, parsed: AddArguments): string {
  const fields: Uint8Array[] = [];
  for (let i = parsed.fieldsAt; i < command.argCount; i++) fields.push(command.copyArg(i));
  stream.append({ id, fields });
  if (parsed.trim !== null) stream.trim(parsed.trim);
  return formatId(id);
}
