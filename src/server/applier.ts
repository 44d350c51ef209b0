/**
 * The applier handed to the machine for client commands. A read (`mutate === null`) answers at
 * once when nothing is queued on the connection, else it waits its turn, so a connection always
 * reads its own writes. A write is proposed to the log and answered once it has been applied.
 */
import type { Applier, Conn, Unchanged } from "../api.ts";
import { assert } from "../assert.ts";
import { redirect } from "../errors.ts";
import type { Replicator } from "../node/replicator.ts";
import type { Command } from "../resp/reader.ts";
import type { BlockedClients } from "./blocking.ts";
import { Connection, Slot, SlotKind } from "./connection.ts";
import { execFrame, type LeaderProxy, multiFrame } from "./proxy.ts";

/**
 * What a node that is not the leader does with a command only the leader may serve: answer
 * `-MOVED 0 leader` (cluster clients and redis-cli -c follow it), answer Finn's `-TRY leader`, or
 * forward it to the leader and relay the reply. With no leader known: `-CLUSTERDOWN`.
 */
export type RedirectMode = "moved" | "try" | "proxy";

/** The reply of a command whose `respond` writes nothing: see `Server.runRespond`. */
function answerOk(): void {}

/**
 * Nothing a client sends after a blocking command is parsed until that command is answered, as
 * Redis runs nothing of a blocked client; its socket is still read (`readsWhileBlocked`).
 */
function holdWhileBlocked(conn: Connection): void {
  if (!conn.dispatching || conn.whenIdle !== null) return;
  conn.readsWhileBlocked = true;
  conn.whenIdle = () => {
    conn.readsWhileBlocked = false;
  };
}

export class ClientApplier implements Applier {
  constructor(
    private readonly node: Replicator,
    private readonly mode: RedirectMode = "moved",
    private readonly proxy: LeaderProxy | null = null,
    /** Where blocking commands wait (null: they do not, and answer at once as inside EXEC). */
    private readonly blocked: BlockedClients | null = null,
  ) {}

  apply<T>(
    conn: Conn | null,
    command: Command,
    mutate: (() => T) | null,
    respond: ((value: T) => void) | null,
    unchanged?: (() => Unchanged<T> | null) | null,
  ): void {
    if (conn !== null && !(conn instanceof Connection)) {
      throw new TypeError("apply: conn must be the connection the command came from");
    }
    if (conn !== null && conn.dispatching) {
      // One command, one apply: a second would propose a second write, and answer twice.
      if (conn.appliesInDispatch > 0) throw new Error("apply called more than once for one command");
      conn.appliesInDispatch++;
    }
    const stopped = this.node.stopped();
    if (stopped !== null) {
      // A removed node sends clients to the cluster it left, as a follower sends them to its leader.
      if (this.node.removed && conn !== null && (mutate !== null || respond !== null)) {
        this.notLeader(conn, command);
        return;
      }
      throw stopped;
    }
    // The slot keeps `respond` untyped; it is only ever called with this mutate's own result.
    const reply = respond as ((value: unknown) => void) | null;
    if (conn !== null && conn.forwardedPending > 0 && (mutate !== null || reply !== null)) {
      if (mutate !== null && this.mode !== "proxy" && !this.node.isLeader) {
        // Only reads went to the leader (READONLY): a write is redirected, as it is without
        // them, whatever the timing of their replies. It is not applied anywhere, so its
        // redirect, answered in its turn, cannot overtake them.
        this.notLeader(conn, command);
        return;
      }
      // (A read never waits, even of a blocking command: XREAD without BLOCK.)
      if (mutate !== null && this.blocked?.isBlocking(command.name) === true && this.mode === "proxy") {
        // On a link of its own (see notLeader), once the commands before it are answered: sent
        // now, it could overtake them.
        const slot = this.blockingSlot(conn, command);
        conn.afterForwarded = () => this.forwardBlocking(conn, command, slot);
        return;
      }
      // Commands of this connection are still at the leader they were forwarded to: this one
      // follows them there, so that it is served in the client's order (Connection.forwardedPending).
      assert(!conn.inExec, "EXEC does not run while commands of its connection are forwarded");
      this.forward(conn, command.name, command.frame(), 0, conn.forwardedTo, mutate === null);
      return;
    }
    if (mutate === null) {
      if (conn === null) return;
      // A read without `respond` answers +OK, as a `respond` that writes nothing does.
      this.read(conn, command, reply ?? answerOk);
      return;
    }
    if (!this.node.isLeader) {
      this.notLeader(conn, command);
      return;
    }
    if (conn === null) {
      this.node.propose(command, null);
      return;
    }
    if (unchanged != null && this.answerUnchanged(conn, command, unchanged, reply ?? answerOk)) return;
    const slot = new Slot(SlotKind.Write, command.name, null, reply, conn);
    if (conn.inExec) {
      slot.readsBefore = conn.execReads.splice(0);
      conn.execWrote = true;
    } else if (this.blocked !== null && this.blocked.isBlocking(command.name)) {
      slot.blocker = this.blocked;
      slot.command = command;
      holdWhileBlocked(conn);
    }
    conn.enqueue(slot);
    conn.proposeInOrder(command, slot);
  }

