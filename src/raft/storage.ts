/**
 * The stable part of the log, as the core reads it. Like etcd raft's `Storage`: the core keeps the
 * unstable suffix in memory and reads everything already persisted through this interface, which
 * is synchronous (the real node keeps the hot part of its store cached in memory).
 */
import { assert } from "../assert.ts";
import {
  asIndex,
  asTerm,
  emptyMembership,
  type Entry,
  type HardState,
  type Index,
  type Membership,
  type Snapshot,
  type SnapshotMetadata,
  type Term,
} from "./types.ts";

/** Read access to durable Raft state. Every method reflects only what is durable. */
export interface LogStorage {
  /** The hard state at startup. */
  hardState(): HardState;
  /** The metadata of the latest snapshot; index 0 and empty membership when there is none. */
  snapshotMetadata(): SnapshotMetadata;
  /** The latest snapshot, for sending to a follower that fell behind the compacted log. */
  snapshot(): Snapshot;
  /** The index of the first entry still held; `lastIndex() + 1` when the log is empty. */
  firstIndex(): Index;
  /** The index of the last entry held, or of the compaction point when none is held. */
  lastIndex(): Index;
  /** The term of the entry at `index`, for `firstIndex() - 1 <= index <= lastIndex()`. */
  term(index: Index): Term;
  /**
   * Entries in `[low, high)`, stopping once their data adds up to more than `maxBytes` but always
   * returning at least one. `firstIndex() <= low < high <= lastIndex() + 1`.
   */
  entries(low: Index, high: Index, maxBytes: number): Entry[];
}

/** The bytes an entry counts for in byte limits: its data plus a fixed overhead for the header. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes;
}
/** Per-entry overhead counted by byte limits, so that empty entries are not free. */
export const entryOverheadBytes = 24;

/**
 * Log storage in memory: for tests, the simulator (where it stands for the durable disk), and
 * the benchmark. Entries live in one array; `compactIndex`/`compactTerm` describe the entry just
 * before the first one held.
 */
export class MemoryStorage implements LogStorage {
  private held: Entry[] = [];
  private compactIndex: Index = asIndex(0);
  private compactTerm: Term = asTerm(0);
  private hard: HardState = { term: asTerm(0), vote: null, commit: asIndex(0) };
  private snap: Snapshot = {
    metadata: { index: asIndex(0), term: asTerm(0), membership: emptyMembership },
    data: new Uint8Array(0),
  };

  /**
   * A storage for a founding member of a new cluster: its log starts with a committed bootstrap
   * config entry at index 1, term 1, so that servers that join later replay the same membership.
   */
  static bootstrap(entry: Entry): MemoryStorage {
    assert(entry.index === 1 && entry.term === 1 && entry.type === "config", "bad bootstrap entry");
    const storage = new MemoryStorage();
    storage.append([entry]);
    storage.setHardState({ term: asTerm(1), vote: null, commit: asIndex(1) });
    return storage;
  }

  hardState(): HardState {
    return this.hard;
  }
  snapshotMetadata(): SnapshotMetadata {
    return this.snap.metadata;
  }
  snapshot(): Snapshot {
    return this.snap;
  }
  firstIndex(): Index {
    return asIndex(this.compactIndex + 1);
  }
  lastIndex(): Index {
    return asIndex(this.compactIndex + this.held.length);
  }

  term(index: Index): Term {
    if (index === this.compactIndex) return this.compactTerm;
    const entry = this.held[index - this.compactIndex - 1];
    if (!(entry !== undefined)) assert(false, `term(${index}) outside [${this.compactIndex}, ${this.lastIndex()}]`);
    return entry.term;
  }

  entries(low: Index, high: Index, maxBytes: number): Entry[] {
    assert(low > this.compactIndex && high <= this.lastIndex() + 1 && low < high, "bad range");
    const start = low - this.compactIndex - 1;
    const end = high - this.compactIndex - 1;
    let bytes = 0;
    let stop = start;
    while (stop < end) {
      const entry = this.held[stop];
      assert(entry !== undefined, "held entries are dense");
      bytes += entryBytes(entry);
      if (bytes > maxBytes && stop > start) break;
      stop++;
    }
    return this.held.slice(start, stop);
  }

  /** Persists the hard state. Term and commit never go backwards. */
  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hard.term, "durable term must not go backwards");
    assert(hardState.commit >= this.hard.commit, "durable commit must not go backwards");
    this.hard = hardState;
  }

  /**
   * Appends entries, first dropping any held suffix they replace. Entries at or below the
   * compaction point are already covered by the snapshot and are skipped.
   */
  append(entries: readonly Entry[]): void {
    let skip = 0;
    while (skip < entries.length && entries[skip]!.index <= this.compactIndex) skip++;
    if (skip === entries.length) return;
    const first = entries[skip]!;
    if (!(first.index <= this.lastIndex() + 1)) assert(false, `append at ${first.index} leaves a gap`);
    const keep = first.index - this.compactIndex - 1;
    if (keep < this.held.length) this.held.length = keep;
    for (let position = skip; position < entries.length; position++) {
      const entry = entries[position]!;
      assert(entry.index === this.compactIndex + this.held.length + 1, "entries must be dense");
      this.held.push(entry);
    }
  }

  /** Replaces the whole log with a snapshot received from the leader (Raft §7). */
  applySnapshot(snapshot: Snapshot): void {
    assert(snapshot.metadata.index >= this.snap.metadata.index, "snapshot must not go backwards");
    this.snap = snapshot;
    this.held = [];
    this.compactIndex = snapshot.metadata.index;
    this.compactTerm = snapshot.metadata.term;
  }

  /** Records a snapshot of the local state machine taken at applied index `index`. */
  createSnapshot(index: Index, membership: Membership, data: Uint8Array): Snapshot {
    assert(index >= this.snap.metadata.index, "snapshot must not go backwards");
    assert(index <= this.lastIndex(), "snapshot beyond the log");
    this.snap = { metadata: { index, term: this.term(index), membership }, data };
    return this.snap;
  }

  /** Discards entries up to and including `index`, which the latest snapshot must cover. */
  compact(index: Index): void {
    if (index <= this.compactIndex) return;
    assert(index <= this.snap.metadata.index, "compact only what a snapshot covers");
    const term = this.term(index);
    this.held = this.held.slice(index - this.compactIndex);
    this.compactIndex = index;
    this.compactTerm = term;
  }
}
