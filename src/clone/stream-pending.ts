/**
 * A consumer group's pending entries: XACK, XPENDING (the summary, and the extended form with
 * IDLE, a range, a count and a consumer), XCLAIM (IDLE, TIME, RETRYCOUNT, FORCE, JUSTID, LASTID)
 * and XAUTOCLAIM, with Redis 7.0.15's replies and errors in its order.
 *
 * XACK, XCLAIM and XAUTOCLAIM change the PEL, in `mutate`: their idle checks and the delivery
 * times they set come from `replicatedTime()`, the same on every replica. XPENDING is a read: its
 * idle times count from this node's clock. XCLAIM and XAUTOCLAIM drop the pending entries whose
 * stream entry was deleted, as Redis does.
 */
import type { Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import { latin1, type Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errNotInteger, errSyntax, option, parseInteger } from "./arguments.ts";
import { bytesOf, type CloneCommand, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { modifiedGroup, parseId } from "./stream-group-admin.ts";
import { type ConsumerGroup, groupWriteSpec, type PendingEntry } from "./stream-groups.ts";
import { compareIds, errInvalidStreamId, formatId, type StreamEntry, type StreamId, type StreamValue, uint64Max, zeroId } from "./stream.ts";
import { writeEntry } from "./streams.ts";

const errStartInterval = new RespError("ERR invalid start ID for the interval");
const errEndInterval = new RespError("ERR invalid end ID for the interval");

/** NOGROUP as XPENDING, XCLAIM and XAUTOCLAIM word it. */
function noGroup(command: Command): RespError {
  return new RespError(`NOGROUP No such key '${command.key(1)}' or consumer group '${command.key(2)}'`);
}

/** The stream at argument 1 and its group at argument 2 (NOGROUP when either is missing). */
function streamAndGroup(db: Keyspace, command: Command): { stream: StreamValue; group: ConsumerGroup } {
  const stream = db.lookup<StreamValue>(command.key(1), "stream");
  const group = stream?.groups?.get(command.key(2));
  if (stream === undefined || group === undefined) throw noGroup(command);
  return { stream, group };
}

/** An id without `-` and `+` (Redis's strict parse), or null. */
const strictId = (bytes: Uint8Array): StreamId | null => parseId(bytes, false);

/** A range bound as XRANGE reads it (`-`, `+`, `(` exclusive). */
function parseBound(bytes: Uint8Array, start: boolean): StreamId {
  const text = latin1(bytes);
  const exclusive = text.length > 1 && text.startsWith("(");
  const id = exclusive ? parseId(bytes.subarray(1), false, start ? 0n : uint64Max) : parseId(bytes, true, start ? 0n : uint64Max);
  if (id === null) throw errInvalidStreamId;
  if (!exclusive) return id;
  if (start) {
    if (id.ms === uint64Max && id.seq === uint64Max) throw errStartInterval;
    return id.seq === uint64Max ? { ms: id.ms + 1n, seq: 0n } : { ms: id.ms, seq: id.seq + 1n };
  }
  if (id.ms === 0n && id.seq === 0n) throw errEndInterval;
  return id.seq === 0n ? { ms: id.ms - 1n, seq: uint64Max } : { ms: id.ms, seq: id.seq - 1n };
}

/** The stream's entry whose id is `id`, or undefined. */
function entryOf(stream: StreamValue, id: StreamId): StreamEntry | undefined {
  const index = stream.lowerBound(id);
  const entry = index < stream.size ? stream.at(index) : undefined;
  return entry !== undefined && compareIds(entry.id, id) === 0 ? entry : undefined;
}

/** An int64 argument, or `error`. */
function integerOr(bytes: Uint8Array, error: RespError): number {
  const value = parseInteger(bytes);
  if (value === null) throw error;
  return Number(value);
}

/** XPENDING's extended form: the range, count, IDLE and consumer, checked before the key. */
interface PendingRange {
  start: StreamId;
  end: StreamId;
  count: number;
  minIdle: number;
  consumerAt: number;
}

function parsePendingRange(command: Command): PendingRange | null {
  if (command.argCount === 3) return null;
  if (command.argCount < 6 || command.argCount > 9) throw errSyntax;
  let at = 3;
  let minIdle = 0;
  if (option(command.arg(3)) === "idle") {
    minIdle = integerOr(command.arg(4), errNotInteger);
    if (command.argCount < 8) throw errSyntax;
    at += 2;
  }
  const count = Math.max(0, integerOr(command.arg(at + 2), errNotInteger));
  const start = parseBound(command.arg(at), true);
  const end = parseBound(command.arg(at + 1), false);
  return { start, end, count, minIdle, consumerAt: at + 3 < command.argCount ? at + 3 : 0 };
}

function writePendingSummary(conn: Conn, group: ConsumerGroup): void {
  conn.writeArray(4);
  conn.writeInt(group.pending.size);
  if (group.pending.size === 0) {
    conn.writeNull();
    conn.writeNull();
    writeNullArray(conn);
    return;
  }
  conn.writeBulk(formatId(group.pending.at(0).id));
  conn.writeBulk(formatId(group.pending.at(group.pending.size - 1).id));
  const holders = group.sortedConsumers().filter((consumer) => consumer.pending.size > 0);
  conn.writeArray(holders.length);
  for (const consumer of holders) {
    conn.writeArray(2);
    conn.writeBulk(bytesOf(consumer.name));
    conn.writeBulk(String(consumer.pending.size));
  }
}

function writePendingRange(conn: Conn, command: Command, group: ConsumerGroup, range: PendingRange): void {
  const consumer = range.consumerAt === 0 ? undefined : group.consumers.get(command.key(range.consumerAt));
  if (range.consumerAt !== 0 && consumer === undefined) {
    conn.writeArray(0);
    return;
  }
  const list = consumer === undefined ? group.pending : consumer.pending;
  const now = replicatedTime();
  const rows: PendingEntry[] = [];
  for (let k = list.lowerBound(range.start); rows.length < range.count && k < list.size; k++) {
    const entry = list.at(k);
    if (compareIds(entry.id, range.end) > 0) break;
    if (range.minIdle !== 0 && now - entry.deliveryTime < range.minIdle) continue;
    rows.push(entry);
  }
  conn.writeArray(rows.length);
  for (const entry of rows) {
    conn.writeArray(4);
    conn.writeBulk(formatId(entry.id));
    conn.writeBulk(bytesOf(entry.consumer.name));
    conn.writeInt(Math.max(0, now - entry.deliveryTime));
    conn.writeInt(entry.deliveryCount);
  }
}

/** What XCLAIM claimed: entries (or ids with JUSTID) in order. */
type Claimed = { justId: boolean; entries: StreamEntry[] };

/** XCLAIM in `mutate`: every check first, in Redis's order, then the claims. */
function claim(db: Keyspace, command: Command): Claimed {
  const { group: found } = streamAndGroup(db, command);
  let minIdle = integerOr(command.arg(4), new RespError("ERR Invalid min-idle-time argument for XCLAIM"));
  if (minIdle < 0) minIdle = 0;
  let j = 5;
  const ids: StreamId[] = [];
  for (; j < command.argCount; j++) {
    const id = strictId(command.arg(j));
    if (id === null) break;
    ids.push(id);
  }
  const now = replicatedTime();
  let deliveryTime = -1;
  let retryCount = -1;
  let force = false;
  let justId = false;
  let lastId = zeroId;
  for (; j < command.argCount; j++) {
    const more = command.argCount - 1 - j;
    const name = option(command.arg(j));
    if (name === "force") force = true;
    else if (name === "justid") justId = true;
    else if (name === "idle" && more > 0) deliveryTime = now - integerOr(command.arg(++j), new RespError("ERR Invalid IDLE option argument for XCLAIM"));
    else if (name === "time" && more > 0) deliveryTime = integerOr(command.arg(++j), new RespError("ERR Invalid TIME option argument for XCLAIM"));
    else if (name === "retrycount" && more > 0) retryCount = integerOr(command.arg(++j), new RespError("ERR Invalid RETRYCOUNT option argument for XCLAIM"));
    else if (name === "lastid" && more > 0) {
      const id = strictId(command.arg(++j));
      if (id === null) throw errInvalidStreamId;
      lastId = id;
    } else throw new RespError(`ERR Unrecognized XCLAIM option '${latin1(command.arg(j))}'`);
  }
  if (deliveryTime < 0 || deliveryTime > now) deliveryTime = now;
  const claimed: Claimed = { justId, entries: [] };
  const key = command.key(1);
  const groupName = command.key(2);
  const changes = compareIds(lastId, found.lastId) > 0 || ids.some((id) => found.pending.find(id) !== undefined || force);
  if (!changes) return claimed;
  const stream = db.modify<StreamValue>(key, "stream") as StreamValue;
  const group = modifiedGroup(db, key, groupName);
  if (compareIds(lastId, group.lastId) > 0) group.lastId = lastId;
  const consumerName = command.key(3);
  for (const id of ids) {
    let pending = group.pending.find(id);
    const entry = entryOf(stream, id);
    if (entry === undefined) {
      if (pending !== undefined) group.acknowledge(id);
      continue;
    }
    let fresh = false;
    if (pending === undefined) {
      if (!force) continue;
      fresh = true;
    } else if (minIdle !== 0 && now - pending.deliveryTime < minIdle) continue;
    const consumer = group.consumer(consumerName, now);
    consumer.seenTime = now;
    if (fresh) {
      pending = { id, consumer, deliveryTime: now, deliveryCount: 1 };
      group.pending.insert(pending);
      consumer.pending.insert(pending);
    } else group.assign(pending as PendingEntry, consumer);
    const one = pending as PendingEntry;
    one.deliveryTime = deliveryTime;
    if (retryCount >= 0) one.deliveryCount = retryCount;
    else if (!justId) one.deliveryCount++;
    claimed.entries.push(entry);
  }
  return claimed;
}

/** XAUTOCLAIM's arguments, checked before the key. */
interface AutoClaimArguments {
  minIdle: number;
  start: StreamId;
  count: number;
  justId: boolean;
}

/** COUNT's largest value (Redis: LONG_MAX / 16, so that count * 10 attempts and the ids' room never overflow). */
const autoClaimCountMax = 9223372036854775807n / 16n;

function parseAutoClaim(command: Command): AutoClaimArguments {
  let minIdle = integerOr(command.arg(4), new RespError("ERR Invalid min-idle-time argument for XAUTOCLAIM"));
  if (minIdle < 0) minIdle = 0;
  const start = parseBound(command.arg(5), true);
  const parsed: AutoClaimArguments = { minIdle, start, count: 100, justId: false };
  for (let j = 6; j < command.argCount; ) {
    const name = option(command.arg(j));
    if (name === "count" && j + 1 < command.argCount) {
      const value = parseInteger(command.arg(j + 1));
      if (value === null || value < 1n || value > autoClaimCountMax) throw new RespError("ERR COUNT must be > 0");
      parsed.count = Number(value);
      j += 2;
    } else if (name === "justid") {
      parsed.justId = true;
      j++;
    } else throw errSyntax;
  }
  return parsed;
}

/** What XAUTOCLAIM did: the next start, what it claimed, and the pending ids it dropped (their entries deleted). */
interface AutoClaimed {
  next: StreamId;
  justId: boolean;
  entries: StreamEntry[];
  deleted: StreamId[];
}

/** Redis's `attempts_factor`: how many pending entries XAUTOCLAIM looks at per entry it may claim. */
const attemptsPerCount = 10;

function autoClaim(db: Keyspace, command: Command, parsed: AutoClaimArguments): AutoClaimed {
  streamAndGroup(db, command);
  const key = command.key(1);
  const stream = db.modify<StreamValue>(key, "stream") as StreamValue;
  const group = modifiedGroup(db, key, command.key(2));
  const now = replicatedTime();
  const result: AutoClaimed = { next: zeroId, justId: parsed.justId, entries: [], deleted: [] };
  let attempts = parsed.count * attemptsPerCount;
  let count = parsed.count;
  let at = group.pending.lowerBound(parsed.start);
  const consumerName = command.key(3);
  while (attempts-- > 0 && count > 0 && at < group.pending.size) {
    const pending = group.pending.at(at);
    const entry = entryOf(stream, pending.id);
    if (entry === undefined) {
      group.acknowledge(pending.id);
      result.deleted.push(pending.id);
      count--;
      continue;
    }
    at++;
    if (parsed.minIdle !== 0 && now - pending.deliveryTime < parsed.minIdle) continue;
    const consumer = group.consumer(consumerName, now);
    consumer.seenTime = now;
    group.assign(pending, consumer);
    pending.deliveryTime = now;
    if (!parsed.justId) pending.deliveryCount++;
    result.entries.push(entry);
    count--;
  }
  result.next = at < group.pending.size ? group.pending.at(at).id : zeroId;
  return result;
}

function writeClaimed(conn: Conn, justId: boolean, entries: readonly StreamEntry[]): void {
  conn.writeArray(entries.length);
  for (const entry of entries) {
    if (justId) conn.writeBulk(formatId(entry.id));
    else writeEntry(conn, entry);
  }
}

export const streamPendingCommands: readonly CloneCommand[] = [
  {
    spec: groupWriteSpec(
      spec(
        "xack",
        -4,
        "write fast",
        [1, 1, 1],
        "stream",
        "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
        "key group:string id:string...",
      ),
    ),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const stream = db.lookup<StreamValue>(command.key(1), "stream");
          const found = stream?.groups?.get(command.key(2));
          if (found === undefined) return 0;
          const ids: StreamId[] = [];
          for (let j = 3; j < command.argCount; j++) {
            const id = strictId(command.arg(j));
            if (id === null) throw errInvalidStreamId;
            ids.push(id);
          }
          if (!ids.some((id) => found.pending.find(id) !== undefined)) return 0;
          const group = modifiedGroup(db, command.key(1), command.key(2));
          let acknowledged = 0;
          for (const id of ids) if (group.acknowledge(id)) acknowledged++;
          return acknowledged;
        },
        (acknowledged) => conn?.writeInt(acknowledged),
      );
    },
  },
  {
    spec: spec(
      "xpending",
      -3,
      "readonly",
      [1, 1, 1],
      "stream",
      "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
      "key group:string [[IDLE min-idle-time:integer] start:string end:string count:integer [consumer:string]]",
    ),
    run(db, applier, conn, command) {
      const range = parsePendingRange(command);
      return applier.apply(conn, command, null, () => {
        const { group } = streamAndGroup(db, command);
        if (conn === null) return;
        if (range === null) writePendingSummary(conn, group);
        else writePendingRange(conn, command, group, range);
      });
    },
  },
  {
    spec: groupWriteSpec(
      spec(
        "xclaim",
        -6,
        "write fast",
        [1, 1, 1],
        "stream",
        "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
        "key group:string consumer:string min-idle-time:string id:string... [IDLE ms:integer] [TIME unix-time-milliseconds:integer] [RETRYCOUNT count:integer] [FORCE] [JUSTID] [LASTID lastid:string]",
      ),
    ),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => claim(db, command),
        (claimed) => {
          if (conn !== null) writeClaimed(conn, claimed.justId, claimed.entries);
        },
      );
    },
  },
  {
    spec: groupWriteSpec(
      spec(
        "xautoclaim",
        -6,
        "write fast",
        [1, 1, 1],
        "stream",
        "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
        "key group:string consumer:string min-idle-time:string start:string [COUNT count:integer] [JUSTID]",
      ),
    ),
    run(db, applier, conn, command) {
      const parsed = parseAutoClaim(command);
      return applier.apply(
        conn,
        command,
        () => autoClaim(db, command, parsed),
        (result) => {
          if (conn === null) return;
          conn.writeArray(3);
          conn.writeBulk(formatId(result.next));
          writeClaimed(conn, result.justId, result.entries);
          conn.writeArray(result.deleted.length);
          for (const id of result.deleted) conn.writeBulk(formatId(id));
        },
      );
    },
  },
];

