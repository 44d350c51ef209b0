/**
 * Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP (with an optional count),
 * SRANDMEMBER, SMOVE, SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD and SSCAN (cursor,
 * MATCH, COUNT). SPOP picks its members with `replicatedRandom()` inside `mutate`, so every
 * replica pops the same ones; SRANDMEMBER only reads and uses this node's own randomness.
 *
 * The STORE forms overwrite the destination whatever it held (its TTL goes), and delete it when the
 * result is empty; the result's order follows the sets read, so it is the same on every replica.
 * SSCAN's cursor (shared with HSCAN, see `scanStep` in scan.ts) returns every member present for
 * the whole iteration exactly once.
 */
import type { Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { replicatedRandom } from "../replicated.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errSyntax, option, parseLong, parsePositiveCount } from "./arguments.ts";
import { bytesOf, type CloneCommand, unchangedNull, unchangedZero, writeSetHeader } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { parseRandomCount, randomMembers } from "./random-count.ts";
import { scanCommand, scanStep } from "./scan.ts";
import { SetValue } from "./set.ts";

const errNumKeys = new RespError("ERR numkeys should be greater than 0");
/** SMOVE of a member onto the set it is in: 1, and nothing changes (as Redis answers). */
const movedOntoItself = { value: 1 } as const;
const errNumKeysArgs = new RespError("ERR Number of keys can't be greater than number of args");
const errLimitNegative = new RespError("ERR LIMIT can't be negative");

/** A set reply (`~n` in RESP3) of `members`. */
function writeMembers(conn: Conn, members: readonly string[]): void {
  writeSetHeader(conn, members.length);
  for (const member of members) conn.writeBulk(bytesOf(member));
}

// SINTER, SUNION, SDIFF and their STORE forms.

type Algebra = "inter" | "union" | "diff";

/**
 * The sets at arguments `from` to `to` (excluded), undefined for missing keys. Every key is
 * checked before any work, as in Redis: WRONGTYPE wins over an empty result.
 */
function setsAt(db: Keyspace, command: Command, from: number, to = command.argCount): Array<SetValue | undefined> {
  const sets: Array<SetValue | undefined> = [];
  for (let i = from; i < to; i++) sets.push(db.lookup<SetValue>(command.key(i), "set"));
  return sets;
}

/** The members common to `sets`, in the smallest set's order, up to `limit` of them (0: all). */
function intersection(sets: ReadonlyArray<SetValue | undefined>, limit = 0): string[] {
  const found: string[] = [];
  if (sets.some((set) => set === undefined)) return found;
  const bySize = (sets as SetValue[]).slice().sort((a, b) => a.size - b.size);
  const smallest = bySize[0] as SetValue;
  const others = bySize.slice(1);
  for (const member of smallest.members) {
    if (!others.every((set) => set.has(member))) continue;
    found.push(member);
    if (found.length === limit) break;
  }
  return found;
}

/** SINTER's, SUNION's or SDIFF's result as a new set, made in `epoch`, its order following the inputs'. */
function combine(algebra: Algebra, sets: ReadonlyArray<SetValue | undefined>, epoch: number): SetValue {
  const result = new SetValue(epoch);
  if (algebra === "inter") {
    for (const member of intersection(sets)) result.add(member);
  } else if (algebra === "union") {
    for (const set of sets) for (const member of set?.members ?? []) result.add(member);
  } else {
    const others = sets.slice(1);
    for (const member of sets[0]?.members ?? []) if (!others.some((set) => set?.has(member) === true)) result.add(member);
  }
  return result;
}

const algebraSummaries: Record<Algebra, string> = {
  inter: "Returns the intersect of multiple sets.",
  union: "Returns the union of multiple sets.",
  diff: "Returns the difference of multiple sets.",
};

/** SINTER, SUNION or SDIFF: reads the sets and answers a set. */
function algebraCommand(algebra: Algebra): CloneCommand {
  return {
    spec: spec(`s${algebra}`, -2, "readonly", [1, -1, 1], "set", algebraSummaries[algebra], "key ..."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const result = combine(algebra, setsAt(db, command, 1), db.epoch);
        if (conn !== null) writeMembers(conn, result.members);
      });
    },
  };
}

