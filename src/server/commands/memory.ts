/**
 * MEMORY's subcommands about the node's process rather than its data: STATS, DOCTOR, PURGE and
 * MALLOC-STATS, answered by the node the client is connected to (as INFO is), whatever machine it
 * runs. MEMORY USAGE and HELP belong to the machine (the clone's are in src/clone/object.ts); a
 * machine without a MEMORY command still has these four.
 *
 * Figures come from the JavaScript engine and the allocator, in Redis's shape: "allocated" is the
 * engine's heap in use with the buffers it holds outside it (large values): INFO's used_memory;
 * "allocator.active" is what mimalloc (Bun's allocator) has committed, "allocator.resident" the
 * process's resident memory, which also counts the pages of the log's file that LMDB mapped (clean
 * file pages, which the kernel reclaims under pressure).
 */
import { memoryUsage as allocatorUsage } from "bun:jsc";
import { allocatorSettings } from "../../node/allocator.ts";
import type { Builtin, BuiltinContext } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import type { Connection } from "../connection.ts";

const noKeys = [0, 0, 0] as const;

/** About what one key costs in the keyspace's tables beyond its value (a map entry and its record). */
const keyOverheadBytes = 64;

/** Below this much heap in use DOCTOR has nothing to judge (Redis's threshold). */
const doctorMinimumBytes = 5 * 1024 * 1024;

interface MemoryFigures {
  readonly peak: number;
  readonly allocated: number;
  readonly startup: number;
  readonly startupRss: number;
  readonly clientsNormal: number;
  readonly clientsNormalCount: number;
  readonly clusterLinks: number;
  readonly keys: number;
  readonly expires: number;
  /** What mimalloc has committed (mapped and not handed back), for everything the process allocated. */
  readonly committed: number;
  readonly rss: number;
}

/** Bytes a connection holds for its client: input not parsed yet and replies not sent yet. */
function connectionBytes(connection: Connection): number {
  return connection.reader.bufferedBytes + connection.unsentBytes;
}

/** `keys=N,expires=M,...` of the machine's INFO keyspace line for db0. */
function keyspaceCounts(context: BuiltinContext): { keys: number; expires: number } {
  const line = String(context.machineInfo().keyspace?.db0 ?? "");
  const field = (name: string): number => Number(new RegExp(`(?:^|,)${name}=(\\d+)`).exec(line)?.[1] ?? 0);
  return { keys: field("keys"), expires: field("expires") };
}

function figures(context: BuiltinContext): MemoryFigures {
  const memory = process.memoryUsage();
  let clientsNormal = 0;
  let clientsNormalCount = 0;
  let clusterLinks = 0;
  for (const connection of context.server.connections) {
    if (connection.peerSession !== null) clusterLinks += connectionBytes(connection);
    else {
      clientsNormal += connectionBytes(connection);
      clientsNormalCount++;
    }
  }
  const { keys, expires } = keyspaceCounts(context);
  return {
    peak: Math.max(context.server.memoryPeak, memory.heapUsed),
    allocated: memory.heapUsed,
    startup: context.startupMemory.heapUsed,
    startupRss: context.startupMemory.rss,
    clientsNormal,
    clientsNormalCount,
    clusterLinks,
    keys,
    expires,
    committed: allocatorUsage().currentCommit,
    rss: memory.rss,
  };
}

function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

type StatsValue = { readonly int: number } | { readonly double: number } | { readonly db: readonly [number, number] };

