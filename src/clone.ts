/**
 * The Redis clone: the full-featured example, a thin command line over the public API.
 *
 *   bun run src/clone.ts                       # a single node on 127.0.0.1:7481, data in ./data
 *   bun run src/clone.ts -p 7482 -dir data2 -join :7481
 *
 * Flags follow Finn's clone (`-p`, `-dir`, `-join`, `-durability`, `-consistency`, `-backend`,
 * `-loglevel`), plus `-bind` and `-advertise`. Each may also be written with `--`, and as
 * `-flag value` or `-flag=value`.
 */
import type { Backend, Level, Options, RedirectMode } from "./finn.ts";
import { isLogLevel, type LogLevel } from "./log.ts";
import { restartWithAllocatorSettings } from "./node/allocator.ts";
import { finnVersion } from "./version.ts";

export const usage = `Usage: finn-clone [flags]

A Redis clone replicated with Raft: every Redis client can talk to it.

Flags (each also as --flag, and as -flag=value):
  -p PORT              port for clients and peers (default 7481)
  -bind HOST           address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  -advertise HOST:PORT address other nodes and redirected clients use to reach this one
                       (default: the bind address and port, 127.0.0.1 when binding every interface)
  -dir DIR             data directory (default data)
  -join ADDR           address of any member of a cluster to join (":7481" means this host)
  -durability LEVEL    low | medium | high (default medium)
                         low: the OS decides when to flush; medium: flushed every second;
                         high: flushed before a write is acknowledged
  -consistency LEVEL   low | medium | high (default medium)
                         low: every node answers reads; medium: the leader, under its lease;
                         high: the leader, after confirming leadership with a quorum
  -backend NAME        lmdb | memory (default lmdb): where the Raft log lives
  -redirect MODE       moved | try | proxy (default moved): what a follower does with a command
                         only the leader may serve: answer -MOVED 0 leader (redis-cli -c and
                         cluster clients follow it), answer Finn's -TRY leader, or forward it
  -cluster NAME        the cluster's name; nodes refuse peers of another cluster (default finn)
  -secret SECRET       the cluster secret peers must prove they know (never sent over the wire)
  -auth PASSWORD       clients must AUTH with this password (-NOAUTH otherwise)
  -protected-mode yes|no  with no -auth, serve only clients on the loopback interface; others
                         get -DENIED (default yes; peers elsewhere get in when -secret is set)
  -admin-auth PASSWORD cluster administration (RAFTADDPEER, RAFTREMOVEPEER, RAFTTRANSFER,
                         RAFTSNAPSHOT, joins) and SHUTDOWN need AUTH admin PASSWORD
  -loglevel LEVEL      quiet | warning | notice | verbose | debug (default notice)
  -tls-cert FILE, -tls-key FILE      serve TLS only (clients and peers) with this certificate
                         and key (PEM); connections to other nodes are TLS too
  -tls-ca FILE         the CA other nodes' certificates are verified against (default: the
                         system's roots)
  -maxclients N        most connected clients; more get -ERR max number of clients reached
                         (default 10000)
  -timeout SECONDS     disconnect a client after this long without a command (default 0: never)
  -slowlog-log-slower-than MICROS   SLOWLOG keeps commands that took at least this long (default
                         10000; negative: none, 0: all; commands Redis flags fast, and SET,
                         are not timed)
  -slowlog-max-len N   SLOWLOG keeps the newest N (default 128)
  -proto-max-bulk-len BYTES         largest bulk argument a client may send (default 512 MB)
  -client-query-buffer-limit BYTES  most bytes buffered for a command still arriving (default 1 GB)
  -client-output-buffer-limit BYTES most bytes of replies a client may leave unread, a reply being
                         built included, before it is disconnected (default 64 MB; a single
                         value of a quarter of it or more may pass it by its own length)
  -snapshot-entries N  take a snapshot after N applied entries (default 100000)...
  -snapshot-bytes BYTES            ...or BYTES of applied entries, whichever comes first
                         (default 67108864, 64 MB)
  -snapshot-growth PERCENT         ...and, besides, once the entries since the last snapshot hold
                         PERCENT% of its size (Redis's auto-aof-rewrite-percentage; default 100
                         with the default thresholds, else 0: off)
  -snapshot-trail N    entries kept in the log behind a snapshot for slow followers (default 10000)...
  -snapshot-trail-bytes BYTES      ...and at most BYTES of them (default 67108864); an entry
                         batches many commands, so the count alone does not bound the disk
  -election-timeout MS  least time a follower waits without hearing from a leader before it
                         stands for election (default 500; each waits MS to 2*MS); heartbeats go
                         every MS/10. Raise it where round trips between nodes are long: it must
                         be well above one. The same on every node
  -v, -version         print the version
  -h, -help            print this help

BYTES take Redis's units: 512mb, 1gb, 64kb (powers of 1024), 64k, 1m, 1g (powers of 1000).

Commands: strings (SET GET MSET MGET INCR INCRBY DECR DECRBY APPEND STRLEN SETEX SETNX GETEX
GETDEL ...), bitmaps (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO), expiry (EXPIRE
PEXPIRE EXPIREAT TTL PTTL EXPIRETIME PERSIST ...), lists (LPUSH RPUSH LPOP RPOP LRANGE LLEN
LINDEX LSET LTRIM LREM ...), sets (SADD SREM SMEMBERS SISMEMBER SCARD SPOP SRANDMEMBER ...),
hashes (HSET HGET HMGET HGETALL HDEL HINCRBY HLEN ...), sorted sets (ZADD ZREM ZSCORE ZRANGE
ZRANGEBYSCORE ZCARD ZPOPMIN ...), geospatial (GEOADD GEOSEARCH GEODIST GEOPOS GEORADIUS ...),
streams (XADD XLEN XRANGE XREAD XDEL XTRIM ...) and their consumer groups (XGROUP XREADGROUP XACK
XPENDING XCLAIM XAUTOCLAIM XINFO), HyperLogLog (PFADD PFCOUNT PFMERGE), blocking pops (BLPOP
BRPOP BLMOVE BZPOPMIN ...), publish/subscribe (SUBSCRIBE PSUBSCRIBE PUBLISH PUBSUB), the keyspace
(DEL EXISTS KEYS TYPE RENAME SCAN SORT DBSIZE FLUSHALL OBJECT MEMORY), transactions (MULTI EXEC
DISCARD WATCH UNWATCH), the connection commands every client needs (PING ECHO QUIT HELLO RESET CLIENT
SELECT INFO COMMAND CONFIG GET WAIT) and the Raft commands RAFTLEADER RAFTSTATE RAFTSTATS
RAFTPEERS RAFTADDPEER RAFTREMOVEPEER RAFTSNAPSHOT RAFTTRANSFER. COMMAND lists them all.
`;

