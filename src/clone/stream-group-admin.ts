/**
 * XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP) and XINFO STREAM, GROUPS and
 * CONSUMERS, with Redis 7.0.15's replies and errors, checked in its order: the subcommand and its
 * arity, CREATE's options, then the key (WRONGTYPE, a missing key, a missing group), then the
 * rest of the arguments (their count, ENTRIESREAD, the id).
 *
 * Errors that depend on the state are thrown from `mutate`, before anything changes, so every
 * replica refuses alike. A consumer made here is seen at `replicatedTime()`.
 *
 * XINFO STREAM's radix-tree-nodes is computed from the nodes' first ids (see `radixTreeNodes`);
 * FULL shows delivery and seen times as stored: the log entries' times.
 */
import type { Applier, Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import { latin1, type Command } from "../resp/reader.ts";
import { arityAllows, spec } from "../server/command-spec.ts";
import { errNotInteger, option, parseInteger } from "./arguments.ts";
import { bytesOf, type CloneCommand } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { unknownSubcommand, wrongArity } from "./object.ts";
import { errInvalidStreamId, formatId, parseStreamId, type StreamEntry, type StreamId, StreamValue, zeroId } from "./stream.ts";
import { ConsumerGroup, entriesReadUnknown, firstId, groupLag, groupWriteSpec, sortedGroups } from "./stream-groups.ts";
import { writeEntry } from "./streams.ts";

const errKeyMissing = new RespError(
  "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
);
const errBusyGroup = new RespError("BUSYGROUP Consumer Group name already exists");
const errEntriesRead = new RespError("ERR value for ENTRIESREAD must be positive or -1");
const errNoSuchKey = new RespError("ERR no such key");

/** `unknown subcommand or wrong number of arguments` for `command`'s subcommand as given. */
export function subcommandSyntax(command: Command, name: string): RespError {
  return new RespError(`ERR unknown subcommand or wrong number of arguments for '${latin1(command.arg(1)).slice(0, 128)}'. Try ${name} HELP.`);
}

/** NOGROUP as XGROUP and XINFO word it. */
export function noGroup(command: Command, groupAt: number, keyAt: number): RespError {
  return new RespError(`NOGROUP No such consumer group '${latin1(command.arg(groupAt))}' for key name '${latin1(command.arg(keyAt))}'`);
}

/** A stream id as `streamParseIDOrReply` reads it (missing seq 0), `-` and `+` allowed when `minMax`. */
export function parseId(bytes: Uint8Array, minMax: boolean, missingSeq = 0n): StreamId | null {
  const id = parseStreamId(latin1(bytes), missingSeq, { minMax, autoSeq: false });
  return id === null || id.seq === null ? null : { ms: id.ms, seq: id.seq };
}

/** ENTRIESREAD's value: an int64 that is -1 or not negative. */
function parseEntriesRead(bytes: Uint8Array): number {
  const value = parseInteger(bytes);
  if (value === null) throw errNotInteger;
  if (value < -1n) throw errEntriesRead;
  return Number(value);
}

/** The stream's group named by argument `at`, or undefined. */
export function groupOf(stream: StreamValue | undefined, command: Command, at: number): ConsumerGroup | undefined {
  return stream?.groups?.get(command.key(at));
}

/** The key XGROUP CREATE MKSTREAM may make (whether it does is known only when applied); none for the rest. */
function keyMadeByCreate(command: Command): string[] {
  if (command.argCount < 6 || option(command.arg(1)) !== "create") return [];
  for (let i = 5; i < command.argCount; i++) if (option(command.arg(i)) === "mkstream") return [command.key(2)];
  return [];
}

const xgroupArity: Readonly<Record<string, number>> = { create: -5, setid: -5, destroy: 4, createconsumer: 5, delconsumer: 5, help: 2 };

const xgroupHelp = [
  "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CREATE <key> <groupname> <id|$> [option]",
  "    Create a new consumer group. Options are:",
  "    * MKSTREAM",
  "      Create the empty stream if it does not exist.",
  "    * ENTRIESREAD entries_read",
  "      Set the group's entries_read counter (internal use).",
  "CREATECONSUMER <key> <groupname> <consumer>",
  "    Create a new consumer in the specified group.",
  "DELCONSUMER <key> <groupname> <consumer>",
  "    Remove the specified consumer.",
  "DESTROY <key> <groupname>",
  "    Remove the specified group.",
  "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
  "    Set the current group ID and entries_read counter.",
  "HELP",
  "    Prints this help.",
];

const xinfoHelp = [
  "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CONSUMERS <key> <groupname>",
  "    Show consumers of <groupname>.",
  "GROUPS <key>",
  "    Show the stream consumer groups.",
  "STREAM <key> [FULL [COUNT <count>]",
  "    Show information about the stream.",
  "HELP",
  "    Prints this help.",
];

/** A HELP reply: its lines as status replies, as a read. */
function help(applier: Applier, conn: Conn | null, command: Command, lines: readonly string[]): void {
  return applier.apply(conn, command, null, () => {
    if (conn === null) return;
    conn.writeArray(lines.length);
    for (const line of lines) conn.writeString(line);
  });
}

/** XGROUP CREATE's and SETID's options after the id (MKSTREAM for CREATE only), read before the key is looked at. */
function parseOptions(command: Command, create: boolean): { makeStream: boolean; entriesRead: number } {
  const parsed = { makeStream: false, entriesRead: entriesReadUnknown };
  for (let i = 5; i < command.argCount; ) {
    const name = option(command.arg(i));
    if (create && name === "mkstream") {
      parsed.makeStream = true;
      i++;
    } else if (name === "entriesread" && i + 1 < command.argCount) {
      parsed.entriesRead = parseEntriesRead(command.arg(i + 1));
      i += 2;
    } else {
      throw subcommandSyntax(command, "XGROUP");
    }
  }
  return parsed;
}

/** XGROUP's subcommands but HELP, in `mutate`: "OK" or a count. */
function xgroup(db: Keyspace, command: Command, sub: string, makeStream: boolean, entriesRead: number): "OK" | number {
  const key = command.key(2);
  let stream = db.lookup<StreamValue>(key, "stream");
  const name = command.key(3);
  const group = stream?.groups?.get(name);
  if (!makeStream) {
    if (stream === undefined) throw errKeyMissing;
    if (group === undefined && (sub === "setid" || sub === "createconsumer" || sub === "delconsumer")) throw noGroup(command, 3, 2);
  }
  const now = replicatedTime();
  switch (sub) {
    case "create": {
      if (command.argCount > 8) throw subcommandSyntax(command, "XGROUP");
      const dollar = latin1(command.arg(4)) === "$";
      const id = dollar ? (stream?.lastId ?? zeroId) : parseId(command.arg(4), false);
      if (id === null) throw errInvalidStreamId;
      if (stream === undefined) {
        stream = new StreamValue(db.epoch);
        db.set(key, stream);
      } else if (group !== undefined) throw errBusyGroup;
      const changed = db.modify<StreamValue>(key, "stream") as StreamValue;
      changed.groups ??= new Map();
      changed.groups.set(name, new ConsumerGroup(id, entriesRead));
      return "OK";
    }
    case "setid": {
      if (command.argCount !== 5 && command.argCount !== 7) throw subcommandSyntax(command, "XGROUP");
      const id = latin1(command.arg(4)) === "$" ? (stream as StreamValue).lastId : parseId(command.arg(4), true);
      if (id === null) throw errInvalidStreamId;
      const changed = modifiedGroup(db, key, name);
      changed.lastId = id;
      changed.entriesRead = entriesRead;
      return "OK";
    }
    case "destroy":
      if (group === undefined) return 0;
      (db.modify<StreamValue>(key, "stream") as StreamValue).groups?.delete(name);
      return 1;
    case "createconsumer": {
      if ((group as ConsumerGroup).consumers.has(command.key(4))) return 0;
      modifiedGroup(db, key, name).consumer(command.key(4), now);
      return 1;
    }
    default: {
      if (!(group as ConsumerGroup).consumers.has(command.key(4))) return 0;
      return modifiedGroup(db, key, name).deleteConsumer(command.key(4));
    }
  }
}

/** The group `name` of the stream at `key`, to change (the stream copied first when a snapshot reads it). */
export function modifiedGroup(db: Keyspace, key: string, name: string): ConsumerGroup {
  return (db.modify<StreamValue>(key, "stream") as StreamValue).groups?.get(name) as ConsumerGroup;
}

/** A group's entries-read and lag fields (null when unknown), as XINFO GROUPS and STREAM FULL show them. */
function writeReadCounters(conn: Conn, stream: StreamValue, group: ConsumerGroup): void {
  conn.writeBulk("entries-read");
  if (group.entriesRead === entriesReadUnknown) conn.writeNull();
  else conn.writeInt(group.entriesRead);
  conn.writeBulk("lag");
  const lag = groupLag(stream, group);
  if (lag === null) conn.writeNull();
  else conn.writeInt(lag);
}

/** XINFO GROUPS: each group's name, consumers, pending, last-delivered-id, entries-read and lag. */
function writeGroups(conn: Conn, stream: StreamValue): void {
  const groups = stream.groups === null ? [] : sortedGroups(stream.groups);
  conn.writeArray(groups.length);
  for (const [name, group] of groups) {
    conn.writeMap(6);
    conn.writeBulk("name");
    conn.writeBulk(bytesOf(name));
    conn.writeBulk("consumers");
    conn.writeInt(group.consumers.size);
    conn.writeBulk("pending");
    conn.writeInt(group.pending.size);
    conn.writeBulk("last-delivered-id");
    conn.writeBulk(formatId(group.lastId));
    writeReadCounters(conn, stream, group);
  }
}

/** XINFO CONSUMERS: each consumer's name, pending count and idle time (by this node's clock). */
function writeConsumers(conn: Conn, group: ConsumerGroup): void {
  const consumers = group.sortedConsumers();
  const now = replicatedTime();
  conn.writeArray(consumers.length);
  for (const consumer of consumers) {
    conn.writeMap(3);
    conn.writeBulk("name");
    conn.writeBulk(bytesOf(consumer.name));
    conn.writeBulk("pending");
    conn.writeInt(consumer.pending.size);
    conn.writeBulk("idle");
    conn.writeInt(Math.max(0, now - consumer.seenTime));
  }
}

/** A node's key in Redis's radix tree: its first id as 16 big-endian bytes, in hex. */
function nodeKey(id: StreamId): string {
  return id.ms.toString(16).padStart(16, "0") + id.seq.toString(16).padStart(16, "0");
}

/**
 * How many nodes Redis's radix tree (rax) of these keys has (XINFO STREAM's radix-tree-nodes), its
 * keys all 16 bytes and in order: the head, each key, each byte position where keys part, and the
 * node after each side of a parting (the tree with every single-child chain compressed, as rax
 * keeps it). Partings are found between neighbours: each is their common prefix.
 */
export function radixTreeNodes(keys: readonly string[]): number {
  const nodes = new Set<string>([""]);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    nodes.add(key);
    const next = keys[i + 1];
    if (next === undefined) continue;
    let common = 0;
    while (common < 16 && key.slice(common * 2, common * 2 + 2) === next.slice(common * 2, common * 2 + 2)) common++;
    nodes.add(key.slice(0, common * 2));
    nodes.add(key.slice(0, common * 2 + 2));
    nodes.add(next.slice(0, common * 2 + 2));
  }
  return nodes.size;
}

