/**
 * A minimal Redis stream: entries with ids `ms-seq` (two unsigned 64-bit numbers) in increasing
 * order, each a list of field/value pairs. Enough for XADD (with its id forms and trimming), XLEN,
 * XRANGE and XREVRANGE; consumer groups and blocking reads are not there.
 *
 * Entries are appended at the end and trimmed from the front; the array keeps a start offset and
 * is compacted when half of it is trimmed.
 */
import { RespError } from "../errors.ts";

export const uint64Max = (1n << 64n) - 1n;

export interface StreamId {
  readonly ms: bigint;
  readonly seq: bigint;
}

export interface StreamEntry {
  readonly id: StreamId;
  /** field, value, field, value... (never changed in place) */
  readonly fields: readonly Uint8Array[];
}

export const errInvalidStreamId = new RespError("ERR Invalid stream ID specified as stream command argument");

export function compareIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

export function formatId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/**
 * A uint64 as redis-server 7.0 reads a stream id's parts (`string2ull`, then `strtoull`): leading
 * white space and a `+` are taken, a `-` is not, and a value past uint64 is refused.
 */
function parseUnsigned(text: string): bigint | null {
  const match = text.length > 64 ? null : /^[ \t\n\v\f\r]*\+?(\d{1,30})$/.exec(text);
  if (match === null) return null;
  const value = BigInt(match[1] ?? "");
  return value > uint64Max ? null : value;
}

/**
 * An id as `streamGenericParseIDOrReply` reads it: `-` and `+` (when allowed) for the smallest and
 * largest, `ms` alone (seq = `missingSeq`), `ms-seq`, and `ms-*` when `allowAutoSeq` (seq null).
 */
export function parseStreamId(
  text: string,
  missingSeq: bigint,
  options: { minMax: boolean; autoSeq: boolean },
): { ms: bigint; seq: bigint | null } | null {
  if (text.length > 127) return null;
  if (options.minMax && text === "-") return { ms: 0n, seq: 0n };
  if (options.minMax && text === "+") return { ms: uint64Max, seq: uint64Max };
  const dash = text.indexOf("-");
  if (dash < 0) {
    const ms = parseUnsigned(text);
    return ms === null ? null : { ms, seq: missingSeq };
  }
  const ms = parseUnsigned(text.slice(0, dash));
  if (ms === null) return null;
  const seqText = text.slice(dash + 1);
  if (options.autoSeq && seqText === "*") return { ms, seq: null };
  const seq = parseUnsigned(seqText);
  return seq === null ? null : { ms, seq };
}

export class StreamValue {
  readonly type = "stream";
  /** The keyspace epoch this stream was made in (see `Keyspace.modify`). */
  epoch: number;
  private entries: StreamEntry[] = [];
  private start = 0;
  /** The largest id ever added (entries trimmed since included): new ids must be above it. */
  lastId: StreamId = { ms: 0n, seq: 0n };

  constructor(epoch: number) {
    this.epoch = epoch;
  }

  get size(): number {
    return this.entries.length - this.start;
  }

  /** Entry `index` (0 is the oldest), in range. */
  at(index: number): StreamEntry {
    return this.entries[this.start + index] as StreamEntry;
  }

  append(entry: StreamEntry): void {
    this.entries.push(entry);
    this.lastId = entry.id;
  }

  /** Removes the `count` oldest entries. */
  trimFront(count: number): void {
    this.start += Math.min(count, this.size);
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }

  /** The index of the first entry whose id is >= `id` (size when none). */
  lowerBound(id: StreamId): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareIds(this.at(middle).id, id) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  clone(epoch: number): StreamValue {
    const copy = new StreamValue(epoch);
    copy.entries = this.entries.slice(this.start);
    copy.lastId = this.lastId;
    return copy;
  }
}
