/**
 * String commands: GET, GETSET, MSET, MSETNX, MGET, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT,
 * APPEND, STRLEN, GETRANGE (and its old name SUBSTR), SETRANGE and LCS (SET and the other
 * commands with expiry times are in expiry.ts). A key of another type answers WRONGTYPE, except
 * where Redis overwrites it (MSET) or skips it (MGET answers null for it). MSET and GETSET clear a
 * key's TTL as SET does; INCR, INCRBYFLOAT, APPEND, SETRANGE and the like change a value in place
 * and keep it, as in Redis.
 *
 * INCRBYFLOAT computes as Redis does, in the x87 80-bit `long double` (64-bit mantissa), emulated
 * exactly with bigints: strtold's reading, the correctly rounded sum, and `%.17Lf` with trailing
 * zeros removed. So `INCRBYFLOAT k 0.1` on "10.5" gives "10.6", and 0.1 + 0.2 gives "0.3", as in
 * Redis; the text replied is the value stored, on every replica alike.
 */
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import { spec } from "../server/command-spec.ts";
import { errNotFloat, errNotInteger, errSyntax, incrementedInteger, int64Min, integerBytes, option, parseInt64, parseLong } from "./arguments.ts";
import { type CloneCommand, type Handler, unchangedZero, writeBulkOrNull } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import type { Applier, Conn } from "../api.ts";
import type { Command } from "../resp/reader.ts";
import { incrementedText, parseLongDouble } from "./long-double.ts";

/** Redis strings are at most 512 MB (proto-max-bulk-len); APPEND and SETRANGE past that fail as in Redis. */
export const valueBytesMax = 512 * 1024 * 1024;
const errTooLong = new RespError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
const empty = new Uint8Array(0);

function incrementBy(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, amount: number | bigint): void {
  return applier.apply(
    conn,
    command,
    () => {
      // The key is read here, not before: the leader dispatches a command before applying it.
      const key = command.key(1);
      const next = incrementedInteger(db.lookupString(key), amount, errNotInteger);
      db.set(key, integerBytes(next), true);
      return next;
    },
    (next) => conn?.writeInt(next),
  );
}

/** MSET, and MSETNX (`onlyNew`: none of the keys may exist, else nothing is set). */
function setMany(onlyNew: boolean): Handler {
  return (db, applier, conn, command) => {
    const count = command.argCount;
    if (count % 2 !== 1) return ErrWrongNumberOfArguments;
    return applier.apply(
      conn,
      command,
      () => {
        if (onlyNew) for (let i = 1; i < count; i += 2) if (db.has(command.key(i))) return 0;
        for (let i = 1; i < count; i += 2) db.set(command.key(i), command.copyArg(i + 1));
        return 1;
      },
      (done) => {
        if (onlyNew) conn?.writeInt(done);
        else conn?.writeString("OK");
      },
      // MSETNX of a key that exists: nothing set.
      onlyNew
        ? () => {
            for (let i = 1; i < count; i += 2) if (db.has(command.key(i))) return unchangedZero;
            return null;
          }
        : null,
    );
  };
}

// GETRANGE and LCS.

/** GETRANGE's slice, as Redis 7.0 cuts it (an end before the string's start reads as 0). */
function range(value: Uint8Array, start: number, end: number): Uint8Array {
  const length = value.length;
  if (start < 0 && end < 0 && start > end) return empty;
  if (start < 0) start += length;
  if (end < 0) end += length;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= length) end = length - 1;
  return start > end || length === 0 ? empty : value.subarray(start, end + 1);
}

interface LcsOptions {
  readonly len: boolean;
  readonly idx: boolean;
  readonly withMatchLen: boolean;
  readonly minMatchLen: number;
}

/** LCS's options after the two keys (answered only after the keys' types, as in Redis). */
function parseLcsOptions(command: Command): LcsOptions | RespError {
  const options = { len: false, idx: false, withMatchLen: false, minMatchLen: 0 };
  for (let i = 3; i < command.argCount; i++) {
    const name = option(command.arg(i));
    if (name === "idx") options.idx = true;
    else if (name === "len") options.len = true;
    else if (name === "withmatchlen") options.withMatchLen = true;
    else if (name === "minmatchlen" && i + 1 < command.argCount) {
      const value = parseLong(command.arg(++i));
      if (value === null) return errNotInteger;
      options.minMatchLen = Math.max(0, value);
    } else return errSyntax;
  }
  if (options.len && options.idx) return new RespError("ERR If you want both the length and indexes, please just use IDX.");
  return options;
}

/** A key's string for LCS: "" when missing; another type is refused with LCS's own error. */
function lcsOperand(db: Keyspace, key: string): Uint8Array {
  const value = db.get(key);
  if (value === undefined) return empty;
  if (value instanceof Uint8Array) return value;
  throw new RespError("ERR The specified keys must contain string values");
}

