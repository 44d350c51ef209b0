/**
 * The public API, as in Finn's README: `open(dir, addr, join, machine, options)` starts a node
 * that serves the Redis protocol on `addr` and routes every write through the log.
 *
 * ```ts
 * import { open } from "./finn.ts";
 * const node = await open("data", ":7481", "", new Clone(), {});
 * // ... later
 * await node.close();
 * ```
 */
import { mkdirSync } from "node:fs";
import { parseAddress, splitAddress } from "./address.ts";
import { isLogLevel, Logger, type LogLevel, type LogSink } from "./log.ts";
import { Executor } from "./node/executor.ts";
import { checkBackend, holdsLog, lockDataDirectory } from "./node/data-dir.ts";
import { helperThreadNiceDefault, lowerHelperThreads } from "./node/helper-threads.ts";
import { loadIdentity, randomId, recordClusterId, recordLog, recordMember } from "./node/identity.ts";
import type { NodeStatus } from "./node/replicator.ts";
import { RaftNode, snapshotReaderOf } from "./node/raft-node.ts";
import { SnapshotStore } from "./log/snapshot-store.ts";
import { ClusterControl } from "./node/cluster.ts";
import { diskNote } from "./log/file-sync.ts";
import { corruptLogAdvice, fileLogFileName, lmdbLogFileName, type LogStore, openLogStore } from "./log/store.ts";
import { bootstrapEntry } from "./raft/config-change.ts";
import { asIndex, asNodeId, asTerm } from "./raft/types.ts";
import { ClientApplier, type RedirectMode } from "./server/applier.ts";
import { BlockedClients } from "./server/blocking.ts";
import { LeaderProxy } from "./server/proxy.ts";
import type { BuiltinContext, InfoSections, NodeSettings } from "./server/builtin.ts";
import type { CommandSpec } from "./server/command-spec.ts";
import { builtins } from "./server/commands/index.ts";
import { publishApplied } from "./server/commands/pubsub.ts";
import { createDispatcher } from "./server/dispatch.ts";
import { Slot } from "./server/connection.ts";
import { defaultServerLimits, isLoopbackAddress, Server, type ServerLimits } from "./server/server.ts";
import { SlowLog } from "./server/slowlog.ts";
import { defaultLinkLimits, type LinkLimits } from "./transport/peer-link.ts";
import { Transport } from "./transport/transport.ts";
import { loadTls, type TlsFiles } from "./tls.ts";
import type { Machine } from "./api.ts";

export type { Applier, Command, Conn, Machine, SnapshotReader, SnapshotWriter, Unchanged } from "./api.ts";
export { Blocked, block } from "./api.ts";
export { Command as RespCommand, latin1 } from "./resp/reader.ts";
export { globMatch } from "./glob.ts";
export { logPosition, replicatedRandom, replicatedTime } from "./replicated.ts";
export { ErrDisabled, ErrUnknownCommand, ErrWrongNumberOfArguments, RespError } from "./errors.ts";
export type { CommandSpec } from "./server/command-spec.ts";
export { spec as commandSpec } from "./server/command-spec.ts";
export type { InfoSections } from "./server/builtin.ts";
export type { LogLevel } from "./log.ts";
export type { ServerLimits } from "./server/server.ts";
export type { TlsFiles } from "./tls.ts";
export { defaultLinkLimits, type LinkLimits } from "./transport/peer-link.ts";
export type { RedirectMode } from "./server/applier.ts";

/** Finn's three levels, for durability and for read consistency. */
export type Level = "low" | "medium" | "high";
export const Low: Level = "low";
export const Medium: Level = "medium";
export const High: Level = "high";

/** Where the log lives: LMDB (embedded, the default) or memory with an append-only file. */
export type Backend = "lmdb" | "memory";

/** `snapshotGrowthPercent` with the default thresholds: Redis's `auto-aof-rewrite-percentage`. */
const snapshotGrowthPercentDefault = 100;
/** An election timeout is this many ticks of the node's clock; a heartbeat goes every tick. */
const electionTicks = 10;
/** The shortest election timeout: ticks of 2 ms. */
const electionTimeoutMillisecondsMin = 20;

/** How long start-up waits for the log to be replayed and, in a cluster of one, to lead. */
const startupLeaderWaitMilliseconds = 5000;