interface CloneFlags {
  port: number;
  bind: string;
  advertise: string;
  dir: string;
  join: string;
  durability: Level;
  consistency: Level;
  backend: Backend;
  logLevel: LogLevel;
  snapshotEntries: number | null;
  snapshotTrail: number | null;
  snapshotBytes: number | null;
  snapshotGrowthPercent: number | null;
  snapshotTrailBytes: number | null;
  redirect: RedirectMode;
  cluster: string;
  secret: string;
  password: string;
  protectedMode: boolean;
  clientsMax: number | null;
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
  idleTimeoutSeconds: number | null;
  slowlogSlowerThanMicros: number | null;
  slowlogMaxLen: number | null;
  bulkBytesMax: number | null;
  queryBufferBytesMax: number | null;
  outputBytesMax: number | null;
  adminPassword: string;
  electionTimeoutMilliseconds: number | null;
}

class UsageError extends Error {}

function level(flag: string, value: string): Level {
  if (value === "low" || value === "medium" || value === "high") return value;
  throw new UsageError(`invalid value '${value}' for -${flag}: expected low, medium or high`);
}

/** Redis's size units (`memtoull`): k, m, g are powers of 1000; kb, mb, gb of 1024; b is bytes. */
const sizeUnits: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3 };

/** A size flag's value: a whole number of bytes, optionally with a unit as Redis takes them (`512mb`, `1gb`, `64k`). */
export function parseSize(value: string, flag: string): number {
  const match = /^(\d+)([a-z]*)$/i.exec(value);
  const unit = sizeUnits[(match?.[2] ?? "").toLowerCase()];
  const bytes = match === null || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`invalid size '${value}' for -${flag}: expected bytes, optionally with a unit (b, k, kb, m, mb, g, gb)`);
  return bytes;
}

