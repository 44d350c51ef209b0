/**
 * Raft's safety properties (Raft §5.2-§5.4, Figure 3), checked incrementally as the simulator
 * runs. Each check is cheap enough to run after every event that touches a server.
 *
 * - Election safety: at most one leader per term.
 * - Log matching: two logs holding an entry with the same index and term hold the same entry and
 *   agree on the term of the entry before it (so, by induction, on the whole prefix).
 * - Leader completeness: a new leader holds every committed entry.
 * - State machine safety: every server applies the same entry at each index, each index once, in
 *   order; the membership after applying a config entry is the same everywhere.
 * - Monotonicity: term, commit and applied never go backwards within a life; durable term and
 *   commit never go backwards across crashes; a committed entry is never truncated from a log.
 */
import type { Entry, Membership, NodeId, RaftStatus } from "../../src/raft/index.ts";
import { membershipKey } from "../../src/raft/index.ts";

/** A violated safety property. */
export class SafetyViolation extends Error {
  override name = "SafetyViolation";
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let position = 0; position < a.byteLength; position++) if (a[position] !== b[position]) return false;
  return true;
}

function fail(why: string): never {
  throw new SafetyViolation(why);
}

interface EntryRecord {
  readonly prevTerm: number;
  readonly entry: Entry;
}

