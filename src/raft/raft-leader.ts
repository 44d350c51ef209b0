/**
 * What a Raft leader does (Raft §5.3, §5.4.2, §8; thesis §3.10, §4, §6.2, §6.4): accept
 * proposals, replicate them with flow control, commit by counting current-term entries, confirm
 * reads, hand over leadership, and change the membership one server at a time.
 */
import { assert, unreachable } from "../assert.ts";
import {
  applyConfigChange,
  decodeConfigChange,
  encodeConfigChange,
  isMember,
  type ConfigChange,
} from "./config-change.ts";
import { leaseTicks } from "./options.ts";
import { Progress } from "./progress.ts";
import { entryBytes } from "./storage.ts";
import {
  asIndex,
  asTerm,
  type AppendResponseMessage,
  type Entry,
  type EntryType,
  type HeartbeatResponseMessage,
  type Index,
  type Message,
  type NodeId,
  type Snapshot,
  type Term,
} from "./types.ts";
import { RaftState } from "./raft-state.ts";

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

const emptyData = new Uint8Array(0);
/** A probe append is resent on a heartbeat's answer no sooner than a tick after it went... */
const probeResendTicksMin = 1;
/** ...and a tick later for every megabyte it carried (up to an election timeout). */
const probeResendBytesPerTick = 1024 * 1024;

/** The leader's half of `Raft`. */
export abstract class RaftLeader extends RaftState {
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

