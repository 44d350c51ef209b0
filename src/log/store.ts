/**
 * The durable Raft log behind one interface, with two backends: LMDB (the default) and a memory
 * log persisted to an append-only file (Finn's "FastLog"). Both pass `store-contract.ts`.
 *
 * The node loop persists each Ready with one `save()`: snapshot metadata (if any), then entries
 * (dropping any stored conflicting suffix), then hard state, atomically, with at most one fsync.
 * Reads are synchronous and reflect every `save()` at once, before it is on disk: the Raft core
 * reads its stable log through `LogStorage` (src/raft/storage.ts) in the same event-loop turn.
 *
 * See docs/storage.md for the formats and the durability contract.
 */
import type { Logger } from "../log.ts";
import type { LogStorage } from "../raft/storage.ts";
import type { Entry, HardState, Index, SnapshotMetadata } from "../raft/types.ts";

/** One Ready's worth of state to persist, applied in this order: snapshot, entries, hard state. */
export interface SaveBatch {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: SnapshotMetadata | null;
}

/** A durable Raft log. Every backend implements it with identical semantics. */
export interface LogStore extends LogStorage {
  /**
   * Saves one batch atomically: snapshot metadata (the log then restarts after it), entries
   * (dropping any stored entry at or after the first new index), hard state. Reads reflect it at
   * once. Returns a promise that resolves once this batch (and everything before it) is flushed
   * to disk. At Low durability that happens only when `flush()` is called (or at `close()`); at
   * Medium within about a second; at High as soon as the group commit's fsync returns. A rejected
   * promise means the disk failed: the node must stop.
   */
  save(batch: SaveBatch): Promise<void>;
  /**
   * Resolves once everything saved so far would survive a crash of this process: handed to the
   * operating system, not necessarily flushed to the disk. A node acknowledges entries to the
   * leader only after this, at every durability level (below High, `save` waits for a flush that
   * may be a second or more away).
   */
  committed(): Promise<void>;
  /**
   * Drops entries up to and including `index` (at most the latest snapshot's index). Crash-safe:
   * after a crash the stored log is a dense range starting at the old first index, the new one,
   * or (LMDB removes them in steps) an index between. Not flushed on its own: losing a compaction
   * is harmless (the entries are simply still there, and the snapshot covers them).
   */
  compact(index: Index): void;
  /**
   * Records a snapshot of the local state machine, taken at an applied index at most
   * `lastIndex()`, without touching the log (like `MemoryStorage.createSnapshot`); `compact` may
   * then drop what it covers. Crash-atomic, not flushed on its own: a crash may forget it, never
   * keep a later compaction without it. Write the snapshot file (snapshot-store.ts) first.
   */
  recordSnapshot(metadata: SnapshotMetadata): void;
  /**
   * The node applied the entries up to `index`. A store that keeps only a bounded tail of the log
   * in memory keeps the entries after it there, whatever their size, since they are about to be
   * read to be applied; it may let these go.
   */
  applied(index: Index): void;
  /** Resolves when everything saved so far is on disk (forces an fsync if needed). */
  flush(): Promise<void>;
  /** Bytes the store uses on disk. */
  diskBytes(): number;
  /** Writes since the store opened: LMDB transactions, or appends to the file. */
  writeCount(): number;
  /** Flushes to the disk (fsyncs) since the store opened. */
  syncCount(): number;
  /** Flushes everything, then closes the files. The store must not be used afterwards. */
  close(): Promise<void>;
}

/**
 * How eagerly the store fsyncs. Identical on both backends; docs/storage.md spells out what each
 * level can lose on a process crash and on a power loss.
 * - `low`: never on its own (the OS writes back when it likes); `flush()` still forces one.
 * At every level, a batch that changes the term or the vote is synced at once (see
 * `changesTermOrVote`).
 * - `medium`: at least once a second (when anything was saved), and on `flush()`.
 * - `high`: after every event-loop turn that saved something (group commit), before `save()`
 *   resolves.
 */
export type Durability = "low" | "medium" | "high";
/** Where the log lives. */
export type Backend = "lmdb" | "memory";

/** Options common to both backends. Only `backend` and `durability` are required. */
export interface LogStoreOptions {
  readonly backend: Backend;
  readonly durability: Durability;
  /** Where warnings go (a torn final record dropped at start). Standard error when absent. */
  readonly logger?: Logger;
  /**
   * The data of the snapshot whose metadata is stored, for `snapshot()` (the Raft core sends it
   * to a follower that fell behind the compacted log). Snapshot data lives in snapshot files
   * (snapshot-store.ts), not in the log; without this, `snapshot()` returns empty data.
   */
  readonly snapshotData?: (metadata: SnapshotMetadata) => Uint8Array;
  /**
   * LMDB only: the page size of a new log file (`lmdbPageBytesDefault`, 16 KB); a file that
   * exists keeps its own.
   */
  readonly lmdbPageBytes?: number;
  /** LMDB only: bytes of recent entries kept in memory in front of LMDB. */
  readonly tailCacheBytesMax?: number;
  /** Memory backend only: garbage bytes in the file before compaction rewrites it. */
  readonly rewriteGarbageBytesMin?: number;
}

/** The file name of the LMDB log environment inside the data directory. */
export const lmdbLogFileName = "log.mdb";
/** The file name of the memory backend's append-only file inside the data directory. */
export const fileLogFileName = "log.fastlog";

/**
 * Medium durability's fsync period: Redis's `appendfsync everysec`. A power loss loses at most
 * about this much of what was saved (plus the fsync's own duration).
 */
export const mediumSyncIntervalMilliseconds = 1000;

/**
 * A store file that fails its checksums or structure: an operating error (bad disk, a file edited
 * by hand), never silently used. The message names the file, the offset and what to do.
 */
export class StorageCorruptionError extends Error {
  override name = "StorageCorruptionError";
  constructor(
    readonly file: string,
    readonly offset: number | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Whether saving `next` changes the term or the vote. Such a batch is synced at once at every
 * durability level: a server acts on a term or a vote only once it is durable (Raft §5.1 and
 * Figure 2), so the node always awaits it, and it must not wait for a timer or a `flush()`.
 */
export function changesTermOrVote(current: HardState, next: HardState | null): boolean {
  return next !== null && (next.term !== current.term || next.vote !== current.vote);
}

/**
 * What to do about a damaged log, for error messages. The whole data directory goes, identity
 * included: a server that forgot its vote must not come back under the same identity (it could
 * vote twice in one term, Raft §5.2), so it rejoins as a new member.
 */
export function corruptLogAdvice(dir: string): string {
  return (
    `Do not edit it by hand. Restore the data directory from a backup; or, in a cluster, move the data ` +
    `directory ${dir} away (the log and the node's identity go together), then start the node with an ` +
    `empty directory and add it to the cluster again (RAFTADDPEER), so that it receives the log from the leader.`
  );
}

/** Opens (creating if needed) the log store in `dir`. */
export async function openLogStore(dir: string, options: LogStoreOptions): Promise<LogStore> {
  switch (options.backend) {
    case "lmdb": {
      const { LmdbLogStore } = await import("./lmdb-store.ts");
      return LmdbLogStore.open(dir, options);
    }
    case "memory": {
      const { FileLogStore } = await import("./file-store.ts");
      return FileLogStore.open(dir, options);
    }
  }
}