/** The version of Redis whose protocol and replies this server follows, for HELLO and INFO. */
export const redisCompatibleVersion = "7.2.0";

export interface Options {
  /** Read consistency: low (any node), medium (the leader under its lease), high (ReadIndex). Default medium. */
  readonly consistency?: Level;
  /** Write durability: low (the OS flushes), medium (flushed every second), high (flushed before the reply). Default medium. */
  readonly durability?: Level;
  /** Log backend. Default lmdb. */
  readonly backend?: Backend;
  /** quiet, warning, notice (default), verbose or debug. */
  readonly logLevel?: LogLevel;
  /** Where log lines go (standard error by default). */
  readonly logOutput?: LogSink;
  /** The address other nodes and redirected clients use to reach this one (default: derived from addr). */
  readonly advertise?: string;
  /** Limits on clients; any not given keep their defaults. */
  readonly limits?: Partial<ServerLimits>;
  /**
   * Limits of the links to peers (messages queued, unsent bytes, RAFTMSG frame size, snapshot
   * chunk size, ...); any not given keep their defaults (`defaultLinkLimits`).
   */
  readonly peerLimits?: Partial<LinkLimits>;
  /**
   * Serve TLS only, for clients and peers, with this certificate and key (PEM files); connections
   * to other nodes verify them against `caFile` (the system's roots when absent).
   */
  readonly tls?: TlsFiles;
  /** The cluster's name: a node refuses peers of another cluster. Default "finn". */
  readonly cluster?: string;
  /** The cluster secret peers prove they know (never sent). Default "": the handshake is still required. */
  readonly secret?: string;
  /**
   * What a follower does with a command only the leader may serve: `moved` (default) answers
   * `-MOVED 0 leader`, which cluster clients and redis-cli -c follow; `try` answers Finn's
   * `-TRY leader`; `proxy` forwards the command to the leader and relays its reply.
   */
  readonly redirect?: RedirectMode;
  /** Clients must `AUTH` with this password before any other command (`-NOAUTH` otherwise). */
  readonly password?: string;
  /**
   * Protected mode, as in Redis (default true): with no `password`, only clients on the loopback
   * interface are served; others get `-DENIED` and are disconnected. Peers on other hosts get in
   * when the cluster has a `secret` (their handshake proves it). Turn it off only for a node that
   * is not reachable from untrusted networks.
   */
  readonly protectedMode?: boolean;
  /**
   * When set, cluster administration (RAFTADDPEER, RAFTREMOVEPEER, RAFTJOIN, RAFTTRANSFER,
   * RAFTSNAPSHOT) needs `AUTH admin <adminPassword>`; a joining node sends it.
   */
  readonly adminPassword?: string;
  /**
   * Called once a client's SHUTDOWN has closed the node (the admin user's, when `adminPassword`
   * is set), with the error if closing failed: the program decides what follows (the clone
   * exits). Without it SHUTDOWN is refused.
   */
  readonly onShutdown?: (error?: Error) => void;
  /**
   * The nice value given to the engine's helper threads (JIT compilers, garbage collector helpers,
   * the allocator's scavenger), so that on a core they share with the event loop they yield to it
   * (`src/node/helper-threads.ts`). Default 10; 0 leaves them alone. Linux only.
   */
  readonly helperThreadNice?: number;
  /**
   * The least time, in milliseconds, a follower waits without hearing from a leader before it
   * stands for election (each waits a random time from it to twice it). Default 500; the leader
   * sends heartbeats every tenth of it, and its lease and check-quorum scale with it. Raise it
   * where round trips between nodes are long: it must be well above one (an election needs two).
   */
  readonly electionTimeoutMilliseconds?: number;
  /** Take a snapshot after this many applied entries (default 100,000)... */
  readonly snapshotEntries?: number;
  /** ...or this many bytes of applied entries, whichever comes first (default 64 MB). */
  readonly snapshotBytes?: number;
  /**
   * Besides those thresholds, an automatic snapshot waits until the entries applied since the last
   * one hold at least this many percent of its size (as Redis's `auto-aof-rewrite-percentage`): a
   * large state is then not written again for a log a fraction of its size. Default 100 when
   * neither threshold is given, else 0 (the thresholds given are kept exactly); 0 turns it off.
   */
  readonly snapshotGrowthPercent?: number;
  /** Entries kept in the log behind a snapshot for slow followers (default 10,000)... */
  readonly snapshotTrailEntries?: number;
  /** ...and at most this many bytes of them (default 64 MB): entries batch many commands. */
  readonly snapshotTrailBytes?: number;
}

