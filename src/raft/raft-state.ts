/**
 * The state of one Raft server and what every role shares: fields (with their invariants), the
 * role transitions, quorum arithmetic, and read-only accessors. The leader's behaviour is in
 * raft-leader.ts, elections, followers and the Ready cycle in raft.ts; the three form one class,
 * `Raft`, layered by inheritance only to keep each file to one concern.
 */
import { assert } from "../assert.ts";
import { resolveOptions, type RaftOptions, type ResolvedRaftOptions } from "./options.ts";
import { Progress } from "./progress.ts";

/** A member other than this node, and the leader's view of its replication. */
export interface Peer {
  readonly id: NodeId;
  readonly progress: Progress;
}
import { RaftLog } from "./raft-log.ts";
import { ReadQueue } from "./read-queue.ts";
import {
  asIndex,
  asTerm,
  type Entry,
  type HardState,
  type Index,
  type Membership,
  type Message,
  type NodeId,
  type Role,
  type Term,
} from "./types.ts";

/** A snapshot of the core's state, for status commands, tests and checkers. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  readonly membership: Membership;
  readonly leadTransferee: NodeId | null;
  /** True once a member told this server that a committed change removed it (it no longer campaigns). */
  readonly removalLearned: boolean;
}

/** What the last `ready()` handed out, so that `advance()` knows what became durable and applied. */
export interface ReadyInFlight {
  readonly lastEntry: Entry | null;
  readonly snapshotIndex: Index | null;
  readonly hardState: HardState | null;
  readonly committedEntries: readonly Entry[];
}

/** The fields and shared behaviour of a Raft server; see `Raft`. */
export abstract class RaftState {
  readonly id: NodeId;
  protected readonly options: ResolvedRaftOptions;
  protected readonly log: RaftLog;

  /** Current term (Raft Figure 2); never decreases. */
  protected term: Term;
  /** The candidate voted for in `term`, or null (Raft Figure 2). */
  protected vote: NodeId | null;
  protected role: Role = "follower";
  /** The leader of `term` as far as this server knows. */
  protected lead: NodeId | null = null;
  /** The membership as of `log.applied`. */
  protected membership: Membership;

  /** Ticks since the last election timeout reset (or, on the leader, the last quorum check). */
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTicks = 0;
  /** Ticks since start: the leader's clock for leases. */
  protected ticks = 0;
  /** An election came due in the last catch-up batch and waits for the next tick (`Raft.catchUp`). */
  protected electionDeferred = false;
  /** True until one election timeout passed since start (see `voteGuardAfterStart`). */
  protected startGuard: boolean;

  /** The leader's view of every member, itself included; empty on other roles. */
  protected progress = new Map<NodeId, Progress>();
  /**
   * The other members' progress as an array, rebuilt after `progress` changes (`progressChanged`):
   * the loops run on every turn walk it, where walking the Map allocated an iterator and an entry
   * per member each time (4% of a single node's CPU at pipeline 16 in `commitNewsOwed` alone).
   */
  private peerList: readonly Peer[] | null = null;

  /** The members other than this node, with their progress (leader only). */
  protected peers(): readonly Peer[] {
    if (this.peerList === null) {
      const list: Peer[] = [];
      for (const [id, progress] of this.progress) if (id !== this.id) list.push({ id, progress });
      this.peerList = list;
    }
    return this.peerList;
  }

  /** Call after adding to `progress` or removing from it. */
  protected progressChanged(): void {
    this.peerList = null;
  }

  /** Votes received in the current (pre-)election. */
  protected votes = new Map<NodeId, boolean>();
  /** The member leadership is being handed to, or null. */
  protected leadTransferee: NodeId | null = null;
  /** Whether this leader sent TimeoutNow in its term: then its lease is void for good. */
  protected timeoutNowSent = false;
  /** Test bug `applyConfigTwice`: the config entry already handed out twice. */
  protected reappliedConfigIndex: Index = asIndex(0);
  /** Set when TimeoutNow arrived before a committed config change was applied. */
  protected campaignAfterApply = false;
  /** Set when a member's vote response showed that a committed change removed this server. */
  protected removalLearned = false;
  /** Set when this leader applied its own removal: it hands over and steps down. */
  protected removedLeader = false;
  /** The index of the latest config entry proposed; a new one waits until it is applied. */
  protected pendingConfigIndex: Index = asIndex(0);
  /** The index of this leader's first entry (its no-op); reads wait until it commits. */
  protected termStartIndex: Index = asIndex(0);
  /** Proposal batches not yet committed, as (last index, bytes), oldest first. */
  protected uncommittedBatches: { lastIndex: Index; bytes: number }[] = [];
  protected uncommittedBytes = 0;
  /** Appends to send at the next `ready()`: proposals and commit news are coalesced. */
  protected broadcastPending = false;

  /** Reads from request to release, and the heartbeat rounds that confirm them. */
  protected readonly reads = new ReadQueue();
  /** The latest heartbeat round this leader sent. */
  protected readRoundSent = 0;

