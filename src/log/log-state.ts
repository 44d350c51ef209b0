/**
 * The logical state of a stored log, in memory: compaction point, hard state, snapshot metadata,
 * and the entries of the recent tail. Both backends keep one, update it synchronously in `save()`
 * (so that reads reflect a batch at once) and then persist the same change.
 *
 * The semantics are exactly `MemoryStorage`'s (src/raft/storage.ts): the same assertions about
 * ranges, append dropping a conflicting suffix and skipping entries the snapshot covers,
 * compaction only of what a snapshot covers, a snapshot resetting the whole log.
 *
 * The memory backend holds every entry here. The LMDB backend holds only a tail bounded in bytes
 * and reads older entries from LMDB through `readStored`; entries that are not yet committed to
 * LMDB are never evicted (the caller says which with `evict`).
 */
import { assert } from "../assert.ts";
import { entryBytes } from "../raft/storage.ts";
import {
  asIndex,
  asTerm,
  emptyMembership,
  type Entry,
  type HardState,
  type Index,
  type SnapshotMetadata,
  type Term,
} from "../raft/types.ts";

/** Reads a committed entry that has left the in-memory tail. */
export type StoredEntryReader = (index: Index) => Entry;

/** An inclusive range of indexes. */
export interface IndexRange {
  readonly low: Index;
  readonly high: Index;
}

/** Where the held entries are: `[first, last]`, empty when `last < first`. */
export interface HeldRange {
  readonly first: Index;
  readonly last: Index;
}

/** Below this many dead slots at the front of the tail array, it is not worth compacting it. */
const tailDeadSlotsMin = 1024;

export class LogState {
  /** The index of the entry just before the first one held (the compaction point). */
  private compactIndex: Index = asIndex(0);
  /** The term of the entry at `compactIndex` (0 when it is 0). */
  private compactTerm: Term = asTerm(0);
  private hard: HardState = { term: asTerm(0), vote: null, commit: asIndex(0) };
  private snap: SnapshotMetadata = { index: asIndex(0), term: asTerm(0), membership: emptyMembership };
  /** The last index held; `compactIndex` when the log is empty. */
  private last: Index = asIndex(0);
  /**
   * The cached tail: `tail[tailHead + k]` is the entry at `tailStart + k`, and the cache covers
   * `[tailStart, last]` densely. `tailStart > compactIndex` always; entries in
   * `[compactIndex + 1, tailStart)` are read through `readStored`. The dead slots before
   * `tailHead` are emptied as they die: the array is packed only now and then, and an entry left
   * in a dead slot would stay in memory, whatever the tail's budget.
   */
  private tail: (Entry | undefined)[] = [];
  private tailHead = 0;
  private tailStart: Index = asIndex(1);
  /** Sum of `entryBytes` over the cached tail. */
  private tailBytes = 0;
  /**
   * The terms of held entries, as runs: the entries from `runStarts[k]` up to the next run's start
   * (or `last`) have term `runTerms[k]`. The runs cover the entries appended since the log was
   * restored, so that a term is known without the entry (reading an evicted 50 MB entry back from
   * LMDB to learn its term cost as much as writing it). An older held entry, restored from disk
   * and not appended since, is read for its term.
   */
  private runStarts: number[] = [];
  private runTerms: number[] = [];

  constructor(
    /** The byte budget of the cached tail; `Infinity` keeps every entry in memory. */
    private readonly tailBytesMax: number,
    private readonly readStored: StoredEntryReader | null,
  ) {
    assert(tailBytesMax > 0, "tail cache needs a positive budget");
    assert(readStored !== null || tailBytesMax === Infinity, "a bounded tail needs a stored reader");
  }

  /**
   * Restores the state found on disk at start. `last` is the last stored index; the tail cache
   * starts empty at `last + 1` (the LMDB backend fills nothing eagerly), or is filled by
   * `append` (the memory backend replays every entry).
   */
  restore(state: {
    compactIndex: Index;
    compactTerm: Term;
    hardState: HardState;
    snapshot: SnapshotMetadata;
    last: Index;
  }): void {
    assert(state.last >= state.compactIndex, "restored log ends before its compaction point");
    assert(state.compactIndex <= state.snapshot.index, "restored compaction beyond the snapshot");
    this.compactIndex = state.compactIndex;
    this.compactTerm = state.compactTerm;
    this.hard = state.hardState;
    this.snap = state.snapshot;
    this.last = state.last;
    this.resetTail(asIndex(state.last + 1));
    this.resetRuns();
  }