/** A match of LCS IDX: where it is in the first string and in the second (inclusive). */
type LcsMatch = readonly [aStart: number, aEnd: number, bStart: number, bEnd: number];

/**
 * The longest common subsequence of `a` and `b` as Redis's `lcsCommand` finds it (the same table
 * and the same walk back, so the same subsequence and the same matches, last first): its length,
 * and unless `lengthOnly` the subsequence and the matches at least `minMatchLen` long.
 */
function longestCommonSubsequence(a: Uint8Array, b: Uint8Array, lengthOnly: boolean, minMatchLen: number): { length: number; text: Uint8Array; matches: LcsMatch[] } {
  if ((a.length + 1) * (b.length + 1) * 4 > valueBytesMax) {
    throw new RespError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
  }
  const width = b.length + 1;
  const table = new Uint32Array((a.length + 1) * width);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const at = i * width + j;
      table[at] = a[i - 1] === b[j - 1] ? (table[at - width - 1] as number) + 1 : Math.max(table[at - width] as number, table[at - 1] as number);
    }
  }
  const length = table[a.length * width + b.length] as number;
  const matches: LcsMatch[] = [];
  if (lengthOnly) return { length, text: empty, matches };
  const text = new Uint8Array(length);
  // A match being extended backwards; `aStart === a.length` when there is none.
  let aStart = a.length;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  let left = length;
  let i = a.length;
  let j = b.length;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      text[--left] = a[i - 1] as number;
      if (aStart === a.length) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else {
        emit = true;
      }
      // The match reached the start of a string: the walk ends now.
      if (aStart === 0 || bStart === 0) emit = true;
      i--;
      j--;
    } else {
      if ((table[(i - 1) * width + j] as number) > (table[i * width + j - 1] as number)) i--;
      else j--;
      if (aStart !== a.length) emit = true;
    }
    if (emit) {
      if (minMatchLen === 0 || aEnd - aStart + 1 >= minMatchLen) matches.push([aStart, aEnd, bStart, bEnd]);
      aStart = a.length;
    }
  }
  return { length, text, matches };
}

/** LCS IDX's reply: a map of the matches and the length. */
function writeLcsMatches(conn: Conn, matches: readonly LcsMatch[], length: number, withMatchLen: boolean): void {
  conn.writeMap(2);
  conn.writeBulk("matches");
  conn.writeArray(matches.length);
  for (const [aStart, aEnd, bStart, bEnd] of matches) {
    conn.writeArray(withMatchLen ? 3 : 2);
    conn.writeArray(2);
    conn.writeInt(aStart);
    conn.writeInt(aEnd);
    conn.writeArray(2);
    conn.writeInt(bStart);
    conn.writeInt(bEnd);
    if (withMatchLen) conn.writeInt(aEnd - aStart + 1);
  }
  conn.writeBulk("len");
  conn.writeInt(length);
}

/** GETRANGE and SUBSTR. */
function getRange(name: string, summary: string): CloneCommand {
  return {
    spec: spec(name, 4, "readonly", [1, 1, 1], "string", summary, "key start:integer end:integer"),
    run(db, applier, conn, command) {
      const start = parseLong(command.arg(2));
      const end = parseLong(command.arg(3));
      if (start === null || end === null) return errNotInteger;
      return applier.apply(conn, command, null, () => conn?.writeBulk(range(db.lookupString(command.key(1)) ?? empty, start, end)));
    },
  };
}

