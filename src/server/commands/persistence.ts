/**
 * Redis's server commands that have a meaning here: TIME (this node's clock), and SAVE, BGSAVE
 * and LASTSAVE, which act on this node's Raft snapshots (RAFTSNAPSHOT's: the machine's state
 * written to a checksummed file and the log compacted behind it). A snapshot is this node's own:
 * every node takes them, each of its own state, and SAVE on a follower saves the follower.
 */
import { RespError } from "../../errors.ts";
import { type Builtin, keyword } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import { answerWhenDone, control } from "./raft-cluster.ts";

const noKeys = [0, 0, 0] as const;

export const time: Builtin = {
  spec: spec("time", 1, "loading stale fast", noKeys, "server", "Returns the server time."),
  run(_context, connection) {
    const microseconds = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    connection.writeArray(2);
    connection.writeBulk(String(Math.floor(microseconds / 1e6)));
    connection.writeBulk(String(microseconds % 1e6));
  },
};

export const lastSave: Builtin = {
  spec: spec("lastsave", 1, "loading stale fast", noKeys, "server", "Returns the Unix timestamp of the last successful save to disk."),
  run(context, connection) {
    connection.writeInt(Math.floor(context.node.status().lastSnapshotAt / 1000));
  },
};

export const save: Builtin = {
  adminOnly: true,
  spec: spec("save", 1, "admin noscript no_multi", noKeys, "server", "Synchronously saves the database(s) to disk."),
  run(context, connection, command) {
    // As RAFTSNAPSHOT: answered in order with the connection's other replies, once on disk.
    answerWhenDone(connection, command.name, control(context).snapshot());
  },
};

export const bgSave: Builtin = {
  adminOnly: true,
  spec: spec("bgsave", -1, "admin noscript no_async_loading", noKeys, "server", "Asynchronously saves the database(s) to disk.", "[SCHEDULE]"),
  run(context, connection, command) {
    if (command.argCount > 2 || (command.argCount === 2 && keyword(command.args[1]) !== "schedule")) throw new RespError("ERR syntax error");
    const logger = context.server.logger;
    control(context).snapshot().catch((error: unknown) => logger.warning(`BGSAVE: the snapshot failed: ${error instanceof Error ? error.message : String(error)}`));
    connection.writeString("Background saving started");
  },
};