  /**
   * The voter other than this leader best placed to take over from it (heard from within the
   * election timeout, the furthest caught up), or null (not the leader, or no such voter).
   */
  handOverTarget(): NodeId | null {
    if (this.role !== "leader") return null;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of this.membership.voters) {
      const progress = this.progress.get(id);
      if (id === this.id || progress === undefined || !progress.recentActive || progress.match <= bestMatch) continue;
      best = id;
      bestMatch = progress.match;
    }
    return best;
  }

  /**
   * How many members other than this leader (voters and learners) hold the log up to `index`, as
   * far as this leader knows from their acknowledgements (WAIT); null when this node is not the leader.
   */
  replicasHolding(index: Index): number | null {
    if (this.role !== "leader") return null;
    let count = 0;
    for (const [id, progress] of this.progress) if (id !== this.id && progress.match >= index) count++;
    return count;
  }

  /** Whether this leader may serve a read from its lease right now (thesis §6.4.1). */
  leaseValid(): boolean {
    return this.leaseTicksLeft() >= 0;
  }

  /**
   * How many more ticks this leader's lease holds (0: it holds now but not after the next tick),
   * or -1 when it may not serve reads from a lease now. The lease rests on the heartbeat round a
   * quorum acknowledged most recently (thesis §6.4.1).
   */
  leaseTicksLeft(): number {
    if (this.role !== "leader" || !this.options.checkQuorum || this.timeoutNowSent) return -1;
    if (this.leadTransferee !== null || !this.committedInTerm() || !this.isVoter(this.id)) return -1;
    const stamps: number[] = [];
    for (const id of this.membership.voters) {
      if (id === this.id) stamps.push(this.ticks);
      else stamps.push(this.progress.get(id)?.leaseTick ?? -Infinity);
    }
    stamps.sort((a, b) => b - a);
    const quorumStamp = stamps[this.quorum() - 1];
    assert(quorumStamp !== undefined, "a quorum exists");
    const left = leaseTicks(this.options) - (this.ticks - quorumStamp);
    return left >= 0 ? left : -1;
  }


  protected becomeLeader(): void {
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

  protected tickLeader(late: boolean): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) {
      // Thesis §6.2: a leader that has not heard from a quorum in an election timeout steps down.
      if (this.options.checkQuorum && !this.quorumActive()) {
        // A late tick comes before the answers that arrived while the loop stood still were read:
        // judged on the next tick on time, or after another election timeout of late ones.
        if (late && this.electionElapsed < 2 * this.options.electionTicks) return this.tickLeaderRest();
        this.electionElapsed = 0;
        this.becomeFollower(this.term, null);
        return;
      }
      this.electionElapsed = 0;
      for (const [id, progress] of this.progress) progress.recentActive = id === this.id;
      if (this.removedLeader) {
        // The hand-over had an election timeout to finish; a removed leader steps down anyway.
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that did not finish within an election timeout is aborted (thesis §3.10).
      this.leadTransferee = null;
    }
    this.tickLeaderRest();
  }

  /** What a leader does on every tick: recover followers, promote learners, heartbeats. */
  private tickLeaderRest(): void {
    this.tickProgress();
    this.maybePromoteLearner();
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** Recovers followers whose appends or snapshot were lost without an answer. */
  protected tickProgress(): void {
    const lastIndex = this.log.lastIndex();
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      if (progress.state === "snapshot") {
        progress.snapshotTicks++;
        if (progress.snapshotTicks >= 2 * this.options.electionTicks) progress.becomeProbe();
      } else if (progress.state === "replicate" && progress.match < lastIndex && progress.inflights.count > 0) {
        progress.stalledTicks++;
        // As for a probe: not before the follower had time to take in what is in flight, a tick a
        // megabyte (24 MB entries sent over links of 12 MB/s were sent again while the sockets'
        // buffers, which show no progress, still held their last megabytes).
        const wait = Math.max(this.options.electionTicks, Math.ceil(progress.inflights.bytes / probeResendBytesPerTick));
        if (progress.stalledTicks >= wait) {
          progress.becomeProbe();
          this.sendAppends(id);
        }
      }
    }
  }

  protected quorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) {
      if (id === this.id || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }

  protected stepLeader(message: Message): void {
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

  protected handleAppendResponse(message: AppendResponseMessage): void {
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
    // Commit news travels with the next appends (see `sendCommitNews`).
    this.maybeCommit();
    if (progress.next <= this.log.lastIndex()) this.sendAppends(message.from, false);
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(message.from);
      return;
    }
    if (this.membership.learners.includes(message.from)) this.maybePromoteLearner();
  }

  protected handleHeartbeatResponse(message: HeartbeatResponseMessage): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    progress.heartbeatAnswered(this.ticks, probeResendTicksMin, this.options.electionTicks, probeResendBytesPerTick);
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
  protected maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.membership.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[this.quorum() - 1];
    assert(quorumIndex !== undefined, "a quorum exists");
    const index = asIndex(quorumIndex);
    const before = this.log.committed;
    if (index <= before) return false;
    let committed: boolean;
    if (this.options.testBugs.commitOldTermByCounting === true) {
      this.log.commitTo(index);
      committed = true;
    } else {
      committed = this.log.maybeCommit(index, this.term);
    }
    if (!committed) return false;
    this.onCommit(before);
    return true;
  }

  /**
   * After the commit index moved from `before`. Members are told at once only when a membership
   * change (or the term's first entry) committed: a member must not wait to apply a change to
   * the cluster, and a removed one must hear of its removal before the leader stops sending to
   * it. Other commits travel with the next appends (`sendCommitNews`).
   */
  protected onCommit(before: Index): void {
    const committed = this.log.committed;
    if (this.pendingConfigIndex > before && this.pendingConfigIndex <= committed) this.broadcastPending = true;
    while (this.uncommittedBatches.length > 0 && this.uncommittedBatches[0]!.lastIndex <= committed) {
      this.uncommittedBytes -= this.uncommittedBatches.shift()!.bytes;
    }
    if (this.uncommittedBatches.length === 0) this.uncommittedBytes = 0;
    if (this.committedInTerm()) {
      for (const ctx of this.reads.takeAwaitingCommit()) this.readIndex(ctx);
    }
  }

  /** Why a proposal made now would be refused (before the limit on uncommitted entries), or null. */
  proposalRefusal(): "notLeader" | "transferring" | null {
    if (this.role !== "leader" || this.removedLeader) return "notLeader";
    if (this.leadTransferee !== null) return "transferring";
    return null;
  }

  protected appendProposal(type: EntryType, items: readonly Uint8Array[], bytes: number): ProposeResult {
    const result = this.appendEntries(type, items);
    this.uncommittedBatches.push({ lastIndex: result.lastIndex, bytes });
    this.uncommittedBytes += bytes;
    this.broadcastPending = true;
    return { ok: true, term: this.term, firstIndex: result.firstIndex, lastIndex: result.lastIndex };
  }

  protected appendEntries(type: EntryType, items: readonly Uint8Array[]): { firstIndex: Index; lastIndex: Index } {
    const first = this.log.lastIndex() + 1;
    const term = this.term;
    const entries: Entry[] = new Array<Entry>(items.length);
    for (let position = 0; position < items.length; position++) {
      entries[position] = { term, index: asIndex(first + position), type, data: items[position]! };
    }
    const lastIndex = this.log.append(entries);
    return { firstIndex: asIndex(first), lastIndex };
  }

  protected broadcastAppend(): void {
    for (const peer of this.peers()) this.sendAppends(peer.id);
  }

  /**
   * The commit index when a member that may be sent an append now (flow control) has not been
   * sent it yet, in an append or a heartbeat; else null. A commit is not broadcast on its own (but
   * see `onCommit`): the driver waits a moment (`sendCommitNews`), since under load the next
   * appends, which carry it, go out sooner.
   */
  commitNewsOwed(): Index | null {
    if (this.role !== "leader") return null;
    const committed = this.log.committed;
    for (const { progress } of this.peers()) {
      if (progress.commitSent < committed && !progress.isPaused()) return committed;
    }
    return null;
  }

  /**
   * Sends an append, empty if there is nothing else to send, to every member that has not been
   * sent commit index `index` yet. The driver calls it a moment after `commitNewsOwed` returned
   * `index`: by then the appends of the next proposals have carried it to every member that is
   * being sent entries, so under load this sends nothing. Sending every commit at once, as etcd
   * does (and this core did), made a third of all appends empty ones, each with its answer (in a
   * 3-node cluster on two cores, about 15% of the leader's CPU per SET in most measured runs).
   * Members of an idle cluster learn commits that moment later; the leader's commits and replies
   * never wait for it.
   */
  sendCommitNews(index: Index): void {
    if (this.role !== "leader" || index > this.log.committed) return;
    for (const { id, progress } of this.peers()) {
      if (progress.commitSent < index) this.sendAppends(id);
    }
  }

  /** Sends as many appends to `to` as flow control allows (at least one, possibly empty). */
  protected sendAppends(to: NodeId, sendIfEmpty = true): void {
    const progress = this.progress.get(to);
    if (progress === undefined) return;
    if (!this.sendAppend(to, progress, sendIfEmpty)) return;
    while (progress.state === "replicate" && !progress.isPaused() && progress.next <= this.log.lastIndex()) {
      if (!this.sendAppend(to, progress, false)) return;
    }
  }

  protected sendAppend(to: NodeId, progress: Progress, sendIfEmpty: boolean): boolean {
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
    progress.commitSent = this.log.committed;
    progress.sentEntries(last === undefined ? prevIndex : last.index, entries.length, bytes, this.ticks);
    return true;
  }

  protected sendSnapshot(to: NodeId, progress: Progress): boolean {
    if (!progress.recentActive) return false;
    const snapshot: Snapshot = this.log.storage.snapshot();
    assert(snapshot.metadata.index >= this.log.firstIndex() - 1, "the snapshot covers the compacted log");
    progress.becomeSnapshot(snapshot.metadata.index);
    // A member that installs the snapshot knows everything in it committed.
    if (snapshot.metadata.index > progress.commitSent) progress.commitSent = snapshot.metadata.index;
    this.messages.push({ type: "snapshot", from: this.id, to, term: this.term, snapshot });
    return true;
  }

  protected broadcastHeartbeat(): void {
    const round = this.nextRound();
    this.readRoundSent = round;
    for (const { id, progress } of this.peers()) {
      const sentIndex = asIndex(progress.next - 1);
      const commit = asIndex(Math.min(progress.match, this.log.committed));
      if (commit > progress.commitSent) progress.commitSent = commit;
      this.messages.push({
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        commit,
        round,
        sentIndex,
        sentTerm: this.log.term(sentIndex) ?? asTerm(0),
      });
    }
  }

  protected nextRound(): number {
    // Rounds older than two election timeouts can no longer extend a lease.
    return this.reads.nextRound(this.ticks, this.ticks - 2 * this.options.electionTicks);
  }

  /** Thesis §6.4: record the commit index, then confirm leadership with one heartbeat round. */
  protected startReadRound(): void {
    this.broadcastHeartbeat();
    this.reads.openRound(this.readRoundSent, this.log.committed);
    this.confirmReadRounds();
  }

  protected confirmReadRounds(): void {
    this.reads.confirmRounds((round) => {
      let acks = 0;
      for (const id of this.membership.voters) {
        if (id === this.id || (this.progress.get(id)?.readRound ?? 0) >= round) acks++;
      }
      return acks >= this.quorum();
    });
  }

  protected startTransfer(to: NodeId): void {
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const progress = this.progress.get(to);
    assert(progress !== undefined, "the transferee is a member");
    if (progress.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppends(to);
  }

  protected sendTimeoutNow(to: NodeId): void {
    // The transferee's election may happen any time after this message leaves, even after the
    // transfer is aborted, and voters grant it inside their lease: this term's lease is over.
    this.timeoutNowSent = true;
    this.messages.push({ type: "timeoutNow", from: this.id, to, term: this.term });
    // A removed leader's job is done once it handed over; it must not linger as leader.
    if (this.removedLeader) this.becomeFollower(this.term, null);
  }

  protected maybePromoteLearner(): void {
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

  protected applyConfigEntry(entry: Entry): void {
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
    this.progressChanged();
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
}
