/**
 * The leader's view of one follower (etcd raft's `Progress`): how much of the log it holds, and
 * how the leader is currently sending to it.
 *
 * - probe: the leader does not know where the logs agree; it sends one append at a time and waits
 *   for the answer (or a heartbeat response) before sending again.
 * - replicate: the logs agree up to `match`; the leader streams appends optimistically, advancing
 *   `next` as it sends, bounded by `Inflights` (messages and bytes in flight).
 * - snapshot: the follower needs entries the leader compacted; the leader sent a snapshot and sends
 *   nothing else until the follower acknowledges it (or the attempt times out).
 */
import { assert } from "../assert.ts";
import { asIndex, type Index } from "./types.ts";

/** How the leader is sending to a follower. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * A ring buffer of the appends in flight to one follower: for each, the last index it carried and
 * its size in bytes. Both counts are bounded (flow control).
 */
export class Inflights {
  private readonly lastIndexes: Float64Array;
  private readonly sizes: Float64Array;
  private start = 0;
  /** Messages in flight. */
  count = 0;
  /** Bytes in flight. */
  bytes = 0;

  constructor(
    readonly messagesMax: number,
    readonly bytesMax: number,
  ) {
    assert(messagesMax > 0 && bytesMax > 0, "in-flight limits must be positive");
    this.lastIndexes = new Float64Array(messagesMax);
    this.sizes = new Float64Array(messagesMax);
  }

  /** Whether no more appends may be sent until some are acknowledged. */
  full(): boolean {
    return this.count === this.messagesMax || this.bytes >= this.bytesMax;
  }

  /** Records an append carrying entries up to `lastIndex`, `size` bytes in all. */
  add(lastIndex: Index, size: number): void {
    assert(this.count < this.messagesMax, "in-flight messages over the limit");
    const slot = (this.start + this.count) % this.messagesMax;
    if (this.count > 0) {
      const previous = (slot + this.messagesMax - 1) % this.messagesMax;
      assert(lastIndex > this.lastIndexes[previous]!, "in-flight indexes must increase");
    }
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = size;
    this.count++;
    this.bytes += size;
  }

  /** Frees every append whose entries are all at or below `index`. */
  freeTo(index: Index): void {
    while (this.count > 0 && this.lastIndexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.messagesMax;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  /** Frees the oldest append (used when a heartbeat shows the follower is alive but silent). */
  freeFirst(): void {
    if (this.count === 0) return;
    this.freeTo(asIndex(this.lastIndexes[this.start]!));
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

/** The leader's view of one member of the cluster (itself included). */
export class Progress {
  /** Highest index known replicated on the member (Raft Figure 2, `matchIndex`). */
  match: Index = asIndex(0);
  /** Next index to send (Raft Figure 2, `nextIndex`); `match < next`. */
  next: Index;
  state: ProgressState = "probe";
  /** In probe state: an append was sent and no answer has come back yet. */
  probeSent = false;
  /** In probe state: the leader's tick when the append was sent, and its bytes. */
  probeSentTick = 0;
  probeSentBytes = 0;
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot: Index = asIndex(0);
  /** Ticks spent in snapshot state, to retry a snapshot that was lost. */
  snapshotTicks = 0;
  /** Ticks during which `match` stayed behind the leader's log, to recover lost appends. */
  stalledTicks = 0;
  /** Whether the member was heard from since the last check-quorum round (Raft thesis §6.2). */
  recentActive = false;
  /** The latest read round this member has acknowledged (ReadIndex). */
  readRound = 0;
  /** The leader tick at which the latest heartbeat this member acknowledged was sent (lease). */
  leaseTick = -Infinity;
  /** The highest commit index sent to this member, in an append or a heartbeat. */
  commitSent: Index = asIndex(0);
  readonly inflights: Inflights;

  constructor(next: Index, messagesMax: number, bytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(messagesMax, bytesMax);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = asIndex(0);
    this.snapshotTicks = 0;
    this.stalledTicks = 0;
    this.inflights.reset();
  }

  /**
   * The link shows the member reading what the leader sends, though no answer came: it is alive
   * (check-quorum), and the appends in flight are crossing the link, not lost (`stalledTicks`).
   */
  reading(): void {
    this.recentActive = true;
    this.stalledTicks = 0;
  }

  /** Back to probing from just after `match` (or after the snapshot just acknowledged). */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = asIndex(Math.max(this.match + 1, pending + 1));
    } else {
      this.resetState("probe");
      this.next = asIndex(this.match + 1);
    }
  }

  /** Streams from just after `match`. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = asIndex(this.match + 1);
  }

  /** Waits for the follower to install the snapshot at `index`. */
  becomeSnapshot(index: Index): void {
    this.resetState("snapshot");
    this.pendingSnapshot = index;
  }

  /**
   * The follower acknowledged entries up to `index`. Returns whether that was news. Acks may come
   * late, duplicated or out of order; old ones change nothing.
   */
  maybeUpdate(index: Index): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.probeSent = false;
      this.stalledTicks = 0;
      updated = true;
    }
    if (index + 1 > this.next) this.next = asIndex(index + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `hint` is the last index where the logs may
   * agree. Returns false for a stale rejection (already superseded by what the leader knows).
   */
  maybeDecreaseTo(rejected: Index, hint: Index): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = asIndex(this.match + 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = asIndex(Math.max(Math.min(rejected, hint + 1), this.match + 1));
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold further appends to this member for now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /**
   * A heartbeat's answer came at leader tick `tick`. In probe state the append sent may have been
   * lost (a link's queue drops what it cannot hold): it is sent again, but not before the member
   * had time to take it in, a tick for every `bytesPerTick` bytes it carried, at least
   * `ticksMin` and at most `ticksMax` ticks. Heartbeats go every tick, and a follower still
   * reading a 10 MB append answers a burst of them at once: resending at each answer had put
   * the same 10 MB entry into a frame nine times over.
   */
  heartbeatAnswered(tick: number, ticksMin: number, ticksMax: number, bytesPerTick: number): void {
    if (!this.probeSent) return;
    const wait = Math.min(ticksMax, Math.max(ticksMin, Math.ceil(this.probeSentBytes / bytesPerTick)));
    if (tick - this.probeSentTick >= wait) this.probeSent = false;
  }

  /** Records an append carrying entries up to `lastIndex`, `bytes` in all, sent at leader tick `tick`. */
  sentEntries(lastIndex: Index, count: number, bytes: number, tick: number): void {
    switch (this.state) {
      case "replicate":
        if (count > 0) {
          this.next = asIndex(lastIndex + 1);
          this.inflights.add(lastIndex, bytes);
        }
        return;
      case "probe":
        this.probeSent = true;
        this.probeSentTick = tick;
        this.probeSentBytes = bytes;
        return;
      case "snapshot":
        assert(false, "no appends while a snapshot is in flight");
    }
  }
}
