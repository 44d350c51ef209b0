/**
 * Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP (with an optional count)
 * and SRANDMEMBER. SPOP picks its members with `replicatedRandom()` inside `mutate`, so every
 * replica pops the same ones; SRANDMEMBER only reads and uses this node's own randomness.
 */
import { RespError } from "../errors.ts";
import { replicatedRandom } from "../replicated.ts";
import { spec } from "../server/command-spec.ts";
import { errNotInteger, errSyntax, parseLong, parsePositiveCount } from "./arguments.ts";
import { bytesOf, type CloneCommand, writeSetHeader } from "./command.ts";
import { SetValue } from "./set.ts";

const longMax = 9223372036854775807;
const repeatsMax = 1 << 24;
const errRandomCount = new RespError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");

export const setCommands: readonly CloneCommand[] = [
  {
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
      );
    },
  },
  {
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
      );
    },
  },
  {
    spec: spec("smembers", 2, "readonly", [1, 1, 1], "set", "Returns all members of a set.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        if (conn === null) return;
        const members = set?.members ?? [];
        writeSetHeader(conn, members.length);
        for (const member of members) conn.writeBulk(bytesOf(member));
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
          else {
            writeSetHeader(conn, popped.length);
            for (const member of popped) conn.writeBulk(bytesOf(member));
          }
        },
      );
    },
  },
  {
    spec: spec("srandmember", -2, "readonly", [1, 1, 1], "set", "Get one or multiple random members from a set.", "key [count:integer]"),
    run(db, applier, conn, command) {
      if (command.argCount > 3) return errSyntax;
      let count: number | null = null;
      if (command.argCount === 3) {
        count = parseLong(command.arg(2));
        if (count === null) return errNotInteger;
        if (count < -longMax) return errRandomCount;
        // Redis would try to send that many repeats; this server refuses instead of looping for ever.
        if (count < -repeatsMax) return new RespError(`ERR this server sends at most ${repeatsMax} repeated members`);
      }
      return applier.apply(conn, command, null, () => {
        const set = db.lookup<SetValue>(command.key(1), "set");
        if (conn === null) return;
        const members = set?.members ?? [];
        if (count === null) {
          if (members.length === 0) conn.writeNull();
          else conn.writeBulk(bytesOf(members[Math.floor(Math.random() * members.length)] as string));
          return;
        }
        if (count >= 0) {
          // Distinct members: a partial Fisher-Yates shuffle of a copy.
          const pool = members.slice();
          const take = Math.min(count, pool.length);
          conn.writeArray(take);
          for (let i = 0; i < take; i++) {
            const j = i + Math.floor(Math.random() * (pool.length - i));
            const picked = pool[j] as string;
            pool[j] = pool[i] as string;
            pool[i] = picked;
            conn.writeBulk(bytesOf(picked));
          }
          return;
        }
        // A negative count allows repeats.
        const take = members.length === 0 ? 0 : -count;
        conn.writeArray(take);
        for (let i = 0; i < take; i++) conn.writeBulk(bytesOf(members[Math.floor(Math.random() * members.length)] as string));
      });
    },
  },
];
