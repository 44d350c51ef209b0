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
/**
 * How long one membership change may take: the removal through the leader (a proposal is
 * answered within 10 s, UNCERTAIN at worst), then the fresh node's start, join and promotion.
 */
export const membershipTimeoutMilliseconds = 30_000;
/** How long RAFTREMOVEPEER may wait for its reply: longer than the node's 10 s proposal timeout. */
const removeReplyTimeoutMilliseconds = 12_000;

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
  /**
   * With `partitions`, proxies for this many more slots than nodes, for nodes added later with
   * `addNode` (so that a partition can cut them off too).
   */
  spareSlots?: number;
}

/** What `replaceMember` does after the removal. */
export interface ReplaceOptions {
  /**
   * A brand-new node at a new address (a new port, and a new partition proxy when there is a
   * network), instead of a fresh node (new data directory, new id) at the old address.
   */
  newAddress: boolean;
  /** How long the slot stays empty between the removal and the fresh node's start. */
  downMs: number;
}

/**
 * A cluster of clone processes with the bookkeeping the nemesis needs: which are paused, and the
 * membership changes. `nodes[i]` is slot `i`: a membership change retires the node in a slot
 * (removed from the cluster, stopped, its data wiped) and starts a fresh one in its place, with a
 * new id, at the same address or a new one. Clients and the nemesis always act on `nodes[i]`.
 */
export class FaultCluster {
  readonly nodes: CloneProcess[] = [];
  /** Indexes of nodes that are SIGSTOPped right now. */
  readonly paused = new Set<number>();
  /** The partition proxies, when the cluster was started with `partitions`. */
  network: PartitionNetwork | null = null;
  /** Nodes removed from the cluster on purpose and stopped (their logs stay, for artifacts and findings). */
  readonly retired: CloneProcess[] = [];
  /** Slots whose member was removed and has no fresh node yet (healing fills them). */
  readonly vacant = new Set<number>();
  /** Nodes started so far (names: node-1, node-2, ...; fresh members continue the count). */
  private started = 0;

  private constructor(private readonly arguments_: string[]) {}

