/**
 * A cluster of clone processes for the fault harness: formed with `-join`, with the bookkeeping
 * a nemesis needs (which nodes are paused; optionally every node behind a partition proxy, so
 * that links between nodes can be cut), leader discovery, healing and cleanup; and the small RESP
 * helpers the harness shares (a bounded one-shot probe, reply classification).
 */
import { CloneProcess, cleanupAll, freePort } from "../helpers/clone-process.ts";
import { plain, RespConnection, type RespValue } from "../helpers/resp-client.ts";
import type { Outcome } from "../sim/linearizability.ts";
import { describeLinks, type Link, PartitionNetwork } from "./partition-proxy.ts";

/** How long a probe (RAFTSTATE, RAFTPEERS, ...) waits for its reply. */
export const probeTimeoutMilliseconds = 1_000;
/** How long a cluster may take to form (every node a voter). */
const formTimeoutMilliseconds = 30_000;
/** How long a restart may take before the nemesis gives up on it (healing tries again). */
export const restartTimeoutMilliseconds = 20_000;

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, milliseconds)));
}

/** Sends one command on a fresh connection and returns the reply, or throws (bounded). */
export async function probe(port: number, timeoutMs: number, ...args: string[]): Promise<RespValue> {
  const connection = await RespConnection.connect(port, "127.0.0.1", { timeoutMilliseconds: timeoutMs });
  try {
    connection.command(...args);
    return await connection.read(timeoutMs);
  } finally {
    connection.close(true);
  }
}

export function errorText(value: RespValue): string | null {
  return value.type === "error" || value.type === "blob-error" ? value.value : null;
}

export function replyText(value: RespValue): string {
  const error = errorText(value);
  if (error !== null) return `-${error}`;
  const converted = plain(value);
  return converted === null ? "(nil)" : typeof converted === "bigint" ? converted.toString() : JSON.stringify(converted);
}

