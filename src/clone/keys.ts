/**
 * Keyspace commands over every type: DEL, UNLINK, EXISTS, TOUCH, KEYS, RANDOMKEY, DBSIZE, FLUSHALL,
 * FLUSHDB, TYPE, RENAME, RENAMENX, COPY, SCAN (cursor, MATCH, COUNT, TYPE), and DEBUG DIGEST /
 * DIGEST-VALUE.
 *
 * The clone has one database, 0 (as SELECT says): COPY's DB option takes 0 only, and answers
 * another index as out of range.
 */
import { RespError } from "../errors.ts";
import { globMatch } from "../glob.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { spec, writeHelp } from "../server/command-spec.ts";
import { errInvalidCursor, errNoSuchKey, errNotInteger, errSyntax, option, parseCursor, parseLong } from "./arguments.ts";
import { bytesOf, type CloneCommand, type Handler, unchangedZero } from "./command.ts";
import { keyspaceDigest, valueDigest } from "./digest.ts";
import { type Entry, type Keyspace, typeOf, type Value } from "./keyspace.ts";
import { parseScanOptions, scanMatches, writeScanReply } from "./scan.ts";

function isMatchAll(pattern: Uint8Array | null): boolean {
  return pattern === null || (pattern.length === 1 && pattern[0] === 42);
}

/** DEL and UNLINK (which frees nothing in the background here: it is DEL). */
const deleteKeys: Handler = (db, applier, conn, command) => {
  const count = command.argCount;
  return applier.apply(
    conn,
    command,
    () => {
      let removed = 0;
      // A key whose time has come counts as gone, as in Redis (`has` reclaims it).
      for (let i = 1; i < count; i++) {
        const key = command.key(i);
        if (db.has(key) && db.delete(key)) removed++;
      }
      return removed;
    },
    (removed) => conn?.writeInt(removed),
    () => {
      // None of the keys there: nothing to delete.
      for (let i = 1; i < count; i++) if (db.has(command.key(i))) return null;
      return unchangedZero;
    },
  );
};

/** FLUSHALL and FLUSHDB (one database: the same), with ASYNC or SYNC accepted. */
const flush: Handler = (db, applier, conn, command) => {
  const mode = option(command.arg(1));
  if (command.argCount > 2 || (command.argCount === 2 && mode !== "sync" && mode !== "async")) return errSyntax;
  return applier.apply(
    conn,
    command,
    () => db.flush(),
    () => conn?.writeString("OK"),
  );
};

/**
 * RENAME, and RENAMENX (`onlyNew`: not onto a key that exists). The new name is a new key (a new
 * SCAN sequence number), as in Redis; the TTL goes along.
 */
function rename(onlyNew: boolean): Handler {
  return (db, applier, conn, command) =>
    applier.apply(
      conn,
      command,
      () => {
        const from = command.key(1);
        const to = command.key(2);
        const value = db.get(from);
        if (value === undefined) throw errNoSuchKey;
        if (from === to || (onlyNew && db.has(to))) return 0;
        const expiresAt = db.expiryOf(from) ?? 0;
        db.delete(to);
        db.delete(from);
        db.set(to, value);
        db.setExpiry(to, expiresAt);
        return 1;
      },
      (renamed) => {
        if (onlyNew) conn?.writeInt(renamed);
        else conn?.writeString("OK");
      },
      () => {
        // A key renamed to itself, or RENAMENX onto a key that exists: nothing moves.
        const from = command.key(1);
        const to = command.key(2);
        if (!db.has(from)) throw errNoSuchKey;
        return from === to || (onlyNew && db.has(to)) ? unchangedZero : null;
      },
    );
}

const int32Min = -(2 ** 31);
const int32Max = 2 ** 31 - 1;
const errDbIndex = new RespError("ERR DB index is out of range");

