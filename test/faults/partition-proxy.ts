/**
 * Network partitions for the fault harness, without network namespaces: one fault-injecting TCP
 * proxy per node, on 127.0.0.1, in front of the node's real port. Each node advertises its
 * proxy's address (`-advertise 127.0.0.1:<proxy port>`), so every peer link to it goes through
 * the proxy.
 *
 * Peer links are one-way: node A opens its own connection to B's advertised address, and A's
 * messages to B (and the handshake replies) travel only on it. The first command on such a
 * connection is `RAFTHELLO <version> <cluster> <clusterId> <openerId> <openerNonce> <openerAddress>`, and the
 * opener's address is its proxy's address, which names the node. So a proxy reads the first RESP
 * command of every inbound connection: RAFTHELLO from a known address makes it the link from that
 * node (into this proxy's node); anything else is a client (the test's clients and probes, and
 * node-to-node requests that are not peer links — `RAFTJOIN`, `RAFTNODEID`, `-redirect proxy`
 * forwarding), which always passes, like Jepsen's control node.
 *
 * A partition table says which directed links `from → to` are cut. A cut link black-holes: the
 * connections from `from` into `to`'s proxy stop forwarding in both directions — bytes are read
 * and dropped, the sockets stay open, so the sender sees silence and timeouts, not a reset, as on
 * a network that drops packets — and new connections from `from` are accepted and black-holed as
 * soon as their RAFTHELLO is read. Healing destroys the black-holed connections (their streams
 * lost bytes mid-frame, so they cannot be resumed) and the nodes reconnect by themselves.
 *
 * A bandwidth limit (`PartitionNetwork.limitPeerBandwidth`) slows the peer links (the direction
 * into the node): after each chunk it forwards, the proxy stops reading that link for as long as
 * the chunk takes at the rate, so the sender sees a slow reader, as behind a slow network.
 *
 * Bounded: the first command is read up to `firstCommandBytesMax` (past it the connection is a
 * client), bytes waiting for the upstream connection to open up to `pendingBytesMax` (past it the
 * inbound socket is paused), forwarding uses backpressure (the reading side pauses until the
 * writing side drains), and a proxy holds at most `connectionsMax` connections.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** The longest first command a proxy waits for before it calls the connection a client's. */
const firstCommandBytesMax = 64 * 1024;
/** Bytes buffered while the upstream connection opens; past it the inbound socket pauses. */
const pendingBytesMax = 1024 * 1024;
/** Connections one proxy holds at once; more are refused (closed at once). */
const connectionsMax = 1024;

/** A directed link: messages from node `[0]` to node `[1]` (0-based indexes). */
export type Link = readonly [number, number];

/** Counters of one proxy, for notes and tests. */
export interface ProxyStats {
  /** Connections classified as peer links (RAFTHELLO from a known node). */
  peerConnections: number;
  /** Connections classified as clients. */
  clientConnections: number;
  /** Peer links that were black-holed (at the cut, or on arrival during one). */
  blackholedConnections: number;
  /** Bytes read and dropped on black-holed connections (both directions). */
  droppedBytes: number;
  /** Black-holed connections destroyed by a heal. */
  resetConnections: number;
  /** Connections refused because the proxy held `connectionsMax` already. */
  refusedConnections: number;
  /** Bytes forwarded on peer links into the node. */
  peerBytesIn: number;
}

type ConnectionState = "classifying" | "forwarding" | "blackholed" | "closed";

/** One inbound connection and, once it forwards, its upstream connection to the node. */
class ProxiedConnection {
  state: ConnectionState = "classifying";
  /** The node that opened it (a peer link), or null for a client. */
  from: number | null = null;
  upstream: Socket | null = null;
  upstreamOpen = false;
  /** Bytes read before the upstream connection opened (the first command among them). */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** Which side is paused waiting for the other to drain. */
  readonly waiting = new Set<"inbound" | "upstream">();
  /** Under a bandwidth limit: when the bytes forwarded so far have taken their time. */
  throttledUntil = 0;
  /** Under a bandwidth limit: the timer that resumes reading the inbound side. */
  throttleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly inbound: Socket) {}
}