/**
 * Rebuilds the machine's state from the newest snapshot file, and makes the log store's record of
 * its snapshot agree with the files: a crash between writing a snapshot file and recording it
 * leaves a newer file, which is used when the log still holds its index, and a log that lost its
 * tail behind a newer snapshot file goes on from that snapshot. Returns the data.
 */
async function restoreLatestSnapshot(dir: string, nodeId: string, store: LogStore, snapshots: SnapshotStore, machine: Machine, logger: Logger): Promise<Uint8Array> {
  const recorded = store.snapshotMetadata();
  const latest = await snapshots.latest();
  if (latest === null) {
    if (recorded.index > 0) {
      throw new Error(
        `the log says a snapshot at index ${recorded.index} exists, but ${snapshots.dir} holds none: ` +
          "restore the snapshot file, or move the data directory away and add this node to its cluster again",
      );
    }
    return new Uint8Array(0);
  }
  const metadata = latest.metadata;
  if (metadata.index < recorded.index) {
    // The newer file was lost, or moved away because it was damaged: the older one serves, with
    // the log's entries after it, when the log still holds them (every one is committed: the
    // newer snapshot covered them).
    const held = metadata.index >= store.firstIndex() - 1 && metadata.index <= store.lastIndex() && store.term(metadata.index) === metadata.term;
    if (!held) {
      throw new Error(
        `the newest snapshot file (${latest.path}, index ${metadata.index}) is older than the one the log records ` +
          `(index ${recorded.index}), and the log no longer holds the entries after it (it begins at index ${store.firstIndex()}): ` +
          `put the snapshot file of index ${recorded.index} back in ${snapshots.dir}, or restore the data directory from a backup; ` +
          `in a cluster, move the data directory away and add this node again (RAFTADDPEER), so that it receives the leader's snapshot`,
      );
    }
    logger.warning(
      `The newest snapshot file (${latest.path}, index ${metadata.index}) is older than the one the log records ` +
        `(index ${recorded.index}): going on from it and the log's entries after it.`,
    );
    store.recordSnapshot(metadata);
  }
  if (metadata.index > store.lastIndex()) {
    // The log ends before the newest snapshot: it lost its tail. Below High the log reaches the
    // disk within a second while a snapshot file is synced as it is written, so a power loss can
    // do this; so can damage. The snapshot holds the state up to its index, every entry of it
    // committed: the log goes on from there, as a follower's does after it installs a snapshot.
    // (Moving the file away instead, to use an older one, would serve an older state.)
    const hard = store.hardState();
    // This node's own snapshot, or one it installed as a member: a file of another node's (copied
    // in by hand) would replace this node's log with another cluster's state.
    const members = [...metadata.membership.voters, ...metadata.membership.learners];
    if (!members.includes(asNodeId(nodeId))) {
      throw new Error(
        `the newest snapshot file (${latest.path}, index ${metadata.index}) is past the end of the log (index ${store.lastIndex()}) ` +
          `and its membership does not hold this node (${nodeId}): it came from another node (or was taken after this one ` +
          `was removed from its cluster). Move it away.`,
      );
    }
    if (hard.term < metadata.term) {
      // The term and vote are synced before they are acted on, at every level: no crash loses
      // them. A log that did is damaged, and a node that forgot its vote must not come back under
      // its id (it could vote twice in a term, Raft §5.2).
      throw new Error(
        `the log in ${dir} ends at index ${store.lastIndex()}, before the newest snapshot (${latest.path}, index ` +
          `${metadata.index}), and lost the term and vote it recorded: it is damaged. ${corruptLogAdvice(dir)}`,
      );
    }
    logger.warning(
      `The log ends at index ${store.lastIndex()}, before the newest snapshot (${latest.path}, index ${metadata.index}): ` +
        "it lost its tail (a power loss at low or medium durability, or damage). Going on from the snapshot.",
    );
    const hardState = { ...hard, commit: asIndex(Math.max(hard.commit, metadata.index)) };
    const saved = store.save({ hardState, entries: [], snapshot: metadata });
    await store.flush();
    await saved;
  } else if (metadata.index > recorded.index) {
    const held = metadata.index >= store.firstIndex() - 1;
    if (!held || store.term(metadata.index) !== metadata.term) {
      throw new Error(
        `the newest snapshot file (${latest.path}, index ${metadata.index}) does not match the log ` +
          `(which records a snapshot at index ${recorded.index}): move that file away to use the previous one`,
      );
    }
    store.recordSnapshot(metadata);
  }
  const data = await latest.readAll();
  const restored = await machine.restore(snapshotReaderOf(data));
  if (restored instanceof Error) throw restored;
  logger.notice(`Loaded the snapshot at index ${metadata.index} (${data.byteLength} bytes)`);
  return data;
}

