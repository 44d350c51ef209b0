/**
 * Workloads and checks shared by the durability tests (`test/durability.test.ts`): clients that
 * count every acknowledged and every unanswered INCR, kill triggers that poll a condition (a
 * number of acknowledgements, a snapshot file being written, a snapshot file just renamed into
 * place), and RAFTSTATS as a record.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { CloneProcess } from "../helpers/clone-process.ts";
import { plain, RespConnection, type RespValue } from "../helpers/resp-client.ts";

/** How long a client waits for one reply before it calls the node stuck (not a timing assertion: a hang fails the test). */
const replyTimeoutMilliseconds = 30_000;

/** One command on a fresh connection, as plain JavaScript. */
export async function call(clone: CloneProcess, ...args: Array<string | number>): Promise<unknown> {
  const connection = await RespConnection.connect(clone.port, clone.host);
  try {
    return plain(await connection.call(...args));
  } finally {
    connection.close();
  }
}

/** RAFTSTATS as numbers where the value is numeric. */
export async function raftStats(clone: CloneProcess): Promise<Record<string, number | string>> {
  const reply = await call(clone, "RAFTSTATS");
  if (!Array.isArray(reply)) throw new Error(`RAFTSTATS answered ${JSON.stringify(reply)}`);
  const stats: Record<string, number | string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const key = String(reply[i]);
    const value = String(reply[i + 1]);
    stats[key] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return stats;
}

/** A numeric RAFTSTATS field; throws if it is missing or not a number. */
export function statNumber(stats: Record<string, number | string>, key: string): number {
  const value = stats[key];
  if (typeof value !== "number") throw new Error(`RAFTSTATS ${key} is ${JSON.stringify(value)}`);
  return value;
}


/** What one INCR client saw: its counter's value before the round, what it sent and what was acknowledged. */
export interface CounterRecord {
  readonly key: string;
  /** The counter's value when the round started (checked by the previous round). */
  readonly start: number;
  /** INCRs written to the socket. */
  sent: number;
  /** INCRs answered with the next integer, in order. */
  acknowledged: number;
  /** Set when a reply broke the rules before the node was told to stop (a test failure). */
  violation: string | null;
  /** Why the client stopped (for the log). */
  ended: string;
}

export interface IncrementBurst {
  readonly records: readonly CounterRecord[];
  /** Total acknowledged INCRs so far, over all clients. */
  acknowledgedTotal(): number;
  /** Ask the clients to stop sending (they stop by themselves when the node dies). */
  stop(): void;
  /** Resolves when every client has stopped. */
  readonly finished: Promise<void>;
}

/**
 * Starts `clients` connections, each sending `INCR <prefix><client>` in pipelined batches of 1 to
 * `batchMax` commands and reading every reply before the next batch. A reply must be the integer
 * one above the previous acknowledged value; anything else before `stopping()` turns true is a
 * violation. Once the node is signalled (`stopping()` true), an error or a closed connection just
 * ends the client: those commands count as sent but not acknowledged.
 */
export async function startIncrementBurst(
  clone: CloneProcess,
  prefix: string,
  starts: readonly number[],
  batchMax: number,
  stopping: () => boolean,
): Promise<IncrementBurst> {
  const records: CounterRecord[] = starts.map((start, client) => ({
    key: `${prefix}${client}`,
    start,
    sent: 0,
    acknowledged: 0,
    violation: null,
    ended: "running",
  }));
  const connections = await Promise.all(records.map(() => RespConnection.connect(clone.port, clone.host)));
  let stopRequested = false;
  const runClient = async (record: CounterRecord, connection: RespConnection): Promise<void> => {
    try {
      while (!stopRequested) {
        const batch = 1 + Math.floor(Math.random() * batchMax);
        let bytes = "";
        for (let i = 0; i < batch; i++) bytes += `*2\r\n$4\r\nINCR\r\n$${record.key.length}\r\n${record.key}\r\n`;
        try {
          connection.send(bytes);
        } catch (error) {
          record.ended = `send failed: ${String(error)}`;
          return;
        }
        record.sent += batch;
        for (let i = 0; i < batch; i++) {
          let reply: RespValue;
          try {
            reply = await connection.read(replyTimeoutMilliseconds);
          } catch (error) {
            if (!stopping()) record.violation = `read failed before the node was signalled: ${String(error)}`;
            record.ended = String(error);
            return;
          }
          const expected = record.start + record.acknowledged + 1;
          if (reply.type === "integer" && Number(reply.value) === expected) {
            record.acknowledged++;
            continue;
          }
          if (!stopping()) {
            record.violation =
              `INCR ${record.key} answered ${JSON.stringify(plain(reply), (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}, ` +
              `expected ${expected} (the round started at ${record.start}; ${record.acknowledged} acknowledged, ${record.sent} sent so far)`;
          } else if (reply.type !== "error") {
            // Even while stopping, a successful reply must be the next value: anything else is a double apply.
            record.violation = `INCR ${record.key} answered ${reply.type} ${JSON.stringify(String(plain(reply)))} while stopping, expected ${expected}`;
          }
          record.ended = `reply ${reply.type}`;
          return;
        }
      }
      record.ended = "stop requested";
    } finally {
      connection.close();
    }
  };
  const finished = Promise.all(records.map((record, i) => {
    const connection = connections[i];
    if (connection === undefined) throw new Error("one connection per client");
    return runClient(record, connection);
  })).then(() => undefined);
  return {
    records,
    acknowledgedTotal: () => records.reduce((sum, record) => sum + record.acknowledged, 0),
    stop: () => {
      stopRequested = true;
    },
    finished,
  };
}