/** The flags that take a value (each handled in `parseFlags`). */
export const valueFlags: ReadonlySet<string> = new Set([
  "p", "port", "bind", "advertise", "dir", "join", "durability", "consistency", "backend", "loglevel", "redirect",
  "cluster", "secret", "auth", "protected-mode", "admin-auth", "tls-cert", "tls-key", "tls-ca", "maxclients",
  "proto-max-bulk-len", "client-query-buffer-limit", "client-output-buffer-limit", "timeout", "snapshot-entries", "snapshot-trail",
  "election-timeout", "snapshot-growth", "snapshot-bytes", "snapshot-trail-bytes", "slowlog-log-slower-than", "slowlog-max-len",
]);

/** Parses the command line; throws UsageError with a message for the user. Exported for tests. */
export function parseFlags(argv: readonly string[]): CloneFlags | "help" | "version" {
  const flags: CloneFlags = {
    port: 7481,
    bind: "127.0.0.1",
    advertise: "",
    dir: "data",
    join: "",
    durability: "medium",
    consistency: "medium",
    backend: "lmdb",
    logLevel: "notice",
    snapshotEntries: null,
    snapshotTrail: null,
    snapshotBytes: null,
    snapshotGrowthPercent: null,
    snapshotTrailBytes: null,
    electionTimeoutMilliseconds: null,
    redirect: "moved",
    cluster: "finn",
    secret: "",
    password: "",
    protectedMode: true,
    clientsMax: null,
    tlsCert: "",
    tlsKey: "",
    tlsCa: "",
    idleTimeoutSeconds: null,
    slowlogSlowerThanMicros: null,
    slowlogMaxLen: null,
    bulkBytesMax: null,
    queryBufferBytesMax: null,
    outputBytesMax: null,
    adminPassword: "",
  };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] ?? "";
    if (!argument.startsWith("-")) throw new UsageError(`unexpected argument '${argument}'`);
    let name = argument.replace(/^--?/, "");
    let value: string | undefined;
    const equals = name.indexOf("=");
    if (equals >= 0) {
      value = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    if (name === "h" || name === "help") return "help";
    if (name === "v" || name === "version") return "version";
    if (!valueFlags.has(name)) throw new UsageError(`unknown flag '${argument}'`);
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new UsageError(`flag -${name} needs a value`);
      i++;
    }
    switch (name) {
      case "p":
      case "port": {
        const port = Number(value);
        if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new UsageError(`invalid port '${value}'`);
        flags.port = port;
        break;
      }
      case "bind":
        flags.bind = value;
        break;
      case "advertise":
        flags.advertise = value;
        break;
      case "dir":
        if (value === "") throw new UsageError("-dir must not be empty");
        flags.dir = value;
        break;
      case "join":
        flags.join = value;
        break;
      case "durability":
        flags.durability = level(name, value);
        break;
      case "consistency":
        flags.consistency = level(name, value);
        break;
      case "backend":
        if (value === "lmdb" || value === "memory") flags.backend = value;
        else if (value === "fastlog" || value === "inmem") throw new UsageError(`-backend ${value} is Finn's; use -backend memory`);
        else throw new UsageError(`invalid value '${value}' for -backend: expected lmdb or memory`);
        break;
      case "loglevel":
        if (!isLogLevel(value)) throw new UsageError(`invalid value '${value}' for -loglevel: expected quiet, warning, notice, verbose or debug`);
        flags.logLevel = value;
        break;
      case "redirect":
        if (value !== "moved" && value !== "try" && value !== "proxy") {
          throw new UsageError(`invalid value '${value}' for -redirect: expected moved, try or proxy`);
        }
        flags.redirect = value;
        break;
      case "cluster":
        if (value === "") throw new UsageError("-cluster must not be empty");
        flags.cluster = value;
        break;
      case "secret":
        flags.secret = value;
        break;
      case "auth":
        flags.password = value;
        break;
      case "protected-mode":
        if (value !== "yes" && value !== "no") throw new UsageError(`invalid value '${value}' for -protected-mode: expected yes or no`);
        flags.protectedMode = value === "yes";
        break;
      case "admin-auth":
        flags.adminPassword = value;
        break;
      case "tls-cert":
        flags.tlsCert = value;
        break;
      case "tls-key":
        flags.tlsKey = value;
        break;
      case "tls-ca":
        flags.tlsCa = value;
        break;
      case "maxclients":
        if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`invalid count '${value}' for -maxclients`);
        flags.clientsMax = Number(value);
        break;
      case "proto-max-bulk-len":
      case "client-query-buffer-limit": {
        const bytes = parseSize(value, name);
        if (bytes < 1024) throw new UsageError(`invalid size '${value}' for -${name}: at least 1024 bytes`);
        if (name === "proto-max-bulk-len") flags.bulkBytesMax = bytes;
        else flags.queryBufferBytesMax = bytes;
        break;
      }
      case "client-output-buffer-limit": {
        const bytes = parseSize(value, name);
        if (bytes < 1024 * 1024) throw new UsageError(`invalid size '${value}' for -${name}: at least 1 MB`);
        flags.outputBytesMax = bytes;
        break;
      }
      case "timeout":
        if (!/^\d+$/.test(value)) throw new UsageError(`invalid seconds '${value}' for -timeout`);
        flags.idleTimeoutSeconds = Number(value);
        break;
      case "slowlog-log-slower-than":
        if (!/^-?\d{1,15}$/.test(value)) throw new UsageError(`invalid microseconds '${value}' for -slowlog-log-slower-than`);
        // Any negative value turns it off, as in Redis.
        flags.slowlogSlowerThanMicros = Math.max(-1, Number(value));
        break;
      case "slowlog-max-len":
        if (!/^\d{1,9}$/.test(value)) throw new UsageError(`invalid count '${value}' for -slowlog-max-len`);
        flags.slowlogMaxLen = Number(value);
        break;
      case "snapshot-entries":
      case "snapshot-trail": {
        const count = Number(value);
        if (!/^\d+$/.test(value) || (name === "snapshot-entries" && count < 1)) throw new UsageError(`invalid count '${value}' for -${name}`);
        if (name === "snapshot-entries") flags.snapshotEntries = count;
        else flags.snapshotTrail = count;
        break;
      }
      case "election-timeout":
        if (!/^\d{1,7}$/.test(value) || Number(value) < 20 || Number(value) > 3_600_000) {
          throw new UsageError(`invalid milliseconds '${value}' for -election-timeout: from 20 to 3600000`);
        }
        flags.electionTimeoutMilliseconds = Number(value);
        break;
      case "snapshot-growth":
        if (!/^\d{1,6}$/.test(value)) throw new UsageError(`invalid percentage '${value}' for -snapshot-growth`);
        flags.snapshotGrowthPercent = Number(value);
        break;
      case "snapshot-bytes":
      case "snapshot-trail-bytes": {
        const bytes = parseSize(value, name);
        if (name === "snapshot-bytes" && bytes < 1) throw new UsageError(`invalid size '${value}' for -${name}: at least 1 byte`);
        if (name === "snapshot-bytes") flags.snapshotBytes = bytes;
        else flags.snapshotTrailBytes = bytes;
        break;
      }
      default:
        throw new UsageError(`unknown flag '${argument}'`);
    }
  }
  if ((flags.tlsCert === "") !== (flags.tlsKey === "")) throw new UsageError("-tls-cert and -tls-key go together");
  if (flags.tlsCa !== "" && flags.tlsCert === "") throw new UsageError("-tls-ca needs -tls-cert and -tls-key");
  return flags;
}

