/**
 * A minimal Redis stream: entries with ids `ms-seq` (two unsigned 64-bit numbers) in increasing
 * order, each a list of field/value pairs. Enough for XADD (with its id forms and trimming), XLEN,
 * XRANGE, XREVRANGE, XREAD, XDEL and XTRIM, and the consumer groups of stream-groups.ts.
 *
 * Entries are appended at the end and trimmed from the front; the array keeps a start offset and
 * is compacted when half of it is trimmed. XDEL removes an entry from the middle by moving the
 * ones after it (O(n); Redis marks it deleted in place), the oldest one as a trim does.
 *
 * Beside the entries, the stream keeps the layout of Redis's radix-tree nodes (`StreamNode`):
 * which entries share a node is what approximate trimming (`~`) removes whole, and what LIMIT
 * counts, so Redis's replies to XTRIM and XADD's trimming depend on it. A node takes entries
 * until it has held `nodeEntriesMax` (Redis's stream-node-max-entries; deleted entries keep their
 * slot), and goes when its last entry is deleted. Redis also closes a node at 4096 bytes
 * (stream-node-max-bytes) of its own encoding, which is not modelled: with entries of more than
 * about 40 bytes, its nodes are smaller than these, and approximate trimming removes less here.
 */
import { RespError } from "../errors.ts";
import type { ConsumerGroup } from "./stream-groups.ts";

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

/** 0-0: below every id an entry can have. */
export const zeroId: StreamId = { ms: 0n, seq: 0n };

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

/** Slots per node: Redis's default stream-node-max-entries. */
export const nodeEntriesMax = 100;

/** One of Redis's radix-tree nodes (a listpack of entries), as far as trimming sees it. */
export interface StreamNode {
  /** Entries in it that are there (the node's own count in Redis). */
  live: number;
  /** Entries put in it, deleted ones included: it takes no more at `nodeEntriesMax`. */
  slots: number;
  /** The id of the last entry put in it, deleted or not: what MINID's approximate trimming compares. */
  lastId: StreamId;
  /** The id of the first entry put in it, deleted or not: its key in Redis's radix tree (XINFO STREAM counts the tree's nodes). */
  readonly firstId: StreamId;
}

/** A node as a snapshot gives it back: format 5 has no first ids. */
export type RestoredNode = Omit<StreamNode, "firstId"> & { readonly firstId?: StreamId };

/** How XADD's MAXLEN/MINID options and XTRIM trim. */
export interface StreamTrim {
  strategy: "maxlen" | "minid";
  approximate: boolean;
  maxLength: number;
  minId: StreamId;
  /** Most entries one trim removes; 0 for no bound (exact trimming has none). */
  limit: number;
}

/**
 * In `items` (in id order, as a stream's entries and a group's pending list are), the index of the
 * first whose id is >= `id` (`size` when none): a binary search.
 */
