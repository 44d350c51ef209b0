/**
 * Keyspace commands over every type: DEL, EXISTS, KEYS, DBSIZE, FLUSHALL, TYPE, RENAME, RENAMENX,
 * SCAN (cursor, MATCH, COUNT, TYPE), and DEBUG DIGEST / DIGEST-VALUE.
 */
import { RespError } from "../errors.ts";
import { globMatch } from "../glob.ts";
import { latin1 } from "../resp/reader.ts";
import { spec, writeHelp } from "../server/command-spec.ts";
import { errNoSuchKey, errNotInteger, errSyntax, option, parseLong } from "./arguments.ts";
import { bytesOf, type CloneCommand } from "./command.ts";
import { keyspaceDigest, valueDigest } from "./digest.ts";
import { type Entry, typeOf } from "./keyspace.ts";

const scanCountDefault = 10;
const errInvalidCursor = new RespError("ERR invalid cursor");
const uint64Max = (1n << 64n) - 1n;

/** A SCAN cursor as Redis reads it (an unsigned 64-bit number); null when invalid. */
function parseCursor(bytes: Uint8Array): number | null {
  const text = latin1(bytes);
  if (!/^\+?\d{1,20}$/.test(text)) return null;
  const value = BigInt(text);
  return value > uint64Max ? null : Number(value);
}

function isMatchAll(pattern: Uint8Array | null): boolean {
  return pattern === null || (pattern.length === 1 && pattern[0] === 42);
}

export const keyCommands: readonly CloneCommand[] = [
  {
    spec: spec("del", -2, "write", [1, -1, 1], "generic", "Deletes one or more keys.", "key ..."),
    run(db, applier, conn, command) {
      const count = command.argCount;
      return applier.apply(
        conn,
        command,
        () => {
          let removed = 0;
          for (let i = 1; i < count; i++) if (db.delete(command.key(i))) removed++;
          return removed;
        },
        (removed) => conn?.writeInt(removed),
      );
    },
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
    // As Redis's, the count includes keys that have expired but are not reclaimed yet.
    spec: spec("dbsize", 1, "readonly fast", [0, 0, 0], "server", "Returns the number of keys."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.size));
    },
  },
  {
    spec: spec("flushall", -1, "write", [0, 0, 0], "server", "Removes all keys.", "[ASYNC|SYNC]"),
    run(db, applier, conn, command) {
      const mode = option(command.arg(1));
      if (command.argCount > 2 || (command.argCount === 2 && mode !== "sync" && mode !== "async")) return errSyntax;
      return applier.apply(
        conn,
        command,
        () => db.flush(),
        () => conn?.writeString("OK"),
      );
    },
  },
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
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const from = command.key(1);
          const to = command.key(2);
          const value = db.get(from);
          if (value === undefined) throw errNoSuchKey;
          if (from === to) return;
          const expiresAt = db.expiryOf(from) ?? 0;
          // The new name is a new key (a new SCAN sequence number), as in Redis; the TTL goes along.
          db.delete(to);
          db.delete(from);
          db.set(to, value);
          db.setExpiry(to, expiresAt);
        },
        () => conn?.writeString("OK"),
      );
    },
  },
  {
    spec: spec("renamenx", 3, "write fast", [1, 2, 1], "generic", "Renames a key only when the target key name doesn't exist.", "key newkey:key"),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const from = command.key(1);
          const to = command.key(2);
          const value = db.get(from);
          if (value === undefined) throw errNoSuchKey;
          if (from === to || db.has(to)) return 0;
          const expiresAt = db.expiryOf(from) ?? 0;
          db.delete(from);
          db.set(to, value);
          db.setExpiry(to, expiresAt);
          return 1;
        },
        (renamed) => conn?.writeInt(renamed),
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
      let count = scanCountDefault;
      let pattern: Uint8Array | null = null;
      let type: string | null = null;
      for (let i = 2; i < command.argCount; i += 2) {
        const name = option(command.arg(i));
        if (i + 1 >= command.argCount) return errSyntax;
        if (name === "count") {
          const value = parseLong(command.arg(i + 1));
          if (value === null) return errNotInteger;
          if (value < 1) return errSyntax;
          count = value;
        } else if (name === "match") {
          pattern = command.arg(i + 1);
        } else if (name === "type") {
          type = latin1(command.arg(i + 1)).toLowerCase();
        } else {
          return errSyntax;
        }
      }
      const all = isMatchAll(pattern);
      return applier.apply(conn, command, null, () => {
        if (conn === null) return;
        const found: string[] = [];
        const next = db.scan(cursor, count, (entry: Entry) => {
          if (type !== null && typeOf(entry.value) !== type) return;
          if (!all && pattern !== null && !globMatch(pattern, bytesOf(entry.key))) return;
          found.push(entry.key);
        });
        conn.writeArray(2);
        conn.writeBulk(String(next));
        conn.writeArray(found.length);
        for (const key of found) conn.writeBulk(bytesOf(key));
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
