/**
 * Hostile input against real clone processes (`src/clone.ts`), one node and a 3-node cluster.
 *
 * A well-behaved client (`GoodClient`) runs through every test: SET of a fresh key, then GET of
 * one it wrote before, on its own keys, checking every value. Each attack asserts, while it is
 * under way, that this client keeps being served (it makes progress; a generous timeout is only
 * the limit of waiting for that, never a measurement), and afterwards that the node is alive,
 * answers PING on a new connection, used bounded memory (VmRSS of the process, sampled every
 * 100 ms during the attack; bounds explained at `rssGrowthBoundMegabytes`) and lost no
 * acknowledged write.
 *
 * Attacks: a seeded fuzzer on many connections (mutated and random traffic from fuzz.ts, sent in
 * random pieces, some connections never reading, every reply checked to be valid RESP);
 * slow-loris clients (one byte every ~100 ms of a valid command, and a 512 MB declared bulk sent
 * slowly); a client that pipelines without reading; thousands of idle connections (in long mode
 * past `clientsMax`); a connect/disconnect flood; oversized headers, a frame of 1,048,576
 * arguments and a giant inline line; and peer-protocol abuse from raw sockets (RAFTMSG before
 * the handshake, wrong cluster, wrong version, wrong proof, a replayed handshake, this node's own
 * id, then on authenticated links: truncated, corrupted and wrongly typed payloads, huge
 * declared sizes, and terms from the past and the future).
 *
 * Long mode: HOSTILE_LONG=1 (a 3-minute fuzz storm, 100 slow clients, 10,050 idle connections,
 * 50,000 connect/disconnect cycles). HOSTILE_SEED=<n> picks the fuzzer's seed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { Packr } from "msgpackr";
import { defaultReaderLimits } from "../../src/resp/reader.ts";
import { peerReaderLimits } from "../../src/server/commands/raft-peer.ts";
import { call, CloneProcess, cleanupAll } from "../helpers/clone-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { callPort, encodeCommand, plain, RespConnection, RespParser, type RespValue } from "../helpers/resp-client.ts";
import { bytesOfLatin1, caseRng, liveTraffic, type Rng, seedFromEnvironment } from "./fuzz.ts";

setDefaultTimeout(300_000);

const long = process.env["HOSTILE_LONG"] === "1";
const seed = seedFromEnvironment("HOSTILE_SEED", 0x0f022ed);

const plan = long
  ? { stormSeconds: 180, stormWorkers: 48, lorisClients: 100, idleConnections: 10_050, floodCycles: 50_000, clusterStormSeconds: 60 }
  : { stormSeconds: 12, stormWorkers: 24, lorisClients: 20, idleConnections: 3_000, floodCycles: 4_000, clusterStormSeconds: 6 };

const secret = "hostile-secret";
const clusterName = "hostile";
/** The clone's limits (its defaults: the clone has no flags for them). */
const clientsMax = 10_000;
const outputSoftBytesMax = 4 * 1024 * 1024;

const megabyte = 1024 * 1024;

/**
 * How far a node's RSS may rise during one attack, above what it was when the attack began. A
 * node idles at ~55-60 MB. 256 MB covers what an attack may make it hold legitimately at once
 * (the fuzz connections' partial frames, the 4 MB output window of the pipelining client, the
 * 14 MB frame of a million arguments with its offsets and the copies made while it grew, ten
 * thousand sockets) plus garbage the collector has not reclaimed yet. It is half of what one
 * 512 MB bulk allocated from its declared length would take, and an unbounded buffer under any
 * of these attacks would pass it within seconds.
 */
const rssGrowthBoundMegabytes = 256;

/**
 * And across a whole run, above the node's resting RSS: the collector keeps some of one attack's
 * garbage into the next, so growth is bounded per attack and the total by this.
 */
const rssTotalBoundMegabytes = 512;

function rssMegabytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** Samples a process's RSS every 100 ms until stopped; returns the peak. */
function sampleRss(pid: number): { readonly start: number; stop: () => number } {
  const start = rssMegabytes(pid);
  let peak = start;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMegabytes(pid));
    } catch {
      // The process is gone; the test's liveness check says so.
    }
  }, 100);
  return {
    start,
    stop: () => {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssMegabytes(pid));
      } catch {
        // As above.
      }
      return peak;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A raw socket: sends any bytes, checks that whatever comes back is valid RESP.

interface RawOptions {
  /** False: never read (the socket is paused from the start). */
  readonly read?: boolean;
  /** Called for each reply instead of keeping it. */
  readonly onReply?: (value: RespValue) => void;
}

class RawSocket {
  private socket: Socket<undefined> | null = null;
  private readonly parser = new RespParser();
  private readonly waiters = new Set<() => void>();
  private readonly unsent: Uint8Array[] = [];
  private onReply: ((value: RespValue) => void) | null = null;
  readonly replies: RespValue[] = [];
  replyCount = 0;
  /** Set when the server sent bytes that are not RESP. */
  invalid: string | null = null;
  bytesReceived = 0;
  unsentBytes = 0;
  closed = false;

  static async open(port: number, options: RawOptions = {}): Promise<RawSocket> {
    const raw = new RawSocket();
    raw.onReply = options.onReply ?? null;
    raw.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_socket, data) => raw.onData(data),
        drain: () => raw.flush(),
        close: () => raw.onClosed(),
        error: () => raw.onClosed(),
        connectError: () => raw.onClosed(),
      },
    });
    if (options.read === false) raw.socket.pause();
    return raw;
  }

  private onData(data: Uint8Array): void {
    this.bytesReceived += data.length;
    if (this.invalid !== null) return;
    this.parser.push(data);
    try {
      for (let value = this.parser.next(); value !== undefined; value = this.parser.next()) {
        this.replyCount++;
        if (this.onReply !== null) this.onReply(value);
        else if (this.replies.length < 10_000) this.replies.push(value);
      }
    } catch (error) {
      this.invalid = String(error);
    }
    this.wake();
  }

  private onClosed(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Sends bytes; what the socket does not take now goes on `drain`. Returns the bytes taken now. */
  send(data: string | Uint8Array): number {
    const socket = this.socket;
    if (socket === null || this.closed) return 0;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (this.unsent.length > 0) {
      this.unsent.push(bytes);
      this.unsentBytes += bytes.length;
      return 0;
    }
    const written = Math.max(0, socket.write(bytes));
    if (written < bytes.length) {
      this.unsent.push(bytes.subarray(written));
      this.unsentBytes += bytes.length - written;
    }
    return written;
  }

  private flush(): void {
    const socket = this.socket;
    while (socket !== null && this.unsent.length > 0) {
      const bytes = this.unsent[0];
      if (bytes === undefined) break;
      const written = Math.max(0, socket.write(bytes));
      this.unsentBytes -= written;
      if (written < bytes.length) {
        this.unsent[0] = bytes.subarray(written);
        return;
      }
      this.unsent.shift();
    }
    this.wake();
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  /** Waits until `predicate` holds; false if it did not within `timeoutMilliseconds`. */
  async until(predicate: () => boolean, timeoutMilliseconds: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMilliseconds;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 50));
        this.waiters.add(done);
      });
    }
    return true;
  }

  /** Waits for `count` replies (or the close); throws with what came if they do not come. */
  async expectReplies(count: number, what: string, timeoutMilliseconds = 30_000): Promise<RespValue[]> {
    await this.until(() => this.replies.length >= count || this.closed || this.invalid !== null, timeoutMilliseconds);
    if (this.invalid !== null) throw new Error(`${what}: the server sent invalid RESP: ${this.invalid}`);
    if (this.replies.length < count) throw new Error(`${what}: ${this.replies.length} of ${count} replies (${this.closed ? "closed" : "open"}): ${JSON.stringify(this.replies.map(plain))}`);
    return this.replies.slice(0, count);
  }

  async waitClosed(timeoutMilliseconds = 30_000): Promise<boolean> {
    return this.until(() => this.closed, timeoutMilliseconds);
  }

  end(): void {
    this.socket?.end();
  }

  terminate(): void {
    this.socket?.terminate();
  }
}