export const stringCommands: readonly CloneCommand[] = [
  {
    spec: spec("get", 2, "readonly fast", [1, 1, 1], "string", "Returns the string value of a key.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => writeBulkOrNull(conn, db.lookupString(command.key(1))));
    },
  },
  {
    reusable: true,
    spec: spec("getset", 3, "write denyoom fast", [1, 1, 1], "string", "Returns the previous string value of a key after setting it to a new value.", "key value"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const old = db.lookupString(key);
          db.set(key, command.copyArg(2));
          return old;
        },
        (old) => writeBulkOrNull(conn, old),
      );
    },
  },
  {
    reusable: true,
    spec: spec("mset", -3, "write denyoom", [1, -1, 2], "string", "Sets the string values of one or more keys.", "(key value:string)..."),
    run: setMany(false),
  },
  {
    spec: spec("msetnx", -3, "write denyoom", [1, -1, 2], "string", "Sets the string values of one or more keys only when all keys don't exist.", "(key value:string)..."),
    run: setMany(true),
  },
  {
    spec: spec("mget", -2, "readonly fast", [1, -1, 1], "string", "Returns the values of one or more keys.", "key ..."),
    run(db, applier, conn, command) {
      const count = command.argCount;
      return applier.apply(conn, command, null, () => {
        conn?.writeArray(count - 1);
        for (let i = 1; i < count; i++) {
          const value = db.get(command.key(i));
          if (value instanceof Uint8Array) conn?.writeBulk(value);
          else conn?.writeNull();
        }
      });
    },
  },
  {
    reusable: true,
    spec: spec("incr", 2, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by one.", "key"),
    run: (db, applier, conn, command) => incrementBy(db, applier, conn, command, 1),
  },
  {
    reusable: true,
    spec: spec("decr", 2, "write denyoom fast", [1, 1, 1], "string", "Decrements the integer value of a key by one.", "key"),
    run: (db, applier, conn, command) => incrementBy(db, applier, conn, command, -1),
  },
  {
    reusable: true,
    spec: spec("incrby", 3, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by a number.", "key increment:integer"),
    run(db, applier, conn, command) {
      const amount = parseInt64(command.arg(2));
      if (amount === null) return errNotInteger;
      return incrementBy(db, applier, conn, command, amount);
    },
  },
  {
    reusable: true,
    spec: spec("decrby", 3, "write denyoom fast", [1, 1, 1], "string", "Decrements a number from the integer value of a key.", "key decrement:integer"),
    run(db, applier, conn, command) {
      const amount = parseInt64(command.arg(2));
      if (amount === null) return errNotInteger;
      if (amount === int64Min) return new RespError("ERR decrement would overflow");
      return incrementBy(db, applier, conn, command, -amount);
    },
  },
  {
    spec: spec("incrbyfloat", 3, "write denyoom fast", [1, 1, 1], "string", "Increment the floating point value of a key by a number.", "key increment:double"),
    run(db, applier, conn, command) {
      const increment = parseLongDouble(command.arg(2));
      if (increment === null) {
        // As in Redis, the key's type is answered for first: the command changes nothing, so it
        // is answered as a read, never logged.
        return applier.apply(conn, command, null, () => {
          db.lookupString(command.key(1));
          throw errNotFloat;
        });
      }
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const next = incrementedText(db.lookupString(key), increment, errNotFloat);
          db.set(key, next, true);
          return next;
        },
        (next) => conn?.writeBulk(next),
      );
    },
  },
  {
    reusable: true,
    spec: spec("append", 3, "write denyoom fast", [1, 1, 1], "string", "Appends a string to the value of a key.", "key value"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const addition = command.arg(2);
          const current = db.lookupString(key);
          const length = (current?.length ?? 0) + addition.length;
          if (length > valueBytesMax) throw errTooLong;
          const next = new Uint8Array(length);
          if (current !== undefined) next.set(current, 0);
          next.set(addition, current?.length ?? 0);
          db.set(key, next, true);
          return length;
        },
        (length) => conn?.writeInt(length),
      );
    },
  },
  {
    spec: spec("strlen", 2, "readonly fast", [1, 1, 1], "string", "Returns the length of a string value.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookupString(command.key(1))?.length ?? 0));
    },
  },
  {
    spec: spec("setrange", 4, "write denyoom", [1, 1, 1], "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset:integer value"),
    run(db, applier, conn, command) {
      const offset = parseLong(command.arg(2));
      if (offset === null) return errNotInteger;
      if (offset < 0) return new RespError("ERR offset is out of range");
      const length = command.arg(3).length;
      if (length === 0 || offset + length > valueBytesMax) {
        // Nothing to write, or too long (refused after the key's type, as in Redis): a read.
        return applier.apply(conn, command, null, () => {
          const current = db.lookupString(command.key(1));
          if (length > 0) throw errTooLong;
          conn?.writeInt(current?.length ?? 0);
        });
      }
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const current = db.lookupString(key) ?? empty;
          // Zero bytes pad the string up to the offset.
          const next = new Uint8Array(Math.max(current.length, offset + length));
          next.set(current, 0);
          next.set(command.arg(3), offset);
          db.set(key, next, true);
          return next.length;
        },
        (total) => conn?.writeInt(total),
      );
    },
  },
  getRange("getrange", "Returns a substring of the string stored at a key."),
  getRange("substr", "Returns a substring from a string value."),
  {
    spec: spec(
      "lcs",
      -3,
      "readonly",
      [1, 2, 1],
      "string",
      "Finds the longest common substring.",
      "key1:key key2:key [LEN] [IDX] [MINMATCHLEN min-match-len:integer] [WITHMATCHLEN]",
    ),
    run(db, applier, conn, command) {
      const options = parseLcsOptions(command);
      return applier.apply(conn, command, null, () => {
        const a = lcsOperand(db, command.key(1));
        const b = lcsOperand(db, command.key(2));
        if (options instanceof RespError) throw options;
        const found = longestCommonSubsequence(a, b, options.len, options.minMatchLen);
        if (conn === null) return;
        if (options.idx) writeLcsMatches(conn, found.matches, found.length, options.withMatchLen);
        else if (options.len) conn.writeInt(found.length);
        else conn.writeBulk(found.text);
      });
    },
  },
];
