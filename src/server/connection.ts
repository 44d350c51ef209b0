/**
 * One client connection: its request reader, its ordered reply queue and its unsent output.
 *
 * Replies leave in request order. A command whose reply is ready at once (PING, a read with
 * nothing queued before it) is written straight into the server's shared output buffer. A command
 * that must wait (a write until it commits, a read queued behind a write) takes a slot in the
 * connection's queue, and everything after it waits behind it: later replies are either run when
 * their slot reaches the head (reads, so that a connection always reads its own writes) or kept as
 * bytes (replies that were ready at once).
 */
import type { WatchHandle } from "../node/write-tracker.ts";
import type { Socket } from "bun";
import { Blocked, type Conn } from "../api.ts";
import { assert } from "../assert.ts";
import { errorReplyText } from "../errors.ts";
import { type Command, type CommandSink, RespReader } from "../resp/reader.ts";
import type { Protocol } from "../resp/writer.ts";
import type { PeerSession } from "../transport/transport.ts";
import type { BlockedClients } from "./blocking.ts";
import type { Server } from "./server.ts";

/** What a queued reply waits for. */
export const enum SlotKind {
  /** Bytes already encoded, waiting only for the slots before them. */
  Reply,
  /** A read whose `respond` runs when it reaches the head of the queue. */
  Read,
  /** A write whose `respond` runs once it has been applied and reaches the head. */
  Write,
}

/** A place in a connection's reply queue. */
export class Slot {
  done: boolean;
  value: unknown = undefined;
  error: unknown = undefined;

  constructor(
    readonly kind: SlotKind,
    /** The command name, for error texts. */
    readonly name: string,
    readonly bytes: Uint8Array | null,
    readonly respond: ((value: unknown) => void) | null,
    readonly connection: Connection,
    /** A read that must wait for a barrier (ReadIndex or lease) before it may run. */
    readonly barrier = false,
  ) {
    this.done = kind !== SlotKind.Write && !barrier;
  }

  /**
   * Called by the node just before this write is applied: the reads queued before it on its
   * connection run now, whatever the client's output backlog, so none can see this write.
   */
  beforeApply(): void {
    this.applied = true;
    this.settleReadsBefore(undefined);
    if (!this.connection.closed) this.connection.server.drainQueue(this.connection, true);
  }

  /** Reads of a transaction that run just before this write (its first write) is applied, if any. */
  readsBefore: Slot[] | null = null;

  /** A write: set when this node applies it (a write that fails without it was never applied here). */
  applied = false;
  /**
   * A read queued behind a pending write of its connection, served without a barrier of its own:
   * the write's commit is its proof that this node's state is current. If that write fails
   * unapplied, the read has no proof and is answered with an error instead (`Connection.runSlot`).
   */
  afterWrite = false;
  /** A command forwarded to the leader (proxy mode): settling it ends its connection's wait on that leader. */
  forwarded = false;
  /** A forwarded read: losing the leader's link before its reply cannot leave it half done. */
  forwardedRead = false;
  /**
   * A blocking command outside a transaction: where it waits when applied with nothing to do, and
   * the command, proposed again when one of its keys is written (see `Blocked`).
   */
  blocker: BlockedClients | null = null;
  command: Command | null = null;

  private settleReadsBefore(error: unknown): void {
    const reads = this.readsBefore;
    if (reads === null) return;
    this.readsBefore = null;
    for (const read of reads) read.settle(undefined, error);
  }

  /**
   * Called by the node right after the write has been applied (or has failed), before the next
   * command in the log is applied. The connection's queue is drained now, not later: reads queued
   * behind this write must see the state just after it, and not a later write of this same
   * connection that a pipeline already proposed.
   */
  settle(value: unknown, error: unknown): void {
    assert(!this.done, "a write is settled once");
    const blocker = this.blocker;
    if (blocker !== null && this.command !== null) {
      // A blocking command that found nothing waits (its client with it), unless it may not.
      if (error === undefined && value instanceof Blocked) {
        const answer = blocker.wait(this, this.command, value);
        if (answer === null) return;
        if (answer instanceof Blocked) value = answer;
        else {
          value = undefined;
          error = answer;
        }
      }
      blocker.done(this);
    }
    // A write that failed before it was applied takes the transaction's reads waiting on it along.
    this.settleReadsBefore(error);
    this.done = true;
    this.value = value;
    this.error = error;
    if (this.barrier) this.connection.barrierResolved();
    if (this.forwarded) {
      const connection = this.connection;
      connection.forwardedPending--;
      const next = connection.afterForwarded;
      if (connection.forwardedPending === 0 && next !== null) {
        connection.afterForwarded = null;
        next();
      }
    }
    const server = this.connection.server;
    if (!this.connection.closed) server.drainQueue(this.connection);
    server.markReady(this.connection);
  }
}

