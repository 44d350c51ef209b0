/**
 * Binary encodings shared by the backends: an entry (a fixed header with its own CRC32, then the
 * data bytes exactly as given: the clients' RESP bytes stay byte-exact on disk), and small JSON
 * records with a CRC32 for hard state, snapshot metadata and the compaction point.
 *
 * Decoders return `null` on any mismatch; the caller knows the file and offset and turns that
 * into a `StorageCorruptionError` that says what to do.
 */
import { assert } from "../assert.ts";
import {
  asIndex,
  asNodeId,
  asTerm,
  type Entry,
  type EntryType,
  type HardState,
  type Index,
  type Membership,
  type NodeId,
  type SnapshotMetadata,
  type Term,
} from "../raft/types.ts";

/**
 * Entry header, big-endian:
 * `[crc32 u32][format u8][type u8][reserved u16][index u64][term u64]`, then the data.
 * The CRC covers everything after itself (header and data).
 */
export const entryHeaderBytes = 24;
const entryFormatVersion = 1;

const entryTypeCodes: Readonly<Record<EntryType, number>> = { normal: 0, noop: 1, config: 2 };
const entryTypeByCode: readonly EntryType[] = ["normal", "noop", "config"];

const twoToThe32 = 2 ** 32;

/** Writes a non-negative safe integer as 8 bytes, big-endian. */
export function setUint64(view: DataView, offset: number, value: number): void {
  // A static message: this runs twice per entry, and a template would be built every time.
  assert(Number.isSafeInteger(value) && value >= 0, "value is not a u64 we can hold");
  view.setUint32(offset, Math.floor(value / twoToThe32));
  view.setUint32(offset + 4, value >>> 0);
}

/** Reads 8 bytes big-endian; `null` when the value is beyond 2^53. */
export function getUint64(view: DataView, offset: number): number | null {
  const high = view.getUint32(offset);
  if (high >= 2 ** 21) return null;
  return high * twoToThe32 + view.getUint32(offset + 4);
}

/** CRC32 of `bytes` (Bun's native implementation). */
export function crc32(bytes: Uint8Array): number {
  return Bun.hash.crc32(bytes) >>> 0;
}

/**
 * Encodes entries into one reused buffer (grown when needed, shrunk back when a rare large entry
 * left it big): for stores that copy the bytes before the next encode (a synchronous LMDB put).
 * Saves an allocation of the whole entry per save, and with it much of the garbage collector's work.
 */
export class EntryScratch {
  private buffer = Buffer.allocUnsafe(entryScratchBytes);
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);

  /** `entry` encoded (`encodeEntryInto`), in a view that is valid until the next call. */
  encode(entry: Entry): Uint8Array {
    const size = encodedEntryBytes(entry);
    if (size > this.buffer.byteLength || (this.buffer.byteLength > entryScratchBytesMax && size <= entryScratchBytes)) {
      this.buffer = Buffer.allocUnsafe(Math.max(size, entryScratchBytes));
      this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    }
    encodeEntryInto(this.buffer, this.view, 0, entry);
    return this.buffer.subarray(0, size);
  }
}

/** The scratch buffer's usual size, and the size past which it is given back after use. */
const entryScratchBytes = 256 * 1024;
const entryScratchBytesMax = 4 * 1024 * 1024;

/** Bytes an encoded `entry` takes: the header, then its data. */
export function encodedEntryBytes(entry: Entry): number {
  return entryHeaderBytes + entry.data.byteLength;
}

/** Encodes an entry at `offset` of `bytes` (`view` spans exactly the bytes of `bytes`). */
export function encodeEntryInto(bytes: Uint8Array, view: DataView, offset: number, entry: Entry): void {
  assert(view.byteOffset === bytes.byteOffset && view.byteLength === bytes.byteLength && view.buffer === bytes.buffer, "view spans the bytes");
  view.setUint8(offset + 4, entryFormatVersion);
  view.setUint8(offset + 5, entryTypeCodes[entry.type]);
  view.setUint16(offset + 6, 0);
  setUint64(view, offset + 8, entry.index);
  setUint64(view, offset + 16, entry.term);
  bytes.set(entry.data, offset + entryHeaderBytes);
  const end = offset + entryHeaderBytes + entry.data.byteLength;
  view.setUint32(offset, crc32(bytes.subarray(offset + 4, end)));
}