  /**
   * A write that would change nothing (see `Unchanged`), answered at once as a read, when this
   * leader's state is current (`canReadNow`: under its lease below High consistency, or as its
   * cluster's only voter) and nothing of the connection waits. False when it is not: then the
   * write goes through the log.
   *
   * Why this is linearizable: the answer is what the write returns on the state this leader has
   * applied, which a read at this moment may be served from; the write changes nothing there, so
   * it takes effect at this moment as a write applied now would. Writes of other connections
   * proposed and not yet applied have not been answered, so they may come after it; the
   * connection's own come before, as nothing of it waits. A blocking command waits through its
   * own path, and a transaction's writes go through the log as one.
   */
  private answerUnchanged<T>(conn: Connection, command: Command, unchanged: () => Unchanged<T> | null, reply: (value: unknown) => void): boolean {
    if (conn.queued !== 0 || conn.inExec || conn.readsAtLeader || !this.node.canReadNow()) return false;
    if (this.blocked !== null && this.blocked.isBlocking(command.name)) return false;
    const found = unchanged();
    if (found === null) return false;
    const returned: unknown = reply(found.value);
    if (returned instanceof Error) throw returned;
    return true;
  }

  /**
   * A read: at once when the node allows and nothing is queued, else in its turn. A read behind a
   * pending write of its connection needs no barrier: it runs right after that write applies, on
   * a state that was not yet reached when the read arrived, so it sees every write completed
   * before it (linearizable) and its own connection's writes before it, none after.
   */
  private read(conn: Connection, command: Command, reply: (value: unknown) => void): void {
    // In proxy mode a connection that wrote through the leader reads there too: this node may not
    // have applied its write yet, and a connection always reads its own writes.
    if (conn.queued === 0 && !conn.inExec && !conn.readsAtLeader && this.node.canReadNow()) {
      // The common case, answered at once without allocating anything. (What `respond` throws or
      // returns here becomes the command's error reply in the server's dispatch, as in runRespond.)
      const returned: unknown = reply(undefined);
      if (returned instanceof Error) throw returned;
      return;
    }
    const forward = conn.readsAtLeader && !this.node.isLeader;
    if (conn.inExec && !conn.execWrote) {
      // A read of a transaction before its first write: it waits for that write (or for EXEC's
      // own confirmation when there is none), so the transaction sees one state. (Not behind a
      // write sent before MULTI: others' writes may apply between that one and the transaction's.)
      const slot = new Slot(SlotKind.Read, command.name, null, reply, conn);
      slot.done = false;
      conn.execReads.push(slot);
      conn.enqueue(slot);
      return;
    }
    if (!forward && conn.hasPendingLocalWrite) {
      const slot = new Slot(SlotKind.Read, command.name, null, reply, conn);
      slot.afterWrite = true;
      conn.enqueue(slot);
      return;
    }
    let barrier: Slot | null = null;
    const verdict = forward
      ? "notLeader"
      : this.node.read(() => (barrier = new Slot(SlotKind.Read, command.name, null, reply, conn, true)));
    if (verdict instanceof Error) throw verdict;
    if (verdict === "notLeader") {
      this.notLeader(conn, command, true);
      return;
    }
    if (verdict === "now") {
      if (conn.queued === 0) conn.server.runRespond(conn, command.name, reply, undefined);
      else conn.enqueue(new Slot(SlotKind.Read, command.name, null, reply, conn));
      return;
    }
    assert(barrier !== null, "a read that waits has a slot");
    conn.enqueue(barrier);
  }

  /**
   * Redirects (the server writes `-MOVED` as `-TRY` in try mode), or forwards to the leader and
   * relays its reply as is: in proxy mode, and for the reads of a connection that sent READONLY (a
   * cluster client reading from replicas), which a redirect would only send back here.
   */
  private notLeader(conn: Connection | null, command: Command, read = false): void {
    const leader = this.node.leaderAddress();
    const forward = this.mode === "proxy" || (read && conn?.replicaReads === true);
    if (leader === null || conn === null || !forward) throw redirect(leader);
    if (!read && this.blocked?.isBlocking(command.name) === true) {
      if (this.mode !== "proxy") throw redirect(leader);
      this.forwardBlocking(conn, command, this.blockingSlot(conn, command));
      return;
    }
    this.forward(conn, command.name, command.frame(), 0, leader, read);
  }