/** An entry, or a null (RESP3) / null bulk (RESP2) for none, as XINFO STREAM's first-entry and last-entry. */
function writeEntryOrNull(conn: Conn, entry: StreamEntry | undefined): void {
  if (entry === undefined) conn.writeNull();
  else writeEntry(conn, entry);
}

/** XINFO STREAM's arguments after the key: null without FULL, else FULL's COUNT (0: everything). */
function parseStreamInfo(command: Command): number | null {
  if (command.argCount === 3) return null;
  const fullCount = command.argCount === 4 || (command.argCount === 6 && option(command.arg(4)) === "count");
  if (!fullCount || option(command.arg(3)) !== "full") throw subcommandSyntax(command, "XINFO");
  if (command.argCount === 4) return fullInfoCountDefault;
  const count = parseInteger(command.arg(5));
  if (count === null) throw errNotInteger;
  return count < 0n ? 0 : Number(count);
}

/** How many entries and pending entries XINFO STREAM FULL lists without a COUNT (Redis's default). */
const fullInfoCountDefault = 10;

/** The first `count` items (all for 0). */
function firstOf<T>(items: readonly T[], count: number): readonly T[] {
  return count === 0 ? items : items.slice(0, count);
}

/** XINFO STREAM FULL's groups: each with its PEL and its consumers (each with theirs), at most `count` pending entries each. */
function writeFullGroups(conn: Conn, stream: StreamValue, count: number): void {
  const groups = stream.groups === null ? [] : sortedGroups(stream.groups);
  conn.writeArray(groups.length);
  for (const [name, group] of groups) {
    conn.writeMap(7);
    conn.writeBulk("name");
    conn.writeBulk(bytesOf(name));
    conn.writeBulk("last-delivered-id");
    conn.writeBulk(formatId(group.lastId));
    writeReadCounters(conn, stream, group);
    conn.writeBulk("pel-count");
    conn.writeInt(group.pending.size);
    conn.writeBulk("pending");
    const pending = firstOf(group.pending.values(), count);
    conn.writeArray(pending.length);
    for (const entry of pending) {
      conn.writeArray(4);
      conn.writeBulk(formatId(entry.id));
      conn.writeBulk(bytesOf(entry.consumer.name));
      conn.writeInt(entry.deliveryTime);
      conn.writeInt(entry.deliveryCount);
    }
    const consumers = group.sortedConsumers();
    conn.writeBulk("consumers");
    conn.writeArray(consumers.length);
    for (const consumer of consumers) {
      conn.writeMap(4);
      conn.writeBulk("name");
      conn.writeBulk(bytesOf(consumer.name));
      conn.writeBulk("seen-time");
      conn.writeInt(consumer.seenTime);
      conn.writeBulk("pel-count");
      conn.writeInt(consumer.pending.size);
      conn.writeBulk("pending");
      const held = firstOf(consumer.pending.values(), count);
      conn.writeArray(held.length);
      for (const entry of held) {
        conn.writeArray(3);
        conn.writeBulk(formatId(entry.id));
        conn.writeInt(entry.deliveryTime);
        conn.writeInt(entry.deliveryCount);
      }
    }
  }
}

