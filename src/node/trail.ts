/**
 * The trail: the entries a node keeps in its log behind a snapshot, so that a follower a little
 * behind catches up from the log instead of needing the snapshot. It is bounded by a count of
 * entries and by their bytes, whichever keeps less. The count alone does not bound the disk: an
 * entry batches the commands of a turn (up to `entryBytesMax`, 1 MB), and with 50 clients sending
 * 16 KB SETs the default 10,000 entries came to 4.9 GB of log for one key.
 *
 * The node reports each entry it applies. Every `bytesMax / 16` bytes a mark records the index of
 * the entry just applied and the bytes applied up to and including it, so the bytes applied after
 * any index are known to within a mark's spacing (plus one entry). Marks further back than the
 * byte bound are dropped as new ones come, so there are never more than about 18 of them. Bytes
 * are counted up to the latest entry applied when the log is compacted (a snapshot's own index is
 * a few milliseconds older).
 *
 * Entries applied before the node started (or before a snapshot from the leader replaced its log)
 * are not counted: the log it recovered behind its snapshot is held to the entry bound at the next
 * snapshot, and to both bounds from the one after.
 */
export class Trail {
  /** Bytes applied since the trail was (re)started. */
  private total = 0;
  private lastMarkTotal = 0;
  /** Ascending indexes, and the bytes applied up to and including each (`total` then). */
  private readonly markIndexes: number[] = [];
  private readonly markTotals: number[] = [];
  private readonly markBytes: number;

  constructor(
    readonly entriesMax: number,
    readonly bytesMax: number,
  ) {
    this.markBytes = Math.max(1, Math.floor(bytesMax / 16));
  }

  /** The entry at `index`, of `bytes` bytes, was applied. */
  applied(index: number, bytes: number): void {
    this.total += bytes;
    if (this.total - this.lastMarkTotal < this.markBytes) return;
    this.lastMarkTotal = this.total;
    this.markIndexes.push(index);
    this.markTotals.push(this.total);
    // Keep one mark with more than `bytesMax` bytes after it, the latest such: it is where a
    // compaction now would cut (and it stays past the bound, since the total only grows).
    const drop = this.lastMarkPastBound();
    if (drop > 0) {
      this.markIndexes.splice(0, drop);
      this.markTotals.splice(0, drop);
    }
  }

  /**
   * The index to compact the log to (entries up to it removed) behind a snapshot at `index`: at
   * most `entriesMax` entries behind it are kept, and no entry with more than `bytesMax` bytes
   * applied after it (as far as the marks tell). Never above `index`; may be at or below the
   * log's first index (nothing to compact).
   */
  compactionPoint(index: number): number {
    let point = index - this.entriesMax;
    // Marks come with the bytes after them decreasing. When even the first is within the bound,
    // none was ever dropped, and what came before it is not counted: the count alone applies.
    if (this.markTotals.length > 0 && this.total - (this.markTotals[0] ?? 0) > this.bytesMax) {
      const cut = this.lastMarkPastBound();
      // Entries up to the first mark within the bound go: those after it are within the bound.
      // (With no such mark, the bytes since the last one are fewer than a mark's spacing.)
      point = Math.max(point, this.markIndexes[Math.min(cut + 1, this.markIndexes.length - 1)] ?? 0);
    }
    return Math.min(point, index);
  }

  /**
   * The position of the latest mark with more than `bytesMax` bytes applied after it, or 0 when
   * there is none past the first (the first is then the only candidate).
   */
  private lastMarkPastBound(): number {
    let last = 0;
    while (last + 1 < this.markTotals.length && this.total - (this.markTotals[last + 1] ?? 0) > this.bytesMax) last++;
    return last;
  }

  /** The log was replaced by a snapshot (installed from the leader): nothing behind it is counted. */
  reset(): void {
    this.total = 0;
    this.lastMarkTotal = 0;
    this.markIndexes.length = 0;
    this.markTotals.length = 0;
  }
}