/** The `.tmp` and `.snap` file names in the node's snapshot directory (none if it does not exist yet). */
export function snapshotFiles(dir: string): { temporary: string[]; complete: string[] } {
  const directory = join(dir, "snapshots");
  if (!existsSync(directory)) return { temporary: [], complete: [] };
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    // The directory changes under us while the node renames files: an empty view is retried by the caller.
    return { temporary: [], complete: [] };
  }
  return {
    temporary: names.filter((name) => name.endsWith(".tmp")),
    complete: names.filter((name) => name.endsWith(".snap")),
  };
}

/**
 * Polls `condition` as fast as the event loop allows (a zero-delay timer per check, so the
 * clients keep running) until it holds or `limitMilliseconds` passes. Returns whether it held.
 */
export async function pollUntil(condition: () => boolean, limitMilliseconds: number): Promise<boolean> {
  const deadline = Date.now() + limitMilliseconds;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await Bun.sleep(0);
  }
  return condition();
}

/** The integer value of `key` (a missing key is 0, as INCR sees it). */
export async function counterValue(clone: CloneProcess, key: string): Promise<number> {
  const value = await call(clone, "GET", key);
  if (value === null) return 0;
  if (typeof value !== "string" || !/^-?\d+$/.test(value)) throw new Error(`GET ${key} answered ${JSON.stringify(value)}`);
  return Number(value);
}

/** Writes `count` SETs pipelined in batches over `connections` connections; resolves when all are acknowledged with +OK. */
export async function pipelinedSets(
  clone: CloneProcess,
  keyOf: (i: number) => string,
  valueOf: (i: number) => string,
  from: number,
  to: number,
  connections = 4,
  batch = 500,
): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => RespConnection.connect(clone.port, clone.host)));
  let next = from;
  try {
    await Promise.all(sockets.map(async (socket) => {
      while (next < to) {
        const first = next;
        const last = Math.min(to, first + batch);
        next = last;
        let bytes = "";
        for (let i = first; i < last; i++) {
          const key = keyOf(i);
          const value = valueOf(i);
          bytes += `*3\r\n$3\r\nSET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n$${Buffer.byteLength(value)}\r\n${value}\r\n`;
        }
        socket.send(bytes);
        for (let i = first; i < last; i++) {
          const reply = await socket.read(replyTimeoutMilliseconds);
          if (reply.type !== "simple" || reply.value !== "OK") throw new Error(`SET ${keyOf(i)} answered ${JSON.stringify(String(plain(reply)))}`);
        }
      }
    }));
  } finally {
    for (const socket of sockets) socket.close();
  }
}

/** MGET of `keys` in chunks, as strings or null. */
export async function getMany(clone: CloneProcess, keys: readonly string[]): Promise<Array<string | null>> {
  const connection = await RespConnection.connect(clone.port, clone.host);
  try {
    const values: Array<string | null> = [];
    for (let i = 0; i < keys.length; i += 1_000) {
      const reply = plain(await connection.call("MGET", ...keys.slice(i, i + 1_000)));
      if (!Array.isArray(reply)) throw new Error(`MGET answered ${JSON.stringify(reply)}`);
      for (const value of reply) values.push(typeof value === "string" ? value : null);
    }
    return values;
  } finally {
    connection.close();
  }
}