async function main(): Promise<void> {
  // Before anything is opened: see allocator.ts.
  restartWithAllocatorSettings();
  let flags: CloneFlags | "help" | "version";
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`finn-clone: ${error.message}\n(run with -h for every flag)\n`);
    process.exit(2);
  }
  if (flags === "help") {
    process.stdout.write(usage);
    return;
  }
  if (flags === "version") {
    process.stdout.write(`finn-clone ${finnVersion} (Bun ${Bun.version})\n`);
    return;
  }
  // The data directory and every file in it are the owner's alone, even in a directory that
  // already existed with wider permissions.
  process.umask(0o077);
  const options: Options = {
    durability: flags.durability,
    consistency: flags.consistency,
    backend: flags.backend,
    logLevel: flags.logLevel,
    ...(flags.advertise === "" ? {} : { advertise: flags.advertise }),
    ...(flags.snapshotEntries === null ? {} : { snapshotEntries: flags.snapshotEntries }),
    ...(flags.snapshotTrail === null ? {} : { snapshotTrailEntries: flags.snapshotTrail }),
    ...(flags.snapshotBytes === null ? {} : { snapshotBytes: flags.snapshotBytes }),
    ...(flags.snapshotGrowthPercent === null ? {} : { snapshotGrowthPercent: flags.snapshotGrowthPercent }),
    ...(flags.snapshotTrailBytes === null ? {} : { snapshotTrailBytes: flags.snapshotTrailBytes }),
    ...(flags.electionTimeoutMilliseconds === null ? {} : { electionTimeoutMilliseconds: flags.electionTimeoutMilliseconds }),
    redirect: flags.redirect,
    cluster: flags.cluster,
    secret: flags.secret,
    password: flags.password,
    protectedMode: flags.protectedMode,
    ...(flags.tlsCert === "" ? {} : { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey, ...(flags.tlsCa === "" ? {} : { caFile: flags.tlsCa }) } }),
    limits: {
      ...(flags.clientsMax === null ? {} : { clientsMax: flags.clientsMax }),
      ...(flags.idleTimeoutSeconds === null ? {} : { idleTimeoutSeconds: flags.idleTimeoutSeconds }),
      ...(flags.slowlogSlowerThanMicros === null ? {} : { slowlogSlowerThanMicros: flags.slowlogSlowerThanMicros }),
      ...(flags.slowlogMaxLen === null ? {} : { slowlogMaxLen: flags.slowlogMaxLen }),
      ...(flags.bulkBytesMax === null ? {} : { bulkBytesMax: flags.bulkBytesMax }),
      ...(flags.queryBufferBytesMax === null ? {} : { queryBufferBytesMax: flags.queryBufferBytesMax }),
      ...(flags.outputBytesMax === null ? {} : { outputBytesMax: flags.outputBytesMax }),
    },
    adminPassword: flags.adminPassword,
    // SHUTDOWN from a client (the admin user, with -admin-auth) closes the node; the clone then exits.
    onShutdown: (error) => {
      if (error !== undefined) process.stderr.write(`finn-clone: error while closing: ${error.message}\n`);
      process.exit(error === undefined ? 0 : 1);
    },
  };
  const host = flags.bind.includes(":") ? `[${flags.bind}]` : flags.bind;
  // Loaded here, after the restart above, so that a restart does not load them twice.
  const [{ Clone }, { open }] = await Promise.all([import("./clone/machine.ts"), import("./finn.ts")]);
  const node = await open(flags.dir, `${host}:${flags.port}`, flags.join, new Clone(), options);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    node.close(`Received ${signal}, shutting down`).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`finn-clone: error while closing: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  // As redis-server: a hang-up (the terminal it started from closed) does not stop the node.
  process.on("SIGHUP", () => {});
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`finn-clone: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
