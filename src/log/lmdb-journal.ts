/**
 * The LMDB backend's journal: at High durability, one fsync per save instead of LMDB's two; below
 * High, one `pwrite` per small save instead of a transaction (see `LmdbLogStore` for when LMDB
 * takes the groups and when the journal starts over at each level).
 *
 * LMDB's durable commit flushes twice (the data pages, then the meta page that points at them: the
 * order keeps the file intact through a power loss), and each flush waits for the disk. At High
 * the store instead writes a save's entries and hard state here, as one group of records, and
 * fdatasyncs this file once; the LMDB transaction that takes them comes later, for many saves at
 * a time (a checkpoint: see `LmdbLogStore`), and records in LMDB the number of the last group it
 * took. After a crash, the groups after that number are read back and saved into LMDB before the
 * store serves.
 *
 * The file has a fixed size and is filled with zeros when it is made, so a save overwrites
 * blocks that exist: its fdatasync flushes the data only, with no file size or block allocation to
 * commit to the filesystem's journal (measured here: 165 against 240 us per fdatasync of an
 * append). Once LMDB holds every group durably, writing starts again at offset 0.
 *
 * Format: the memory backend's records (`file-records.ts`): a group is a `journal` record (its
 * number, a u64), the `entry` records (consecutive indexes), a `hardState` record if the save had
 * one, and a `saveEnd` record that repeats the number and gives the group's length up to it (a
 * u64 and a u32). Reading starts at offset 0 and goes through groups numbered one after another, skipping
 * those LMDB holds and taking the rest; it stops at the first record that fails its checksum, a
 * group that is not closed, or a number out of sequence (a group left from before the journal
 * last started over). What follows the stop may be zeros, groups of earlier rounds (numbered
 * lower), and the group a crash interrupted (numbered next: a power loss can leave its end on disk
 * without its beginning). A sound end mark numbered beyond that means damage: saves written after
 * the stop, perhaps acknowledged, would be dropped, so the journal is refused (`JournalDamageError`).
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { asIndex, type Entry, type HardState } from "../raft/types.ts";
import { decodeChecked, decodeEntry, encodeChecked, encodedEntryBytes, getUint64, parseHardState, setUint64 } from "./codec.ts";
import { checkRecord, encodeIndex, RecordKind, recordHeaderBytes, RecordWriter, writeAll } from "./file-records.ts";
import { fdatasyncAsync, syncDirectory } from "./file-sync.ts";

/** The journal's file name inside the data directory, beside `log.mdb`. */
export const lmdbJournalFileName = "log.journal";
/** The journal's size: what saves may hold between two checkpoints. */
export const journalBytesDefault = 1024 * 1024;
/**
 * A save whose group would be larger goes straight into LMDB: written twice (here, then at the
 * checkpoint), a large save gains little from one flush less (`bench/log-store.ts`, saves of
 * 1,000 entries of 100 bytes: 495k-503k entries a second through the journal, 522k-570k straight
 * into LMDB; of 10 entries, 49k-53k against 24k). Large enough for a turn of 50 clients at
 * pipeline 16 with small values (about 40 KB), twice over.
 */
export const journalGroupBytesMax = 128 * 1024;

/** A group's end mark: its number and the group's length up to the mark (a u64 and a u32). */
const endMarkPayloadBytes = 12;

/** One save read back from the journal. */
export interface JournalSave {
  readonly number: number;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

export class Journal {
  /** Where the next group goes. */
  private position = 0;
  /** The largest group written here (see `journalGroupBytesMax`). */
  private readonly groupBytesMax: number;
  /** Encodes each group (reused: a group is written before the next is encoded). */
  private readonly writer = new RecordWriter();
  /** Groups written since the journal opened (for the store's counts). */
  writeCount = 0;

  private constructor(
    readonly path: string,
    private fd: number,
    readonly bytes: number,
    /** Whether `append` fdatasyncs (High); below High, `sync` does when asked. */
    private readonly syncEach: boolean,
    groupBytesMax: number,
  ) {
    this.groupBytesMax = Math.min(groupBytesMax, Math.floor(bytes / 4));
  }