/**
 * Decodes an entry written by `encodeEntryInto`; `null` when the checksum, format or type is wrong.
 * The entry's data is a view of `bytes`: pass a buffer nobody else reuses.
 */
export function decodeEntry(bytes: Uint8Array): Entry | null {
  if (bytes.byteLength < entryHeaderBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== crc32(bytes.subarray(4))) return null;
  if (view.getUint8(4) !== entryFormatVersion) return null;
  const type = entryTypeByCode[view.getUint8(5)];
  const index = getUint64(view, 8);
  const term = getUint64(view, 16);
  if (type === undefined || index === null || term === null) return null;
  return { index: asIndex(index), term: asTerm(term), type, data: bytes.subarray(entryHeaderBytes) };
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** `[crc32 u32][JSON]`: small records whose checksum covers the JSON text. */
export function encodeChecked(value: unknown): Uint8Array {
  const json = textEncoder.encode(JSON.stringify(value));
  const bytes = new Uint8Array(4 + json.byteLength);
  bytes.set(json, 4);
  new DataView(bytes.buffer).setUint32(0, crc32(json));
  return bytes;
}

/** Decodes `encodeChecked`; `null` on a checksum or JSON error. */
export function decodeChecked(bytes: Uint8Array): unknown {
  if (bytes.byteLength < 4) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const json = bytes.subarray(4);
  if (view.getUint32(0) !== crc32(json)) return null;
  try {
    return JSON.parse(textDecoder.decode(json)) as unknown;
  } catch (error) {
    // A record whose checksum matches but whose text is not JSON was written by something else:
    // the caller reports it as corruption with the file and offset.
    if (error instanceof SyntaxError || error instanceof TypeError) return null;
    throw error;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** Validates a decoded hard state. */
export function parseHardState(value: unknown): HardState | null {
  if (!isRecord(value) || !isCount(value.term) || !isCount(value.commit)) return null;
  if (value.vote !== null && typeof value.vote !== "string") return null;
  const vote: NodeId | null = value.vote === null ? null : asNodeId(value.vote);
  return { term: asTerm(value.term), vote, commit: asIndex(value.commit) };
}

/** Validates a decoded membership. */
export function parseMembership(value: unknown): Membership | null {
  if (!isRecord(value) || !isStringArray(value.voters) || !isStringArray(value.learners)) return null;
  if (!isRecord(value.addresses)) return null;
  const addresses: Record<string, string> = {};
  for (const [key, address] of Object.entries(value.addresses)) {
    if (typeof address !== "string") return null;
    addresses[key] = address;
  }
  return { voters: value.voters.map(asNodeId), learners: value.learners.map(asNodeId), addresses };
}

/** Validates a decoded snapshot metadata. */
export function parseSnapshotMetadata(value: unknown): SnapshotMetadata | null {
  if (!isRecord(value) || !isCount(value.index) || !isCount(value.term)) return null;
  const membership = parseMembership(value.membership);
  if (membership === null) return null;
  return { index: asIndex(value.index), term: asTerm(value.term), membership };
}

/** The compaction point: the index and term of the entry just before the first one held. */
export interface CompactionPoint {
  readonly index: Index;
  readonly term: Term;
}

/** Validates a decoded compaction point. */
export function parseCompactionPoint(value: unknown): CompactionPoint | null {
  if (!isRecord(value) || !isCount(value.index) || !isCount(value.term)) return null;
  return { index: asIndex(value.index), term: asTerm(value.term) };
}