/** XINFO STREAM, and with FULL (`fullCount` not null) its entries and groups in full. */
function writeStreamInfo(conn: Conn, stream: StreamValue, fullCount: number | null): void {
  const layout = stream.layout();
  conn.writeMap(fullCount === null ? 10 : 9);
  conn.writeBulk("length");
  conn.writeInt(stream.size);
  conn.writeBulk("radix-tree-keys");
  conn.writeInt(layout.length);
  conn.writeBulk("radix-tree-nodes");
  conn.writeInt(radixTreeNodes(layout.map((node) => nodeKey(node.firstId))));
  conn.writeBulk("last-generated-id");
  conn.writeBulk(formatId(stream.lastId));
  conn.writeBulk("max-deleted-entry-id");
  conn.writeBulk(formatId(stream.maxDeletedId));
  conn.writeBulk("entries-added");
  conn.writeInt(stream.entriesAdded);
  conn.writeBulk("recorded-first-entry-id");
  conn.writeBulk(formatId(firstId(stream)));
  if (fullCount !== null) {
    conn.writeBulk("entries");
    const take = fullCount === 0 ? stream.size : Math.min(fullCount, stream.size);
    conn.writeArray(take);
    for (let i = 0; i < take; i++) writeEntry(conn, stream.at(i));
    conn.writeBulk("groups");
    writeFullGroups(conn, stream, fullCount);
    return;
  }
  conn.writeBulk("groups");
  conn.writeInt(stream.groups?.size ?? 0);
  conn.writeBulk("first-entry");
  writeEntryOrNull(conn, stream.size > 0 ? stream.at(0) : undefined);
  conn.writeBulk("last-entry");
  writeEntryOrNull(conn, stream.size > 0 ? stream.at(stream.size - 1) : undefined);
}

