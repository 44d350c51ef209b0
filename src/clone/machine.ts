/**
 * The Redis clone's state machine: string keys and values, with Finn's SET, GET, DEL and KEYS and
 * the string commands a user reaches for next. Every write goes through `applier.apply`, so it
 * runs on every node in log order; reads answer from local state.
 *
 * Keys are kept as latin1 strings (one character per byte), which is binary-safe; values are
 * byte arrays that are never changed in place (APPEND makes a new one), so a shallow copy of the
 * map is a point-in-time snapshot.
 */
import { Packr, Unpackr } from "msgpackr";
import type { Applier, Conn, Machine, SnapshotReader, SnapshotWriter } from "../api.ts";
import { ErrUnknownCommand, ErrWrongNumberOfArguments, RespError } from "../errors.ts";
import type { MachineExtras } from "../finn.ts";
import { globMatch } from "../glob.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import type { InfoSections } from "../server/builtin.ts";
import { type CommandSpec, spec } from "../server/command-spec.ts";

const errNotInteger = new RespError("ERR value is not an integer or out of range");
const errOverflow = new RespError("ERR increment or decrement would overflow");
const errSyntax = new RespError("ERR syntax error");

/** Redis strings are at most 512 MB; APPEND past that fails as in Redis. */
const valueBytesMax = 512 * 1024 * 1024;
/** Keys per msgpack record in a snapshot: big enough to be cheap, small enough to stream. */
const snapshotBatchKeys = 4096;
/** The snapshot format's version, written first. */
const snapshotFormat = 1;

const int64Max = (1n << 63n) - 1n;
const int64Min = -(1n << 63n);

const encoder = new TextEncoder();

/** Parses a value as Redis does for INCR: an optional `-` and digits, no spaces, within int64. */
function parseInteger(bytes: Uint8Array): bigint | null {
  const length = bytes.length;
  if (length === 0 || length > 20) return null;
  let i = 0;
  if (bytes[0] === 45) {
    if (length === 1) return null;
    i = 1;
  }
  // Redis refuses leading zeros ("01"), but accepts "0".
  if (bytes[i] === 48 && length > i + 1) return null;
  for (let j = i; j < length; j++) {
    const byte = bytes[j] ?? 0;
    if (byte < 48 || byte > 57) return null;
  }
  const value = BigInt(latin1(bytes));
  if (value > int64Max || value < int64Min) return null;
  if (i === 1 && value === 0n) return null; // "-0"
  return value;
}

function keyBytes(key: string): Uint8Array {
  return Buffer.from(key, "latin1");
}

