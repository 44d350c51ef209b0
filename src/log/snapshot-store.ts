/**
 * Snapshot files: `snapshots/snapshot-<index>-<term>.snap` in the data directory (index and term
 * zero-padded to 20 digits, so that names sort by index). A snapshot is streamed to a temporary
 * `.tmp` file; `finish()` fsyncs it, renames it into place and fsyncs the directory, so a crash
 * leaves either no snapshot or a complete one (plus a stray `.tmp`, removed at the next start).
 * The newest `keep` snapshots stay (default 2: the newest, and one to fall back to by hand).
 *
 * Layout, big-endian: a header, then the data.
 * `[magic "FINNSNAP"][format u32][index u64][term u64][membership length u32][membership JSON]`
 * `[data length u64][data crc32 u32][header crc32 u32]`, where the header CRC covers every byte
 * of the header before it. The header is written last (at offset 0, its size is known up front).
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../assert.ts";
import type { Membership, SnapshotMetadata } from "../raft/types.ts";
import { asIndex, asTerm } from "../raft/types.ts";
import { crc32, getUint64, parseMembership, setUint64 } from "./codec.ts";
import { syncDirectory } from "./file-sync.ts";
import { StorageCorruptionError } from "./store.ts";

const magic = new TextEncoder().encode("FINNSNAP");
const formatVersion = 1;
/** Bytes of the header around the membership JSON. */
const headerFixedBytes = 8 + 4 + 8 + 8 + 4 + 8 + 4 + 4;
/** A membership larger than this in a header is corruption (thousands of members fit). */
const membershipBytesMax = 16 * 1024 * 1024;
/** Bytes read at a time when streaming a snapshot back. */
const readChunkBytes = 1024 * 1024;
/** Snapshots kept by default: the newest, and the previous one to fall back to by hand. */
export const snapshotsKeptDefault = 2;

/** A snapshot being written. Call exactly one of `finish` or `abort`. */
export interface SnapshotWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the snapshot durable and the newest; older ones beyond `keep` are deleted. */
  finish(): Promise<void>;
  /** Deletes the temporary file. */
  abort(): Promise<void>;
}

/** A valid stored snapshot. Reading re-checks the data's CRC32. */
export interface SnapshotReader {
  readonly metadata: SnapshotMetadata;
  readonly path: string;
  readonly dataBytes: number;
  readAll(): Promise<Uint8Array>;
  chunks(): AsyncIterable<Uint8Array>;
}

interface Header {
  readonly metadata: SnapshotMetadata;
  readonly headerBytes: number;
  readonly dataBytes: number;
  readonly dataCrc: number;
}

function fileName(metadata: SnapshotMetadata): string {
  return `snapshot-${String(metadata.index).padStart(20, "0")}-${String(metadata.term).padStart(20, "0")}.snap`;
}

function encodeHeader(metadata: SnapshotMetadata, dataBytes: number, dataCrc: number): Uint8Array {
  const membership = new TextEncoder().encode(JSON.stringify(metadata.membership));
  const bytes = new Uint8Array(headerFixedBytes + membership.byteLength);
  const view = new DataView(bytes.buffer);
  bytes.set(magic, 0);
  view.setUint32(8, formatVersion);
  setUint64(view, 12, metadata.index);
  setUint64(view, 20, metadata.term);
  view.setUint32(28, membership.byteLength);
  bytes.set(membership, 32);
  let offset = 32 + membership.byteLength;
  setUint64(view, offset, dataBytes);
  view.setUint32(offset + 8, dataCrc >>> 0);
  offset += 12;
  view.setUint32(offset, crc32(bytes.subarray(0, offset)));
  return bytes;
}

export class SnapshotStore {
  private constructor(
    readonly dir: string,
    private readonly keep: number,
  ) {}

  /** Opens `dir/snapshots`, creating it, and removes temporary files a crash left behind. */
  static open(dataDir: string, options: { keep?: number } = {}): SnapshotStore {
    const keep = options.keep ?? snapshotsKeptDefault;
    assert(Number.isInteger(keep) && keep >= 1, "keep at least one snapshot");
    const dir = join(dataDir, "snapshots");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      if (name.endsWith(".tmp")) rmSync(join(dir, name), { force: true });
    }
    return new SnapshotStore(dir, keep);
  }

  /** Starts writing a snapshot taken at `metadata.index`. */
  async create(metadata: SnapshotMetadata): Promise<SnapshotWriter> {
    const path = join(this.dir, fileName(metadata));
    const temporary = `${path}.tmp`;
    const handle = await open(temporary, "w", 0o600);
    const headerBytes = encodeHeader(metadata, 0, 0).byteLength;
    let position = headerBytes;
    let crc = 0;
    let done = false;
    const finishOnce = (): void => {
      assert(!done, "snapshot writer already finished or aborted");
      done = true;
    };
    return {
      write: async (chunk) => {
        assert(!done, "write after finish or abort");
        await writeFully(handle, chunk, position);
        position += chunk.byteLength;
        crc = Bun.hash.crc32(chunk, crc) >>> 0;
      },
      finish: async () => {
        finishOnce();
        const header = encodeHeader(metadata, position - headerBytes, crc);
        assert(header.byteLength === headerBytes, "header size is fixed by the metadata");
        await writeFully(handle, header, 0);
        await handle.sync();
        await handle.close();
        await rename(temporary, path);
        syncDirectory(this.dir);
        this.prune();
      },
      abort: async () => {
        finishOnce();
        await handle.close();
        rmSync(temporary, { force: true });
      },
    };
  }

  /** The snapshot file names, newest first. */
  list(): string[] {
    return readdirSync(this.dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.startsWith("snapshot-") && entry.name.endsWith(".snap"))
      .map((entry) => entry.name)
      .sort()
      .reverse();
  }

  /**
   * The newest snapshot, checked whole (header and data CRC32), or null when there is none. A
   * corrupt or truncated newest snapshot is an error, never skipped silently.
   */
  async latest(): Promise<SnapshotReader | null> {
    const name = this.list()[0];
    if (name === undefined) return null;
    const path = join(this.dir, name);
    const header = readHeader(path);
    const reader = makeReader(path, header);
    for await (const chunk of reader.chunks()) void chunk; // verifies the data CRC at the end
    return reader;
  }

  /**
   * The data of the snapshot taken at `metadata`, read whole and checked (header and data CRC32),
   * or null when its file is gone. Synchronous, for a node that does not hold its latest snapshot
   * in memory (`RaftNode.snapshotDataFor`).
   */
  readDataSync(metadata: SnapshotMetadata): Uint8Array | null {
    const path = join(this.dir, fileName(metadata));
    if (!existsSync(path)) return null;
    const header = readHeader(path);
    if (header.metadata.index !== metadata.index || header.metadata.term !== metadata.term) throw corrupt(path, "its header names another snapshot");
    const fd = openSync(path, "r");
    try {
      const data = readExactly(fd, header.dataBytes + 1, header.headerBytes);
      if (data.byteLength < header.dataBytes) throw corrupt(path, `the data is truncated at byte ${header.headerBytes + data.byteLength} of ${header.headerBytes + header.dataBytes}`);
      if (data.byteLength > header.dataBytes) throw corrupt(path, "bytes follow the data");
      if (Bun.hash.crc32(data) >>> 0 !== header.dataCrc) throw corrupt(path, "the data fails its checksum");
      return data;
    } finally {
      closeSync(fd);
    }
  }

  private prune(): void {
    for (const name of this.list().slice(this.keep)) rmSync(join(this.dir, name), { force: true });
  }
}