export function lowerBoundOf(items: { readonly size: number; at(index: number): { readonly id: StreamId } }, id: StreamId): number {
  let low = 0;
  let high = items.size;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareIds(items.at(middle).id, id) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class StreamValue {
  readonly type = "stream";
  /** The keyspace epoch this stream was made in (see `Keyspace.modify`). */
  epoch: number;
  private entries: StreamEntry[] = [];
  private start = 0;
  /** The nodes, oldest first from `nodesStart`; node k holds the `live` entries after those of the nodes before it. */
  private nodes: StreamNode[] = [];
  private nodesStart = 0;
  /** The largest id ever added (entries trimmed since included): new ids must be above it. */
  lastId: StreamId = { ms: 0n, seq: 0n };
  /** Entries ever added (Redis 7.0's entries_added): what consumer groups count their reads against. */
  entriesAdded = 0;
  /** The largest id XDEL removed (0-0 for none; Redis's max_deleted_entry_id). */
  maxDeletedId: StreamId = { ms: 0n, seq: 0n };
  /** The consumer groups by name (latin1 text of the bytes); null until one is made. */
  groups: Map<string, ConsumerGroup> | null = null;

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

  /** Adds an entry after the last, in the last node if it has room. */
  append(entry: StreamEntry): void {
    this.entries.push(entry);
    this.lastId = entry.id;
    this.entriesAdded++;
    const tail = this.nodes.length > this.nodesStart ? this.nodes[this.nodes.length - 1] : undefined;
    if (tail === undefined || tail.slots >= nodeEntriesMax) this.nodes.push({ live: 1, slots: 1, lastId: entry.id, firstId: entry.id });
    else {
      tail.live++;
      tail.slots++;
      tail.lastId = entry.id;
    }
  }

  /**
   * Trims the oldest entries as Redis's `streamTrim` does, and returns how many went (with
   * `dryRun`, only how many would). Whole nodes go while the rest still holds MAXLEN entries (or
   * their last id is below MINID) and LIMIT allows; then, unless approximate, the entries of the
   * next node that must go.
   */
  trim(how: StreamTrim, dryRun = false): number {
    let removed = 0;
    let node = this.nodesStart;
    for (; node < this.nodes.length; node++) {
      const size = this.size - removed;
      if (how.strategy === "maxlen" && size <= how.maxLength) break;
      const { live, lastId } = this.nodes[node] as StreamNode;
      if (how.limit > 0 && removed + live > how.limit) break;
      if (how.strategy === "maxlen" ? size - live >= how.maxLength : compareIds(lastId, how.minId) < 0) {
        removed += live;
        continue;
      }
      if (how.approximate) break;
      // Part of this node: what exceeds MAXLEN, or what is below MINID (a node holds at least that).
      const some = how.strategy === "maxlen" ? size - how.maxLength : this.lowerBound(how.minId) - removed;
      if (!dryRun) (this.nodes[node] as StreamNode).live -= some;
      removed += some;
      break;
    }
    if (!dryRun) {
      this.dropNodes(node - this.nodesStart);
      this.dropEntries(removed);
    }
    return removed;
  }

  /**
   * Removes the entry whose id is `id`; false when there is none. `lastId` stays: ids after a
   * deleted last entry must still be above it. Its node goes with its last entry, as in Redis.
   */
  delete(id: StreamId): boolean {
    const index = this.lowerBound(id);
    if (index === this.size || compareIds(this.at(index).id, id) !== 0) return false;
    // Its node: the first whose last id is not below it.
    let low = this.nodesStart;
    let high = this.nodes.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareIds((this.nodes[middle] as StreamNode).lastId, id) < 0) low = middle + 1;
      else high = middle;
    }
    if (compareIds(id, this.maxDeletedId) > 0) this.maxDeletedId = id;
    const node = this.nodes[low] as StreamNode;
    node.live--;
    if (node.live === 0) {
      if (low === this.nodesStart) this.dropNodes(1);
      else this.nodes.splice(low, 1);
    }
    if (index === 0) this.dropEntries(1);
    else this.entries.splice(this.start + index, 1);
    return true;
  }

  /** The nodes, oldest first (for snapshots and the digest). */
  layout(): readonly StreamNode[] {
    return this.nodesStart === 0 ? this.nodes : this.nodes.slice(this.nodesStart);
  }

  /**
   * Replaces the node layout (restoring a snapshot; appending the entries made one of its own);
   * false when it does not fit the entries: the live counts must add up to them, and each node's
   * last id must not be below its last entry's.
   */
  restoreLayout(nodes: readonly RestoredNode[]): boolean {
    let covered = 0;
    const restored: StreamNode[] = [];
    for (const node of nodes) {
      if (!(node.live >= 0 && node.live <= node.slots && node.slots <= nodeEntriesMax && node.slots > 0)) return false;
      const firstLive = node.live > 0 && covered < this.size ? this.at(covered).id : node.lastId;
      covered += node.live;
      if (covered > this.size || (node.live > 0 && compareIds(node.lastId, this.at(covered - 1).id) < 0)) return false;
      // Without its first id (format 5), a node's first entry there stands for it.
      const firstId = node.firstId ?? firstLive;
      if (compareIds(firstId, firstLive) > 0 || compareIds(firstId, node.lastId) > 0) return false;
      restored.push({ live: node.live, slots: node.slots, lastId: node.lastId, firstId });
    }
    if (covered !== this.size) return false;
    this.nodes = restored;
    this.nodesStart = 0;
    return true;
  }

  /** Removes the `count` oldest entries (their nodes are the caller's business). */
  private dropEntries(count: number): void {
    this.start += Math.min(count, this.size);
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }

  /** Removes the `count` oldest nodes. */
  private dropNodes(count: number): void {
    this.nodesStart += count;
    if (this.nodesStart > 64 && this.nodesStart * 2 > this.nodes.length) {
      this.nodes = this.nodes.slice(this.nodesStart);
      this.nodesStart = 0;
    }
  }

  /** The index of the first entry whose id is > `id` (size when none): where XREAD after `id` starts. */
  upperBound(id: StreamId): number {
    const index = this.lowerBound(id);
    return index < this.size && compareIds(this.at(index).id, id) === 0 ? index + 1 : index;
  }

  /** The index of the first entry whose id is >= `id` (size when none). */
  lowerBound(id: StreamId): number {
    return lowerBoundOf(this, id);
  }

  clone(epoch: number): StreamValue {
    const copy = new StreamValue(epoch);
    copy.entries = this.entries.slice(this.start);
    // Nodes change in place: the copy has its own.
    copy.nodes = this.layout().map((node) => ({ live: node.live, slots: node.slots, lastId: node.lastId, firstId: node.firstId }));
    copy.lastId = this.lastId;
    copy.entriesAdded = this.entriesAdded;
    copy.maxDeletedId = this.maxDeletedId;
    // Groups change in place: the copy has its own.
    if (this.groups !== null) copy.groups = new Map([...this.groups].map(([name, group]) => [name, group.clone()]));
    return copy;
  }
}