/**
 * Parses the first RESP command in `bytes`: its arguments (latin1), "incomplete" when more bytes
 * are needed, or "other" when it is not a RESP multibulk command (an inline command, garbage).
 */
export function firstCommand(bytes: Buffer): string[] | "incomplete" | "other" {
  if (bytes.length === 0) return "incomplete";
  if (bytes[0] !== 0x2a /* '*' */) return "other";
  let at = 0;
  const line = (): string | null => {
    const end = bytes.indexOf("\r\n", at, "latin1");
    if (end < 0) return null;
    const text = bytes.toString("latin1", at, end);
    at = end + 2;
    return text;
  };
  const header = line();
  if (header === null) return "incomplete";
  const count = Number(header.slice(1));
  if (!Number.isSafeInteger(count) || count < 1 || count > 64) return "other";
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const lengthLine = line();
    if (lengthLine === null) return "incomplete";
    if (!lengthLine.startsWith("$")) return "other";
    const length = Number(lengthLine.slice(1));
    if (!Number.isSafeInteger(length) || length < 0 || length > firstCommandBytesMax) return "other";
    if (bytes.length < at + length + 2) return "incomplete";
    args.push(bytes.toString("latin1", at, at + length));
    at += length + 2;
  }
  return args;
}

function emptyStats(): ProxyStats {
  return { peerConnections: 0, clientConnections: 0, blackholedConnections: 0, droppedBytes: 0, resetConnections: 0, refusedConnections: 0, peerBytesIn: 0 };
}

/** The proxy in front of one node (`index`). */
export class PartitionProxy {
  readonly stats: ProxyStats = emptyStats();
  private readonly connections = new Set<ProxiedConnection>();
  /** The node's real port; null until it is known (connections arriving before are refused). */
  targetPort: number | null = null;
  private closed = false;

