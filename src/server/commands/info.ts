/** INFO: Redis-shaped sections (ioredis waits for `loading:0` before it says it is ready). */
import { arch, cpus, platform, release, totalmem } from "node:os";
import { splitAddress } from "../../address.ts";
import { type Builtin, type BuiltinContext, type InfoSections, keyword } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import type { NodeStatus } from "../../node/replicator.ts";
import { finnVersion } from "../../version.ts";

/** The sections INFO prints with no argument, in Redis's order. */
const defaultSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "raft", "keyspace"];

function human(bytes: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes}B` : `${value.toFixed(2)}${units[unit]}`;
}

/** A follower counts its leader's link as up while it heard from it within this long (or an election timeout, if longer). */
const leaderLinkUpMilliseconds = 2000;

/**
 * Redis's replication section, read as Raft: the leader is the `master`, with the members its links
 * reach as its replicas (`slaveN`); a follower is a `slave` of the leader it last heard from.
 */
function replicationSection(context: BuiltinContext, status: NodeStatus): Record<string, string | number> {
  const hostAndPort = (address: string): [string, string] => {
    const parsed = splitAddress(address);
    return parsed === null ? [address, ""] : [parsed.host, String(parsed.port)];
  };
  if (status.state !== "Leader" && context.cluster !== null) {
    const [host, port] = status.leader === null ? ["", ""] : hostAndPort(status.leader);
    const contact = status.lastContactMilliseconds;
    return {
      role: "slave",
      master_host: host,
      master_port: port,
      master_link_status:
        status.leader !== null && contact !== null && contact < Math.max(leaderLinkUpMilliseconds, status.electionTimeoutMilliseconds) ? "up" : "down",
      master_last_io_seconds_ago: contact === null ? -1 : Math.floor(contact / 1000),
      master_sync_in_progress: 0,
      connected_slaves: 0,
    };
  }
  const section: Record<string, string | number> = { role: "master", connected_slaves: 0 };
  if (context.cluster === null || context.transport === null) return section;
  let count = 0;
  for (const member of context.cluster.members()) {
    if (member.id === context.settings.nodeId || !context.transport.linkReady(member.id)) continue;
    const [host, port] = hostAndPort(member.address);
    section[`slave${count}`] = `ip=${host},port=${port},state=online`;
    count++;
  }
  section["connected_slaves"] = count;
  return section;
}

function frameworkSections(context: BuiltinContext): InfoSections {
  const now = Date.now();
  const uptime = Math.floor((now - context.startedAt) / 1000);
  const memory = process.memoryUsage();
  const peak = Math.max(context.server.memoryPeak, memory.heapUsed);
  const usage = process.cpuUsage();
  const status = context.node.status();
  const server = context.server;
  return {
    server: {
      redis_version: context.settings.version,
      finn_version: finnVersion,
      redis_mode: "standalone",
      os: `${platform()} ${release()} ${arch()}`,
      arch_bits: 64,
      process_id: process.pid,
      run_id: context.settings.nodeId,
      tcp_port: context.settings.port,
      bun_version: Bun.version,
      uptime_in_seconds: uptime,
      uptime_in_days: Math.floor(uptime / 86400),
      executable: process.execPath,
    },
    clients: {
      connected_clients: server.connections.size,
      maxclients: server.limits.clientsMax,
      blocked_clients: context.blockedClients?.() ?? 0,
    },
    memory: {
      used_memory: memory.heapUsed,
      used_memory_human: human(memory.heapUsed),
      used_memory_rss: memory.rss,
      used_memory_rss_human: human(memory.rss),
      used_memory_peak: peak,
      used_memory_peak_human: human(peak),
      total_system_memory: totalmem(),
      total_system_memory_human: human(totalmem()),
      // RSS over the heap in use: with the allocator keeping freed memory (see the clone's -h),
      // this stays above 1 long after a peak.
      mem_fragmentation_ratio: (memory.rss / Math.max(1, memory.heapUsed)).toFixed(2),
      maxmemory: 0,
      maxmemory_human: "0B",
      maxmemory_policy: "noeviction",
    },
    persistence: {
      loading: 0,
      async_loading: 0,
      durability: context.settings.durability,
      backend: context.settings.backend,
      aof_enabled: 0,
      // The Raft log's writes (LMDB transactions or file appends) and fsyncs since start.
      log_writes: status.logWrites,
      log_syncs: status.logSyncs,
      rdb_bgsave_in_progress: 0,
      // When this node last wrote a snapshot (LASTSAVE), in seconds since the epoch.
      rdb_last_save_time: Math.floor(status.lastSnapshotAt / 1000),
    },
    stats: {
      total_connections_received: server.stats.connectionsReceived,
      total_commands_processed: server.stats.commandsProcessed,
      instantaneous_ops_per_sec: Math.round(server.rates.commands.perSecond),
      total_net_input_bytes: server.stats.netInputBytes,
      total_net_output_bytes: server.stats.netOutputBytes,
      total_net_repl_input_bytes: server.stats.netReplInputBytes,
      total_net_repl_output_bytes: server.stats.netReplOutputBytes,
      instantaneous_input_kbps: (server.rates.input.perSecond / 1024).toFixed(2),
      instantaneous_output_kbps: (server.rates.output.perSecond / 1024).toFixed(2),
      rejected_connections: server.stats.rejectedConnections,
      client_output_buffer_limit_disconnections: server.stats.outputLimitDisconnections,
      pubsub_channels: context.pubsub?.activeChannels(null).length ?? 0,
      pubsub_patterns: context.pubsub?.patternCount ?? 0,
    },
    replication: replicationSection(context, status),
    cpu: {
      used_cpu_sys: (usage.system / 1e6).toFixed(6),
      used_cpu_user: (usage.user / 1e6).toFixed(6),
      cpu_count: cpus().length,
    },
    // Cluster clients (redis-py's RedisCluster) check this before they trust CLUSTER SLOTS.
    cluster: { cluster_enabled: context.cluster === null ? 0 : 1 },
    raft: {
      state: status.state,
      term: status.term,
      leader: status.leader ?? "",
      commit_index: status.commitIndex,
      applied_index: status.appliedIndex,
      last_log_index: status.lastLogIndex,
      last_snapshot_index: status.lastSnapshotIndex,
      snapshot_stall_ms_max: status.snapshotStallMillisecondsMax.toFixed(1),
      snapshot_write_holds: status.snapshotHolds,
      snapshot_write_hold_ms_max: status.snapshotHoldMillisecondsMax.toFixed(1),
      consistency: context.settings.consistency,
      election_timeout_ms: status.electionTimeoutMilliseconds,
    },
  };
}

/** Renders INFO for the requested section names (`all`, `everything` and `default` included). */
export function renderInfo(context: BuiltinContext, requested: readonly string[]): string {
  const sections: Record<string, Readonly<Record<string, string | number>>> = frameworkSections(context);
  // The machine's sections are added; where the server has the section too, their fields join it.
  for (const [name, fields] of Object.entries(context.machineInfo())) sections[name] = { ...sections[name], ...fields };
  let names: string[];
  if (requested.length === 0 || requested.includes("default")) names = defaultSections;
  else if (requested.includes("all") || requested.includes("everything")) names = [...new Set([...defaultSections, ...Object.keys(sections)])];
  else names = [...new Set(requested)];
  const parts: string[] = [];
  for (const name of names) {
    const fields = sections[name];
    if (fields === undefined) continue;
    // Redis's titles: the name capitalized, but "CPU".
    let part = `# ${name === "cpu" ? "CPU" : `${name[0]?.toUpperCase() ?? ""}${name.slice(1)}`}\r\n`;
    for (const [field, value] of Object.entries(fields)) part += `${field}:${value}\r\n`;
    parts.push(part);
  }
  return parts.join("\r\n");
}

export const info: Builtin = {
  spec: spec("info", -1, "loading stale", [0, 0, 0], "server", "Returns information and statistics about the server.", "[section ...]"),
  run(context, connection, command) {
    const requested = command.args.slice(1).map((argument) => keyword(argument));
    context.server.writerFor(connection).verbatim(renderInfo(context, requested));
  },
};
