/**
 * The memory backend (Finn's "FastLog"): the whole log in memory, persisted to one append-only
 * file, `log.fastlog`, of checksummed records, replayed at start.
 *
 * Record: `[length u32][crc32 u32][kind u8][payload]`, big-endian; `length` counts the payload,
 * the CRC covers kind and payload. Kinds (docs/storage.md):
 * - `saveEnd`: empty, closes every save (replay applies a save only once it sees it);
 * - `entry`: the encoded entry (`codec.encodeEntryInto`: the data bytes exactly as given);
 * - `hardState`, `snapshotReset` (the log restarts after it), `snapshot` (a local snapshot, the
 *   log untouched), `compact` (the compaction point): `codec.encodeChecked` JSON;
 * - `truncate`: an index as u64; every entry at or after it is dropped;
 * - `base`: compaction point and snapshot, the first record of a rewritten file.
 *
 * A save is one `write` of all its records closed by a `saveEnd` (it reaches the kernel at once,
 * so a process crash loses nothing of it); a crash in the middle of that write leaves a torn final
 * save, which replay drops whole with a warning. A bad record followed by a complete save is
 * corruption: an error naming the file, the offset and what to do. The state after replay is the
 * state after some prefix of the saves.
 *
 * Compaction appends a `compact` record; when garbage (records no longer needed) passes a
 * threshold and outweighs the live data, the file is rewritten: a new file with only live
 * records, fsynced, renamed over the old one, and the directory fsynced.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { assert } from "../assert.ts";
import { Logger } from "../log.ts";
import type { Index, SnapshotMetadata } from "../raft/types.ts";
import { asIndex } from "../raft/types.ts";
import {
  decodeChecked,
  decodeEntry,
  encodeChecked,
  getUint64,
  parseCompactionPoint,
  parseHardState,
  parseSnapshotMetadata,
  type CompactionPoint,
} from "./codec.ts";
import {
  checkRecord,
  encodeIndex,
  RecordKind,
  recordHeaderBytes,
  RecordWriter,
  saveEndMark,
  writeAll,
} from "./file-records.ts";
import { fdatasyncAsync, syncDirectory } from "./file-sync.ts";
import { GroupSync } from "./group-sync.ts";
import { StateBackedStore } from "./state-backed-store.ts";
import { LogState } from "./log-state.ts";
import {
  changesTermOrVote,
  corruptLogAdvice,
  fileLogFileName,
  mediumSyncIntervalMilliseconds,
  StorageCorruptionError,
  type Durability,
  type LogStore,
  type LogStoreOptions,
  type SaveBatch,
} from "./store.ts";

/**
 * Default garbage in the file before a compaction rewrites it. Rewriting is synchronous and
 * copies every live byte, so it should not happen often; 64 MB of garbage costs little disk.
 */
export const rewriteGarbageBytesMinDefault = 64 * 1024 * 1024;

/** The file operations the store performs asynchronously; tests wrap them to observe fsyncs. */
export interface FileSyncHooks {
  /** Makes the file's written data durable (fdatasync), off the loop's thread: Low and Medium. */
  readonly sync?: (fd: number) => Promise<void>;
  /** The same, on the calling thread before `save()` returns: High. */
  readonly syncNow?: (fd: number) => void;
}

export class FileLogStore extends StateBackedStore implements LogStore {
  private fd: number;
  /** Bytes in the file. */
  private fileBytes = 0;
  private readonly group: GroupSync;
  private readonly timer: ReturnType<typeof setInterval> | null;
  /** Descriptors replaced by a rewrite, closed once no sync uses them. */
  private retired: number[] = [];
  private failure: unknown = null;
  /** High: fdatasync on the calling thread. */
  private readonly syncNow: (fd: number) => void;
  /** High: fdatasyncs done by `save()` (for tests and the benchmark). */
  private inlineSyncs = 0;
  /** Appends to the file (see `writeCount`). */
  private appends = 0;
  /** Encodes each save's records (reused: they are written before `save` returns). */
  private readonly writer = new RecordWriter();
  private closed = false;
  /** Rewrites performed (for tests). */
  rewriteCount = 0;

