/**
 * List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with an optional count), LRANGE, LLEN,
 * LINDEX, LSET, LTRIM, LREM, LINSERT, LPOS (RANK, COUNT, MAXLEN), LMOVE, RPOPLPUSH and LMPOP. An
 * emptied list deletes its key, as in Redis. The blocking commands (BLPOP, BLMOVE...) are not
 * offered.
 */
import { type Applier, Blocked, block, type Conn } from "../api.ts";
import { ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import { spec } from "../server/command-spec.ts";
import type { Command } from "../resp/reader.ts";
import {
  clampRange,
  errIndexOutOfRange,
  errNoSuchKey,
  errNotInteger,
  errSyntax,
  int64Min,
  option,
  parseInt64,
  parseLong,
  parsePositiveCount,
  parseTimeout,
} from "./arguments.ts";
import { bytesOf, type CloneCommand, unchangedNull, unchangedZero, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { ListValue } from "./list.ts";
import { parseMultiPop, popFirst, withCountedKeys } from "./pop-first.ts";

const errRankZero = new RespError(
  "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
);
const errCountNegative = new RespError("ERR COUNT can't be negative");
const errMaxlenNegative = new RespError("ERR MAXLEN can't be negative");

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** LEFT or RIGHT (any case), as Redis's `getListPositionFromObjectOrReply`: true for LEFT, null for anything else. */
function parseEnd(bytes: Uint8Array): boolean | null {
  const name = option(bytes);
  return name === "left" ? true : name === "right" ? false : null;
}

/**
 * A non-negative integer, or `error` (Redis's `getPositiveLongFromObjectOrReply` with a message,
 * which answers with it for a text that is not an integer too).
 */
function parseNonNegative(bytes: Uint8Array, error: RespError): number | RespError {
  const value = parseLong(bytes);
  return value === null || value < 0 ? error : value;
}

/** Pops up to `count` elements from one end. */
function popMany(list: ListValue, count: number, front: boolean): Uint8Array[] {
  const popped: Uint8Array[] = [];
  for (let i = 0; i < count && list.size > 0; i++) popped.push((front ? list.popFront() : list.popBack()) as Uint8Array);
  return popped;
}

function writeBulks(conn: Conn, values: readonly Uint8Array[]): void {
  conn.writeArray(values.length);
  for (const value of values) conn.writeBulk(value);
}

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
    // LPUSHX and RPUSHX of a missing list: nothing pushed.
    onlyIfExists ? () => (db.lookup<ListValue>(command.key(1), "list") === undefined ? unchangedZero : null) : null,
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
      const popped = popMany(list, count, front);
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
        writeBulks(conn, popped);
      }
    },
    () => (db.lookup<ListValue>(command.key(1), "list") === undefined ? unchangedNull : null),
  );
}

/**
 * LMOVE and RPOPLPUSH: pops from one end of `source` and pushes onto one end of `destination`
 * (the same key rotates the list). A destination of another type is refused before anything changes.
 */
/**
 * LMOVE and RPOPLPUSH; with a timeout (milliseconds, 0 for none), BLMOVE and BRPOPLPUSH, which
 * wait for the source to hold something.
 */
function move(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, fromFront: boolean, toFront: boolean, timeout: number | null = null): void {
  return applier.apply(
    conn,
    command,
    (): Uint8Array | Blocked | null => {
      const source = command.key(1);
      const destination = command.key(2);
      if (db.lookup<ListValue>(source, "list") === undefined) return timeout === null ? null : block([source], timeout);
      db.lookup<ListValue>(destination, "list");
      const from = db.modify<ListValue>(source, "list") as ListValue;
      const value = (fromFront ? from.popFront() : from.popBack()) as Uint8Array;
      const to = db.modifyOrCreate<ListValue>(destination, "list", (epoch) => new ListValue(epoch));
      if (toFront) to.pushFront(value);
      else to.pushBack(value);
      db.deleteIfEmpty(source, from);
      return value;
    },
    (value) => {
      // Redis answers a timeout with a null array, a BLMOVE in MULTI with a null bulk.
      if (value instanceof Blocked && value.timedOut && conn !== null) writeNullArray(conn);
      else if (value === null || value instanceof Blocked) conn?.writeNull();
      else conn?.writeBulk(value);
    },
    // LMOVE and RPOPLPUSH from a missing list: nothing moved (the blocking forms wait instead).
    timeout === null ? () => (db.lookup<ListValue>(command.key(1), "list") === undefined ? unchangedNull : null) : null,
  );
}

/** BLPOP and BRPOP: one element from the first of the keys that holds a list, waiting for one. */
function blockingPop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, front: boolean): void | Error {
  const timeout = parseTimeout(command.arg(command.argCount - 1));
  if (timeout instanceof RespError) return timeout;
  return applier.apply(
    conn,
    command,
    () => {
      const found = popFirst<ListValue, Uint8Array>(db, command, 1, command.argCount - 1, "list", (list) => (front ? list.popFront() : list.popBack()) as Uint8Array);
      return Array.isArray(found) ? block(found, timeout) : found;
    },
    (result) => {
      if (conn === null) return;
      if (result instanceof Blocked) {
        writeNullArray(conn);
        return;
      }
      conn.writeArray(2);
      conn.writeBulk(bytesOf(result.key));
      conn.writeBulk(result.taken);
    },
  );
}

