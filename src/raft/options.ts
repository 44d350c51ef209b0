/**
 * Tuning and limits of the Raft core. Every limit is named with its unit last and says why it
 * exists (TIGER_STYLE: a limit on everything).
 */
import { assert } from "../assert.ts";
import type { Random } from "./random.ts";
import type { LogStorage } from "./storage.ts";
import type { NodeId } from "./types.ts";

/**
 * Deliberate bugs, for the simulator's teeth tests only: each flag re-creates a classic Raft bug
 * so that a test can show the simulator catches it. Production code never sets them.
 */
export interface RaftTestBugs {
  /** Commit by counting replicas of an entry from an older term (violates Raft §5.4.2). */
  readonly commitOldTermByCounting?: boolean;
  /** Grant votes without the up-to-date check (violates Raft §5.4.1). */
  readonly voteForStaleLog?: boolean;
  /** Serve reads on the leader at once, without ReadIndex or lease (violates thesis §6.4). */
  readonly readWithoutQuorum?: boolean;
  /** Acknowledge appends before they are durable (violates Raft Figure 2, persistent state). */
  readonly ackBeforePersist?: boolean;
  /** Hand each committed config entry to the driver twice, so that it is applied twice. */
  readonly applyConfigTwice?: boolean;
}

/** Everything a core needs at construction. */
export interface RaftOptions {
  /** This server's id. */
  readonly id: NodeId;
  /** The durable log, hard state and snapshot. */
  readonly storage: LogStorage;
  /** The only source of randomness: election timeouts are drawn from it. */
  readonly random: Random;
  /**
   * The minimum election timeout in ticks; each timeout is drawn from
   * `[electionTicks, 2 * electionTicks)` (Raft §5.2). Also the check-quorum period and the
   * period for which a follower refuses votes after hearing from a leader.
   */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats; well below `electionTicks`. */
  readonly heartbeatTicks?: number;
  /** Bytes of entries per append message: large enough to batch, small enough to not stall. */
  readonly messageBytesMax?: number;
  /** Appends in flight per follower in replicate state: pipelining depth. */
  readonly inflightMessagesMax?: number;
  /** Bytes in flight per follower: bounds the memory a slow follower can pin on the leader. */
  readonly inflightBytesMax?: number;
  /** Bytes proposed but not committed: bounds the leader's memory when followers are away. */
  readonly uncommittedBytesMax?: number;
  /** Bytes of committed entries per Ready: bounds the work of one apply step. */
  readonly applyBytesMax?: number;
  /** Pre-vote (thesis §9.6): a partitioned server cannot disrupt the cluster with its term. */
  readonly preVote?: boolean;
  /**
   * Check-quorum (thesis §6.2): a leader steps down if it has not heard from a quorum within an
   * election timeout, and followers refuse votes while they hear from a leader. Lease reads
   * require it.
   */
  readonly checkQuorum?: boolean;
  /**
   * The bound on clock drift: the tick rate of any server is at most `1 + clockDriftMax` times
   * that of any other. Leader leases are shortened by this factor; exceeding it voids their safety.
   */
  readonly clockDriftMax?: number;
  /** Promote a learner to voter once its log has caught up to the leader's commit index. */
  readonly autoPromote?: boolean;
  /**
   * Refuse votes for one election timeout after a (re)start, as if a leader had just been heard:
   * a crash must not cut short the lease this server granted before it.
   */
  readonly voteGuardAfterStart?: boolean;
  /** Deliberate bugs for the simulator's teeth tests; never set in production. */
  readonly testBugs?: RaftTestBugs;
}

/** The options with every default filled in. */
export type ResolvedRaftOptions = Required<Omit<RaftOptions, "testBugs">> & {
  readonly testBugs: RaftTestBugs;
};

/** Fills in defaults and checks that the options make sense together. */
export function resolveOptions(options: RaftOptions): ResolvedRaftOptions {
  const resolved: ResolvedRaftOptions = {
    electionTicks: 10,
    heartbeatTicks: 1,
    messageBytesMax: 1 << 20,
    inflightMessagesMax: 256,
    inflightBytesMax: 32 << 20,
    uncommittedBytesMax: 64 << 20,
    applyBytesMax: 16 << 20,
    preVote: true,
    checkQuorum: true,
    clockDriftMax: 0.1,
    autoPromote: true,
    voteGuardAfterStart: true,
    testBugs: {},
    ...options,
  };
  assert(resolved.heartbeatTicks >= 1, "heartbeatTicks must be at least 1");
  assert(resolved.electionTicks > resolved.heartbeatTicks, "electionTicks must exceed heartbeatTicks");
  assert(resolved.messageBytesMax > 0 && resolved.inflightBytesMax > 0, "byte limits must be positive");
  assert(resolved.inflightMessagesMax > 0, "inflightMessagesMax must be positive");
  assert(resolved.uncommittedBytesMax > 0 && resolved.applyBytesMax > 0, "byte limits must be positive");
  assert(resolved.clockDriftMax >= 0 && resolved.clockDriftMax < 1, "clockDriftMax must be in [0, 1)");
  return resolved;
}

/**
 * How many ticks after sending a heartbeat the leader may still rely on the acknowledgement for a
 * lease read. A follower that received it refuses votes for `electionTicks` of its own ticks, of
 * which at least `electionTicks - 1` whole intervals follow the receipt; the leader's interval is
 * at most `1 + clockDriftMax` of the follower's, and the send fell somewhere inside one leader
 * tick. So the leader may count at most `(electionTicks - 1) / (1 + drift) - 1` of its ticks.
 */
export function leaseTicks(options: ResolvedRaftOptions): number {
  return Math.floor((options.electionTicks - 1) / (1 + options.clockDriftMax)) - 1;
}
