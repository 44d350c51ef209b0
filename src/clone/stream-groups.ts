/**
 * A stream's consumer groups, as Redis 7.0 keeps them (`streamCG`, `streamConsumer`, `streamNACK`):
 * each group has the id it last delivered, its entries-read counter (-1 when unknown), its
 * consumers, and its pending entries list (PEL): an entry per id delivered and not acknowledged,
 * with the consumer that holds it, when it was last delivered and how many times. Each consumer
 * lists the pending entries it holds: the same `PendingEntry` objects as the group's list, as
 * Redis shares its NACKs between the two.
 *
 * Times are milliseconds since the epoch, taken from `replicatedTime()` inside `mutate`, so every
 * replica stores the same ones. Groups and consumers are answered in the byte order of their
 * names (Redis keeps them in radix trees); names are latin1 text of the bytes.
 */
import type { Command } from "../resp/reader.ts";
import type { CommandSpec } from "../server/command-spec.ts";
import { compareIds, lowerBoundOf, type StreamId, type StreamValue, zeroId } from "./stream.ts";

/** A delivered entry not acknowledged yet (Redis's NACK). */
export interface PendingEntry {
  readonly id: StreamId;
  consumer: Consumer;
  deliveryTime: number;
  deliveryCount: number;
}

/**
 * Pending entries in id order: a sorted array from `start` (a PEL is usually acknowledged oldest
 * first, and grows at its end; both are O(1) here, a removal elsewhere moves the entries after it).
 */
export class PendingList {
  private items: PendingEntry[] = [];
  private start = 0;

  get size(): number {
    return this.items.length - this.start;
  }

  at(index: number): PendingEntry {
    return this.items[this.start + index] as PendingEntry;
  }

  /** The index of the first entry whose id is >= `id` (size when none). */
  lowerBound(id: StreamId): number {
    return lowerBoundOf(this, id);
  }

  find(id: StreamId): PendingEntry | undefined {
    const index = this.lowerBound(id);
    if (index === this.size) return undefined;
    const found = this.at(index);
    return compareIds(found.id, id) === 0 ? found : undefined;
  }

  /** Adds `entry`; its id must not be there. */
  insert(entry: PendingEntry): void {
    if (this.size === 0 || compareIds(this.at(this.size - 1).id, entry.id) < 0) this.items.push(entry);
    else this.items.splice(this.start + this.lowerBound(entry.id), 0, entry);
  }

  remove(id: StreamId): PendingEntry | undefined {
    const index = this.lowerBound(id);
    if (index === this.size) return undefined;
    const found = this.at(index);
    if (compareIds(found.id, id) !== 0) return undefined;
    if (index === 0) {
      this.start++;
      // Compacted once half of the array is gone (as a stream's entries are).
      if (this.start > 1024 && this.start * 2 > this.items.length) {
        this.items = this.items.slice(this.start);
        this.start = 0;
      }
    } else this.items.splice(this.start + index, 1);
    return found;
  }

  /** The entries in id order (a copy once the oldest were removed: reads never change the list). */
  values(): readonly PendingEntry[] {
    return this.start === 0 ? this.items : this.items.slice(this.start);
  }
}

export interface Consumer {
  readonly name: string;
  /** When it last read or claimed (Redis 7.0's seen-time): XINFO CONSUMERS's idle counts from it. */
  seenTime: number;
  readonly pending: PendingList;
}

/** The entries-read counter's value when it is not known (Redis's SCG_INVALID_ENTRIES_READ). */
export const entriesReadUnknown = -1;

export class ConsumerGroup {
  readonly pending = new PendingList();
  readonly consumers = new Map<string, Consumer>();

  constructor(
    /** The last id delivered to a consumer (with `>`), or set by XGROUP SETID. */
    public lastId: StreamId,
    /** How many of the stream's entries the group has read, or `entriesReadUnknown`. */
    public entriesRead: number,
  ) {}

  /** The consumer named `name`, made (seen at `now`) when missing. */
  consumer(name: string, now: number): Consumer {
    let found = this.consumers.get(name);
    if (found === undefined) {
      found = { name, seenTime: now, pending: new PendingList() };
      this.consumers.set(name, found);
    }
    return found;
  }

