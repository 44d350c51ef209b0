/**
 * Commands with expiry times: SET with its options (NX|XX, GET, EX|PX|EXAT|PXAT|KEEPTTL), SETEX,
 * PSETEX, SETNX, GETDEL, GETEX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX|XX|GT|LT), TTL, PTTL,
 * EXPIRETIME, PEXPIRETIME and PERSIST, with Redis 7's replies and errors.
 *
 * A relative time (EX, PX, EXPIRE...) becomes an absolute one inside `mutate`, from
 * `replicatedTime()`: the time stamped on the log entry, so every replica stores the same
 * absolute expiry time. Argument errors (including "invalid expire time", checked against this
 * node's clock for relative times) are answered before `applier.apply`, so they never reach the
 * log; inside `mutate` the overflow check is repeated against the entry's time, identically on
 * every replica. An expiry time that has already come deletes the key, as in Redis.
 *
 * Expiry times are kept as JavaScript numbers: exact up to 2^53 ms (year 287396), which every
 * meaningful time is; larger ones (up to int64) are accepted and rounded.
 */
import type { Applier, Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errNotInteger, errSyntax, int64Max, int64Min, option, parseInteger, parseLong } from "./arguments.ts";
import { type CloneCommand, unchangedUndefined, unchangedZero, writeBulkOrNull } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";

function errInvalidExpire(name: string): RespError {
  return new RespError(`ERR invalid expire time in '${name}' command`);
}

/** How a time argument reads: seconds or milliseconds, from now or since the epoch. */
interface TimeUnit {
  readonly ms: boolean;
  readonly absolute: boolean;
}

/**
 * Time arguments this long or shorter (under 10^12, in seconds under 10^15 ms) are read and added
 * up in numbers: no int64 bound can be crossed, so the BigInt path's checks cannot fail there.
 */
const shortTimeBytesMax = 12;

/**
 * A SET/SETEX/GETEX time (Redis's `getExpireMillisecondsOrReply`): positive, no overflow once in
 * milliseconds and (for a relative one) added to `base`. The result is absolute, in ms.
 */
function positiveTime(bytes: Uint8Array, unit: TimeUnit, name: string, base: number): number | bigint {
  if (bytes.length <= shortTimeBytesMax) {
    const short = parseLong(bytes);
    if (short === null) throw errNotInteger;
    if (short <= 0) throw errInvalidExpire(name);
    return (unit.ms ? short : short * 1000) + (unit.absolute ? 0 : base);
  }
  let value = parseInteger(bytes);
  if (value === null) throw errNotInteger;
  if (value <= 0n || (!unit.ms && value > int64Max / 1000n)) throw errInvalidExpire(name);
  if (!unit.ms) value *= 1000n;
  if (!unit.absolute) value += BigInt(base);
  if (value > int64Max) throw errInvalidExpire(name);
  return value;
}

/**
 * An EXPIRE-family time (Redis's `expireGenericCommand`): an integer of either sign, with
 * overflow refused once in milliseconds and added to `base` (0 for an absolute one).
 */
function expireArgument(bytes: Uint8Array, unit: TimeUnit, name: string, base: number): number | bigint {
  if (bytes.length <= shortTimeBytesMax) {
    const short = parseLong(bytes);
    if (short === null) throw errNotInteger;
    return (unit.ms ? short : short * 1000) + (unit.absolute ? 0 : base);
  }
  let value = parseInteger(bytes);
  if (value === null) throw errNotInteger;
  if (!unit.ms) {
    if (value > int64Max / 1000n || value < int64Min / 1000n) throw errInvalidExpire(name);
    value *= 1000n;
  }
  if (!unit.absolute) {
    if (value > int64Max - BigInt(base)) throw errInvalidExpire(name);
    value += BigInt(base);
  }
  return value;
}

/** A stored expiry time from an absolute one: a time already come (zero or less too) deletes. */
function storedTime(at: number | bigint): number {
  return at <= 0 ? -1 : Number(at);
}

/** Sets `key`'s expiry to `at` (absolute ms), deleting the key when that time has come. */
function expireKey(db: Keyspace, key: string, at: number | bigint): void {
  db.setExpiry(key, storedTime(at));
}