/**
 * LMPOP numkeys key... LEFT|RIGHT [COUNT n], and BLMPOP timeout numkeys ...: `at` is the position
 * of numkeys; `timeout` (milliseconds, 0 for none) is null for LMPOP, which does not wait.
 */
function multiPop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, at: number, timeout: number | null): void | Error {
  const parsed = parseMultiPop(command, at);
  if (parsed instanceof RespError) return parsed;
  const { whereAt, count } = parsed;
  const front = parseEnd(command.arg(whereAt));
  if (front === null) return errSyntax;
  return applier.apply(
    conn,
    command,
    () => {
      const found = popFirst<ListValue, Uint8Array[]>(db, command, at + 1, whereAt, "list", (list) => popMany(list, count, front));
      return !Array.isArray(found) ? found : timeout === null ? null : block(found, timeout);
    },
    (result) => {
      if (conn === null) return;
      if (result === null || result instanceof Blocked) {
        writeNullArray(conn);
        return;
      }
      conn.writeArray(2);
      conn.writeBulk(bytesOf(result.key));
      writeBulks(conn, result.taken);
    },
  );
}

/** LPOS's options. */
interface PositionQuery {
  /** Matches to pass over before the first one reported (RANK's magnitude - 1). */
  skip: number;
  fromTail: boolean;
  /** COUNT: null when not given (one index or null is answered), 0 for every match. */
  count: number | null;
  /** MAXLEN: how many elements to compare at most, 0 for all. */
  maxlen: number;
  /**
   * RANK -9223372036854775808: Redis negates it into itself (an overflow), so every match from
   * the tail counts and COUNT never stops the search. Kept, so that the replies are the same.
   */
  overflowed: boolean;
}

function parsePositionQuery(command: Command): PositionQuery | RespError {
  const query: PositionQuery = { skip: 0, fromTail: false, count: null, maxlen: 0, overflowed: false };
  for (let j = 3; j < command.argCount; j++) {
    const name = option(command.arg(j));
    const more = j + 1 < command.argCount;
    if (name === "rank" && more) {
      const rank = parseInt64(command.arg(++j));
      if (rank === null) return errNotInteger;
      if (rank === 0) return errRankZero;
      query.overflowed = rank === int64Min;
      query.fromTail = rank < 0;
      query.skip = query.overflowed ? 0 : Math.abs(Number(rank)) - 1;
    } else if (name === "count" && more) {
      const count = parseNonNegative(command.arg(++j), errCountNegative);
      if (count instanceof RespError) return count;
      query.count = count;
    } else if (name === "maxlen" && more) {
      const maxlen = parseNonNegative(command.arg(++j), errMaxlenNegative);
      if (maxlen instanceof RespError) return maxlen;
      query.maxlen = maxlen;
    } else {
      return errSyntax;
    }
  }
  return query;
}

/** The indexes LPOS reports for `element` in `list`. */
function positions(list: ListValue, element: Uint8Array, query: PositionQuery): number[] {
  const wanted = query.count === null ? 1 : query.count === 0 || query.overflowed ? Infinity : query.count;
  const size = list.size;
  const compared = query.maxlen === 0 ? size : Math.min(query.maxlen, size);
  const found: number[] = [];
  let matches = 0;
  for (let i = 0; i < compared && found.length < wanted; i++) {
    const index = query.fromTail ? size - 1 - i : i;
    if (sameBytes(list.at(index), element) && matches++ >= query.skip) found.push(index);
  }
  return found;
}

