/**
 * The reads a leader holds between request and release (ReadIndex, Raft thesis §6.4): waiting for
 * the leader's first commit in its term, waiting for the next heartbeat round, waiting for a quorum
 * to acknowledge that round, and, once confirmed, waiting for the state machine to apply their
 * index. Also the send tick of each recent heartbeat round, which leader leases are built on.
 */
import { assert } from "../assert.ts";
import type { Index, ReadState } from "./types.ts";

/** Reads recorded at `index`, confirmed once a quorum acknowledged heartbeat round `round`. */
interface ReadRound {
  readonly round: number;
  readonly index: Index;
  readonly contexts: number[];
}

/** One leader's pending reads and heartbeat rounds. */
export class ReadQueue {
  private awaitingCommit: number[] = [];
  private awaitingRound: number[] = [];
  /** Rounds sent, oldest first, waiting for a quorum of acknowledgements. */
  private rounds: ReadRound[] = [];
  /** Confirmed reads in confirmation order, waiting until their index is applied. */
  private confirmed: ReadState[] = [];
  private dropped: number[] = [];
  /** The latest heartbeat round sent; rounds only grow, across terms too. */
  private roundSequence = 0;
  /** Round -> the leader tick it was sent at, for recent rounds. */
  private readonly sentTicks = new Map<number, number>();

  /** A read that waits for the leader's first commit in its term (thesis §6.4 step 1). */
  awaitCommit(ctx: number): void {
    this.awaitingCommit.push(ctx);
  }

  /** The reads that waited for the leader's first commit; they need a round now. */
  takeAwaitingCommit(): number[] {
    const waiting = this.awaitingCommit;
    this.awaitingCommit = [];
    return waiting;
  }

  /** A read for the next heartbeat round. */
  awaitRound(ctx: number): void {
    this.awaitingRound.push(ctx);
  }

  /** Whether reads wait for a round to start. */
  roundWanted(): boolean {
    return this.awaitingRound.length > 0;
  }

  /** A read confirmed at once (a lease, or a single-voter cluster) at `index`. */
  confirm(ctx: number, index: Index): void {
    this.confirmed.push({ ctx, index });
  }

  /**
   * Starts heartbeat round number `round + 1` at leader tick `tick` and returns its number. Rounds
   * sent before `forgetBefore` can no longer extend a lease and are forgotten.
   */
  nextRound(tick: number, forgetBefore: number): number {
    this.roundSequence++;
    this.sentTicks.set(this.roundSequence, tick);
    for (const [round, sent] of this.sentTicks) {
      if (sent >= forgetBefore) break;
      this.sentTicks.delete(round);
    }
    return this.roundSequence;
  }

  /** Puts every read waiting for a round into `round`, recorded at commit index `index`. */
  openRound(round: number, index: Index): void {
    assert(round === this.roundSequence, "reads join the round just sent");
    this.rounds.push({ round, index, contexts: this.awaitingRound });
    this.awaitingRound = [];
  }

  /** The leader tick at which `round` was sent, if it is recent. */
  sentTick(round: number): number | undefined {
    return this.sentTicks.get(round);
  }

  /** Confirms, oldest first, every round that `acknowledged` says a quorum answered. */
  confirmRounds(acknowledged: (round: number) => boolean): void {
    while (this.rounds.length > 0 && acknowledged(this.rounds[0]!.round)) {
      const round = this.rounds.shift()!;
      for (const ctx of round.contexts) this.confirm(ctx, round.index);
    }
  }

  /** Leadership is lost: every read not yet confirmed fails. Confirmed reads stay valid. */
  dropUnconfirmed(): void {
    for (const round of this.rounds) this.dropped.push(...round.contexts);
    this.dropped.push(...this.awaitingCommit, ...this.awaitingRound);
    this.rounds = [];
    this.awaitingCommit = [];
    this.awaitingRound = [];
    this.sentTicks.clear();
  }

  /** Whether `release` or `takeDropped` would return anything. */
  hasOutput(applied: Index): boolean {
    return this.dropped.length > 0 || this.confirmed.some((read) => read.index <= applied);
  }

  /**
   * Confirmed reads whose index is at most `applied`, in the order they were confirmed. (A lease
   * read may be confirmed at a later index than a round confirmed after it.)
   */
  release(applied: Index): ReadState[] {
    if (this.confirmed.length === 0) return [];
    const released = this.confirmed.filter((read) => read.index <= applied);
    if (released.length > 0) this.confirmed = this.confirmed.filter((read) => read.index > applied);
    return released;
  }

  /** Reads that failed since the last call. */
  takeDropped(): number[] {
    const dropped = this.dropped;
    this.dropped = [];
    return dropped;
  }
}