  private constructor(
    readonly index: number,
    private readonly network: PartitionNetwork,
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on a free 127.0.0.1 port. */
  static start(index: number, network: PartitionNetwork): Promise<PartitionProxy> {
    return new Promise((resolveProxy, reject) => {
      let proxy: PartitionProxy | undefined;
      const server = createServer((socket) => {
        if (proxy === undefined) socket.destroy();
        else proxy.accept(socket);
      });
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (address === null || typeof address === "string") {
          server.close();
          reject(new Error("partition proxy: no port"));
          return;
        }
        proxy = new PartitionProxy(index, network, server, address.port);
        resolveProxy(proxy);
      });
    });
  }

  /** `127.0.0.1:<port>`: what the node advertises. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** How many connections are open now, by state (for tests). */
  openConnections(): Record<Exclude<ConnectionState, "closed">, number> {
    const counts = { classifying: 0, forwarding: 0, blackholed: 0 };
    for (const connection of this.connections) if (connection.state !== "closed") counts[connection.state]++;
    return counts;
  }

  private accept(inbound: Socket): void {
    if (this.closed || this.targetPort === null || this.connections.size >= connectionsMax) {
      this.stats.refusedConnections++;
      inbound.destroy();
      return;
    }
    inbound.setNoDelay(true);
    const connection = new ProxiedConnection(inbound);
    this.connections.add(connection);
    inbound.on("data", (chunk: Buffer) => this.fromInbound(connection, chunk));
    inbound.on("end", () => {
      // Half-close travels only while the link forwards; a black hole swallows the FIN too.
      if (connection.state === "forwarding") connection.upstream?.end();
    });
    inbound.on("error", () => this.sideClosed(connection, "inbound"));
    inbound.on("close", () => this.sideClosed(connection, "inbound"));
  }

  private fromInbound(connection: ProxiedConnection, chunk: Buffer): void {
    switch (connection.state) {
      case "classifying": {
        this.buffer(connection, chunk);
        const bytes = Buffer.concat(connection.pending);
        connection.pending = [bytes];
        const command = firstCommand(bytes);
        if (command === "incomplete" && bytes.length < firstCommandBytesMax) return;
        this.classify(connection, command);
        return;
      }
      case "forwarding": {
        const upstream = connection.upstream;
        if (upstream === null || !connection.upstreamOpen) {
          this.buffer(connection, chunk);
          return;
        }
        if (!upstream.write(chunk)) this.waitDrain(connection, "inbound");
        if (connection.from !== null) this.stats.peerBytesIn += chunk.length;
        const rate = connection.from === null ? null : this.network.peerBytesPerSecond;
        if (rate !== null) this.throttle(connection, chunk.length, rate);
        return;
      }
      case "blackholed":
        this.stats.droppedBytes += chunk.length;
        return;
      case "closed":
        return;
    }
  }

  private fromUpstream(connection: ProxiedConnection, chunk: Buffer): void {
    if (connection.state === "blackholed") {
      this.stats.droppedBytes += chunk.length;
      return;
    }
    if (connection.state !== "forwarding") return;
    if (!connection.inbound.write(chunk)) this.waitDrain(connection, "upstream");
  }

  /** Backpressure: pause the `reader` side until the other side drains (or the link is black-holed). */
  private waitDrain(connection: ProxiedConnection, reader: "inbound" | "upstream"): void {
    const readerSocket = reader === "inbound" ? connection.inbound : connection.upstream;
    const writerSocket = reader === "inbound" ? connection.upstream : connection.inbound;
    if (readerSocket === null || writerSocket === null || connection.waiting.has(reader)) return;
    connection.waiting.add(reader);
    readerSocket.pause();
    writerSocket.once("drain", () => {
      connection.waiting.delete(reader);
      if (connection.state === "forwarding" && (reader === "upstream" || connection.throttleTimer === null)) readerSocket.resume();
    });
  }

  /** Under a bandwidth limit: stops reading the inbound side until `bytes` more took their time. */
  private throttle(connection: ProxiedConnection, bytes: number, bytesPerSecond: number): void {
    const now = performance.now();
    connection.throttledUntil = Math.max(now, connection.throttledUntil) + (bytes / bytesPerSecond) * 1000;
    if (connection.throttleTimer !== null) return;
    connection.inbound.pause();
    const wake = (): void => {
      const left = connection.throttledUntil - performance.now();
      if (left > 0) {
        connection.throttleTimer = setTimeout(wake, left);
        return;
      }
      connection.throttleTimer = null;
      if (connection.state === "forwarding" && !connection.waiting.has("inbound")) connection.inbound.resume();
    };
    connection.throttleTimer = setTimeout(wake, connection.throttledUntil - now);
  }

  private buffer(connection: ProxiedConnection, chunk: Buffer): void {
    connection.pending.push(chunk);
    connection.pendingBytes += chunk.length;
    if (connection.pendingBytes > pendingBytesMax) connection.inbound.pause();
  }

  private classify(connection: ProxiedConnection, command: string[] | "incomplete" | "other"): void {
    const isHello = Array.isArray(command) && command.length === 7 && command[0]?.toUpperCase() === "RAFTHELLO";
    connection.from = isHello ? this.network.nodeOfAddress(command[6] ?? "") : null;
    if (connection.from === null) this.stats.clientConnections++;
    else this.stats.peerConnections++;
    if (connection.from !== null && this.network.isCut(connection.from, this.index)) {
      this.blackhole(connection);
      return;
    }
    connection.state = "forwarding";
    this.openUpstream(connection);
  }

  private openUpstream(connection: ProxiedConnection): void {
    const port = this.targetPort;
    if (port === null) {
      this.destroy(connection);
      return;
    }
    const upstream = createConnection({ port, host: "127.0.0.1" });
    connection.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("connect", () => {
      connection.upstreamOpen = true;
      if (connection.state !== "forwarding") return;
      const pending = connection.pending;
      connection.pending = [];
      connection.pendingBytes = 0;
      for (const chunk of pending) upstream.write(chunk);
      connection.inbound.resume();
    });
    upstream.on("data", (chunk: Buffer) => this.fromUpstream(connection, chunk));
    upstream.on("end", () => {
      if (connection.state === "forwarding") connection.inbound.end();
    });
    upstream.on("error", () => this.sideClosed(connection, "upstream"));
    upstream.on("close", () => this.sideClosed(connection, "upstream"));
  }

  /**
   * One side closed. While forwarding, the other side is closed too (a crashed node resets its
   * peers' connections). While black-holed, nothing travels: the other side stays open until a
   * heal, as it would behind a network that drops everything.
   */
  private sideClosed(connection: ProxiedConnection, side: "inbound" | "upstream"): void {
    if (connection.state === "closed") return;
    if (connection.state === "blackholed") {
      const other = side === "inbound" ? connection.upstream : connection.inbound;
      if (side === "upstream") connection.upstream = null;
      if (other === null || other.destroyed) this.destroy(connection);
      return;
    }
    this.destroy(connection);
  }

  /** Stops forwarding on `connection`: every byte from either side is dropped from now on. */
  private blackhole(connection: ProxiedConnection): void {
    if (connection.state === "blackholed" || connection.state === "closed") return;
    connection.state = "blackholed";
    this.stats.blackholedConnections++;
    this.stats.droppedBytes += connection.pendingBytes;
    connection.pending = [];
    connection.pendingBytes = 0;
    // Keep reading both sides (and dropping), so that neither sender sees backpressure.
    connection.inbound.resume();
    connection.upstream?.resume();
  }

  private destroy(connection: ProxiedConnection): void {
    if (connection.state === "closed") return;
    connection.state = "closed";
    if (connection.throttleTimer !== null) clearTimeout(connection.throttleTimer);
    connection.throttleTimer = null;
    connection.pending = [];
    connection.pendingBytes = 0;
    connection.inbound.destroy();
    connection.upstream?.destroy();
    this.connections.delete(connection);
  }

  /** Black-holes the peer links whose direction is cut now. */
  applyCuts(): void {
    for (const connection of this.connections) {
      if (connection.from !== null && connection.state === "forwarding" && this.network.isCut(connection.from, this.index)) {
        this.blackhole(connection);
      }
    }
  }

  /** Destroys the black-holed connections whose direction is no longer cut; returns how many. */
  healCuts(): number {
    let reset = 0;
    for (const connection of [...this.connections]) {
      if (connection.state !== "blackholed") continue;
      if (connection.from !== null && this.network.isCut(connection.from, this.index)) continue;
      this.destroy(connection);
      reset++;
    }
    this.stats.resetConnections += reset;
    return reset;
  }

  /** Closes the listener and every connection. */
  close(): Promise<void> {
    this.closed = true;
    for (const connection of [...this.connections]) this.destroy(connection);
    return new Promise((resolveClose) => this.server.close(() => resolveClose()));
  }
}