const seconds: TimeUnit = { ms: false, absolute: false };
const milliseconds: TimeUnit = { ms: true, absolute: false };
const unixSeconds: TimeUnit = { ms: false, absolute: true };
const unixMilliseconds: TimeUnit = { ms: true, absolute: true };

/** The unit of an EX/PX/EXAT/PXAT option, or null for another word. */
function timeOption(name: string): TimeUnit | null {
  switch (name) {
    case "ex":
      return seconds;
    case "px":
      return milliseconds;
    case "exat":
      return unixSeconds;
    case "pxat":
      return unixMilliseconds;
    default:
      return null;
  }
}

/**
 * Runs `check` before `apply`, so that argument errors never reach the log. Its time is
 * `replicatedTime()`: this node's clock when the client's command arrives, and the entry's time
 * when the command is applied, where a replica's own clock would let replicas decide differently
 * (a time within their clocks' difference of overflowing, refused on one, set on another).
 */
function checkNow(check: () => unknown): Error | null {
  try {
    check();
    return null;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
}

interface SetOptions {
  nx: boolean;
  xx: boolean;
  get: boolean;
  keepTtl: boolean;
  time: { unit: TimeUnit; bytes: Uint8Array } | null;
}

/** A plain SET's options (shared: never written to). */
const noOptions: SetOptions = { nx: false, xx: false, get: false, keepTtl: false, time: null };
/** What SET's mutate returns when it had no old value to report (shared: the common case allocates nothing). */
const wasSet = { done: true, old: undefined } as const;
const notSet = { done: false, old: undefined } as const;

/** SET's options after key and value (Redis's `parseExtendedStringArgumentsOrReply`). */
function parseSetOptions(command: Command): SetOptions | Error {
  if (command.argCount === 3) return noOptions;
  const options: SetOptions = { nx: false, xx: false, get: false, keepTtl: false, time: null };
  for (let i = 3; i < command.argCount; i++) {
    const name = option(command.arg(i));
    const unit = timeOption(name);
    if (name === "nx" && !options.xx) options.nx = true;
    else if (name === "xx" && !options.nx) options.xx = true;
    else if (name === "get") options.get = true;
    else if (name === "keepttl" && options.time === null) options.keepTtl = true;
    else if (unit !== null && !options.keepTtl && (options.time === null || options.time.unit === unit) && i + 1 < command.argCount) {
      options.time = { unit, bytes: command.arg(i + 1) };
      i++;
    } else return errSyntax;
  }
  return options;
}

/** SET and its forms (SETEX, PSETEX, SETNX): writes `value` at `key` under `options`. */
function runSet(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, name: string, options: SetOptions, valueAt: number): void | Error {
  const time = options.time;
  if (time !== null) {
    const error = checkNow(() => positiveTime(time.bytes, time.unit, name, replicatedTime()));
    if (error !== null) return error;
  }
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      const at = time === null ? null : positiveTime(time.bytes, time.unit, name, replicatedTime());
      const old = options.get ? db.lookupString(key) : undefined;
      // Without NX, XX or GET nothing asks whether the key exists: one lookup fewer per SET.
      const exists = options.get ? old !== undefined : (options.nx || options.xx) && db.has(key);
      if ((options.nx && exists) || (options.xx && !exists)) return old === undefined ? notSet : { done: false, old };
      // The argument is a view of a log entry or a client's buffer: keep a copy of its own.
      db.set(key, command.copyArg(valueAt), options.keepTtl);
      if (at !== null) expireKey(db, key, at);
      return old === undefined ? wasSet : { done: true, old };
    },
    (result) => {
      if (options.get) {
        writeBulkOrNull(conn, result.old);
      } else if (name === "setnx") conn?.writeInt(result.done ? 1 : 0);
      else if (result.done) conn?.writeString("OK");
      else conn?.writeNull();
    },
    // NX of a key that exists, XX of one that does not: nothing set (the checks of `mutate`).
    options.nx || options.xx
      ? () => {
          const key = command.key(1);
          const old = options.get ? db.lookupString(key) : undefined;
          const exists = options.get ? old !== undefined : db.has(key);
          if ((options.nx && exists) || (options.xx && !exists)) return { value: old === undefined ? notSet : { done: false, old } };
          return null;
        }
      : null,
  );
}


/** EXPIRE's NX|XX|GT|LT (Redis's `parseExtendedExpireArgumentsOrReply`). */
interface ExpireFlags {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
}

