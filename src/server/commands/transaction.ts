/**
 * MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis's replies: `+QUEUED` while queueing,
 * `-EXECABORT` when a command could not be queued, EXEC's array of every command's reply, and a
 * null reply from EXEC when a WATCHed key changed.
 *
 * WATCH remembers the keys and the index the machine had applied (behind the connection's own
 * writes in flight, once they are applied: WATCH comes after them, as in Redis). EXEC, on the
 * leader, checks in the same synchronous step in which it queues the transaction's writes: a
 * watched key changed if a write to it was applied after that index, or sits in the log or the
 * proposal queue not yet applied. The transaction's entry goes after all of those, so the check
 * covers exactly the writes ordered between WATCH and EXEC. The outcome is in the log itself: an
 * aborted transaction appends nothing, so every replica applies the same.
 *
 * A transaction is atomic: its writes are proposed together, so they are consecutive in the log
 * and applied in one go on every node; its reads run at one point of that order too: a read
 * before the first write runs just before that write is applied, a read after a write runs right
 * after it, and the reads of a read-only transaction run together once the node's consistency
 * level allows (one confirmation for all of them). EXEC runs on the leader (elsewhere it is
 * redirected as a whole; nothing of it is applied).
 */
import { redirect, RespError } from "../../errors.ts";
import type { Ticket } from "../../node/replicator.ts";
import { type Builtin, type BuiltinContext } from "../builtin.ts";
import type { Connection } from "../connection.ts";
import { spec } from "../command-spec.ts";

const noKeys = [0, 0, 0] as const;

export const multi: Builtin = {
  spec: spec("multi", 1, "noscript loading stale fast", noKeys, "transactions", "Starts a transaction."),
  run(_context, connection) {
    if (connection.transaction !== null) throw new RespError("ERR MULTI calls can not be nested");
    connection.transaction = { commands: [], bytes: 0, failed: false };
    connection.writeString("OK");
  },
};

export const discard: Builtin = {
  spec: spec("discard", 1, "noscript loading stale fast", noKeys, "transactions", "Discards a transaction."),
  run(_context, connection) {
    if (connection.transaction === null) throw new RespError("ERR DISCARD without MULTI");
    connection.transaction = null;
    connection.forgetWatch();
    connection.writeString("OK");
  },
};

/** Starts watching `keys` (or adds them to the connection's watch) from the index applied now. */
function startWatching(context: BuiltinContext, connection: Connection, keys: readonly string[]): void {
  const watched = connection.watch ?? { keys: new Set<string>(), handle: context.node.beginWatch() };
  for (const key of keys) watched.keys.add(key);
  connection.watch = watched;
  connection.writeString("OK");
}

export const watch: Builtin = {
  spec: spec("watch", -2, "noscript loading stale fast", [1, -1, 1], "transactions", "Monitors changes to keys to determine the execution of a transaction.", "key ..."),
  run(context, connection, command) {
    // Refused, but, as in Redis, without voiding the transaction.
    if (connection.transaction !== null) throw new RespError("ERR WATCH inside MULTI is not allowed");
    const keys: string[] = [];
    for (let i = 1; i < command.argCount; i++) keys.push(command.key(i));
    // Behind this connection's own writes in flight (pipelined), WATCH starts once they are
    // applied, as in Redis, where they ran before it: started now, EXEC would count them as
    // changes since WATCH. Nothing after it is parsed meanwhile (`Connection.whenIdle`).
    if (connection.hasWritesInFlight) connection.whenIdle = () => startWatching(context, connection, keys);
    else startWatching(context, connection, keys);
  },
};

export const unwatch: Builtin = {
  spec: spec("unwatch", 1, "noscript loading stale fast", noKeys, "transactions", "Forgets about watched keys of a transaction."),
  run(_context, connection) {
    connection.forgetWatch();
    connection.writeString("OK");
  },
};

export const exec: Builtin = {
  spec: spec("exec", 1, "noscript loading stale", noKeys, "transactions", "Executes all commands in a transaction."),
  run(context, connection) {
    const transaction = connection.transaction;
    if (transaction === null) throw new RespError("ERR EXEC without MULTI");
    connection.transaction = null;
    // EXEC forgets the watched keys whatever happens next, as in Redis: released only after the
    // check below, since the node stops remembering writes when the last watch is released.
    const watched = connection.watch;
    connection.watch = null;
    try {
      if (transaction.failed) throw new RespError("EXECABORT Transaction discarded because of previous errors.");
      const stopped = context.node.stopped();
      // A removed node sends the transaction on like a follower (to the cluster it left).
      if (stopped !== null && !context.node.removed) throw stopped;
      if (!context.node.isLeader) {
        // In proxy mode the leader runs the whole transaction (not one under WATCH: the keys
        // were watched here, and the leader would only start watching them now).
        if (watched === null && context.forwardTransaction?.(connection, transaction.commands) === true) return;
        throw redirect(context.node.leaderAddress());
      }
      // Commands sent before EXEC that wait at another leader could be served after the
      // transaction, and see its writes (proxy mode, while leadership moves to this node).
      if (connection.forwardedPending > 0) {
        throw new RespError("TRYAGAIN Commands sent before EXEC are still at the previous leader; the transaction was not run");
      }
      if (watched !== null && context.node.watchedKeysChanged([...watched.keys], watched.handle.since)) {
        context.server.writerFor(connection).nullArray();
        return;
      }
      // A leader handing its leadership over refuses writes: the transaction as a whole is
      // refused, before its reply starts (its writes are proposed below, in this same step).
      const refused = context.node.writeRefusal();
      if (refused !== null) throw refused;
    } finally {
      watched?.handle.release();
    }
    connection.writeArray(transaction.commands.length);
    connection.inExec = true;
    connection.execWrote = false;
    try {
      for (const command of transaction.commands) context.server.runCommand(connection, command);
    } finally {
      connection.inExec = false;
    }
    if (connection.execWrote) context.node.proposeNow();
    // Reads with no write after them: one confirmation for all, then they run together.
    const reads = connection.execReads.splice(0);
    if (reads.length === 0) return;
    // Answering them may happen right here, and drains the connection's queue: the replies written
    // behind them (a PING after a GET) go into a slot of their own first, and what the drain writes
    // is not captured again, so that the replies leave in the transaction's order.
    context.server.cutCaptured(connection);
    connection.captureMark = -1;
    const all: Ticket = {
      settle: (value, error) => {
        for (const read of reads) read.settle(value, error);
      },
    };
    const verdict = context.node.read(() => all);
    if (verdict === "now") all.settle(undefined, undefined);
    else if (verdict === "notLeader") all.settle(undefined, redirect(context.node.leaderAddress()));
    else if (verdict instanceof Error) all.settle(undefined, verdict);
  },
};

