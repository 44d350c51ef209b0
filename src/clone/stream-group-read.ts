/**
 * XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id..., with Redis
 * 7.0.15's replies and errors. `>` delivers the entries after the group's last delivered id: the
 * group moves past them (its entries-read counter with it) and, without NOACK, each goes into the
 * group's pending entries list, held by the consumer, delivered now, once. An explicit id reads
 * the consumer's own pending entries after it again (each delivered once more); one deleted from
 * the stream since is answered `[id, null]`.
 *
 * It is a write even without BLOCK (the PEL changes), so it goes through the log: `mutate` does
 * the delivery with `replicatedTime()` as the delivery time, the same on every replica, and hands
 * the reply's entries to `respond`. The consumer is made (and seen) only for a stream it is
 * served from, as in Redis.
 *
 * With BLOCK, when no stream has anything to serve (only `>` ids, nothing new), it waits for a
 * write to one of its streams (see `block` in api.ts) as BLPOP does: the command is not read-only,
 * so the blocking framework retries its waiters one at a time, first come first served, and each
 * new entry goes to one consumer. `>` means the same at every retry, so the command is retried as
 * it was sent.
 */
import { block, Blocked } from "../api.ts";
import { RespError } from "../errors.ts";
import { replicatedTime } from "../replicated.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { type CloneCommand, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { modifiedGroup } from "./stream-group-admin.ts";
import { advanceGroup, type ConsumerGroup, groupWriteSpec } from "./stream-groups.ts";
import { parseRead, type ReadArguments, type ReadEntry, type Served, writeServed } from "./stream-read.ts";
import { compareIds, type StreamEntry, type StreamId, type StreamValue } from "./stream.ts";

/** NOGROUP as XREADGROUP words it. */
function noGroup(command: Command, keyAt: number, parsed: ReadArguments): RespError {
  const text = (at: number): string => command.key(at);
  return new RespError(`NOGROUP No such key '${text(keyAt)}' or consumer group '${text(parsed.groupAt)}' in XREADGROUP with GROUP option`);
}

/** Checks every stream, group and id in Redis's order; the groups, one per stream. */
function resolveGroups(db: Keyspace, command: Command, parsed: ReadArguments): ConsumerGroup[] {
  const groups: ConsumerGroup[] = [];
  for (let i = 0; i < parsed.streams; i++) {
    const keyAt = parsed.keysAt + i;
    const stream = db.lookup<StreamValue>(command.key(keyAt), "stream");
    const group = stream?.groups?.get(command.key(parsed.groupAt));
    if (group === undefined) throw noGroup(command, keyAt, parsed);
    const id = parsed.ids[i];
    if (id instanceof RespError) throw id;
    groups.push(group);
  }
  return groups;
}

/** Whether the stream's last entry is after the group's last delivered id (what `>` serves). */
function hasNewEntries(stream: StreamValue, group: ConsumerGroup): boolean {
  return stream.size > 0 && compareIds(stream.at(stream.size - 1).id, group.lastId) > 0;
}

/** Delivers up to `count` new entries (0: all) to `consumer`, as `streamReplyWithRange` with a group does. */
function deliverNew(stream: StreamValue, group: ConsumerGroup, consumerName: string, count: number, noAck: boolean, now: number): StreamEntry[] {
  const consumer = group.consumer(consumerName, now);
  consumer.seenTime = now;
  const from = stream.upperBound(group.lastId);
  const take = count > 0 ? Math.min(count, stream.size - from) : stream.size - from;
  const entries: StreamEntry[] = [];
  for (let k = 0; k < take; k++) {
    const entry = stream.at(from + k);
    entries.push(entry);
    advanceGroup(stream, group, entry.id);
    if (noAck) continue;
    const pending = group.pending.find(entry.id);
    if (pending === undefined) {
      const made = { id: entry.id, consumer, deliveryTime: now, deliveryCount: 1 };
      group.pending.insert(made);
      consumer.pending.insert(made);
    } else {
      // Delivered before (the group's id was set back): it is this consumer's now, delivered once.
      group.assign(pending, consumer);
      pending.deliveryTime = now;
      pending.deliveryCount = 1;
    }
  }
  return entries;
}