/** The proxies of a cluster and its partition table. */
export class PartitionNetwork {
  readonly proxies: PartitionProxy[] = [];
  /** Cut directed links, as "from>to". */
  private readonly cuts = new Set<string>();
  /** The bandwidth of each peer link (into its node), or null for no limit. */
  peerBytesPerSecond: number | null = null;
  private closed = false;

  private constructor() {}

  /** Starts one proxy per node (their target ports are set with `setTarget`). */
  static async start(nodes: number): Promise<PartitionNetwork> {
    const network = new PartitionNetwork();
    try {
      for (let index = 0; index < nodes; index++) network.proxies.push(await PartitionProxy.start(index, network));
    } catch (error) {
      await network.close();
      throw error;
    }
    return network;
  }

  get size(): number {
    return this.proxies.length;
  }

  proxy(index: number): PartitionProxy {
    const proxy = this.proxies[index];
    if (proxy === undefined) throw new Error(`no partition proxy for node ${index}`);
    return proxy;
  }

  /**
   * Replaces node `index`'s proxy with a new one on a new port (a brand-new node in that slot
   * gets a new address); the old proxy and its connections are closed. Cuts are by index, so a
   * cut involving the slot applies to the new proxy too.
   */
  async renew(index: number): Promise<PartitionProxy> {
    const old = this.proxy(index);
    const fresh = await PartitionProxy.start(index, this);
    this.proxies[index] = fresh;
    await old.close();
    return fresh;
  }

