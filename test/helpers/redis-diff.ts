/**
 * Differential testing against the real redis-server installed on this machine: a script of
 * commands goes to both, one at a time and pipelined, in RESP2 and in RESP3, and the typed replies
 * (simple string, bulk, integer, null, array, set, map, double and its exact text, error text)
 * must be equal. `describeDiff` starts a redis-server and a single-node clone for one test file.
 *
 * What legitimately differs is compared loosely and said so: KEYS and set members (order is the
 * server's own; compared sorted), random picks (compared by size), TTLs counted from each server's
 * clock (compared as positive), and a stream consumer's idle and delivery times (`idle`: XPENDING's,
 * XINFO CONSUMERS's and XINFO STREAM FULL's, from each server's clock, compared as integers only).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../../src/clone/machine.ts";
import { type FinnNode, open } from "../../src/finn.ts";
import { freePort } from "./clone-process.ts";
import { plain, RespConnection, type RespValue } from "./resp-client.ts";

export type Compare = "exact" | "sorted" | "size" | "positive" | "idle";

/**
 * As "idle": the integer after an "idle" or "seen-time" field, the third of a pending row
 * `[id, consumer, idle or time, count]`, and the second of a consumer's `[id, time, count]`.
 */
const isClockField = (item: unknown): boolean => ["idle", "seen-time"].some((name) => JSON.stringify(item) === JSON.stringify({ bulk: name }));

function maskIdle(items: unknown[]): unknown[] {
  const masked = items.map((item) => item);
  const isBulk = (item: unknown): boolean => typeof item === "object" && item !== null && "bulk" in item;
  const isInteger = (item: unknown): boolean => typeof item === "object" && item !== null && "integer" in item;
  if (masked.length === 4 && isBulk(masked[0]) && isBulk(masked[1]) && isInteger(masked[2]) && isInteger(masked[3])) masked[2] = { integer: "idle" };
  if (masked.length === 3 && isBulk(masked[0]) && isInteger(masked[1]) && isInteger(masked[2])) masked[1] = { integer: "idle" };
  for (let i = 1; i < masked.length; i++) {
    if (isClockField(masked[i - 1]) && isInteger(masked[i])) masked[i] = { integer: "idle" };
  }
  return masked;
}

/** A RespValue with buffers as text, for comparing and printing. */
export function view(value: RespValue, compare: Compare = "exact"): unknown {
  switch (value.type) {
    case "bulk":
      return value.value === null ? { bulk: null } : { bulk: value.value.toString("latin1") };
    case "double":
      return { double: value.text };
    case "integer":
    case "bignumber":
      // A TTL counted from each server's clock: only whether it is positive is compared.
      if (compare === "positive") return { [value.type]: Number(value.value) > 0 ? "positive" : String(value.value) };
      return { [value.type]: String(value.value) };
    case "array":
    case "set":
    case "push": {
      if (value.value === null) return { [value.type]: null };
      if (compare === "idle") return { [value.type]: maskIdle(value.value.map((item) => view(item, "idle"))) };
      const items = value.value.map((item) => view(item));
      if (compare === "sorted") items.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      return { [value.type]: compare === "size" ? items.length : items };
    }
    case "map":
    case "attribute":
      if (compare === "idle") {
        return { [value.type]: value.value.map(([k, v]) => [view(k), isClockField(view(k)) ? { integer: "idle" } : view(v, "idle")]) };
      }
      return { [value.type]: value.value.map(([k, v]) => [view(k), view(v)]) };
    case "verbatim":
      return { verbatim: value.value.toString("latin1") };
    case "null":
      return { null: true };
    default:
      return value;
  }
}

/** One command of a script: text arguments (sent as UTF-8) or bytes (sent as they are). */
export interface Case {
  args: (string | Uint8Array)[];
  compare?: Compare;
}

export const c = (...args: (string | Uint8Array)[]): Case => ({ args });
export const sorted = (...args: string[]): Case => ({ args, compare: "sorted" });
export const size = (...args: string[]): Case => ({ args, compare: "size" });
export const positive = (...args: string[]): Case => ({ args, compare: "positive" });
export const idle = (...args: string[]): Case => ({ args, compare: "idle" });

/** A command for a failure message: byte arguments (crafted values) by their length only. */
function describeArgs(args: readonly (string | Uint8Array)[]): string {
  return args.map((arg) => (typeof arg === "string" ? arg : `<${arg.length} bytes>`)).join(" ");
}
/** 2100-01-01: absolute expiry times make EXPIRETIME's replies the same on both servers. */
export const y2100 = "4102444800";