  /**
   * Opens the journal at `path`, or makes it (zero-filled, fsynced, renamed into place, the
   * directory fsynced). Writing starts at offset 0: read the file (`read`) and check what it
   * holds into LMDB before the first `append`.
   */
  static open(
    path: string,
    options: {
      readonly syncEach: boolean;
      readonly groupBytesMax?: number;
      readonly bytes?: number;
      /**
       * The last run did not close the journal (it may hold saves LMDB has not taken): a missing
       * file is refused (`JournalMissingError`). An empty one is made anew: it is how an operator
       * says to go on without what it held.
       */
      readonly mustExist?: boolean;
    },
  ): Journal {
    const bytes = options.bytes ?? journalBytesDefault;
    let fd: number | null = null;
    try {
      fd = openSync(path, "r+");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      if (options.mustExist === true) throw new JournalMissingError(path);
    }
    if (fd !== null && fstatSync(fd).size === 0) {
      closeSync(fd);
      fd = null;
    }
    if (fd === null) {
      Journal.make(path, bytes);
      fd = openSync(path, "r+");
    }
    return new Journal(path, fd, fstatSync(fd).size, options.syncEach, options.groupBytesMax ?? journalGroupBytesMax);
  }

  private static make(path: string, bytes: number): void {
    const temporary = `${path}.tmp`;
    const fd = openSync(temporary, "w", 0o600);
    try {
      const zeros = new Uint8Array(Math.min(bytes, 1024 * 1024));
      for (let at = 0; at < bytes; at += zeros.byteLength) {
        writeAll(fd, zeros.subarray(0, Math.min(zeros.byteLength, bytes - at)), at);
      }
      fdatasyncSync(fd);
    } catch (error) {
      // A full disk: leave nothing half made behind.
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    closeSync(fd);
    renameSync(temporary, path);
    syncDirectory(dirname(path));
  }

  /** The groups numbered `after + 1`, `after + 2`, ... that the file holds from offset 0. */
  read(after: number): JournalSave[] {
    return readGroups(this.path, this.fd, after);
  }

  /**
   * Writes one save as group `number` and, at High (`syncEach`), fdatasyncs it: durable when this
   * returns ("written"); below High, once `sync` that started after it has resolved.
   * Writes nothing when the group does not fit in what is left of the file ("full": checkpoint,
   * `reset`, and try again) or is larger than `journalGroupBytesMax` or a quarter of the file
   * ("large": save it into LMDB directly). A failed write
   * or fdatasync throws: the caller must stop using the journal (after a failed fsync, the dirty
   * pages may be gone: nothing written since is trusted).
   */
  append(number: number, entries: readonly Entry[], hardState: HardState | null): "written" | "full" | "large" {
    const writer = this.writer;
    writer.reset();
    writer.add(RecordKind.journal, encodeIndex(asIndex(number)));
    for (const entry of entries) {
      // Sized before it is copied: a large save is told so without being encoded.
      if (writer.bytes + recordHeaderBytes + encodedEntryBytes(entry) > this.groupBytesMax) return "large";
      writer.addEntry(entry);
    }
    if (hardState !== null) writer.add(RecordKind.hardState, encodeChecked(hardState));
    // The end mark: the group's number and its length up to the mark (see `readGroup`).
    const mark = new Uint8Array(endMarkPayloadBytes);
    const markView = new DataView(mark.buffer);
    setUint64(markView, 0, number);
    markView.setUint32(8, writer.bytes);
    writer.add(RecordKind.saveEnd, mark);
    const group = writer.finish();
    if (group.byteLength > this.groupBytesMax) return "large";
    if (this.position + group.byteLength > this.bytes) return "full";
    writeAll(this.fd, group, this.position);
    if (this.syncEach) fdatasyncSync(this.fd);
    this.position += group.byteLength;
    this.writeCount++;
    return "written";
  }

  /** Everything written is in LMDB, durably: writing starts again at offset 0. */
  reset(): void {
    this.position = 0;
  }

  /** fdatasyncs what was written so far, off the loop's thread (below High). */
  sync(): Promise<void> {
    return fdatasyncAsync(this.fd);
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Why the journal cannot be read back as it is (each names it): the store refuses to open. */
export class JournalRefusal extends Error {}

/** Thrown for a journal whose groups resume after a gap: saves it once held are missing. */
export class JournalGapError extends JournalRefusal {
  constructor(
    readonly path: string,
    readonly first: number,
    readonly expected: number,
  ) {
    super(`the journal ${path} begins with save ${first}, but the log holds saves up to ${expected - 1} only`);
  }
}

/** Thrown for a journal the last run left open that is not there: the saves it held are not either. */
export class JournalMissingError extends JournalRefusal {
  constructor(readonly path: string) {
    super(`the journal ${path} is missing, but the last run did not close it: the saves it held since LMDB's last checkpoint (acknowledged writes among them) are gone`);
  }
}

/** Thrown for a journal damaged before saves that follow (see the header): not a crash's tear. */
export class JournalDamageError extends JournalRefusal {
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly following: number,
  ) {
    super(`the journal ${path} is damaged at byte ${offset}, and save ${following} follows it, so it is not a save torn by a crash`);
  }
}

function readGroups(path: string, fd: number, after: number): JournalSave[] {
  const size = fstatSync(fd).size;
  const bytes = new Uint8Array(size);
  let read = 0;
  while (read < size) {
    const n = readSync(fd, bytes, read, size - read, read);
    if (n === 0) break;
    read += n;
  }
  const file = bytes.subarray(0, read);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const saves: JournalSave[] = [];
  let offset = 0;
  let previous: number | null = null;
  for (;;) {
    const group = readGroup(file, view, offset);
    // The groups since the journal last started over are numbered one after another; what follows
    // them (a group of an earlier run, its remains, zeros) is not.
    if (group === null || (previous !== null && group.save.number !== previous + 1)) break;
    previous = group.save.number;
    offset = group.end;
    // Below High, groups LMDB took stay in the journal, before those it has not taken yet.
    if (group.save.number <= after) continue;
    if (saves.length === 0 && group.save.number !== after + 1) throw new JournalGapError(path, group.save.number, after + 1);
    saves.push(group.save);
  }
  const following = laterEndMark(file, view, offset, Math.max(previous ?? 0, after) + 1);
  if (following !== null) throw new JournalDamageError(path, offset, following);
  return saves;
}

/**
 * The number of a sound group end mark after `from` numbered above `next` (the group that may
 * have been interrupted there), or null.
 */
function laterEndMark(file: Uint8Array, view: DataView, from: number, next: number): number | null {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  // A record header starts with its payload's length: an end mark's is 12.
  const lengthField = Buffer.from([0, 0, 0, endMarkPayloadBytes]);
  for (let at = bytes.indexOf(lengthField, from); at !== -1; at = bytes.indexOf(lengthField, at + 1)) {
    if (at + recordHeaderBytes + endMarkPayloadBytes > file.byteLength) break;
    if (view.getUint8(at + 8) !== RecordKind.saveEnd || checkRecord(file, view, at) !== null) continue;
    const number = getUint64(view, at + recordHeaderBytes);
    if (number !== null && number > next) return number;
  }
  return null;
}

/** The group at `offset`, whole and sound, or null. */
function readGroup(file: Uint8Array, view: DataView, start: number): { save: JournalSave; end: number } | null {
  let offset = start;
  let number: number | null = null;
  const entries: Entry[] = [];
  let hardState: HardState | null = null;
  for (;;) {
    if (checkRecord(file, view, offset) !== null) return null;
    const length = view.getUint32(offset);
    const kind = view.getUint8(offset + 8);
    const payload = file.subarray(offset + recordHeaderBytes, offset + recordHeaderBytes + length);
    offset += recordHeaderBytes + length;
    if (number === null) {
      if (kind !== RecordKind.journal || length !== 8) return null;
      number = getUint64(new DataView(payload.buffer, payload.byteOffset, 8), 0);
      if (number === null) return null;
      continue;
    }
    switch (kind) {
      case RecordKind.entry: {
        const entry = decodeEntry(payload.slice());
        const previous = entries[entries.length - 1];
        if (entry === null || hardState !== null || (previous !== undefined && entry.index !== previous.index + 1)) return null;
        entries.push(entry);
        break;
      }
      case RecordKind.hardState: {
        hardState = parseHardState(decodeChecked(payload));
        if (hardState === null) return null;
        break;
      }
      case RecordKind.saveEnd: {
        // Its number and the group's length: a group torn by a power loss, whose lost pages left
        // records of an older group in place, does not end with its own mark.
        if (length !== endMarkPayloadBytes) return null;
        const mark = new DataView(payload.buffer, payload.byteOffset, endMarkPayloadBytes);
        if (getUint64(mark, 0) !== number || mark.getUint32(8) !== offset - recordHeaderBytes - endMarkPayloadBytes - start) return null;
        return { save: { number, entries, hardState }, end: offset };
      }
      default:
        return null;
    }
  }
}
