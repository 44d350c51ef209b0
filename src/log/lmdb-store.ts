/**
 * The LMDB backend (the default): one environment file, `log.mdb`, in the data directory, with
 * three named databases.
 * - `entries`: key = the entry's index (an lmdb-js ordered-binary number, so that range scans
 *   run in index order), value = the encoded entry (`codec.encodeEntryInto`: 24-byte header with
 *   a CRC32, then the data bytes exactly as given), stored with lmdb-js's `binary` encoding (no
 *   msgpack on the data) — or, for an entry longer than `pieceBytes`, its first piece.
 * - `pieces`: key = [index, n], value = the n-th piece (n ≥ 1) of such an entry's encoding. The
 *   pieces of an entry, concatenated in order after its first, are its encoding.
 * - `meta`: `hardState`, `snapshot` and `compaction` (the compaction point), each
 *   `codec.encodeChecked` JSON with its own CRC32.
 *
 * Writes: every `save()` and `recordSnapshot()` is one synchronous LMDB transaction
 * (`transactionSync`), committed before it returns, so writes never reorder and entries are in the
 * operating system's hands before the node acknowledges them. The node saves once per Ready, so a
 * turn's writes share one transaction (group commit happens in the node's loop).
 *
 * Compaction removes entries from disk in steps: `compact()` moves the compaction point in memory
 * at once, and the entries it covers leave LMDB a bounded number at a time, inside the following
 * transactions (or, with none coming, transactions of their own), each step moving the `compaction`
 * record with the entries it removed. Removing 40,000 entries in one transaction held the loop for
 * about 90 ms. On disk the entries after the recorded compaction point stay a dense range at every
 * step, so a crash leaves the log starting at the old compaction point, the new one, or a step
 * between; the snapshot covers them all.
 *
 * Durability (docs/storage.md):
 * - High: a save that only appends (entries after the last, and the hard state, with no new term or
 *   vote) is written to the journal (`lmdb-journal.ts`, `log.journal`) and fdatasynced there, on
 *   the loop's thread, as Redis's `appendfsync always` fsyncs on its one thread: one flush. Its
 *   entries wait in memory (the tail keeps them) for the next transaction, a checkpoint, which
 *   puts every waiting save into LMDB at once and records the journal number it reached. The
 *   environment syncs, so LMDB's own commit is durable (it writes the pages, fdatasyncs, then
 *   writes the meta page through its O_DSYNC descriptor: two flushes), and the journal then starts
 *   again from its beginning. A checkpoint runs when the journal is full, before every other write
 *   (a conflicting suffix, a snapshot, a new term or vote, compaction's removals) and at close.
 *   What `save()` returned from is on disk; clients queue meanwhile and the next save takes them.
 * - Low and Medium: the environment is `noSync`: commits never fsync. Small appending saves go to
 *   the journal too, without an fdatasync (one pwrite instead of a transaction); LMDB takes them
 *   128 entries at a time, and the journal keeps them until it is full, when LMDB's file is
 *   fdatasynced off the loop and only then the journal starts over (saves meanwhile are
 *   transactions). `flush()` (and Medium's one-second timer) fdatasyncs the journal, then forces
 *   `mdb_env_sync(env, 1)` through lmdb-js's `sync(callback)`, which fsyncs even a `noSync`
 *   environment, on a worker thread. A batch that changes the term or vote is a transaction,
 *   synced at once (`changesTermOrVote`).
 *
 * Reads: a byte-bounded tail of recent entries stays in memory (`LogState`), so reads see
 * uncommitted saves; older entries are read from LMDB synchronously (lmdb-js `get` is sync).
 */
