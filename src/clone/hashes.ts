/**
 * Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL (a map in RESP3), HDEL, HINCRBY, HLEN,
 * HEXISTS, HKEYS, HVALS, HSTRLEN. An emptied hash deletes its key, as in Redis.
 */
import type { Applier, Conn } from "../api.ts";
import { ErrWrongNumberOfArguments } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { addInt64, errHashNotInteger, errNotInteger, integerBytes, parseInt64 } from "./arguments.ts";
import { bytesOf, type CloneCommand } from "./command.ts";
import { HashValue } from "./hash.ts";
import type { Keyspace } from "./keyspace.ts";

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
    spec: spec("hset", -4, "write denyoom fast", [1, 1, 1], "hash", "Creates or modifies the value of a field in a hash.", "key (field value)..."),
    run: (db, applier, conn, command) => setFields(db, applier, conn, command, "count"),
  },
  {
    spec: spec("hmset", -4, "write denyoom fast", [1, 1, 1], "hash", "Sets the values of multiple fields.", "key (field value)..."),
    run: (db, applier, conn, command) => setFields(db, applier, conn, command, "ok"),
  },
  {
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
      );
    },
  },
  {
    spec: spec("hget", 3, "readonly fast", [1, 1, 1], "hash", "Returns the value of a field in a hash.", "key field"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const value = db.lookup<HashValue>(command.key(1), "hash")?.fields.get(command.key(2));
        if (value === undefined) conn?.writeNull();
        else conn?.writeBulk(value);
      });
    },
  },
  {
    spec: spec("hmget", -3, "readonly fast", [1, 1, 1], "hash", "Returns the values of all fields in a hash.", "key field ..."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const hash = db.lookup<HashValue>(command.key(1), "hash");
        conn?.writeArray(command.argCount - 2);
        for (let i = 2; i < command.argCount; i++) {
          const value = hash?.fields.get(command.key(i));
          if (value === undefined) conn?.writeNull();
          else conn?.writeBulk(value);
        }
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
      );
    },
  },
  {
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
          const current = db.lookup<HashValue>(key, "hash")?.fields.get(field);
          const value = current === undefined ? 0 : parseInt64(current);
          if (value === null) throw errHashNotInteger;
          const next = addInt64(value, amount);
          const hash = db.modifyOrCreate<HashValue>(key, "hash", (epoch) => new HashValue(epoch));
          hash.fields.set(field, integerBytes(next));
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
];
