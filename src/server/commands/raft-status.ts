/** RAFTLEADER, RAFTSTATE and RAFTSTATS, with the reply shapes of Finn (shared/REFERENCE.md). */
import { type Builtin } from "../builtin.ts";
import { spec } from "../command-spec.ts";

const noKeys = [0, 0, 0] as const;

export const raftLeader: Builtin = {
  spec: spec("raftleader", 1, "loading stale fast", noKeys, "cluster", "Returns the Raft leader, if known."),
  run(context, connection) {
    const leader = context.node.status().leader;
    if (leader === null) connection.writeNull();
    else connection.writeBulk(leader);
  },
};

export const raftState: Builtin = {
  spec: spec("raftstate", 1, "loading stale fast", noKeys, "cluster", "Returns the state of the node."),
  run(context, connection) {
    connection.writeBulk(context.node.status().state);
  },
};

export const raftStats: Builtin = {
  spec: spec("raftstats", 1, "loading stale", noKeys, "cluster", "Returns information and statistics for the node and cluster."),
  run(context, connection) {
    const status = context.node.status();
    const stats: Record<string, string> = {
      applied_index: String(status.appliedIndex),
      commit_index: String(status.commitIndex),
      fsm_pending: String(status.pendingProposals),
      last_contact:
        status.lastContactMilliseconds === null ? "never" : status.lastContactMilliseconds === 0 ? "0" : `${status.lastContactMilliseconds.toFixed(1)}ms`,
      last_log_index: String(status.lastLogIndex),
      last_log_term: String(status.lastLogTerm),
      last_snapshot_index: String(status.lastSnapshotIndex),
      last_snapshot_term: String(status.lastSnapshotTerm),
      num_peers: String(Math.max(0, (context.cluster?.peers().length ?? 1) - 1)),
      snapshot_stall_ms_max: status.snapshotStallMillisecondsMax.toFixed(1),
      snapshot_write_holds: String(status.snapshotHolds),
      snapshot_write_hold_ms_max: status.snapshotHoldMillisecondsMax.toFixed(1),
      state: status.state,
      term: String(status.term),
    };
    const keys = Object.keys(stats).sort();
    connection.writeArray(keys.length * 2);
    for (const key of keys) {
      connection.writeBulk(key);
      connection.writeBulk(stats[key] ?? "");
    }
  },
};
