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
 *
 * One class in three files: `RaftState` (raft-state.ts) holds the fields and role transitions,
 * `RaftLeader` (raft-leader.ts) adds the leader's work, and `Raft` (here) adds elections, the
 * follower's side and the Ready cycle.
 */
import { assert, unreachable } from "../assert.ts";
import {
  asIndex,
  asTerm,
  type AppendMessage,
  type AppendResponseMessage,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Index,
  isLeaderMessage,
  type Message,
  type NodeId,
  type Ready,
  type SnapshotMessage,
  type Term,
  type VoteMessage,
  type VoteResponseMessage,
} from "./types.ts";
import { isMember } from "./config-change.ts";
import { RaftLeader } from "./raft-leader.ts";

export type { ProposeResult, ReadMode, ReadResult } from "./raft-leader.ts";
export type { RaftStatus } from "./raft-state.ts";

/**
 * One Raft server's consensus state: elections (Raft §5.2, pre-vote thesis §9.6), the follower's
 * side of replication and snapshots (§5.3, §7), and the Ready cycle. The leader's side is in
 * `RaftLeader`, the shared state in `RaftState`.
 */
export class Raft extends RaftLeader {
  /**
   * One tick of the clock. `late`: one of several delivered at once after the loop stood still
   * (see `catchUp`), before the messages that arrived meanwhile were read: a leader does not step
   * down for want of answers on such a tick, once (the next tick judges).
   */
  tick(late = false): void {
    this.ticks++;
    if (this.role === "leader") this.tickLeader(late);
    else this.tickElection();
    this.electionDeferred = false;
  }

  /**
   * `count` ticks at once, the time a loop that stood still missed, before it reads the messages
   * that arrived meanwhile. A follower whose election comes due among them waits for the next tick
   * (it would otherwise depose a live leader whose heartbeats wait unread, as both followers of a
   * leader may at once when each stood still storing the same large entry); if the next tick is
   * part of such a batch again, the election starts there.
   */
  catchUp(count: number): void {
    if (this.role === "leader") {
      for (let i = 0; i < count; i++) this.tick(true);
      return;
    }
    const mayDefer = !this.electionDeferred;
    this.electionDeferred = false;
    for (let i = 0; i < count; i++) {
      this.ticks++;
      if (mayDefer && this.electionElapsed + 1 >= this.randomizedElectionTicks) {
        // The rest of the batch is not counted: the leader may have spoken within it.
        this.electionDeferred = true;
        continue;
      }
      this.tickElection();
    }
  }

  /*
   * A link can show its peer alive though no whole message came. A large entry takes a link for
   * long (a 70 MB one took up to a second on a loaded machine), and the messages behind it wait:
   * with only whole messages to go by, both followers timed out at once and granted each other
   * their pre-votes, or the leader, hearing no answers, stepped down (check-quorum), while it was
   * sending to them all along.
   */

  /**
   * Bytes of a frame from `id` are arriving. On a follower, from its leader: its election timer
   * starts again, as a message would restart it; returns whether it did.
   */
  heardFrom(id: NodeId): boolean {
    if (this.role !== "follower" || this.lead !== id) return false;
    this.heardFromLeader(id);
    return true;
  }

  /**
   * `id` takes more of a frame to it that did not fit its socket at once. On a leader: the follower
   * counts as active for check-quorum (thesis §6.2), not for leases, which rest on answers, and its
   * appends in flight are not sent again as lost (they were, an election timeout after they left:
   * two 24 MB entries sent over links of 12 MB/s crossed them 203 MB in all, not 96 MB).
   */
  peerReading(id: NodeId): void {
    if (this.role === "leader") this.progress.get(id)?.reading();
  }

