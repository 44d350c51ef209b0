/**
 * CLUSTER SLOTS, SHARDS, NODES, INFO, MYID and KEYSLOT, and READONLY/READWRITE/ASKING: enough of
 * Redis Cluster for cluster-aware clients (ioredis Cluster, node-redis cluster, redis-cli -c) to
 * talk to a Finn cluster. The whole key space (slots 0-16383) is one shard: the leader is its
 * master and the other members its replicas, so clients send everything to the leader and follow
 * `-MOVED 0 leader` after a fail-over.
 */
import { splitAddress } from "../../address.ts";
import { RespError } from "../../errors.ts";
import type { ClusterControl } from "../../node/cluster.ts";
import { crc16 } from "../../resp/crc16.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec, writeHelp } from "../command-spec.ts";

const noKeys = [0, 0, 0] as const;
const slotsMax = 16383;

function control(context: BuiltinContext): ClusterControl {
  if (context.cluster === null) throw new RespError("ERR This instance has cluster support disabled");
  return context.cluster;
}

function hostPort(address: string): [string, number] {
  const parsed = splitAddress(address);
  return parsed === null ? [address, 0] : [parsed.host, parsed.port];
}

/** Redis's key slot: CRC16 of the key, or of the part inside the first non-empty `{...}`. */
export function keySlot(key: Uint8Array): number {
  const open = key.indexOf(123);
  if (open >= 0) {
    const close = key.indexOf(125, open + 1);
    if (close > open + 1) return crc16(key.subarray(open + 1, close)) & slotsMax;
  }
  return crc16(key) & slotsMax;
}

export const cluster: Builtin = {
  spec: spec("cluster", -2, "loading stale", noKeys, "cluster", "A container for Redis Cluster commands.", "SLOTS|SHARDS|NODES|INFO|MYID|KEYSLOT [args ...]"),
  run(context, connection, command) {
    const sub = keyword(command.args[1]);
    const writer = context.server.writerFor(connection);
    const transport = context.transport;
    const shard = control(context).shard((id) => transport?.linkReady(id) === true);
    const leaderKnown = shard[0]?.master === true && shard[0].reachable;
    // Routing (SLOTS, SHARDS) names the master and the replicas this node can tell are up: a client
    // that connects to every replica listed (node-redis with useReplicas) waited for ever on a
    // dead one, and ioredis sent reads to it.
    const routed = shard.filter((member) => member.master || member.reachable);
    switch (sub) {
      case "myid":
        writer.bulk(control(context).selfId);
        return;
      case "keyslot":
        if (command.argCount !== 3) throw new RespError("ERR wrong number of arguments for 'cluster|keyslot' command");
        writer.integer(keySlot(command.arg(2)));
        return;
      case "slots": {
        writer.array(routed.length === 0 ? 0 : 1);
        if (routed.length === 0) return;
        writer.array(2 + routed.length);
        writer.integer(0);
        writer.integer(slotsMax);
        for (const member of routed) {
          const [host, port] = hostPort(member.address);
          writer.array(3);
          writer.bulk(host);
          writer.integer(port);
          writer.bulk(member.id);
        }
        return;
      }
      case "shards": {
        writer.array(routed.length === 0 ? 0 : 1);
        if (routed.length === 0) return;
        writer.map(2);
        writer.bulk("slots");
        writer.array(2);
        writer.integer(0);
        writer.integer(slotsMax);
        writer.bulk("nodes");
        writer.array(routed.length);
        for (const member of routed) {
          const [host, port] = hostPort(member.address);
          writer.map(6);
          writer.bulk("id");
          writer.bulk(member.id);
          writer.bulk("port");
          writer.integer(port);
          writer.bulk("ip");
          writer.bulk(host);
          writer.bulk("endpoint");
          writer.bulk(host);
          writer.bulk("role");
          writer.bulk(member.master ? "master" : "replica");
          writer.bulk("health");
          // The master stays "online" while none is known: clients route to it and hear CLUSTERDOWN.
          writer.bulk("online");
        }
        return;
      }
      case "nodes": {
        // Every member (learners as replicas too); one this node can tell is down (a leader's
        // follower its link does not reach, or a master no longer leading) flagged `fail`.
        const self = control(context).selfId;
        const masterId = shard[0]?.id ?? "-";
        const flagged = new Map(shard.map((member) => [member.id, member]));
        let lines = "";
        for (const member of control(context).members()) {
          const [host, port] = hostPort(member.address);
          const row = flagged.get(member.id);
          const isMaster = row?.master === true;
          const down = member.id !== self && (isMaster ? !leaderKnown : leaderKnown && masterId === self && !(transport?.linkReady(member.id) === true));
          const flags = `${member.id === self ? "myself," : ""}${isMaster ? "master" : "slave"}${down ? ",fail" : ""}`;
          const master = isMaster ? "-" : masterId;
          const slots = isMaster ? ` 0-${slotsMax}` : "";
          lines += `${member.id} ${host}:${port}@${port} ${flags} ${master} 0 0 1 ${down ? "disconnected" : "connected"}${slots}\n`;
        }
        writer.bulk(lines);
        return;
      }
      case "info": {
        const state = leaderKnown ? "ok" : "fail";
        const assigned = leaderKnown ? slotsMax + 1 : 0;
        writer.verbatim(
          `cluster_enabled:1\r\ncluster_state:${state}\r\ncluster_slots_assigned:${assigned}\r\n` +
            `cluster_slots_ok:${assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n` +
            `cluster_known_nodes:${control(context).members().length}\r\ncluster_size:1\r\ncluster_current_epoch:1\r\n` +
            `cluster_my_epoch:1\r\n`,
        );
        return;
      }
      case "help":
        writeHelp(connection, "cluster", [
          "INFO",
          "    Return information about the cluster (one shard of all 16384 slots, served by the leader).",
          "MYID",
          "    Return this node's id.",
          "NODES",
          "    Return the members in Redis's CLUSTER NODES format: the leader as master, voters as replicas.",
          "SLOTS",
          "    Return the slot range and the nodes serving it: the leader first.",
          "SHARDS",
          "    Return the one shard and its nodes.",
          "KEYSLOT <key>",
          "    Return the hash slot of a key.",
          "(The Raft cluster is managed with RAFTADDPEER, RAFTREMOVEPEER, RAFTTRANSFER and -join.)",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(command.args[1])}'. Try CLUSTER HELP.`);
    }
  },
};

/**
 * READONLY, READWRITE and ASKING: accepted. After READONLY a follower answers the connection's
 * reads (`Connection.replicaReads`): at consistency low from its own state, as every read; above
 * that through the leader, so that a client reading from replicas is never answered stale.
 */
function accepted(name: string, summary: string, replicaReads?: boolean): Builtin {
  return {
    spec: spec(name, 1, "fast loading stale", noKeys, "cluster", summary),
    run(_context, connection) {
      if (replicaReads !== undefined) connection.replicaReads = replicaReads;
      connection.writeString("OK");
    },
  };
}

export const readOnly = accepted("readonly", "Enables read-only queries for a connection to a replica.", true);
export const readWrite = accepted("readwrite", "Enables read-write queries for a connection to a replica.", false);
export const asking = accepted("asking", "Signals that a cluster client is following an -ASK redirect.");
