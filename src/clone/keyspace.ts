/**
 * The clone's keyspace: keys (binary-safe latin1 strings) to values of every Redis type, with
 * what SCAN and snapshots need.
 *
 * **Values.** A string is a `Uint8Array`, changed in place only through `modifyString` (the bit
 * commands: SETBIT on a large bitmap must not copy it); every other command makes a new one (APPEND,
 * SETRANGE). The other types are objects (`ListValue`, `SetValue`, `HashValue`, `ZSetValue`,
 * `StreamValue`) that commands change only through `modify`, never through what `lookup` returned.
 *
 * **Strings changed in place.** `modifyString` changes only bytes the keyspace itself made, since
 * the last capture, and that nothing else holds: the entry's `ownedEpoch` says so. Anything else
 * (a string a client sent, a string some other holder may still read) is copied first, once, into
 * bytes of the keyspace's own with spare room, so that SETBIT past the end is amortized as Redis's
 * `sdsgrowzero` is. What may hold a string besides its entry, and why each is safe:
 * - a running snapshot: a capture bumps the epoch, so bytes made before it are copied before a
 *   change (the same rule as aggregates, below), and `preserve` hands the capture the original;
 * - a command's result, kept until its reply is written (a reply waits behind others, an EXEC
 *   replies after all its commands, an entry of the log applies many commands before its first reply),
 *   and a second key (COPY shares a string, RENAME moves it): both come from `get` or
 *   `lookupString` inside `mutate`, which give up the ownership, so the next change copies;
 * - replies written at once (reads): the RESP writer copies the bytes into its buffer;
 * - the log and clients' buffers: a stored string is a copy of the argument (`copyArg`), and the
 *   keyspace changes only bytes it made itself;
 * - digests: computed synchronously, holding nothing.
 *
 * **Snapshots are copy-on-write, and read incrementally.** `capture()` copies nothing: it notes
 * the entries that exist (the `order` array as it is, and its length) and bumps the epoch. The
 * snapshot then reads them in sequence order while the node goes on applying writes. Before a
 * write changes an entry the snapshot has not read yet (its value, its expiry, or deletes it), the
 * keyspace hands the snapshot the entry's value and expiry as they were (`preserve`); keys created
 * after the capture have higher sequence numbers and are never read. So the snapshot sees exactly
 * the keyspace at the capture, and taking it holds the event loop for no time at all, however many
 * keys there are. Aggregates are not changed in place meanwhile: `modify` copies an aggregate made
 * in an earlier epoch before handing it out, and puts the copy in the key's place; the snapshot
 * keeps the original. With no snapshot running, nothing is copied or preserved.
 *
 * **SCAN.** Every key gets a sequence number when it is created (a new number if it is deleted and
 * created again; overwriting a key keeps it), and `order` keeps the live keys by sequence number.
 * A cursor is the sequence number to continue from. A key present for the whole of a scan keeps
 * its number and its place, so a scan returns it exactly once, whatever else is added or removed
 * meanwhile; a key added during the scan may or may not be returned, as in Redis. The numbers are
 * part of the replicated state (assigned in log order, carried by snapshots), so a cursor given by
 * one node continues on another.
 *
 * **Expiry.** Every entry has an expiry time, `expiresAt` (ms since the epoch, 0 for none). A key
 * is expired when `expiresAt !== 0 && expiresAt <= replicatedTime()`. Inside `mutate` (a log
 * position is set) that is the time stamped on the log entry, the same on every replica: an
 * expired key found on access is deleted there and then, and treated as absent. Outside `mutate`
 * (a read, a reply) it is this node's clock: an expired key is treated as absent but stays, since
 * reads never change state (followers do not run them). Every access (`get`, `has`, `lookup`,
 * `lookupString`, `modify`, `set`, `keys`, `scan`) goes through that rule; `size` counts keys not
 * reclaimed yet, as Redis's DBSIZE does.
 *
 * Active expiry is deterministic: keys with a TTL are also kept in a min-heap ordered by
 * (expiresAt, seq), and `reclaimExpired` (called before every command's `mutate`, see
 * machine.ts) deletes up to `reclaimPerCommand` of the earliest keys whose time has come. Heap
 * items whose entry died or got another expiry are skipped without counting (each is pushed once
 * and popped once), so the keys reclaimed depend only on the live entries, which every replica
 * (and every node restored from a snapshot, which rebuilds the heap) has alike. Nothing is
 * reclaimed outside `mutate`: an idle cluster keeps expired keys in memory until the next write,
 * though no read ever sees them.
 */
