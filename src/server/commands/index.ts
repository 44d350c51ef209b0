/** Every built-in command, by lower-case name. */
import type { Builtin } from "../builtin.ts";
import { client } from "./client.ts";
import { command } from "./command.ts";
import { config } from "./config.ts";
import { auth, echo, hello, ping, quit, reset, select } from "./connection-commands.ts";
import { info } from "./info.ts";
import { asking, cluster, readOnly, readWrite } from "./cluster.ts";
import { discard, exec, multi, unwatch, watch } from "./transaction.ts";
import { raftAddPeer, raftJoin, raftNodeId, raftPeers, raftRemovePeer, raftSnapshot, raftTransfer } from "./raft-cluster.ts";
import { raftAuth, raftHello, raftMessage, raftSnapshotChunk } from "./raft-peer.ts";
import { raftLeader, raftState, raftStats } from "./raft-status.ts";
import { bgSave, lastSave, save, time } from "./persistence.ts";
import { shutdown } from "./shutdown.ts";
import { wait } from "./wait.ts";
import { monitor } from "./monitor.ts";
import { slowlog } from "./slowlog.ts";
import { psubscribe, publish, pubsubCommand, punsubscribe, subscribe, unsubscribe } from "./pubsub.ts";

export const builtins: ReadonlyMap<string, Builtin> = new Map(
  [
    ...[ping, echo, quit, select, auth, hello, reset, client, info, command, config, shutdown],
    ...[raftLeader, raftState, raftStats, raftHello, raftAuth, raftMessage, raftSnapshotChunk],
    ...[raftAddPeer, raftRemovePeer, raftJoin, raftPeers, raftNodeId, raftTransfer, raftSnapshot],
    ...[cluster, readOnly, readWrite, asking],
    ...[multi, exec, discard, watch, unwatch],
    ...[time, save, bgSave, lastSave, wait, monitor, slowlog],
    ...[subscribe, psubscribe, unsubscribe, punsubscribe, publish, pubsubCommand],
  ].map(
    (builtin) => [builtin.spec.name, builtin] as const,
  ),
);