  /** A follower heard from its leader `from`: its election timer starts again. */
  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.electionDeferred = false;
    this.lead = from;
  }

  /** Starts an election now (as an election timeout would), if this server may. */
  campaign(): void {
    this.hup(false);
  }

  /** Processes one message from a peer. */
  step(message: Message): void {
    if (!(message.to === this.id)) assert(false, `message for ${message.to} delivered to ${this.id}`);
    assert(message.from !== this.id, "a server never messages itself");
    if (message.type === "voteResponse" && message.notMemberAt !== undefined && this.learnRemoval(message.notMemberAt)) return;
    if (message.term > this.term) {
      if (message.type === "vote" && !message.transfer && this.inLease()) {
        // Thesis §4.2.3 and §6.4.1: a server that heard from a leader within the minimum election
        // timeout ignores votes, so a removed or partitioned server cannot depose a live leader,
        // and so that leader leases hold. A server that is no longer a member is told so.
        if (this.notMemberAt(message.from) !== undefined) this.messages.push(this.voteResponse(message, this.term, true));
        return;
      }
      const keepTerm =
        (message.type === "vote" && message.pre) ||
        (message.type === "voteResponse" && message.pre && !message.reject);
      if (!keepTerm) {
        this.becomeFollower(message.term, isLeaderMessage(message) ? message.from : null);
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

  protected tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) this.startGuard = false;
    // Starting an election resets the count. A server that may not campaign (a learner, one
    // with a config change to apply) keeps counting: it must not look as if it had just heard
    // from a leader, or it would refuse votes to the servers that can end the election.
    if (this.electionElapsed < this.randomizedElectionTicks) return;
    this.hup(false);
    // A learner cannot campaign, so it never asks the voters anything: once a period that its
    // leader is silent, it asks them for a pre-vote that it does not count, so that a learner
    // whose removal committed without it hearing so is told (`notMemberAt`, see `learnRemoval`).
    const silent = this.electionElapsed - this.randomizedElectionTicks;
    if (silent % this.options.electionTicks === 0 && this.membership.learners.includes(this.id) && !this.removalLearned) {
      this.sendVoteRequests("pre");
    }
  }

  /** Whether this server heard from a leader recently enough to refuse votes. */
  protected inLease(): boolean {
    if (!this.options.checkQuorum) return false;
    return (this.lead !== null || this.startGuard) && this.electionElapsed < this.options.electionTicks;
  }

  /** Starts a (pre-)election if this server may. */
  protected hup(transfer: boolean): void {
    if (this.role === "leader" || !this.isVoter(this.id) || this.removalLearned) return;
    // A committed but unapplied config change could make this server's view of the voters stale.
    if (this.hasUnappliedConfig()) return;
    if (this.options.preVote && !transfer) this.startElection("pre");
    else this.startElection(transfer ? "transfer" : "election");
  }

  protected startElection(kind: "pre" | "election" | "transfer"): void {
    if (kind === "pre") this.becomePreCandidate();
    else this.becomeCandidate();
    this.votes.set(this.id, true);
    if (this.tallyVotes() === "won") {
      if (kind === "pre") this.startElection("election");
      else this.becomeLeader();
      return;
    }
    this.sendVoteRequests(kind);
  }

  /** Asks every other voter for its (pre-)vote in the election `kind`. */
  protected sendVoteRequests(kind: "pre" | "election" | "transfer"): void {
    const pre = kind === "pre";
    const voteTerm = pre ? asTerm(this.term + 1) : this.term;
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

  protected tallyVotes(): "won" | "lost" | "pending" {
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

  protected handleVote(message: VoteMessage): void {
    // Raft §5.2: one vote per term, first come first served; a pre-vote for a later term binds
    // nothing (thesis §9.6).
    const canVote =
      this.vote === message.from ||
      (this.vote === null && this.lead === null) ||
      (message.pre && message.term > this.term);
    const upToDate =
      this.options.testBugs.voteForStaleLog === true || this.log.isUpToDate(message.lastIndex, message.lastTerm);
    const grant = canVote && upToDate;
    const response = this.voteResponse(message, grant ? message.term : this.term, !grant);
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

  protected stepCandidate(message: Message): void {
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
  protected stepStale(message: Message): void {
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
    } else if (message.type === "vote" && (message.pre || this.notMemberAt(message.from) !== undefined)) {
      this.messages.push(this.voteResponse(message, this.term, true));
    }
  }

  /** The answer to `request`, telling a candidate that is no longer a member so. */
  protected voteResponse(request: VoteMessage, term: Term, reject: boolean): VoteResponseMessage {
    const response: VoteResponseMessage = { type: "voteResponse", from: this.id, to: request.from, term, pre: request.pre, reject };
    const notMemberAt = this.notMemberAt(request.from);
    return notMemberAt === undefined ? response : { ...response, notMemberAt };
  }

  /** This server's applied index if `id` is not in the membership applied then (and it has one). */
  protected notMemberAt(id: NodeId): Index | undefined {
    if (this.membership.voters.length === 0 || isMember(this.membership, id)) return undefined;
    return this.log.applied;
  }

  /**
   * A member answered a vote request with `notMemberAt`: its membership as of that applied index
   * does not hold this server. If this server's own membership, as of an applied index no later,
   * holds it, a committed change in between removed it (every server applies the same committed
   * log, so the membership at an index is the same everywhere). Raft leaves a removed server to
   * time out and campaign for ever once the leader stopped sending to it, which happens whenever
   * the commit of its removal did not reach it; this is how it finds out instead. Returns whether
   * this server now knows it was removed (it then stops campaigning).
   */
  protected learnRemoval(notMemberAt: Index): boolean {
    if (this.removalLearned) return true;
    if (!isMember(this.membership, this.id) || notMemberAt < this.log.applied) return false;
    this.removalLearned = true;
    if (this.role !== "follower") this.becomeFollower(this.term, null);
    return true;
  }

  protected stepFollower(message: Message): void {
    switch (message.type) {
      case "append":
        this.heardFromLeader(message.from);
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.heardFromLeader(message.from);
        this.handleHeartbeat(message);
        return;
      case "snapshot":
        this.heardFromLeader(message.from);
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

  protected respondAppend(to: NodeId, reject: boolean, index: Index, hintIndex: Index, hintTerm: Term): void {
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

  protected handleAppend(message: AppendMessage): void {
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

  protected handleHeartbeat(message: HeartbeatMessage): void {
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

  protected handleSnapshot(message: SnapshotMessage): void {
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
}
