/**
 * The clone's keyspace: keys (binary-safe latin1 strings) to values of every Redis type, with
 * what SCAN and snapshots need.
 *
 * **Values.** A string is a `Uint8Array` that is never changed in place (APPEND makes a new one);
 * the other types are objects (`ListValue`, `SetValue`, `HashValue`, `ZSetValue`, `StreamValue`)
 * that commands change only through `modify`, never through what `lookup` returned.
 *
 * **Snapshots are copy-on-write.** `capture()` copies the list of (key, value, seq) synchronously,
 * which is cheap, and bumps the epoch; while a snapshot still reads what it captured, `modify`
 * copies an aggregate made in an earlier epoch before handing it out, and puts the copy in the
 * key's place. The snapshot keeps the original, which nothing changes any more. With no snapshot
 * running, nothing is copied.
 *
 * **SCAN.** Every key gets a sequence number when it is created (a new number if it is deleted and
 * created again; overwriting a key keeps it), and `order` keeps the live keys by sequence number.
 * A cursor is the sequence number to continue from. A key present for the whole of a scan keeps
 * its number and its place, so a scan returns it exactly once, whatever else is added or removed
 * meanwhile; a key added during the scan may or may not be returned, as in Redis. The numbers are
 * part of the replicated state (assigned in log order, carried by snapshots), so a cursor given by
 * one node continues on another.
 */
import { errWrongType } from "./arguments.ts";
import type { HashValue } from "./hash.ts";
import type { ListValue } from "./list.ts";
import type { SetValue } from "./set.ts";
import type { StreamValue } from "./stream.ts";
import type { ZSetValue } from "./zset.ts";

export type Aggregate = ListValue | SetValue | HashValue | ZSetValue | StreamValue;
export type Value = Uint8Array | Aggregate;
export type TypeName = "string" | Aggregate["type"];

export function typeOf(value: Value): TypeName {
  return value instanceof Uint8Array ? "string" : value.type;
}

/** A key's slot: its value and its sequence number. */
export class Entry {
  dead = false;
  constructor(
    readonly key: string,
    public value: Value,
    readonly seq: number,
  ) {}
}

/** What a snapshot captured: keys, values and sequence numbers, in sequence order. */
export interface Captured {
  readonly keys: string[];
  readonly values: Value[];
  readonly seqs: number[];
  readonly nextSeq: number;
  /** Call once the snapshot has written everything (lets `modify` stop copying). */
  release(): void;
}

/** Dead entries tolerated in `order` before it is compacted: at least this many, and half of it. */
const deadEntriesCompactMin = 1024;

export class Keyspace {
  private readonly entries = new Map<string, Entry>();
  /** Every entry in sequence order, with dead ones not yet compacted away. */
  private order: Entry[] = [];
  private deadInOrder = 0;
  private nextSeq = 1;
  /** The epoch new aggregates are made in; bumped by every capture. */
  epoch = 1;
  /** Aggregates made before this epoch may be read by a running snapshot (0: none runs). */
  private sharedBefore = 0;
  private capturesRunning = 0;

  get size(): number {
    return this.entries.size;
  }

  /** The value at `key`, whatever its type (read-only for aggregates). */
  get(key: string): Value | undefined {
    return this.entries.get(key)?.value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The aggregate of type `type` at `key`, to read; WRONGTYPE when the key holds another type. */
  lookup<T extends Aggregate>(key: string, type: T["type"]): T | undefined {
    const value = this.entries.get(key)?.value;
    if (value === undefined) return undefined;
    if (value instanceof Uint8Array || value.type !== type) throw errWrongType;
    return value as T;
  }

  /** The string at `key`; WRONGTYPE when the key holds another type. */
  lookupString(key: string): Uint8Array | undefined {
    const value = this.entries.get(key)?.value;
    if (value === undefined || value instanceof Uint8Array) return value;
    throw errWrongType;
  }

  /**
   * The aggregate of type `type` at `key`, to change (copied first when a snapshot still reads it);
   * WRONGTYPE when the key holds another type.
   */
  modify<T extends Aggregate>(key: string, type: T["type"]): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const value = entry.value;
    if (value instanceof Uint8Array || value.type !== type) throw errWrongType;
    if (value.epoch < this.sharedBefore) {
      const copy = value.clone(this.epoch);
      entry.value = copy;
      return copy as T;
    }
    return value as T;
  }

