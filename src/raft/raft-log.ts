/**
 * The log as the core sees it: a stable prefix read through `LogStorage`, and an unstable suffix
 * (entries, or a snapshot from the leader) held in memory until the driver reports it durable.
 * Also tracks the commit and applied indexes, with `applied <= commit <= lastIndex`.
 */
import { assert } from "../assert.ts";
import { entryBytes, type LogStorage } from "./storage.ts";
import { asIndex, type Entry, type Index, type Snapshot, type Term } from "./types.ts";

/** The replicated log of one server. */
export class RaftLog {
  /** Index of `unstable[0]`; entries below it are in storage (or covered by a snapshot). */
  private unstableOffset: Index;
  /** Entries not yet durable, dense from `unstableOffset`. */
  private unstable: Entry[] = [];
  /** A snapshot received from the leader that is not yet durable. */
  private unstableSnapshot: Snapshot | null = null;
  /** Highest index known committed (Raft Figure 2, `commitIndex`); never decreases. */
  committed: Index;
  /** Highest index handed to the driver for applying; `applied <= committed`. */
  applied: Index;

  constructor(readonly storage: LogStorage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    assert(first >= 1 && first <= last + 1, "storage first/last out of order");
    this.unstableOffset = asIndex(last + 1);
    // The state machine restarts from the latest snapshot, which may be past the compacted log.
    this.applied = storage.snapshotMetadata().index;
    assert(this.applied >= first - 1 && this.applied <= last, "the snapshot lies within the log");
    this.committed = storage.hardState().commit;
    assert(this.committed <= last, "durable commit beyond the durable log");
    if (this.committed < this.applied) this.committed = this.applied;
  }

  /** The index of the first entry still readable (after any snapshot). */
  firstIndex(): Index {
    if (this.unstableSnapshot !== null) return asIndex(this.unstableSnapshot.metadata.index + 1);
    return this.storage.firstIndex();
  }

  /** The index of the last entry, or of the snapshot when the log after it is empty. */
  lastIndex(): Index {
    if (this.unstable.length > 0) return asIndex(this.unstableOffset + this.unstable.length - 1);
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  /** The term of `index`, or null when it is compacted away or beyond the log. */
  term(index: Index): Term | null {
    const before = this.firstIndex() - 1;
    if (index < before || index > this.lastIndex()) return null;
    if (this.unstableSnapshot !== null && index === this.unstableSnapshot.metadata.index) {
      return this.unstableSnapshot.metadata.term;
    }
    if (index >= this.unstableOffset) {
      const entry = this.unstable[index - this.unstableOffset];
      assert(entry !== undefined, "unstable entries are dense");
      return entry.term;
    }
    return this.storage.term(index);
  }

  /** The term of the last entry. */
  lastTerm(): Term {
    const term = this.term(this.lastIndex());
    assert(term !== null, "the last entry always has a term");
    return term;
  }

  /** Whether the entry at `index` has term `term`. */
  matchTerm(index: Index, term: Term): boolean {
    return this.term(index) === term;
  }

  /**
   * Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up-to-date as this one
   * (Raft §5.4.1): a later last term wins; with equal last terms, the longer log wins.
   */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const ownTerm = this.lastTerm();
    return lastTerm > ownTerm || (lastTerm === ownTerm && lastIndex >= this.lastIndex());
  }

  /** Appends entries whose first index is at most `lastIndex() + 1`, replacing any suffix. */
  append(entries: readonly Entry[]): Index {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!;
    if (!(first.index > this.committed)) assert(false, `append at ${first.index} would overwrite committed entries`);
    assert(first.index <= this.lastIndex() + 1, "append leaves a gap");
    const keep = first.index - this.unstableOffset;
    if (keep === this.unstable.length) {
      for (const entry of entries) this.unstable.push(entry);
    } else if (keep <= 0) {
      // The new entries replace part of the stable log; storage truncates when they are persisted.
      this.unstableOffset = first.index;
      this.unstable = entries.slice();
    } else {
      this.unstable = this.unstable.slice(0, keep);
      for (const entry of entries) this.unstable.push(entry);
    }
    return this.lastIndex();
  }

  /**
   * The index of the first entry whose term conflicts with the log, or whose index is past its
   * end; 0 when every entry is already present.
   */
  findConflict(entries: readonly Entry[]): Index {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return asIndex(0);
  }

  /**
   * The largest index at or below `index` whose term is at most `term` (fast backtracking): no
   * entry in between can match a log whose entry at `index` has term `term`.
   */
  findConflictByTerm(index: Index, term: Term): Index {
    let probe = Math.min(index, this.lastIndex());
    for (;;) {
      const found = this.term(asIndex(probe));
      if (found === null || found <= term) return asIndex(probe);
      probe--;
    }
  }