import { errWrongType } from "./arguments.ts";
import { isApplying, replicatedTime } from "../replicated.ts";
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

/** A key's slot: its value, its sequence number and its expiry time (0: none). */
export class Entry {
  dead = false;
  expiresAt = 0;
  /**
   * The epoch in which the keyspace made this entry's string value (bytes with spare room after
   * them, all zero) for `modifyString` to change in place; 0 when the value may be held elsewhere.
   */
  ownedEpoch = 0;
  constructor(
    readonly key: string,
    public value: Value,
    readonly seq: number,
  ) {}
}

/**
 * The keyspace as it was at a capture, read one key at a time in sequence order: `next()` moves to
 * the next key and fills `key`, `value`, `seq` and `expiresAt` (0: none); false once every key was
 * read. Aggregates it hands out must not be changed (they are the originals, see `modify`).
 */
export interface Captured {
  /** The number of keys held at the capture (expired ones not reclaimed yet included). */
  readonly count: number;
  readonly nextSeq: number;
  next(): boolean;
  readonly key: string;
  readonly value: Value;
  readonly seq: number;
  readonly expiresAt: number;
  /** Call once the snapshot has written everything (lets the keyspace stop copying and preserving). */
  release(): void;
}

/** An entry's value and expiry as a running capture must see them (changed since, not read yet). */
interface Original {
  readonly value: Value;
  readonly expiresAt: number;
}

/** A running capture (see the file comment and `Captured`). */
class Capture implements Captured {
  key = "";
  value: Value = new Uint8Array(0);
  seq = 0;
  expiresAt = 0;
  /** The next place to read in `order`; every entry with a sequence number from `unreadFrom` on is unread. */
  private at = 0;
  private unreadFrom = 0;
  /** Originals of entries changed before this capture read them, by sequence number. */
  private readonly originals = new Map<number, Original>();
  private released = false;

  constructor(
    /** The keyspace's `order` array at the capture (a later compaction makes a new one; this one is not changed but for appends past `length`). */
    private readonly order: readonly Entry[],
    private readonly length: number,
    readonly count: number,
    readonly nextSeq: number,
    private readonly onRelease: (capture: Capture) => void,
  ) {}

  /** Called before `entry` changes: keeps what this capture will read in its place. */
  preserve(entry: Entry): void {
    const seq = entry.seq;
    if (seq >= this.nextSeq || seq < this.unreadFrom || this.originals.has(seq)) return;
    this.originals.set(seq, { value: entry.value, expiresAt: entry.expiresAt });
  }

  next(): boolean {
    while (this.at < this.length) {
      const entry = this.order[this.at++] as Entry;
      this.unreadFrom = entry.seq + 1;
      const original = this.originals.get(entry.seq);
      if (original !== undefined) {
        this.originals.delete(entry.seq);
        this.take(entry, original.value, original.expiresAt);
        return true;
      }
      // Dead with nothing preserved: it was deleted before the capture.
      if (entry.dead) continue;
      this.take(entry, entry.value, entry.expiresAt);
      return true;
    }
    return false;
  }

  private take(entry: Entry, value: Value, expiresAt: number): void {
    this.key = entry.key;
    this.value = value;
    this.seq = entry.seq;
    this.expiresAt = expiresAt;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.originals.clear();
    this.onRelease(this);
  }
}

/**
 * The value of a dead entry: `order` keeps dead entries until it is compacted (and a capture's
 * copy of `order` until it is released), and they must not keep their values alive with them
 * (eight deleted 70 MB strings stayed in memory, 560 MB, until the next compaction).
 */
