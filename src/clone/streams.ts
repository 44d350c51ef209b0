/**
 * A minimal set of stream commands: XADD (explicit ids, `ms-*`, `*`, NOMKSTREAM, MAXLEN/MINID with
 * `=` or `~` and LIMIT), XLEN, XRANGE and XREVRANGE (with `(` exclusive bounds and COUNT).
 *
 * `*` takes its milliseconds from `replicatedTime()` inside `mutate`: the time the leader stamped
 * on the log entry, the same on every replica, so every replica makes the same id. Approximate
 * trimming (`~`) trims whole blocks of 100 entries (Redis trims whole radix-tree nodes, by default
 * up to 100 entries each), so at least the asked-for entries remain, as Redis promises.
 */
import type { Applier, Conn } from "../api.ts";
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import { latin1, type Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errSyntax, option, parseInteger } from "./arguments.ts";
import type { CloneCommand } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { compareIds, errInvalidStreamId, formatId, parseStreamId, type StreamId, StreamValue, uint64Max } from "./stream.ts";

const errIdTooSmall = new RespError("ERR The ID specified in XADD is equal or smaller than the target stream top item");
const errIdZero = new RespError("ERR The ID specified in XADD must be greater than 0-0");
const errExhausted = new RespError("ERR The stream has exhausted the last possible ID, unable to add more items");
/** Entries per block for approximate trimming, and the default LIMIT (Redis: 100 * node size). */
const approximateBlock = 100;
const approximateLimitDefault = 100 * approximateBlock;

interface Trim {
  strategy: "maxlen" | "minid";
  approximate: boolean;
  maxLength: number;
  minId: StreamId;
  /** Most entries one approximate trim removes; 0 for no bound. */
  limit: number;
}

interface AddArguments {
  noMakeStream: boolean;
  trim: Trim | null;
  /** null for `*`; seq null for `ms-*`. */
  id: { ms: bigint; seq: bigint | null } | null;
  /** Where the field/value pairs start. */
  fieldsAt: number;
}

function parseAdd(command: Command): AddArguments | Error {
  const parsed: AddArguments = { noMakeStream: false, trim: null, id: null, fieldsAt: 0 };
  let limit: number | null = null;
  let i = 2;
  for (; i < command.argCount; i++) {
    const more = command.argCount - 1 - i;
    const text = latin1(command.arg(i));
    const name = option(command.arg(i));
    if (text === "*") break;
    if ((name === "maxlen" || name === "minid") && more > 0) {
      if (parsed.trim !== null) return new RespError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
      const trim: Trim = { strategy: name, approximate: false, maxLength: 0, minId: { ms: 0n, seq: 0n }, limit: 0 };
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
    } else if (name === "nomkstream") {
      parsed.noMakeStream = true;
    } else {
      const id = parseStreamId(text, 0n, { minMax: false, autoSeq: true });
      if (id === null) return errInvalidStreamId;
      parsed.id = id;
      break;
    }
  }
  if (limit !== null && parsed.trim === null) return new RespError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
  if (parsed.trim !== null) {
    if (limit !== null && !parsed.trim.approximate) return new RespError("ERR syntax error, LIMIT cannot be used without the special ~ option");
    parsed.trim.limit = parsed.trim.approximate ? (limit ?? approximateLimitDefault) : 0;
  }
  parsed.fieldsAt = i + 1;
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

function trim(stream: StreamValue, how: Trim): void {
  let excess: number;
  if (how.strategy === "maxlen") {
    excess = Math.max(0, stream.size - how.maxLength);
  } else {
    excess = stream.lowerBound(how.minId);
  }
  if (how.approximate) {
    excess -= excess % approximateBlock;
    if (how.limit > 0) excess = Math.min(excess, how.limit - (how.limit % approximateBlock));
  }
  if (excess > 0) stream.trimFront(excess);
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
      conn.writeRaw(nullArray(conn));
      return;
    }
    const from = stream.lowerBound(startId);
    let to = stream.lowerBound(endId);
    if (to < stream.size && compareIds(stream.at(to).id, endId) === 0) to++;
    const inRange = Math.max(0, to - from);
    const take = count > 0 ? Math.min(count, inRange) : inRange;
    conn.writeArray(take);
    for (let k = 0; k < take; k++) {
      const entry = stream.at(reverse ? to - 1 - k : from + k);
      conn.writeArray(2);
      conn.writeBulk(formatId(entry.id));
      conn.writeArray(entry.fields.length);
      for (const field of entry.fields) conn.writeBulk(field);
    }
  });
}

const encoder = new TextEncoder();
function nullArray(conn: Conn): Uint8Array {
  return encoder.encode(conn.protocol === 3 ? "_\r\n" : "*-1\r\n");
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
];

function append(stream: StreamValue, id: StreamId, command: Command, parsed: AddArguments): string {
  const fields: Uint8Array[] = [];
  for (let i = parsed.fieldsAt; i < command.argCount; i++) fields.push(command.copyArg(i));
  stream.append({ id, fields });
  if (parsed.trim !== null) trim(stream, parsed.trim);
  return formatId(id);
}
