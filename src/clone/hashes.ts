/**
 * Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL (a map in RESP3), HDEL, HINCRBY,
 * HINCRBYFLOAT, HLEN, HEXISTS, HKEYS, HVALS, HSTRLEN, HSCAN (cursor, MATCH, COUNT; the cursor is
 * SSCAN's, see scan.ts) and HRANDFIELD (with a count, WITHVALUES). An emptied hash deletes its key,
 * as in Redis. HRANDFIELD only reads and uses this node's own randomness, as SRANDMEMBER does.
 *
 * HINCRBYFLOAT computes as Redis does on x86-64, in x87 long doubles (64-bit mantissas), emulated
 * exactly with bigints (see long-double.ts), and stores the text it replies (`%.17Lf`
 * without its trailing zeros), so every replica stores the same bytes.
 */
import type { Applier, Conn } from "../api.ts";
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errHashNotInteger, errNotFloat, errNotInteger, incrementedInteger, integerBytes, parseInt64 } from "./arguments.ts";
import { bytesOf, type CloneCommand, unchangedZero, writeBulkOrNull } from "./command.ts";
import { incrementedText, parseLongDouble } from "./long-double.ts";
import { HashValue } from "./hash.ts";
import type { Keyspace } from "./keyspace.ts";
import { parseRandomCount, randomPicks } from "./random-count.ts";
import { scanCommand, scanStep } from "./scan.ts";

const errNaNOrInfinity = new RespError("ERR value is NaN or Infinity");
const errHashNotFloat = new RespError("ERR hash value is not a float");

/** A random field of a non-empty hash (this node's randomness: reads only). */
function randomField(hash: HashValue): string {
  let skip = Math.floor(Math.random() * hash.size);
  for (const field of hash.fields.keys()) if (skip-- === 0) return field;
  throw new Error("randomField on an empty hash");
}

/** HSET and HMSET: the same work, a different reply. */
function setFields(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, reply: "count" | "ok"): void | Error {
  if (command.argCount % 2 !== 0) return ErrWrongNumberOfArguments;
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      const hash = db.modifyOrCreate<HashValue>(key, "hash", (epoch) => new HashValue(epoch));
      const before = hash.size;
      for (let i = 2; i < command.argCount; i += 2) hash.fields.set(command.key(i), command.copyArg(i + 1));
      return hash.size - before;
    },
    (added) => {
      if (reply === "ok") conn?.writeString("OK");
      else conn?.writeInt(added);
    },
  );
}