async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const result = await handle.write(bytes, written, bytes.byteLength - written, position + written);
    written += result.bytesWritten;
  }
}

function corrupt(path: string, what: string): StorageCorruptionError {
  return new StorageCorruptionError(
    path,
    null,
    `snapshot file ${path} is corrupt: ${what}. Move it away to start from the previous snapshot and the ` +
      `log's entries after it (the node says what to do instead if the log no longer holds them).`,
  );
}

function readExactly(fd: number, length: number, position: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const count = readSync(fd, bytes, read, length - read, position + read);
    if (count === 0) break;
    read += count;
  }
  return bytes.subarray(0, read);
}

function readHeader(path: string): Header {
  const fd = openSync(path, "r");
  try {
    const start = readExactly(fd, 32, 0);
    if (start.byteLength < 32) throw corrupt(path, "the file is shorter than a header");
    const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
    if (!magic.every((byte, position) => start[position] === byte)) throw corrupt(path, "bad magic bytes");
    if (view.getUint32(8) !== formatVersion) throw corrupt(path, `unknown format ${view.getUint32(8)}`);
    const membershipBytes = view.getUint32(28);
    if (membershipBytes > membershipBytesMax) throw corrupt(path, "the header's membership length is absurd");
    const headerBytes = headerFixedBytes + membershipBytes;
    const bytes = readExactly(fd, headerBytes, 0);
    if (bytes.byteLength < headerBytes) throw corrupt(path, "the header is truncated");
    const full = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const crcOffset = headerBytes - 4;
    if (full.getUint32(crcOffset) !== crc32(bytes.subarray(0, crcOffset))) {
      throw corrupt(path, "the header fails its checksum");
    }
    const index = getUint64(full, 12);
    const term = getUint64(full, 20);
    const dataBytes = getUint64(full, 32 + membershipBytes);
    let membership: Membership | null = null;
    try {
      membership = parseMembership(JSON.parse(new TextDecoder().decode(bytes.subarray(32, 32 + membershipBytes))));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      membership = null; // reported just below, with the file name
    }
    if (index === null || term === null || dataBytes === null || membership === null) {
      throw corrupt(path, "the header's fields are out of range");
    }
    return {
      metadata: { index: asIndex(index), term: asTerm(term), membership },
      headerBytes,
      dataBytes,
      dataCrc: full.getUint32(32 + membershipBytes + 8),
    };
  } finally {
    closeSync(fd);
  }
}

function makeReader(path: string, header: Header): SnapshotReader {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const handle = await open(path, "r");
    try {
      let position = header.headerBytes;
      const end = header.headerBytes + header.dataBytes;
      let crc = 0;
      while (position < end) {
        const length = Math.min(readChunkBytes, end - position);
        const chunk = new Uint8Array(length);
        const { bytesRead } = await handle.read(chunk, 0, length, position);
        if (bytesRead === 0) throw corrupt(path, `the data is truncated at byte ${position} of ${end}`);
        const part = chunk.subarray(0, bytesRead);
        crc = Bun.hash.crc32(part, crc) >>> 0;
        position += bytesRead;
        if (position === end && crc !== header.dataCrc) throw corrupt(path, "the data fails its checksum");
        yield part;
      }
      if (header.dataBytes === 0 && header.dataCrc !== 0) throw corrupt(path, "the data fails its checksum");
      const extra = await handle.read(new Uint8Array(1), 0, 1, end);
      if (extra.bytesRead !== 0) throw corrupt(path, "bytes follow the data");
    } finally {
      await handle.close();
    }
  }
  return {
    metadata: header.metadata,
    path,
    dataBytes: header.dataBytes,
    chunks,
    readAll: async () => {
      const data = new Uint8Array(header.dataBytes);
      let offset = 0;
      for await (const chunk of chunks()) {
        data.set(chunk, offset);
        offset += chunk.byteLength;
      }
      return data;
    },
  };
}