function errorText(value: RespValue | undefined): string {
  return value !== undefined && value.type === "error" ? value.value : `not an error: ${JSON.stringify(value === undefined ? undefined : plain(value))}`;
}

// ---------------------------------------------------------------------------------------------
// The well-behaved client

interface GoodEndpoint {
  port: number;
  /** The nodes' ports: MOVED is followed only to one of these. */
  readonly ports: Set<number>;
  /** The nodes, so that waiting for service stops at once (with their logs) if one died. */
  readonly nodes: CloneProcess[];
}

/**
 * SET a fresh key, then GET one it wrote before, over and over on one connection, following
 * MOVED to a new leader. Writes answered OK are acknowledged; every read of an acknowledged key
 * must return its value. Refusals that leave the write unapplied (CLUSTERDOWN, TRYAGAIN, MOVED)
 * are counted; UNCERTAIN ones are remembered and never checked as acknowledged.
 */
class GoodClient {
  readonly acknowledged = new Map<string, string>();
  readonly uncertain = new Set<string>();
  readonly wrong: string[] = [];
  readonly refusals = new Map<string, number>();
  readonly failures: string[] = [];
  successes = 0;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private connection: RespConnection | null = null;
  private readonly tag = randomBytes(6).toString("hex");

  constructor(
    private readonly endpoint: GoodEndpoint,
    private readonly rng: Rng,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.connection?.close();
    this.connection = null;
  }