const deadValue: Value = new Uint8Array(0);

/** Dead entries tolerated in `order` before it is compacted: at least this many, and half of it. */
const deadEntriesCompactMin = 1024;
/** Keys active expiry reclaims at most before one command (Redis samples 20 per cycle). */
export const reclaimPerCommand = 20;

/** An entry in the expiry heap: stale once `entry` died or its `expiresAt` changed. */
interface Due {
  readonly at: number;
  readonly seq: number;
  readonly entry: Entry;
}

function before(a: Due, b: Due): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * Strings `modifyString` makes grow by doubling up to this size, and by this much at a time past
 * it (Redis's `sdsMakeRoomFor` rule, SDS_MAX_PREALLOC), so that SETBIT past the end is amortized
 * and a large bitmap wastes at most this much.
 */
const stringGrowthBytesMax = 1024 * 1024;

/**
 * Bytes of the keyspace's own for a string of `length` bytes that begins with `from` (the rest
 * zero), with spare room after them when it grows past `from`: an exact fit otherwise (a bitmap
 * changed without growing rarely grows later).
 */
function ownBytes(length: number, from: Uint8Array): Uint8Array {
  let room = length;
  if (length > from.length) room = length < stringGrowthBytesMax ? Math.max(2 * length, 16) : length + stringGrowthBytesMax;
  const bytes = new Uint8Array(new ArrayBuffer(room), 0, length);
  bytes.set(from);
  return bytes;
}

const noBytes = new Uint8Array(0);

/** True while a command is applied (inside `mutate`). */
function applying(): boolean {
  return isApplying();
}

export class Keyspace {
  private readonly entries = new Map<string, Entry>();
  /**
   * For INFO: reads that found their key and that did not (this node's own: followers count the
   * reads they serve), and keys deleted because their time came (every replica deletes the same).
   */
  readonly stats = { hits: 0, misses: 0, expired: 0 };
  /** False while a write's `unchanged` reads (`readAsWrite`): its lookups are not counted as reads. */
  private countsReads = true;
  /** Every entry in sequence order, with dead ones not yet compacted away. */
  private order: Entry[] = [];
  private deadInOrder = 0;
  private nextSeq = 1;
  /** The epoch new aggregates are made in; bumped by every capture. */
  epoch = 1;
  /** Aggregates made before this epoch may be read by a running snapshot (0: none runs). */
  private sharedBefore = 0;
  /** Captures still being read: each is told of an entry before it changes. */
  private captures: Capture[] = [];
  /** Keys with a TTL, earliest first (with stale items; see the file comment). */
  private heap: Due[] = [];
  /** Live entries with a TTL (expired ones not reclaimed yet included). */
  private withTtl = 0;

  /** Every key held, expired ones not reclaimed yet included (as Redis's DBSIZE). */
  get size(): number {
    return this.entries.size;
  }

  /** Keys with a TTL held, expired ones not reclaimed yet included (INFO's `expires=`). */
  get expiresCount(): number {
    return this.withTtl;
  }

  /**
   * The entry at `key` unless it has expired; an expired one is deleted when a command is being
   * applied, and left alone otherwise.
   */
  private find(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt === 0 || entry.expiresAt > replicatedTime()) {
      // A read (outside `mutate`) counts for INFO's keyspace_hits and keyspace_misses.
      if (!applying() && this.countsReads) {
        if (entry === undefined) this.stats.misses++;
        else this.stats.hits++;
      }
      return entry;
    }
    if (applying()) {
      this.delete(key);
      this.stats.expired++;
    } else if (this.countsReads) this.stats.misses++;
    return undefined;
  }

  /**
   * Runs a write's `unchanged` (see `Unchanged` in api.ts) as the write would read: after active
   * expiry when it is applied (outside the log `reclaimExpired` does nothing), and without counting
   * its lookups in INFO's keyspace_hits and keyspace_misses (Redis counts only reads' lookups).
   */
  readAsWrite<T>(read: () => T): T {
    this.reclaimExpired();
    const counted = this.countsReads;
    this.countsReads = false;
    try {
      return read();
    } finally {
      this.countsReads = counted;
    }
  }

  /** True when `entry` has expired (at `now`). */
  private static expired(entry: Entry, now: number): boolean {
    return entry.expiresAt !== 0 && entry.expiresAt <= now;
  }

  /** The value at `key`, whatever its type (read-only for aggregates). */
  get(key: string): Value | undefined {
    const entry = this.find(key);
    if (entry === undefined) return undefined;
    if (entry.ownedEpoch !== 0) Keyspace.handOut(entry);
    return entry.value;
  }

  /**
   * A string handed out inside `mutate` may outlive the command (a result waiting for its reply,
   * a value stored under a second key): `modifyString` must not change it in place from then on. A read
   * (outside `mutate`) writes its reply at once, so it keeps the ownership.
   */
  private static handOut(entry: Entry): void {
    if (applying()) entry.ownedEpoch = 0;
  }

  has(key: string): boolean {
    return this.find(key) !== undefined;
  }

  /** The expiry time of `key` (0: none), or undefined when there is no such key. */
  expiryOf(key: string): number | undefined {
    return this.find(key)?.expiresAt;
  }

  /**
   * Sets the expiry time of `key`, which must exist (0 removes it). A time that has come deletes
   * the key. Only inside `mutate`.
   */
  setExpiry(key: string, at: number): void {
    const entry = this.find(key);
    if (entry === undefined) return;
    if (at !== 0 && at <= replicatedTime()) {
      this.delete(key);
      return;
    }
    this.expireEntry(entry, at);
  }

  /** Tells the running captures that `entry` is about to change (see `Capture.preserve`). */
  private preserve(entry: Entry): void {
    for (const capture of this.captures) capture.preserve(entry);
  }

  private expireEntry(entry: Entry, at: number): void {
    if (entry.expiresAt === at) return;
    if (this.captures.length > 0) this.preserve(entry);
    if (entry.expiresAt === 0) this.withTtl++;
    else if (at === 0) this.withTtl--;
    entry.expiresAt = at;
    if (at !== 0) this.push({ at, seq: entry.seq, entry });
  }

  /** False when `reclaimExpired` has nothing it could delete (no key has ever had a pending TTL). */
  get mayReclaim(): boolean {
    return this.heap.length > 0;
  }

  /**
   * Active expiry: deletes up to `limit` keys whose time has come, earliest first. Only inside
   * `mutate` (it does nothing elsewhere). Returns how many it deleted.
   */
  reclaimExpired(limit = reclaimPerCommand): number {
    if (!applying() || this.heap.length === 0) return 0;
    const now = replicatedTime();
    let reclaimed = 0;
    while (reclaimed < limit) {
      const top = this.heap[0];
      if (top === undefined || top.at > now) break;
      this.pop();
      if (top.entry.dead || top.entry.expiresAt !== top.at) continue;
      this.delete(top.entry.key);
      this.stats.expired++;
      reclaimed++;
    }
    return reclaimed;
  }

  private push(due: Due): void {
    const heap = this.heap;
    // Stale items pile up when TTLs change often: rebuild from the live entries now and then.
    if (heap.length >= 1024 && heap.length > 4 * this.withTtl) this.rebuildHeap();
    heap.push(due);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >>> 1;
      if (!before(due, heap[parent] as Due)) break;
      heap[at] = heap[parent] as Due;
      at = parent;
    }
    heap[at] = due;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Due;
    if (heap.length === 0) return;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Due, heap[left] as Due) ? right : left;
      if (!before(heap[child] as Due, last)) break;
      heap[at] = heap[child] as Due;
      at = child;
    }
    heap[at] = last;
  }

  /** The heap from the live entries only (after a restore, or when stale items pile up). */
  private rebuildHeap(): void {
    const live: Due[] = [];
    for (const entry of this.entries.values()) if (entry.expiresAt !== 0) live.push({ at: entry.expiresAt, seq: entry.seq, entry });
    live.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    // A sorted array is a heap.
    this.heap = live;
  }

  /** The aggregate of type `type` at `key`, to read; WRONGTYPE when the key holds another type. */
  lookup<T extends Aggregate>(key: string, type: T["type"]): T | undefined {
    const value = this.find(key)?.value;
    if (value === undefined) return undefined;
    if (value instanceof Uint8Array || value.type !== type) throw errWrongType;
    return value as T;
  }

  /** The string at `key`; WRONGTYPE when the key holds another type. */
  lookupString(key: string): Uint8Array | undefined {
    const entry = this.find(key);
    if (entry === undefined) return undefined;
    const value = entry.value;
    if (!(value instanceof Uint8Array)) throw errWrongType;
    if (entry.ownedEpoch !== 0) Keyspace.handOut(entry);
    return value;
  }

  /**
   * The string at `key`, to change in place, at least `length` bytes long (zero bytes added at the
   * end as needed; an absent key is created with `length` zero bytes); the TTL stays. WRONGTYPE
   * when the key holds another type. Only inside `mutate`, and what it returns must not be kept
   * past the command (nor stored anywhere): the next call may change it, or move the bytes.
   *
   * The bytes are copied first unless the keyspace made them since the last capture and handed
   * them to nobody (see the file comment); growing within their spare room copies nothing.
   */
  modifyString(key: string, length: number): Uint8Array {
    const entry = this.find(key);
    if (entry === undefined) {
      const made = ownBytes(length, noBytes);
      this.create(key, made).ownedEpoch = this.epoch;
      return made;
    }
    const value = entry.value;
    if (!(value instanceof Uint8Array)) throw errWrongType;
    if (entry.ownedEpoch !== 0 && entry.ownedEpoch >= this.sharedBefore) {
      if (length <= value.length) return value;
      if (length <= value.buffer.byteLength - value.byteOffset) {
        // The spare room is zero: nothing ever wrote past the end (views never shrink).
        const grown = new Uint8Array(value.buffer, value.byteOffset, length);
        entry.value = grown;
        return grown;
      }
    }
    const copy = ownBytes(Math.max(length, value.length), value);
    if (this.captures.length > 0) this.preserve(entry);
    entry.value = copy;
    entry.ownedEpoch = this.epoch;
    return copy;
  }

  /**
   * The aggregate of type `type` at `key`, to change (copied first when a snapshot still reads it);
   * WRONGTYPE when the key holds another type.
   */
  modify<T extends Aggregate>(key: string, type: T["type"]): T | undefined {
    const entry = this.find(key);
    if (entry === undefined) return undefined;
    const value = entry.value;
    if (value instanceof Uint8Array || value.type !== type) throw errWrongType;
    if (value.epoch < this.sharedBefore) {
      const copy = value.clone(this.epoch);
      this.preserve(entry);
      entry.value = copy;
      return copy as T;
    }
    return value as T;
  }

  /** The aggregate of type `type` at `key`, to change, made with `create` (and stored) when the key is absent. */
  modifyOrCreate<T extends Aggregate>(key: string, type: T["type"], create: (epoch: number) => T): T {
    const found = this.modify<T>(key, type);
    if (found !== undefined) return found;
    const made = create(this.epoch);
    this.set(key, made);
    return made;
  }

  /**
   * Sets `key` to `value` (any type), keeping the key's sequence number if it exists. Its TTL is
   * cleared, as Redis's SET does, unless `keepTtl` (a change in place: APPEND, INCR, KEEPTTL).
   */
  set(key: string, value: Value, keepTtl = false): void {
    const entry = this.find(key);
    if (entry !== undefined) {
      if (this.captures.length > 0) this.preserve(entry);
      entry.value = value;
      entry.ownedEpoch = 0;
      if (!keepTtl) this.expireEntry(entry, 0);
      return;
    }
    this.create(key, value);
  }

  /** A new entry for `key` (absent), with the next sequence number. */
  private create(key: string, value: Value): Entry {
    const created = new Entry(key, value, this.nextSeq++);
    this.entries.set(key, created);
    this.order.push(created);
    return created;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (this.captures.length > 0) this.preserve(entry);
    this.entries.delete(key);
    entry.dead = true;
    entry.value = deadValue;
    if (entry.expiresAt !== 0) this.withTtl--;
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
    for (const entry of this.order) {
      if (this.captures.length > 0 && !entry.dead) this.preserve(entry);
      entry.dead = true;
      entry.value = deadValue;
    }
    this.order = [];
    this.deadInOrder = 0;
    this.heap = [];
    this.withTtl = 0;
  }

  /** Every key that has not expired (any order). */
  *keys(): IterableIterator<string> {
    const now = replicatedTime();
    for (const entry of this.entries.values()) if (!Keyspace.expired(entry, now)) yield entry.key;
  }

  /** Every entry held, expired ones not reclaimed yet included (any order): digests, checks. */
  held(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** Every live entry that has not expired, in sequence order. */
  *live(): IterableIterator<Entry> {
    const now = replicatedTime();
    for (const entry of this.order) if (!entry.dead && !Keyspace.expired(entry, now)) yield entry;
  }

  /**
   * A live key that has not expired, picked with `random` (RANDOMKEY), or undefined when there is
   * none. Expected O(1): a random place in `order` (at most half of it dead), then the next live
   * entry from there, wrapping; a bounded number of tries before that walk, which only a keyspace
   * of mostly expired keys makes long.
   */
  randomLive(random: () => number): Entry | undefined {
    const order = this.order;
    if (this.entries.size === 0 || order.length === 0) return undefined;
    const now = replicatedTime();
    for (let tries = 0; tries < 16; tries++) {
      const entry = order[Math.floor(random() * order.length)] as Entry;
      if (!entry.dead && !Keyspace.expired(entry, now)) return entry;
    }
    const start = Math.floor(random() * order.length);
    for (let i = 0; i < order.length; i++) {
      const entry = order[(start + i) % order.length] as Entry;
      if (!entry.dead && !Keyspace.expired(entry, now)) return entry;
    }
    return undefined;
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
    const now = replicatedTime();
    // Dead (and expired) entries are skipped but bounded too, so one step does bounded work.
    let budget = count * 10 + 100;
    for (; at < order.length && visited < count && budget > 0; at++, budget--) {
      const entry = order[at] as Entry;
      if (entry.dead || Keyspace.expired(entry, now)) continue;
      visit(entry);
      visited++;
    }
    for (; at < order.length && budget > 0; at++, budget--) {
      const entry = order[at] as Entry;
      if (!entry.dead) return entry.seq;
    }
    return at < order.length ? (order[at] as Entry).seq : 0;
  }

  /**
   * A point-in-time view for a snapshot, read incrementally; see the file comment. Takes no time:
   * nothing is copied now.
   */
  capture(): Captured {
    this.epoch++;
    this.sharedBefore = this.epoch;
    const capture = new Capture(this.order, this.order.length, this.entries.size, this.nextSeq, (done) => {
      this.captures = this.captures.filter((one) => one !== done);
      if (this.captures.length === 0) this.sharedBefore = 0;
    });
    this.captures = [...this.captures, capture];
    return capture;
  }

  /**
   * Adds an entry while restoring a snapshot, which lists keys in increasing sequence order.
   * Returns false when the key is already there or the order is broken.
   */
  restoreEntry(key: string, value: Value, seq: number, expiresAt = 0): boolean {
    if (this.entries.has(key)) return false;
    const last = this.order[this.order.length - 1];
    if (last !== undefined && last.seq >= seq) return false;
    const entry = new Entry(key, value, seq);
    entry.expiresAt = expiresAt;
    if (expiresAt !== 0) this.withTtl++;
    this.entries.set(key, entry);
    this.order.push(entry);
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    return true;
  }

  /** After a restore: sequence numbers go on from the snapshot's. */
  restoreNextSeq(nextSeq: number): void {
    if (nextSeq > this.nextSeq) this.nextSeq = nextSeq;
    this.rebuildHeap();
  }
}