/** The consumer's pending entries after `after` (up to `count`, 0: all), each delivered once more. */
function deliverHistory(stream: StreamValue, group: ConsumerGroup, consumerName: string, after: StreamId, count: number, now: number): ReadEntry[] {
  const consumer = group.consumer(consumerName, now);
  consumer.seenTime = now;
  const pending = consumer.pending;
  const entries: ReadEntry[] = [];
  for (let k = pending.lowerBound(after); k < pending.size && (count === 0 || entries.length < count); k++) {
    const one = pending.at(k);
    if (compareIds(one.id, after) <= 0) continue;
    const index = stream.lowerBound(one.id);
    const entry = index < stream.size ? stream.at(index) : undefined;
    if (entry === undefined || compareIds(entry.id, one.id) !== 0) {
      entries.push({ id: one.id, fields: null });
      continue;
    }
    one.deliveryTime = now;
    one.deliveryCount++;
    entries.push(entry);
  }
  return entries;
}

/** `mutate`: what each stream serves, or a wait (BLOCK, nothing to serve), or null (nothing, no BLOCK). */
function readGroup(db: Keyspace, command: Command, parsed: ReadArguments): Served[] | Blocked | null {
  const groups = resolveGroups(db, command, parsed);
  const now = replicatedTime();
  const consumerName = command.key(parsed.groupAt + 1);
  const served: Served[] = [];
  for (let i = 0; i < parsed.streams; i++) {
    const keyAt = parsed.keysAt + i;
    const id = parsed.ids[i] as StreamId | ">";
    const current = db.lookup<StreamValue>(command.key(keyAt), "stream") as StreamValue;
    if (id === ">" && !hasNewEntries(current, groups[i] as ConsumerGroup)) continue;
    // Changed from here on: the stream (and its groups) copied first if a snapshot reads it.
    const stream = db.modify<StreamValue>(command.key(keyAt), "stream") as StreamValue;
    const group = modifiedGroup(db, command.key(keyAt), command.key(parsed.groupAt));
    const entries =
      id === ">" ? deliverNew(stream, group, consumerName, parsed.count, parsed.noAck, now) : deliverHistory(stream, group, consumerName, id, parsed.count, now);
    served.push({ key: command.key(keyAt), entries });
  }
  if (served.length > 0) return served;
  if (parsed.timeout === null) return null;
  const keys: string[] = [];
  for (let i = 0; i < parsed.streams; i++) keys.push(command.key(parsed.keysAt + i));
  return block(keys, parsed.timeout);
}

/**
 * The streams XREADGROUP names, as the keys it writes. Redis 7.0 signals none (a WATCH on them
 * stands), but here the blocking framework wakes the next client waiting on a stream when a
 * served retry writes it: another group's waiter must get the entry too, whenever that retry is
 * applied. So a WATCH on the stream is aborted by an XREADGROUP here.
 */
function streamKeys(command: Command): string[] | null {
  const parsed = parseRead(command, true);
  if (parsed instanceof RespError) return null;
  const keys: string[] = [];
  for (let i = 0; i < parsed.streams; i++) keys.push(command.key(parsed.keysAt + i));
  return keys;
}

export const streamGroupReadCommands: readonly CloneCommand[] = [
  {
    spec: groupWriteSpec(
      spec(
        "xreadgroup",
        -7,
        "write blocking movablekeys",
        [0, 0, 0],
        "stream",
        "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
        "GROUP group:string consumer:string [COUNT count:integer] [BLOCK milliseconds:integer] [NOACK] STREAMS (key... id:string...)",
      ),
      streamKeys,
    ),
    run(db, applier, conn, command) {
      const parsed = parseRead(command, true);
      if (parsed instanceof RespError) return parsed;
      return applier.apply(
        conn,
        command,
        () => readGroup(db, command, parsed),
        (result) => {
          if (conn === null) return;
          if (result === null || result instanceof Blocked) writeNullArray(conn);
          else writeServed(conn, result);
        },
      );
    },
  },
];