/** The port in `MOVED 0 host:port` or `TRY host:port`, or null. */
export function redirectPort(error: string): number | null {
  const match = /^(?:MOVED \d+|TRY) \S*:(\d+)\s*$/.exec(error);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/** What an error reply means for the command (README, "Errors and what they guarantee"). */
export function classifyError(error: string): Outcome {
  const code = error.split(" ", 1)[0] ?? "";
  switch (code) {
    case "MOVED":
    case "TRY":
    case "CLUSTERDOWN":
    case "TRYAGAIN":
    case "LOADING":
    case "ERR":
    case "WRONGTYPE":
      return "failed";
    default:
      // UNCERTAIN, and anything this harness does not know: assume the worst, it may have applied.
      return "unknown";
  }
}

/** Clusters started and not destroyed yet, for `destroyAllClusters` (a test that timed out mid-run). */
const liveClusters = new Set<FaultCluster>();

/** Destroys every cluster still running (SIGCONT, stop, remove data); for afterAll. */
export async function destroyAllClusters(): Promise<void> {
  await Promise.allSettled([...liveClusters].map((cluster) => cluster.destroy()));
}

/** How many fresh ports a node behind a proxy is tried on (another process may take a free port first). */
const portAttemptsMax = 5;

export interface FaultClusterOptions {
  /**
   * Start every node behind a partition proxy (`partition-proxy.ts`) and advertise the proxy's
   * address, so that the nemesis can cut links between nodes. Clients keep using the real ports.
   */
  partitions?: boolean;
}

/** A cluster of clone processes with the bookkeeping the nemesis needs (which are paused). */
export class FaultCluster {
  readonly nodes: CloneProcess[] = [];
  /** Indexes of nodes that are SIGSTOPped right now. */
  readonly paused = new Set<number>();
  /** The partition proxies, when the cluster was started with `partitions`. */
  network: PartitionNetwork | null = null;

  private constructor(private readonly arguments_: string[]) {}

  static async start(size: number, extraArguments: string[], options: FaultClusterOptions = {}): Promise<FaultCluster> {
    const cluster = new FaultCluster(extraArguments);
    liveClusters.add(cluster);
    try {
      if (options.partitions === true) cluster.network = await PartitionNetwork.start(size);
      const first = await cluster.startNode(0, undefined);
      for (let i = 1; i < size; i++) await cluster.startNode(i, `:${first.port}`);
      await cluster.waitFormed(size);
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  /** Starts node `index` (behind its proxy when there is a network) and adds it to `nodes`. */
  private async startNode(index: number, join: string | undefined): Promise<CloneProcess> {
    const name = `node-${index + 1}`;
    const network = this.network;
    let node: CloneProcess;
    if (network === null) {
      node = await CloneProcess.start({ name, ...(join === undefined ? {} : { join }), extraArguments: this.arguments_ });
    } else {
      // The proxy must know the real port before the node advertises the proxy (peers connect to
      // it as soon as the node joins), so the port is chosen here, and a fresh one tried if taken.
      const extraArguments = [...this.arguments_, "-advertise", network.proxy(index).address];
      let started: CloneProcess | null = null;
      let lastError: unknown;
      for (let attempt = 0; attempt < portAttemptsMax && started === null; attempt++) {
        const port = await freePort();
        network.setTarget(index, port);
        try {
          started = await CloneProcess.start({ name, port, ...(join === undefined ? {} : { join }), extraArguments });
        } catch (error) {
          lastError = error;
          if (!/EADDRINUSE|address is already in use/i.test(String(error))) break;
        }
      }
      if (started === null) throw lastError;
      node = started;
    }
    this.nodes.push(node);
    return node;
  }

  get extraArguments(): readonly string[] {
    return this.arguments_;
  }

  private async waitFormed(size: number): Promise<void> {
    const deadline = performance.now() + formTimeoutMilliseconds;
    let last = "nothing yet";
    while (performance.now() < deadline) {
      const leader = await this.findLeader(probeTimeoutMilliseconds);
      if (leader !== null) {
        try {
          const peers = plain(await probe(this.nodes[leader]?.port ?? 0, probeTimeoutMilliseconds, "RAFTPEERS"));
          last = JSON.stringify(peers);
          if (Array.isArray(peers) && peers.length === size * 2 && !peers.includes("Learner")) return;
        } catch (error) {
          last = String(error);
        }
      }
      await sleep(100);
    }
    throw new Error(`the cluster did not form within ${formTimeoutMilliseconds} ms; RAFTPEERS: ${last}`);
  }

  /** The node at `port`: its real port, or its proxy's (the address it advertises, which MOVED names). */
  indexOfPort(port: number): number | null {
    const index = this.nodes.findIndex((node) => node.port === port);
    if (index >= 0) return index;
    return this.network?.nodeOfProxyPort(port) ?? null;
  }

  /** Cuts the given directed links (node indexes); throws when the cluster has no partition proxies. */
  cut(links: readonly Link[]): void {
    if (this.network === null) throw new Error("this cluster was started without partition proxies");
    this.network.cut(links);
  }

  /** Heals every partition; returns a note, or null when nothing was cut. */
  healPartitions(): string | null {
    const network = this.network;
    if (network === null) return null;
    const links = network.cutLinks();
    const reset = network.heal();
    if (links.length === 0 && reset === 0) return null;
    return `healed the network (${describeLinks(links, (index) => this.nodes[index]?.name ?? String(index)) || "no links"} cut; ${reset} black-holed connections reset)`;
  }

  /** True when the node runs and is not paused. */
  reachable(index: number): boolean {
    return (this.nodes[index]?.running ?? false) && !this.paused.has(index);
  }

  /** The index of a node that says it leads, asking only reachable nodes, or null. */
  async findLeader(timeoutMs: number): Promise<number | null> {
    const answers = await Promise.all(
      this.nodes.map(async (node, index) => {
        if (!this.reachable(index)) return null;
        try {
          return plain(await probe(node.port, timeoutMs, "RAFTSTATE")) === "Leader" ? index : null;
        } catch {
          return null; // a node that does not answer in time is not a leader we can use
        }
      }),
    );
    return answers.find((index) => index !== null) ?? null;
  }

  /** Waits (bounded) until some node says it leads and answers a read. */
  async waitLeader(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const leader = await this.findLeader(probeTimeoutMilliseconds);
      if (leader !== null) return leader;
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /** Heal every partition, SIGCONT every paused node and restart every dead one. */
  async heal(): Promise<string[]> {
    const notes: string[] = [];
    const healed = this.healPartitions();
    if (healed !== null) notes.push(healed);
    for (const index of [...this.paused]) {
      this.nodes[index]?.kill("SIGCONT");
      this.paused.delete(index);
      notes.push(`SIGCONT ${this.nodes[index]?.name ?? index}`);
    }
    for (const node of this.nodes) {
      if (node.running) continue;
      try {
        await withTimeout(node.restart(), restartTimeoutMilliseconds, `restart of ${node.name}`);
        notes.push(`restarted ${node.name}`);
      } catch (error) {
        notes.push(`could not restart ${node.name}: ${String(error)}`);
      }
    }
    return notes;
  }

  /** Stops everything (SIGCONT first, so that a paused node can take SIGTERM) and removes the data. */
  async destroy(): Promise<void> {
    liveClusters.delete(this);
    for (const node of this.nodes) node.kill("SIGCONT");
    this.paused.clear();
    const network = this.network;
    try {
      await cleanupAll(this.nodes);
    } finally {
      await network?.close();
    }
  }
}

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