  /** Points node `index`'s proxy at the node's real port. */
  setTarget(index: number, port: number): void {
    this.proxy(index).targetPort = port;
  }

  /** The node whose proxy is at `address` (`host:port`, as a node advertises it), or null. */
  nodeOfAddress(address: string): number | null {
    const colon = address.lastIndexOf(":");
    const port = Number(address.slice(colon + 1));
    const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "") return null;
    const index = this.proxies.findIndex((proxy) => proxy.port === port);
    return index < 0 ? null : index;
  }

  /** The node whose proxy listens on `port`, or null. */
  nodeOfProxyPort(port: number): number | null {
    const index = this.proxies.findIndex((proxy) => proxy.port === port);
    return index < 0 ? null : index;
  }

  isCut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** The links cut now. */
  cutLinks(): Link[] {
    return [...this.cuts].map((text) => text.split(">").map(Number) as unknown as Link);
  }

  /** Cuts the given directed links (in addition to those cut already). */
  cut(links: readonly Link[]): void {
    if (this.closed) return;
    for (const [from, to] of links) {
      if (from === to || this.proxies[from] === undefined || this.proxies[to] === undefined) {
        throw new Error(`cannot cut ${from} -> ${to} among ${this.size} nodes`);
      }
      this.cuts.add(`${from}>${to}`);
    }
    for (const proxy of this.proxies) proxy.applyCuts();
  }

  /** Limits the bandwidth of every peer link (each direction between two nodes) from now on; null lifts it. */
  limitPeerBandwidth(bytesPerSecond: number | null): void {
    this.peerBytesPerSecond = bytesPerSecond;
  }

  /** Heals every cut; returns how many black-holed connections were reset. */
  heal(): number {
    this.cuts.clear();
    return this.proxies.reduce((sum, proxy) => sum + proxy.healCuts(), 0);
  }

  /** Total counters over every proxy. */
  totals(): ProxyStats {
    const total = emptyStats();
    for (const proxy of this.proxies) {
      for (const key of Object.keys(total) as (keyof ProxyStats)[]) total[key] += proxy.stats[key];
    }
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cuts.clear();
    await Promise.allSettled(this.proxies.map((proxy) => proxy.close()));
  }
}

// ---------------------------------------------------------------------------------------------
// Partition shapes.

/** Every link to and from `node`: the node is cut off from every other (clients still reach it). */
export function isolateLinks(node: number, size: number): Link[] {
  const links: Link[] = [];
  for (let other = 0; other < size; other++) {
    if (other === node) continue;
    links.push([node, other], [other, node]);
  }
  return links;
}

/** Every link between the two groups, both ways. */
export function splitLinks(minority: readonly number[], size: number): Link[] {
  const inMinority = new Set(minority);
  const links: Link[] = [];
  for (let from = 0; from < size; from++) {
    for (let to = 0; to < size; to++) {
      if (from !== to && inMinority.has(from) !== inMinority.has(to)) links.push([from, to]);
    }
  }
  return links;
}

/** Every link out of `node` (it hears the others; nobody hears it). */
export function outgoingLinks(node: number, size: number): Link[] {
  const links: Link[] = [];
  for (let other = 0; other < size; other++) if (other !== node) links.push([node, other]);
  return links;
}

/** `0>1 1>0 ...` with node names. */
export function describeLinks(links: readonly Link[], name: (index: number) => string = (index) => `node-${index + 1}`): string {
  return links.map(([from, to]) => `${name(from)}>${name(to)}`).join(" ");
}