  private constructor(
    private readonly dir: string,
    private readonly path: string,
    readonly durability: Durability,
    private readonly logger: Logger,
    snapshotData: (metadata: SnapshotMetadata) => Uint8Array,
    private readonly rewriteGarbageBytesMin: number,
    hooks: FileSyncHooks,
  ) {
    super(new LogState(Infinity, null), snapshotData);
    const sync = hooks.sync ?? fdatasyncAsync;
    this.syncNow = hooks.syncNow ?? fdatasyncSync;
    this.fd = -1;
    this.group = new GroupSync(async () => {
      await sync(this.fd);
      this.closeRetired();
    });
    this.timer =
      durability === "medium"
        ? setInterval(() => {
            if (this.group.hasPending()) void this.group.flush();
          }, mediumSyncIntervalMilliseconds)
        : null;
    this.timer?.unref();
  }

  /** Opens (creating if needed) `log.fastlog` in `dir` and replays it. */
  static open(dir: string, options: LogStoreOptions, hooks: FileSyncHooks = {}): FileLogStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, fileLogFileName);
    const store = new FileLogStore(
      dir,
      path,
      options.durability,
      options.logger ?? new Logger("notice"),
      options.snapshotData ?? (() => new Uint8Array(0)),
      options.rewriteGarbageBytesMin ?? rewriteGarbageBytesMinDefault,
      hooks,
    );
    // A rewrite interrupted by a crash: the old file is still complete and authoritative.
    rmSync(store.rewritePath(), { force: true });
    store.fd = openSync(path, "a+", 0o600);
    try {
      store.replay();
    } catch (error) {
      if (store.timer !== null) clearInterval(store.timer);
      closeSync(store.fd);
      throw error;
    }
    return store;
  }

  private rewritePath(): string {
    return `${this.path}.rewrite`;
  }

  /**
   * Applies every record of the file, one save at a time: a save's records are buffered until
   * its `saveEnd` mark, so that a save torn by a crash (the process died inside its `write`) is
   * dropped whole and replay ends at the state after some prefix of the saves. The torn bytes are
   * cut off the file so that later appends follow a clean record.
   */
  private replay(): void {
    const bytes = readFileSync(this.path);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    let recordNumber = 0;
    /** The end of the last complete save. */
    let goodBytes = 0;
    let dropReason = "an unfinished save";
    let pending: { kind: number; payload: Uint8Array; offset: number }[] = [];
    while (offset < bytes.byteLength) {
      const problem = checkRecord(bytes, view, offset);
      if (problem !== null) {
        // Torn or corrupt? A crash can only tear the last save (one `write`), and a power loss
        // can leave the end of the file zero-filled: either way no complete save follows. A bad
        // record with a complete save after it (a save-end mark) is corruption, even when its
        // damaged length makes it look incomplete.
        if (bytes.indexOf(saveEndMark, offset + 1) !== -1) {
          throw new StorageCorruptionError(
            this.path,
            offset,
            `log file ${this.path} is corrupt at byte ${offset} (record ${recordNumber}): ${problem}, ` +
              `and data follows, so it is not a write torn by a crash. ${corruptLogAdvice(this.dir)}`,
          );
        }
        dropReason = `a save that fails its check (${problem})`;
        break;
      }
      const length = view.getUint32(offset);
      const kind = view.getUint8(offset + 8);
      pending.push({ kind, payload: bytes.subarray(offset + recordHeaderBytes, offset + recordHeaderBytes + length), offset });
      offset += recordHeaderBytes + length;
      recordNumber++;
      if (kind === RecordKind.saveEnd) {
        for (const record of pending) this.applyRecord(record.kind, record.payload, record.offset);
        pending = [];
        goodBytes = offset;
      }
    }
    if (goodBytes < bytes.byteLength) {
      this.logger.warning(
        `log file ${this.path}: dropped the last ${bytes.byteLength - goodBytes} bytes after byte ` +
          `${goodBytes}: ${dropReason}, taken for the save being written when the process or machine stopped. If the file ` +
          `was cut short instead, saves the node acknowledged are gone: a copy of the file from before has them.`,
      );
      ftruncateSync(this.fd, goodBytes);
      fsyncSync(this.fd);
    }
    this.fileBytes = goodBytes;
  }

  private applyRecord(kind: number, payload: Uint8Array, offset: number): void {
    const bad = (what: string): StorageCorruptionError =>
      new StorageCorruptionError(
        this.path,
        offset,
        `log file ${this.path} is corrupt at byte ${offset}: ${what}. ${corruptLogAdvice(this.dir)}`,
      );
    switch (kind) {
      case RecordKind.entry: {
        // A copy, so that the entry does not pin the whole file's buffer.
        const entry = decodeEntry(payload.slice());
        if (entry === null) throw bad("an entry fails its checksum or format");
        if (entry.index !== this.state.lastIndex() + 1) {
          throw bad(`entry ${entry.index} does not follow the log's last index ${this.state.lastIndex()}`);
        }
        this.state.append([entry]);
        return;
      }
      case RecordKind.hardState: {
        const hardState = parseHardState(decodeChecked(payload));
        if (hardState === null) throw bad("a hard state fails its checksum or format");
        this.state.setHardState(hardState);
        return;
      }
      case RecordKind.snapshotReset: {
        const metadata = parseSnapshotMetadata(decodeChecked(payload));
        if (metadata === null) throw bad("a snapshot record fails its checksum or format");
        this.state.applySnapshot(metadata);
        return;
      }
      case RecordKind.snapshot: {
        const metadata = parseSnapshotMetadata(decodeChecked(payload));
        if (metadata === null) throw bad("a snapshot record fails its checksum or format");
        this.state.recordSnapshot(metadata);
        return;
      }
      case RecordKind.truncate: {
        const index = payload.byteLength === 8 ? getUint64(new DataView(payload.buffer, payload.byteOffset, 8), 0) : null;
        if (index === null || index <= this.state.compactionPoint().index || index > this.state.lastIndex() + 1) {
          throw bad("a truncate record is out of the log's range");
        }
        this.state.truncateFrom(asIndex(index));
        return;
      }
      case RecordKind.compact: {
        const point = parseCompactionPoint(decodeChecked(payload));
        if (point === null) throw bad("a compact record fails its checksum or format");
        this.state.compact(point.index);
        return;
      }
      case RecordKind.base: {
        const value = decodeChecked(payload);
        const fields = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
        const point = parseCompactionPoint(fields.compaction);
        const snapshot = parseSnapshotMetadata(fields.snapshot);
        if (point === null || snapshot === null) throw bad("a base record fails its checksum or format");
        this.state.restore({
          compactIndex: point.index,
          compactTerm: point.term,
          hardState: this.state.hardState(),
          snapshot,
          last: point.index,
        });
        return;
      }
      case RecordKind.saveEnd:
        return;
      default:
        throw bad(`unknown record kind ${kind}`);
    }
  }

  save(batch: SaveBatch): Promise<void> {
    this.checkUsable();
    const writer = this.writer;
    writer.reset();
    const urgent = changesTermOrVote(this.state.hardState(), batch.hardState);
    if (batch.snapshot !== null) {
      this.state.applySnapshot(batch.snapshot);
      writer.add(RecordKind.snapshotReset, encodeChecked(batch.snapshot));
    }
    const lastBefore = this.state.lastIndex();
    const appended = this.state.append(batch.entries);
    const first = appended[0];
    if (first !== undefined && first.index <= lastBefore) writer.add(RecordKind.truncate, encodeIndex(first.index));
    for (const entry of appended) writer.addEntry(entry);
    if (batch.hardState !== null) {
      this.state.setHardState(batch.hardState);
      writer.add(RecordKind.hardState, encodeChecked(batch.hardState));
    }
    // Nothing to write: durable once what came before is, without forcing a sync.
    if (writer.bytes === 0) return this.durability === "high" ? Promise.resolve() : this.group.settled();
    this.append(writer);
    if (this.durability === "high") {
      // As Redis's `appendfsync always`: on the loop's thread, before anyone hears of the save.
      // Clients queue meanwhile, and the next save takes them all.
      try {
        this.syncNow(this.fd);
        this.inlineSyncs++;
      } catch (error) {
        // Dirty pages may be gone after a failed fsync ("fsyncgate"): nothing after is trusted.
        this.failure = error;
        return Promise.reject(error);
      }
      this.maybeRewrite();
      return Promise.resolve();
    }
    const durable = this.group.written();
    // Term and vote are acted on only once durable (Raft §5.1, Figure 2): sync at once, at any level.
    if (urgent) this.group.syncSoon();
    this.maybeRewrite();
    return durable;
  }

  committed(): Promise<void> {
    // `save` writes its records with write(2) before it returns: already in the OS's hands.
    return this.failure === null ? Promise.resolve() : Promise.reject(this.failure);
  }

  compact(index: Index): void {
    this.checkUsable();
    if (!this.state.compact(index)) return;
    const writer = new RecordWriter();
    writer.add(RecordKind.compact, encodeChecked(this.state.compactionPoint()));
    this.append(writer);
    this.maybeRewrite();
  }

  recordSnapshot(metadata: SnapshotMetadata): void {
    this.checkUsable();
    this.state.recordSnapshot(metadata);
    const writer = new RecordWriter();
    writer.add(RecordKind.snapshot, encodeChecked(metadata));
    this.append(writer);
  }

  /** Every entry is held in memory here: nothing to let go. */
  applied(_index: Index): void {}

  flush(): Promise<void> {
    return this.group.flush();
  }

  syncCount(): number {
    return this.group.syncCount + this.inlineSyncs;
  }

  writeCount(): number {
    return this.appends;
  }

  diskBytes(): number {
    return this.fileBytes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.failure === null) await this.group.close();
    this.closeRetired();
    closeSync(this.fd);
  }

  private checkUsable(): void {
    assert(!this.closed, "log store used after close");
    if (this.failure !== null) throw this.failure;
  }

  /** Appends one save's records, closed by an end mark, in one write. */
  private append(writer: RecordWriter): void {
    writer.add(RecordKind.saveEnd, new Uint8Array(0));
    const bytes = writer.finish();
    try {
      writeAll(this.fd, bytes);
    } catch (error) {
      // The memory state is ahead of the file now: the store cannot go on (the node must stop).
      this.failure = error;
      throw error;
    }
    this.fileBytes += bytes.byteLength;
    this.appends++;
  }

  /** Bytes a rewrite would keep: the held entries' records plus the small state records. */
  private liveBytes(): number {
    const held = this.state.lastIndex() - this.state.firstIndex() + 1;
    const recordOverhead = recordHeaderBytes * held;
    const stateRecordsBytes = 4096;
    return this.state.cachedBytes() + recordOverhead + stateRecordsBytes;
  }

  private maybeRewrite(): void {
    const garbage = this.fileBytes - this.liveBytes();
    if (garbage < this.rewriteGarbageBytesMin || garbage < this.liveBytes()) return;
    this.rewrite();
  }

  /** Writes the live records to a new file, fsyncs it, renames it over the log, fsyncs the dir. */
  private rewrite(): void {
    const temporary = this.rewritePath();
    const fd = openSync(temporary, "w", 0o600);
    let bytes = 0;
    try {
      const writer = new RecordWriter();
      const point: CompactionPoint = this.state.compactionPoint();
      writer.add(RecordKind.base, encodeChecked({ compaction: point, snapshot: this.state.snapshotMetadata() }));
      writer.add(RecordKind.hardState, encodeChecked(this.state.hardState()));
      const first = this.state.firstIndex();
      const last = this.state.lastIndex();
      let chunk = writer;
      for (let index = first; index <= last; index++) {
        chunk.addEntry(this.state.entry(asIndex(index)));
        if (chunk.bytes >= 4 * 1024 * 1024) {
          const part = chunk.finish();
          writeAll(fd, part);
          bytes += part.byteLength;
          chunk = new RecordWriter();
        }
      }
      chunk.add(RecordKind.saveEnd, new Uint8Array(0));
      const part = chunk.finish();
      writeAll(fd, part);
      bytes += part.byteLength;
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    closeSync(fd);
    renameSync(temporary, this.path);
    syncDirectory(this.dir);
    // A sync running on the old descriptor must finish before it is closed.
    this.retired.push(this.fd);
    this.fd = openSync(this.path, "a+", 0o600);
    this.fileBytes = bytes;
    this.rewriteCount++;
    if (!this.group.isRunning()) this.closeRetired();
  }

  private closeRetired(): void {
    for (const fd of this.retired) closeSync(fd);
    this.retired = [];
  }
}