function parseExpireFlags(command: Command): ExpireFlags | Error {
  const flags = { nx: false, xx: false, gt: false, lt: false };
  for (let i = 3; i < command.argCount; i++) {
    const name = option(command.arg(i));
    if (name === "nx") flags.nx = true;
    else if (name === "xx") flags.xx = true;
    else if (name === "gt") flags.gt = true;
    else if (name === "lt") flags.lt = true;
    else return new RespError(`ERR Unsupported option ${Buffer.from(command.arg(i)).toString("latin1")}`);
  }
  if (flags.nx && (flags.xx || flags.gt || flags.lt)) return new RespError("ERR NX and XX, GT or LT options at the same time are not compatible");
  if (flags.gt && flags.lt) return new RespError("ERR GT and LT options at the same time are not compatible");
  return flags;
}

function expireCommand(name: string, unit: TimeUnit, summary: string, argument: string): CloneCommand {
  return {
    spec: spec(name, -3, "write fast", [1, 1, 1], "generic", summary, `key ${argument}:integer [NX|XX|GT|LT]`),
    run(db, applier, conn, command) {
      const flags = parseExpireFlags(command);
      if (flags instanceof Error) return flags;
      const error = checkNow(() => expireArgument(command.arg(2), unit, name, unit.absolute ? 0 : replicatedTime()));
      if (error !== null) return error;
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const at = expireArgument(command.arg(2), unit, name, unit.absolute ? 0 : replicatedTime());
          if (expiryStays(db.expiryOf(key), flags, storedTime(at))) return 0;
          expireKey(db, key, at);
          return 1;
        },
        (done) => conn?.writeInt(done),
        // A relative time from this node's clock now: the moment the write is answered at.
        () => (expiryStays(db.expiryOf(command.key(1)), flags, storedTime(expireArgument(command.arg(2), unit, name, unit.absolute ? 0 : replicatedTime()))) ? unchangedZero : null),
      );
    },
  };
}

/**
 * Whether an EXPIRE-family command with `flags` leaves the expiry as it is: no key (`current`
 * undefined), or NX, XX, GT or LT refusing the new time `stored` (no TTL counts as an infinite one
 * for GT and LT, as in Redis).
 */
function expiryStays(current: number | undefined, flags: ExpireFlags, stored: number): boolean {
  if (current === undefined) return true;
  if (flags.nx && current !== 0) return true;
  if (flags.xx && current === 0) return true;
  if (flags.gt && (current === 0 || stored <= current)) return true;
  return flags.lt && current !== 0 && stored >= current;
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 without the key, -1 without a TTL. */
function ttlCommand(name: string, ms: boolean, absolute: boolean, summary: string): CloneCommand {
  return {
    spec: spec(name, 2, "readonly fast", [1, 1, 1], "generic", summary, "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const at = db.expiryOf(command.key(1));
        if (at === undefined) return conn?.writeInt(-2);
        if (at === 0) return conn?.writeInt(-1);
        if (absolute) return conn?.writeInt(ms ? at : Math.floor(at / 1000));
        const left = Math.max(0, at - replicatedTime());
        conn?.writeInt(ms ? left : Math.floor((left + 500) / 1000));
      });
    },
  };
}