import { closeSync, fdatasyncSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { AssertionError, assert } from "../assert.ts";
import type { Entry, HardState, Index, SnapshotMetadata, Term } from "../raft/types.ts";
import { asIndex, asTerm, emptyMembership } from "../raft/types.ts";
import {
  decodeChecked,
  decodeEntry,
  encodeChecked,
  entryHeaderBytes,
  EntryScratch,
  getUint64,
  parseCompactionPoint,
  parseHardState,
  parseSnapshotMetadata,
  type CompactionPoint,
} from "./codec.ts";
import { diskFull, fdatasyncAsync } from "./file-sync.ts";
import { GroupSync } from "./group-sync.ts";
import { openLmdbFile } from "./lmdb-check.ts";
import { Journal, journalGroupBytesMax, lmdbJournalFileName, JournalRefusal } from "./lmdb-journal.ts";
import { droppedRanges, LogState, type IndexRange } from "./log-state.ts";
import { StateBackedStore } from "./state-backed-store.ts";
import {
  changesTermOrVote,
  corruptLogAdvice,
  lmdbLogFileName,
  mediumSyncIntervalMilliseconds,
  StorageCorruptionError,
  type Durability,
  type LogStore,
  type LogStoreOptions,
  type SaveBatch,
} from "./store.ts";

/**
 * Default bytes of recent entries kept in memory in front of LMDB: what followers need while they
 * keep up (entries in flight), without LMDB reads. Kept small on purpose: entries held longer get
 * promoted by the garbage collector, and every new entry then lands on fresh memory. Measured with
 * 36 KB entries: holding 4 MB of them costs nothing per write, 18 MB about 15 ns, 72 MB about 50 ns.
 * A follower further behind is served from LMDB (one synchronous read per entry).
 */
export const tailCacheBytesMaxDefault = 8 * 1024 * 1024;

const hardStateKey = "hardState";
const snapshotKey = "snapshot";
const compactionKey = "compaction";
/**
 * The number of the last journal group in LMDB, and whether a run has the journal open (`{ number,
 * open }`: set when the store opens, cleared by a clean close; records from before `open` have none).
 */
const journalKey = "journal";

/** lmdb-js's root database has `sync(callback)` (mdb_env_sync with force), untyped in index.d.ts. */
interface SyncableEnvironment {
  sync(callback: (error?: unknown) => void): void;
}

function isSyncable(value: object): value is SyncableEnvironment {
  return typeof (value as { sync?: unknown }).sync === "function";
}

/**
 * Encoded entries are stored in pieces of at most `pieceBytesFor(page size)` bytes, so that every
 * record fits in a leaf page: LMDB puts a value longer than about half a page (with its key) on
 * overflow pages of its own, a run of consecutive free pages. Once compaction had freed pages of
 * every run length, each commit that needed a run searched and re-saved the whole free list
 * (`mdb_page_alloc`, `mdb_freelist_save`): with 4 KB values and 4 KB pages, writes fell from 13k
 * to 2.5k a second within a few compactions. Single pages are reused at once, whatever their place.
 *
 * Each piece is a put of its own (a call into lmdb-js and LMDB), so a new log file gets 16 KB
 * pages: pieces of 8 KB, a quarter as many puts as with the system's 4 KB pages (SETs of 8 KB at
 * pipeline 16: 17-19 -> 12 us of user CPU each; small SETs unchanged). A file keeps the page size
 * it was created with (LMDB records it), and its pieces the size that page size gives.
 */
export const lmdbPageBytesDefault = 16 * 1024;

/**
 * The largest piece for a page size: LMDB keeps a record in a leaf page while it takes at most
 * half the page after the page's header (`me_nodemax`), record header and key included; 140
 * bytes are left for those (1,900 bytes with 4 KB pages, the size of the pieces before log files
 * had 16 KB pages, 8,044 with 16 KB).
 */
export function pieceBytesFor(pageBytes: number): number {
  return Math.floor((pageBytes - 16) / 2) - 140;
}

/**
 * Below High, the largest journal group: a larger save is an LMDB transaction (without an fsync)
 * as before the journal. Small saves gain (one `pwrite` instead of a transaction of 5-6 page
 * writes); a large one would gain little, and the journal would fill, and cost a flush of LMDB's
 * file on the loop's thread, every few saves.
 */
const journalGroupBytesMaxBelowHigh = 32 * 1024;
/**
 * Below High, a transaction takes the journal's waiting entries once there are this many (or this
 * many bytes of them): a transaction per 128 small saves instead of one each, and none long (a
 * megabyte taken at once held the loop for 4-10 ms). At High every transaction flushes twice, so
 * the journal waits until it is full.
 */
const drainEntries = 128;
const drainBytes = 128 * 1024;

/**
 * Compaction's removals (see the header): a step removes this many entries, and a transaction
 * takes steps until it has spent `removalMillisecondsMax` on them (at least one step). An entry
 * takes about 2 µs to remove, so a step about 0.15 ms.
 */
const removalStepEntries = 64;
const removalMillisecondsMax = 0.25;
/** With removals left and no transaction coming, one of their own runs after this long. */
const removalIdleMilliseconds = 10;

const appendOptions = { append: true } as const;
const replaceOptions = { append: false } as const;

/** The writes of one transaction. */
interface Writes {
  /** Stores an entry; `replacing` when an entry at its index may be stored already (a conflict). */
  putEntry(entry: Entry, replacing: boolean): void;
  /** Removes the entries at indexes `[low, high]`. */
  removeEntries(low: number, high: number): void;
  putMeta(key: string, bytes: Uint8Array): void;
}

function removeRanges(writes: Writes, ranges: readonly IndexRange[]): void {
  for (const range of ranges) writes.removeEntries(range.low, range.high);
}

/** What a save at High returns: it is durable when `save()` returns. */
const durableNow: Promise<void> = Promise.resolve();

export class LmdbLogStore extends StateBackedStore implements LogStore {
  /** Low and Medium: syncs the `noSync` environment on demand. Null at High. */
  private readonly group: GroupSync | null;
  private readonly timer: ReturnType<typeof setInterval> | null;
  /** Where puts encode entries (reused: LMDB copies during the put, so no allocation per save). */
  private readonly scratch = new EntryScratch();
  /** Transactions committed, for tests and the benchmark. */
  commitCount = 0;
  /** The last entry the node applied (`applied`): later ones stay in memory. */
  private appliedIndex: Index = asIndex(0);
  private closed = false;
  /**
   * The compaction point on disk: the stored entries are those after it. It trails the state's
   * while `removals` is not empty.
   */
  private diskCompaction: CompactionPoint = { index: asIndex(0), term: asTerm(0) };
  /**
   * Where the next removal steps move the disk's compaction point, in order, `removalStepEntries`
   * apart; the last is the state's compaction point.
   */
  private removals: CompactionPoint[] = [];
  /** Runs a removal step when no other transaction came (`scheduleRemovals`). */
  private removalTimer: ReturnType<typeof setTimeout> | null = null;
  /** The journal small appending saves are written to (see the header); null until open. */
  private journal: Journal | null = null;
  /** Below High: a descriptor of `log.mdb`, to fdatasync before the journal starts over. */
  private lmdbFd: number | null = null;
  /** The number of the last journal group written, or taken into LMDB. */
  private journalNumber = 0;
  /** The number of the last journal group LMDB holds. */
  private checkpointNumber = 0;
  /** The last run did not close the journal: it must be there (`Journal.open`'s `mustExist`). */
  private journalLeftOpen = false;
  /** Entries of journal groups not in LMDB yet, in order (the tail keeps them in memory too). */
  private waiting: Entry[] = [];
  /** The bytes of their data. */
  private waitingBytes = 0;
  /** The hard state of the last journal group not in LMDB yet that had one. */
  private waitingHardState: HardState | null = null;
  /** Set once a journal write or fdatasync failed: nothing after it is trusted. */
  private failure: unknown = null;
  /** fdatasyncs of `log.mdb` by `durableCheckpoint` and `syncLmdbInBackground`. */
  private lmdbSyncs = 0;
  /**
   * Below High: the fdatasync of `log.mdb` that lets the journal start over, while it runs. Saves
   * meanwhile are LMDB transactions: a group written now would be overwritten when it ends.
   */
  private lmdbSyncing: Promise<void> | null = null;

  /** The size of the pieces long entries are stored in (`pieceBytesFor` this file's page size). */
  readonly pieceBytes: number;

  private constructor(
    private readonly path: string,
    /** The LMDB environment (for tests and stats; the store owns every write). */
    readonly environment: RootDatabase,
    private readonly entryDatabase: Database<Uint8Array, number>,
    private readonly pieceDatabase: Database<Uint8Array, [number, number]>,
    private readonly metaDatabase: Database<Uint8Array, string>,
    readonly durability: Durability,
    snapshotData: (metadata: SnapshotMetadata) => Uint8Array,
    tailCacheBytesMax: number,
  ) {
    // Older entries are read back from LMDB; the reader needs the database, set up just below.
    const reader: { read: (index: Index) => Entry } = {
      read: () => {
        throw new AssertionError("read before the store is built");
      },
    };
    super(new LogState(tailCacheBytesMax, (index) => reader.read(index)), snapshotData);
    reader.read = (index) => this.readStored(index);
    const pageBytes = (environment.getStats() as { pageSize?: unknown }).pageSize;
    assert(typeof pageBytes === "number", "lmdb-js stats carry pageSize");
    this.pieceBytes = pieceBytesFor(pageBytes);
    if (durability === "high") {
      this.group = null;
      this.timer = null;
    } else {
      assert(isSyncable(environment), "lmdb-js root database has sync(callback)");
      const syncable = environment;
      // What a sync covers: the journal's groups and LMDB's own (noSync) transactions.
      this.group = new GroupSync(async () => {
        await this.journal?.sync();
        await new Promise<void>((resolve, reject) => {
          syncable.sync((error) => (error === undefined || error === null ? resolve() : reject(error)));
        });
      });
      this.timer =
        durability === "medium"
          ? setInterval(() => {
              if (this.group?.hasPending() === true) void this.group.flush();
            }, mediumSyncIntervalMilliseconds)
          : null;
      this.timer?.unref();
    }
  }

  /** Opens (creating if needed) `log.mdb` in `dir` and recovers the log's state from it. */
  static open(dir: string, options: LogStoreOptions): LmdbLogStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, lmdbLogFileName);
    const high = options.durability === "high";
    // LMDB would crash the process on a file cut short or a damaged meta page: refuse it first.
    const { environment, entryDatabase, pieceDatabase, metaDatabase } = openLmdbFile(path, corruptLogAdvice(dir), () => {
      const environment = open({
        path,
        compression: false,
        // High: LMDB's own durable commit, inside transactionSync (lmdb-js's `overlappingSync`
        // instead fsyncs on its writer thread; on one core that measured slower, see docs/storage.md).
        // Low/Medium: fsync on demand only. (`useWritemap` was measured at Medium: page faults in
        // the map cost more than the writes.)
        overlappingSync: false,
        noSync: !high,
        pageSize: options.lmdbPageBytes ?? lmdbPageBytesDefault,
      });
      return {
        environment,
        entryDatabase: environment.openDB<Uint8Array, number>({ name: "entries", encoding: "binary" }),
        pieceDatabase: environment.openDB<Uint8Array, [number, number]>({ name: "pieces", encoding: "binary" }),
        metaDatabase: environment.openDB<Uint8Array, string>({ name: "meta", encoding: "binary" }),
      };
    });
    const store = new LmdbLogStore(
      path,
      environment,
      entryDatabase,
      pieceDatabase,
      metaDatabase,
      options.durability,
      options.snapshotData ?? (() => new Uint8Array(0)),
      options.tailCacheBytesMax ?? tailCacheBytesMaxDefault,
    );
    try {
      store.recover();
      store.recoverJournal(join(dir, lmdbJournalFileName), high);
    } catch (error) {
      if (store.timer !== null) clearInterval(store.timer);
      store.journal?.close();
      if (store.lmdbFd !== null) closeSync(store.lmdbFd);
      void environment.close();
      throw store.lmdbDamage(error);
    }
    return store;
  }

  /** Reads the meta records and the bounds of the stored entries, checking they agree. */
  private recover(): void {
    const hardState = this.readMeta(hardStateKey, parseHardState) ?? {
      term: asTerm(0),
      vote: null,
      commit: asIndex(0),
    };
    const snapshot = this.readMeta(snapshotKey, parseSnapshotMetadata) ?? {
      index: asIndex(0),
      term: asTerm(0),
      membership: emptyMembership,
    };
    const compaction: CompactionPoint = this.readMeta(compactionKey, parseCompactionPoint) ?? {
      index: asIndex(0),
      term: asTerm(0),
    };
    let last = compaction.index;
    for (const key of this.entryDatabase.getKeys({ reverse: true, limit: 1 })) last = asIndex(key);
    let first: number = last + 1;
    for (const key of this.entryDatabase.getKeys({ limit: 1 })) first = key;
    const count = this.entryCount();
    const dense = first === compaction.index + 1 && count === last - compaction.index;
    if (!dense || compaction.index > snapshot.index) {
      throw this.corruption(
        `the stored log is not a dense range after the compaction point ${compaction.index} ` +
          `(first ${first}, last ${last}, ${count} entries, snapshot at ${snapshot.index})`,
      );
    }
    this.state.restore({ compactIndex: compaction.index, compactTerm: compaction.term, hardState, snapshot, last });
    this.diskCompaction = compaction;
    const journal = this.readMeta(journalKey, parseJournalMeta);
    this.checkpointNumber = journal?.number ?? 0;
    this.journalNumber = this.checkpointNumber;
    this.journalLeftOpen = journal?.open === true;
    // Reading the last entry checks its checksum and index now rather than on first use.
    if (last > compaction.index) this.state.entry(last);
  }

  /**
   * Opens the journal and saves into LMDB the groups it does not hold yet (a crash came before
   * their checkpoint), then checkpoints durably, so that writing starts again from the beginning.
   */
  private recoverJournal(path: string, high: boolean): void {
    let saves;
    try {
      const groupBytesMax = high ? journalGroupBytesMax : journalGroupBytesMaxBelowHigh;
      this.journal = Journal.open(path, { syncEach: high, groupBytesMax, mustExist: this.journalLeftOpen });
      saves = this.journal.read(this.checkpointNumber);
    } catch (error) {
      if (error instanceof JournalRefusal) {
        throw this.corruption(
          error.message,
          ` Or, to go on from what ${this.path} holds, losing the saves in the journal it had not taken, leave an empty ` +
            `journal in its place: \`truncate -s 0 ${path}\`.`,
        );
      }
      throw error;
    }
    for (const save of saves) {
      const first = save.entries[0];
      if (first !== undefined && first.index !== this.state.lastIndex() + 1) {
        throw this.corruption(
          `the journal ${path} holds save ${save.number} with entries from ${first.index}, but the log ends at ${this.state.lastIndex()}`,
        );
      }
      this.state.append(save.entries);
      for (const entry of save.entries) {
        this.waiting.push(entry);
        this.waitingBytes += entry.data.byteLength;
      }
      if (save.hardState !== null) {
        this.state.setHardState(save.hardState);
        this.waitingHardState = save.hardState;
      }
      this.journalNumber = save.number;
    }
    // The mark that the journal is open, durable (below) before the first group: a checkpoint's
    // transaction records it, and with no group to take a transaction of its own does (bookkeeping
    // of the open, not counted in `commitCount`).
    if (this.journalNumber === this.checkpointNumber && !this.journalLeftOpen) {
      this.environment.transactionSync(() => this.metaDatabase.putSync(journalKey, this.journalMeta()));
    }
    // Even with nothing to take, and at every level: the groups the last run put into LMDB may not
    // be on disk in LMDB yet (below High its transactions do not flush), and new groups are about
    // to overwrite them.
    this.durableCheckpoint(true);
  }

  /** The journal's record: the last group LMDB holds, and open until the store closes. */
  private journalMeta(): Uint8Array {
    return encodeChecked({ number: this.journalNumber, open: !this.closed });
  }

  /**
   * Below High, with the journal's groups just taken into LMDB by a transaction: flushes LMDB's
   * file on a thread of the pool, then starts the journal over.
   */
  private syncLmdbInBackground(): void {
    assert(this.journalNumber === this.checkpointNumber && this.lmdbSyncing === null, "the journal's groups are in LMDB");
    this.lmdbSyncing = fdatasyncAsync(this.lmdbFile()).then(
      () => {
        this.lmdbSyncing = null;
        this.lmdbSyncs++;
        this.journal?.reset();
      },
      (error: unknown) => {
        // As for the journal's own fdatasync: after a failed flush nothing written is trusted.
        this.lmdbSyncing = null;
        this.failure ??= error;
      },
    );
  }

  /** A descriptor of `log.mdb` for fdatasync (opened once: LMDB's pages are the file's, whichever descriptor). */
  private lmdbFile(): number {
    this.lmdbFd ??= openSync(this.path, "r");
    return this.lmdbFd;
  }

  /**
   * Takes the journal's groups into LMDB and makes that durable, then starts the journal over. At
   * High every transaction is durable; below High, or with `flushLmdb`, LMDB's file is
   * fdatasynced here, on the loop's thread (at open, and for `checkpoint`), as `mdb_env_sync` would.
   */
  private durableCheckpoint(flushLmdb = false): void {
    if (this.journalNumber !== this.checkpointNumber) this.transact(removalMillisecondsMax, 0, () => {});
    if (flushLmdb || this.durability !== "high") {
      fdatasyncSync(this.lmdbFile());
      this.lmdbSyncs++;
    }
    this.journal?.reset();
  }

  private entryCount(): number {
    const stats: unknown = this.entryDatabase.getStats();
    const count = (stats as { entryCount?: unknown }).entryCount;
    assert(typeof count === "number", "lmdb-js stats carry entryCount");
    return count;
  }

  private readMeta<T>(key: string, parse: (value: unknown) => T | null): T | null {
    const bytes = this.metaDatabase.get(key);
    if (bytes === undefined) return null;
    const value = parse(decodeChecked(bytes));
    if (value === null) throw this.corruption(`the '${key}' record fails its checksum or format`);
    return value;
  }

  private readStored(index: Index): Entry {
    try {
      return this.readStoredEntry(index);
    } catch (error) {
      throw this.lmdbDamage(error);
    }
  }

  /** The stored record of the entry at `index` (its first piece), which the log holds. */
  private storedFirstPiece(index: number): Uint8Array {
    let first: Uint8Array | undefined;
    try {
      first = this.entryDatabase.get(index);
    } catch (error) {
      throw this.lmdbDamage(error);
    }
    if (first === undefined) throw this.corruption(`entry ${index}, inside the stored range, is missing`);
    return first;
  }

  private readStoredEntry(index: Index): Entry {
    const first = this.storedFirstPiece(index);
    // lmdb-js `get` with binary encoding returns a fresh copy (a Buffer), so the entry may keep a
    // view of it; a plain Uint8Array view keeps entries of one type whichever path they came by.
    let bytes = first;
    if (first.byteLength === this.pieceBytes) {
      const pieces = [first];
      for (const { value } of this.pieceDatabase.getRange({ start: [index, 1], end: [index + 1, 0] })) pieces.push(value);
      if (pieces.length > 1) bytes = Buffer.concat(pieces);
    }
    const entry = decodeEntry(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (entry === null || entry.index !== index) {
      throw this.corruption(`entry ${index} fails its checksum or format`);
    }
    return entry;
  }

  /**
   * LMDB's own word that its file is damaged (it checks no checksums, but sees a page that is not
   * there) as an error naming the file, with what to do; other errors as they are.
   */
  private lmdbDamage(error: unknown): unknown {
    const message = error instanceof Error ? error.message : "";
    if (!/^MDB_(PAGE_NOTFOUND|CORRUPTED|BAD_TXN)\b/.test(message)) return error;
    // A transaction LMDB gave up on: after a damaged page, or after a write a full disk refused.
    if (message.startsWith("MDB_BAD_TXN") && diskFull(dirname(this.path))) return error;
    return this.corruption(`LMDB reports ${message}`);
  }

  /** An error naming the file, with what to do (and `otherWay`, another way on, after it). */
  private corruption(what: string, otherWay = ""): StorageCorruptionError {
    return new StorageCorruptionError(
      this.path,
      null,
      `log store ${this.path} is corrupt: ${what}. ${corruptLogAdvice(dirname(this.path))}${otherWay}`,
    );
  }

  save(batch: SaveBatch): Promise<void> {
    assert(!this.closed, "save after close");
    const before = this.state.held();
    const urgent = changesTermOrVote(this.state.hardState(), batch.hardState);
    if (batch.snapshot !== null) this.state.applySnapshot(batch.snapshot);
    const appended = this.state.append(batch.entries);
    if (batch.hardState !== null) this.state.setHardState(batch.hardState);
    const dropped = droppedRanges(before, this.state.held());
    if (batch.snapshot === null && appended.length === 0 && batch.hardState === null && dropped.length === 0) {
      // Nothing to write: durable once what came before is, without forcing a sync.
      return this.group !== null ? this.group.settled() : durableNow;
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    const journal = this.journal;
    let full = false;
    if (journal !== null && this.lmdbSyncing === null && batch.snapshot === null && dropped.length === 0 && !urgent && (appended[0]?.index ?? before.last + 1) === before.last + 1) {
      // Only appending: one group in the journal (at High with its fdatasync; see the header).
      const number = this.journalNumber + 1;
      let written;
      try {
        written = journal.append(number, appended, batch.hardState);
        if (written === "full" && this.durability === "high") {
          // A checkpoint empties it, and the save goes in after.
          this.durableCheckpoint();
          written = journal.append(number, appended, batch.hardState);
        }
        // Below High, the save's transaction takes the journal's groups, and the journal starts
        // over once LMDB's file is flushed, off the loop's thread (`syncLmdbInBackground`).
        full = written === "full";
      } catch (error) {
        this.failure = error;
        return Promise.reject(error);
      }
      if (written === "written") {
        this.journalNumber = number;
        for (const entry of appended) {
          this.waiting.push(entry);
          this.waitingBytes += entry.data.byteLength;
        }
        if (batch.hardState !== null) this.waitingHardState = batch.hardState;
        if (this.group === null) return durableNow;
        // Below High, LMDB takes the groups a few at a time, in a transaction without a flush:
        // taken all at once when the journal is full, they held the loop for 4-10 ms.
        if (this.waiting.length >= drainEntries || this.waitingBytes >= drainBytes) {
          this.transact(removalMillisecondsMax, 0, () => {});
        }
        return this.group.written();
      }
      // Full, or too large for a group: straight into LMDB, after the groups waiting.
    }
    // A snapshot resets the log: what compaction had still to remove goes now, in the same transaction.
    this.transact(batch.snapshot !== null ? Infinity : removalMillisecondsMax, appended.length, (writes) => {
      removeRanges(writes, dropped);
      for (const entry of appended) writes.putEntry(entry, entry.index <= before.last);
      if (batch.snapshot !== null) {
        writes.putMeta(snapshotKey, encodeChecked(batch.snapshot));
        const compaction: CompactionPoint = { index: batch.snapshot.index, term: batch.snapshot.term };
        writes.putMeta(compactionKey, encodeChecked(compaction));
      }
      if (batch.hardState !== null) writes.putMeta(hardStateKey, encodeChecked(batch.hardState));
    });
    if (full) this.syncLmdbInBackground();
    if (batch.snapshot !== null) this.diskCompaction = { index: batch.snapshot.index, term: batch.snapshot.term };
    if (this.group === null) return durableNow;
    const durable = this.group.written();
    // Term and vote are acted on only once durable (Raft §5.1, Figure 2): sync at once, at any level.
    if (urgent) this.group.syncSoon();
    return durable;
  }

  committed(): Promise<void> {
    // Every write is a synchronous transaction: committed when save() returned.
    return durableNow;
  }

  compact(index: Index): void {
    assert(!this.closed, "compact after close");
    const from = this.state.compactionPoint().index;
    if (index <= from) return;
    // The steps' terms, read while the entries are still held.
    const steps: CompactionPoint[] = [];
    for (let at = from + removalStepEntries; at < index; at += removalStepEntries) {
      steps.push({ index: asIndex(at), term: this.state.knownTerm(asIndex(at)) ?? this.storedTerm(at) });
    }
    if (!this.state.compact(index)) return;
    steps.push(this.state.compactionPoint());
    this.removals = this.removals.concat(steps);
    this.scheduleRemovals();
  }

  recordSnapshot(metadata: SnapshotMetadata): void {
    assert(!this.closed, "recordSnapshot after close");
    this.state.recordSnapshot(metadata);
    this.transact(removalMillisecondsMax, 0, (writes) => writes.putMeta(snapshotKey, encodeChecked(metadata)));
  }

  /** The term in the header of the stored entry at `index` (its first piece only: it is about to go). */
  private storedTerm(index: number): Term {
    const first = this.storedFirstPiece(index);
    const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
    const stored = first.byteLength >= entryHeaderBytes ? getUint64(view, 8) : null;
    const term = first.byteLength >= entryHeaderBytes ? getUint64(view, 16) : null;
    if (stored !== index || term === null) throw this.corruption(`entry ${index} has a damaged header`);
    return asTerm(term);
  }

  /**
   * Inside a transaction: removes the entries of compaction's next steps until `millisecondsMax`
   * is spent and more than `entriesMin` entries are removed, and records where the disk's
   * compaction point then is. (A transaction that appends n entries removes more than n: what is
   * left to remove never grows.) Returns the number of steps taken, which `transact` drops from
   * `removals` once the transaction commits.
   */
  private removeSteps(writes: Writes, millisecondsMax: number, entriesMin: number): number {
    const removals = this.removals;
    if (removals.length === 0) return 0;
    const deadline = performance.now() + millisecondsMax;
    const first = this.diskCompaction.index + 1;
    let low = first;
    let taken = 0;
    while (taken < removals.length) {
      const point = removals[taken]!;
      writes.removeEntries(low, point.index);
      low = point.index + 1;
      taken++;
      if (low - first > entriesMin && performance.now() >= deadline) break;
    }
    writes.putMeta(compactionKey, encodeChecked(removals[taken - 1]!));
    return taken;
  }

  /** With removals left, makes sure a transaction takes their next steps soon. */
  private scheduleRemovals(): void {
    if (this.removals.length === 0 || this.removalTimer !== null || this.closed) return;
    const commits = this.commitCount;
    this.removalTimer = setTimeout(() => {
      this.removalTimer = null;
      // Transactions that came meanwhile took steps (and scheduled the next check).
      if (this.commitCount === commits && !this.closed) this.transact(removalMillisecondsMax, 0, () => {});
      else this.scheduleRemovals();
    }, removalIdleMilliseconds);
    this.removalTimer.unref();
  }

  flush(): Promise<void> {
    // At High every committed transaction is already on disk.
    return this.group !== null ? this.group.flush() : durableNow;
  }

  /**
   * Syncs performed: explicit ones at Low/Medium; at High one per committed transaction (LMDB
   * flushes twice in it) and one per journal group; at every level, LMDB's file flushed before the
   * journal starts over (at open, and below High when it was full).
   */
  syncCount(): number {
    const own = this.group === null ? this.commitCount + (this.journal?.writeCount ?? 0) : this.group.syncCount;
    return own + this.lmdbSyncs;
  }

  /** LMDB transactions and journal groups. */
  writeCount(): number {
    return this.commitCount + (this.journal?.writeCount ?? 0);
  }

  /** For tests and tools: takes the journal's waiting groups into LMDB now (a checkpoint). */
  checkpoint(): void {
    assert(!this.closed, "checkpoint after close");
    this.durableCheckpoint();
  }

  /** Journal groups written since the store opened (for tests and stats). */
  journalWrites(): number {
    return this.journal?.writeCount ?? 0;
  }

  /**
   * Runs `body`'s writes as one synchronous transaction, committed when this returns: at High
   * durably (LMDB fsyncs), below High without a sync (the group sync flushes later). Compaction's
   * removals left take steps in it first (`removeSteps`). Entries may then leave
   * the in-memory tail, which reads find in LMDB from now on.
   */
  private transact(removalMilliseconds: number, removalEntriesMin: number, body: (writes: Writes) => void): void {
    let steps = 0;
    const waiting = this.waiting;
    const checkpoint = this.journalNumber !== this.checkpointNumber;
    if (this.failure !== null) throw this.failure;
    try {
      this.environment.transactionSync(() => {
        // The journal's groups first: every write below came after them.
        for (const entry of waiting) this.writes.putEntry(entry, false);
        if (this.waitingHardState !== null) this.writes.putMeta(hardStateKey, encodeChecked(this.waitingHardState));
        if (checkpoint) this.writes.putMeta(journalKey, this.journalMeta());
        steps = this.removeSteps(this.writes, removalMilliseconds, removalEntriesMin + waiting.length);
        body(this.writes);
      });
    } catch (error) {
      throw this.lmdbDamage(error);
    }
    this.commitCount++;
    if (checkpoint) {
      this.waiting = [];
      this.waitingBytes = 0;
      this.waitingHardState = null;
      this.checkpointNumber = this.journalNumber;
      // Durable at High (the environment syncs): the journal's groups are no longer needed. Below
      // High they are, until LMDB's file is flushed (`durableCheckpoint`); later groups follow them.
      if (this.durability === "high") this.journal?.reset();
    }
    if (steps > 0) {
      this.diskCompaction = this.removals[steps - 1]!;
      this.removals = steps === this.removals.length ? [] : this.removals.slice(steps);
    }
    this.scheduleRemovals();
    this.evict();
  }

  /**
   * Entries up to `index` were applied. Those after it stay in memory whatever the tail's budget:
   * they are read again to be applied, and reading a large one back from LMDB (a 50 MB SET is
   * one entry, stored in 27,000 pieces) cost as much as writing it. They are few: what the leader
   * lets be uncommitted (`uncommittedBytesMax`) and what a turn did not apply yet.
   */
  applied(index: Index): void {
    this.appliedIndex = index;
    this.evict();
  }

  /** Lets the tail go down to its budget, keeping entries not yet applied or not yet in LMDB. */
  private evict(): void {
    const keepFrom = Math.min(this.state.lastIndex(), this.appliedIndex) + 1;
    this.state.evict(asIndex(Math.min(keepFrom, this.waiting[0]?.index ?? keepFrom)));
  }

  /** The writes `transact` hands its body, made once: they run inside whichever transaction is open. */
  private readonly writes: Writes = {
    putEntry: (entry, replacing) => {
      if (replacing) this.removePieces(entry.index, entry.index);
      // LMDB copies the value during the call, so one scratch buffer serves every entry.
      const encoded = this.scratch.encode(entry);
      const pieceBytes = this.pieceBytes;
      if (encoded.byteLength <= pieceBytes) {
        this.entryDatabase.putSync(entry.index, encoded);
        return;
      }
      this.entryDatabase.putSync(entry.index, encoded.subarray(0, pieceBytes));
      // A new entry's pieces come after every stored piece: appended (MDB_APPEND), a full leaf
      // page is left full when it splits, not half empty.
      const options = replacing ? replaceOptions : appendOptions;
      for (let at = pieceBytes, n = 1; at < encoded.byteLength; at += pieceBytes, n++) {
        // lmdb-js returns whether the put succeeded (its types say void).
        const stored: unknown = this.pieceDatabase.putSync([entry.index, n], encoded.subarray(at, Math.min(at + pieceBytes, encoded.byteLength)), options);
        assert(stored === true, "a piece is stored after every stored piece");
      }
    },
    removeEntries: (low, high) => {
      for (let index = low; index <= high; index++) this.entryDatabase.removeSync(index);
      this.removePieces(low, high);
    },
    putMeta: (key, bytes) => this.metaDatabase.putSync(key, bytes),
  };

  /** Removes the pieces of the entries at indexes `[low, high]` (inside a transaction). */
  private removePieces(low: number, high: number): void {
    const pieces = this.pieceDatabase;
    for (const key of [...pieces.getKeys({ start: [low, 1], end: [high + 1, 0] })]) pieces.removeSync(key);
  }

  /** Entries compaction has dropped that are still to be removed from disk (for tests and stats). */
  compactionBacklog(): number {
    return this.state.compactionPoint().index - this.diskCompaction.index;
  }

  /** The first index served from the in-memory tail, and its bytes (for tests and stats). */
  cacheStatus(): { readonly from: Index; readonly bytes: number } {
    return { from: this.state.cachedFrom(), bytes: this.state.cachedBytes() };
  }

  diskBytes(): number {
    return statSync(this.path).size + (this.journal?.bytes ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.removalTimer !== null) clearTimeout(this.removalTimer);
    // The removals left, and the journal's groups, go in one transaction: a closed store leaves a
    // tidy file, and the journal marked closed (a next run may then make a new one if it is gone).
    if (this.failure === null) this.transact(Infinity, 0, (writes) => writes.putMeta(journalKey, this.journalMeta()));
    await this.flush();
    await this.lmdbSyncing;
    this.journal?.close();
    if (this.lmdbFd !== null) closeSync(this.lmdbFd);
    await this.environment.close();
  }
}

function parseJournalMeta(value: unknown): { number: number; open: boolean } | null {
  if (typeof value !== "object" || value === null) return null;
  const { number, open } = value as { number?: unknown; open?: unknown };
  if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0) return null;
  if (open !== undefined && typeof open !== "boolean") return null;
  return { number, open: open === true };
}
