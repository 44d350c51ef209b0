/**
 * The Raft consensus algorithm as a pure, deterministic state machine (after etcd raft).
 *
 * Inputs: `tick()`, `step(message)`, `propose(data)`, `proposeConfigChange(change)`,
 * `readIndex(ctx)`, `transferLeadership(to)`, `campaign()`. Output: a `Ready` batch from `ready()`,
 * acknowledged with `advance()` once the driver has persisted, sent and applied it (the contract is
 * on `Ready` in types.ts and in docs/raft.md). No IO, no clock, no randomness but the generator
 * handed in: the network node and the simulator drive the very same code.
 *
 * Invariants, asserted where they can break: `applied <= commit <= lastIndex`; the term never
 * decreases; at most one vote per term; a leader never overwrites its own log; at most one
 * membership change is pending.
 */
import { assert, unreachable } from "../assert.ts";
import {
  applyConfigChange,
  decodeConfigChange,
  encodeConfigChange,
  isMember,
  type ConfigChange,
} from "./config-change.ts";
import { leaseTicks, resolveOptions, type RaftOptions, type ResolvedRaftOptions } from "./options.ts";
import { Progress } from "./progress.ts";
import { RaftLog } from "./raft-log.ts";
import { ReadQueue } from "./read-queue.ts";
import { entryBytes } from "./storage.ts";
import {
  asIndex,
  asTerm,
  type AppendMessage,
  type AppendResponseMessage,
  type Entry,
  type EntryType,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Index,
  type Membership,
  type Message,
  type NodeId,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMessage,
  type Term,
  type VoteMessage,
  type VoteResponseMessage,
} from "./types.ts";

/** The answer to a proposal: where the entries went, or why they were refused. */
export type ProposeResult =
  | { readonly ok: true; readonly term: Term; readonly firstIndex: Index; readonly lastIndex: Index }
  | {
      readonly ok: false;
      readonly reason: "notLeader" | "transferring" | "uncommittedLimit" | "configPending" | "invalidChange";
    };

/** The answer to a read request. */
export type ReadResult = { readonly ok: true } | { readonly ok: false; readonly reason: "notLeader" | "transferring" };

/** How a read is confirmed: a quorum round (ReadIndex, thesis §6.4) or the leader lease (§6.4.1). */
export type ReadMode = "quorum" | "lease";

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
}

/** What the last `ready()` handed out, so that `advance()` knows what became durable and applied. */
interface ReadyInFlight {
  readonly lastEntry: Entry | null;
  readonly snapshotIndex: Index | null;
  readonly hardState: HardState | null;
  readonly committedEntries: readonly Entry[];
}

const emptyData = new Uint8Array(0);

/** One Raft server's consensus state. */
export class Raft {
  readonly id: NodeId;
  private readonly options: ResolvedRaftOptions;
  private readonly log: RaftLog;

  /** Current term (Raft Figure 2); never decreases. */
  private term: Term;
  /** The candidate voted for in `term`, or null (Raft Figure 2). */
  private vote: NodeId | null;
  private role: Role = "follower";
  /** The leader of `term` as far as this server knows. */
  private lead: NodeId | null = null;
  /** The membership as of `log.applied`. */
  private membership: Membership;

  /** Ticks since the last election timeout reset (or, on the leader, the last quorum check). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  /** Ticks since start: the leader's clock for leases. */
  private ticks = 0;
  /** True until one election timeout passed since start (see `voteGuardAfterStart`). */
  private startGuard: boolean;

  /** The leader's view of every member, itself included; empty on other roles. */
  private progress = new Map<NodeId, Progress>();
  /** Votes received in the current (pre-)election. */
  private votes = new Map<NodeId, boolean>();
  /** The member leadership is being handed to, or null. */
  private leadTransferee: NodeId | null = null;
  /** Whether this leader sent TimeoutNow in its term: then its lease is void for good. */
  private timeoutNowSent = false;
  /** Test bug `applyConfigTwice`: the config entry already handed out twice. */
  private reappliedConfigIndex: Index = asIndex(0);
  /** Set when TimeoutNow arrived before a committed config change was applied. */
  private campaignAfterApply = false;
  /** Set when this leader applied its own removal: it hands over and steps down. */
  private removedLeader = false;
  /** The index of the latest config entry proposed; a new one waits until it is applied. */
  private pendingConfigIndex: Index = asIndex(0);
  /** The index of this leader's first entry (its no-op); reads wait until it commits. */
  private termStartIndex: Index = asIndex(0);
  /** Proposal batches not yet committed, as (last index, bytes), oldest first. */
  private uncommittedBatches: { lastIndex: Index; bytes: number }[] = [];
  private uncommittedBytes = 0;
  /** Appends to send at the next `ready()`: proposals and commit news are coalesced. */
  private broadcastPending = false;