/**
 * The reply to a read queued behind a write that failed before this node applied it: the read had
 * no proof of its own that the state here is current (the node may have lost leadership), so it
 * is not served. A redirect is passed on as it is, for clients that follow it.
 */
function readRefusedText(writeError: unknown): string {
  const text = errorReplyText(writeError, "write");
  if (text.startsWith("MOVED ") || text.startsWith("CLUSTERDOWN ")) return text;
  return "TRYAGAIN The write before this read on the connection was not applied, so the read was not served; retry it";
}

/** Per-connection data attached to the Bun socket. */
export class Connection implements Conn, CommandSink {
  readonly remoteAddress: string;
  protocol: Protocol = 2;
  context: unknown = undefined;
  /** `CLIENT SETNAME`. */
  name = "";
  /** `CLIENT SETINFO LIB-NAME` / `LIB-VER`. */
  libraryName = "";
  libraryVersion = "";
  readonly createdAt = Date.now();
  lastCommandAt = Date.now();
  lastCommand = "NULL";
  commandsProcessed = 0;

  readonly reader: RespReader;
  /** The reply queue: `queue[queueHead]` is the oldest slot still waiting. */
  private queue: Slot[] = [];
  private queueHead = 0;
  /** While dispatching with slots queued: where in the shared writer this connection's captured bytes start, else -1. */
  captureMark = -1;

  /** Output that the socket did not take yet, oldest first. */
  readonly unsent: Uint8Array[] = [];
  unsentBytes = 0;
  /** The length of the largest chunk in `unsent`, or -1 when not known (`Server.checkOutput`). */
  unsentLargest = 0;
  /** True while reading is paused (too much output waiting, or too many queued replies). */
  inputPaused = false;
  /** The client closed its side (a FIN): it sends nothing more, though it may still read replies. */
  inputEnded = false;
  /**
   * A blocking command of this client waits (`Blocked`): what it sends meanwhile is held unparsed,
   * but the socket is still read, so that a client that leaves is seen to leave (bounded by the
   * query buffer limit, as all input is).
   */
  readsWhileBlocked = false;
  /** True while the reader holds parsed-but-not-dispatched bytes because dispatch was stopped. */
  inputStopped = false;
  /** True while a later turn of the loop is to go on parsing what was held back (`Server.resumeLater`). */
  resumeScheduled = false;
  /** Close once every queued reply has been sent (QUIT, protocol errors, `close()`). */
  closeAfterReply = false;
  closed = false;

  constructor(
    readonly server: Server,
    readonly socket: Socket<Connection>,
    readonly id: number,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
    this.reader = new RespReader(server.readerLimits);
  }

  /** Number of replies waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  onCommand(command: Command): boolean {
    if (this.closeAfterReply || this.closed) return false;
    this.server.dispatch(this, command);
    // A command waits for the replies before it: what follows is parsed only after it ran.
    if (this.whenIdle !== null) {
      this.inputStopped = true;
      return false;
    }
    // Too many replies waiting, or too many bytes not yet taken by the client: parse no more
    // until it catches up (the rest stays in the reader, and the socket is paused).
    if (this.queued >= this.server.limits.queuedRepliesMax || this.server.outputBacklog(this) > this.server.limits.outputSoftBytesMax) {
      this.inputStopped = true;
      return false;
    }
    return !this.closeAfterReply && !this.closed;
  }

  /** The peer handshake's state when this connection is (becoming) a link from another node. */
  peerSession: PeerSession | null = null;

  /** Whether the client connected over the loopback interface (protected mode serves only those). */
  local = true;
  /** Whether the client has authenticated (true from the start when no password is set). */
  authenticated = true;

