/**
 * The vocabulary of the Raft core: branded numbers and ids, log entries, hard state, membership,
 * snapshots, messages (a discriminated union) and the Ready batch handed to the driver.
 *
 * Everything here is plain data: the core is pure, so every value that crosses its boundary can be
 * recorded, replayed and compared by the simulator.
 */

/** A Raft term (Raft §5.1). Never decreases on a node, in memory or on disk. */
export type Term = number & { readonly __brand: "Term" };
/** A position in the replicated log; the first entry has index 1, 0 means "before the log". */
export type Index = number & { readonly __brand: "Index" };
/**
 * The stable identity of a server. The core compares ids only for equality; it never assumes an
 * order, so the node layer may use random ids.
 */
export type NodeId = string & { readonly __brand: "NodeId" };

/** Brands a number as a term; asserts nothing beyond what the type says, callers check. */
export function asTerm(value: number): Term {
  return value as Term;
}
/** Brands a number as a log index. */
export function asIndex(value: number): Index {
  return value as Index;
}
/** Brands a string as a node id. */
export function asNodeId(value: string): NodeId {
  return value as NodeId;
}

/** The three kinds of log entry. */
export type EntryType = "normal" | "noop" | "config";

/**
 * One log entry. `data` is opaque for normal entries (the client's bytes, possibly several
 * commands), empty for the no-op a new leader appends (Raft §8), and an encoded `ConfigChange`
 * for config entries. Entries are never mutated once created; the core shares them by reference.
 */
export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * The state that must be durable before the node acts on it (Raft Figure 2, "persistent state"):
 * the current term, the vote cast in it, and the commit index (persisting commit is not required
 * for safety but lets a restarted node apply without waiting for the leader).
 */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
}

/**
 * The set of servers. Voters elect leaders and count towards commit quorums; learners receive the
 * log but never vote (Raft thesis §4.2.1, new servers join as non-voting members).
 * `addresses` carries an opaque string per member (the node layer's network address).
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly addresses: Readonly<Record<string, string>>;
}

/** The empty membership of a server that has not joined any cluster yet. */
export const emptyMembership: Membership = Object.freeze({
  voters: Object.freeze([]) as readonly NodeId[],
  learners: Object.freeze([]) as readonly NodeId[],
  addresses: Object.freeze({}),
});

/** What a snapshot replaces: the log up to and including `index`, and the membership then. */
export interface SnapshotMetadata {
  readonly index: Index;
  readonly term: Term;
  readonly membership: Membership;
}

/** A point-in-time image of the state machine at `metadata.index` (Raft §7). */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term; for pre-votes, the term the sender would campaign in. */
  readonly term: Term;
}

/** AppendEntries request (Raft §5.3); with no entries it still carries the commit index. */
export interface AppendMessage extends MessageBase {
  readonly type: "append";
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

/**
 * AppendEntries response. On success `index` is the last index now known to match the leader.
 * On rejection `index` is the rejected `prevIndex`, and (`hintIndex`, `hintTerm`) is the
 * follower's best guess of where the logs agree: the largest index at or below the rejected one
 * whose term is at most the rejected `prevTerm` (fast backtracking, Raft §5.3 last paragraph).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: "appendResponse";
  readonly reject: boolean;
  readonly index: Index;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

/**
 * Leader heartbeat. `commit` is at most what the follower is known to hold. `round` is the
 * latest read round the leader has opened; the response echoes it (ReadIndex, thesis §6.4).
 * (`sentIndex`, `sentTerm`) is the last entry the leader has sent the follower: if the follower
 * does not hold it, appends were lost and the leader resends them without waiting for a timeout.
 */
export interface HeartbeatMessage extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: Index;
  readonly round: number;
  readonly sentIndex: Index;
  readonly sentTerm: Term;
}

/** Heartbeat response, echoing the read round it answers and whether the last sent entry arrived. */
export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: "heartbeatResponse";
  readonly round: number;
  readonly sentIndex: Index;
  readonly holdsSent: boolean;
}

/**
 * RequestVote (Raft §5.2) or PreVote (thesis §9.6) when `pre`. `transfer` marks a campaign
 * started by leadership transfer, which voters grant even inside a leader lease (thesis §3.10).
 */
export interface VoteMessage extends MessageBase {
  readonly type: "vote";
  readonly pre: boolean;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  readonly transfer: boolean;
}

/**
 * RequestVote or PreVote response. `notMemberAt` is set when the candidate is not a member of the
 * membership the responder applied: it is the responder's applied index then. A candidate whose
 * own membership (as of an applied index no later than that) still holds it learns from this that
 * a committed change removed it (see `Raft.learnRemoval`).
 */
export interface VoteResponseMessage extends MessageBase {
  readonly type: "voteResponse";
  readonly pre: boolean;
  readonly reject: boolean;
  readonly notMemberAt?: Index;
}

/** InstallSnapshot (Raft §7), sent whole; the response is an `appendResponse`. */
export interface SnapshotMessage extends MessageBase {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

/** Tells a caught-up follower to campaign at once (leadership transfer, thesis §3.10). */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: "timeoutNow";
}

/** Every message servers exchange. Switches over `type` are exhaustive. */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage;

/** The role a server plays (Raft §5.1, plus the pre-vote phase of thesis §9.6). */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** A linearizable read confirmed at `index`: serve `ctx` once the state machine applied it. */
export interface ReadState {
  readonly ctx: number;
  readonly index: Index;
}

/**
 * One batch of work for the driver, returned by `ready()` and acknowledged by `advance()`.
 *
 * The driver must, in this order:
 * 1. send `messages` (they do not depend on this batch being durable; they may go at once, even
 *    before step 2, which is how a leader writes its log in parallel, Raft thesis §10.2.1);
 * 2. make durable `snapshot` (if any), then `entries` (truncating any conflicting stored suffix),
 *    then `hardState` (if any);
 * 3. only then send `messagesAfterPersist` (votes, vote requests and append acknowledgements,
 *    which promise that the state above survives a crash);
 * 4. apply `committedEntries` in order (and install `snapshot` into the state machine first);
 *    those that an earlier Ready already made durable (index below `entries[0]`) may be applied
 *    as soon as step 1 is done, while step 2 runs, but not past a config entry: the core applies
 *    membership changes itself, at `advance()`;
 * 5. answer `readStates` (their indexes are at most the last applied entry after step 4);
 *    fail the reads in `droppedReads` (the leader lost its term before confirming them);
 * 6. call `advance()`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly droppedReads: readonly number[];
}

/** Whether only a leader sends messages of this kind (appends, heartbeats, snapshots): its sender leads. */
export function isLeaderMessage(message: Message): boolean {
  return message.type === "append" || message.type === "heartbeat" || message.type === "snapshot";
}