  /** Reads from request to release, and the heartbeat rounds that confirm them. */
  private readonly reads = new ReadQueue();
  /** The latest heartbeat round this leader sent. */
  private readRoundSent = 0;

  private messages: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  /** The hard state last handed out to persist. */
  private persistedHardState: HardState;
  private inFlight: ReadyInFlight | null = null;

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

  // ---------------------------------------------------------------------------------------------
  // Inputs
  // ---------------------------------------------------------------------------------------------

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.ticks++;
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (as an election timeout would), if this server may. */
  campaign(): void {
    this.hup(false);
  }

  /** Proposes one or many entries of opaque data; on success they got consecutive indexes. */
  propose(data: Uint8Array | readonly Uint8Array[]): ProposeResult {
    const items = data instanceof Uint8Array ? [data] : data;
    assert(items.length > 0, "propose at least one entry");
    const refusal = this.proposalRefusal();
    if (refusal !== null) return { ok: false, reason: refusal };
    let bytes = 0;
    for (const item of items) bytes += item.byteLength;
    // Always admit one batch, however large, so that a big entry cannot wedge the leader.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.uncommittedBytesMax) {
      return { ok: false, reason: "uncommittedLimit" };
    }
    return this.appendProposal("normal", items, bytes);
  }

  /** Proposes a membership change (one server at a time; at most one pending). */
  proposeConfigChange(change: ConfigChange): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal !== null) return { ok: false, reason: refusal };
    if (this.pendingConfigIndex > this.log.applied) return { ok: false, reason: "configPending" };
    if (change.kind === "bootstrap" || applyConfigChange(this.membership, change) === null) {
      return { ok: false, reason: "invalidChange" };
    }
    const data = encodeConfigChange(change);
    const result = this.appendProposal("config", [data], data.byteLength);
    if (result.ok) this.pendingConfigIndex = result.lastIndex;
    return result;
  }

  /**
   * Requests a linearizable read tagged `ctx`. It is released in a later Ready's `readStates`
   * once confirmed and applied, or listed in `droppedReads` if this server loses leadership first.
   * Reads requested before one `ready()` share one round of heartbeats.
   */
  readIndex(ctx: number, mode: ReadMode = "quorum"): ReadResult {
    if (this.role !== "leader") return { ok: false, reason: "notLeader" };
    if (this.options.testBugs.readWithoutQuorum === true) {
      this.reads.confirm(ctx, this.log.committed);
      return { ok: true };
    }
    if (!this.committedInTerm()) {
      // Raft thesis §6.4 step 1: the leader's commit index is only known current once an entry
      // of its own term is committed.
      this.reads.awaitCommit(ctx);
      return { ok: true };
    }
    if ((mode === "lease" && this.leaseValid()) || (this.voterCount() === 1 && this.isVoter(this.id))) {
      this.reads.confirm(ctx, this.log.committed);
      return { ok: true };
    }
    this.reads.awaitRound(ctx);
    return { ok: true };
  }

  /** Hands leadership to `to` (Raft thesis §3.10). */
  transferLeadership(to: NodeId): boolean {
    if (this.role !== "leader" || to === this.id || !this.isVoter(to)) return false;
    this.startTransfer(to);
    return true;
  }

  /** Processes one message from a peer. */
  step(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} delivered to ${this.id}`);
    assert(message.from !== this.id, "a server never messages itself");
    if (message.term > this.term) {
      if (message.type === "vote" && !message.transfer && this.inLease()) {
        // Thesis §4.2.3 and §6.4.1: a server that heard from a leader within the minimum election
        // timeout ignores votes, so a removed or partitioned server cannot depose a live leader,
        // and so that leader leases hold.
        return;
      }
      const keepTerm =
        (message.type === "vote" && message.pre) ||
        (message.type === "voteResponse" && message.pre && !message.reject);
      if (!keepTerm) {
        const fromLeader = message.type === "append" || message.type === "heartbeat" || message.type === "snapshot";
        this.becomeFollower(message.term, fromLeader ? message.from : null);
      }
    } else if (message.term < this.term) {
      this.stepStale(message);
      return;
    }
    switch (message.type) {
      case "vote":
        this.handleVote(message);
        return;
      case "append":
      case "appendResponse":
      case "heartbeat":
      case "heartbeatResponse":
      case "voteResponse":
      case "snapshot":
      case "timeoutNow":
        break;
      default:
        unreachable(message);
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(message);
        return;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(message);
        return;
      case "follower":
        this.stepFollower(message);
        return;
      default:
        unreachable(this.role);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Ready / advance
  // ---------------------------------------------------------------------------------------------

  /** Whether `ready()` has anything to hand out. False while a Ready awaits `advance()`. */
  hasReady(): boolean {
    if (this.inFlight !== null) return false;
    if (this.broadcastPending || this.messages.length > 0 || this.messagesAfterPersist.length > 0) return true;
    if (this.reads.roundWanted() || this.reads.hasOutput(this.log.applied)) return true;
    if (this.log.unstableEntries().length > 0 || this.log.pendingSnapshot() !== null) return true;
    if (this.log.hasNextCommittedEntries()) return true;
    return !this.sameHardState(this.hardState(), this.persistedHardState);
  }

  /** Hands out the next batch of work; see `Ready` for what the driver must do with it. */
  ready(): Ready {
    assert(this.inFlight === null, "ready() again before advance()");
    this.checkInvariants();
    if (this.role === "leader") {
      if (this.broadcastPending) this.broadcastAppend();
      if (this.reads.roundWanted()) this.startReadRound();
    }
    this.broadcastPending = false;
    const hardState = this.hardState();
    const changed = !this.sameHardState(hardState, this.persistedHardState);
    const snapshot = this.log.pendingSnapshot();
    const entries = this.log.unstableEntries().slice();
    const committedEntries = this.log.nextCommittedEntries(this.options.applyBytesMax);
    const lastCommitted = committedEntries[committedEntries.length - 1];
    const appliedAfter = lastCommitted === undefined ? this.log.applied : lastCommitted.index;
    const readStates = this.reads.release(appliedAfter);
    const ready: Ready = {
      hardState: changed ? hardState : null,
      snapshot,
      entries,
      messages: this.messages,
      messagesAfterPersist: this.messagesAfterPersist,
      committedEntries,
      readStates,
      droppedReads: this.reads.takeDropped(),
    };
    this.messages = [];
    this.messagesAfterPersist = [];
    this.inFlight = {
      lastEntry: entries[entries.length - 1] ?? null,
      snapshotIndex: snapshot === null ? null : snapshot.metadata.index,
      hardState: changed ? hardState : null,
      committedEntries,
    };
    return ready;
  }

  /** The driver persisted, sent and applied the last Ready. */
  advance(): void {
    const done = this.inFlight;
    assert(done !== null, "advance() without ready()");
    this.inFlight = null;
    if (done.hardState !== null) this.persistedHardState = done.hardState;
    if (done.snapshotIndex !== null) this.log.stableSnapshotTo(done.snapshotIndex);
    if (done.lastEntry !== null) this.log.stableTo(done.lastEntry.index, done.lastEntry.term);
    const lastApplied = done.committedEntries[done.committedEntries.length - 1];
    if (lastApplied !== undefined && lastApplied.index > this.log.applied) {
      const from = this.log.applied;
      this.log.appliedTo(lastApplied.index);
      for (const entry of done.committedEntries) {
        if (entry.type !== "config" || entry.index <= from) continue;
        this.applyConfigEntry(entry);
        if (this.options.testBugs.applyConfigTwice === true && this.reappliedConfigIndex !== entry.index) {
          // Test bug: hand the config entry out to be applied a second time.
          this.reappliedConfigIndex = entry.index;
          this.log.applied = asIndex(entry.index - 1);
          break;
        }
      }
    }
    if (this.campaignAfterApply && !this.hasUnappliedConfig()) {
      this.campaignAfterApply = false;
      this.hup(true);
    }
    if (this.role === "leader") {
      const self = this.progress.get(this.id);
      // Thesis §10.2.1: the leader counts itself towards a quorum only for what it has persisted.
      if (self !== undefined && self.maybeUpdate(this.log.stableLastIndex())) this.maybeCommit();
      this.maybePromoteLearner();
    }
    this.checkInvariants();
  }

  /** Invariants that hold between inputs; cheap enough to check on every Ready. */
  private checkInvariants(): void {
    const lastIndex = this.log.lastIndex();
    assert(this.log.applied <= this.log.committed, `applied ${this.log.applied} > commit ${this.log.committed}`);
    assert(this.log.committed <= lastIndex, `commit ${this.log.committed} > last index ${lastIndex}`);
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

  /** The current state, for status commands and checkers. */
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

  /** Whether this leader may serve a read from its lease right now (thesis §6.4.1). */
  leaseValid(): boolean {
    if (this.role !== "leader" || !this.options.checkQuorum || this.timeoutNowSent) return false;
    if (this.leadTransferee !== null || !this.committedInTerm() || !this.isVoter(this.id)) return false;
    const stamps: number[] = [];
    for (const id of this.membership.voters) {
      if (id === this.id) stamps.push(this.ticks);
      else stamps.push(this.progress.get(id)?.leaseTick ?? -Infinity);
    }
    stamps.sort((a, b) => b - a);
    const quorumStamp = stamps[this.quorum() - 1];
    assert(quorumStamp !== undefined, "a quorum exists");
    return this.ticks - quorumStamp <= leaseTicks(this.options);
  }

  // ---------------------------------------------------------------------------------------------
  // Roles
  // ---------------------------------------------------------------------------------------------

  private reset(term: Term): void {
    assert(term >= this.term, `term must not decrease (${this.term} -> ${term})`);
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.campaignAfterApply = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.options.electionTicks + this.options.random.nextInt(this.options.electionTicks);
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = null;
    this.timeoutNowSent = false;
    this.removedLeader = false;
    this.uncommittedBatches = [];
    this.uncommittedBytes = 0;
    this.broadcastPending = false;
    this.reads.dropUnconfirmed();
  }

  private becomeFollower(term: Term, lead: NodeId | null): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader does not pre-campaign");
    // Thesis §9.6: a pre-candidate changes neither its term nor its vote.
    this.votes.clear();
    this.lead = null;
    this.role = "preCandidate";
    this.electionElapsed = 0;
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not campaign");
    this.reset(asTerm(this.term + 1));
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    const term = this.term;
    this.reset(term);
    this.role = "leader";
    this.lead = this.id;
    const next = asIndex(this.log.lastIndex() + 1);
    for (const id of [...this.membership.voters, ...this.membership.learners]) this.addProgress(id, next);
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.maybeUpdate(this.log.stableLastIndex());
      self.becomeReplicate();
    }
    // Raft §8: a new leader commits a no-op of its own term, which also commits every earlier
    // entry. Diego's fix for single-server changes: no config change before that no-op commits.
    const result = this.appendEntries("noop", [emptyData]);
    this.termStartIndex = result.firstIndex;
    this.pendingConfigIndex = result.lastIndex;
    this.broadcastAppend();
  }

  private addProgress(id: NodeId, next: Index): void {
    if (this.progress.has(id)) return;
    const progress = new Progress(next, this.options.inflightMessagesMax, this.options.inflightBytesMax);
    progress.recentActive = id === this.id;
    this.progress.set(id, progress);
  }

  // ---------------------------------------------------------------------------------------------
  // Elections
  // ---------------------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) this.startGuard = false;
    if (this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  /** Whether this server heard from a leader recently enough to refuse votes. */
  private inLease(): boolean {
    if (!this.options.checkQuorum) return false;
    return (this.lead !== null || this.startGuard) && this.electionElapsed < this.options.electionTicks;
  }

  /** Starts a (pre-)election if this server may. */
  private hup(transfer: boolean): void {
    if (this.role === "leader" || !this.isVoter(this.id)) return;
    // A committed but unapplied config change could make this server's view of the voters stale.
    if (this.hasUnappliedConfig()) return;
    if (this.options.preVote && !transfer) this.startElection("pre");
    else this.startElection(transfer ? "transfer" : "election");
  }

  private hasUnappliedConfig(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    if (this.log.pendingSnapshot() !== null) return true;
    const entries = this.log.slice(asIndex(this.log.applied + 1), asIndex(this.log.committed + 1), Number.MAX_SAFE_INTEGER);
    return entries.some((entry) => entry.type === "config");
  }

  private startElection(kind: "pre" | "election" | "transfer"): void {
    if (kind === "pre") this.becomePreCandidate();
    else this.becomeCandidate();
    const pre = kind === "pre";
    const voteTerm = pre ? asTerm(this.term + 1) : this.term;
    this.votes.set(this.id, true);
    if (this.tallyVotes() === "won") {
      if (pre) this.startElection("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      const request: VoteMessage = {
        type: "vote",
        from: this.id,
        to: id,
        term: voteTerm,
        pre,
        lastIndex,
        lastTerm,
        transfer: kind === "transfer",
      };
      // A vote request promises this server's own vote, which must be durable first.
      if (pre) this.messages.push(request);
      else this.messagesAfterPersist.push(request);
    }
  }

  private tallyVotes(): "won" | "lost" | "pending" {
    let granted = 0;
    let rejected = 0;
    for (const id of this.membership.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    const quorum = this.quorum();
    if (granted >= quorum) return "won";
    if (rejected > this.voterCount() - quorum) return "lost";
    return "pending";
  }

  private handleVote(message: VoteMessage): void {
    // Raft §5.2: one vote per term, first come first served; a pre-vote for a later term binds
    // nothing (thesis §9.6).
    const canVote =
      this.vote === message.from ||
      (this.vote === null && this.lead === null) ||
      (message.pre && message.term > this.term);
    const upToDate =
      this.options.testBugs.voteForStaleLog === true || this.log.isUpToDate(message.lastIndex, message.lastTerm);
    const grant = canVote && upToDate;
    const response: VoteResponseMessage = {
      type: "voteResponse",
      from: this.id,
      to: message.from,
      term: grant ? message.term : this.term,
      pre: message.pre,
      reject: !grant,
    };
    if (message.pre) {
      this.messages.push(response);
      return;
    }
    if (grant) {
      this.electionElapsed = 0;
      this.vote = message.from;
    }
    this.messagesAfterPersist.push(response);
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // Raft §5.2: a candidate that hears from a leader of its term becomes its follower.
        this.becomeFollower(message.term, message.from);
        this.stepFollower(message);
        return;
      case "voteResponse": {
        if (message.pre !== (this.role === "preCandidate")) return;
        if (!this.votes.has(message.from)) this.votes.set(message.from, !message.reject);
        const result = this.tallyVotes();
        if (result === "won") {
          if (this.role === "preCandidate") this.startElection("election");
          else this.becomeLeader();
        } else if (result === "lost") {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      case "appendResponse":
      case "heartbeatResponse":
      case "timeoutNow":
      case "vote":
        return;
      default:
        unreachable(message);
    }
  }

  /** Answers a message from an older term so that a deposed leader or candidate learns the news. */
  private stepStale(message: Message): void {
    if ((this.options.checkQuorum || this.options.preVote) && (message.type === "append" || message.type === "heartbeat")) {
      this.messages.push({
        type: "appendResponse",
        from: this.id,
        to: message.from,
        term: this.term,
        reject: true,
        index: asIndex(0),
        hintIndex: asIndex(0),
        hintTerm: asTerm(0),
      });
    } else if (message.type === "vote" && message.pre) {
      this.messages.push({
        type: "voteResponse",
        from: this.id,
        to: message.from,
        term: this.term,
        pre: true,
        reject: true,
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Followers
  // ---------------------------------------------------------------------------------------------

  private stepFollower(message: Message): void {
    switch (message.type) {
      case "append":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleHeartbeat(message);
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleSnapshot(message);
        return;
      case "timeoutNow":
        // Thesis §3.10: the leader asks this server to campaign at once, skipping pre-vote. If a
        // committed config change is still to be applied, campaign right after applying it.
        if (this.hasUnappliedConfig()) this.campaignAfterApply = true;
        else this.hup(true);
        return;
      case "appendResponse":
      case "heartbeatResponse":
      case "voteResponse":
      case "vote":
        return;
      default:
        unreachable(message);
    }
  }

  private respondAppend(to: NodeId, reject: boolean, index: Index, hintIndex: Index, hintTerm: Term): void {
    const response: AppendResponseMessage = {
      type: "appendResponse",
      from: this.id,
      to,
      term: this.term,
      reject,
      index,
      hintIndex,
      hintTerm,
    };
    // An acknowledgement promises the entries survive a crash: it waits for persistence.
    if (this.options.testBugs.ackBeforePersist === true) this.messages.push(response);
    else this.messagesAfterPersist.push(response);
  }

  private handleAppend(message: AppendMessage): void {
    const zeroTerm = asTerm(0);
    if (message.prevIndex < this.log.committed) {
      this.respondAppend(message.from, false, this.log.committed, asIndex(0), zeroTerm);
      return;
    }
    const lastNew = this.log.maybeAppend(message.prevIndex, message.prevTerm, message.commit, message.entries);
    if (lastNew !== null) {
      this.respondAppend(message.from, false, lastNew, asIndex(0), zeroTerm);
      return;
    }
    // Raft §5.3: reject, with a hint that lets the leader skip a whole term per round trip.
    const hintIndex = this.log.findConflictByTerm(
      asIndex(Math.min(message.prevIndex, this.log.lastIndex())),
      message.prevTerm,
    );
    const hintTerm = this.log.term(hintIndex) ?? zeroTerm;
    this.respondAppend(message.from, true, message.prevIndex, hintIndex, hintTerm);
  }

  private handleHeartbeat(message: HeartbeatMessage): void {
    // The leader sends at most the match index it knows, so this never passes the log unless this
    // server lost entries it acknowledged (its disk lied, or it acknowledged before persisting):
    // then commitTo's assertion stops it rather than let it apply a log that may have diverged.
    this.log.commitTo(message.commit);
    const response: HeartbeatResponseMessage = {
      type: "heartbeatResponse",
      from: this.id,
      to: message.from,
      term: this.term,
      round: message.round,
      sentIndex: message.sentIndex,
      holdsSent: this.log.matchTerm(message.sentIndex, message.sentTerm),
    };
    this.messages.push(response);
  }

  private handleSnapshot(message: SnapshotMessage): void {
    const metadata = message.snapshot.metadata;
    if (metadata.index <= this.log.committed) {
      this.respondAppend(message.from, false, this.log.committed, asIndex(0), asTerm(0));
      return;
    }
    if (this.log.matchTerm(metadata.index, metadata.term)) {
      // The log already holds the snapshot's last entry: keep the log, just learn the commit.
      this.log.commitTo(metadata.index);
      this.respondAppend(message.from, false, this.log.committed, asIndex(0), asTerm(0));
      return;
    }
    this.log.restore(message.snapshot);
    this.membership = metadata.membership;
    this.respondAppend(message.from, false, this.log.lastIndex(), asIndex(0), asTerm(0));
  }

  // ---------------------------------------------------------------------------------------------
  // Leaders
  // ---------------------------------------------------------------------------------------------

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0;
      // Thesis §6.2: a leader that has not heard from a quorum in an election timeout steps down.
      if (this.options.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      for (const [id, progress] of this.progress) progress.recentActive = id === this.id;
      if (this.removedLeader) {
        // The hand-over had an election timeout to finish; a removed leader steps down anyway.
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that did not finish within an election timeout is aborted (thesis §3.10).
      this.leadTransferee = null;
    }
    this.tickProgress();
    this.maybePromoteLearner();
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** Recovers followers whose appends or snapshot were lost without an answer. */
  private tickProgress(): void {
    const lastIndex = this.log.lastIndex();
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      if (progress.state === "snapshot") {
        progress.snapshotTicks++;
        if (progress.snapshotTicks >= 2 * this.options.electionTicks) progress.becomeProbe();
      } else if (progress.state === "replicate" && progress.match < lastIndex && progress.inflights.count > 0) {
        progress.stalledTicks++;
        if (progress.stalledTicks >= this.options.electionTicks) {
          progress.becomeProbe();
          this.sendAppends(id);
        }
      }
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) {
      if (id === this.id || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case "appendResponse":
        this.handleAppendResponse(message);
        return;
      case "heartbeatResponse":
        this.handleHeartbeatResponse(message);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        assert(false, `two leaders in term ${this.term}: ${this.id} and ${message.from}`);
        return;
      case "voteResponse":
      case "timeoutNow":
      case "vote":
        return;
      default:
        unreachable(message);
    }
  }

  private handleAppendResponse(message: AppendResponseMessage): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    if (message.reject) {
      let hint = message.hintIndex;
      if (message.hintTerm > 0) hint = this.log.findConflictByTerm(message.hintIndex, message.hintTerm);
      if (progress.maybeDecreaseTo(message.index, hint)) {
        if (progress.state === "replicate") progress.becomeProbe();
        this.sendAppends(message.from);
      }
      return;
    }
    if (!progress.maybeUpdate(message.index)) {
      if (progress.state === "replicate") progress.inflights.freeTo(message.index);
      return;
    }
    switch (progress.state) {
      case "probe":
        progress.becomeReplicate();
        break;
      case "snapshot":
        if (progress.match + 1 >= this.log.firstIndex()) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case "replicate":
        progress.inflights.freeTo(message.index);
        break;
      default:
        unreachable(progress.state);
    }
    // Commit news travels with the next appends, coalesced in ready().
    this.maybeCommit();
    if (progress.next <= this.log.lastIndex()) this.sendAppends(message.from, false);
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(message.from);
      return;
    }
    if (this.membership.learners.includes(message.from)) this.maybePromoteLearner();
  }

  private handleHeartbeatResponse(message: HeartbeatResponseMessage): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    progress.probeSent = false;
    if (message.round > progress.readRound) {
      progress.readRound = message.round;
      const sent = this.reads.sentTick(message.round);
      if (sent !== undefined && sent > progress.leaseTick) progress.leaseTick = sent;
    }
    if (progress.state === "replicate" && !message.holdsSent && message.sentIndex > progress.match) {
      // Appends sent before this heartbeat never arrived (the transport is FIFO; in a network
      // that reorders this may be early, which costs a resend but nothing else).
      progress.becomeProbe();
    }
    if (progress.match < this.log.lastIndex()) this.sendAppends(message.from, progress.state !== "replicate");
    this.confirmReadRounds();
  }

  /** Raft §5.3, §5.4.2: commit the highest index a quorum holds, if it is of the current term. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.membership.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[this.quorum() - 1];
    assert(quorumIndex !== undefined, "a quorum exists");
    const index = asIndex(quorumIndex);
    if (index <= this.log.committed) return false;
    let committed: boolean;
    if (this.options.testBugs.commitOldTermByCounting === true) {
      this.log.commitTo(index);
      committed = true;
    } else {
      committed = this.log.maybeCommit(index, this.term);
    }
    if (!committed) return false;
    this.onCommit();
    return true;
  }

  private onCommit(): void {
    this.broadcastPending = true;
    const committed = this.log.committed;
    while (this.uncommittedBatches.length > 0 && this.uncommittedBatches[0]!.lastIndex <= committed) {
      this.uncommittedBytes -= this.uncommittedBatches.shift()!.bytes;
    }
    if (this.uncommittedBatches.length === 0) this.uncommittedBytes = 0;
    if (this.committedInTerm()) {
      for (const ctx of this.reads.takeAwaitingCommit()) this.readIndex(ctx);
    }
  }

  /** Whether this leader has committed an entry of its own term (its no-op). */
  private committedInTerm(): boolean {
    return this.role === "leader" && this.termStartIndex > 0 && this.log.committed >= this.termStartIndex;
  }

  private proposalRefusal(): "notLeader" | "transferring" | null {
    if (this.role !== "leader" || this.removedLeader) return "notLeader";
    if (this.leadTransferee !== null) return "transferring";
    return null;
  }

  private appendProposal(type: EntryType, items: readonly Uint8Array[], bytes: number): ProposeResult {
    const result = this.appendEntries(type, items);
    this.uncommittedBatches.push({ lastIndex: result.lastIndex, bytes });
    this.uncommittedBytes += bytes;
    this.broadcastPending = true;
    return { ok: true, term: this.term, firstIndex: result.firstIndex, lastIndex: result.lastIndex };
  }

  private appendEntries(type: EntryType, items: readonly Uint8Array[]): { firstIndex: Index; lastIndex: Index } {
    const first = this.log.lastIndex() + 1;
    const term = this.term;
    const entries: Entry[] = new Array<Entry>(items.length);
    for (let position = 0; position < items.length; position++) {
      entries[position] = { term, index: asIndex(first + position), type, data: items[position]! };
    }
    const lastIndex = this.log.append(entries);
    return { firstIndex: asIndex(first), lastIndex };
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppends(id);
    }
  }

  /** Sends as many appends to `to` as flow control allows (at least one, possibly empty). */
  private sendAppends(to: NodeId, sendIfEmpty = true): void {
    const progress = this.progress.get(to);
    if (progress === undefined) return;
    if (!this.sendAppend(to, progress, sendIfEmpty)) return;
    while (progress.state === "replicate" && !progress.isPaused() && progress.next <= this.log.lastIndex()) {
      if (!this.sendAppend(to, progress, false)) return;
    }
  }

  private sendAppend(to: NodeId, progress: Progress, sendIfEmpty: boolean): boolean {
    if (progress.isPaused()) return false;
    const prevIndex = asIndex(progress.next - 1);
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === null) return this.sendSnapshot(to, progress);
    const lastIndex = this.log.lastIndex();
    const entries =
      progress.next <= lastIndex ? this.log.slice(progress.next, asIndex(lastIndex + 1), this.options.messageBytesMax) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    const last = entries[entries.length - 1];
    this.messages.push({
      type: "append",
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    progress.sentEntries(last === undefined ? prevIndex : last.index, entries.length, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId, progress: Progress): boolean {
    if (!progress.recentActive) return false;
    const snapshot: Snapshot = this.log.storage.snapshot();
    assert(snapshot.metadata.index >= this.log.firstIndex() - 1, "the snapshot covers the compacted log");
    progress.becomeSnapshot(snapshot.metadata.index);
    this.messages.push({ type: "snapshot", from: this.id, to, term: this.term, snapshot });
    return true;
  }

  private broadcastHeartbeat(): void {
    const round = this.nextRound();
    this.readRoundSent = round;
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      const sentIndex = asIndex(progress.next - 1);
      this.messages.push({
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        commit: asIndex(Math.min(progress.match, this.log.committed)),
        round,
        sentIndex,
        sentTerm: this.log.term(sentIndex) ?? asTerm(0),
      });
    }
  }

  private nextRound(): number {
    // Rounds older than two election timeouts can no longer extend a lease.
    return this.reads.nextRound(this.ticks, this.ticks - 2 * this.options.electionTicks);
  }

  /** Thesis §6.4: record the commit index, then confirm leadership with one heartbeat round. */
  private startReadRound(): void {
    this.broadcastHeartbeat();
    this.reads.openRound(this.readRoundSent, this.log.committed);
    this.confirmReadRounds();
  }

  private confirmReadRounds(): void {
    this.reads.confirmRounds((round) => {
      let acks = 0;
      for (const id of this.membership.voters) {
        if (id === this.id || (this.progress.get(id)?.readRound ?? 0) >= round) acks++;
      }
      return acks >= this.quorum();
    });
  }

  private startTransfer(to: NodeId): void {
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const progress = this.progress.get(to);
    assert(progress !== undefined, "the transferee is a member");
    if (progress.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppends(to);
  }

  private sendTimeoutNow(to: NodeId): void {
    // The transferee's election may happen any time after this message leaves, even after the
    // transfer is aborted, and voters grant it inside their lease: this term's lease is over.
    this.timeoutNowSent = true;
    this.messages.push({ type: "timeoutNow", from: this.id, to, term: this.term });
    // A removed leader's job is done once it handed over; it must not linger as leader.
    if (this.removedLeader) this.becomeFollower(this.term, null);
  }

  private maybePromoteLearner(): void {
    if (!this.options.autoPromote || this.role !== "leader" || this.removedLeader) return;
    if (this.pendingConfigIndex > this.log.applied || this.leadTransferee !== null) return;
    for (const id of this.membership.learners) {
      const progress = this.progress.get(id);
      // Thesis §4.2.1: promote a learner only once it caught up, so it cannot stall commits.
      if (progress !== undefined && progress.recentActive && progress.match >= this.log.committed) {
        this.proposeConfigChange({ kind: "promote", node: id });
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Membership
  // ---------------------------------------------------------------------------------------------

  private applyConfigEntry(entry: Entry): void {
    const change = decodeConfigChange(entry.data);
    const next = applyConfigChange(this.membership, change);
    if (next === null) return;
    this.membership = next;
    if (this.role !== "leader") return;
    const nextIndex = asIndex(this.log.lastIndex() + 1);
    for (const id of [...next.voters, ...next.learners]) {
      if (this.progress.has(id)) continue;
      this.addProgress(id, nextIndex);
      // Start probing a new member at once rather than at the next heartbeat.
      this.sendAppends(id);
    }
    for (const id of [...this.progress.keys()]) {
      if (id !== this.id && !isMember(next, id)) this.progress.delete(id);
    }
    if (this.leadTransferee !== null && !this.isVoter(this.leadTransferee)) this.leadTransferee = null;
    if (!this.isVoter(this.id) && !this.removedLeader) {
      // Thesis §4.2.2: a removed leader hands over to the most up-to-date voter and steps down.
      this.removedLeader = true;
      let best: NodeId | null = null;
      let bestMatch = -1;
      for (const id of next.voters) {
        const match = this.progress.get(id)?.match ?? 0;
        if (match > bestMatch) {
          best = id;
          bestMatch = match;
        }
      }
      if (best !== null) this.startTransfer(best);
      if (this.role !== "leader") return;
    }
    this.maybeCommit();
    this.confirmReadRounds();
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  private isVoter(id: NodeId): boolean {
    return this.membership.voters.includes(id);
  }

  private voterCount(): number {
    return this.membership.voters.length;
  }

  private quorum(): number {
    return Math.floor(this.voterCount() / 2) + 1;
  }

  private hardState(): HardState {
    const previous = this.persistedHardState;
    if (previous.term === this.term && previous.vote === this.vote && previous.commit === this.log.committed) {
      return previous;
    }
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private sameHardState(a: HardState, b: HardState): boolean {
    return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
  }
}