  /** AUTH (or HELLO's AUTH) succeeded: the client may now send what the server allows anyone. */
  grantAccess(): void {
    if (!this.authenticated && this.peerSession === null) this.reader.setLimits(this.server.readerLimits);
    this.authenticated = true;
  }
  /** Whether the client authenticated as the admin user (needed for cluster administration when an admin password is set). */
  admin = true;

  /** The commands queued since MULTI, their bytes, and whether queueing one failed (EXEC then aborts), or null. */
  transaction: { readonly commands: Command[]; bytes: number; failed: boolean } | null = null;
  /**
   * The keys WATCHed since the last EXEC, DISCARD or UNWATCH, and the node's handle on the watch
   * (the applied index when the first was), or null.
   */
  watch: { readonly keys: Set<string>; readonly handle: WatchHandle } | null = null;
  /**
   * A command that waits for every reply queued before it (WATCH behind the connection's own
   * writes in flight): run once the queue is empty, before anything after it is parsed.
   */
  whenIdle: (() => void) | null = null;

  /** Forgets the watched keys, telling the node (UNWATCH, DISCARD, and when the client goes). */
  forgetWatch(): void {
    this.watch?.handle.release();
    this.watch = null;
  }
  /** True while EXEC runs the queued commands. */
  inExec = false;
  /**
   * Reads of the running EXEC that come before its first write: they run just before that write
   * is applied, so the whole transaction sees one state (see `Slot.beforeApply`).
   */
  execReads: Slot[] = [];
  /** True once the running EXEC has queued a write: its later reads wait for that write instead. */
  execWrote = false;

  /**
   * READONLY (until READWRITE): a cluster client that reads from replicas. At a follower that may
   * not serve reads itself (consistency medium or high), its reads are served by the leader
   * through this node, whatever the redirect mode.
   */
  replicaReads = false;
  /** Set once this connection's commands were forwarded to the leader (proxy mode): its reads go there too. */
  readsAtLeader = false;
  /**
   * Commands forwarded to the leader at `forwardedTo` whose replies have not come back. While
   * there are some, the connection's next commands go there too, whatever this node learns in
   * between (another leader, or its own election): that leader then sees them in the client's
   * order, so a read cannot overtake the write before it, nor see a write sent after it.
   */
  forwardedPending = 0;
  forwardedTo = "";
  /** The link of this client's blocking command forwarded to the leader (proxy mode), while it waits. */
  blockedLink: { close(why: string): void } | null = null;
  /** A blocking command waiting for the replies of the commands forwarded before it (proxy mode). */
  afterForwarded: (() => void) | null = null;
  /** SUBSCRIBE's channels and PSUBSCRIBE's patterns (null until the first). */
  channelSubscriptions: Set<string> | null = null;
  patternSubscriptions: Set<string> | null = null;

  /** True while the server runs one of this connection's commands. */
  dispatching = false;
  /** The command being dispatched is to be shown to MONITOR once it has run (set by the dispatcher). */
  shownToMonitors = false;
  /** The number of `apply` calls of the command being dispatched (one command, one apply). */
  appliesInDispatch = 0;
  /** Writes queued on this connection whose replies have not been written yet. */
  private pendingWrites = 0;
  /** The error of the last write whose reply was written, if it failed without being applied here. */
  private lastWriteRefused: unknown = undefined;
  /** The last write queued was forwarded to the leader (proxy mode), not proposed here. */
  private lastQueuedWriteForwarded = false;
  /** Reads in the queue still waiting for their barrier (ReadIndex or lease). */
  private unresolvedBarriers = 0;
  /**
   * Writes held back behind a read that waits for its barrier: if they were proposed at once, they
   * could apply before the read may run, and the read would see a write its client sent after it.
   * (A read that does not wait is run before any later write of its connection applies: see
   * `Slot.beforeApply`.)
   */
  private readonly heldWrites: { readonly command: Command; readonly slot: Slot }[] = [];

  /**
   * True while the last write queued on this connection is one this node proposed, not yet
   * answered: a read behind it is served right after it applies.
   */
  get hasPendingLocalWrite(): boolean {
    return this.pendingWrites > 0 && !this.lastQueuedWriteForwarded;
  }

