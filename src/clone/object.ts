/**
 * What tools ask about a key: OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ and HELP, and MEMORY USAGE
 * and HELP. All are reads (nothing reaches the log).
 *
 * **OBJECT ENCODING** names the representation Redis 7.0 would use for the value, judged by what
 * the value holds now: a string is `int` (an integer string2ll reads, 20 bytes at most), `embstr`
 * (44 bytes at most) or `raw`; a list `quicklist`; a set `intset` (integers only, at most 512) or
 * `hashtable`; a hash `listpack` (at most 512 fields, none longer than 64 bytes, values included)
 * or `hashtable`; a sorted set `listpack` (at most 128 members, none longer than 64 bytes) or
 * `skiplist`; a stream
 * `stream`. Redis also remembers history the clone does not keep: a string APPEND, SETRANGE or
 * SETBIT changed (or PFADD made) is `raw` there, and a set, hash or sorted set that grew past the small limits
 * keeps its large encoding after it shrinks back; the clone names the encoding of the value as
 * it is. **OBJECT REFCOUNT** is 2147483647 for an integer from 0 to 9999 (Redis shares those) and
 * 1 otherwise. **OBJECT IDLETIME** is refused: the clone keeps no access times. **OBJECT FREQ** is
 * refused as Redis refuses it without an LFU policy (the clone has none).
 *
 * **MEMORY USAGE key [SAMPLES count]** estimates this node's memory for the key, its value and its
 * bookkeeping, in bytes: the clone's own figure (not Redis's), from the sizes of the strings held
 * and a fixed cost per object; an aggregate's elements are estimated from the first `count` of
 * them (5 by default, all of them with 0), as Redis samples.
 */