  /** Resolves once the client has been served `count` more times; throws if it is not. */
  async served(count: number, what: string, timeoutMilliseconds = 60_000): Promise<void> {
    const target = this.successes + count;
    const deadline = Date.now() + timeoutMilliseconds;
    while (this.successes < target) {
      const dead = this.endpoint.nodes.find((clone) => !clone.running);
      if (dead !== undefined) {
        const tail = dead.log().split("\n").slice(-30).join("\n");
        throw new Error(`${dead.name} died during ${what} (exit ${String(await dead.exited())}); the end of its log:\n${tail}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`the good client was served ${this.successes - (target - count)} of ${count} times during ${what}; refusals ${JSON.stringify([...this.refusals])}, failures ${JSON.stringify(this.failures)}`);
      }
      await Bun.sleep(20);
    }
  }

  private refused(text: string): void {
    const code = text.split(" ")[0] ?? text;
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
    const moved = /^MOVED \d+ (.+):(\d+)$/.exec(text);
    if (moved !== null && this.endpoint.ports.has(Number(moved[2]))) {
      this.endpoint.port = Number(moved[2]);
      this.connection?.close();
      this.connection = null;
    }
  }

  private async run(): Promise<void> {
    let i = 0;
    while (this.running) {
      try {
        if (this.connection === null || this.connection.closed) {
          this.connection = await RespConnection.connect(this.endpoint.port);
        }
        const connection = this.connection;
        const key = `good:${this.tag}:${i}`;
        const value = `value:${i}:${"v".repeat(this.rng.int(0, 512))}:${this.rng.next()}`;
        i++;
        const set = await connection.call("SET", key, value);
        if (set.type === "simple" && set.value === "OK") {
          this.acknowledged.set(key, value);
          this.successes++;
        } else if (set.type === "error") {
          if (set.value.startsWith("UNCERTAIN")) this.uncertain.add(key);
          this.refused(set.value);
          await Bun.sleep(50);
          continue;
        } else {
          this.wrong.push(`SET ${key} answered ${JSON.stringify(plain(set))}`);
        }
        if (this.acknowledged.size > 0 && this.connection !== null) {
          const index = this.rng.below(Math.min(this.acknowledged.size, 1000));
          const readKey = `good:${this.tag}:${Math.max(0, i - 1 - index)}`;
          const expected = this.acknowledged.get(readKey);
          const got = await this.connection.call("GET", readKey);
          if (got.type === "error") {
            this.refused(got.value);
          } else if (expected !== undefined) {
            const text = got.type === "bulk" && got.value !== null ? got.value.toString("latin1") : null;
            if (text !== expected) this.wrong.push(`GET ${readKey}: expected ${expected.slice(0, 40)}..., got ${JSON.stringify(plain(got)).slice(0, 80)}`);
            else this.successes++;
          }
        }
        await Bun.sleep(3);
      } catch (error) {
        // The good client must never be cut off or left unanswered: a failure, then go on.
        this.failures.push(String(error));
        this.connection?.close();
        this.connection = null;
        await Bun.sleep(100);
      }
    }
  }
}

/** Every acknowledged write of `good`, read back on a fresh connection to `port`. */
async function expectAcknowledgedReadable(port: number, good: GoodClient): Promise<number> {
  const connection = await RespConnection.connect(port);
  try {
    const entries = [...good.acknowledged];
    const missing: string[] = [];
    for (let at = 0; at < entries.length; at += 500) {
      const batch = entries.slice(at, at + 500);
      const reply = await connection.call("MGET", ...batch.map(([key]) => key));
      if (reply.type !== "array" || reply.value === null) throw new Error(`MGET answered ${JSON.stringify(plain(reply))}`);
      reply.value.forEach((value, k) => {
        const [key, expected] = batch[k] ?? ["?", "?"];
        const text = value.type === "bulk" && value.value !== null ? value.value.toString("latin1") : null;
        if (text !== expected) missing.push(`${key}: ${JSON.stringify(text === null ? null : text.slice(0, 40))}`);
      });
    }
    expect(missing).toEqual([]);
    return entries.length;
  } finally {
    connection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Peer handshake, from the protocol as src/transport/handshake.ts documents it

function handshakeProof(role: "peer" | "opener", key: string, parts: { cluster: string; openerId: string; openerNonce: string; openerAddress: string; peerId: string; peerNonce: string }): string {
  // The opener's cluster id is empty here: a node with none (one waiting to join) may open links.
  return createHmac("sha256", key)
    .update([role, parts.cluster, "", parts.openerId, parts.openerNonce, parts.openerAddress, parts.peerId, parts.peerNonce].join("\n"))
    .digest("hex");
}

const packr = new Packr({ useRecords: false, variableMapSize: true });

function frame(args: readonly (string | Uint8Array)[]): Uint8Array {
  return encodeCommand(args.map((arg) => (typeof arg === "string" ? Buffer.from(arg, "latin1") : arg)));
}

interface PeerLinkOpened {
  readonly socket: RawSocket;
  readonly nodeId: string;
  readonly hello: Uint8Array;
  readonly auth: Uint8Array;
  readonly peerNonce: string;
}

/** Opens a connection and completes the handshake as `openerId` with `key`; returns the link and what was sent. */
async function openPeerLink(port: number, openerId: string, key = secret): Promise<PeerLinkOpened & { readonly reply: RespValue | undefined }> {
  const socket = await RawSocket.open(port);
  const openerNonce = randomBytes(16).toString("hex");
  const openerAddress = "127.0.0.1:1";
  const hello = frame(["RAFTHELLO", "2", clusterName, "", openerId, openerNonce, openerAddress]);
  socket.send(hello);
  const [helloReply] = await socket.expectReplies(1, "RAFTHELLO");
  const answer = helloReply === undefined ? null : plain(helloReply);
  if (!Array.isArray(answer) || answer.length !== 3) throw new Error(`RAFTHELLO answered ${JSON.stringify(answer)}`);
  const nodeId = String(answer[0]);
  const peerNonce = String(answer[1]);
  // The node proves the secret too; check it, as a real peer does.
  expect(String(answer[2])).toBe(handshakeProof("peer", secret, { cluster: clusterName, openerId, openerNonce, openerAddress, peerId: nodeId, peerNonce }));
  const auth = frame(["RAFTAUTH", handshakeProof("opener", key, { cluster: clusterName, openerId, openerNonce, openerAddress, peerId: nodeId, peerNonce })]);
  socket.send(auth);
  const replies = await socket.expectReplies(2, "RAFTAUTH");
  return { socket, nodeId, hello, auth, peerNonce, reply: replies[1] };
}

async function authenticatedLink(port: number, openerId: string): Promise<PeerLinkOpened> {
  const link = await openPeerLink(port, openerId);
  expect(link.reply === undefined ? null : plain(link.reply)).toBe("OK");
  return link;
}

function raftmsg(payload: Uint8Array): Uint8Array {
  return frame(["RAFTMSG", payload]);
}

async function raftStats(port: number): Promise<Map<string, string>> {
  const reply = await callPort(port, "RAFTSTATS");
  const stats = new Map<string, string>();
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) stats.set(String(reply[i]), String(reply[i + 1]));
  return stats;
}

async function infoField(clone: CloneProcess, field: string): Promise<number> {
  const info = await call(clone, "INFO");
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(typeof info === "string" ? info : "");
  if (match === null) throw new Error(`no ${field} in INFO`);
  return Number(match[1]);
}

/** The CLIENT LIST line of the connection named `name`, as a map of its fields. */
async function clientNamed(clone: CloneProcess, name: string): Promise<Map<string, string> | null> {
  const list = await call(clone, "CLIENT", "LIST");
  if (typeof list !== "string") return null;
  for (const line of list.split("\n")) {
    const fields = new Map(line.trim().split(" ").map((pair) => {
      const at = pair.indexOf("=");
      return [pair.slice(0, at), pair.slice(at + 1)] as [string, string];
    }));
    if (fields.get("name") === name) return fields;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// One node

const started: CloneProcess[] = [];
const measured: string[] = [];

function note(line: string): void {
  measured.push(line);
  console.log(line);
}

afterAll(async () => {
  await cleanupAll(started);
  console.log(`\nhostile live summary (${long ? "long" : "short"} mode, seed ${seed}):\n${measured.map((line) => `  ${line}`).join("\n")}`);
});

describe("one node under hostile clients", () => {
  let node: CloneProcess;
  let pid: number;
  let baseline = 0;
  let good: GoodClient;
  const endpoint: GoodEndpoint = { port: 0, ports: new Set(), nodes: [] };

  beforeAll(async () => {
    node = await CloneProcess.start({ name: "hostile-1", logLevel: "warning", extraArguments: ["-secret", secret, "-cluster", clusterName] });
    started.push(node);
    pid = node.pid ?? 0;
    endpoint.port = node.port;
    endpoint.ports.add(node.port);
    endpoint.nodes.push(node);
    good = new GoodClient(endpoint, caseRng(seed, 1));
    good.start();
    await good.served(200, "warm-up");
    baseline = rssMegabytes(pid);
    note(`node resting RSS after warm-up: ${baseline.toFixed(1)} MB`);
  });

  afterAll(async () => {
    await good?.stop();
  });

  /** The checks every attack ends with. */
  async function expectHealthy(what: string, sampler: { readonly start: number; stop: () => number }): Promise<void> {
    const peakRss = sampler.stop();
    expect(node.running).toBe(true);
    expect(await call(node, "PING")).toBe("PONG");
    expect(good.wrong).toEqual([]);
    expect(good.failures).toEqual([]);
    note(`${what}: RSS ${sampler.start.toFixed(1)} MB at the start, peak ${peakRss.toFixed(1)} MB (resting ${baseline.toFixed(1)} MB)`);
    expect(peakRss).toBeLessThanOrEqual(sampler.start + rssGrowthBoundMegabytes);
    expect(peakRss).toBeLessThanOrEqual(baseline + rssTotalBoundMegabytes);
  }

  test(`a fuzz storm: ${plan.stormWorkers} connections at a time for ${plan.stormSeconds} s of mutated traffic`, async () => {
    const sampler = sampleRss(pid);
    const stats = { connections: 0, bytes: 0, replies: 0, protocolErrors: 0, closedByServer: 0, invalid: [] as string[] };
    const deadline = Date.now() + plan.stormSeconds * 1000;
    const worker = async (id: number): Promise<void> => {
      const rng = caseRng(seed, 1000 + id);
      while (Date.now() < deadline) {
        const socket = await RawSocket.open(node.port, { read: rng.chance(0.85) });
        stats.connections++;
        const traffic = bytesOfLatin1(liveTraffic(rng, defaultReaderLimits));
        for (let at = 0; at < traffic.length && !socket.closed; ) {
          const size = 1 + rng.below(Math.min(traffic.length - at, rng.chance(0.5) ? 16 : 4096));
          socket.send(traffic.subarray(at, at + size));
          at += size;
          stats.bytes += size;
          if (rng.chance(0.2)) await Bun.sleep(rng.int(0, 10));
        }
        await socket.until(() => socket.closed, rng.int(10, 250));
        if (socket.invalid !== null) stats.invalid.push(`${socket.invalid} after ${JSON.stringify(Buffer.from(traffic).toString("latin1").slice(0, 200))}`);
        stats.replies += socket.replyCount;
        stats.protocolErrors += socket.replies.filter((reply) => reply.type === "error" && reply.value.startsWith("ERR Protocol error")).length;
        if (socket.closed) stats.closedByServer++;
        if (rng.chance(0.3)) socket.terminate();
        else socket.end();
      }
    };
    const workerErrors: string[] = [];
    const workers = Array.from({ length: plan.stormWorkers }, (_, id) => worker(id).catch((error) => void workerErrors.push(String(error))));
    // The good client is served while the storm lasts (the workers stop at the deadline).
    await good.served(100, "the fuzz storm");
    await Promise.all(workers);
    expect(workerErrors).toEqual([]);
    note(
      `fuzz storm: ${stats.connections} connections, ${(stats.bytes / megabyte).toFixed(1)} MB sent, ${stats.replies} replies (all valid RESP), ` +
        `${stats.protocolErrors} protocol errors answered, ${stats.closedByServer} connections closed by the node`,
    );
    expect(stats.invalid).toEqual([]);
    expect(stats.protocolErrors).toBeGreaterThan(0);
    await expectHealthy("fuzz storm", sampler);
  });

  test(`slow-loris: ${plan.lorisClients} clients sending a valid command one byte every ~100 ms, and a 512 MB declared bulk sent slowly`, async () => {
    const sampler = sampleRss(pid);
    const rng = caseRng(seed, 2);
    const lorises = await Promise.all(Array.from({ length: plan.lorisClients }, () => RawSocket.open(node.port)));
    const commands = lorises.map((_, i) => Buffer.from(encodeCommand(["SET", `loris:${i}`, `slow value ${i}`])));
    // The huge one declares exactly bulkBytesMax (accepted) and trickles 4 KB at a time.
    const huge = await RawSocket.open(node.port);
    huge.send("CLIENT SETNAME hugebulk\r\n");
    await huge.expectReplies(1, "CLIENT SETNAME");
    huge.send(`*3\r\n$3\r\nSET\r\n$10\r\nloris:huge\r\n$${defaultReaderLimits.bulkBytesMax}\r\n`);
    let hugeSent = 0;
    const longest = Math.max(...commands.map((command) => command.length));
    for (let at = 0; at < longest; at++) {
      commands.forEach((command, i) => {
        if (at < command.length) lorises[i]?.send(command.subarray(at, at + 1));
      });
      huge.send(Buffer.alloc(4096, 0x68));
      hugeSent += 4096;
      await Bun.sleep(80 + rng.below(40));
      if (at === Math.floor(longest / 2)) await good.served(50, "the slow-loris attack");
    }
    for (const [i, loris] of lorises.entries()) {
      const [reply] = await loris.expectReplies(1, `loris ${i}`);
      expect(reply === undefined ? null : plain(reply)).toBe("OK");
    }
    const client = await clientNamed(node, "hugebulk");
    const buffered = Number(client?.get("qbuf") ?? -1);
    note(`slow-loris: ${lorises.length} clients of ${longest} bytes each at one byte per ~100 ms; the 512 MB bulk had ${hugeSent} bytes sent, node buffered ${buffered}`);
    // The node holds what arrived (bytes sent, plus the header), not what was declared.
    expect(buffered).toBeGreaterThan(0);
    expect(buffered).toBeLessThanOrEqual(hugeSent + 64);
    huge.terminate();
    for (const loris of lorises) loris.end();
    for (let i = 0; i < lorises.length; i++) expect(await call(node, "GET", `loris:${i}`)).toBe(`slow value ${i}`);
    expect(await call(node, "GET", "loris:huge")).toBeNull();
    await expectHealthy("slow-loris", sampler);
  });

  test("a client that pipelines without reading is paused, its output bounded; others proceed; it gets every reply once it reads", async () => {
    const sampler = sampleRss(pid);
    const valueBytes = 64 * 1024;
    const value = "p".repeat(valueBytes);
    expect(await call(node, "SET", "pipe:big", value)).toBe("OK");
    const requests = 1000;
    let replies = 0;
    let wrongReplies = 0;
    const pipeliner = await RawSocket.open(node.port, {
      read: false,
      onReply: (reply) => {
        replies++;
        const ok = replies === 1 ? reply.type === "simple" && reply.value === "OK" : reply.type === "bulk" && reply.value !== null && reply.value.length === valueBytes && reply.value.every((byte) => byte === 0x70);
        if (!ok) wrongReplies++;
      },
    });
    pipeliner.send("CLIENT SETNAME pipeliner\r\n");
    pipeliner.send(Buffer.from(encodeCommand(["GET", "pipe:big"])).toString("latin1").repeat(requests));
    // Paused: the node stops producing replies past its 4 MB window, and waits.
    // Paused: replies it does not read pile up to the soft limit, and its requests wait unparsed.
    await eventually(
      "the pipeliner to be paused with replies held back",
      () => clientNamed(node, "pipeliner"),
      (client) => client !== null && Number(client.get("omem")) > outputSoftBytesMax && Number(client.get("qbuf")) > 0,
      30_000,
    );
    await good.served(100, "the pipelining client's pause");
    const client = await clientNamed(node, "pipeliner");
    const unsent = Number(client?.get("omem") ?? -1);
    const queued = Number(client?.get("oll") ?? -1);
    const held = Number(client?.get("qbuf") ?? -1);
    note(`pipeliner: ${requests} GETs of a 64 KB value (${((requests * valueBytes) / megabyte).toFixed(0)} MB of replies), paused with ${(unsent / megabyte).toFixed(2)} MB unsent, ${queued} replies queued, ${held} request bytes unparsed`);
    // Unsent output stays within the soft limit plus the one reply that crossed it.
    expect(unsent).toBeGreaterThan(0);
    expect(unsent).toBeLessThanOrEqual(outputSoftBytesMax + valueBytes + 1024);
    expect(held).toBeGreaterThan(0);
    expect(await infoField(node, "client_output_buffer_limit_disconnections")).toBe(0);
    // Now it reads: every reply arrives, in order, whole.
    pipeliner.resume();
    expect(await pipeliner.until(() => replies >= requests + 1 || pipeliner.closed, 60_000)).toBe(true);
    expect({ replies, wrongReplies, closed: pipeliner.closed, invalid: pipeliner.invalid }).toEqual({ replies: requests + 1, wrongReplies: 0, closed: false, invalid: null });
    pipeliner.end();
    await expectHealthy("pipeliner", sampler);
  });

  test(`${plan.idleConnections} idle connections${plan.idleConnections > clientsMax ? " (past clientsMax: the rest refused)" : ""}; others are served`, async () => {
    const sampler = sampleRss(pid);
    const before = await infoField(node, "connected_clients");
    const sockets: RawSocket[] = [];
    const started = performance.now();
    for (let at = 0; at < plan.idleConnections; at += 200) {
      const batch = Math.min(200, plan.idleConnections - at);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => RawSocket.open(node.port)))));
    }
    const connectSeconds = (performance.now() - started) / 1000;
    const overflow = before - 1 + plan.idleConnections - clientsMax;
    const refusal = (socket: RawSocket): boolean => socket.replies.some((reply) => reply.type === "error" && reply.value === "ERR max number of clients reached");
    if (overflow > 0) {
      // Full: the connections past clientsMax are answered and closed. Make room for INFO after.
      await eventually("the connections past clientsMax to be refused", () => sockets.filter(refusal).length, (count) => count >= overflow, 60_000);
      await good.served(100, "a node full of idle connections");
      for (const socket of sockets.filter((socket) => !refusal(socket)).slice(0, 50)) socket.end();
    } else {
      await eventually("the node to count the connections", () => infoField(node, "connected_clients"), (count) => count >= before - 1 + plan.idleConnections, 60_000);
      await good.served(100, "thousands of idle connections");
    }
    const during = rssMegabytes(pid);
    const refused = sockets.filter(refusal);
    const connected = await infoField(node, "connected_clients");
    note(`idle: ${sockets.length} connections opened in ${connectSeconds.toFixed(1)} s, node counts ${connected} clients, ${refused.length} refused with max clients, RSS ${during.toFixed(1)} MB (+${(during - baseline).toFixed(1)} MB)`);
    expect(connected).toBeLessThanOrEqual(clientsMax);
    if (overflow > 0) {
      expect(refused.length).toBeGreaterThanOrEqual(overflow);
      for (const socket of refused) expect(socket.closed).toBe(true);
    } else {
      expect(refused.length).toBe(0);
      expect(connected).toBeGreaterThanOrEqual(before + plan.idleConnections - 1);
    }
    for (const socket of sockets) socket.end();
    await eventually("the idle connections to be gone", () => infoField(node, "connected_clients"), (count) => count <= before, 60_000);
    await expectHealthy("idle connections", sampler);
  });

  test("oversized headers, a frame of 1,048,576 arguments and a giant inline line", async () => {
    const sampler = sampleRss(pid);
    const refusedWith = async (bytes: string | Uint8Array, error: string): Promise<void> => {
      const socket = await RawSocket.open(node.port);
      socket.send(bytes);
      const [reply] = await socket.expectReplies(1, error);
      expect(errorText(reply)).toBe(error);
      expect(await socket.waitClosed()).toBe(true);
    };
    await refusedWith(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${defaultReaderLimits.bulkBytesMax + 1}\r\n`, "ERR Protocol error: invalid bulk length");
    await refusedWith("*1\r\n$99999999999999999999\r\n", "ERR Protocol error: invalid bulk length");
    await refusedWith(`*${defaultReaderLimits.argumentsMax + 1}\r\n`, "ERR Protocol error: invalid multibulk length");
    await refusedWith("*9223372036854775808\r\n", "ERR Protocol error: invalid multibulk length");
    await refusedWith("x".repeat(defaultReaderLimits.inlineBytesMax + 1), "ERR Protocol error: too big inline request");
    await refusedWith(`ECHO ${"y".repeat(defaultReaderLimits.inlineBytesMax)}\r\n`, "ERR Protocol error: too big inline request");
    // Right at the limits, accepted: an inline line of inlineBytesMax bytes, and a frame of
    // argumentsMax arguments (EXISTS and 1,048,575 keys, 13.6 MB).
    const echo = await RawSocket.open(node.port);
    const word = "z".repeat(defaultReaderLimits.inlineBytesMax - "ECHO \r".length);
    echo.send(`ECHO ${word}\r\n`);
    const [echoed] = await echo.expectReplies(1, "ECHO at the inline limit");
    expect(echoed === undefined ? null : plain(echoed)).toBe(word);
    echo.end();
    const many = await RawSocket.open(node.port);
    const keys = defaultReaderLimits.argumentsMax - 1;
    const header = `*${keys + 1}\r\n$6\r\nEXISTS\r\n`;
    const piece = "$11\r\nnothing:key\r\n".repeat(4096);
    many.send(header);
    for (let sent = 0; sent < keys; sent += 4096) many.send(sent + 4096 <= keys ? piece : "$11\r\nnothing:key\r\n".repeat(keys - sent));
    const [counted] = await many.expectReplies(1, "EXISTS with 1,048,575 keys", 120_000);
    expect(counted === undefined ? null : plain(counted)).toBe(0);
    many.end();
    await good.served(20, "the oversized headers");
    await expectHealthy("oversized headers and argument counts", sampler);
  });

  describe("peer-protocol abuse from raw sockets", () => {
    test("RAFTMSG before the handshake is refused and delivers nothing; the connection stays a plain client", async () => {
      const socket = await RawSocket.open(node.port);
      socket.send(raftmsg(packr.pack([{ type: "heartbeat", from: "evil", to: "x", term: 99, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 }])));
      socket.send(frame(["RAFTSNAP", "t", "begin", "100", new Uint8Array(0)]));
      socket.send(frame(["PING"]));
      const replies = await socket.expectReplies(3, "RAFTMSG before the handshake");
      expect(replies.map(plain)).toEqual([
        { error: "NOAUTH Raft traffic is accepted only after the peer handshake" },
        { error: "NOAUTH Raft traffic is accepted only after the peer handshake" },
        "PONG",
      ]);
      socket.end();
      expect((await raftStats(node.port)).get("state")).toBe("Leader");
    });

    test("a wrong cluster, a wrong version, RAFTAUTH first, a second RAFTHELLO and this node's own id are refused and closed", async () => {
      const nodeId = String(await call(node, "RAFTNODEID"));
      const cases: { sent: Uint8Array[]; error: RegExp; replies: number }[] = [
        { sent: [frame(["RAFTHELLO", "2", "another-cluster", "", "evil", "n", "127.0.0.1:1"])], error: /^ERR this node belongs to cluster 'hostile', not 'another-cluster'$/, replies: 1 },
        { sent: [frame(["RAFTHELLO", "1", clusterName, "", "evil", "n", "127.0.0.1:1"])], error: /^ERR peer protocol version 1 is not 2$/, replies: 1 },
        { sent: [frame(["RAFTHELLO", "2", clusterName, "0123456789abcdef", "evil", "n", "127.0.0.1:1"])], error: /^ERR this node belongs to another cluster \(id [0-9a-f]{12}, not 0123456789ab\): its log must not meet that cluster's$/, replies: 1 },
        { sent: [frame(["RAFTAUTH", "00".repeat(32)])], error: /^ERR RAFTAUTH before RAFTHELLO$/, replies: 1 },
        {
          sent: [frame(["RAFTHELLO", "2", clusterName, "", "evil", "n", "127.0.0.1:1"]), frame(["RAFTHELLO", "2", clusterName, "", "evil", "n", "127.0.0.1:1"])],
          error: /^ERR peer handshake already started$/,
          replies: 2,
        },
        { sent: [frame(["RAFTHELLO", "2", clusterName, "", nodeId, "n", "127.0.0.1:1"])], error: /^ERR a peer cannot claim this node's own id$/, replies: 1 },
      ];
      for (const { sent, error, replies } of cases) {
        const socket = await RawSocket.open(node.port);
        for (const bytes of sent) socket.send(bytes);
        const got = await socket.expectReplies(replies, String(error));
        expect(errorText(got[replies - 1])).toMatch(error);
        expect(await socket.waitClosed()).toBe(true);
      }
      // A RAFTHELLO with the wrong number of arguments is an ordinary arity error.
      const socket = await RawSocket.open(node.port);
      socket.send(frame(["RAFTHELLO", "1", clusterName]));
      socket.send(frame(["PING"]));
      expect((await socket.expectReplies(2, "short RAFTHELLO")).map(plain)).toEqual([{ error: "ERR wrong number of arguments for 'rafthello' command" }, "PONG"]);
      socket.end();
    });

    test("a wrong HMAC proof fails; a recorded valid handshake replayed on a new connection fails (the node's nonce differs)", async () => {
      const wrong = await openPeerLink(node.port, "evil", "not-the-secret");
      expect(errorText(wrong.reply)).toBe("ERR peer authentication failed");
      expect(await wrong.socket.waitClosed()).toBe(true);
      // Record a valid handshake's bytes, then replay them verbatim on a new connection.
      const recorded = await authenticatedLink(node.port, "evil-recorded");
      const replay = await RawSocket.open(node.port);
      replay.send(recorded.hello);
      replay.send(recorded.auth);
      const replies = await replay.expectReplies(2, "replayed handshake");
      const replayedHello = plain(replies[0] as RespValue);
      expect(Array.isArray(replayedHello) && replayedHello[1] !== recorded.peerNonce).toBe(true);
      expect(errorText(replies[1])).toBe("ERR peer authentication failed");
      expect(await replay.waitClosed()).toBe(true);
      // And the replayed link cannot deliver: a RAFTMSG on it would be refused (it is closed).
      recorded.socket.end();
    });

    test("garbage on an authenticated link: truncated, corrupted, wrongly typed, oversized; each closes that link only", async () => {
      const nodeId = String(await call(node, "RAFTNODEID"));
      const termBefore = Number((await raftStats(node.port)).get("term"));
      const heartbeat = { type: "heartbeat", from: "evil", to: nodeId, term: termBefore, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 };
      const valid = packr.pack([heartbeat]);
      const rng = caseRng(seed, 4);
      const payloads: { name: string; bytes: Uint8Array }[] = [];
      for (const cut of [1, 2, 5, Math.floor(valid.length / 2), valid.length - 1]) payloads.push({ name: `truncated at ${cut}`, bytes: valid.subarray(0, cut) });
      for (let i = 0; i < 6; i++) {
        const bytes = valid.slice();
        for (let k = 0; k < 3; k++) bytes[rng.below(bytes.length)] = rng.below(256);
        payloads.push({ name: `corrupted ${i}`, bytes });
      }
      payloads.push(
        { name: "empty", bytes: new Uint8Array(0) },
        { name: "not msgpack", bytes: Uint8Array.of(0xc1, 0xff, 0x00) },
        { name: "a map, not a list", bytes: packr.pack({ a: 1 }) },
        { name: "term as a string", bytes: packr.pack([{ ...heartbeat, term: "1" }]) },
        { name: "negative term", bytes: packr.pack([{ ...heartbeat, term: -1 }]) },
        { name: "fractional term", bytes: packr.pack([{ ...heartbeat, term: 1.5 }]) },
        { name: "term 2^53 - 1", bytes: packr.pack([{ ...heartbeat, term: Number.MAX_SAFE_INTEGER }]) },
        { name: "term past 2^52", bytes: packr.pack([{ ...heartbeat, term: 2 ** 52 + 1 }]) },
        { name: "commit 2^53 - 1", bytes: packr.pack([{ ...heartbeat, commit: Number.MAX_SAFE_INTEGER }]) },
        { name: "unknown type", bytes: packr.pack([{ ...heartbeat, type: "takeover" }]) },
        { name: "entries not a list", bytes: packr.pack([{ type: "append", from: "evil", to: nodeId, term: termBefore, prevIndex: 0, prevTerm: 0, entries: 7, commit: 0 }]) },
        { name: "entry data not binary", bytes: packr.pack([{ type: "append", from: "evil", to: nodeId, term: termBefore, prevIndex: 0, prevTerm: 0, entries: [{ term: 1, index: 1, type: "normal", data: "text" }], commit: 0 }]) },
        { name: "100,001 messages", bytes: Uint8Array.from([0xdd, 0x00, 0x01, 0x86, 0xa1, ...new Array<number>(100_001).fill(0xc0)]) },
        { name: "array32 declaring 4 billion items", bytes: Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff) },
        { name: "str32 declaring 4 GB", bytes: Uint8Array.of(0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x41) },
        { name: "bin32 declaring 2 GB", bytes: Uint8Array.of(0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x41) },
        { name: "map32 declaring 4 billion pairs", bytes: Uint8Array.of(0x91, 0xdf, 0xff, 0xff, 0xff, 0xff) },
        { name: "100,000 nested arrays", bytes: Uint8Array.from([...new Array<number>(100_000).fill(0x91), 0xc0]) },
        { name: "an extension type", bytes: Uint8Array.of(0x91, 0xd4, 0x05, 0x00) },
        { name: "random bytes", bytes: randomBytes(256) },
      );
      const answers = new Map<string, string>();
      for (const { name, bytes } of payloads) {
        const link = await authenticatedLink(node.port, "evil");
        link.socket.send(raftmsg(bytes));
        const replies = await link.socket.expectReplies(3, name);
        const error = errorText(replies[2]);
        answers.set(name, error);
        expect({ name, bad: error.startsWith("ERR bad Raft frame: ") }).toEqual({ name, bad: true });
        expect({ name, closed: await link.socket.waitClosed() }).toEqual({ name, closed: true });
      }
      note(`peer garbage: ${payloads.length} payloads, each answered "ERR bad Raft frame: ..." and closed (e.g. ${JSON.stringify(answers.get("term 2^53 - 1"))})`);
      // Oversized at the RESP level: a RAFTMSG bulk past what an authenticated link may send (wider
      // than a client's, see peerReaderLimits), a RAFTSNAP past 2 GB.
      const link = await authenticatedLink(node.port, "evil");
      link.socket.send(`*2\r\n$7\r\nRAFTMSG\r\n$${peerReaderLimits(defaultReaderLimits).bulkBytesMax + 1}\r\n`);
      const replies = await link.socket.expectReplies(3, "oversized RAFTMSG");
      expect(errorText(replies[2])).toBe("ERR Protocol error: invalid bulk length");
      const snap = await authenticatedLink(node.port, "evil");
      snap.socket.send(frame(["RAFTSNAP", "t", "begin", String(2 ** 31), packr.pack([])]));
      const snapReplies = await snap.socket.expectReplies(3, "oversized RAFTSNAP");
      expect(errorText(snapReplies[2])).toBe(`ERR bad snapshot stream: a snapshot of ${2 ** 31} bytes is larger than ${2 ** 31 - 1}`);
      const stats = await raftStats(node.port);
      expect(stats.get("state")).toBe("Leader");
      expect(Number(stats.get("term"))).toBe(termBefore);
      await good.served(20, "peer garbage");
    });

    test("terms from the past are ignored; a term from the future deposes the node only until it elects itself again; no write is lost", async () => {
      const nodeId = String(await call(node, "RAFTNODEID"));
      const termBefore = Number((await raftStats(node.port)).get("term"));
      const link = await authenticatedLink(node.port, "evil-terms");
      // The past: stale heartbeats, votes and appends.
      link.socket.send(raftmsg(packr.pack([
        { type: "heartbeat", from: "evil-terms", to: nodeId, term: 0, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 },
        { type: "vote", from: "evil-terms", to: nodeId, term: Math.max(0, termBefore - 1), pre: false, lastIndex: 1e9, lastTerm: 1e9, transfer: false },
        { type: "append", from: "evil-terms", to: nodeId, term: 0, prevIndex: 0, prevTerm: 0, entries: [{ term: 1, index: 1, type: "normal", data: Buffer.from(encodeCommand(["SET", "good:forged", "x"])) }], commit: 1 },
      ])));
      link.socket.send(frame(["PING"]));
      // RAFTMSG is never answered: the PING's reply comes right after the handshake's two.
      const afterPast = await link.socket.expectReplies(3, "stale messages");
      expect(plain(afterPast[2] as RespValue)).toBe("PONG");
      let stats = await raftStats(node.port);
      expect({ state: stats.get("state"), term: Number(stats.get("term")) }).toEqual({ state: "Leader", term: termBefore });
      await good.served(20, "stale peer messages");
      // The future: a heartbeat of a far later term (still below the 2^52 the codec accepts).
      const future = 1e12;
      link.socket.send(raftmsg(packr.pack([{ type: "heartbeat", from: "evil-terms", to: nodeId, term: future, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 }])));
      stats = await eventually("the node to lead again, past the forged term", () => raftStats(node.port), (s) => s.get("state") === "Leader" && Number(s.get("term")) > future, 30_000);
      note(`future term: node went from term ${termBefore} to ${stats.get("term")} and leads again; the good client's refusals so far: ${JSON.stringify([...good.refusals])}`);
      link.socket.end();
      await good.served(50, "after the forged term");
      expect(await call(node, "GET", "good:forged")).toBeNull();
      expect(good.wrong).toEqual([]);
    });

    test("a heartbeat whose commit lies past the node's log reaches the core's assertion (reported); the node goes on serving", async () => {
      const nodeId = String(await call(node, "RAFTNODEID"));
      const stats = await raftStats(node.port);
      const term = Number(stats.get("term"));
      const lastIndex = Number(stats.get("last_log_index"));
      const link = await authenticatedLink(node.port, "evil-commit");
      link.socket.send(raftmsg(packr.pack([{ type: "heartbeat", from: "evil-commit", to: nodeId, term: term + 1, commit: lastIndex + 1_000_000, round: 1, sentIndex: 0, sentTerm: 0 }])));
      const replies = await link.socket.expectReplies(3, "commit past the log");
      const answer = errorText(replies[2]);
      note(`commit past the log: the peer was answered ${JSON.stringify(answer)}`);
      link.socket.end();
      await eventually("the node to lead again", () => raftStats(node.port), (s) => s.get("state") === "Leader", 30_000);
      await good.served(50, "after the forged commit");
      expect(good.wrong).toEqual([]);
    });

    test("after all of it: alive, bounded, and every acknowledged write readable", async () => {
      const sampler = sampleRss(pid);
      const rss = sampler.start;
      const count = await expectAcknowledgedReadable(node.port, good);
      note(`one node: ${count} acknowledged writes of the good client all readable; RSS at the end ${rss.toFixed(1)} MB; refusals seen by the good client ${JSON.stringify([...good.refusals])}`);
      await expectHealthy("end of the one-node run", sampler);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A connect/disconnect flood, on a node of its own: connections reset while the node accepts
// them have crashed the whole process (see docs/hostile.md), which would take every later test
// down with it.

describe("one node under a connect/disconnect flood", () => {
  let node: CloneProcess;
  let pid: number;
  let baseline = 0;
  let good: GoodClient;
  const endpoint: GoodEndpoint = { port: 0, ports: new Set(), nodes: [] };

  beforeAll(async () => {
    node = await CloneProcess.start({ name: "hostile-flood", logLevel: "warning" });
    started.push(node);
    pid = node.pid ?? 0;
    endpoint.port = node.port;
    endpoint.ports.add(node.port);
    endpoint.nodes.push(node);
    good = new GoodClient(endpoint, caseRng(seed, 6));
    good.start();
    await good.served(100, "warm-up");
    baseline = rssMegabytes(pid);
  });

  afterAll(async () => {
    await good?.stop();
  });

  test(`a connect/disconnect flood: ${plan.floodCycles} connections opened and dropped in many ways`, async () => {
    const sampler = sampleRss(pid);
    const before = await infoField(node, "connected_clients");
    const rng = caseRng(seed, 3);
    let done = 0;
    const ways = new Map<string, number>();
    const cycle = async (): Promise<void> => {
      const way = rng.pick(["close at once", "reset at once", "half a command, then close", "a command, then reset unread", "a pipeline, then close", "garbage, then reset"]);
      ways.set(way, (ways.get(way) ?? 0) + 1);
      const socket = await RawSocket.open(node.port);
      switch (way) {
        case "close at once":
          socket.end();
          break;
        case "reset at once":
          socket.terminate();
          break;
        case "half a command, then close":
          socket.send("*3\r\n$3\r\nSET\r\n$4\r\nfz:h");
          socket.end();
          break;
        case "a command, then reset unread":
          socket.send(encodeCommand(["SET", "fz:flood", "x"]));
          socket.terminate();
          break;
        case "a pipeline, then close":
          socket.send(Buffer.from(encodeCommand(["GET", "fz:flood"])).toString("latin1").repeat(50));
          socket.end();
          break;
        default:
          socket.send(randomBytes(rng.int(1, 8192)));
          socket.terminate();
          break;
      }
      done++;
    };
    let begun = 0;
    const runner = async (): Promise<void> => {
      while (begun < plan.floodCycles) {
        begun++;
        await cycle();
      }
    };
    const floodErrors: string[] = [];
    const flood = Promise.all(Array.from({ length: 64 }, () => runner().catch((error) => void floodErrors.push(String(error)))));
    await good.served(100, "the connect/disconnect flood");
    await flood;
    expect(floodErrors).toEqual([]);
    await eventually("the flood's connections to be gone", () => infoField(node, "connected_clients"), (count) => count <= before, 60_000);
    note(`flood: ${done} connections (${[...ways].map(([way, count]) => `${way} ${count}`).join(", ")})`);
    const peak = sampler.stop();
    expect(node.running).toBe(true);
    expect(await call(node, "PING")).toBe("PONG");
    expect(good.wrong).toEqual([]);
    expect(good.failures).toEqual([]);
    note(`connect/disconnect flood: peak RSS ${peak.toFixed(1)} MB (resting ${baseline.toFixed(1)} MB)`);
    expect(peak).toBeLessThanOrEqual(sampler.start + rssGrowthBoundMegabytes);
    expect(await expectAcknowledgedReadable(node.port, good)).toBeGreaterThan(0);
  });

});

// ---------------------------------------------------------------------------------------------
// A 3-node cluster

describe("a 3-node cluster under hostile clients and peers", () => {
  let nodes: CloneProcess[] = [];
  let good: GoodClient;
  const endpoint: GoodEndpoint = { port: 0, ports: new Set(), nodes: [] };

  async function leader(): Promise<CloneProcess> {
    return (await eventually(
      "a leader",
      async () => {
        for (const clone of nodes) if (clone.running && (await call(clone, "RAFTSTATE")) === "Leader") return clone;
        return null;
      },
      (found) => found !== null,
      30_000,
    )) as CloneProcess;
  }

  beforeAll(async () => {
    const extra = ["-secret", secret, "-cluster", clusterName];
    const first = await CloneProcess.start({ name: "cluster-1", logLevel: "warning", extraArguments: extra });
    started.push(first);
    nodes = [first];
    for (let i = 2; i <= 3; i++) {
      const clone = await CloneProcess.start({ name: `cluster-${i}`, logLevel: "warning", join: `:${first.port}`, extraArguments: extra });
      started.push(clone);
      nodes.push(clone);
    }
    await eventually("three voters", () => call(first, "RAFTPEERS"), (peers) => Array.isArray(peers) && peers.length === 6 && !peers.includes("Learner"), 60_000);
    for (const clone of nodes) endpoint.ports.add(clone.port);
    endpoint.nodes.push(...nodes);
    endpoint.port = (await leader()).port;
    good = new GoodClient(endpoint, caseRng(seed, 5));
    good.start();
    await good.served(100, "the cluster's warm-up");
  });

  afterAll(async () => {
    await good?.stop();
  });

  test(`a fuzz storm on every node for ${plan.clusterStormSeconds} s: replication goes on, no acknowledged write is lost`, async () => {
    const samplers = nodes.map((clone) => sampleRss(clone.pid ?? 0));
    const resting = nodes.map((clone) => rssMegabytes(clone.pid ?? 0));
    const deadline = Date.now() + plan.clusterStormSeconds * 1000;
    let connections = 0;
    const invalid: string[] = [];
    const worker = async (id: number): Promise<void> => {
      const rng = caseRng(seed, 2000 + id);
      const target = nodes[id % nodes.length] as CloneProcess;
      while (Date.now() < deadline) {
        const socket = await RawSocket.open(target.port, { read: rng.chance(0.85) });
        connections++;
        const traffic = bytesOfLatin1(liveTraffic(rng, defaultReaderLimits));
        for (let at = 0; at < traffic.length && !socket.closed; ) {
          const size = 1 + rng.below(Math.min(traffic.length - at, 2048));
          socket.send(traffic.subarray(at, at + size));
          at += size;
        }
        await socket.until(() => socket.closed, rng.int(10, 150));
        if (socket.invalid !== null) invalid.push(socket.invalid);
        socket.terminate();
      }
    };
    const workerErrors: string[] = [];
    const workers = Array.from({ length: 12 }, (_, id) => worker(id).catch((error) => void workerErrors.push(String(error))));
    await good.served(50, "the cluster fuzz storm");
    await Promise.all(workers);
    expect(workerErrors).toEqual([]);
    const peaks = samplers.map((sampler) => sampler.stop());
    expect(invalid).toEqual([]);
    for (const clone of nodes) expect(clone.running).toBe(true);
    peaks.forEach((peak, i) => {
      note(`cluster storm: node ${i + 1} peak RSS ${peak.toFixed(1)} MB (resting ${(resting[i] ?? 0).toFixed(1)} MB)`);
      expect(peak).toBeLessThanOrEqual((resting[i] ?? 0) + rssGrowthBoundMegabytes);
    });
    note(`cluster storm: ${connections} hostile connections spread over 3 nodes`);
    // Every node applies the same log.
    const current = await leader();
    const commit = Number((await raftStats(current.port)).get("commit_index"));
    for (const clone of nodes) await eventually("the node to apply the leader's log", () => raftStats(clone.port), (s) => Number(s.get("applied_index")) >= commit, 30_000);
    await expectAcknowledgedReadable(current.port, good);
  });

  test("a forged future term sent to a follower forces an election; a forged 2^53 - 1 term is refused; nothing acknowledged is lost", async () => {
    const before = await leader();
    const follower = nodes.find((clone) => clone !== before) as CloneProcess;
    const followerId = String(await call(follower, "RAFTNODEID"));
    const termBefore = Number((await raftStats(before.port)).get("term"));
    const refused = await authenticatedLink(follower.port, "evil-cluster");
    refused.socket.send(raftmsg(packr.pack([{ type: "heartbeat", from: "evil-cluster", to: followerId, term: Number.MAX_SAFE_INTEGER, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 }])));
    expect(errorText((await refused.socket.expectReplies(3, "term 2^53 - 1"))[2])).toBe("ERR bad Raft frame: term is not a natural number");
    const link = await authenticatedLink(follower.port, "evil-cluster");
    const future = 1e12;
    link.socket.send(raftmsg(packr.pack([{ type: "heartbeat", from: "evil-cluster", to: followerId, term: future, commit: 0, round: 1, sentIndex: 0, sentTerm: 0 }])));
    const after = await eventually(
      "a leader past the forged term",
      async () => {
        for (const clone of nodes) {
          const stats = await raftStats(clone.port);
          if (stats.get("state") === "Leader" && Number(stats.get("term")) > future) return clone;
        }
        return null;
      },
      (found) => found !== null,
      30_000,
    );
    link.socket.end();
    note(`cluster future term: term ${termBefore} -> ${(await raftStats((after as CloneProcess).port)).get("term")}; refusals seen by the good client ${JSON.stringify([...good.refusals])}`);
    await good.served(50, "after the cluster's forged term");
    const current = await leader();
    const count = await expectAcknowledgedReadable(current.port, good);
    expect(good.wrong).toEqual([]);
    expect(good.failures).toEqual([]);
    for (const clone of nodes) expect(clone.running).toBe(true);
    note(`3-node cluster: ${count} acknowledged writes all readable on the leader`);
  });
});