  /** True while a write of this connection waits for its reply (applied, refused or forwarded). */
  get hasWritesInFlight(): boolean {
    return this.pendingWrites > 0;
  }

  /** Proposes a write now, or holds it while a read before it waits for its barrier. */
  proposeInOrder(command: Command, slot: Slot): void {
    if (this.unresolvedBarriers > 0 || this.heldWrites.length > 0) this.heldWrites.push({ command, slot });
    else this.server.propose(command, slot);
  }

  /** A read's barrier resolved: once none is left, the writes held behind them are proposed. */
  barrierResolved(): void {
    assert(this.unresolvedBarriers > 0, "a barrier resolves once");
    this.unresolvedBarriers--;
    if (this.unresolvedBarriers > 0) return;
    // Every held write was queued after the barrier reads that held it back.
    for (const held of this.heldWrites.splice(0)) this.server.propose(held.command, held.slot);
    this.server.afterCommand();
  }

  /** Adds a slot; any bytes captured since the last slot go in first, to keep order. */
  enqueue(slot: Slot): void {
    this.server.cutCaptured(this);
    if (slot.kind === SlotKind.Write) {
      this.pendingWrites++;
      this.lastQueuedWriteForwarded = slot.forwarded;
    }
    if (slot.barrier) this.unresolvedBarriers++;
    this.pushSlot(slot);
    // Whatever the command writes after this must wait behind the slot.
    if (this.dispatching) this.captureMark = this.server.outputMark(this);
  }

  /** Appends a slot as it is. */
  pushSlot(slot: Slot): void {
    this.queue.push(slot);
  }

  /** The oldest waiting slot, if any. */
  head(): Slot | undefined {
    return this.queue[this.queueHead];
  }

  /** Removes the head slot. */
  shift(): void {
    this.queue[this.queueHead] = undefined as unknown as Slot;
    this.queueHead++;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Writes a reply for a slot that reached the head of the queue. */
  runSlot(slot: Slot): void {
    if (slot.kind === SlotKind.Reply) {
      if (slot.bytes !== null) this.writeReply(slot.bytes);
      return;
    }
    if (slot.kind === SlotKind.Write) {
      this.pendingWrites--;
      this.lastWriteRefused = slot.error !== undefined && !slot.applied ? slot.error : undefined;
    } else if (slot.afterWrite && this.lastWriteRefused !== undefined) {
      this.writeError(readRefusedText(this.lastWriteRefused));
      return;
    }
    if (slot.error !== undefined) {
      this.writeError(errorReplyText(slot.error, slot.name));
      return;
    }
    this.server.runRespond(this, slot.name, slot.respond, slot.value);
  }

  // Conn: every write goes to the server's shared output buffer, aimed at this connection (nothing
  // once the connection is closed: a reply cut off at the output limit is not built further).
  writeString(value: string): void {
    if (!this.closed) this.server.writerFor(this).simple(value);
  }
  writeError(message: string): void {
    if (!this.closed) this.server.writeError(this, message);
  }
  writeInt(value: number | bigint): void {
    if (!this.closed) this.server.writerFor(this).integer(value);
  }
  writeBulk(value: Uint8Array | string): void {
    if (!this.closed) this.server.writerFor(this).bulk(value);
  }
  writeNull(): void {
    if (!this.closed) this.server.writerFor(this).null();
  }
  writeArray(count: number): void {
    if (!this.closed) this.server.writerFor(this).array(count);
  }
  writeMap(pairs: number): void {
    if (!this.closed) this.server.writerFor(this).map(pairs);
  }
  writeDouble(value: number): void {
    if (!this.closed) this.server.writerFor(this).double(value);
  }
  writeRaw(bytes: Uint8Array): void {
    if (!this.closed) this.server.writerFor(this).raw(bytes);
  }
  /** One whole reply, already encoded (relayed from the leader, or set aside): see `RespWriter.reply`. */
  writeReply(bytes: Uint8Array): void {
    if (!this.closed) this.server.writerFor(this).reply(bytes);
  }
  close(): void {
    this.closeAfterReply = true;
    this.server.markReady(this);
  }
}
