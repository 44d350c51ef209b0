/**
 * HyperLogLog commands: PFADD, PFCOUNT, PFMERGE and PFDEBUG, on string values in Redis's own
 * representation (hyperloglog-encoding.ts), so GET of an HLL key and every count are redis-server's.
 * A key of another type answers WRONGTYPE; a string that is not an HLL answers Redis's
 * "WRONGTYPE Key is not a valid HyperLogLog string value."; a broken sparse code answers
 * INVALIDOBJ where Redis notices it. Writes keep the key's TTL, as Redis changes the value in place.
 *
 * **PFCOUNT of one key is a write that may change nothing.** Redis's PFCOUNT writes the count it
 * computed into the value's header (the cache) when the cached one was stale, and propagates
 * itself to replicas when it did. Here it is a write whose `unchanged` answers a fresh cached
 * count (or 0 for a missing key): a leader whose state is current answers that as a read, and
 * applied through the log it changes nothing and is no change of the key for WATCH, as in Redis.
 * Otherwise `mutate` computes the count and stores the refreshed header, on every replica alike,
 * and GET afterwards shows Redis's bytes. PFADD of elements already counted (no register rises)
 * changes nothing either. PFCOUNT of several keys merges them in memory and changes nothing, as
 * in Redis: a read.
 *
 * PFSELFTEST (Redis's internal test of its register macros, 10 million additions) is left out.
 */
import { RespError } from "../errors.ts";
import { latin1 } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { option } from "./arguments.ts";
import { type CloneCommand, unchangedZero } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import type { Command } from "../resp/reader.ts";
import {
  cachedCardinality,
  checkHyperLogLog,
  clearedRegisters,
  countOf,
  countOfRegisters,
  countReply,
  elementPattern,
  errCorrupt,
  HyperLogLogDraft,
  isDense,
  mergeInto,
  registerCount,
  registerOf,
  withCachedCount,
} from "./hyperloglog-encoding.ts";

const errNoSuchKey = new RespError("ERR The specified key does not exist");
const errNotSparse = new RespError("ERR HLL encoding is not sparse");

/** The HLL at `key`, checked (WRONGTYPE for another type or a string that is not an HLL), or undefined. */
function lookupHyperLogLog(db: Keyspace, key: string): Uint8Array | undefined {
  const value = db.lookupString(key);
  if (value !== undefined) checkHyperLogLog(value);
  return value;
}

/**
 * The registers of the HLLs at the keys of `command` from `from` on, merged (each the largest of
 * its kind), in the scratch `clearedRegisters` gives; missing keys count as empty HLLs. Throws
 * before anything changes: every key is checked in turn, as Redis does.
 */
function mergedRegisters(db: Keyspace, command: Command, from: number): { registers: Uint8Array; anyDense: boolean } {
  const registers = clearedRegisters();
  let anyDense = false;
  for (let i = from; i < command.argCount; i++) {
    const value = lookupHyperLogLog(db, command.key(i));
    if (value === undefined) continue;
    if (isDense(value)) anyDense = true;
    if (!mergeInto(registers, value)) throw errCorrupt;
  }
  return { registers, anyDense };
}

/** PFCOUNT of one key (see the file comment): the count, with the cache refreshed when it was stale. */
function countOne(db: Keyspace, key: string): number | bigint {
  const value = lookupHyperLogLog(db, key);
  if (value === undefined) return 0;
  const cached = cachedCardinality(value);
  if (cached !== null) return cached;
  const count = countOf(value);
  if (count === null) throw errCorrupt;
  db.set(key, withCachedCount(value, count), true);
  return countReply(count);
}

/** PFDEBUG's subcommands, by how they are applied. */
type DebugAction = "getreg" | "todense" | "decode" | "encoding" | "unknown";

function debugAction(subcommand: Uint8Array): DebugAction {
  const name = option(subcommand);
  return name === "getreg" || name === "todense" || name === "decode" || name === "encoding" ? name : "unknown";
}

/** The HLL PFDEBUG works on: Redis looks the key up before it reads the subcommand. */
function debugTarget(db: Keyspace, key: string): Uint8Array {
  const value = lookupHyperLogLog(db, key);
  if (value === undefined) throw errNoSuchKey;
  return value;
}

