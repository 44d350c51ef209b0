/**
 * MULTI, EXEC and DISCARD, with Redis's replies: `+QUEUED` while queueing, `-EXECABORT` when a
 * command could not be queued, and EXEC's array of every command's reply.
 *
 * A transaction is atomic: its writes are proposed together, so they are consecutive in the log
 * and applied in one go on every node; its reads run at one point of that order too: a read
 * before the first write runs just before that write is applied, a read after a write runs right
 * after it, and the reads of a read-only transaction run together once the node's consistency
 * level allows (one confirmation for all of them). EXEC runs on the leader (elsewhere it is
 * redirected as a whole; nothing of it is applied).
 */
import { errorReplyText, redirect, RespError } from "../../errors.ts";
import type { Ticket } from "../../node/replicator.ts";
import { type Builtin } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import { givenName } from "../dispatch.ts";

const noKeys = [0, 0, 0] as const;

export const multi: Builtin = {
  spec: spec("multi", 1, "noscript loading stale fast", noKeys, "transactions", "Starts a transaction."),
  run(_context, connection) {
    if (connection.transaction !== null) throw new RespError("ERR MULTI calls can not be nested");
    connection.transaction = { commands: [], failed: false };
    connection.writeString("OK");
  },
};

export const discard: Builtin = {
  spec: spec("discard", 1, "noscript loading stale fast", noKeys, "transactions", "Discards a transaction."),
  run(_context, connection) {
    if (connection.transaction === null) throw new RespError("ERR DISCARD without MULTI");
    connection.transaction = null;
    connection.writeString("OK");
  },
};

export const exec: Builtin = {
  spec: spec("exec", 1, "noscript loading stale", noKeys, "transactions", "Executes all commands in a transaction."),
  run(context, connection) {
    const transaction = connection.transaction;
    if (transaction === null) throw new RespError("ERR EXEC without MULTI");
    connection.transaction = null;
    if (transaction.failed) throw new RespError("EXECABORT Transaction discarded because of previous errors.");
    const stopped = context.node.stopped();
    if (stopped !== null) throw stopped;
    if (!context.node.isLeader) throw redirect(context.node.leaderAddress());
    connection.writeArray(transaction.commands.length);
    connection.inExec = true;
    try {
      for (const command of transaction.commands) {
        try {
          context.server.dispatcher(connection, command);
        } catch (error) {
          connection.writeError(errorReplyText(error, command.name, givenName(command)));
        }
      }
    } finally {
      connection.inExec = false;
    }
    // Reads with no write after them: one confirmation for all, then they run together.
    const reads = connection.execReads.splice(0);
    if (reads.length === 0) return;
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
