/**
 * List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with an optional count), LRANGE, LLEN,
 * LINDEX, LSET, LTRIM, LREM. An emptied list deletes its key, as in Redis.
 */
import type { Applier, Conn } from "../api.ts";
import { ErrWrongNumberOfArguments } from "../errors.ts";
import { spec } from "../server/command-spec.ts";
import type { Command } from "../resp/reader.ts";
import { clampRange, errIndexOutOfRange, errNoSuchKey, errNotInteger, parseLong, parsePositiveCount } from "./arguments.ts";
import { type CloneCommand, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { ListValue } from "./list.ts";

function push(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, front: boolean, onlyIfExists: boolean): void {
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      let list = db.modify<ListValue>(key, "list");
      if (list === undefined) {
        if (onlyIfExists) return 0;
        list = new ListValue(db.epoch, command.argCount - 2);
        db.set(key, list);
      }
      for (let i = 2; i < command.argCount; i++) {
        if (front) list.pushFront(command.copyArg(i));
        else list.pushBack(command.copyArg(i));
      }
      return list.size;
    },
    (length) => conn?.writeInt(length),
  );
}

function pop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, front: boolean): void | Error {
  if (command.argCount > 3) return ErrWrongNumberOfArguments;
  const count = command.argCount === 3 ? parsePositiveCount(command.arg(2)) : null;
  return applier.apply(
    conn,
    command,
    (): Uint8Array | Uint8Array[] | null => {
      const key = command.key(1);
      const list = db.modify<ListValue>(key, "list");
      if (list === undefined) return null;
      if (count === null) {
        const value = (front ? list.popFront() : list.popBack()) as Uint8Array;
        db.deleteIfEmpty(key, list);
        return value;
      }
      const popped: Uint8Array[] = [];
      for (let i = 0; i < count && list.size > 0; i++) popped.push((front ? list.popFront() : list.popBack()) as Uint8Array);
      db.deleteIfEmpty(key, list);
      return popped;
    },
    (popped) => {
      if (conn === null) return;
      if (popped === null) {
        if (count === null) conn.writeNull();
        else writeNullArray(conn);
      } else if (popped instanceof Uint8Array) {
        conn.writeBulk(popped);
      } else {
        conn.writeArray(popped.length);
        for (const value of popped) conn.writeBulk(value);
      }
    },
  );
}

export const listCommands: readonly CloneCommand[] = [
  {
    spec: spec("lpush", -3, "write denyoom fast", [1, 1, 1], "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, true, false),
  },
  {
    spec: spec("rpush", -3, "write denyoom fast", [1, 1, 1], "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, false, false),
  },
  {
    spec: spec("lpushx", -3, "write denyoom fast", [1, 1, 1], "list", "Prepends one or more elements to a list only when the list exists.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, true, true),
  },
  {
    spec: spec("rpushx", -3, "write denyoom fast", [1, 1, 1], "list", "Appends an element to a list only when the list exists.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, false, true),
  },
  {
    spec: spec("lpop", -2, "write fast", [1, 1, 1], "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, true),
  },
  {
    spec: spec("rpop", -2, "write fast", [1, 1, 1], "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, false),
  },
  {
    spec: spec("lrange", 4, "readonly", [1, 1, 1], "list", "Returns a range of elements from a list.", "key start:integer stop:integer"),
    run(db, applier, conn, command) {
      const start = parseLong(command.arg(2));
      const stop = parseLong(command.arg(3));
      if (start === null || stop === null) return errNotInteger;
      return applier.apply(conn, command, null, () => {
        const list = db.lookup<ListValue>(command.key(1), "list");
        if (conn === null) return;
        const range = list === undefined ? null : clampRange(start, stop, list.size);
        if (list === undefined || range === null) {
          conn.writeArray(0);
          return;
        }
        conn.writeArray(range[1] - range[0] + 1);
        for (let i = range[0]; i <= range[1]; i++) conn.writeBulk(list.at(i));
      });
    },
  },
  {
    spec: spec("llen", 2, "readonly fast", [1, 1, 1], "list", "Returns the length of a list.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookup<ListValue>(command.key(1), "list")?.size ?? 0));
    },
  },
  {
    spec: spec("lindex", 3, "readonly", [1, 1, 1], "list", "Returns an element from a list by its index.", "key index:integer"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        // As Redis: the key and its type first, then the index.
        const list = db.lookup<ListValue>(command.key(1), "list");
        if (list === undefined) {
          conn?.writeNull();
          return;
        }
        let index = parseLong(command.arg(2));
        if (index === null) throw errNotInteger;
        if (index < 0) index += list.size;
        if (index < 0 || index >= list.size) conn?.writeNull();
        else conn?.writeBulk(list.at(index));
      });
    },
  },
  {
    spec: spec("lset", 4, "write denyoom", [1, 1, 1], "list", "Sets the value of an element in a list by its index.", "key index:integer element"),
    run(db, applier, conn, command) {
      const index = parseLong(command.arg(2));
      if (index === null) {
        // Refused without the log, answered as Redis does: for the key first (missing, or of
        // another type), then for the index. A read, so that it sees the connection's writes before it.
        return applier.apply(conn, command, null, () => {
          throw db.lookup<ListValue>(command.key(1), "list") === undefined ? errNoSuchKey : errNotInteger;
        });
      }
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const current = db.lookup<ListValue>(key, "list");
          if (current === undefined) throw errNoSuchKey;
          const at = index < 0 ? index + current.size : index;
          if (at < 0 || at >= current.size) throw errIndexOutOfRange;
          (db.modify<ListValue>(key, "list") as ListValue).setAt(at, command.copyArg(3));
        },
        () => conn?.writeString("OK"),
      );
    },
  },
  {
    spec: spec("ltrim", 4, "write", [1, 1, 1], "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "key start:integer stop:integer"),
    run(db, applier, conn, command) {
      const start = parseLong(command.arg(2));
      const stop = parseLong(command.arg(3));
      if (start === null || stop === null) return errNotInteger;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const list = db.modify<ListValue>(key, "list");
          if (list === undefined) return;
          list.trim(clampRange(start, stop, list.size));
          db.deleteIfEmpty(key, list);
        },
        () => conn?.writeString("OK"),
      );
    },
  },
  {
    spec: spec("lrem", 4, "write", [1, 1, 1], "list", "Removes elements from a list. Deletes the list if the last element was removed.", "key count:integer element"),
    run(db, applier, conn, command) {
      const count = parseLong(command.arg(2));
      if (count === null) return errNotInteger;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const list = db.modify<ListValue>(key, "list");
          if (list === undefined) return 0;
          const element = command.arg(3);
          const removed = list.removeWhere(
            (value) => Buffer.compare(value, element) === 0,
            count < 0,
            count === 0 ? Infinity : Math.abs(count),
          );
          db.deleteIfEmpty(key, list);
          return removed;
        },
        (removed) => conn?.writeInt(removed),
      );
    },
  },
];