/** The two servers a test file compares: redis-server and a single-node clone. */
export interface DiffServers {
  readonly redisPort: number;
  readonly clonePort: number;
}

/** A redis-server on a free port of 127.0.0.1, started and answering PING; `stop` ends it and removes its directory. */
export async function startRedisServer(): Promise<{ readonly port: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "finn-redis-"));
  const port = await freePort();
  const child = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdout: "ignore",
    stderr: "ignore",
  });
  const stop = async (): Promise<void> => {
    child.kill();
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const probe = await RespConnection.connect(port);
      await probe.call("PING");
      probe.close();
      return { port, stop };
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw error;
      }
      await Bun.sleep(50);
    }
  }
}

/** Starts redis-server and a clone node before the file's tests, and stops them after. */
export function diffServers(): DiffServers {
  const servers = { redisPort: 0, clonePort: 0 };
  let node: FinnNode | undefined;
  let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "finn-diff-"));
    node = await open(join(dir, "clone"), "127.0.0.1:0", "", new Clone(), { logLevel: "quiet" });
    servers.clonePort = node.port;
    redis = await startRedisServer();
    servers.redisPort = redis.port;
  });
  afterAll(async () => {
    await node?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return servers;
}

/**
 * Runs the script on one connection: one command at a time, or all of it pipelined (then reads
 * wait behind writes on the server, and a read's WRONGTYPE is raised from a queued reply).
 */
async function runScript(script: readonly Case[], port: number, protocol: 2 | 3, pipelined = false): Promise<unknown[]> {
  const connection = await RespConnection.connect(port);
  try {
    if (protocol === 3) await connection.call("HELLO", "3");
    await connection.call("FLUSHALL");
    if (pipelined) {
      for (const one of script) connection.command(...one.args);
      return (await connection.readMany(script.length, 30_000)).map((reply, i) => view(reply, script[i]?.compare));
    }
    const replies: unknown[] = [];
    for (const one of script) replies.push(view(await connection.call(...one.args), one.compare));
    return replies;
  } finally {
    connection.close();
  }
}

/**
 * Four tests (RESP2 and RESP3, one at a time and pipelined) that send `script` to both servers
 * after a FLUSHALL and compare every reply; a failure lists each command whose replies differ.
 */
export function diffTests(servers: DiffServers, what: string, script: readonly Case[]): void {
  for (const [protocol, pipelined] of [[2, false], [3, false], [2, true], [3, true]] as const) {
    test(`RESP${protocol}${pipelined ? ", pipelined" : ""}: ${script.length} commands, ${what}`, async () => {
      const expected = await runScript(script, servers.redisPort, protocol, pipelined);
      const actual = await runScript(script, servers.clonePort, protocol, pipelined);
      const differences: string[] = [];
      script.forEach((one, i) => {
        if (JSON.stringify(expected[i]) !== JSON.stringify(actual[i])) {
          differences.push(`${describeArgs(one.args)}\n  redis: ${JSON.stringify(expected[i])}\n  clone: ${JSON.stringify(actual[i])}`);
        }
      });
      expect(differences.join("\n")).toBe("");
    });
  }
}

/**
 * Every item a whole SCAN-family iteration returns, in the server's order, on one connection:
 * `command` (["SCAN"], or ["SSCAN", key]...), the cursor, then `options`, from cursor 0 until
 * the server gives 0 back.
 */
export async function scanAll(port: number, command: readonly string[], options: readonly string[] = []): Promise<string[]> {
  const connection = await RespConnection.connect(port);
  try {
    const found: string[] = [];
    let cursor = "0";
    let steps = 0;
    do {
      const reply = plain(await connection.call(...command, cursor, ...options));
      if (!Array.isArray(reply)) throw new Error(`${command.join(" ")} ${cursor} answered ${JSON.stringify(reply)}`);
      const [next, items] = reply as [string, string[]];
      cursor = next;
      found.push(...items);
      steps++;
    } while (cursor !== "0" && steps < 100_000);
    return found;
  } finally {
    connection.close();
  }
}

/** The pairs of a flat list (HSCAN's fields and values, ZSCAN's members and scores) as sorted "name=value" texts. */
export function sortedPairs(items: readonly string[]): string[] {
  const pairs: string[] = [];
  for (let i = 0; i + 1 < items.length; i += 2) pairs.push(`${items[i]}=${items[i + 1]}`);
  return pairs.sort();
}