const xinfoArity: Readonly<Record<string, number>> = { consumers: 4, groups: 3, stream: -3, help: 2 };

export const streamGroupAdminCommands: readonly CloneCommand[] = [
  {
    spec: groupWriteSpec(
      spec(
        "xgroup",
        -2,
        "write denyoom",
        [2, 2, 1],
        "stream",
        "CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n], SETID key group id|$ [ENTRIESREAD n], DESTROY key group, CREATECONSUMER and DELCONSUMER key group consumer; HELP.",
        "CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP [key] [group:string] [arg:string...]",
      ),
      keyMadeByCreate,
    ),
    run(db, applier, conn, command) {
      const sub = option(command.arg(1));
      const arity = xgroupArity[sub];
      if (arity === undefined) return unknownSubcommand("xgroup", command.arg(1));
      if (!arityAllows(arity, command.argCount)) return wrongArity(`xgroup|${sub}`);
      if (sub === "help") return help(applier, conn, command, xgroupHelp);
      const options = sub === "create" || sub === "setid" ? parseOptions(command, sub === "create") : { makeStream: false, entriesRead: entriesReadUnknown };
      return applier.apply(
        conn,
        command,
        () => xgroup(db, command, sub, options.makeStream, options.entriesRead),
        (reply) => {
          if (reply === "OK") conn?.writeString("OK");
          else conn?.writeInt(reply);
        },
      );
    },
  },
  {
    spec: spec(
      "xinfo",
      -2,
      "readonly",
      [2, 2, 1],
      "stream",
      "STREAM key [FULL [COUNT n]]: the stream's length, ids, counters and edges, or all of it; GROUPS key: the consumer groups; CONSUMERS key group: a group's consumers; HELP.",
      "STREAM|GROUPS|CONSUMERS|HELP [key] [group:string] [FULL [COUNT count:integer]]",
    ),
    run(db, applier, conn, command) {
      const sub = option(command.arg(1));
      const arity = xinfoArity[sub];
      if (arity === undefined) return unknownSubcommand("xinfo", command.arg(1));
      if (!arityAllows(arity, command.argCount)) return wrongArity(`xinfo|${sub}`);
      if (sub === "help") return help(applier, conn, command, xinfoHelp);
      return applier.apply(conn, command, null, () => {
        const stream = db.lookup<StreamValue>(command.key(2), "stream");
        if (stream === undefined) throw errNoSuchKey;
        if (sub === "stream") {
          const fullCount = parseStreamInfo(command);
          if (conn !== null) writeStreamInfo(conn, stream, fullCount);
          return;
        }
        if (sub === "groups") {
          if (conn !== null) writeGroups(conn, stream);
          return;
        }
        const group = groupOf(stream, command, 3);
        if (group === undefined) throw noGroup(command, 3, 2);
        if (conn !== null) writeConsumers(conn, group);
      });
    },
  },
];