  hardState(): HardState {
    return this.hard;
  }
  snapshotMetadata(): SnapshotMetadata {
    return this.snap;
  }
  compactionPoint(): { index: Index; term: Term } {
    return { index: this.compactIndex, term: this.compactTerm };
  }
  firstIndex(): Index {
    return asIndex(this.compactIndex + 1);
  }
  lastIndex(): Index {
    return this.last;
  }
  held(): HeldRange {
    return { first: this.firstIndex(), last: this.last };
  }
  /** The bytes of entries cached in memory (for tests and stats). */
  cachedBytes(): number {
    return this.tailBytes;
  }
  /** The first index served from memory. */
  cachedFrom(): Index {
    return this.tailStart;
  }

  term(index: Index): Term {
    if (index === this.compactIndex) return this.compactTerm;
    // Hot path: the message is built only when the assertion fails.
    if (!(index > this.compactIndex && index <= this.last)) {
      assert(false, `term(${index}) outside [${this.compactIndex}, ${this.last}]`);
    }
    const runs = this.runStarts;
    let high = runs.length - 1;
    if (high < 0 || index < runs[0]!) return this.entry(index).term;
    // Most lookups are of recent entries: the last run.
    if (index >= runs[high]!) return asTerm(this.runTerms[high]!);
    // The last run starting at or before `index`.
    let low = 0;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (runs[middle]! <= index) low = middle;
      else high = middle - 1;
    }
    return asTerm(this.runTerms[low]!);
  }

  /** The term of the held entry at `index` when it is known without reading the entry, else null. */
  knownTerm(index: Index): Term | null {
    if (index === this.compactIndex) return this.compactTerm;
    const runs = this.runStarts;
    if (runs.length === 0 || index < runs[0]!) return null;
    return this.term(index);
  }

  entries(low: Index, high: Index, maxBytes: number): Entry[] {
    assert(low > this.compactIndex && high <= this.last + 1 && low < high, "bad range");
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = low; index < high; index++) {
      const entry = this.entry(asIndex(index));
      bytes += entryBytes(entry);
      if (bytes > maxBytes && result.length > 0) break;
      result.push(entry);
    }
    return result;
  }

  /** The entry at `index`, which must be held. */
  entry(index: Index): Entry {
    if (!(index > this.compactIndex && index <= this.last)) assert(false, `entry ${index} is not held`);
    if (index >= this.tailStart) {
      const entry = this.tail[this.tailHead + index - this.tailStart];
      assert(entry !== undefined && entry.index === index, "cached tail is dense");
      return entry;
    }
    assert(this.readStored !== null, "an unbounded tail holds every entry");
    const entry = this.readStored(index);
    if (entry.index !== index) assert(false, `stored entry ${index} read back as ${entry.index}`);
    return entry;
  }

  /** Persists the hard state. Term and commit never go backwards. */
  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hard.term, "durable term must not go backwards");
    assert(hardState.commit >= this.hard.commit, "durable commit must not go backwards");
    this.hard = hardState;
  }

  /**
   * Appends entries, first dropping any held suffix they replace. Entries at or below the
   * compaction point are already covered by the snapshot and are skipped. Returns the entries
   * actually appended (a suffix of `entries`).
   */
  append(entries: readonly Entry[]): readonly Entry[] {
    let skip = 0;
    while (skip < entries.length && entries[skip]!.index <= this.compactIndex) skip++;
    if (skip === entries.length) return [];
    const first = entries[skip]!;
    if (!(first.index <= this.last + 1)) assert(false, `append at ${first.index} leaves a gap after ${this.last}`);
    if (first.index <= this.last) this.truncateFrom(first.index);
    for (let position = skip; position < entries.length; position++) {
      const entry = entries[position]!;
      assert(entry.index === this.last + 1, "entries must be dense");
      assert(entry.term >= this.term(this.last), "entry terms must not go backwards in the log");
      this.tail.push(entry);
      this.tailBytes += entryBytes(entry);
      this.last = entry.index;
      const runs = this.runTerms.length;
      if (runs === 0 || this.runTerms[runs - 1] !== entry.term) {
        this.runStarts.push(entry.index);
        this.runTerms.push(entry.term);
      }
    }
    return skip === 0 ? entries : entries.slice(skip);
  }

  /** Drops every held entry at or after `index` (`index` in `[first, last + 1]`). */
  truncateFrom(index: Index): void {
    if (!(index > this.compactIndex && index <= this.last + 1)) assert(false, `truncate at ${index} outside the log`);
    if (index >= this.tailStart) {
      const keep = this.tailHead + index - this.tailStart;
      for (let position = keep; position < this.tail.length; position++) {
        this.tailBytes -= entryBytes(this.tail[position]!);
      }
      this.tail.length = keep;
    } else {
      this.resetTail(index);
    }
    while (this.runStarts.length > 0 && this.runStarts[this.runStarts.length - 1]! >= index) {
      this.runStarts.pop();
      this.runTerms.pop();
    }
    this.last = asIndex(index - 1);
  }

  /** Replaces the whole log with a snapshot (Raft §7). */
  applySnapshot(metadata: SnapshotMetadata): void {
    assert(metadata.index >= this.snap.index, "snapshot must not go backwards");
    this.snap = metadata;
    this.compactIndex = metadata.index;
    this.compactTerm = metadata.term;
    this.last = metadata.index;
    this.resetTail(asIndex(metadata.index + 1));
    this.resetRuns();
  }

  /**
   * Records a snapshot of the local state machine without touching the log. An older one than the
   * last recorded may be (a newer file was lost: `restoreLatestSnapshot`), while it covers the
   * compacted part of the log.
   */
  recordSnapshot(metadata: SnapshotMetadata): void {
    assert(metadata.index >= this.compactIndex, "a snapshot covers the compacted log");
    assert(metadata.index <= this.last, "snapshot beyond the log");
    assert(metadata.term === this.term(metadata.index), "snapshot term differs from the log's");
    this.snap = metadata;
  }

  /** Discards entries up to and including `index`, which the latest snapshot must cover. */
  compact(index: Index): boolean {
    if (index <= this.compactIndex) return false;
    assert(index <= this.snap.index, "compact only what a snapshot covers");
    assert(index <= this.last, "compact beyond the log");
    const term = this.term(index);
    if (index >= this.tailStart) {
      const drop = index - this.tailStart + 1;
      for (let position = this.tailHead; position < this.tailHead + drop; position++) {
        this.tailBytes -= entryBytes(this.tail[position]!);
        this.tail[position] = undefined;
      }
      this.tailHead += drop;
      this.tailStart = asIndex(index + 1);
      this.packTail();
    }
    // Runs that end at or before the new first entry go.
    let drop = 0;
    while (drop + 1 < this.runStarts.length && this.runStarts[drop + 1]! <= index + 1) drop++;
    if (drop > 0) {
      this.runStarts.splice(0, drop);
      this.runTerms.splice(0, drop);
    }
    this.compactIndex = index;
    this.compactTerm = term;
    return true;
  }

  /**
   * Evicts the oldest cached entries while the tail is over budget, but never an entry at or
   * after `keepFrom` (entries not yet committed to the backing store).
   */
  evict(keepFrom: Index): void {
    if (this.tailBytes <= this.tailBytesMax) return;
    assert(this.readStored !== null, "an unbounded tail never evicts");
    while (this.tailBytes > this.tailBytesMax && this.tailStart < keepFrom && this.tailStart <= this.last) {
      const entry = this.tail[this.tailHead];
      assert(entry !== undefined && entry.index === this.tailStart, "cached tail is dense");
      this.tailBytes -= entryBytes(entry);
      this.tail[this.tailHead] = undefined;
      this.tailHead++;
      this.tailStart = asIndex(this.tailStart + 1);
    }
    this.packTail();
  }

  private resetRuns(): void {
    this.runStarts = [];
    this.runTerms = [];
  }

  private resetTail(start: Index): void {
    this.tail = [];
    this.tailHead = 0;
    this.tailStart = start;
    this.tailBytes = 0;
  }

  /** Drops dead slots at the front of the tail array once they are many. */
  private packTail(): void {
    if (this.tailHead < tailDeadSlotsMin || this.tailHead * 2 < this.tail.length) return;
    this.tail = this.tail.slice(this.tailHead);
    this.tailHead = 0;
  }
}

/**
 * The held indexes that a change dropped: `before` minus `after`, as at most two ranges (a prefix
 * lost to a snapshot or compaction, a suffix lost to truncation or a snapshot).
 */
export function droppedRanges(before: HeldRange, after: HeldRange): IndexRange[] {
  if (before.last < before.first) return [];
  if (after.last < after.first) return [{ low: before.first, high: before.last }];
  const ranges: IndexRange[] = [];
  const prefixHigh = Math.min(before.last, after.first - 1);
  if (prefixHigh >= before.first) ranges.push({ low: before.first, high: asIndex(prefixHigh) });
  const suffixLow = Math.max(before.first, after.last + 1, prefixHigh + 1);
  if (suffixLow <= before.last) ranges.push({ low: asIndex(suffixLow), high: before.last });
  return ranges;
}