/** MEMORY STATS: Redis's fields, in its order (a map in RESP3, name and value pairs in RESP2). */
function stats(context: BuiltinContext, connection: Connection): void {
  const f = figures(context);
  const mainOverhead = f.keys * keyOverheadBytes;
  const expiresOverhead = f.expires * keyOverheadBytes;
  const overhead = f.startup + f.clientsNormal + f.clusterLinks + mainOverhead + expiresOverhead;
  const grown = Math.max(0, f.allocated - f.startup);
  const dataset = Math.max(0, f.allocated - overhead);
  const int = (value: number): StatsValue => ({ int: Math.round(value) });
  const double = (value: number): StatsValue => ({ double: value });
  const fields: [string, StatsValue][] = [
    ["peak.allocated", int(f.peak)],
    ["total.allocated", int(f.allocated)],
    ["startup.allocated", int(f.startup)],
    ["replication.backlog", int(0)],
    ["clients.slaves", int(0)],
    ["clients.normal", int(f.clientsNormal)],
    ["cluster.links", int(f.clusterLinks)],
    ["aof.buffer", int(0)],
    ["lua.caches", int(0)],
    ["functions.caches", int(0)],
    // As Redis, a database appears only when it holds keys.
    ...(f.keys > 0 ? [["db.0", { db: [mainOverhead, expiresOverhead] }] as [string, StatsValue]] : []),
    ["overhead.total", int(overhead)],
    ["keys.count", int(f.keys)],
    ["keys.bytes-per-key", int(f.keys > 0 ? Math.floor(grown / f.keys) : 0)],
    ["dataset.bytes", int(dataset)],
    ["dataset.percentage", double(ratio(dataset * 100, grown))],
    ["peak.percentage", double(ratio(f.allocated * 100, f.peak))],
    ["allocator.allocated", int(f.allocated)],
    ["allocator.active", int(f.committed)],
    ["allocator.resident", int(f.rss)],
    ["allocator-fragmentation.ratio", double(ratio(f.committed, f.allocated))],
    ["allocator-fragmentation.bytes", int(f.committed - f.allocated)],
    ["allocator-rss.ratio", double(ratio(f.rss, f.committed))],
    ["allocator-rss.bytes", int(f.rss - f.committed)],
    ["rss-overhead.ratio", double(1)],
    ["rss-overhead.bytes", int(0)],
    ["fragmentation", double(ratio(f.rss, f.allocated))],
    ["fragmentation.bytes", int(f.rss - f.allocated)],
  ];
  connection.writeMap(fields.length);
  for (const [name, value] of fields) {
    connection.writeBulk(name);
    if ("int" in value) connection.writeInt(value.int);
    else if ("double" in value) connection.writeDouble(value.double);
    else {
      connection.writeMap(2);
      connection.writeBulk("overhead.hashtable.main");
      connection.writeInt(value.db[0]);
      connection.writeBulk("overhead.hashtable.expires");
      connection.writeInt(value.db[1]);
    }
  }
}

/**
 * MEMORY DOCTOR: Redis's report, judged on what this node can see. Its figures are measured from
 * the node's start: a node holding nothing already has a heap of some 20 MB and twice that
 * resident (Bun, the engine and the compiled code).
 */
