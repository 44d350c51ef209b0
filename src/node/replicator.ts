/**
 * The contract between the server (connections, the applier) and whatever decides the order of
 * writes: a single in-memory node, or a Raft node.
 */
import type { WatchHandle } from "./write-tracker.ts";
import type { Message } from "../raft/types.ts";
import type { Command } from "../resp/reader.ts";

/** Told what became of a proposed command. */
export interface Ticket {
  /** Just before the command is applied (on the node that proposed it). */
  beforeApply?(): void;
  settle(value: unknown, error: unknown): void;
}

/**
 * Commands proposed in one turn are concatenated into log entries of up to this many bytes (one
 * command larger than it gets an entry of its own): big enough to batch, small enough to keep one
 * append message and one apply step short.
 */
export const entryBytesMax = 1024 * 1024;

/** The consensus state, as INFO and the RAFT* commands report it. */
export interface NodeStatus {
  readonly state: "Leader" | "Follower" | "Candidate" | "Shutdown";
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly lastSnapshotIndex: number;
  readonly lastSnapshotTerm: number;
  readonly pendingProposals: number;
  /** Milliseconds since a leader last sent this node anything (0 on the leader, null if never). */
  readonly lastContactMilliseconds: number | null;
  /** The longest time applying stood still while the machine captured a snapshot (ms). */
  readonly snapshotStallMillisecondsMax: number;
  /** Times the leader held writes until the snapshot being written was done, and the longest hold (ms). */
  readonly snapshotHolds: number;
  readonly snapshotHoldMillisecondsMax: number;
  /** When this node last wrote a snapshot (ms since the epoch), or when it started if it has not. */
  readonly lastSnapshotAt: number;
  /** The log store's writes and flushes to disk since it opened. */
  readonly logWrites: number;
  readonly logSyncs: number;
  /** The least time a follower waits without hearing from a leader before it stands for election. */
  readonly electionTimeoutMilliseconds: number;
}

/** What the server needs from whatever decides the order of writes. */
export interface Replicator {
  /**
   * Asks to serve a read at the node's consistency level: "now" when it may be served at once;
   * "wait" when it must wait for a barrier (then it makes the ticket, which settles, possibly with
   * an error, once the read may go ahead); "notLeader" when only the leader may serve it; or an error to answer with.
   */
  read(ticket: () => Ticket): "now" | "wait" | "notLeader" | Error;
  /**
   * A cheap first check: true when a read may be served at once (then `read` would say "now"), and
   * the state here is current: this node leads under its lease (not at High consistency), or is
   * its cluster's only voter. (At Low, `read` says "now" in more cases.)
   */
  canReadNow(): boolean;
  /** The leader's client address, when one is known. */
  leaderAddress(): string | null;
  /** Appends a command (its RESP frame) to the log; `ticket` hears when it has been applied. */
  propose(command: Command, ticket: Ticket | null): void;
  /**
   * The error a write proposed now would be refused with (not the leader, a leadership transfer
   * under way), or null. With `proposeNow` right after its writes are queued, EXEC answers that
   * one error instead of an array of it, which a client would take for commands that ran.
   */
  writeRefusal(): Error | null;
  /** Proposes the writes queued so far now, rather than at the end of the turn (see `writeRefusal`). */
  proposeNow(): void;
  /** True when this node may accept writes now. */
  readonly isLeader: boolean;
  /** Why this node serves nothing at all any more (removed from its cluster, a failed disk), or null. */
  stopped(): Error | null;
  /**
   * True once this node was removed from its cluster: it sends clients to the cluster it left
   * (`leaderAddress()` is then the leader it last knew, else another member).
   */
  readonly removed: boolean;
  /** The index of the last entry the machine has applied. */
  readonly appliedIndex: number;
  /**
   * How many other members hold the log up to `index` (the leader's knowledge, for WAIT), or null
   * when this node is not the leader.
   */
  replicasHolding(index: number): number | null;
  /**
   * Opens a WATCH at the index applied now; writes after it are remembered key by key until the
   * handle is released (EXEC, DISCARD, UNWATCH or the client's disconnection).
   */
  beginWatch(): WatchHandle;
  /** Whether one of `keys` may have been written after applied index `since` (EXEC after WATCH). */
  watchedKeysChanged(keys: readonly string[], since: number): boolean;
  /**
   * Hears of every write this node applies without an error, with what its `mutate` returned
   * (blocked clients wait for writes to their keys); null stops it.
   */
  onWrite(listener: ((command: Command, value: unknown) => void) | null): void;
  /** Raft messages from authenticated peers. */
  receive(messages: readonly Message[]): void;
  status(): NodeStatus;
  close(): void;
}