  /** Sets `key` to `value` (any type), keeping the key's sequence number if it exists. */
  set(key: string, value: Value): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      return;
    }
    const created = new Entry(key, value, this.nextSeq++);
    this.entries.set(key, created);
    this.order.push(created);
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    entry.dead = true;
    this.deadInOrder++;
    if (this.deadInOrder >= deadEntriesCompactMin && this.deadInOrder * 2 >= this.order.length) {
      this.order = this.order.filter((one) => !one.dead);
      this.deadInOrder = 0;
    }
    return true;
  }

  /** Removes `key` when its aggregate is empty (Redis never keeps an empty aggregate). */
  deleteIfEmpty(key: string, value: Aggregate): void {
    if (value.size === 0) this.delete(key);
  }

  /** Removes every key. Sequence numbers go on from where they were. */
  flush(): void {
    this.entries.clear();
    for (const entry of this.order) entry.dead = true;
    this.order = [];
    this.deadInOrder = 0;
  }

  /** Every key (any order). */
  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** Every live entry, in sequence order. */
  *live(): IterableIterator<Entry> {
    for (const entry of this.order) if (!entry.dead) yield entry;
  }

  /**
   * One SCAN step: visits up to `count` live entries from `cursor` on, in sequence order, and
   * returns the cursor to continue from (0 when the end was reached).
   */
  scan(cursor: number, count: number, visit: (entry: Entry) => void): number {
    const order = this.order;
    let at = 0;
    if (cursor > 0) {
      let high = order.length;
      while (at < high) {
        const middle = (at + high) >>> 1;
        if ((order[middle] as Entry).seq < cursor) at = middle + 1;
        else high = middle;
      }
    }
    let visited = 0;
    // Dead entries are skipped but bounded too, so one step does bounded work.
    let budget = count * 10 + 100;
    for (; at < order.length && visited < count && budget > 0; at++, budget--) {
      const entry = order[at] as Entry;
      if (entry.dead) continue;
      visit(entry);
      visited++;
    }
    for (; at < order.length && budget > 0; at++, budget--) {
      const entry = order[at] as Entry;
      if (!entry.dead) return entry.seq;
    }
    return at < order.length ? (order[at] as Entry).seq : 0;
  }

  /** A point-in-time view for a snapshot; see the file comment. */
  capture(): Captured {
    const keys: string[] = [];
    const values: Value[] = [];
    const seqs: number[] = [];
    for (const entry of this.order) {
      if (entry.dead) continue;
      keys.push(entry.key);
      values.push(entry.value);
      seqs.push(entry.seq);
    }
    this.epoch++;
    this.sharedBefore = this.epoch;
    this.capturesRunning++;
    let released = false;
    return {
      keys,
      values,
      seqs,
      nextSeq: this.nextSeq,
      release: () => {
        if (released) return;
        released = true;
        this.capturesRunning--;
        if (this.capturesRunning === 0) this.sharedBefore = 0;
      },
    };
  }

  /**
   * Adds an entry while restoring a snapshot, which lists keys in increasing sequence order.
   * Returns false when the key is already there or the order is broken.
   */
  restoreEntry(key: string, value: Value, seq: number): boolean {
    if (this.entries.has(key)) return false;
    const last = this.order[this.order.length - 1];
    if (last !== undefined && last.seq >= seq) return false;
    const entry = new Entry(key, value, seq);
    this.entries.set(key, entry);
    this.order.push(entry);
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    return true;
  }

  /** After a restore: sequence numbers go on from the snapshot's. */
  restoreNextSeq(nextSeq: number): void {
    if (nextSeq > this.nextSeq) this.nextSeq = nextSeq;
  }
}