export const expiryCommands: readonly CloneCommand[] = [
  {
    reusable: true,
    spec: spec(
      "set",
      -3,
      "write denyoom",
      [1, 1, 1],
      "string",
      "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
      "key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL] [time:integer]",
    ),
    run(db, applier, conn, command) {
      const options = parseSetOptions(command);
      if (options instanceof Error) return options;
      return runSet(db, applier, conn, command, "set", options, 2);
    },
  },
  {
    reusable: true,
    spec: spec("setex", 4, "write denyoom", [1, 1, 1], "string", "Sets the string value and expiration time of a key.", "key seconds:integer value"),
    run: (db, applier, conn, command) =>
      runSet(db, applier, conn, command, "setex", { ...noOptions, time: { unit: seconds, bytes: command.arg(2) } }, 3),
  },
  {
    reusable: true,
    spec: spec("psetex", 4, "write denyoom", [1, 1, 1], "string", "Sets the string value and expiration time in milliseconds of a key.", "key milliseconds:integer value"),
    run: (db, applier, conn, command) =>
      runSet(db, applier, conn, command, "psetex", { ...noOptions, time: { unit: milliseconds, bytes: command.arg(2) } }, 3),
  },
  {
    reusable: true,
    spec: spec("setnx", 3, "write denyoom fast", [1, 1, 1], "string", "Set the string value of a key only when the key doesn't exist.", "key value"),
    run: (db, applier, conn, command) => runSet(db, applier, conn, command, "setnx", { ...noOptions, nx: true }, 2),
  },
  {
    reusable: true,
    spec: spec("getdel", 2, "write fast", [1, 1, 1], "string", "Returns the string value of a key after deleting the key.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const value = db.lookupString(key);
          if (value !== undefined) db.delete(key);
          return value;
        },
        (value) => writeBulkOrNull(conn, value),
        () => (db.lookupString(command.key(1)) === undefined ? unchangedUndefined : null),
      );
    },
  },
  {
    spec: spec(
      "getex",
      -2,
      "write fast",
      [1, 1, 1],
      "string",
      "Returns the string value of a key after setting its expiration time.",
      "key [EX|PX|EXAT|PXAT|PERSIST] [time:integer]",
    ),
    run(db, applier, conn, command) {
      let time: { unit: TimeUnit; bytes: Uint8Array } | null = null;
      let persist = false;
      for (let i = 2; i < command.argCount; i++) {
        const name = option(command.arg(i));
        const unit = timeOption(name);
        // As in Redis, an option may repeat (the last time wins) but not mix with another.
        if (name === "persist" && time === null) persist = true;
        else if (unit !== null && (time === null || time.unit === unit) && !persist && i + 1 < command.argCount) {
          time = { unit, bytes: command.arg(i + 1) };
          i++;
        } else return errSyntax;
      }
      const key = command.key(1);
      if (time === null && !persist) {
        // Without options GETEX is GET: a read, which never reaches the log.
        return applier.apply(conn, command, null, () => writeBulkOrNull(conn, db.lookupString(key)));
      }
      const given = time;
      // As in Redis, a missing key answers nil whatever the time given, and a key of another type
      // WRONGTYPE: a bad time is refused only for a string that exists. Such a GETEX changes
      // nothing: it is answered as a read (after the connection's writes before it), never logged.
      const error = given === null ? null : checkNow(() => positiveTime(given.bytes, given.unit, "getex", replicatedTime()));
      if (error !== null) {
        return applier.apply(conn, command, null, () => {
          if (db.lookupString(key) !== undefined) throw error;
          conn?.writeNull();
        });
      }
      return applier.apply(
        conn,
        command,
        () => {
          const value = db.lookupString(key);
          if (value === undefined) return undefined;
          const at = given === null ? null : positiveTime(given.bytes, given.unit, "getex", replicatedTime());
          if (at !== null) expireKey(db, key, at);
          else db.setExpiry(key, 0);
          return value;
        },
        (value) => writeBulkOrNull(conn, value),
      );
    },
  },
  expireCommand("expire", seconds, "Sets the expiration time of a key in seconds.", "seconds"),
  expireCommand("pexpire", milliseconds, "Sets the expiration time of a key in milliseconds.", "milliseconds"),
  expireCommand("expireat", unixSeconds, "Sets the expiration time of a key to a Unix timestamp.", "unix-time-seconds"),
  expireCommand("pexpireat", unixMilliseconds, "Sets the expiration time of a key to a Unix milliseconds timestamp.", "unix-time-milliseconds"),
  ttlCommand("ttl", false, false, "Returns the expiration time in seconds of a key."),
  ttlCommand("pttl", true, false, "Returns the expiration time in milliseconds of a key."),
  ttlCommand("expiretime", false, true, "Returns the expiration time of a key as a Unix timestamp."),
  ttlCommand("pexpiretime", true, true, "Returns the expiration time of a key as a Unix milliseconds timestamp."),
  {
    spec: spec("persist", 2, "write fast", [1, 1, 1], "generic", "Removes the expiration time of a key.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const at = db.expiryOf(key);
          if (at === undefined || at === 0) return 0;
          db.setExpiry(key, 0);
          return 1;
        },
        (done) => conn?.writeInt(done),
        () => {
          const at = db.expiryOf(command.key(1));
          return at === undefined || at === 0 ? unchangedZero : null;
        },
      );
    },
  },
];