  /**
   * The receiver half of AppendEntries (Raft §5.3): if the log holds `prevIndex` with `prevTerm`,
   * appends what is new, advances commit to min(leader commit, last new entry), and returns the
   * last new index; otherwise returns null.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, commit: Index, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = asIndex(prevIndex + entries.length);
    // The common case, a follower in step with its leader, needs no conflict scan.
    if (entries.length > 0 && prevIndex === this.lastIndex()) {
      this.append(entries);
    } else if (entries.length > 0) {
      const conflict = this.findConflict(entries);
      if (conflict !== 0) {
        if (!(conflict > this.committed)) assert(false, `conflict at ${conflict} with committed ${this.committed}`);
        this.append(entries.slice(conflict - prevIndex - 1));
      }
    }
    this.commitTo(asIndex(Math.min(commit, lastNew)));
    return lastNew;
  }

  /** Raises the commit index; it never decreases and never passes the last entry. */
  commitTo(commit: Index): void {
    if (commit <= this.committed) return;
    if (!(commit <= this.lastIndex())) assert(false, `commit ${commit} beyond last index ${this.lastIndex()}`);
    this.committed = commit;
  }

  /** Commits `index` if it holds an entry of `term` (Raft §5.4.2: only current-term entries). */
  maybeCommit(index: Index, term: Term): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Records that the driver was handed entries up to `index` to apply. */
  appliedTo(index: Index): void {
    if (index === 0) return;
    if (!(index <= this.committed)) assert(false, `applied ${index} beyond commit ${this.committed}`);
    assert(index >= this.applied, "applied must not go backwards");
    this.applied = index;
  }

  /** Whether committed entries wait to be applied (none while a snapshot is being installed). */
  hasNextCommittedEntries(): boolean {
    return this.unstableSnapshot === null && this.applied < this.committed;
  }

  /** Committed entries not yet applied, up to about `maxBytes`. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    return this.slice(asIndex(this.applied + 1), asIndex(this.committed + 1), maxBytes);
  }

  /** Entries in `[low, high)` up to about `maxBytes` (at least one), from storage and memory. */
  slice(low: Index, high: Index, maxBytes: number): Entry[] {
    if (!(low >= this.firstIndex() && high <= this.lastIndex() + 1)) assert(false, `slice [${low}, ${high}) outside the log`);
    if (low >= high) return [];
    let result: Entry[] = [];
    let bytes = 0;
    if (low < this.unstableOffset) {
      result = this.storage.entries(low, asIndex(Math.min(high, this.unstableOffset)), maxBytes);
      if (result.length < Math.min(high, this.unstableOffset) - low) return result;
      for (const entry of result) bytes += entryBytes(entry);
    }
    const start = Math.max(low, this.unstableOffset) - this.unstableOffset;
    const end = high - this.unstableOffset;
    let stop = start;
    while (stop < end) {
      bytes += entryBytes(this.unstable[stop]!);
      if (bytes > maxBytes && (stop > start || result.length > 0)) break;
      stop++;
    }
    if (stop === start) return result;
    const tail = this.unstable.slice(start, stop);
    return result.length === 0 ? tail : result.concat(tail);
  }

  /** The last index known durable and matching this log; 0 while a snapshot is being installed. */
  stableLastIndex(): Index {
    if (this.unstableSnapshot !== null) return asIndex(0);
    return asIndex(this.unstableOffset - 1);
  }

  /** The unstable entries, for the driver to persist. */
  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  /** The unstable snapshot, for the driver to persist. */
  pendingSnapshot(): Snapshot | null {
    return this.unstableSnapshot;
  }

  /**
   * The driver made entries up to (`index`, `term`) durable. If the unstable suffix was replaced
   * since (a new leader overwrote it), the term no longer matches and nothing is released.
   */
  stableTo(index: Index, term: Term): void {
    if (index < this.unstableOffset || this.unstable.length === 0) return;
    const entry = this.unstable[index - this.unstableOffset];
    if (entry === undefined || entry.term !== term) return;
    this.unstable = this.unstable.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = asIndex(index + 1);
  }

  /** The driver made the unstable snapshot at `index` durable. */
  stableSnapshotTo(index: Index): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.metadata.index === index) {
      this.unstableSnapshot = null;
    }
  }

  /**
   * Replaces the log with a snapshot from the leader (Raft §7): the state machine will be reset to
   * it, so commit and applied move to its index.
   */
  restore(snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    assert(index > this.committed, "restore only snapshots past the commit index");
    this.unstableSnapshot = snapshot;
    this.unstable = [];
    this.unstableOffset = asIndex(index + 1);
    this.committed = index;
    this.applied = index;
  }
}