/**
 * COPY's options after the two keys (Redis's order of checks): whether REPLACE was given, or the
 * error. `DB n` is read as Redis's `getIntFromObjectOrReply`; any index but 0 is out of range.
 */
function parseCopyOptions(command: Command): boolean | RespError {
  let replace = false;
  for (let i = 3; i < command.argCount; i++) {
    const name = option(command.arg(i));
    if (name === "replace") {
      replace = true;
    } else if (name === "db" && i + 1 < command.argCount) {
      const index = parseLong(command.arg(++i));
      if (index === null) return errNotInteger;
      if (index < int32Min || index > int32Max) return new RespError(`ERR value is out of range, value must between ${int32Min} and ${int32Max}`);
      if (index !== 0) return errDbIndex;
    } else {
      return errSyntax;
    }
  }
  if (command.key(1) === command.key(2)) return new RespError("ERR source and destination objects are the same");
  return replace;
}

/**
 * A deep copy of a value, to store under another key. A string is shared: `get` inside `mutate`
 * took its ownership away (keyspace.ts), so a bit command copies it before changing either key.
 */
function copyOf(db: Keyspace, value: Value): Value {
  return value instanceof Uint8Array ? value : value.clone(db.epoch);
}

export const keyCommands: readonly CloneCommand[] = [
  { reusable: true, spec: spec("del", -2, "write", [1, -1, 1], "generic", "Deletes one or more keys.", "key ..."), run: deleteKeys },
  {
    reusable: true,
    spec: spec("unlink", -2, "write fast", [1, -1, 1], "generic", "Asynchronously deletes one or more keys.", "key ..."),
    run: deleteKeys,
  },
  {
    spec: spec("exists", -2, "readonly fast", [1, -1, 1], "generic", "Counts how many of the given keys exist.", "key ..."),
    run(db, applier, conn, command) {
      const count = command.argCount;
      return applier.apply(conn, command, null, () => {
        let found = 0;
        for (let i = 1; i < count; i++) if (db.has(command.key(i))) found++;
        conn?.writeInt(found);
      });
    },
  },
  {
    // Access times are not kept, so TOUCH only counts (a read, never logged).
    spec: spec("touch", -2, "readonly fast", [1, -1, 1], "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key ..."),
    run(db, applier, conn, command) {
      const count = command.argCount;
      return applier.apply(conn, command, null, () => {
        let found = 0;
        for (let i = 1; i < count; i++) if (db.has(command.key(i))) found++;
        conn?.writeInt(found);
      });
    },
  },
  {
    spec: spec("keys", 2, "readonly", [0, 0, 0], "generic", "Returns all key names that match a pattern.", "pattern:pattern"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        if (conn === null) return;
        const pattern = command.arg(1);
        const all = isMatchAll(pattern);
        const found: string[] = [];
        for (const key of db.keys()) if (all || globMatch(pattern, bytesOf(key))) found.push(key);
        found.sort();
        conn.writeArray(found.length);
        for (const key of found) conn.writeBulk(bytesOf(key));
      });
    },
  },
  {
    spec: spec("randomkey", 1, "readonly", [0, 0, 0], "generic", "Returns a random key name from the database."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        // A read: this node's own randomness, as Redis's.
        const entry = db.randomLive(Math.random);
        if (entry === undefined) conn?.writeNull();
        else conn?.writeBulk(bytesOf(entry.key));
      });
    },
  },
  {
    // As Redis's, the count includes keys that have expired but are not reclaimed yet.
    spec: spec("dbsize", 1, "readonly fast", [0, 0, 0], "server", "Returns the number of keys."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.size));
    },
  },
  { spec: spec("flushall", -1, "write", [0, 0, 0], "server", "Removes all keys.", "[ASYNC|SYNC]"), run: flush },
  { spec: spec("flushdb", -1, "write", [0, 0, 0], "server", "Removes all keys from the current database.", "[ASYNC|SYNC]"), run: flush },
  {
    spec: spec("type", 2, "readonly fast", [1, 1, 1], "generic", "Determines the type of value stored at a key.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const value = db.get(command.key(1));
        conn?.writeString(value === undefined ? "none" : typeOf(value));
      });
    },
  },
  {
    spec: spec("rename", 3, "write", [1, 2, 1], "generic", "Renames a key and overwrites the destination.", "key newkey:key"),
    run: rename(false),
  },
  {
    spec: spec("renamenx", 3, "write fast", [1, 2, 1], "generic", "Renames a key only when the target key name doesn't exist.", "key newkey:key"),
    run: rename(true),
  },
  {
    spec: spec("copy", -3, "write denyoom", [1, 2, 1], "generic", "Copies the value of a key to a new key.", "source:key destination:key [DB destination-db:integer] [REPLACE]"),
    run(db, applier, conn, command) {
      const replace = parseCopyOptions(command);
      if (replace instanceof RespError) return replace;
      return applier.apply(
        conn,
        command,
        () => {
          const from = command.key(1);
          const to = command.key(2);
          const value = db.get(from);
          if (value === undefined) return 0;
          if (db.has(to)) {
            if (!replace) return 0;
            // A new key in the destination's place (a new SCAN sequence number), as in Redis.
            db.delete(to);
          }
          const expiresAt = db.expiryOf(from) ?? 0;
          db.set(to, copyOf(db, value));
          if (expiresAt !== 0) db.setExpiry(to, expiresAt);
          return 1;
        },
        (copied) => conn?.writeInt(copied),
      );
    },
  },
  {
    spec: spec(
      "scan",
      -2,
      "readonly",
      [0, 0, 0],
      "generic",
      "Iterates over the key names in the database.",
      "cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [TYPE type:string]",
    ),
    run(db, applier, conn, command) {
      const cursor = parseCursor(command.arg(1));
      if (cursor === null) return errInvalidCursor;
      const options = parseScanOptions(command, 2, true);
      if (options instanceof RespError) return options;
      return applier.apply(conn, command, null, () => {
        if (conn === null) return;
        const found: Uint8Array[] = [];
        // The cursor is a key's sequence number (see keyspace.ts): one past every key's, as "-1" is, ends the scan.
        const next = db.scan(Number(cursor), options.count, (entry: Entry) => {
          if (options.type !== null && typeOf(entry.value) !== options.type) return;
          if (scanMatches(options, entry.key)) found.push(bytesOf(entry.key));
        });
        writeScanReply(conn, next, found);
      });
    },
  },
  {
    spec: spec(
      "debug",
      -2,
      "admin noscript loading stale",
      [0, 0, 0],
      "server",
      "DIGEST: a digest of every key, type, value and expiry time (equal on nodes that hold the same data); DIGEST-VALUE key...: one per key.",
      "DIGEST|DIGEST-VALUE [key ...]",
    ),
    run(db, applier, conn, command) {
      const sub = option(command.arg(1));
      if (sub === "digest" && command.argCount === 2) {
        return applier.apply(conn, command, null, () => conn?.writeString(keyspaceDigest(db)));
      }
      if (sub === "digest-value") {
        return applier.apply(conn, command, null, () => {
          conn?.writeArray(command.argCount - 2);
          for (let i = 2; i < command.argCount; i++) conn?.writeString(valueDigest(db.get(command.key(i))));
        });
      }
      if (sub === "help" && command.argCount === 2) {
        return applier.apply(conn, command, null, () => {
          if (conn !== null)
            writeHelp(conn, "debug", [
              "DIGEST",
              "    Return a digest of every key, type, value and expiry time (equal on nodes that hold the same data).",
              "DIGEST-VALUE <key> [<key> ...]",
              "    Return a digest of each key's value.",
            ]);
        });
      }
      return new RespError(`ERR unknown subcommand '${latin1(command.arg(1)).slice(0, 128)}'. Try DEBUG HELP.`);
    },
  },
];