/** A running node. */
export interface FinnNode {
  /** The address clients connect to (`host:port`). */
  readonly address: string;
  /** The port actually bound (useful when `addr` asked for port 0). */
  readonly port: number;
  /** This node's stable identity, kept in its data directory. */
  readonly id: string;
  /** The consensus state. */
  status(): NodeStatus;
  /** Stops serving and releases the data directory; `reason`, when given, is logged first. */
  close(reason?: string): Promise<void>;
}

/** Optional extras a machine may offer the framework. */
export interface MachineExtras {
  /** Descriptions of the machine's commands, for COMMAND and redis-cli's hints. */
  readonly commands?: readonly CommandSpec[];
  /**
   * Sections to add to INFO (for example `keyspace`); the fields of a section the server has too
   * (`stats`) are added to the server's.
   */
  info?(): InfoSections;
  /** CONFIG RESETSTAT: the machine's counters in INFO start again from zero. */
  resetStats?(): void;
}

export { parseAddress };

/** Whether two addresses name the same host and port (`:7481` is the loopback address). */
function sameAddress(a: string, b: string): boolean {
  const first = splitAddress(a);
  const second = splitAddress(b);
  return first !== null && second !== null && first.port === second.port && first.host === second.host;
}

/**
 * Whether `join` reaches this node itself: its advertised or bound address, or a name of this
 * host's loopback interface (`localhost`, `127.0.0.2`, `::1`) at its port when it listens there.
 */
function joinsItself(join: string, advertise: string, bindHost: string, port: number): boolean {
  if (sameAddress(join, advertise) || sameAddress(join, `${bindHost}:${port}`)) return true;
  const target = splitAddress(join);
  if (target === null || target.port !== port) return false;
  const loopback = (host: string): boolean => host === "localhost" || isLoopbackAddress(host);
  return loopback(target.host) && (loopback(bindHost) || bindHost === "0.0.0.0" || bindHost === "::");
}

/** Throws, naming the option and what it takes, unless `value` is absent or one of `allowed`. */
function checkChoice(name: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new Error(`invalid ${name} ${JSON.stringify(value)}: expected ${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`);
  }
}

/** Throws unless a count or size option is absent or a whole number of at least `least`. */
function checkWhole(name: string, value: unknown, least: number): void {
  if (value !== undefined && !(typeof value === "number" && Number.isSafeInteger(value) && value >= least)) {
    throw new Error(`invalid ${name} ${String(value)}: expected a whole number of at least ${least}`);
  }
}

/** A group of limits (`limits`, `peerLimits`): only known names, each a whole number of at least `least[name]` (else 1). */
function checkLimits(name: string, given: object | undefined, defaults: object, least: Readonly<Record<string, number>> = {}): void {
  if (given === undefined) return;
  if (typeof given !== "object" || given === null) throw new Error(`invalid ${name}: expected an object`);
  for (const [key, value] of Object.entries(given)) {
    if (!(key in defaults) || typeof (defaults as Record<string, unknown>)[key] !== "number") {
      throw new Error(`unknown ${name} '${key}': expected one of ${Object.keys(defaults).filter((known) => typeof (defaults as Record<string, unknown>)[known] === "number").join(", ")}`);
    }
    checkWhole(`${name}.${key}`, value, least[key] ?? 1);
  }
}

