/**
 * String commands: GET, MSET, MGET, INCR, INCRBY, DECR, DECRBY, APPEND, STRLEN (SET and the other
 * commands with expiry times are in expiry.ts). A key of another type answers WRONGTYPE, except
 * where Redis overwrites it (MSET) or skips it (MGET answers null for it). MSET clears a key's TTL
 * as SET does; INCR, APPEND and the like change a value in place and keep it, as in Redis.
 */
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import { spec } from "../server/command-spec.ts";
import { addInt64, errNotInteger, int64Min, integerBytes, parseInt64 } from "./arguments.ts";
import type { CloneCommand } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import type { Applier, Conn } from "../api.ts";
import type { Command } from "../resp/reader.ts";

/** Redis strings are at most 512 MB; APPEND past that fails as in Redis. */
const valueBytesMax = 512 * 1024 * 1024;

function incrementBy(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, amount: number | bigint): void {
  return applier.apply(
    conn,
    command,
    () => {
      // The key is read here, not before: the leader dispatches a command before applying it.
      const key = command.key(1);
      const current = db.lookupString(key);
      const value = current === undefined ? 0 : parseInt64(current);
      if (value === null) throw errNotInteger;
      const next = addInt64(value, amount);
      db.set(key, integerBytes(next), true);
      return next;
    },
    (next) => conn?.writeInt(next),
  );
}

export const stringCommands: readonly CloneCommand[] = [
  {
    spec: spec("get", 2, "readonly fast", [1, 1, 1], "string", "Returns the string value of a key.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const value = db.lookupString(command.key(1));
        if (value === undefined) conn?.writeNull();
        else conn?.writeBulk(value);
      });
    },
  },
  {
    spec: spec("mset", -3, "write denyoom", [1, -1, 2], "string", "Sets the string values of one or more keys.", "(key value:string)..."),
    run(db, applier, conn, command) {
      const count = command.argCount;
      if (count % 2 !== 1) return ErrWrongNumberOfArguments;
      return applier.apply(
        conn,
        command,
        () => {
          for (let i = 1; i < count; i += 2) db.set(command.key(i), command.copyArg(i + 1));
        },
        () => conn?.writeString("OK"),
      );
    },
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
    spec: spec("incr", 2, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by one.", "key"),
    run: (db, applier, conn, command) => incrementBy(db, applier, conn, command, 1),
  },
  {
    spec: spec("decr", 2, "write denyoom fast", [1, 1, 1], "string", "Decrements the integer value of a key by one.", "key"),
    run: (db, applier, conn, command) => incrementBy(db, applier, conn, command, -1),
  },
  {
    spec: spec("incrby", 3, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by a number.", "key increment:integer"),
    run(db, applier, conn, command) {
      const amount = parseInt64(command.arg(2));
      if (amount === null) return errNotInteger;
      return incrementBy(db, applier, conn, command, amount);
    },
  },
  {
    spec: spec("decrby", 3, "write denyoom fast", [1, 1, 1], "string", "Decrements a number from the integer value of a key.", "key decrement:integer"),
    run(db, applier, conn, command) {
      const amount = parseInt64(command.arg(2));
      if (amount === null) return errNotInteger;
      if (amount === int64Min) return new RespError("ERR decrement would overflow");
      return incrementBy(db, applier, conn, command, -amount);
    },
  },
  {
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
          if (length > valueBytesMax) throw new RespError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
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
];