/** The clone's commands, for COMMAND and redis-cli's hints. */
const commands: readonly CommandSpec[] = [
  spec("set", -3, "write denyoom", [1, 1, 1], "string", "Sets the string value of a key.", "key value"),
  spec("get", 2, "readonly fast", [1, 1, 1], "string", "Returns the string value of a key.", "key"),
  spec("del", -2, "write", [1, -1, 1], "generic", "Deletes one or more keys.", "key ..."),
  spec("keys", 2, "readonly", [0, 0, 0], "generic", "Returns all key names that match a pattern.", "pattern:pattern"),
  spec("exists", -2, "readonly fast", [1, -1, 1], "generic", "Counts how many of the given keys exist.", "key ..."),
  spec("mset", -3, "write denyoom", [1, -1, 2], "string", "Sets the string values of one or more keys.", "(key value:string)..."),
  spec("mget", -2, "readonly fast", [1, -1, 1], "string", "Returns the values of one or more keys.", "key ..."),
  spec("incr", 2, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by one.", "key"),
  spec("incrby", 3, "write denyoom fast", [1, 1, 1], "string", "Increments the integer value of a key by a number.", "key increment:integer"),
  spec("decr", 2, "write denyoom fast", [1, 1, 1], "string", "Decrements the integer value of a key by one.", "key"),
  spec("decrby", 3, "write denyoom fast", [1, 1, 1], "string", "Decrements a number from the integer value of a key.", "key decrement:integer"),
  spec("append", 3, "write denyoom fast", [1, 1, 1], "string", "Appends a string to the value of a key.", "key value"),
  spec("strlen", 2, "readonly fast", [1, 1, 1], "string", "Returns the length of a string value.", "key"),
  spec("dbsize", 1, "readonly fast", [0, 0, 0], "server", "Returns the number of keys."),
  spec("flushall", -1, "write", [0, 0, 0], "server", "Removes all keys.", "[ASYNC|SYNC]"),
];
const specByName = new Map(commands.map((one) => [one.name, one]));

export class Clone implements Machine, MachineExtras {
  readonly commands = commands;
  private keys = new Map<string, Uint8Array>();

  /** The number of keys (for tests and INFO). */
  get size(): number {
    return this.keys.size;
  }

  info(): InfoSections {
    return { keyspace: this.keys.size > 0 ? { db0: `keys=${this.keys.size},expires=0,avg_ttl=0` } : {} };
  }

  command(applier: Applier, conn: Conn | null, command: Command): void | Error {
    const name = command.name;
    const known = specByName.get(name);
    if (known === undefined) return ErrUnknownCommand;
    const count = command.argCount;
    const arity = known.arity;
    if (arity >= 0 ? count !== arity : count < -arity) return ErrWrongNumberOfArguments;
    switch (name) {
      case "set":
        return this.set(applier, conn, command);
      case "get":
        return applier.apply(conn, command, null, () => {
          const value = this.keys.get(command.key(1));
          if (value === undefined) conn?.writeNull();
          else conn?.writeBulk(value);
        });
      case "del":
        return applier.apply(
          conn,
          command,
          () => {
            let removed = 0;
            for (let i = 1; i < count; i++) if (this.keys.delete(command.key(i))) removed++;
            return removed;
          },
          (removed) => conn?.writeInt(removed),
        );
      case "keys":
        return applier.apply(conn, command, null, () => this.writeKeys(conn, command.arg(1)));
      case "exists":
        return applier.apply(conn, command, null, () => {
          let found = 0;
          for (let i = 1; i < count; i++) if (this.keys.has(command.key(i))) found++;
          conn?.writeInt(found);
        });
      case "mset":
        if (count % 2 !== 1) return ErrWrongNumberOfArguments;
        return applier.apply(
          conn,
          command,
          () => {
            for (let i = 1; i < count; i += 2) this.keys.set(command.key(i), command.copyArg(i + 1));
          },
          () => conn?.writeString("OK"),
        );
      case "mget":
        return applier.apply(conn, command, null, () => {
          conn?.writeArray(count - 1);
          for (let i = 1; i < count; i++) {
            const value = this.keys.get(command.key(i));
            if (value === undefined) conn?.writeNull();
            else conn?.writeBulk(value);
          }
        });
      case "incr":
        return this.incrementBy(applier, conn, command, 1n);
      case "decr":
        return this.incrementBy(applier, conn, command, -1n);
      case "incrby":
      case "decrby": {
        const amount = parseInteger(command.arg(2));
        if (amount === null) return errNotInteger;
        if (name === "decrby" && amount === int64Min) return new RespError("ERR decrement would overflow");
        return this.incrementBy(applier, conn, command, name === "decrby" ? -amount : amount);
      }
      case "append":
        return applier.apply(
          conn,
          command,
          () => {
            const key = command.key(1);
            const addition = command.arg(2);
            const current = this.keys.get(key);
            const length = (current?.length ?? 0) + addition.length;
            if (length > valueBytesMax) throw new RespError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            const next = new Uint8Array(length);
            if (current !== undefined) next.set(current, 0);
            next.set(addition, current?.length ?? 0);
            this.keys.set(key, next);
            return length;
          },
          (length) => conn?.writeInt(length),
        );
      case "strlen":
        return applier.apply(conn, command, null, () => conn?.writeInt(this.keys.get(command.key(1))?.length ?? 0));
      case "dbsize":
        return applier.apply(conn, command, null, () => conn?.writeInt(this.keys.size));
      case "flushall": {
        const mode = command.key(1).toLowerCase();
        if (count > 2 || (mode !== "" && mode !== "sync" && mode !== "async")) return errSyntax;
        return applier.apply(
          conn,
          command,
          () => {
            this.keys = new Map();
          },
          () => conn?.writeString("OK"),
        );
      }
      default:
        return ErrUnknownCommand;
    }
  }

  private set(applier: Applier, conn: Conn | null, command: Command): void | Error {
    // Finn's SET takes exactly a key and a value; options such as EX come with expiry support.
    if (command.argCount !== 3) return errSyntax;
    return applier.apply(
      conn,
      command,
      () => {
        // The argument is a view of a log entry or a client's buffer: keep a copy of its own.
        this.keys.set(command.key(1), command.copyArg(2));
      },
      () => conn?.writeString("OK"),
    );
  }

  private incrementBy(applier: Applier, conn: Conn | null, command: Command, amount: bigint): void {
    const key = command.key(1);
    return applier.apply(
      conn,
      command,
      () => {
        const current = this.keys.get(key);
        const value = current === undefined ? 0n : parseInteger(current);
        if (value === null) throw errNotInteger;
        const next = value + amount;
        if (next > int64Max || next < int64Min) throw errOverflow;
        this.keys.set(key, encoder.encode(next.toString()));
        return next;
      },
      (next) => conn?.writeInt(next),
    );
  }

  private writeKeys(conn: Conn | null, pattern: Uint8Array): void {
    if (conn === null) return;
    const all = pattern.length === 1 && pattern[0] === 42;
    const found: string[] = [];
    for (const key of this.keys.keys()) {
      if (all || globMatch(pattern, keyBytes(key))) found.push(key);
    }
    found.sort();
    conn.writeArray(found.length);
    for (const key of found) conn.writeBulk(keyBytes(key));
  }

  /** Writes every key and value as of now, in msgpack records of up to `snapshotBatchKeys` pairs. */
  async snapshot(writer: SnapshotWriter): Promise<void> {
    // Values are never changed in place, so copying the entries is a point-in-time view.
    const entries = [...this.keys];
    const packr = new Packr({ useRecords: false });
    await writer.write(packr.pack({ format: snapshotFormat, keys: entries.length }));
    for (let i = 0; i < entries.length; i += snapshotBatchKeys) {
      const batch: Uint8Array[] = [];
      for (const [key, value] of entries.slice(i, i + snapshotBatchKeys)) batch.push(keyBytes(key), value);
      await writer.write(packr.pack(batch));
    }
  }

  async restore(reader: SnapshotReader): Promise<void> {
    const bytes = await reader.readAll();
    const records = new Unpackr({ useRecords: false }).unpackMultiple(bytes);
    const header = records[0] as { format?: unknown; keys?: unknown } | undefined;
    if (header === undefined || header.format !== snapshotFormat || typeof header.keys !== "number") {
      throw new Error("snapshot is not a clone snapshot of a known format");
    }
    const keys = new Map<string, Uint8Array>();
    for (const record of records.slice(1)) {
      if (!Array.isArray(record) || record.length % 2 !== 0) throw new Error("snapshot record is malformed");
      for (let i = 0; i < record.length; i += 2) {
        const key: unknown = record[i];
        const value: unknown = record[i + 1];
        if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) throw new Error("snapshot entry is not bytes");
        keys.set(latin1(key), Uint8Array.from(value));
      }
    }
    if (keys.size !== header.keys) throw new Error(`snapshot holds ${keys.size} keys, its header says ${String(header.keys)}`);
    this.keys = keys;
  }
}
