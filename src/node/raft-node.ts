/**
 * The node loop: drives the pure Raft core with real time, a durable log and the peer transport,
 * and applies committed entries to the machine.
 *
 * One loop owns IO ordering (the contract on `Ready` in src/raft/types.ts): send `messages` at
 * once (the leader writes its log in parallel, Raft thesis §10.2.1); persist the batch with one
 * `save()` (one transaction, at most one fsync); wait for it to be on disk when the durability
 * level is High or when the term or vote changed (at every level: a vote or a term is never acted
 * on before it is durable); only then send `messagesAfterPersist` (votes and append
 * acknowledgements); apply committed entries in order, settling the tickets of the commands this
 * node proposed; release confirmed reads; `advance()`.
 *
 * It runs at its own pace: commands proposed while a batch is being persisted wait and go into the
 * next one, so a slow disk makes bigger batches rather than more of them (group commit).
 *
 * Time: the core counts ticks. The timer may fire late (a busy loop, a paused process), so each
 * time it fires the node ticks as many times as wall-clock time says, and it catches up the same
 * way before serving a lease read: a leader paused past its lease resumes knowing its lease is
 * gone, instead of answering from stale state.
 */
import { assert } from "../assert.ts";
import { ErrDisabled, redirect, RespError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { changesTermOrVote, StorageCorruptionError, type Durability, type LogStore } from "../log/store.ts";
import { diskNote } from "../log/file-sync.ts";
import { Raft, type ProposeResult } from "../raft/raft.ts";
import { SeededRandom } from "../raft/random.ts";
import { asIndex, asNodeId, type Entry, type HardState, type Index, isLeaderMessage, type Membership, type Message, type NodeId, type Ready, type SnapshotMetadata } from "../raft/types.ts";
import { type Command, RespReader } from "../resp/reader.ts";
import type { CommandSpec } from "../server/command-spec.ts";
import type { Transport } from "../transport/transport.ts";
import type { Machine, SnapshotReader as MachineSnapshotReader, SnapshotWriter as MachineSnapshotWriter } from "../api.ts";
import type { SnapshotStore } from "../log/snapshot-store.ts";
import type { ApplyListener, ApplyResult, Executor } from "./executor.ts";
import { batchEntries, clockCommandName, entryTime } from "./batch.ts";
import { Trail } from "./trail.ts";
import { type WatchHandle, WriteTracker } from "./write-tracker.ts";
import type { NodeStatus, Replicator, Ticket } from "./replicator.ts";

/** How reads are served: by any node, by the leader under its lease, or after a ReadIndex round. */
export type Consistency = "low" | "medium" | "high";

/** What the node times while it applies (SLOWLOG): which commands, and where the times go. */
export interface ApplyTiming {
  times(name: string): boolean;
  /** `command` took `micros` to apply; `ticket` is its client's, on the node that proposed it. */
  note(command: Command, micros: number, ticket: Ticket | null): void;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  readonly store: LogStore;
  readonly transport: Transport;
  readonly executor: Executor;
  readonly logger: Logger;
  readonly durability: Durability;
  readonly consistency: Consistency;
  /** Milliseconds per tick of the core's clock. */
  readonly tickMilliseconds?: number;
  /** The minimum election timeout, in ticks (the timeout is drawn from [n, 2n)). */
  readonly electionTicks?: number;
  /** A proposal whose fate is still unknown after this long is answered as unknown. */
  readonly proposalTimeoutMilliseconds?: number;
  /** Told when the role changes (for the log's role character). */
  readonly onRoleChange?: (state: NodeStatus["state"]) => void;
  /** The user's machine, for snapshots and restores. */
  readonly machine: Machine;
  /** Snapshot files. */
  readonly snapshots: SnapshotStore;
  /** The data of the snapshot the store records, loaded at start (empty when there is none). */
  readonly snapshotData: Uint8Array;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEntries?: number;
  /** The data directory, named when a write to it fails. */
  readonly dataDirectory?: string;
  /** The command specs, to know which keys a write touches (for WATCH). */
  readonly specOf?: (name: string) => CommandSpec | undefined;
  /** Take a snapshot once this many bytes of entries were applied since the last one. */
  readonly snapshotBytes?: number;
  /**
   * Besides those: an automatic snapshot waits until the entries applied since the last one hold
   * at least this many percent of that snapshot's size (Redis's `auto-aof-rewrite-percentage`), so
   * a large state is not written again for a log a fraction of its size. Default 0: off.
   */
  readonly snapshotGrowthPercent?: number;
  /** Entries kept behind a snapshot, so that a follower a little behind needs no snapshot... */
  readonly snapshotTrailEntries?: number;
  /** ...and at most this many bytes of them (see `Trail`). */
  readonly snapshotTrailBytes?: number;
  /** The applied index at which this node first found itself a member, as recorded (null: not yet). */
  readonly memberSince?: number | null;
  /** Records that index when the node first finds itself a member (kept across restarts). */
  readonly onMember?: (index: number) => Promise<void>;
}

/** Snapshots after 100,000 entries by default... */
const snapshotEntriesDefault = 100_000;
/**
 * ...or after this many bytes of entries, whichever comes first: an entry can hold many batched
 * commands (up to 1 MB), so a count alone would not bound the disk.
 */
const snapshotBytesDefault = 64 * 1024 * 1024;
/** The log keeps 10,000 entries behind a snapshot by default, for followers a little behind... */
const snapshotTrailEntriesDefault = 10_000;
/** ...and at most 64 MB of them. */
const snapshotTrailBytesDefault = 64 * 1024 * 1024;

/** A snapshot's bytes as the machine's `restore` reads them. */
export function snapshotReaderOf(data: Uint8Array): MachineSnapshotReader {
  return {
    readAll: async () => data,
    chunks: async function* () {
      yield data;
    },
  };
}

/** 50 ms ticks, elections after 0.5 to 1 s of silence: fail-over well under Finn's 3 s. */
const tickMillisecondsDefault = 50;
/** Bytes of committed entries applied per Ready (the core's `applyBytesMax`). */
const applyBytesMax = 1 << 20;
const electionTicksDefault = 10;
const proposalTimeoutMillisecondsDefault = 10_000;
/** Writes held back by the leader's limit on uncommitted entries wait this long at most... */
const heldMillisecondsMax = 5_000;
/** ...and this many bytes of them at most (more are refused at once, not applied). */
const heldBytesMax = 256 * 1024 * 1024;
/**
 * While a snapshot is written the log keeps growing behind it, and is compacted only once it is
 * done: on a disk slowed by other writers' flushes, a snapshot of a small state took 200 ms and
 * more, and the log took on 50 MB meanwhile. So a leader lets the entries applied since the
 * snapshot's capture reach this many times `snapshotBytes`, or the snapshot's own size if more
 * (writing it takes about as long as writing that much log), and then holds new writes until it is
 * done, as RocksDB stalls writes behind a lagging compaction: the data directory stays bounded
 * whatever the disk's speed. A write waits `heldMillisecondsMax` at most: then a batch goes on,
 * so a snapshot that does not end slows writes without stopping them.
 */
const snapshotBacklogFactor = 4;
/** A machine writing a snapshot gives the event loop a turn after this much work. */
const snapshotSliceMilliseconds = 5;
/**
 * How long a commit index may wait for the next appends to carry it to the followers before it is
 * sent on its own (`Raft.sendCommitNews`): long enough for a loaded leader's next proposals, short
 * enough that followers of an idle cluster apply (and answer reads at Low) a moment later only.
 */
const commitNewsDelayMilliseconds = 2;


/** The tickets of the commands in one proposed entry. */
interface PendingEntry {
  readonly term: number;
  readonly tickets: readonly (Ticket | null)[];
  readonly proposedAt: number;
  /** The entry's commands as parsed when they arrived, and its clock time (null for a config entry). */
  readonly commands: readonly Command[] | null;
  readonly time: number;
}

/** Errors whose meaning is part of the contract (see the README's list of errors). */
export const notAppliedError = (why: string): RespError => new RespError(`TRYAGAIN ${why}; the write was not applied`);
export const unknownOutcomeError = (): RespError =>
  new RespError("UNCERTAIN The write's outcome is unknown: it was proposed, but whether it committed could not be learned in time");

/** The longest wait before an automatic snapshot is tried again after failures. */
const snapshotRetryMillisecondsMax = 10 * 60 * 1000;

export class RaftNode implements Replicator {
  private readonly raft: Raft;
  private readonly store: LogStore;
  private readonly transport: Transport;
  private readonly executor: Executor;
  private readonly logger: Logger;
  private readonly durability: Durability;
  private readonly consistency: Consistency;
  private readonly tickMilliseconds: number;
  private readonly electionTicks: number;
  private readonly proposalTimeoutMilliseconds: number;
  private readonly onRoleChange: (state: NodeStatus["state"]) => void;

  private queuedCommands: Command[] = [];
  private queuedTickets: (Ticket | null)[] = [];
  /**
   * The commit index when the queued commands were held back because the leader's uncommitted
   * entries were at their limit (a large write on its way to the followers), or null: they are
   * proposed again once it moves on, as Redis makes writes wait behind a large one rather than
   * fail them; after `heldMillisecondsMax`, or past `heldBytesMax`, they are refused as before.
   */
  private heldAtCommit: Index | null = null;
  private heldSince = 0;
  private readonly pending = new Map<number, PendingEntry>();
  /** Reads that arrived this turn: they share one ReadIndex request. */
  private turnReads: Ticket[] = [];
  private readonly readWaiters = new Map<number, Ticket[]>();
  private nextReadContext = 1;

  /** Proposers of config entries applied in the Ready being handled, told once it is advanced. */
  private readonly appliedConfigTickets: (Ticket | null)[] = [];
  /** Tickets of the entry being applied, in command order. */
  private applying: readonly (Ticket | null)[] = [];
  private applyingAt = 0;

  private persistedHardState: HardState;
  /**
   * Until when (performance.now() milliseconds) reads may be served at once without looking
   * further: Infinity for the only voter (see `soleVoterCurrent`), the end of the lease for a
   * leader at Medium consistency with everything committed applied (see `leaseReadsUntil`), 0
   * for never. Set after each advance; cleared by anything that could change that before the
   * next one (a message, a proposal, a leadership transfer).
   */
  private fastReadsUntil = 0;
  /** The last applied write of each key, for WATCH. */
  private readonly writes: WriteTracker;
  /** The latest clock time in any entry this node has appended (see batch.ts). */
  private highestTime = 0;
  /** When a leader last sent this node something (for RAFTSTATS' last_contact). */
  private lastLeaderContactAt: number | null = null;
  private membership: Membership | null = null;
  private lastState: NodeStatus["state"] = "Follower";
  private running = false;
  private rerun = false;
  /**
   * True until `start` returns: while the node replays its log, it gives the event loop a turn
   * between Readies, so that clients are answered `-LOADING` meanwhile rather than wait unanswered.
   */
  private starting = true;
  private scheduled = false;
  private soonScheduled = false;
  /** The timer that sends a commit index no append has carried yet (`armCommitNews`). */
  private commitNewsTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private readonly dataDirectory: string | undefined;
  /**
   * The applied index at which this node first found itself a member of its cluster (null: not
   * yet), and whether it has been removed since.
   */
  private memberSince: number | null;
  private readonly onMember: ((index: number) => Promise<void>) | null;
  private removedFromCluster = false;
  /** The last other node this one knew as leader (for a removed node's redirects). */
  private lastLeader: string | null = null;
  /** The voter a transfer was started to, until it took over or the core gave up (`noticeTransferEnd`). */
  private transferTarget: NodeId | null = null;
  /** The leader last told to `onLeaderChange`'s listener. */
  private announcedLeader: string | null = null;
  private leaderListener: ((address: string) => void) | null = null;
  /** The last node this one knew as leader, itself included (`lastKnownLeaderAddress`). */
  private lastLeaderSeen: string | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  private lastTickAt: number;
  private readonly machine: Machine;
  private readonly snapshots: SnapshotStore;
  private readonly snapshotEntries: number;
  private readonly snapshotBytes: number;
  private readonly snapshotGrowthPercent: number;
  /** What the log keeps behind a snapshot. */
  private readonly trail: Trail;
  /**
   * The data of the latest snapshot, for followers that need it, or null when it is not held in
   * memory (`noteSnapshotData`); its size and its metadata index.
   */
  private snapshotData: Uint8Array | null = null;
  private snapshotDataBytes = 0;
  private snapshotDataIndex: number;
  /** The save promise whose failure this node watches (below High, see `watchSave`). */
  private watchedSave: Promise<void> | null = null;
  /**
   * The core's latest hard state when it differs from the one on disk only in its commit index.
   * Raft needs no durable commit index for the log itself (a leader learns it again by committing
   * an entry of its term; a follower hears it from the leader), so it is written lazily: on its
   * own it would cost a transaction per turn (at High a second fsync per turn), and with every
   * save it would dirty pages of its own in each LMDB transaction. It rides with the first save of
   * each tick (`commitIndexDue`), and is written alone only after a tick with no save, so that the
   * commit index on disk stays within a tick of the core's and a restart re-applies about
   * everything committed before it serves.
   *
   * One exception: the core takes a membership change into effect when it is applied, and a
   * restart rebuilds the membership by applying the log up to the commit index on disk. So a Ready
   * that applies a membership change saves its commit index first, always: a node restarted with
   * an older membership could otherwise elect itself with a quorum that no longer is one (one
   * node that had grown to three would lead alone beside the other two's leader).
   */
  private unsavedHardState: HardState | null = null;
  /** True when the next save should carry the commit index (set each tick). */
  private commitIndexDue = true;
  /** Saves since the timer last ticked. */
  private savesSinceTick = 0;
  /** A local snapshot in progress, and who waits for it. */
  private snapshotting: Promise<void> | null = null;
  private snapshotsDisabled = false;
  /** The index of the last entry the machine applied (or of the snapshot it was restored from). */
  private machineApplied: Index;
  /** True while a snapshot from the leader is being written and restored. */
  private installing = false;
  /** Bytes of entries applied since the last snapshot started (a snapshot is due past a bound). */
  private appliedBytesSinceSnapshot = 0;
  /** Bytes of entries applied since the machine captured the snapshot being written (see `snapshotBacklogFactor`). */
  private appliedBytesSinceCapture = 0;
  /** True while queued writes wait for the snapshot being written (`snapshotBacklogFactor`); since when. */
  private heldForSnapshot = false;
  private heldForSnapshotSince = 0;
  /** Times writes were held for a snapshot, and the longest hold (ms): RAFTSTATS. */
  snapshotHolds = 0;
  snapshotHoldMillisecondsMax = 0;
  /** The longest time applying stood still while the machine captured a snapshot (ms). */
  snapshotStallMillisecondsMax = 0;
  /** When this node last wrote a snapshot, or started (ms since the epoch): LASTSAVE. */
  private lastSnapshotAt = Date.now();

  constructor(options: RaftNodeOptions) {
    this.store = options.store;
    this.transport = options.transport;
    this.executor = options.executor;
    this.logger = options.logger;
    this.dataDirectory = options.dataDirectory;
    this.durability = options.durability;
    this.consistency = options.consistency;
    this.tickMilliseconds = options.tickMilliseconds ?? tickMillisecondsDefault;
    this.memberSince = options.memberSince ?? null;
    this.onMember = options.onMember ?? null;
    this.electionTicks = options.electionTicks ?? electionTicksDefault;
    this.proposalTimeoutMilliseconds = options.proposalTimeoutMilliseconds ?? proposalTimeoutMillisecondsDefault;
    this.onRoleChange = options.onRoleChange ?? (() => {});
    this.machine = options.machine;
    this.snapshots = options.snapshots;
    this.snapshotEntries = options.snapshotEntries ?? snapshotEntriesDefault;
    this.snapshotBytes = options.snapshotBytes ?? snapshotBytesDefault;
    this.snapshotGrowthPercent = options.snapshotGrowthPercent ?? 0;
    this.trail = new Trail(options.snapshotTrailEntries ?? snapshotTrailEntriesDefault, options.snapshotTrailBytes ?? snapshotTrailBytesDefault);
    this.snapshotDataIndex = options.store.snapshotMetadata().index;
    this.machineApplied = options.store.snapshotMetadata().index;
    options.store.applied(this.machineApplied);
    this.writes = new WriteTracker(options.specOf ?? (() => undefined));
    // What was written before the snapshot the machine starts from is not known key by key.
    this.writes.forgetUpTo(this.machineApplied);
    const seed = crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
    this.raft = new Raft({
      id: options.id,
      storage: options.store,
      random: new SeededRandom(seed),
      electionTicks: this.electionTicks,
      heartbeatTicks: 1,
      // Applying is done on the loop's thread: a replay at start, or a follower catching up,
      // applies 1 MB of entries at a time (one large entry whole), and at start the loop answers
      // -LOADING between them.
      applyBytesMax: applyBytesMax,
    });
    this.persistedHardState = options.store.hardState();
    // Held whatever the membership: the snapshot's may be older than the log's (peers that joined
    // after it), and reading it back on a leader's loop could stall it past an election timeout.
    this.noteSnapshotData(options.snapshotData, this.snapshotDataIndex, true);
    this.updatePeers();

    this.onRoleChange(this.lastState);
    this.lastTickAt = performance.now();
    this.timer = setInterval(() => this.onTimer(), this.tickMilliseconds);
    this.schedule();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  get isLeader(): boolean {
    return !this.closed && this.failure === null && this.raft.isLeader();
  }

  /** The index of the last entry the machine has applied. */
  get appliedIndex(): number {
    return this.machineApplied;
  }

  beginWatch(): WatchHandle {
    return this.writes.watch(this.machineApplied);
  }

  /**
   * True when one of `keys` may have been written after the machine applied log index `since`:
   * by a write applied since, or by one in the log or the proposal queue and not applied yet.
   * What EXEC appends goes after all of those, so on the leader this tells exactly whether a
   * watched key changed before the transaction.
   */
  watchedKeysChanged(keys: readonly string[], since: number): boolean {
    if (this.writes.changedSince(keys, since)) return true;
    const keySet = new Set(keys);
    const last = this.raft.status().lastIndex;
    if (last > this.machineApplied) {
      const sink = { found: false, onCommand: (command: Command) => {
        if (this.touchesKeys(command) && this.writes.writes(command, keySet)) sink.found = true;
        return !sink.found;
      } };
      for (const entry of this.raft.entriesBetween(asIndex(this.machineApplied + 1), asIndex(last + 1))) {
        if (entry.type !== "normal") continue;
        new RespReader().feed(entry.data, sink);
        if (sink.found) return true;
      }
    }
    return this.queuedCommands.some((command) => this.touchesKeys(command) && this.writes.writes(command, keySet));
  }

  /** Whether a command of the log may write a key of the machine (not the clock frame, nor PUBLISH). */
  private touchesKeys(command: Command): boolean {
    return command.name !== clockCommandName && !this.executor.appliesItself(command.name);
  }

  /** True when a read may be served at once, with nothing more to check (see `soleVoterCurrent`). */
  canReadNow(): boolean {
    const until = this.fastReadsUntil;
    return until === Infinity || (until > 0 && performance.now() < until);
  }

  /** The address of the last leader this node knew (itself included), or null if it never knew one. */
  lastKnownLeaderAddress(): string | null {
    const status = this.raft.status();
    if (status.leader !== null) return status.membership.addresses[status.leader] ?? null;
    return this.lastLeaderSeen === null ? null : (status.membership.addresses[this.lastLeaderSeen] ?? null);
  }

  /** Who leads the cluster this node was removed from, as its members said last (`ClusterControl`). */
  removedLeaderHint: string | null = null;

  get removed(): boolean {
    return this.removedFromCluster;
  }

  /**
   * The client address of the leader, from the membership's addresses. A removed node, which hears
   * from nobody now, names the leader it last knew or else a member of the cluster it left
   * (which sends clients on to its leader), so that clients find the cluster again.
   */
  leaderAddress(): string | null {
    const status = this.raft.status();
    const self = this.raft.id;
    if (!this.removedFromCluster) return status.leader === null ? null : (status.membership.addresses[status.leader] ?? null);
    if (this.removedLeaderHint !== null) return this.removedLeaderHint;
    if (status.leader !== null && status.leader !== self) return status.membership.addresses[status.leader] ?? null;
    // One that learned of its removal from a vote response was campaigning: the leader it followed.
    const last = this.lastLeader === null ? undefined : status.membership.addresses[this.lastLeader];
    if (last !== undefined) return last;
    const others = status.membership.voters.filter((id) => id !== self).sort();
    for (const id of others) {
      const address = status.membership.addresses[id];
      if (address !== undefined) return address;
    }
    return null;
  }

  /** True when this node is the only voter of its cluster. */
  get soleVoter(): boolean {
    const voters = this.raft.status().membership.voters;
    return voters.length === 1 && voters[0] === this.raft.id;
  }

  /**
   * Finishes starting: waits until the committed log found on disk has been applied again (the
   * machine's state is rebuilt from it), then, if this node is its cluster's only voter, elects
   * itself at once (nobody else could lead) and waits to lead. Bounded by `timeoutMilliseconds`.
   */
  async start(timeoutMilliseconds: number): Promise<void> {
    const deadline = performance.now() + timeoutMilliseconds;
    const committed = this.store.hardState().commit;
    while (!this.closed && this.raft.status().applied < committed && performance.now() < deadline) await Bun.sleep(1);
    this.starting = false;
    // A member removed before this restart knows it now (its membership, applied, leaves it out).
    this.noticeRemoval();
    if (!this.soleVoter) return;
    this.raft.campaign();
    this.schedule();
    while (!this.closed && !this.isLeader && performance.now() < deadline) await Bun.sleep(1);
  }

  /** The membership as of the last applied entry. */
  membershipNow(): Membership {
    return this.raft.status().membership;
  }

  propose(command: Command, ticket: Ticket | null): void {
    if (this.closed || this.failure !== null) {
      ticket?.settle(undefined, this.stoppedError());
      return;
    }
    this.queuedCommands.push(command);
    this.queuedTickets.push(ticket);
    this.schedule();
    this.proposeListener?.(command);
  }

  writeRefusal(): Error | null {
    if (this.closed || this.failure !== null) return this.stoppedError();
    const reason = this.raft.proposalRefusal();
    return reason === null ? null : refusalError(reason, this.leaderAddress());
  }

  proposeNow(): void {
    if (!this.closed && this.failure === null) this.proposeQueued();
  }

  /** Told of each new leader this node learns of, with its address (proxy mode: `LeaderProxy.leaderMoved`). */
  onLeaderChange(listener: ((address: string) => void) | null): void {
    this.leaderListener = listener;
  }

  /** Told of every write queued for the log here, right as it is queued (blocked clients: `BlockedClients.proposed`). */
  onPropose(listener: ((command: Command) => void) | null): void {
    this.proposeListener = listener;
  }

  read(ticket: () => Ticket): "now" | "wait" | "notLeader" | Error {
    if (this.canReadNow()) return "now";
    if (this.closed || this.failure !== null) return this.stoppedError();
    if (this.consistency === "low") return "now";
    // A lease must be judged on the current time: catch up ticks a late timer did not deliver.
    this.catchUpTicks();
    const status = this.raft.status();
    if (status.role !== "leader") return "notLeader";
    if (this.soleVoterCurrent()) return "now";
    this.turnReads.push(ticket());
    this.schedule();
    return "wait";
  }

  receive(messages: readonly Message[]): void {
    if (this.closed || this.failure !== null) return;
    this.fastReadsUntil = 0;
    for (const message of messages) {
      if (isLeaderMessage(message)) this.lastLeaderContactAt = performance.now();
      this.raft.step(message);
    }
    this.scheduleSoon();
  }

  /** Bytes of a frame from peer `id` arrived (see `Raft.heardFrom`). */
  heardFrom(id: string): void {
    if (this.closed || this.failure !== null) return;
    if (this.raft.heardFrom(asNodeId(id))) this.lastLeaderContactAt = performance.now();
  }

  /** Peer `id` took more of what this node sends it (see `Raft.peerReading`). */
  peerReading(id: string): void {
    if (!this.closed && this.failure === null) this.raft.peerReading(asNodeId(id));
  }

  /** Proposes a membership change; the promise settles once it is applied (or refused). */
  changeMembership(change: Parameters<Raft["proposeConfigChange"]>[0]): Promise<void> {
    return new Promise((resolve, reject) => {
      const result = this.raft.proposeConfigChange(change);
      if (!result.ok) {
        reject(refusalError(result.reason, this.leaderAddress()));
        return;
      }
      this.pending.set(result.lastIndex, {
        term: result.term,
        tickets: [{ settle: (_value, error) => (error === undefined ? resolve() : reject(error)) }],
        proposedAt: performance.now(),
        commands: null,
        time: 0,
      });
      this.schedule();
    });
  }

  replicasHolding(index: number): number | null {
    return this.raft.replicasHolding(asIndex(index));
  }

  /**
   * A leader about to stop hands leadership to the voter best placed to take it, and waits (an
   * election timeout at most) until it has: the cluster goes on at once, instead of after the
   * followers' election timeout with every write refused meanwhile. Resolves whether it did.
   */
  async handOver(): Promise<boolean> {
    const target = this.closed || this.failure !== null ? null : this.raft.handOverTarget();
    if (target === null || !this.transferLeadership(target)) return false;
    // Not RAFTTRANSFER's: the node stops whether it hands over or not, and says which itself.
    this.transferTarget = null;
    const deadline = performance.now() + this.tickMilliseconds * this.electionTicks;
    while (!this.closed && this.raft.isLeader() && performance.now() < deadline) await Bun.sleep(5);
    return !this.raft.isLeader();
  }

  /** Hands leadership to `to`. */
  transferLeadership(to: NodeId): boolean {
    this.fastReadsUntil = 0;
    const started = this.raft.transferLeadership(to);
    if (started) this.transferTarget = to;
    this.schedule();
    return started;
  }

  /** A transfer RAFTTRANSFER started that the core gave up (the target never took over) is logged. */
  private noticeTransferEnd(): void {
    if (this.transferTarget === null) return;
    const status = this.raft.status();
    if (status.role === "leader" && status.leadTransferee === this.transferTarget) return;
    if (status.role === "leader") {
      const address = status.membership.addresses[this.transferTarget] ?? this.transferTarget;
      this.logger.warning(`Leadership transfer to ${address} abandoned: it did not take over within an election timeout (down, or cut off); this node leads on`);
    }
    this.transferTarget = null;
  }

  status(): NodeStatus {
    const status = this.raft.status();
    const lastTerm = this.raft.termAt(status.lastIndex) ?? 0;
    const snapshot = this.store.snapshotMetadata();
    return {
      state: this.closed || this.failure !== null ? "Shutdown" : stateName(status.role),
      term: status.term,
      leader: this.leaderAddress(),
      commitIndex: status.commit,
      // The machine's, not the core's: while a snapshot from the leader is being installed the core
      // counts it applied, and the machine still holds (and serves reads from) its old state.
      appliedIndex: this.machineApplied,
      lastLogIndex: status.lastIndex,
      lastLogTerm: lastTerm,
      lastSnapshotIndex: snapshot.index,
      lastSnapshotTerm: snapshot.term,
      pendingProposals: this.queuedCommands.length + this.pending.size,
      snapshotStallMillisecondsMax: this.snapshotStallMillisecondsMax,
      snapshotHolds: this.snapshotHolds,
      snapshotHoldMillisecondsMax: this.snapshotHoldMillisecondsMax,
      lastSnapshotAt: this.lastSnapshotAt,
      logWrites: this.store.writeCount(),
      logSyncs: this.store.syncCount(),
      electionTimeoutMilliseconds: this.tickMilliseconds * this.electionTicks,
      lastContactMilliseconds:
        status.role === "leader" ? 0 : this.lastLeaderContactAt === null ? null : performance.now() - this.lastLeaderContactAt,
    };
  }

  close(): void {
    if (this.closed) return;
    // A clean stop leaves the commit index on disk current (a restart then re-applies it all at once).
    if (this.unsavedHardState !== null && !this.running && this.failure === null) {
      try {
        this.saveBatch(this.unsavedHardState, [], null).catch(() => {});
      } catch {
        // The store refused: the commit index is learned again after the restart's election.
      }
    }
    this.closed = true;
    this.fastReadsUntil = 0;
    clearInterval(this.timer);
    if (this.commitNewsTimer !== null) clearTimeout(this.commitNewsTimer);
    const error = notAppliedError("the node is shutting down");
    for (const ticket of this.queuedTickets) ticket?.settle(undefined, error);
    this.queuedCommands = [];
    this.queuedTickets = [];
    // Proposed entries may still commit elsewhere: their fate is unknown to this node now.
    for (const entry of this.pending.values()) for (const ticket of entry.tickets) ticket?.settle(undefined, unknownOutcomeError());
    this.pending.clear();
    this.failReads(notAppliedError("the node is shutting down"));
  }

  // ---------------------------------------------------------------------------------------------

  private onTimer(): void {
    if (this.closed) return;
    this.catchUpTicks();
    this.noticeTransferEnd();
    // A removed leader that stepped down on its election timer has no Ready to notice it by.
    if (!this.running) this.noticeRemoval();
    this.expireProposals();
    this.saveUnsavedHardState();
    this.schedule();
  }

  /** Ticks the core once per tick period of wall-clock time since the last tick. */
  private catchUpTicks(): void {
    const now = performance.now();
    let due = Math.floor((now - this.lastTickAt) / this.tickMilliseconds);
    if (due <= 0) return;
    this.lastTickAt += due * this.tickMilliseconds;
    // After a long pause, two election timeouts of ticks already expire every lease and election
    // timer (a lease is shorter than one); more would only make a burst of heartbeats.
    const catchUpTicksMax = 2 * this.electionTicks + 2;
    if (due > catchUpTicksMax) {
      this.lastTickAt = now;
      due = catchUpTicksMax;
    }
    // Several at once: the loop stood still, and messages that came meanwhile are not read yet.
    if (due === 1) this.raft.tick();
    else this.raft.catchUp(due);
  }

  private expireProposals(): void {
    const deadline = performance.now() - this.proposalTimeoutMilliseconds;
    for (const [index, entry] of this.pending) {
      if (entry.proposedAt > deadline) continue;
      this.pending.delete(index);
      for (const ticket of entry.tickets) ticket?.settle(undefined, unknownOutcomeError());
    }
  }

  /**
   * Runs the loop as soon as the current callback ends (a microtask), not on the next turn of the
   * event loop: for messages from peers, whose answers gate commits and so every write's latency.
   * Client proposals keep `schedule`, which gathers a whole turn's commands into one batch.
   */
  private scheduleSoon(): void {
    if (this.soonScheduled || this.closed) return;
    this.soonScheduled = true;
    queueMicrotask(() => {
      this.soonScheduled = false;
      void this.run();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** Processes everything the core has to hand out, one Ready at a time. */
  private async run(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.rerun = false;
        this.proposeQueued();
        this.requestReads();
        while (!this.closed && this.raft.hasReady()) {
          const ready = this.raft.ready();
          await this.handleReady(ready);
          this.raft.advance();
          this.afterAdvance();
          if (this.starting) await new Promise<void>((resolve) => setImmediate(resolve));
          // Commands queued while persisting go into the next batch right away.
          this.proposeQueued();
          this.requestReads();
        }
      } while (!this.closed && (this.rerun || (this.queuedCommands.length > 0 && this.heldAtCommit === null && !this.heldForSnapshot) || this.turnReads.length > 0));
      if (!this.closed) this.maybeSnapshot();
      // Messages that leave the core nothing to hand out (a heartbeat's answer, which renews the
      // lease) cleared the fast path too: judge it again now that every message has been stepped.
      if (!this.closed) this.refreshFastReads();
      // Learning of its removal from a vote response may leave the core nothing to hand out.
      if (this.raft.hasLearnedRemoval() && !this.removedFromCluster) this.noticeRemoval();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.running = false;
    }
    this.armCommitNews();
  }

  /**
   * When a follower has not been sent the commit index, sends it after a moment unless appends
   * carry it first (under load they do: see `Raft.sendCommitNews`).
   */
  private armCommitNews(): void {
    if (this.commitNewsTimer !== null || this.closed || this.failure !== null) return;
    const index = this.raft.commitNewsOwed();
    if (index === null) return;
    this.commitNewsTimer = setTimeout(() => {
      this.commitNewsTimer = null;
      if (this.closed) return;
      this.raft.sendCommitNews(index);
      this.scheduleSoon();
    }, commitNewsDelayMilliseconds);
  }

  private proposeQueued(): void {
    if (this.queuedCommands.length === 0) return;
    if (this.holdForSnapshot()) return;
    if (this.heldAtCommit !== null && this.raft.isLeader() && this.raft.status().commit === this.heldAtCommit && performance.now() - this.heldSince < heldMillisecondsMax) return;
    this.fastReadsUntil = 0;
    const commands = this.queuedCommands;
    const tickets = this.queuedTickets;
    this.queuedCommands = [];
    this.queuedTickets = [];
    // The entries' clock: this node's time, but never earlier than a time already in the log, so
    // that time does not go back when leadership moves to a node whose clock is behind.
    const time = Math.max(Date.now(), this.highestTime, this.executor.lastAppliedTime);
    this.highestTime = time;
    const { entries, tickets: entryTickets, commands: entryCommands } = batchEntries(commands, tickets, time);
    const result: ProposeResult = this.raft.propose(entries);
    if (!result.ok) {
      if (result.reason === "uncommittedLimit" && this.mayHold(commands)) {
        // Nothing else was queued meanwhile (proposing is synchronous): they go back as they were.
        this.queuedCommands = commands;
        this.queuedTickets = tickets;
        return;
      }
      this.heldAtCommit = null;
      const error = refusalError(result.reason, this.leaderAddress());
      for (const ticket of tickets) ticket?.settle(undefined, error);
      return;
    }
    this.heldAtCommit = null;
    assert(result.lastIndex - result.firstIndex + 1 === entries.length, "one index per proposed entry");
    const now = performance.now();
    for (let i = 0; i < entries.length; i++) {
      this.pending.set(result.firstIndex + i, {
        term: result.term,
        tickets: entryTickets[i] ?? [],
        proposedAt: now,
        commands: entryCommands[i] ?? null,
        time,
      });
    }
  }

  /**
   * Whether the queued writes wait for the snapshot being written (`snapshotBacklogFactor`): only
   * a leader holds them (a follower's log grows with its leader's), and one held for
   * `heldMillisecondsMax` goes on.
   */
  private holdForSnapshot(): boolean {
    const full =
      this.snapshotting !== null &&
      this.raft.isLeader() &&
      this.appliedBytesSinceCapture >= Math.max(snapshotBacklogFactor * this.snapshotBytes, this.snapshotDataBytes);
    if (!full && !this.heldForSnapshot) return false;
    const now = performance.now();
    if (full && !this.heldForSnapshot) {
      this.heldForSnapshot = true;
      this.heldForSnapshotSince = now;
      this.snapshotHolds++;
      return true;
    }
    if (full && now - this.heldForSnapshotSince < heldMillisecondsMax) return true;
    if (this.heldForSnapshot) {
      this.heldForSnapshot = false;
      this.snapshotHoldMillisecondsMax = Math.max(this.snapshotHoldMillisecondsMax, now - this.heldForSnapshotSince);
    }
    return false;
  }

  /** Whether `commands`, refused for the uncommitted limit, may wait for commits (see `heldAtCommit`). */
  private mayHold(commands: readonly Command[]): boolean {
    const now = performance.now();
    if (this.heldAtCommit === null) this.heldSince = now;
    else if (now - this.heldSince >= heldMillisecondsMax) return false;
    let bytes = 0;
    for (const command of commands) bytes += command.frameLength;
    if (bytes > heldBytesMax) return false;
    this.heldAtCommit = this.raft.status().commit;
    return true;
  }

  private requestReads(): void {
    if (this.turnReads.length === 0) return;
    const tickets = this.turnReads;
    this.turnReads = [];
    const context = this.nextReadContext++;
    const result = this.raft.readIndex(context, this.consistency === "medium" ? "lease" : "quorum");
    if (!result.ok) {
      const error = result.reason === "notLeader" ? redirect(this.leaderAddress()) : notAppliedError("leadership is being transferred");
      for (const ticket of tickets) ticket.settle(undefined, error);
      return;
    }
    this.readWaiters.set(context, tickets);
  }

  private async handleReady(ready: Ready): Promise<void> {
    // On the wire before this node's own disk write, which may hold the loop (High's fsync): the
    // leader writes its log in parallel with its followers (Raft thesis §10.2.1).
    this.transport.sendNow(ready.messages);
    if (ready.snapshot !== null) {
      this.installing = true;
      try {
        await this.installSnapshot(ready.snapshot.metadata, ready.snapshot.data);
      } finally {
        this.installing = false;
      }
    }
    for (const entry of ready.entries) {
      if (entry.type !== "normal") continue;
      const time = entryTime(entry.data);
      if (time !== null && time > this.highestTime) this.highestTime = time;
    }
    // Committed entries that an earlier Ready already made durable are applied now, while this
    // Ready's entries are being persisted, rather than after: at High the leader's entries of one
    // turn would otherwise wait for the next turn's fsync too. Only normal entries and no-ops, up
    // to the first config entry (the core applies membership changes at advance(), and a
    // snapshot's membership must match its index), and never alongside a snapshot.
    const committed = ready.committedEntries;
    let early = 0;
    if (ready.snapshot === null) {
      const firstNew = ready.entries[0]?.index ?? Infinity;
      while (early < committed.length && committed[early]!.index < firstNew && committed[early]!.type !== "config") {
        this.applyEntry(committed[early]!);
        early++;
      }
      if (early > 0) this.store.applied(this.machineApplied);
    }
    // A hard state that moves only the commit index is not written by itself, and rides with
    // other writes only once a tick (see `unsavedHardState`), unless a membership change is
    // applied in this Ready: then the commit index that covers it is saved before it takes effect.
    let hardState = ready.hardState;
    const writes = ready.entries.length > 0 || ready.snapshot !== null;
    const appliesConfig = appliesMembershipChange(committed);
    if (hardState !== null && !changesTermOrVote(this.persistedHardState, hardState)) {
      if (!appliesConfig && (!writes || !this.commitIndexDue)) {
        this.unsavedHardState = hardState;
        hardState = null;
      }
    } else if (hardState === null && (appliesConfig || (writes && this.commitIndexDue))) {
      hardState = this.unsavedHardState;
    }
    if (hardState !== null || ready.entries.length > 0 || ready.snapshot !== null) {
      const mustWait = this.durability === "high" || ready.snapshot !== null || changesTermOrVote(this.persistedHardState, hardState);
      const saved = this.saveBatch(hardState, ready.entries, ready.snapshot?.metadata ?? null);
      // Below High nothing syncs a save by itself (only term and vote changes are synced at
      // once): a snapshot install, which must be durable before this node goes on, starts the
      // sync it waits for, or it would wait until the next term change.
      if (ready.snapshot !== null && this.durability !== "high") void this.store.flush().catch(() => {});
      if (mustWait) await saved;
      else {
        this.watchSave(saved);
        // Below High nothing waits for the flush, but the entries must at least be in the OS's
        // hands before this node acknowledges them (the messages after persist) or counts them as
        // its own: a process crash must not lose what a majority was told is stored.
        await this.store.committed();
      }
    }
    this.transport.send(ready.messagesAfterPersist);
    for (let i = early; i < committed.length; i++) this.applyEntry(committed[i]!);
    if (committed.length > 0) this.store.applied(this.machineApplied);
    for (const read of ready.readStates) this.releaseReads(read.ctx, undefined);
    for (const context of ready.droppedReads) this.releaseReads(context, redirect(this.leaderAddress()));
  }

  /** Saves a batch to the log store; the hard state it carries is then the one on disk. */
  private saveBatch(hardState: HardState | null, entries: readonly Entry[], snapshot: SnapshotMetadata | null): Promise<void> {
    const saved = this.store.save({ hardState, entries, snapshot });
    this.savesSinceTick++;
    if (hardState !== null) {
      this.persistedHardState = hardState;
      this.unsavedHardState = null;
      this.commitIndexDue = false;
    }
    return saved;
  }

  /**
   * Writes a commit index held back by `handleReady` once saves have stopped for a tick, so that
   * a restart after a quiet spell re-applies the whole committed log before serving. Below High
   * nothing waits for it; at High the store makes it durable before returning.
   */
  private saveUnsavedHardState(): void {
    const hardState = this.unsavedHardState;
    const quiet = this.savesSinceTick === 0;
    this.savesSinceTick = 0;
    this.commitIndexDue = true;
    if (hardState === null || !quiet || this.running || this.closed || this.failure !== null) return;
    let saved: Promise<void>;
    try {
      saved = this.saveBatch(hardState, [], null);
    } catch (error) {
      // A store that refuses at once (the memory backend's write on a full disk) throws here, in a
      // timer's callback: the node stops, as for a save that fails later, rather than the process.
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.watchSave(saved);
  }

  /**
   * Stops the node if a save it does not wait for fails. Below High the store hands every save
   * between two syncs the same promise (at Low one for ever, if nothing flushes): each promise is
   * watched once, not once per save, or its list of reactions would grow without bound.
   */
  private watchSave(saved: Promise<void>): void {
    if (saved === this.watchedSave) return;
    this.watchedSave = saved;
    saved.catch((error: unknown) => this.fail(error instanceof Error ? error : new Error(String(error))));
  }

  private applyEntry(entry: Entry): void {
    this.appliedBytesSinceSnapshot += entry.data.byteLength;
    this.appliedBytesSinceCapture += entry.data.byteLength;
    this.trail.applied(entry.index, entry.data.byteLength);
    this.machineApplied = entry.index;
    const pending = this.pending.get(entry.index);
    if (pending !== undefined) this.pending.delete(entry.index);
    let tickets: readonly (Ticket | null)[] = [];
    let parsed: PendingEntry | null = null;
    if (pending !== undefined) {
      if (pending.term === entry.term) {
        tickets = pending.tickets;
        parsed = pending;
      } else {
        // Another leader's entry took this index: ours was never committed and never will be.
        const error = notAppliedError("leadership changed before the write committed");
        for (const ticket of pending.tickets) ticket?.settle(undefined, error);
      }
    }
    switch (entry.type) {
      case "normal":
        this.applying = tickets;
        this.applyingAt = 0;
        // This node built the entry (same index, same term: the same entry): apply the commands
        // as parsed when they arrived rather than parsing its bytes again.
        if (parsed?.commands != null) this.executor.applyParsed(entry.index, parsed.time, parsed.commands, this.onApplied);
        else this.executor.applyEntry(entry.index, entry.data, this.onApplied);
        this.applying = [];
        return;
      case "noop":
        return;
      case "config":
        // The core applies the change itself at advance(); the proposer hears of it after that,
        // so that whoever is told "done" sees the new membership.
        this.appliedConfigTickets.push(...tickets);
        return;
    }
  }

  private writeListener: ((command: Command, value: unknown) => void) | null = null;
  private proposeListener: ((command: Command) => void) | null = null;

  onWrite(listener: ((command: Command, value: unknown) => void) | null): void {
    this.writeListener = listener;
  }

  private applyTiming: ApplyTiming | null = null;
  /** When the command being applied started, when it is timed (`ApplyTiming`); -1 when not. */
  private applyStartedAt = -1;

  /** Times the commands `timing` asks for while they are applied (SLOWLOG). */
  timeApplies(timing: ApplyTiming | null): void {
    this.applyTiming = timing;
  }

  private readonly onApplied: ApplyListener = {
    before: (command: Command) => {
      this.applying[this.applyingAt]?.beforeApply?.();
      this.applyStartedAt = this.applyTiming?.times(command.name) === true ? performance.now() : -1;
    },
    after: (command: Command, result: ApplyResult) => {
      if (this.applyStartedAt >= 0) {
        this.applyTiming?.note(command, (performance.now() - this.applyStartedAt) * 1000, this.applying[this.applyingAt] ?? null);
        this.applyStartedAt = -1;
      }
      if (result.error === undefined && !result.unchanged && this.touchesKeys(command)) {
        this.writes.applied(command, this.machineApplied);
        this.writeListener?.(command, result.value);
      }
      const ticket = this.applying[this.applyingAt++];
      ticket?.settle(result.value, result.error);
    },
  };

  private releaseReads(context: number, error: unknown): void {
    const tickets = this.readWaiters.get(context);
    if (tickets === undefined) return;
    this.readWaiters.delete(context);
    for (const ticket of tickets) ticket.settle(undefined, error);
  }

  private failReads(error: unknown): void {
    for (const ticket of this.turnReads) ticket.settle(undefined, error);
    this.turnReads = [];
    for (const context of [...this.readWaiters.keys()]) this.releaseReads(context, error);
  }

  /**
   * A snapshot from the leader (Raft §7): its file is made durable first, then the machine's state
   * is replaced, then (by the caller, in the same save as the rest of the Ready) the log is reset.
   */
  private async installSnapshot(metadata: SnapshotMetadata, data: Uint8Array): Promise<void> {
    // One snapshot writer at a time: a local snapshot still being written finishes first.
    await this.snapshotting?.catch(() => {});
    const writer = await this.snapshots.create(metadata);
    try {
      await writer.write(data);
      await writer.finish();
    } catch (error) {
      await writer.abort().catch(() => {});
      throw error;
    }
    const restored = await this.machine.restore(snapshotReaderOf(data));
    if (restored instanceof Error) throw restored;
    this.noteSnapshotData(data, metadata.index);
    this.machineApplied = metadata.index;
    this.store.applied(metadata.index);
    this.trail.reset();
    this.writes.forgetUpTo(metadata.index);
    this.logger.notice(`Installed a snapshot from the leader at index ${metadata.index} (${data.byteLength} bytes)`);
  }

  /**
   * Notes the data of the latest snapshot. A node with peers keeps it in memory, to send it to a
   * follower that needs it without reading it back; a node alone keeps only its size: the bytes
   * would be a second copy of its state that nothing sends (a heap snapshot of one node found 367 MB
   * held there after its large values were deleted), and they are in the file if a node joins
   * (a learner first: the one voter's loop may stand still while it reads them).
   */
  private noteSnapshotData(data: Uint8Array, index: number, hold = false): void {
    const membership = this.raft.status().membership;
    this.snapshotDataIndex = index;
    this.snapshotDataBytes = data.byteLength;
    this.snapshotData = hold || membership.voters.length + membership.learners.length > 1 ? data : null;
  }

  /**
   * The data of the snapshot at `metadata`, for the core to send to a follower: held in memory, or
   * read back from its file, checked, and held from then on (the node has a peer now).
   */
  snapshotDataFor(metadata: SnapshotMetadata): Uint8Array {
    if (metadata.index !== this.snapshotDataIndex) return new Uint8Array(0);
    if (this.snapshotData === null) {
      const data = this.snapshots.readDataSync(metadata);
      if (data === null) throw new Error(`the snapshot at index ${metadata.index} is recorded but its file is gone from ${this.snapshots.dir}`);
      this.snapshotData = data;
    }
    return this.snapshotData;
  }

  /**
   * Takes a snapshot of the machine at the current applied index, writes it to a file, records
   * it, and compacts the log behind it, keeping the trail (`Trail`). The machine captures its
   * state synchronously inside `snapshot()` (before its first await), at exactly this index:
   * nothing is applied until `snapshot()` returns, so no later write can leak in.
   */
  snapshot(): Promise<void> {
    if (this.snapshotting !== null) return this.snapshotting;
    if (this.snapshotsDisabled) return Promise.reject(new RespError("ERR snapshots are disabled by the machine"));
    // The machine's own applied index, not the core's: when a snapshot from the leader is being
    // installed, the core already counts it applied while the machine still holds its old state.
    // (The machine may be ahead of the core while a Ready is persisted: it applied entries made
    // durable earlier, none of them a membership change, so the membership below is still right.)
    const status = this.raft.status();
    const index = this.machineApplied;
    if (this.installing || index < status.applied) return Promise.resolve();
    const term = this.raft.termAt(index);
    if (index <= this.store.snapshotMetadata().index || term === null) return Promise.resolve();
    const metadata: SnapshotMetadata = { index, term, membership: status.membership };
    const chunks: Uint8Array[] = [];
    const started = performance.now();
    // The machine captured its state when `snapshot` was called and writes it while the node goes
    // on. Its writes only collect the chunks, so a machine that awaits them would run to the end
    // in microtasks, the event loop standing still meanwhile (1,000,000 keys: seconds, long enough
    // to lose leadership). So every few milliseconds of work a write answers with a promise that
    // resolves on the next turn of the loop: heartbeats, acknowledgements and clients get through.
    let sliceStart = started;
    let longestSlice = 0;
    const writer: MachineSnapshotWriter = {
      write: (chunk) => {
        // Copied: a machine may reuse its buffers between writes.
        chunks.push(chunk.slice());
        const now = performance.now();
        if (now - sliceStart < snapshotSliceMilliseconds) return undefined;
        longestSlice = Math.max(longestSlice, now - sliceStart);
        return new Promise<void>((resolve) =>
          setImmediate(() => {
            sliceStart = performance.now();
            resolve();
          }),
        );
      },
    };
    let result: ReturnType<Machine["snapshot"]>;
    try {
      result = this.machine.snapshot(writer);
    } catch (error) {
      result = error instanceof Error ? error : new Error(String(error));
    }
    // Applying stands still only while the machine captures its state (it returns at its first await).
    const stall = performance.now() - started;
    this.appliedBytesSinceCapture = 0;
    this.snapshotting = (async () => {
      const outcome = await result;
      if (outcome === ErrDisabled) {
        this.snapshotsDisabled = true;
        this.logger.notice("The machine disabled snapshots (ErrDisabled): the log is not compacted");
        throw new RespError("ERR snapshots are disabled by the machine");
      }
      if (outcome instanceof Error) throw outcome;
      longestSlice = Math.max(longestSlice, performance.now() - sliceStart);
      // The longest the event loop stood still for this snapshot: the capture, or a slice of writing.
      this.snapshotStallMillisecondsMax = Math.max(this.snapshotStallMillisecondsMax, stall, longestSlice);
      const data = Buffer.concat(chunks);
      // The chunks are in `data` now: not a second copy of the state while the file is written.
      chunks.length = 0;
      const writer = await this.snapshots.create(metadata);
      try {
        await writer.write(data);
        await writer.finish();
      } catch (error) {
        await writer.abort().catch(() => {});
        throw error;
      }
      this.store.recordSnapshot(metadata);
      this.lastSnapshotAt = Date.now();
      this.noteSnapshotData(data, index);
      const compactTo = this.trail.compactionPoint(index);
      if (compactTo >= this.store.firstIndex()) this.store.compact(compactTo as Index);
      this.logger.notice(
        `Snapshot at index ${index} written (${data.byteLength} bytes, applying paused ${stall.toFixed(1)} ms, ` +
          `the loop held at most ${Math.max(stall, longestSlice).toFixed(1)} ms, ` +
          `${(performance.now() - started).toFixed(0)} ms in all); log compacted to ${Math.max(0, compactTo)}`,
      );
    })().finally(() => {
      this.snapshotting = null;
      // Writes held for it go on (`holdForSnapshot`).
      if (this.heldForSnapshot) this.schedule();
    });
    return this.snapshotting;
  }

  private maybeSnapshot(): void {
    if (this.snapshotting !== null || this.snapshotsDisabled || this.installing) return;
    if (performance.now() < this.snapshotRetryAt) return;
    const entries = this.raft.status().applied - this.store.snapshotMetadata().index;
    if (entries < this.snapshotEntries && this.appliedBytesSinceSnapshot < this.snapshotBytes) return;
    if (this.appliedBytesSinceSnapshot * 100 < this.snapshotDataBytes * this.snapshotGrowthPercent) return;
    this.appliedBytesSinceSnapshot = 0;
    this.snapshot().then(
      () => {
        this.snapshotFailures = 0;
        // One that came due while this one was written starts now, not at the next write (a burst
        // that ended meanwhile left its log uncompacted until then): the loop judges, at its end.
        this.schedule();
      },
      (error: unknown) => {
        if (this.snapshotsDisabled) return;
        // A machine whose snapshot fails would otherwise be asked again after every write past
        // the threshold (a warning each time): the next try waits, a second, doubling to 10 minutes.
        this.snapshotFailures++;
        const wait = Math.min(snapshotRetryMillisecondsMax, 1000 * 2 ** Math.min(this.snapshotFailures - 1, 20));
        this.snapshotRetryAt = performance.now() + wait;
        this.logger.warning(`Snapshot failed: ${error instanceof Error ? error.message : String(error)}; the next try in ${Math.round(wait / 1000)} s`);
      },
    );
  }

  private snapshotFailures = 0;
  /** When an automatic snapshot may be tried again after a failure (`performance.now()` time). */
  private snapshotRetryAt = 0;

  /**
   * True when this node is the only voter, leads, has committed an entry of its own term and
   * applied everything committed. The only voter leads until it applies a change that adds
   * another, so no one else can have committed anything; once an entry of its own term is
   * committed (Raft thesis §6.4: until then entries of the previous term may commit later), its
   * applied state is current, which is what ReadIndex would confirm.
   */
  private soleVoterCurrent(): boolean {
    if (this.closed || this.failure !== null) return false;
    const status = this.raft.status();
    const voters = status.membership.voters;
    return (
      status.role === "leader" &&
      status.applied === status.commit &&
      voters.length === 1 &&
      voters[0] === status.id &&
      this.raft.termAt(status.commit) === status.term
    );
  }

  /**
   * Below High consistency, when this node leads under a valid lease and its machine has applied
   * everything committed: until when a read may be answered at once. That is what a lease read
   * through the core would do (confirm at the commit index, serve once it is applied), without a
   * turn of the loop per batch of reads. The deadline is where the lease ends in ticks, taken from
   * the last tick's time; a paused process resumes past it and takes the slow path, which catches
   * up the ticks first. 0 when reads may not be served at once. (At Low a read needs none of this,
   * `read` answers it at once anyway; a write that changes nothing does, see `Unchanged`.)
   */
  private leaseReadsUntil(): number {
    if (this.consistency === "high" || this.closed || this.failure !== null || this.installing) return 0;
    const status = this.raft.status();
    if (status.role !== "leader" || this.machineApplied < status.commit) return 0;
    const left = this.raft.leaseTicksLeft();
    return left < 0 ? 0 : this.lastTickAt + left * this.tickMilliseconds;
  }

  /**
   * Between two advances nothing a read depends on changes, unless a message arrives (or time runs
   * out on a lease): judged after each advance, and once the loop has stepped every message.
   */
  private refreshFastReads(): void {
    this.fastReadsUntil = this.soleVoterCurrent() ? Infinity : this.leaseReadsUntil();
  }

  private afterAdvance(): void {
    this.refreshFastReads();
    for (const ticket of this.appliedConfigTickets.splice(0)) ticket?.settle(undefined, undefined);
    this.maybeSnapshot();
    this.updatePeers();
    this.noticeRemoval();
    const status = this.raft.status();
    if (status.leader !== null && status.leader !== this.announcedLeader) {
      this.announcedLeader = status.leader;
      const address = this.leaderAddress();
      if (address !== null) this.leaderListener?.(address);
    }
    const state = stateName(status.role);
    if (state !== this.lastState) {
      this.lastState = state;
      this.logger.notice(`Raft state is now ${state} (term ${status.term})`);
      this.onRoleChange(state);
      if (state !== "Leader") this.failReads(redirect(this.leaderAddress()));
    }
  }

  /**
   * Once this node has been a member and a membership without it has been applied at a later
   * index, it was removed: it says so and stops taking part (a removed server must not disrupt the
   * cluster, and its clients must not be served from a state that no longer advances). The index
   * at which it first found itself a member is kept in its data directory, so that a removed node
   * restarted knows it too; comparing indexes, not just "was a member once", keeps a node whose
   * restart applied less than before (its commit index is saved lazily) from taking an older
   * membership, from before it joined, for its removal.
   */
  private noticeRemoval(): void {
    const status = this.raft.status();
    const membership = status.membership;
    if (status.leader !== null && status.leader !== this.raft.id) this.lastLeader = status.leader;
    if (status.leader !== null) this.lastLeaderSeen = status.leader;
    const member = membership.voters.includes(this.raft.id) || membership.learners.includes(this.raft.id);
    if (member && !status.removalLearned) {
      if (this.memberSince === null) {
        this.memberSince = status.applied;
        this.onMember?.(status.applied).catch((error: unknown) => this.logger.warning(`Recording this node's membership failed: ${String(error)}`));
      }
      return;
    }
    if (this.memberSince === null || status.applied < this.memberSince || this.removedFromCluster || membership.voters.length === 0) return;
    // A removed leader hands over first (Raft thesis §4.2.2): the core sends TimeoutNow to the
    // most up-to-date voter and steps down (or steps down after an election timeout). Stopping
    // before that message has left would leave the cluster leaderless until an election timer
    // runs out, so stop once this node no longer leads and has nothing left to send.
    if (this.raft.isLeader() || this.raft.hasReady()) return;
    this.removedFromCluster = true;
    this.logger.warning("This node was removed from the cluster: it no longer takes part. Move its data directory away to add it again as a new member.");
    this.fail(new Error("this node was removed from the cluster"));
  }

  /** Points the transport at the members of the current membership. */
  private updatePeers(): void {
    const membership = this.raft.status().membership;
    if (membership === this.membership) return;
    this.membership = membership;
    const peers = new Map<string, string>();
    for (const id of [...membership.voters, ...membership.learners]) {
      const address = membership.addresses[id];
      if (address !== undefined && id !== this.raft.id) peers.set(id, address);
    }
    this.transport.setPeers(peers);
  }

  stopped(): Error | null {
    return this.failure === null ? null : this.stoppedError();
  }

  /** Why this node serves nothing any more. */
  private stoppedError(): RespError {
    if (this.removedFromCluster) return redirect(this.leaderAddress());
    if (this.failure !== null) return new RespError(`ERR this node stopped: ${this.failure.message}`);
    return notAppliedError("the node is shutting down");
  }

  /**
   * A failure the node cannot continue from (the disk refused a write): stop taking part. Clients
   * are then told why (`stoppedError`), with the disk's free space when the disk is the cause.
   */
  private fail(error: Error): void {
    if (this.failure !== null) return;
    const note = this.dataDirectory === undefined ? "" : diskNote(error, this.dataDirectory);
    this.failure = note === "" ? error : new Error(`${error.message}${note}`, { cause: error });
    // A removal has said what it means already (restarting does not undo it). A damaged store's
    // error says what to do itself; a full or failing disk's is told here.
    if (!this.removedFromCluster) {
      const advice =
        error instanceof StorageCorruptionError
          ? ""
          : note === ""
            ? " It serves nothing until it is restarted; restart it: what it acknowledged is kept."
            : " It serves nothing until it is restarted; make room on the disk (or repair it), then restart the node: what it acknowledged is kept.";
      const message = this.failure.message.endsWith(".") ? this.failure.message : `${this.failure.message}.`;
      this.logger.warning(`Raft node stopped: ${message}${advice}`);
    }
    this.close();
  }
}

/** True when `entries` (committed, about to be applied) hold a membership change. */
function appliesMembershipChange(entries: readonly Entry[]): boolean {
  for (const entry of entries) if (entry.type === "config") return true;
  return false;
}

function stateName(role: string): NodeStatus["state"] {
  switch (role) {
    case "leader":
      return "Leader";
    case "candidate":
    case "preCandidate":
      return "Candidate";
    default:
      return "Follower";
  }
}

function refusalError(reason: string, leader: string | null): RespError {
  switch (reason) {
    case "notLeader":
      return redirect(leader);
    case "transferring":
      return notAppliedError("leadership is being transferred");
    case "uncommittedLimit":
      return notAppliedError("too many writes are waiting to commit");
    case "configPending":
      return new RespError("ERR another membership change is in progress; retry when it is done");
    case "invalidChange":
      return new RespError("ERR the membership would be left without a voter (or the change is not one Raft allows): refused");
    default:
      return new RespError(`ERR the change was refused (${reason})`);
  }
}