  /**
   * Proxy mode: the reply slot of a blocking command for the leader; nothing more of its client is
   * run until it is answered, as on the leader.
   */
  private blockingSlot(conn: Connection, command: Command): Slot {
    const slot = new Slot(SlotKind.Write, command.name, null, (bytes) => conn.writeReply(bytes as Uint8Array), conn);
    conn.enqueue(slot);
    holdWhileBlocked(conn);
    return slot;
  }

  /**
   * Proxy mode, at a follower: a command that waits at the leader (WAIT) goes there on a link of
   * its own, once the client's commands forwarded before it are answered, and nothing more of the
   * client runs until it is answered. False when it cannot (not in proxy mode, this node leads, or
   * no leader is known): then the caller answers as it would without a proxy.
   */
  forwardWaiting(conn: Connection, command: Command): boolean {
    if (this.mode !== "proxy" || this.proxy === null || this.node.isLeader || this.node.leaderAddress() === null) return false;
    const slot = this.blockingSlot(conn, command);
    // It changes nothing: a lost link answers TRYAGAIN, not UNCERTAIN.
    slot.forwardedRead = true;
    if (conn.forwardedPending > 0) conn.afterForwarded = () => this.forwardBlocking(conn, command, slot);
    else this.forwardBlocking(conn, command, slot);
    return true;
  }

  /**
   * Proxy mode: sends a blocking command to the leader on a link of its own (the shared link would
   * hold every client's replies behind it while it waits).
   */
  private forwardBlocking(conn: Connection, command: Command, slot: Slot): void {
    assert(this.proxy !== null, "proxy mode has a proxy");
    const leader = this.node.leaderAddress();
    if (conn.closed) {
      slot.settle(undefined, redirect(leader));
      return;
    }
    if (leader === null || this.node.isLeader) {
      // Leadership moved while it waited behind forwarded commands: not sent, so not applied.
      slot.settle(undefined, redirect(leader));
      return;
    }
    slot.forwarded = true;
    conn.readsAtLeader = true;
    conn.forwardedPending++;
    conn.forwardedTo = leader;
    conn.blockedLink = this.proxy.forwardAlone(leader, conn.protocol, command.frame(), slot);
  }

  /**
   * EXEC at a node that is not the leader, in proxy mode: sends `MULTI`, the transaction's
   * commands and `EXEC` to the leader as one unit, and relays the reply to EXEC (the leader's
   * `+OK` and `+QUEUED` are dropped: this node already answered them). False when it cannot (not
   * in proxy mode, or no leader known): then EXEC is redirected.
   */
  forwardTransaction(conn: Connection, commands: readonly Command[]): boolean {
    if (this.mode !== "proxy") return false;
    const address = conn.forwardedPending > 0 ? conn.forwardedTo : this.node.leaderAddress();
    if (address === null) return false;
    const frames = [multiFrame, ...commands.map((command) => command.frame()), execFrame];
    this.forward(conn, "exec", Buffer.concat(frames), commands.length + 1, address);
    return true;
  }

  /**
   * A command only the leader may run (cluster administration) at a node that is not the leader,
   * in proxy mode: forwarded to the leader, its reply relayed in its turn. False when it cannot
   * (not in proxy mode, or no leader known): then the command answers with a redirect.
   */
  forwardCommand(conn: Connection, command: Command): boolean {
    if (this.mode !== "proxy") return false;
    const address = conn.forwardedPending > 0 ? conn.forwardedTo : this.node.leaderAddress();
    if (address === null) return false;
    this.forward(conn, command.name, command.frame(), 0, address);
    return true;
  }

  /**
   * Forwards frames to the leader at `address`; the reply to the last is relayed in its turn.
   * `read`: the command changes nothing (a lost link then answers TRYAGAIN, not UNCERTAIN).
   */
  private forward(conn: Connection, name: string, frame: Uint8Array, skip: number, address: string, read = false): void {
    assert(this.proxy !== null, "proxy mode has a proxy");
    const slot = new Slot(SlotKind.Write, name, null, (bytes) => conn.writeReply(bytes as Uint8Array), conn);
    slot.forwarded = true;
    slot.forwardedRead = read;
    conn.enqueue(slot);
    conn.readsAtLeader = true;
    conn.forwardedPending++;
    conn.forwardedTo = address;
    this.proxy.forward(address, conn.protocol, frame, slot, skip);
  }
}