export const listCommands: readonly CloneCommand[] = [
  {
    reusable: true,
    spec: spec("lpush", -3, "write denyoom fast", [1, 1, 1], "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, true, false),
  },
  {
    reusable: true,
    spec: spec("rpush", -3, "write denyoom fast", [1, 1, 1], "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, false, false),
  },
  {
    reusable: true,
    spec: spec("lpushx", -3, "write denyoom fast", [1, 1, 1], "list", "Prepends one or more elements to a list only when the list exists.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, true, true),
  },
  {
    reusable: true,
    spec: spec("rpushx", -3, "write denyoom fast", [1, 1, 1], "list", "Appends an element to a list only when the list exists.", "key element ..."),
    run: (db, applier, conn, command) => push(db, applier, conn, command, false, true),
  },
  {
    reusable: true,
    spec: spec("lpop", -2, "write fast", [1, 1, 1], "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, true),
  },
  {
    reusable: true,
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
            (value) => sameBytes(value, element),
            count < 0,
            count === 0 ? Infinity : Math.abs(count),
          );
          db.deleteIfEmpty(key, list);
          return removed;
        },
        (removed) => conn?.writeInt(removed),
        () => {
          // No element equal to the one given: nothing to remove.
          const list = db.lookup<ListValue>(command.key(1), "list");
          if (list === undefined) return unchangedZero;
          const element = command.arg(3);
          for (let i = 0; i < list.size; i++) if (sameBytes(list.at(i), element)) return null;
          return unchangedZero;
        },
      );
    },
  },
  {
    spec: spec("linsert", 5, "write denyoom", [1, 1, 1], "list", "Inserts an element before or after another element in a list.", "key BEFORE|AFTER pivot element"),
    run(db, applier, conn, command) {
      const where = option(command.arg(2));
      if (where !== "before" && where !== "after") return errSyntax;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const current = db.lookup<ListValue>(key, "list");
          if (current === undefined) return 0;
          const pivot = command.arg(3);
          let at = 0;
          while (at < current.size && !sameBytes(current.at(at), pivot)) at++;
          if (at === current.size) return -1;
          const list = db.modify<ListValue>(key, "list") as ListValue;
          list.insertAt(where === "before" ? at : at + 1, command.copyArg(4));
          return list.size;
        },
        (length) => conn?.writeInt(length),
      );
    },
  },
  {
    spec: spec(
      "lpos",
      -3,
      "readonly",
      [1, 1, 1],
      "list",
      "Returns the index of matching elements in a list.",
      "key element [RANK rank:integer] [COUNT num-matches:integer] [MAXLEN len:integer]",
    ),
    run(db, applier, conn, command) {
      const query = parsePositionQuery(command);
      if (query instanceof RespError) return query;
      return applier.apply(conn, command, null, () => {
        const list = db.lookup<ListValue>(command.key(1), "list");
        if (conn === null) return;
        const found = list === undefined ? [] : positions(list, command.arg(2), query);
        if (query.count !== null) {
          conn.writeArray(found.length);
          for (const index of found) conn.writeInt(index);
        } else {
          const index = found[0];
          if (index === undefined) conn.writeNull();
          else conn.writeInt(index);
        }
      });
    },
  },
  {
    spec: spec(
      "lmove",
      5,
      "write denyoom",
      [1, 2, 1],
      "list",
      "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
      "source:key destination:key LEFT|RIGHT LEFT|RIGHT",
    ),
    run(db, applier, conn, command) {
      const from = parseEnd(command.arg(3));
      const to = parseEnd(command.arg(4));
      if (from === null || to === null) return errSyntax;
      return move(db, applier, conn, command, from, to);
    },
  },
  {
    spec: spec(
      "rpoplpush",
      3,
      "write denyoom",
      [1, 2, 1],
      "list",
      "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
      "source:key destination:key",
    ),
    run: (db, applier, conn, command) => move(db, applier, conn, command, false, true),
  },
  {
    // The keys' positions depend on numkeys: `keys` finds them.
    spec: withCountedKeys(
      spec(
        "lmpop",
        -4,
        "write movablekeys",
        [0, 0, 0],
        "list",
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        "numkeys:integer key... LEFT|RIGHT [COUNT count:integer]",
      ),
      1,
    ),
    run: (db, applier, conn, command) => multiPop(db, applier, conn, command, 1, null),
  },
  {
    spec: withCountedKeys(
      spec(
        "blmpop",
        -5,
        "write blocking movablekeys",
        [0, 0, 0],
        "list",
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        "timeout:double numkeys:integer key... LEFT|RIGHT [COUNT count:integer]",
      ),
      2,
    ),
    run(db, applier, conn, command) {
      const timeout = parseTimeout(command.arg(1));
      if (timeout instanceof RespError) return timeout;
      return multiPop(db, applier, conn, command, 2, timeout);
    },
  },
  {
    spec: spec(
      "blpop",
      -3,
      "write blocking",
      [1, -2, 1],
      "list",
      "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
      "key... timeout:double",
    ),
    run: (db, applier, conn, command) => blockingPop(db, applier, conn, command, true),
  },
  {
    spec: spec(
      "brpop",
      -3,
      "write blocking",
      [1, -2, 1],
      "list",
      "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
      "key... timeout:double",
    ),
    run: (db, applier, conn, command) => blockingPop(db, applier, conn, command, false),
  },
  {
    spec: spec(
      "blmove",
      6,
      "write denyoom blocking",
      [1, 2, 1],
      "list",
      "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
      "source:key destination:key LEFT|RIGHT LEFT|RIGHT timeout:double",
    ),
    run(db, applier, conn, command) {
      const from = parseEnd(command.arg(3));
      const to = parseEnd(command.arg(4));
      if (from === null || to === null) return errSyntax;
      const timeout = parseTimeout(command.arg(5));
      if (timeout instanceof RespError) return timeout;
      return move(db, applier, conn, command, from, to, timeout);
    },
  },
  {
    spec: spec(
      "brpoplpush",
      4,
      "write denyoom blocking",
      [1, 2, 1],
      "list",
      "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
      "source:key destination:key timeout:double",
    ),
    run(db, applier, conn, command) {
      const timeout = parseTimeout(command.arg(3));
      if (timeout instanceof RespError) return timeout;
      return move(db, applier, conn, command, false, true, timeout);
    },
  },
];