export function doctorReport(f: MemoryFigures): string {
  const heap = f.allocated - f.startup;
  if (heap < doctorMinimumBytes) {
    return (
      "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. " +
      "Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    );
  }
  const issues: string[] = [];
  if (f.peak - f.startup > 1.5 * heap) {
    issues.push(
      " * Peak memory: In the past this instance used more than 150% the memory that is currently using. " +
        "The JavaScript engine collects garbage as the node allocates, and the allocator hands freed pages back to the " +
        "operating system some seconds later; an idle node keeps what it held until it works again. MEMORY PURGE collects now.",
    );
  }
  const held = f.allocated - f.startup;
  const resident = f.rss - f.startupRss;
  if (resident > 1.4 * held && resident - held > 10 * 1024 * 1024) {
    issues.push(
      ` * High total RSS: Since it started this node's Resident Set Size grew ${(resident / held).toFixed(2)} times as much as the memory it holds (its heap and the values kept outside it). ` +
        "The difference is memory freed and not handed back to the operating system yet (MEMORY PURGE may help) and pages of the log's file mapped by LMDB (the kernel takes them back under pressure).",
    );
  }
  if (f.clientsNormalCount > 0 && f.clientsNormal / f.clientsNormalCount > 200 * 1024) {
    issues.push(
      " * Big client buffers: The clients output buffers are in general big (" +
        `${Math.round(f.clientsNormal / f.clientsNormalCount / 1024)} KB per client on average). ` +
        "This may result from clients that pipeline many commands without reading replies, or that read slowly. Check CLIENT LIST's qbuf and omem.",
    );
  }
  if (issues.length === 0) return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occupies RAM.";
  return `Sam, I detected a few issues in this Finn node memory implants:\n\n${issues.join("\n\n")}\n\nI'm here to keep you safe, Sam. I want to help you.\n`;
}

/**
 * MEMORY MALLOC-STATS: what the engine and the allocator report, as text. Only figures that cost
 * nothing to read: the engine's count of objects by type walks the whole heap (171 ms for 3.6
 * million objects), which any client could make the node do in a loop.
 */
function mallocStats(): string {
  const memory = process.memoryUsage();
  const allocator = allocatorUsage();
  const lines = [
    "___ Begin Bun memory statistics ___",
    `Bun: ${Bun.version} (JavaScriptCore; allocator: mimalloc)`,
    `Allocator settings: ${Object.entries(allocatorSettings)
      .map(([name, value]) => `${name}=${process.env[name] ?? `${value} (not in effect)`}`)
      .join(" ")}`,
    `rss: ${memory.rss}`,
    `rss.peak: ${allocator.peak}`,
    `allocator.committed: ${allocator.currentCommit}`,
    `allocator.committed.peak: ${allocator.peakCommit}`,
    `allocator.page.faults: ${allocator.pageFaults}`,
    `heap.used: ${memory.heapUsed}`,
    `heap.used.outside: ${memory.external}`,
    `array.buffers: ${memory.arrayBuffers}`,
    "___ End Bun memory statistics ___",
  ];
  return `${lines.join("\n")}\n`;
}

/** When the last purge ended and how long it took (ms, `performance.now()`). */
let lastPurge = { endedAt: -Infinity, took: 0 };

/**
 * A full collection, unless one ended less than four of its own lengths ago: PURGE sent in a loop
 * (by anyone, without an admin password) takes at most a fifth of the loop's time, and a purge so
 * soon after the last would find little to give back.
 */
export function purge(): boolean {
  const start = performance.now();
  if (start < lastPurge.endedAt + 4 * lastPurge.took) return false;
  Bun.gc(true);
  const endedAt = performance.now();
  lastPurge = { endedAt, took: endedAt - start };
  return true;
}

function memorySubcommand(name: string, summary: string, run: Builtin["run"]): Builtin {
  // PURGE stops the loop for a full collection: with an admin password set, only the admin user may.
  return { spec: spec(`memory|${name}`, 2, name === "purge" ? "admin" : "readonly", noKeys, "server", summary), run, adminOnly: name === "purge" };
}

/** The four subcommands, by lower-case name; the dispatcher serves them before the machine's MEMORY. */
export const memorySubcommands: ReadonlyMap<string, Builtin> = new Map([
  ["stats", memorySubcommand("stats", "Returns details about memory usage.", stats)],
  ["doctor", memorySubcommand("doctor", "Outputs a memory problems report.", (context, connection) => connection.writeBulk(doctorReport(figures(context))))],
  [
    "purge",
    // A full, synchronous collection: the node's loop stands still for it (about 200 ms for a heap
    // of 670 MB on our machines), as Redis's thread does for its allocator's purge.
    memorySubcommand("purge", "Asks the allocator to release memory.", (_context, connection) => {
      purge();
      connection.writeString("OK");
    }),
  ],
  ["malloc-stats", memorySubcommand("malloc-stats", "Returns the allocator statistics.", (_context, connection) => connection.writeBulk(mallocStats()))],
]);

/** The lines MEMORY HELP adds for these subcommands (Redis's wording). */
export const memoryHelpLines: readonly string[] = [
  "DOCTOR",
  "    Return memory problems reports.",
  "MALLOC-STATS",
  "    Return internal statistics report from the memory allocator.",
  "PURGE",
  "    Attempt to purge dirty pages for reclamation by the allocator.",
  "STATS",
  "    Return information about the memory usage of the server.",
];