  static async start(size: number, extraArguments: string[], options: FaultClusterOptions = {}): Promise<FaultCluster> {
    const cluster = new FaultCluster(extraArguments);
    liveClusters.add(cluster);
    try {
      if (options.partitions === true) cluster.network = await PartitionNetwork.start(size + (options.spareSlots ?? 0));
      const first = await cluster.startNode(0, undefined, null);
      for (let i = 1; i < size; i++) await cluster.startNode(i, `:${first.port}`, null);
      await cluster.waitFormed(size);
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  /**
   * Starts the node of slot `index` (behind its proxy when there is a network) and puts it in
   * `nodes[index]`. `port` is the real port to try first (a fresh one when null, or when it is
   * taken and the node is behind a proxy, whose address does not change with it).
   */
  private async startNode(index: number, join: string | undefined, port: number | null): Promise<CloneProcess> {
    const name = `node-${++this.started}`;
    const network = this.network;
    let node: CloneProcess;
    if (network === null) {
      node = await CloneProcess.start({
        name,
        ...(port === null ? {} : { port }),
        ...(join === undefined ? {} : { join }),
        extraArguments: this.arguments_,
      });
    } else {
      // The proxy must know the real port before the node advertises the proxy (peers connect to
      // it as soon as the node joins), so the port is chosen here, and a fresh one tried if taken.
      const extraArguments = [...this.arguments_, "-advertise", network.proxy(index).address];
      let started: CloneProcess | null = null;
      let lastError: unknown;
      for (let attempt = 0; attempt < portAttemptsMax && started === null; attempt++) {
        const realPort = attempt === 0 && port !== null ? port : await freePort();
        network.setTarget(index, realPort);
        try {
          started = await CloneProcess.start({ name, port: realPort, ...(join === undefined ? {} : { join }), extraArguments });
        } catch (error) {
          lastError = error;
          if (!/EADDRINUSE|address is already in use/i.test(String(error))) break;
        }
      }
      if (started === null) throw lastError;
      node = started;
    }
    this.nodes[index] = node;
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

  /** True when the node runs, is not paused and is (or is becoming) a member. */
  reachable(index: number): boolean {
    return (this.nodes[index]?.running ?? false) && !this.paused.has(index) && !this.vacant.has(index);
  }

  /** The address slot `index` has in the membership: its proxy's when there is a network, else its own. */
  advertisedAddress(index: number): string {
    if (this.network !== null) return this.network.proxy(index).address;
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no node ${index}`);
    return node.address;
  }

  /** The slot whose node is at `address` (as the membership names it), or null. */
  indexOfAddress(address: string): number | null {
    for (let index = 0; index < this.nodes.length; index++) {
      if (!this.vacant.has(index) && this.advertisedAddress(index) === address) return index;
    }
    return null;
  }

  /** RAFTPEERS at node `index`, as `[address, state]` rows. */
  async peersAt(index: number): Promise<[string, string][]> {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no node ${index}`);
    const reply = plain(await probe(node.port, probeTimeoutMilliseconds, "RAFTPEERS"));
    if (!Array.isArray(reply)) throw new Error(`RAFTPEERS at ${node.name}: ${JSON.stringify(reply)}`);
    const rows: [string, string][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) rows.push([String(reply[i]), String(reply[i + 1])]);
    return rows;
  }

  /**
   * Removes slot `index`'s member with `RAFTREMOVEPEER <address>` through the leader (the leader
   * itself too: it hands over), until the leader confirms it. A refusal (MOVED, CLUSTERDOWN,
   * TRYAGAIN, another change in progress) is retried at the leader of the moment; after an
   * outcome that may or may not have applied (UNCERTAIN, no reply), the same command is asked
   * again, and `ERR ... is not a member` then says it did. Returns whether the member is out,
   * and every exchange, for the schedule's note.
   */
  async removeMember(index: number, deadline: number): Promise<{ removed: boolean; note: string }> {
    const address = this.advertisedAddress(index);
    const exchanges: string[] = [];
    let via: number | null = null;
    while (performance.now() < deadline) {
      via ??= await this.findLeader(probeTimeoutMilliseconds);
      const node = via === null ? undefined : this.nodes[via];
      if (via === null || node === undefined) {
        await sleep(100);
        continue;
      }
      let reply: string;
      let error: string | null = null;
      try {
        const value = await probe(node.port, removeReplyTimeoutMilliseconds, "RAFTREMOVEPEER", address);
        error = errorText(value);
        reply = error === null ? String(plain(value)) : `-${error}`;
      } catch (caught) {
        reply = `no reply: ${caught instanceof Error ? caught.message : String(caught)}`;
        error = reply;
      }
      exchanges.push(`RAFTREMOVEPEER ${address} at ${node.name} -> ${reply}`);
      if (error === null) return { removed: true, note: exchanges.join("; ") };
      if (/^ERR \S+ is not a member/.test(error)) return { removed: true, note: exchanges.join("; ") };
      const port = redirectPort(error);
      via = port === null ? null : this.indexOfPort(port);
      await sleep(200);
    }
    return { removed: false, note: `${exchanges.join("; ")}; gave up` };
  }

  /**
   * Stops the node of slot `index` (its member was removed), wipes its data directory and leaves
   * the slot vacant until `joinFresh` fills it.
   */
  async retire(index: number): Promise<void> {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no node ${index}`);
    this.vacant.add(index);
    this.paused.delete(index);
    node.kill("SIGCONT");
    this.retired.push(node);
    await node.cleanup(); // SIGTERM (SIGKILL after 5 s), then the data directory is removed
  }

  /**
   * Starts a fresh node (new data directory, so a new id) in vacant slot `index` with
   * `-join <a member>`: at the old address, or at a new one (`newAddress`: a new real port, and a
   * new proxy when there is a network). Returns a note.
   */
  async joinFresh(index: number, newAddress: boolean): Promise<string> {
    const old = this.nodes[index];
    if (old === undefined) throw new Error(`no node ${index}`);
    // Join through the leader when one answers, else through any member that runs.
    const leader = await this.findLeader(probeTimeoutMilliseconds);
    const members = this.nodes.map((_, i) => i).filter((i) => i !== index && this.reachable(i));
    const via = leader ?? members[0];
    const viaNode = via === undefined ? undefined : this.nodes[via];
    if (viaNode === undefined) throw new Error("no member to join through");
    const network = this.network;
    if (newAddress && network !== null) await network.renew(index);
    let port: number | null = newAddress || network !== null ? null : old.port;
    let fellBack = "";
    let node: CloneProcess;
    try {
      node = await this.startNode(index, `:${viaNode.port}`, port);
    } catch (error) {
      // Another process took the old port meanwhile: come back at a new address instead.
      if (port === null || !/EADDRINUSE|address is already in use/i.test(String(error))) throw error;
      port = null;
      fellBack = " (the old port was taken: at a new port)";
      node = await this.startNode(index, `:${viaNode.port}`, null);
    }
    this.vacant.delete(index);
    return `${node.name} started at ${this.advertisedAddress(index)}${fellBack} with -join ${viaNode.name}`;
  }

  /**
   * Starts a fresh node in a new slot (the next spare proxy when there is a network) with
   * `-join` through node `via`; returns its slot. It joins as a learner and is promoted by itself.
   */
  async addNode(via: number): Promise<number> {
    const index = this.nodes.length;
    if (this.network !== null && index >= this.network.size) throw new Error(`no spare partition proxy for a node ${index + 1}`);
    const viaNode = this.nodes[via];
    if (viaNode === undefined) throw new Error(`no node ${via}`);
    await this.startNode(index, `:${viaNode.port}`, null);
    return index;
  }

  /** Waits (bounded) until the leader lists slot `index`'s address as a voter; returns a note. */
  async waitVoter(index: number, deadline: number): Promise<string> {
    const address = this.advertisedAddress(index);
    let last = "no leader";
    while (performance.now() < deadline) {
      const leader = await this.findLeader(probeTimeoutMilliseconds);
      if (leader !== null) {
        try {
          const rows = await this.peersAt(leader);
          const state = rows.find(([member]) => member === address)?.[1];
          last = state ?? "not listed";
          if (state === "Voter" || state === "Leader") return `a voter after ${last === "Leader" ? "leading" : "promotion"}`;
        } catch (error) {
          last = String(error);
        }
      }
      await sleep(100);
    }
    return `not a voter in time (last: ${last})`;
  }

  /**
   * A membership change under load: remove slot `index`'s member through the leader, stop it,
   * wipe its data, wait `downMs`, start a fresh node in its place with `-join` and wait until it
   * is a voter. Returns a note for the schedule; a step that could not remove the member leaves
   * it in place and says so.
   */
  async replaceMember(index: number, options: ReplaceOptions): Promise<string> {
    const deadline = performance.now() + membershipTimeoutMilliseconds;
    const name = this.nodes[index]?.name ?? String(index);
    const removal = await this.removeMember(index, deadline);
    if (!removal.removed) return `${removal.note}: ${name} stays a member`;
    const notes = [removal.note];
    await this.retire(index);
    notes.push(`${name} stopped, data wiped`);
    await sleep(options.downMs);
    try {
      notes.push(await this.joinFresh(index, options.newAddress));
      notes.push(await this.waitVoter(index, deadline));
    } catch (error) {
      notes.push(`could not start a fresh node: ${error instanceof Error ? error.message.split("\n")[0] : String(error)} (healing tries again)`);
    }
    return notes.join("; ");
  }

  /**
   * Waits (bounded) until the leader's membership is exactly the slots' addresses, all voters;
   * returns null when it is, else why not.
   */
  async waitMembership(timeoutMs: number): Promise<string | null> {
    const expected = this.nodes.flatMap((_, index) => (this.vacant.has(index) ? [] : [this.advertisedAddress(index)])).sort();
    const deadline = performance.now() + timeoutMs;
    let last = "no leader";
    while (performance.now() < deadline) {
      const leader = await this.findLeader(probeTimeoutMilliseconds);
      if (leader !== null) {
        try {
          const rows = await this.peersAt(leader);
          last = JSON.stringify(rows);
          const addresses = rows.map(([address]) => address).sort();
          if (JSON.stringify(addresses) === JSON.stringify(expected) && rows.every(([, state]) => state !== "Learner")) return null;
        } catch (error) {
          last = String(error);
        }
      }
      await sleep(200);
    }
    return `membership did not converge within ${timeoutMs} ms: expected ${JSON.stringify(expected)} all voters, RAFTPEERS at the leader: ${last}`;
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

  /**
   * Heal every partition, SIGCONT every paused node, restart every dead one, fill every vacant
   * slot with a fresh member, and wait for the membership to be every slot, all voters (a note
   * starting "membership did not converge" when it is not).
   */
  async heal(): Promise<string[]> {
    const notes: string[] = [];
    const healed = this.healPartitions();
    if (healed !== null) notes.push(healed);
    for (const index of [...this.paused]) {
      this.nodes[index]?.kill("SIGCONT");
      this.paused.delete(index);
      notes.push(`SIGCONT ${this.nodes[index]?.name ?? index}`);
    }
    for (const [index, node] of this.nodes.entries()) {
      if (node.running || this.vacant.has(index)) continue;
      try {
        await withTimeout(node.restart(), restartTimeoutMilliseconds, `restart of ${node.name}`);
        notes.push(`restarted ${node.name}`);
      } catch (error) {
        notes.push(`could not restart ${node.name}: ${String(error)}`);
      }
    }
    for (const index of [...this.vacant]) {
      try {
        notes.push(`filled a vacant slot: ${await this.joinFresh(index, false)}`);
      } catch (error) {
        notes.push(`could not fill vacant slot ${index}: ${String(error)}`);
      }
    }
    const membership = await this.waitMembership(membershipTimeoutMilliseconds);
    if (membership !== null) notes.push(membership);
    return notes;
  }

  /** Stops everything (SIGCONT first, so that a paused node can take SIGTERM) and removes the data. */
  async destroy(): Promise<void> {
    liveClusters.delete(this);
    for (const node of this.nodes) node.kill("SIGCONT");
    this.paused.clear();
    const network = this.network;
    try {
      await cleanupAll([...this.nodes, ...this.retired]);
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