  protected messages: Message[] = [];
  protected messagesAfterPersist: Message[] = [];
  /** The hard state last handed out to persist. */
  protected persistedHardState: HardState;
  protected inFlight: ReadyInFlight | null = null;

  constructor(options: RaftOptions) {
    this.options = resolveOptions(options);
    this.id = options.id;
    this.log = new RaftLog(options.storage);
    const hardState = options.storage.hardState();
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.persistedHardState = hardState;
    this.membership = options.storage.snapshotMetadata().membership;
    this.startGuard = this.options.voteGuardAfterStart;
    this.becomeFollower(this.term, null);
  }

  /** The current state, for status commands and checkers. */
  /** Whether this server is the leader now (what `status().role` says, without building it). */
  isLeader(): boolean {
    return this.role === "leader";
  }

  /** Whether a member told this server that a committed change removed it (`status().removalLearned`). */
  hasLearnedRemoval(): boolean {
    return this.removalLearned;
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      membership: this.membership,
      leadTransferee: this.leadTransferee,
      removalLearned: this.removalLearned,
    };
  }

  /** The term of the entry at `index`, or null if compacted or absent (for checkers). */
  termAt(index: Index): Term | null {
    return this.log.term(index);
  }

  /** Entries in `[low, high)` (for checkers and tests). */
  entriesBetween(low: Index, high: Index): Entry[] {
    return this.log.slice(low, high, Number.MAX_SAFE_INTEGER);
  }

  /** The leader's view of a follower (for tests). */
  progressOf(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** Invariants that hold between inputs; cheap enough to check on every Ready. */
  protected checkInvariants(): void {
    const lastIndex = this.log.lastIndex();
    if (!(this.log.applied <= this.log.committed)) assert(false, `applied ${this.log.applied} > commit ${this.log.committed}`);
    if (!(this.log.committed <= lastIndex)) assert(false, `commit ${this.log.committed} > last index ${lastIndex}`);
    assert(this.term >= this.persistedHardState.term, "the term never decreases");
    assert((this.role === "leader") === (this.lead === this.id), "a server leads exactly when it is its own leader");
    assert(this.role !== "candidate" || this.vote === this.id, "a candidate votes for itself");
    assert(this.role === "leader" || this.progress.size === 0, "only a leader tracks progress");
    if (this.role === "leader") {
      const self = this.progress.get(this.id);
      assert(self === undefined || self.match <= lastIndex, "the leader's own match is within its log");
      assert(this.uncommittedBytes >= 0, "uncommitted bytes are never negative");
    }
  }

  protected reset(term: Term): void {
    if (!(term >= this.term)) assert(false, `term must not decrease (${this.term} -> ${term})`);
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.campaignAfterApply = false;
    this.electionElapsed = 0;
    this.electionDeferred = false;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.options.electionTicks + this.options.random.nextInt(this.options.electionTicks);
    this.votes.clear();
    this.progress.clear();
    this.progressChanged();
    this.leadTransferee = null;
    this.timeoutNowSent = false;
    this.removedLeader = false;
    this.uncommittedBatches = [];
    this.uncommittedBytes = 0;
    this.broadcastPending = false;
    this.reads.dropUnconfirmed();
  }

  protected becomeFollower(term: Term, lead: NodeId | null): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  protected becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader does not pre-campaign");
    // Thesis §9.6: a pre-candidate changes neither its term nor its vote.
    this.votes.clear();
    this.lead = null;
    this.role = "preCandidate";
    this.electionElapsed = 0;
  }

  protected becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not campaign");
    this.reset(asTerm(this.term + 1));
    this.vote = this.id;
    this.role = "candidate";
  }

  protected addProgress(id: NodeId, next: Index): void {
    if (this.progress.has(id)) return;
    const progress = new Progress(next, this.options.inflightMessagesMax, this.options.inflightBytesMax);
    progress.recentActive = id === this.id;
    this.progress.set(id, progress);
    this.progressChanged();
  }

  protected hasUnappliedConfig(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    if (this.log.pendingSnapshot() !== null) return true;
    const entries = this.log.slice(asIndex(this.log.applied + 1), asIndex(this.log.committed + 1), Number.MAX_SAFE_INTEGER);
    return entries.some((entry) => entry.type === "config");
  }

  /** Whether this leader has committed an entry of its own term (its no-op). */
  protected committedInTerm(): boolean {
    return this.role === "leader" && this.termStartIndex > 0 && this.log.committed >= this.termStartIndex;
  }

  protected isVoter(id: NodeId): boolean {
    return this.membership.voters.includes(id);
  }

  protected voterCount(): number {
    return this.membership.voters.length;
  }

  protected quorum(): number {
    return Math.floor(this.voterCount() / 2) + 1;
  }

  protected hardState(): HardState {
    const previous = this.persistedHardState;
    if (previous.term === this.term && previous.vote === this.vote && previous.commit === this.log.committed) {
      return previous;
    }
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  protected sameHardState(a: HardState, b: HardState): boolean {
    return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
  }
}