/** Every option's name (the compiler keeps this whole: a name missing or unknown is an error). */
const optionNames: Readonly<Record<keyof Options, true>> = {
  consistency: true,
  durability: true,
  backend: true,
  logLevel: true,
  logOutput: true,
  advertise: true,
  limits: true,
  peerLimits: true,
  tls: true,
  cluster: true,
  secret: true,
  redirect: true,
  password: true,
  protectedMode: true,
  adminPassword: true,
  onShutdown: true,
  helperThreadNice: true,
  electionTimeoutMilliseconds: true,
  snapshotEntries: true,
  snapshotBytes: true,
  snapshotGrowthPercent: true,
  snapshotTrailEntries: true,
  snapshotTrailBytes: true,
};

/**
 * Checks `open()`'s options before anything starts, so that a program that builds them at run
 * time (from a configuration file, say) hears what is wrong, rather than running with a level
 * nobody meant (TypeScript's types catch these only in typed code).
 */
function checkOptions(options: Options): void {
  if (typeof options !== "object" || options === null) throw new Error("invalid options: expected an object");
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(optionNames, key)) throw new Error(`unknown option '${key}': expected one of ${Object.keys(optionNames).join(", ")}`);
  }
  if (options.logLevel !== undefined && !isLogLevel(options.logLevel)) throw new Error(`invalid log level '${options.logLevel}'`);
  const levels = ["low", "medium", "high"];
  checkChoice("consistency", options.consistency, levels);
  checkChoice("durability", options.durability, levels);
  checkChoice("backend", options.backend, ["lmdb", "memory"]);
  checkChoice("redirect", options.redirect, ["moved", "try", "proxy"]);
  checkWhole("snapshotEntries", options.snapshotEntries, 1);
  checkWhole("snapshotBytes", options.snapshotBytes, 1);
  checkWhole("snapshotGrowthPercent", options.snapshotGrowthPercent, 0);
  checkWhole("snapshotTrailEntries", options.snapshotTrailEntries, 0);
  checkWhole("snapshotTrailBytes", options.snapshotTrailBytes, 0);
  checkWhole("electionTimeoutMilliseconds", options.electionTimeoutMilliseconds, electionTimeoutMillisecondsMin);
  checkLimits("limits", options.limits, defaultServerLimits, { idleTimeoutSeconds: 0, slowlogSlowerThanMicros: -1, slowlogMaxLen: 0 });
  checkLimits("peerLimits", options.peerLimits, defaultLinkLimits);
  for (const key of ["cluster", "secret", "password", "adminPassword", "advertise"] as const) {
    const value = options[key];
    if (value !== undefined && typeof value !== "string") throw new Error(`invalid ${key}: expected a string`);
  }
  if (options.cluster === "") throw new Error("invalid cluster '': a cluster needs a name");
  if (options.protectedMode !== undefined && typeof options.protectedMode !== "boolean") throw new Error("invalid protectedMode: expected true or false");
  if (options.onShutdown !== undefined && typeof options.onShutdown !== "function") throw new Error("invalid onShutdown: expected a function");
}

/**
 * Starts a node: opens (or creates) the data directory `dir`, listens on `addr` (`host:port`;
 * `:port` binds the loopback address only, bind other interfaces explicitly), and serves `machine`.
 * `join` is the address of a member of an existing cluster, or "" to start a new one.
 */