export const hashCommands: readonly CloneCommand[] = [
  {
    reusable: true,
    spec: spec("hset", -4, "write denyoom fast", [1, 1, 1], "hash", "Creates or modifies the value of a field in a hash.", "key (field value)..."),
    run: (db, applier, conn, command) => setFields(db, applier, conn, command, "count"),
  },
  {
    reusable: true,
    spec: spec("hmset", -4, "write denyoom fast", [1, 1, 1], "hash", "Sets the values of multiple fields.", "key (field value)..."),
    run: (db, applier, conn, command) => setFields(db, applier, conn, command, "ok"),
  },
  {
    reusable: true,
    spec: spec("hsetnx", 4, "write denyoom fast", [1, 1, 1], "hash", "Sets the value of a field in a hash only when the field doesn't exist.", "key field value"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const hash = db.modifyOrCreate<HashValue>(key, "hash", (epoch) => new HashValue(epoch));
          const field = command.key(2);
          if (hash.fields.has(field)) return 0;
          hash.fields.set(field, command.copyArg(3));
          return 1;
        },
        (added) => conn?.writeInt(added),
        () => (db.lookup<HashValue>(command.key(1), "hash")?.fields.has(command.key(2)) === true ? unchangedZero : null),
      );
    },
  },
  {
    spec: spec("hget", 3, "readonly fast", [1, 1, 1], "hash", "Returns the value of a field in a hash.", "key field"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => writeBulkOrNull(conn, db.lookup<HashValue>(command.key(1), "hash")?.fields.get(command.key(2))));
    },
  },
  {
    spec: spec("hmget", -3, "readonly fast", [1, 1, 1], "hash", "Returns the values of all fields in a hash.", "key field ..."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        conn?.writeArray(command.argCount - 2);
        for (let i = 2; i < command.argCount; i++) writeBulkOrNull(conn, hash?.fields.get(command.key(i)));
      });
    },
  },
  {
    spec: spec("hgetall", 2, "readonly", [1, 1, 1], "hash", "Returns all fields and values in a hash.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        if (conn === null) return;
        conn.writeMap(hash?.size ?? 0);
        if (hash === undefined) return;
        for (const [field, value] of hash.fields) {
          conn.writeBulk(bytesOf(field));
          conn.writeBulk(value);
        }
      });
    },
  },
  {
    reusable: true,
    spec: spec("hdel", -3, "write fast", [1, 1, 1], "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "key field ..."),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const hash = db.modify<HashValue>(key, "hash");
          if (hash === undefined) return 0;
          let removed = 0;
          for (let i = 2; i < command.argCount; i++) if (hash.fields.delete(command.key(i))) removed++;
          db.deleteIfEmpty(key, hash);
          return removed;
        },
        (removed) => conn?.writeInt(removed),
        () => {
          // No field there: nothing to delete.
          const hash = db.lookup<HashValue>(command.key(1), "hash");
          if (hash !== undefined) for (let i = 2; i < command.argCount; i++) if (hash.fields.has(command.key(i))) return null;
          return unchangedZero;
        },
      );
    },
  },
  {
    reusable: true,
    spec: spec("hincrby", 4, "write denyoom fast", [1, 1, 1], "hash", "Increments the integer value of a field in a hash by a number.", "key field increment:integer"),
    run(db, applier, conn, command) {
      const amount = parseInt64(command.arg(3));
      if (amount === null) return errNotInteger;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const field = command.key(2);
          const next = incrementedInteger(db.lookup<HashValue>(key, "hash")?.fields.get(field), amount, errHashNotInteger);
          db.modifyOrCreate<HashValue>(key, "hash", (epoch) => new HashValue(epoch)).fields.set(field, integerBytes(next));
          return next;
        },
        (next) => conn?.writeInt(next),
      );
    },
  },
  {
    spec: spec("hlen", 2, "readonly fast", [1, 1, 1], "hash", "Returns the number of fields in a hash.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookup<HashValue>(command.key(1), "hash")?.size ?? 0));
    },
  },
  {
    spec: spec("hexists", 3, "readonly fast", [1, 1, 1], "hash", "Determines whether a field exists in a hash.", "key field"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () =>
        conn?.writeInt(db.lookup<HashValue>(command.key(1), "hash")?.fields.has(command.key(2)) === true ? 1 : 0),
      );
    },
  },
  {
    spec: spec("hkeys", 2, "readonly", [1, 1, 1], "hash", "Returns all fields in a hash.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        conn?.writeArray(hash?.size ?? 0);
        if (hash !== undefined) for (const field of hash.fields.keys()) conn?.writeBulk(bytesOf(field));
      });
    },
  },
  {
    spec: spec("hvals", 2, "readonly", [1, 1, 1], "hash", "Returns all values in a hash.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        conn?.writeArray(hash?.size ?? 0);
        if (hash !== undefined) for (const value of hash.fields.values()) conn?.writeBulk(value);
      });
    },
  },
  {
    spec: spec("hstrlen", 3, "readonly fast", [1, 1, 1], "hash", "Returns the length of the value of a field.", "key field"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () =>
        conn?.writeInt(db.lookup<HashValue>(command.key(1), "hash")?.fields.get(command.key(2))?.length ?? 0),
      );
    },
  },
  {
    spec: spec("hincrbyfloat", 4, "write denyoom fast", [1, 1, 1], "hash", "Increments the floating point value of a field by a number.", "key field increment:double"),
    run(db, applier, conn, command) {
      const increment = parseLongDouble(command.arg(3));
      if (increment === null) return errNotFloat;
      if (increment === "infinite") return errNaNOrInfinity;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const field = command.key(2);
          const text = incrementedText(db.lookup<HashValue>(key, "hash")?.fields.get(field), increment, errHashNotFloat);
          db.modifyOrCreate<HashValue>(key, "hash", (epoch) => new HashValue(epoch)).fields.set(field, text);
          return text;
        },
        (text) => conn?.writeBulk(text),
      );
    },
  },
  {
    spec: spec("hscan", -3, "readonly", [1, 1, 1], "hash", "Iterates over fields and values of a hash.", "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]"),
    run: scanCommand(
      (db, key) => db.lookup<HashValue>(key, "hash"),
      (hash, cursor, options, items) =>
        scanStep(hash.fields.keys(), hash.size, cursor, options, (field) => items.push(bytesOf(field), hash.fields.get(field) as Uint8Array)),
    ),
  },
  {
    spec: spec("hrandfield", -2, "readonly", [1, 1, 1], "hash", "Returns one or more random fields from a hash.", "key [count:integer [WITHVALUES]]"),
    run(db, applier, conn, command) {
      if (command.argCount === 2) {
        return applier.apply(conn, command, null, () => {
          const hash = db.lookup<HashValue>(command.key(1), "hash");
          if (hash === undefined) conn?.writeNull();
          else conn?.writeBulk(bytesOf(randomField(hash)));
        });
      }
      const parsed = parseRandomCount(command, "withvalues");
      if (parsed instanceof RespError) return parsed;
      const { count, withPairs: withValues } = parsed;
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        if (conn === null) return;
        // A negative count allows repeats.
        const fields = hash === undefined ? [] : randomPicks(Array.from(hash.fields.keys()), Math.abs(count), count >= 0);
        // WITHVALUES: a flat array in RESP2, [field, value] pairs in RESP3, as in Redis 7.
        const pairs = withValues && conn.protocol === 3;
        conn.writeArray(withValues && !pairs ? 2 * fields.length : fields.length);
        for (const field of fields) {
          if (pairs) conn.writeArray(2);
          conn.writeBulk(bytesOf(field));
          if (withValues) conn.writeBulk(hash?.fields.get(field) as Uint8Array);
        }
      });
    },
  },
];