/** Incremental checker of Raft's safety properties over a whole simulated cluster. */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index -> term -> the first entry seen there and the term before it. */
  private readonly entries = new Map<number, Map<number, EntryRecord>>();
  /** index -> the committed entry (as applied or as seen under a commit index). */
  private readonly committed = new Map<number, Entry>();
  private committedMax = 0;
  /**
   * Each time the highest committed index grows: the index, and the term of the server that saw
   * it first. That term is at least the term in which the entry was committed, so leaders of later
   * terms must hold it (leader completeness speaks only of higher terms: a leader of an older term
   * may still be elected late, though it can commit nothing).
   */
  private readonly commitMarks: { index: number; termBound: number }[] = [];
  /** config entry index -> membership after applying it. */
  private readonly memberships = new Map<number, string>();
  /** Per server, per life: the last observed status. */
  private readonly lastStatus = new Map<NodeId, RaftStatus>();
  /** Per server: the last applied index of its state machine. */
  private readonly lastApplied = new Map<NodeId, number>();
  /** Counters for reports. */
  leadersElected = 0;

  /** A server restarted: its volatile state starts over. */
  restarted(id: NodeId, appliedIndex: number): void {
    this.lastStatus.delete(id);
    this.lastApplied.set(id, appliedIndex);
  }

  /**
   * Checks a server's status after an event. `termAt` reads its log, for the leader completeness
   * check and to record entries under its commit index.
   */
  observe(status: RaftStatus, termAt: (index: number) => number | null, entriesBetween: (low: number, high: number) => Entry[]): void {
    const id = status.id;
    if (!(status.applied <= status.commit)) fail(`${id}: applied ${status.applied} > commit ${status.commit}`);
    if (!(status.commit <= status.lastIndex)) fail(`${id}: commit ${status.commit} > last index ${status.lastIndex}`);
    const previous = this.lastStatus.get(id);
    if (previous !== undefined) {
      if (status.term < previous.term) fail(`${id}: term went back from ${previous.term} to ${status.term}`);
      if (status.commit < previous.commit) fail(`${id}: commit went back from ${previous.commit} to ${status.commit}`);
      if (status.term === previous.term && previous.vote !== null && status.vote !== previous.vote) {
        fail(`${id}: voted twice in term ${status.term}: ${previous.vote} then ${String(status.vote)}`);
      }
    }
    // Entries under the commit index are committed: record them, and check they agree with what
    // others committed (which is state machine safety seen from the logs).
    const from = Math.max(previous?.commit ?? 0, status.firstIndex - 1) + 1;
    if (status.commit >= from) {
      for (const entry of entriesBetween(from, status.commit + 1)) this.recordCommitted(id, entry, status.term);
    }
    if (status.role === "leader" && (previous === undefined || previous.role !== "leader" || previous.term !== status.term)) {
      this.leadersElected++;
      const other = this.leaderOfTerm.get(status.term);
      if (other !== undefined && other !== id) fail(`two leaders in term ${status.term}: ${other} and ${id}`);
      this.leaderOfTerm.set(status.term, id);
      this.checkLeaderCompleteness(id, status, termAt);
    }
    this.lastStatus.set(id, status);
  }

  private checkLeaderCompleteness(id: NodeId, status: RaftStatus, termAt: (index: number) => number | null): void {
    // Raft §5.4: the leader of a term holds every entry committed in earlier terms. By log
    // matching it is enough to check the last such entry (unless compacted below its snapshot).
    let index = 0;
    for (let position = this.commitMarks.length - 1; position >= 0; position--) {
      const mark = this.commitMarks[position]!;
      if (mark.termBound < status.term) {
        index = mark.index;
        break;
      }
    }
    if (index === 0) return;
    if (status.lastIndex < index) {
      fail(`leader ${id} of term ${status.term} lacks committed index ${index} (last ${status.lastIndex})`);
    }
    const committed = this.committed.get(index);
    const term = termAt(index);
    if (committed !== undefined && term !== null && term !== committed.term) {
      fail(`leader ${id} of term ${status.term} has term ${term} at committed index ${index}, not ${committed.term}`);
    }
  }

  private recordCommitted(id: NodeId, entry: Entry, observerTerm: number): void {
    const known = this.committed.get(entry.index);
    if (known === undefined) {
      this.committed.set(entry.index, entry);
      if (entry.index > this.committedMax) {
        this.committedMax = entry.index;
        this.commitMarks.push({ index: entry.index, termBound: observerTerm });
      }
      return;
    }
    if (known.term !== entry.term || !sameBytes(known.data, entry.data)) {
      fail(`${id} committed (${entry.index}, term ${entry.term}) but (${known.index}, term ${known.term}) was committed there`);
    }
  }

  /**
   * A server is about to make `entries` durable. `termBefore` is the durable term at the index
   * before the first entry; `durableTermAt` reads what the write will replace.
   */
  persisting(id: NodeId, entries: readonly Entry[], termBefore: number, durableTermAt: (index: number) => number | null): void {
    let prevTerm = termBefore;
    for (const entry of entries) {
      const old = durableTermAt(entry.index);
      if (old !== null && old !== entry.term) {
        const committed = this.committed.get(entry.index);
        if (committed !== undefined && committed.term === old) {
          fail(`${id} truncates committed entry (${entry.index}, term ${old})`);
        }
      }
      this.checkLogMatching(id, entry, prevTerm);
      prevTerm = entry.term;
    }
  }

  private checkLogMatching(id: NodeId, entry: Entry, prevTerm: number): void {
    let byTerm = this.entries.get(entry.index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.entries.set(entry.index, byTerm);
    }
    const known = byTerm.get(entry.term);
    if (known === undefined) {
      byTerm.set(entry.term, { prevTerm, entry });
      return;
    }
    if (!sameBytes(known.entry.data, entry.data) || known.entry.type !== entry.type) {
      fail(`${id}: two different entries at (${entry.index}, term ${entry.term})`);
    }
    if (known.prevTerm !== prevTerm) {
      fail(`${id}: log matching broken at ${entry.index}: previous term ${prevTerm}, elsewhere ${known.prevTerm}`);
    }
  }

  /** A server's state machine applies `entry`. */
  applying(id: NodeId, entry: Entry): void {
    const last = this.lastApplied.get(id) ?? 0;
    if (entry.index !== last + 1) fail(`${id} applies index ${entry.index} after ${last}`);
    this.lastApplied.set(id, entry.index);
    this.recordCommitted(id, entry, this.lastStatus.get(id)?.term ?? Number.MAX_SAFE_INTEGER);
  }

  /** A server's state machine installed a snapshot at `index`. */
  installedSnapshot(id: NodeId, index: number): void {
    const last = this.lastApplied.get(id) ?? 0;
    if (index < last) fail(`${id} installs snapshot ${index} behind applied ${last}`);
    this.lastApplied.set(id, index);
  }

  /** After applying up to a config entry at `index`, a server's membership is `membership`. */
  membershipAfter(id: NodeId, index: number, membership: Membership): void {
    const key = membershipKey(membership);
    const known = this.memberships.get(index);
    if (known === undefined) this.memberships.set(index, key);
    else if (known !== key) fail(`${id}: membership after ${index} is ${key}, elsewhere ${known}`);
  }

  /** The durable hard state of a server moves from `before` to `after` (across crashes too). */
  durableHardState(id: NodeId, before: { term: number; commit: number }, after: { term: number; commit: number }): void {
    if (after.term < before.term) fail(`${id}: durable term went back from ${before.term} to ${after.term}`);
    if (after.commit < before.commit) fail(`${id}: durable commit went back from ${before.commit} to ${after.commit}`);
  }
}