import type { Applier, Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { spec, writeHelp } from "../server/command-spec.ts";
import { memoryHelpLines } from "../server/commands/memory.ts";
import { errNotInteger, errSyntax, option, parseInt64, parseLong } from "./arguments.ts";
import type { CloneCommand } from "./command.ts";
import type { HashValue } from "./hash.ts";
import type { Keyspace, Value } from "./keyspace.ts";
import type { ListValue } from "./list.ts";
import type { SetValue } from "./set.ts";
import type { StreamValue } from "./stream.ts";
import type { ZSetValue } from "./zset.ts";

/** Redis 7.0's defaults for its small encodings (`CONFIG GET *max-*`). */
const intsetEntriesMax = 512;
const hashListpackEntriesMax = 512;
const zsetListpackEntriesMax = 128;
const listpackValueBytesMax = 64;
const embstrBytesMax = 44;
/** Integers Redis keeps as shared objects, whose refcount reads as INT_MAX. */
const sharedIntegers = 10_000;
const sharedRefcount = 2_147_483_647;
const samplesDefault = 5;

/** Bytes of memory estimated for one object of the engine's (a header and a few fields). */
const objectBytes = 48;
/** A key's cost besides its text: its entry, its slot in the keyspace's map and SCAN's order. */
const keyBytes = 120;

const errIdleTime = new RespError("ERR idle time is not tracked: the clone keeps no access times");
const errFreq = new RespError(
  "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
);

/** A string's encoding in Redis 7.0, by its content. */
function stringEncoding(value: Uint8Array): "int" | "embstr" | "raw" {
  if (value.length <= 20 && value.length > 0 && parseInt64(value) !== null) return "int";
  return value.length <= embstrBytesMax ? "embstr" : "raw";
}

function allShort(texts: Iterable<string | Uint8Array>): boolean {
  for (const text of texts) if (text.length > listpackValueBytesMax) return false;
  return true;
}

function encodingOf(value: Value): string {
  if (value instanceof Uint8Array) return stringEncoding(value);
  switch (value.type) {
    case "list":
      return "quicklist";
    case "set": {
      const set = value as SetValue;
      if (set.size > intsetEntriesMax) return "hashtable";
      for (const member of set.members) if (member.length > 20 || parseInt64(Buffer.from(member, "latin1")) === null) return "hashtable";
      return "intset";
    }
    case "hash": {
      const hash = value as HashValue;
      return hash.size <= hashListpackEntriesMax && allShort(hash.fields.keys()) && allShort(hash.fields.values()) ? "listpack" : "hashtable";
    }
    case "zset": {
      const zset = value as ZSetValue;
      return zset.scores.size <= zsetListpackEntriesMax && allShort(zset.scores.keys()) ? "listpack" : "skiplist";
    }
    case "stream":
      return "stream";
  }
}

/** The estimated bytes of `texts`' first `samples` (all with 0), scaled to `count` of them. */
function sampled(texts: Iterable<string | Uint8Array>, count: number, samples: number, perItem: number): number {
  let seen = 0;
  let bytes = 0;
  for (const text of texts) {
    bytes += objectBytes + text.length + perItem;
    if (++seen === samples) break;
  }
  return seen === 0 ? 0 : Math.round((bytes / seen) * count);
}

function fieldsOf(stream: StreamValue): Iterable<Uint8Array> {
  return {
    *[Symbol.iterator]() {
      for (let i = 0; i < stream.size; i++) yield* stream.at(i).fields;
    },
  };
}

function elementsOf(list: ListValue): Iterable<Uint8Array> {
  return {
    *[Symbol.iterator]() {
      for (let i = 0; i < list.size; i++) yield list.at(i);
    },
  };
}

/** MEMORY USAGE's estimate for `key` holding `value`. */
function memoryUsage(key: string, value: Value, samples: number): number {
  const base = keyBytes + key.length;
  if (value instanceof Uint8Array) return base + objectBytes + value.length;
  switch (value.type) {
    case "list":
      return base + objectBytes + sampled(elementsOf(value as ListValue), value.size, samples, 8);
    case "set":
      return base + objectBytes + sampled((value as SetValue).members, value.size, samples, 40);
    case "hash": {
      const hash = value as HashValue;
      return base + objectBytes + sampled(hash.fields.keys(), hash.size, samples, 40) + sampled(hash.fields.values(), hash.size, samples, 0);
    }
    case "zset": {
      const zset = value as ZSetValue;
      return base + objectBytes + sampled(zset.scores.keys(), zset.scores.size, samples, 120);
    }
    case "stream": {
      const stream = value as StreamValue;
      const fields = stream.size === 0 ? 0 : stream.at(0).fields.length;
      return base + objectBytes + stream.size * objectBytes + sampled(fieldsOf(stream), stream.size * fields, samples, 0);
    }
  }
}

/** `wrong number of arguments` for a command or `container|subcommand`. */
export function wrongArity(name: string): RespError {
  return new RespError(`ERR wrong number of arguments for '${name}' command`);
}

/** `unknown subcommand` of a container command, as given (128 characters at most). */
export function unknownSubcommand(command: string, given: Uint8Array): RespError {
  return new RespError(`ERR unknown subcommand '${latin1(given).slice(0, 128)}'. Try ${command.toUpperCase()} HELP.`);
}

/** `name HELP`: its lines, as a read; a wrong arity when more follows. */
function help(applier: Applier, conn: Conn | null, command: Command, name: string, lines: readonly string[]): RespError | void {
  if (command.argCount !== 2) return wrongArity(`${name}|help`);
  return applier.apply(conn, command, null, () => {
    if (conn !== null) writeHelp(conn, name, lines);
  });
}

/** Answers with `answer(value)`, or null when the key is missing (both OBJECT and MEMORY USAGE do). */
function withValue(db: Keyspace, conn: Conn | null, key: string, answer: (value: Value) => void): void {
  const value = db.get(key);
  if (value === undefined) conn?.writeNull();
  else answer(value);
}

export const objectCommands: readonly CloneCommand[] = [
  {
    spec: spec(
      "object",
      -2,
      "readonly",
      [2, 2, 1],
      "generic",
      "ENCODING key: the representation Redis would use for the value; REFCOUNT key; IDLETIME and FREQ key (not tracked); HELP.",
      "ENCODING|REFCOUNT|IDLETIME|FREQ|HELP [key]",
    ),
    run(db, applier, conn, command) {
      const sub = option(command.arg(1));
      if (sub === "help") {
        return help(applier, conn, command, "object", [
          "ENCODING <key>",
          "    Return the kind of internal representation used in order to store the value",
          "    associated with a <key>.",
          "FREQ <key>",
          "    Return the access frequency index of the <key>. The returned integer is",
          "    proportional to the logarithm of the recent access frequency of the key.",
          "IDLETIME <key>",
          "    Return the idle time of the <key>, that is the approximated number of",
          "    seconds elapsed since the last access to the key.",
          "REFCOUNT <key>",
          "    Return the number of references of the value associated with the specified",
          "    <key>.",
        ]);
      }
      if (sub !== "encoding" && sub !== "refcount" && sub !== "idletime" && sub !== "freq") return unknownSubcommand("object", command.arg(1));
      if (command.argCount !== 3) return wrongArity(`object|${sub}`);
      return applier.apply(conn, command, null, () =>
        withValue(db, conn, command.key(2), (value) => {
          if (sub === "encoding") conn?.writeBulk(encodingOf(value));
          else if (sub === "refcount") {
            const shared = value instanceof Uint8Array && stringEncoding(value) === "int" && value[0] !== 45 && Number(latin1(value)) < sharedIntegers;
            conn?.writeInt(shared ? sharedRefcount : 1);
          } else throw sub === "idletime" ? errIdleTime : errFreq;
        }),
      );
    },
  },
  {
    spec: spec(
      "memory",
      -2,
      "readonly",
      [2, 2, 1],
      "server",
      "USAGE key [SAMPLES count]: an estimate of this node's memory for the key and its value, in bytes; HELP. (STATS, DOCTOR, PURGE and MALLOC-STATS are the node's own: src/server/commands/memory.ts.)",
      "USAGE|HELP|STATS|DOCTOR|PURGE|MALLOC-STATS [key] [SAMPLES count:integer]",
    ),
    run(db, applier, conn, command) {
      const sub = option(command.arg(1));
      if (sub === "help") {
        return help(applier, conn, command, "memory", [
          ...memoryHelpLines,
          "USAGE <key> [SAMPLES <count>]",
          "    Return memory in bytes used by <key> and its value. Nested values are",
          "    sampled up to <count> times (default: 5, 0 means sample all).",
        ]);
      }
      if (sub !== "usage") return unknownSubcommand("memory", command.arg(1));
      if (command.argCount < 3) return wrongArity("memory|usage");
      let samples = samplesDefault;
      for (let i = 3; i < command.argCount; i++) {
        if (option(command.arg(i)) !== "samples" || i + 1 >= command.argCount) return errSyntax;
        const count = parseLong(command.arg(++i));
        if (count === null) return errNotInteger;
        if (count < 0) return errSyntax;
        samples = count === 0 ? Infinity : count;
      }
      return applier.apply(conn, command, null, () => withValue(db, conn, command.key(2), (value) => conn?.writeInt(memoryUsage(command.key(2), value, samples))));
    },
  },
];