export async function open(
  dir: string,
  addr: string,
  join: string,
  machine: Machine & MachineExtras,
  options: Options = {},
): Promise<FinnNode> {
  checkOptions(options);
  // Addresses other nodes will use are checked before anything starts: a membership records
  // `advertise` for good, and a `join` that is not host:port would be retried for ever.
  for (const [what, address] of [
    ["advertise", options.advertise ?? null],
    ["join", join === "" ? null : join],
  ] as const) {
    if (address === null) continue;
    const port = splitAddress(address)?.port;
    if (port === undefined) throw new Error(`invalid ${what} address '${address}': expected host:port`);
    if (port === 0) throw new Error(`invalid ${what} address '${address}': the port must be from 1 to 65535`);
  }
  const nice = options.helperThreadNice;
  if (nice !== undefined && !(Number.isInteger(nice) && nice >= 0 && nice <= 19)) throw new Error(`invalid helperThreadNice ${nice}: an integer from 0 to 19`);
  const logger = new Logger(options.logLevel ?? "notice", options.logOutput);
  // Owner-only: the directory will hold every write the cluster accepted.
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? "a file of that name, or in its path, is not a directory" : error instanceof Error ? error.message : String(error);
    throw new Error(`cannot use ${dir} as the data directory: ${why}`, { cause: error });
  }
  // MEMORY STATS' startup.allocated: the heap in use before the node loads any state. The engine
  // counts its heap exactly only after a collection (before one, 3.7 MB where it then found 19 MB).
  // Collected before the helper threads are looked at: the collection starts the collector's thread.
  Bun.gc(true);
  const { heapUsed, rss } = process.memoryUsage();
  const startupMemory = { heapUsed, rss };
  const lock = await lockDataDirectory(dir, (message) => logger.warning(message));
  const helpers = await lowerHelperThreads(options.helperThreadNice ?? helperThreadNiceDefault);
  let node: FinnNode;
  try {
    checkBackend(dir, options.backend ?? "lmdb");
    node = await openLocked(dir, addr, join, machine, options, logger, startupMemory);
  } catch (error) {
    helpers.stop();
    lock.release();
    throw error;
  }
  let released = false;
  return {
    ...node,
    async close(reason?: string) {
      try {
        await node.close(reason);
      } finally {
        if (!released) {
          helpers.stop();
          lock.release();
        }
        released = true;
      }
    },
  };
}