/** PFADD, PFCOUNT, PFMERGE and PFDEBUG, for the clone's command table (machine.ts). */
export const hyperLogLogCommands: readonly CloneCommand[] = [
  {
    spec: spec(
      "pfadd",
      -2,
      "write denyoom fast",
      [1, 1, 1],
      "hyperloglog",
      "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
      "key [element...]",
    ),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const value = lookupHyperLogLog(db, key);
          // A new key counts as an update, even with no elements: Redis creates it and marks its cache stale.
          let updated = value === undefined ? 1 : 0;
          const draft = value === undefined ? HyperLogLogDraft.empty() : HyperLogLogDraft.of(value);
          for (let i = 2; i < command.argCount; i++) {
            const result = draft.add(command.arg(i));
            if (result === 1) {
              updated++;
            } else if (result === -1) {
              // Redis changed the value in place element by element and keeps what the earlier
              // elements did (with the cache marked stale by those edits) before it answers.
              if (updated > 0) db.set(key, draft.value(), true);
              throw errCorrupt;
            }
          }
          if (updated === 0) return 0;
          draft.invalidateCache();
          db.set(key, draft.value(), true);
          return 1;
        },
        (updated) => conn?.writeInt(updated),
        () => {
          // No register would rise (an element already counted, as most are): nothing to store.
          const value = lookupHyperLogLog(db, command.key(1));
          if (value === undefined) return null;
          for (let i = 2; i < command.argCount; i++) {
            const pattern = elementPattern(command.arg(i));
            const register = registerOf(value, pattern >>> 6);
            if (register === null || register < (pattern & 63)) return null;
          }
          return unchangedZero;
        },
      );
    },
  },
  {
    spec: spec(
      "pfcount",
      -2,
      "readonly",
      [1, -1, 1],
      "hyperloglog",
      "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
      "key ...",
    ),
    run(db, applier, conn, command) {
      if (command.argCount === 2) {
        return applier.apply(
          conn,
          command,
          () => countOne(db, command.key(1)),
          (count) => conn?.writeInt(count),
          () => {
            // A valid cached count is the answer, and nothing to store: a read.
            const value = lookupHyperLogLog(db, command.key(1));
            const cached = value === undefined ? 0 : cachedCardinality(value);
            return cached === null ? null : { value: cached };
          },
        );
      }
      return applier.apply(conn, command, null, () => {
        const count = countOfRegisters(mergedRegisters(db, command, 1).registers);
        conn?.writeInt(countReply(count));
      });
    },
  },
  {
    spec: spec("pfmerge", -2, "write denyoom", [1, -1, 1], "hyperloglog", "Merges one or more HyperLogLog values into a single key.", "destkey:key [sourcekey:key...]"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          // The destination is merged too (Redis starts its sources at the destination).
          const { registers, anyDense } = mergedRegisters(db, command, 1);
          const key = command.key(1);
          const value = db.lookupString(key);
          const draft = value === undefined ? HyperLogLogDraft.empty() : HyperLogLogDraft.of(value);
          // As Redis 7.0: dense when a source was, else sparse edits (which turn dense past the limit).
          if (anyDense && !draft.toDense()) throw errCorrupt;
          for (let i = 0; i < registers.length; i++) {
            const register = registers[i] as number;
            if (register !== 0) draft.set(i, register);
          }
          draft.invalidateCache();
          db.set(key, draft.value(), true);
        },
        () => conn?.writeString("OK"),
      );
    },
  },
  {
    spec: spec("pfdebug", 3, "write denyoom admin", [2, 2, 1], "hyperloglog", "Internal commands for debugging HyperLogLog values.", "subcommand:string key"),
    run(db, applier, conn, command) {
      const action = debugAction(command.arg(1));
      if (action === "getreg" || action === "todense") {
        // Both turn a sparse value dense (and Redis propagates that): writes.
        return applier.apply(
          conn,
          command,
          () => {
            const key = command.key(2);
            const value = debugTarget(db, key);
            const draft = HyperLogLogDraft.of(value);
            const converted = !isDense(value);
            if (converted) {
              if (!draft.toDense()) throw errCorrupt;
              db.set(key, draft.value(), true);
            }
            return { draft, converted };
          },
          ({ draft, converted }) => {
            if (conn === null) return;
            if (action === "todense") {
              conn.writeInt(converted ? 1 : 0);
              return;
            }
            conn.writeArray(registerCount);
            for (let i = 0; i < registerCount; i++) conn.writeInt(draft.register(i));
          },
        );
      }
      return applier.apply(conn, command, null, () => {
        const value = debugTarget(db, command.key(2));
        if (action === "encoding") {
          conn?.writeString(isDense(value) ? "dense" : "sparse");
        } else if (action === "decode") {
          if (isDense(value)) throw errNotSparse;
          conn?.writeBulk(HyperLogLogDraft.of(value).decode());
        } else {
          const given = latin1(command.arg(1)).replace(/[\r\n]/g, " ");
          throw new RespError(`ERR Unknown PFDEBUG subcommand '${given}'`);
        }
      });
    },
  },
];