/** SINTERSTORE, SUNIONSTORE or SDIFFSTORE: stores the result in the destination, or deletes it when empty. */
function algebraStoreCommand(algebra: Algebra): CloneCommand {
  const summary = `Stores the ${algebra === "inter" ? "intersect" : algebra === "union" ? "union" : "difference"} of multiple sets in a key.`;
  return {
    spec: spec(`s${algebra}store`, -3, "write denyoom", [1, -1, 1], "set", summary, "destination:key key ..."),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const result = combine(algebra, setsAt(db, command, 2), db.epoch);
          const destination = command.key(1);
          if (result.size === 0) db.delete(destination);
          else db.set(destination, result);
          return result.size;
        },
        (size) => conn?.writeInt(size),
      );
    },
  };
}

export const setCommands: readonly CloneCommand[] = [
  {
    reusable: true,
    spec: spec("sadd", -3, "write denyoom fast", [1, 1, 1], "set", "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member ..."),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const set = db.modifyOrCreate<SetValue>(key, "set", (epoch) => new SetValue(epoch));
          let added = 0;
          for (let i = 2; i < command.argCount; i++) if (set.add(command.key(i))) added++;
          return added;
        },
        (added) => conn?.writeInt(added),
        () => {
          // Every member there already: nothing to add.
          const set = db.lookup<SetValue>(command.key(1), "set");
          if (set === undefined) return null;
          for (let i = 2; i < command.argCount; i++) if (!set.has(command.key(i))) return null;
          return unchangedZero;
        },
      );
    },
  },
  {
    reusable: true,
    spec: spec("srem", -3, "write fast", [1, 1, 1], "set", "Removes one or more members from a set. Deletes the set if the last member was removed.", "key member ..."),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const set = db.modify<SetValue>(key, "set");
          if (set === undefined) return 0;
          let removed = 0;
          for (let i = 2; i < command.argCount; i++) if (set.delete(command.key(i))) removed++;
          db.deleteIfEmpty(key, set);
          return removed;
        },
        (removed) => conn?.writeInt(removed),
        () => {
          // No member there: nothing to remove.
          const set = db.lookup<SetValue>(command.key(1), "set");
          if (set !== undefined) for (let i = 2; i < command.argCount; i++) if (set.has(command.key(i))) return null;
          return unchangedZero;
        },
      );
    },
  },
  {
    spec: spec("smembers", 2, "readonly", [1, 1, 1], "set", "Returns all members of a set.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        if (conn !== null) writeMembers(conn, set?.members ?? []);
      });
    },
  },
  {
    spec: spec("sismember", 3, "readonly fast", [1, 1, 1], "set", "Determines whether a member belongs to a set.", "key member"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        conn?.writeInt(set?.has(command.key(2)) === true ? 1 : 0);
      });
    },
  },
  {
    spec: spec("smismember", -3, "readonly fast", [1, 1, 1], "set", "Determines whether multiple members belong to a set.", "key member ..."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        conn?.writeArray(command.argCount - 2);
        for (let i = 2; i < command.argCount; i++) conn?.writeInt(set?.has(command.key(i)) === true ? 1 : 0);
      });
    },
  },
  {
    spec: spec("scard", 2, "readonly fast", [1, 1, 1], "set", "Returns the number of members in a set.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookup<SetValue>(command.key(1), "set")?.size ?? 0));
    },
  },
  {
    reusable: true,
    spec: spec("spop", -2, "write fast", [1, 1, 1], "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "key [count:integer]"),
    run(db, applier, conn, command) {
      if (command.argCount > 3) return errSyntax;
      const count = command.argCount === 3 ? parsePositiveCount(command.arg(2)) : null;
      return applier.apply(
        conn,
        command,
        (): string | string[] | null => {
          const key = command.key(1);
          const set = db.modify<SetValue>(key, "set");
          if (set === undefined) return count === null ? null : [];
          const random = replicatedRandom();
          if (count === null) {
            const member = set.removeAt(Math.floor(random() * set.size));
            db.deleteIfEmpty(key, set);
            return member;
          }
          if (count >= set.size) {
            const all = set.members.slice();
            db.delete(key);
            return all;
          }
          const popped: string[] = [];
          for (let i = 0; i < count; i++) popped.push(set.removeAt(Math.floor(random() * set.size)));
          return popped;
        },
        (popped) => {
          if (conn === null) return;
          if (popped === null) conn.writeNull();
          else if (typeof popped === "string") conn.writeBulk(bytesOf(popped));
          else writeMembers(conn, popped);
        },
        () => (db.lookup<SetValue>(command.key(1), "set") !== undefined ? null : count === null ? unchangedNull : { value: [] }),
      );
    },
  },
  {
    spec: spec("srandmember", -2, "readonly", [1, 1, 1], "set", "Get one or multiple random members from a set.", "key [count:integer]"),
    run(db, applier, conn, command) {
      if (command.argCount > 3) return errSyntax;
      const parsed = command.argCount === 3 ? parseRandomCount(command, null) : null;
      if (parsed instanceof RespError) return parsed;
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        if (conn === null) return;
        const members = set?.members ?? [];
        if (parsed === null) {
          if (members.length === 0) conn.writeNull();
          else conn.writeBulk(bytesOf(members[Math.floor(Math.random() * members.length)] as string));
          return;
        }
        // A negative count allows repeats.
        const count = parsed.count;
        // A few of many are drawn in O(count), not picked from a copy of the whole set.
        const picks = randomMembers(members.length, count, () => members[Math.floor(Math.random() * members.length)] as string, () => members.slice());
        conn.writeArray(picks.length);
        for (const member of picks) conn.writeBulk(bytesOf(member));
      });
    },
  },
  {
    spec: spec("smove", 4, "write fast", [1, 2, 1], "set", "Moves a member from one set to another.", "source:key destination:key member"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const source = command.key(1);
          const destination = command.key(2);
          const member = command.key(3);
          // A missing source is answered before the destination's type is checked, as in Redis.
          const from = db.lookup<SetValue>(source, "set");
          if (from === undefined) return 0;
          db.lookup<SetValue>(destination, "set"); // WRONGTYPE before anything changes
          if (!from.has(member)) return 0;
          if (source === destination) return 1;
          const changed = db.modify<SetValue>(source, "set") as SetValue;
          changed.delete(member);
          db.deleteIfEmpty(source, changed);
          db.modifyOrCreate<SetValue>(destination, "set", (epoch) => new SetValue(epoch)).add(member);
          return 1;
        },
        (moved) => conn?.writeInt(moved),
        () => {
          // The checks of `mutate` that answer without a change: a missing source or member, or
          // a member moved onto the set it is in.
          const from = db.lookup<SetValue>(command.key(1), "set");
          if (from === undefined) return unchangedZero;
          db.lookup<SetValue>(command.key(2), "set");
          if (!from.has(command.key(3))) return unchangedZero;
          return command.key(1) === command.key(2) ? movedOntoItself : null;
        },
      );
    },
  },
  algebraCommand("inter"),
  algebraCommand("union"),
  algebraCommand("diff"),
  algebraStoreCommand("inter"),
  algebraStoreCommand("union"),
  algebraStoreCommand("diff"),
  {
    spec: spec(
      "sintercard",
      -3,
      "readonly movablekeys",
      [0, 0, 0],
      "set",
      "Returns the number of members of the intersect of multiple sets.",
      "numkeys:integer key ... [LIMIT limit:integer]",
    ),
    run(db, applier, conn, command) {
      const keys = parseLong(command.arg(1));
      if (keys === null || keys < 1) return errNumKeys;
      if (keys > command.argCount - 2) return errNumKeysArgs;
      let limit = 0;
      for (let i = 2 + keys; i < command.argCount; i++) {
        if (option(command.arg(i)) !== "limit" || i + 1 >= command.argCount) return errSyntax;
        const value = parseLong(command.arg(++i));
        if (value === null || value < 0) return errLimitNegative;
        limit = value;
      }
      return applier.apply(conn, command, null, () => conn?.writeInt(intersection(setsAt(db, command, 2, 2 + keys), limit).length));
    },
  },
  {
    spec: spec("sscan", -3, "readonly", [1, 1, 1], "set", "Iterates over members of a set.", "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]"),
    run: scanCommand(
      (db, key) => db.lookup<SetValue>(key, "set"),
      (set, cursor, options, items) => scanStep(set.members, set.size, cursor, options, (member) => items.push(bytesOf(member))),
    ),
  },
];