  /** The consumers in the byte order of their names. */
  sortedConsumers(): Consumer[] {
    return [...this.consumers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Removes a pending entry from the group and from its consumer. */
  acknowledge(id: StreamId): boolean {
    const entry = this.pending.remove(id);
    if (entry === undefined) return false;
    entry.consumer.pending.remove(id);
    return true;
  }

  /** Removes a consumer and its pending entries; answers how many it had. */
  deleteConsumer(name: string): number {
    const consumer = this.consumers.get(name);
    if (consumer === undefined) return 0;
    const count = consumer.pending.size;
    for (const entry of consumer.pending.values()) this.pending.remove(entry.id);
    this.consumers.delete(name);
    return count;
  }

  /** Gives the pending entry `entry` to `consumer` (moving it from the one that held it). */
  assign(entry: PendingEntry, consumer: Consumer): void {
    if (entry.consumer === consumer) return;
    entry.consumer.pending.remove(entry.id);
    entry.consumer = consumer;
    consumer.pending.insert(entry);
  }

  /** A deep copy: pending entries change in place, so the copy has its own. */
  clone(): ConsumerGroup {
    const copy = new ConsumerGroup(this.lastId, this.entriesRead);
    for (const consumer of this.consumers.values()) copy.consumer(consumer.name, consumer.seenTime);
    for (const entry of this.pending.values()) {
      const consumer = copy.consumers.get(entry.consumer.name) as Consumer;
      const moved: PendingEntry = { id: entry.id, consumer, deliveryTime: entry.deliveryTime, deliveryCount: entry.deliveryCount };
      copy.pending.insert(moved);
      consumer.pending.insert(moved);
    }
    return copy;
  }
}

/** The groups of a stream in the byte order of their names. */
export function sortedGroups(groups: ReadonlyMap<string, ConsumerGroup>): [string, ConsumerGroup][] {
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * `spec` with the keys a group command writes, as WATCH and blocked clients see them: by default
 * none, as Redis 7.0 signals none for XACK, XCLAIM and the like (a WATCH on the stream stands,
 * clients blocked on it are not woken: no entry was added); `written` names them otherwise (the
 * stream XGROUP CREATE MKSTREAM may make; XREADGROUP's streams).
 */
export function groupWriteSpec(spec: CommandSpec, written: (command: Command) => string[] | null = () => []): CommandSpec {
  return { ...spec, keys: written };
}

const isZero = (id: StreamId): boolean => id.ms === 0n && id.seq === 0n;

/** The id of the stream's first entry, 0-0 when it has none (Redis's first_id as XINFO shows it). */
export function firstId(stream: StreamValue): StreamId {
  return stream.size > 0 ? stream.at(0).id : zeroId;
}

/**
 * Whether a deleted entry may lie in [start, end] (Redis's `streamRangeHasTombstones`): only the
 * largest deleted id is known.
 */
export function rangeHasTombstones(stream: StreamValue, start: StreamId, end: StreamId | null): boolean {
  const deleted = stream.maxDeletedId;
  if (stream.size === 0 || isZero(deleted)) return false;
  if (compareIds(firstId(stream), deleted) > 0) return false;
  return compareIds(start, deleted) <= 0 && (end === null || compareIds(deleted, end) <= 0);
}

/**
 * How many entries were added up to `id` (Redis's `streamEstimateDistanceFromFirstEverEntry`), or
 * `entriesReadUnknown` when deletions make it unknowable.
 */
export function entriesUpTo(stream: StreamValue, id: StreamId): number {
  if (stream.entriesAdded === 0) return 0;
  const toLast = compareIds(id, stream.lastId);
  if (stream.size === 0 && toLast < 1) return stream.entriesAdded;
  if (toLast === 0) return stream.entriesAdded;
  if (toLast > 0) return entriesReadUnknown;
  const toFirst = compareIds(id, firstId(stream));
  if (isZero(stream.maxDeletedId) || compareIds(stream.maxDeletedId, firstId(stream)) < 0) {
    if (toFirst < 0) return stream.entriesAdded - stream.size;
    if (toFirst === 0) return stream.entriesAdded - stream.size + 1;
  }
  return entriesReadUnknown;
}

/** How many entries the group has still to read (XINFO GROUPS's lag), or null when unknown. */
export function groupLag(stream: StreamValue, group: ConsumerGroup): number | null {
  if (stream.entriesAdded === 0) return 0;
  if (group.entriesRead !== entriesReadUnknown && !rangeHasTombstones(stream, group.lastId, null)) return stream.entriesAdded - group.entriesRead;
  const read = entriesUpTo(stream, group.lastId);
  return read === entriesReadUnknown ? null : stream.entriesAdded - read;
}

/** Moves the group's last id to `id` (an entry it delivers with `>`), keeping entries-read as Redis does. */
export function advanceGroup(stream: StreamValue, group: ConsumerGroup, id: StreamId): void {
  if (compareIds(id, group.lastId) <= 0) return;
  if (group.entriesRead !== entriesReadUnknown && !rangeHasTombstones(stream, id, null)) group.entriesRead++;
  else if (stream.entriesAdded !== 0) group.entriesRead = entriesUpTo(stream, id);
  group.lastId = id;
}