async function openLocked(
  dir: string,
  addr: string,
  join: string,
  machine: Machine & MachineExtras,
  options: Options,
  logger: Logger,
  startupMemory: { readonly heapUsed: number; readonly rss: number },
): Promise<FinnNode> {
  const durability = options.durability ?? "medium";
  const consistency = options.consistency ?? "medium";
  const backend = options.backend ?? "lmdb";
  const { host, port } = parseAddress(addr);
  const hasLog = holdsLog(dir);
  const { identity, environment } = await loadIdentity(dir, !hasLog);
  if (!hasLog && identity.log !== undefined) {
    await environment.close();
    throw new Error(
      `the data directory ${dir} lost its log: this node wrote one (${identity.log === "lmdb" ? lmdbLogFileName : fileLogFileName}, ` +
        `backend ${identity.log}), which is missing or empty now, and starting without it would serve an empty state ` +
        "under this node's id. Restore the file from a backup; or, in a cluster, move the directory away and add this " +
        "node again as a new member (start it with an empty directory and -join).",
    );
  }
  let node: RaftNode | null = null;
  const store = await openLogStore(dir, {
    backend,
    durability,
    logger,
    snapshotData: (metadata) => node?.snapshotDataFor(metadata) ?? new Uint8Array(0),
  }).catch(async (error: unknown) => {
    await environment.close();
    // A full or failing disk says so (lmdb-js reports a short write as a bare "Input/output error").
    const note = diskNote(error, dir);
    if (note === "") throw error;
    throw new Error(`cannot open the log in ${dir}: ${error instanceof Error ? error.message : String(error)}${note}`, { cause: error });
  });
  const snapshots = SnapshotStore.open(dir);
  let snapshotData: Uint8Array = new Uint8Array(0);
  try {
    snapshotData = await restoreLatestSnapshot(dir, identity.nodeId, store, snapshots, machine, logger);
  } catch (error) {
    await store.close();
    await environment.close();
    throw error;
  }
  const limits: ServerLimits = { ...defaultServerLimits, ...options.limits };
  const tls = options.tls === undefined ? null : loadTls(options.tls);
  const server = new Server({ hostname: host, port, limits, logger, tls, redirect: options.redirect ?? "moved" });
  server.access = {
    passwordRequired: (options.password ?? "") !== "",
    adminPasswordSet: (options.adminPassword ?? "") !== "",
    protectedMode: options.protectedMode !== false && (options.password ?? "") === "",
    peersProveSecret: (options.secret ?? "") !== "",
  };
  if (server.access.protectedMode && !isLoopbackAddress(host.replace(/^\[|\]$/g, "")) && host !== "localhost") {
    logger.warning("Protected mode is on and no client password is set (-auth): only clients on the loopback interface will be served.");
  }
  // Until the node is ready, clients are told it is loading, as Redis does while it loads data.
  server.dispatcher = (connection) => connection.writeError("LOADING Finn is starting");
  try {
    server.listen();
  } catch (error) {
    await store.close();
    await environment.close();
    throw error;
  }
  const advertise = options.advertise ?? `${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${server.port}`;
  const nodeId = asNodeId(identity.nodeId);
  // No Raft state yet: nothing in the log, no term, no snapshot (a node waiting to join, or a new one).
  const stateless = (): boolean => store.lastIndex() === 0 && store.hardState().term === 0 && store.snapshotMetadata().index === 0;
  const fresh = stateless();
  if (fresh && join !== "" && joinsItself(join, advertise, host, server.port)) {
    server.stop();
    await store.close();
    await environment.close();
    throw new Error(`-join ${join} is this node's own address: a node joins through a member of the cluster`);
  }
  let clusterId = identity.clusterId ?? "";
  if (fresh && join === "") {
    // A new cluster of one, with an id of its own (its peers' handshakes carry it): its first
    // entry, committed, names this node the only voter.
    clusterId = randomId();
    recordClusterId(environment, identity, clusterId);
    await store.save({
      hardState: { term: asTerm(1), vote: null, commit: asIndex(1) },
      entries: [bootstrapEntry([nodeId], { [nodeId]: advertise })],
      snapshot: null,
    });
    logger.notice(`Started a new cluster with node ${identity.nodeId.slice(0, 12)} at ${advertise}`);
  }
  if (hasLog || join === "") {
    // The log is on disk (flushed first: a power loss must not leave the record without the log).
    await store.flush();
    await recordLog(environment, identity, backend);
  }
  const linkIdentity = { id: identity.nodeId, address: advertise, cluster: options.cluster ?? "finn", clusterId, secret: options.secret ?? "" };
  // A node with no Raft state yet (waiting to be added) belongs to the first cluster that reaches it.
  const adoptCluster = (id: string): boolean => {
    if (!stateless()) return false;
    recordClusterId(environment, identity, id);
    return true;
  };
  const transport = new Transport(
    linkIdentity,
    logger,
    (messages) => node?.receive(messages),
    { ...defaultLinkLimits, ...options.peerLimits },
    tls,
    adoptCluster,
  );
  // Only the machine's commands enter the log; their specs say which keys a write touches (WATCH).
  const machineSpecByName = new Map((machine.commands ?? []).map((one) => [one.name, one]));
  let closed = false;
  const raftNode = new RaftNode({
    id: nodeId,
    store,
    dataDirectory: dir,
    transport,
    executor: new Executor(machine, logger, new Map([["publish", (command) => publishApplied(server.pubsub, command.key(1), command.arg(2))]])),
    logger,
    durability,
    consistency,
    onRoleChange: (state) => {
      logger.role = state === "Leader" ? "M" : state === "Candidate" ? "C" : "S";
    },
    machine,
    snapshots,
    snapshotData,
    ...(options.snapshotEntries === undefined ? {} : { snapshotEntries: options.snapshotEntries }),
    ...(options.snapshotBytes === undefined ? {} : { snapshotBytes: options.snapshotBytes }),
    snapshotGrowthPercent: options.snapshotGrowthPercent ?? (options.snapshotEntries === undefined && options.snapshotBytes === undefined ? snapshotGrowthPercentDefault : 0),
    ...(options.snapshotTrailEntries === undefined ? {} : { snapshotTrailEntries: options.snapshotTrailEntries }),
    ...(options.snapshotTrailBytes === undefined ? {} : { snapshotTrailBytes: options.snapshotTrailBytes }),
    specOf: (name) => machineSpecByName.get(name),
    ...(options.electionTimeoutMilliseconds === undefined ? {} : { tickMilliseconds: options.electionTimeoutMilliseconds / electionTicks }),
    electionTicks,
    memberSince: identity.memberSince ?? null,
    onMember: (index) => (closed ? Promise.resolve() : recordMember(environment, identity, index)),
  });
  node = raftNode;
  const credentials =
    (options.adminPassword ?? "") !== "" ? ["admin", options.adminPassword ?? ""] : (options.password ?? "") !== "" ? [options.password ?? ""] : [];
  const cluster = new ClusterControl(raftNode, logger, credentials, tls, linkIdentity);
  const settings: NodeSettings = {
    port: server.port,
    bind: host,
    advertise,
    dir,
    durability,
    consistency,
    backend,
    version: redisCompatibleVersion,
    nodeId: identity.nodeId,
    cluster: options.cluster ?? "finn",
    passwords: { client: options.password ?? "", admin: options.adminPassword ?? "" },
  };
  const machineSpecs = machine.commands ?? [];
  const allSpecs = [...[...builtins.values()].map((builtin) => builtin.spec), ...machineSpecs];
  const slowlog = new SlowLog(limits.slowlogSlowerThanMicros, limits.slowlogMaxLen, allSpecs);
  server.slowlog = slowlog;
  raftNode.timeApplies({
    times: (name) => slowlog.timesApply(name),
    note: (command, micros, ticket) => slowlog.note(command, micros, ticket instanceof Slot ? ticket.connection : null),
  });
  const proxy = new LeaderProxy(logger, options.password ?? "", tls);
  raftNode.onLeaderChange((address) => proxy.leaderMoved(address));
  const blocked = new BlockedClients(raftNode, (name) => machineSpecByName.get(name));
  raftNode.onWrite((command, value) => blocked.onWrite(command, value));
  raftNode.onPropose((command) => blocked.proposed(command));
  server.afterCommand = () => blocked.serveProposed();
  server.onPeerInput = (session) => {
    if (session.state === "ready" && session.leaderTraffic === true) raftNode.heardFrom(session.openerId);
  };
  transport.onPeerReading = (id) => raftNode.peerReading(id);
  const applier = new ClientApplier(raftNode, options.redirect ?? "moved", proxy, blocked);
  const onShutdown = options.onShutdown;
  const context: BuiltinContext = {
    server,
    node: raftNode,
    transport,
    cluster,
    settings,
    startedAt: Date.now(),
    startupMemory,
    commandSpecs: () => allSpecs,
    machineInfo: () => machine.info?.() ?? {},
    resetMachineStats: () => machine.resetStats?.(),
    forwardTransaction: (connection, commands) => applier.forwardTransaction(connection, commands),
    forwardCommand: (connection, command) => applier.forwardCommand(connection, command),
    forwardWaiting: (connection, command) => applier.forwardWaiting(connection, command),
    unblock: (id, error) => blocked.unblock(id, error),
    blockedClients: () => blocked.size,
    applier,
    pubsub: server.pubsub,
    // `handle` is made below, before this loop turn ends: no command runs before it exists.
    shutdown:
      onShutdown === undefined
        ? null
        : (reason) =>
            void handle.close(reason).then(
              () => onShutdown(),
              (error: unknown) => onShutdown(error instanceof Error ? error : new Error(String(error))),
            ),
  };
  server.propose = (command, ticket) => raftNode.propose(command, ticket);
  // Replay the log, and let a cluster of one elect itself before serving, so that the first
  // commands are not refused. Meanwhile everyone is answered -LOADING, as Redis does while it
  // loads (the replay gives the loop a turn between batches): nothing is served from a state
  // that has not caught up with what this node served before it stopped.
  await raftNode.start(startupLeaderWaitMilliseconds);
  server.dispatcher = createDispatcher(builtins, context, machine, applier);
  logger.notice(`Node ${identity.nodeId.slice(0, 12)} ready to accept connections on ${host}:${server.port}`);
  const recorded = raftNode.membershipNow().addresses[nodeId];
  if (recorded !== undefined && recorded !== advertise) {
    logger.warning(
      `This node is a member at ${recorded}, not at ${advertise}: the membership keeps ${recorded} ` +
        "(to move a node, remove it with RAFTREMOVEPEER, then start it with an empty data directory and -join)",
    );
  }
  cluster.followLeaderWhileRemoved(() => !closed);
  if (fresh && join !== "") {
    void cluster.join(join, () => !closed);
  } else if (join !== "") {
    logger.notice(`Already a member of a cluster: -join ${join} is ignored`);
  }
  const handle: FinnNode = {
    address: advertise,
    port: server.port,
    id: identity.nodeId,
    status: () => raftNode.status(),
    async close(reason?: string) {
      if (closed) return;
      closed = true;
      if (reason !== undefined) logger.notice(reason);
      if (raftNode.isLeader && (await raftNode.handOver())) logger.notice("Handed leadership over before stopping");
      raftNode.close();
      proxy.close();
      blocked.close();
      transport.close();
      server.stop();
      await store.close();
      await environment.close();
      logger.notice("Node closed");
    },
  };
  return handle;
}
