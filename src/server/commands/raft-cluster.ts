/**
 * Cluster administration: RAFTADDPEER, RAFTREMOVEPEER, RAFTPEERS (Finn's reply shapes), RAFTJOIN
 * (what `-join` sends), RAFTNODEID and RAFTTRANSFER (leadership transfer). Changes are answered
 * once they are applied, keeping the connection's replies in order.
 */
import { RespError } from "../../errors.ts";
import type { ClusterControl } from "../../node/cluster.ts";
import type { Command } from "../../resp/reader.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import { type Connection, Slot, SlotKind } from "../connection.ts";

const noKeys = [0, 0, 0] as const;

/**
 * At a node that is not the leader, in proxy mode, a change only the leader may make goes to the
 * leader, whose reply is relayed (elsewhere the change answers with a redirect). Not with an admin
 * password set: the link to the leader authenticates as a client, and the leader would refuse it.
 */
function forwarded(context: BuiltinContext, connection: Connection, command: Command): boolean {
  if (context.node.isLeader || context.server.access.adminPasswordSet) return false;
  return context.forwardCommand?.(connection, command) === true;
}

/** The node's cluster administration; an error when it does not run Raft. */
export function control(context: BuiltinContext): ClusterControl {
  if (context.cluster === null) throw new RespError("ERR this node does not run Raft");
  return context.cluster;
}

/** Answers `+OK` when `change` completes, or its error; in order with the connection's other replies. */
export function answerWhenDone(connection: Connection, name: string, change: Promise<void>): void {
  const slot = new Slot(SlotKind.Write, name, null, () => connection.writeString("OK"), connection);
  connection.enqueue(slot);
  change.then(
    () => slot.settle(undefined, undefined),
    (error: unknown) => slot.settle(undefined, error instanceof Error ? error : new Error(String(error))),
  );
}

export const raftAddPeer: Builtin = {
  adminOnly: true,
  spec: spec("raftaddpeer", -2, "admin noscript", noKeys, "cluster", "Adds a new member to the Raft cluster.", "address [id]"),
  run(context, connection, command) {
    if (command.argCount > 3) throw new RespError("ERR wrong number of arguments for 'raftaddpeer' command");
    if (forwarded(context, connection, command)) return;
    const id = command.argCount === 3 ? text(command.args[2]) : null;
    answerWhenDone(connection, command.name, control(context).addPeer(text(command.args[1]), id));
  },
};

export const raftRemovePeer: Builtin = {
  adminOnly: true,
  spec: spec("raftremovepeer", 2, "admin noscript", noKeys, "cluster", "Removes an existing member.", "address"),
  run(context, connection, command) {
    if (forwarded(context, connection, command)) return;
    answerWhenDone(connection, command.name, control(context).removePeer(text(command.args[1])));
  },
};

export const raftJoin: Builtin = {
  adminOnly: true,
  spec: spec("raftjoin", -3, "admin noscript", noKeys, "cluster", "Asks the cluster to add the calling node (sent by -join).", "id address [cluster]"),
  run(context, connection, command) {
    if (command.argCount > 4) throw new RespError("ERR wrong number of arguments for 'raftjoin' command");
    // A joining node names its cluster (-cluster): one of another cluster would be added as a
    // learner whose peer links are all refused, and never catch up.
    const cluster = command.argCount === 4 ? text(command.args[3]) : null;
    if (cluster !== null && cluster !== context.settings.cluster) {
      throw new RespError(
        `ERR this node belongs to cluster '${context.settings.cluster.slice(0, 80)}', not '${cluster.slice(0, 80)}': join through a node of your cluster, or give the joining node -cluster ${context.settings.cluster.slice(0, 80)}`,
      );
    }
    answerWhenDone(connection, command.name, control(context).addPeer(text(command.args[2]), text(command.args[1]), true));
  },
};

export const raftPeers: Builtin = {
  spec: spec("raftpeers", -1, "loading stale", noKeys, "cluster", "Lists known peers and their status.", "[address]"),
  run(context, connection) {
    const rows = control(context).peers();
    connection.writeArray(rows.length * 2);
    for (const [address, state] of rows) {
      connection.writeBulk(address);
      connection.writeBulk(state);
    }
  },
};

/**
 * RAFTNODEID: this node's stable id. `RAFTNODEID JOINABLE` (what RAFTADDPEER asks) answers it only
 * while this node belongs to no cluster, waiting to be added: a node with a membership of its own
 * (a cluster of one started without -join, or a member removed from a cluster) has a log and
 * terms that would collide with the cluster's, so it must not be added.
 */
export const raftNodeId: Builtin = {
  spec: spec("raftnodeid", -1, "loading stale fast", noKeys, "cluster", "Returns this node's stable id.", "[JOINABLE]"),
  run(context, connection, command) {
    if (command.argCount > 2) throw new RespError("ERR wrong number of arguments for 'raftnodeid' command");
    if (command.argCount === 2) {
      if (keyword(command.args[1]) !== "joinable") throw new RespError(`ERR unknown argument '${text(command.args[1])}'; RAFTNODEID takes only JOINABLE`);
      if (control(context).members().length > 0) {
        throw new RespError("ERR this node already belongs to a cluster (its data directory holds Raft state)");
      }
    }
    connection.writeString(context.settings.nodeId);
  },
};

export const raftTransfer: Builtin = {
  adminOnly: true,
  spec: spec("rafttransfer", -1, "admin noscript", noKeys, "cluster", "Hands leadership to another voter.", "[address]"),
  run(context, connection, command) {
    if (command.argCount > 2) throw new RespError("ERR wrong number of arguments for 'rafttransfer' command");
    if (forwarded(context, connection, command)) return;
    control(context).transfer(command.argCount > 1 ? text(command.args[1]) : null);
    connection.writeString("OK");
  },
};

export const raftSnapshot: Builtin = {
  adminOnly: true,
  spec: spec("raftsnapshot", 1, "admin noscript", noKeys, "cluster", "Triggers a snapshot operation."),
  run(context, connection, command) {
    answerWhenDone(connection, command.name, control(context).snapshot());
  },
};
