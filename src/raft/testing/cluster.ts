/**
 * A synchronous in-memory cluster for unit and interaction tests: every server persists, applies
 * and advances each Ready at once; messages wait in one list until a test delivers, drops or
 * reorders them. Pure like the core (no IO, no clock), so it lives beside it.
 */
import { assert } from "../../assert.ts";
import { bootstrapEntry } from "../config-change.ts";
import type { RaftOptions } from "../options.ts";
import { Raft } from "../raft.ts";
import { SeededRandom } from "../random.ts";
import { MemoryStorage } from "../storage.ts";
import { asNodeId, type Entry, type Message, type NodeId, type ReadState, type Ready } from "../types.ts";

/** One server of a test cluster. */
export interface TestNode {
  readonly id: NodeId;
  raft: Raft;
  readonly storage: MemoryStorage;
  /** Every entry applied, in order. */
  readonly applied: Entry[];
  readonly readStates: ReadState[];
  readonly droppedReads: number[];
}

/** Options for every core of the cluster, minus what the cluster supplies. */
export type TestOptions = Partial<Omit<RaftOptions, "id" | "storage" | "random">>;

/** Node ids `n1`..`nN`. */
export function nodeIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, position) => asNodeId(`n${position + 1}`));
}

/** A cluster of cores joined by a hand-driven network. */
export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  network: Message[] = [];
  /** Every Ready handed out, for tests that inspect them. */
  readonly readies: { id: NodeId; ready: Ready }[] = [];
  private seed = 1;

  constructor(
    voters: readonly NodeId[],
    readonly options: TestOptions = {},
  ) {
    for (const id of voters) this.addNode(id, MemoryStorage.bootstrap(bootstrapEntry(voters)));
    for (const id of voters) this.process(id);
  }

  /** Adds a server with the given storage (empty for one that will join as a learner). */
  addNode(id: NodeId, storage: MemoryStorage = new MemoryStorage()): TestNode {
    const node: TestNode = {
      id,
      raft: this.makeRaft(id, storage),
      storage,
      applied: [],
      readStates: [],
      droppedReads: [],
    };
    this.nodes.set(id, node);
    return node;
  }

  private makeRaft(id: NodeId, storage: MemoryStorage): Raft {
    return new Raft({
      voteGuardAfterStart: false,
      ...this.options,
      id,
      storage,
      random: new SeededRandom(this.seed++),
    });
  }

  /** Restarts a server from its storage, losing all volatile state. */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.raft = this.makeRaft(id, node.storage);
    node.applied.length = 0;
    this.network = this.network.filter((message) => message.to !== id && message.from !== id);
    this.process(id);
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  /** Handles every Ready of a server: persist, send, apply, advance. */
  process(id: NodeId): Ready[] {
    const node = this.node(id);
    const handled: Ready[] = [];
    while (node.raft.hasReady()) {
      const ready = node.raft.ready();
      this.readies.push({ id, ready });
      handled.push(ready);
      this.network.push(...ready.messages);
      if (ready.snapshot !== null) node.storage.applySnapshot(ready.snapshot);
      node.storage.append(ready.entries);
      if (ready.hardState !== null) node.storage.setHardState(ready.hardState);
      this.network.push(...ready.messagesAfterPersist);
      node.applied.push(...ready.committedEntries);
      node.readStates.push(...ready.readStates);
      node.droppedReads.push(...ready.droppedReads);
      node.raft.advance();
    }
    return handled;
  }

  /** Processes every server. */
  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** Delivers the messages matching `filter` (all by default) and returns them. */
  deliver(filter: (message: Message) => boolean = () => true): Message[] {
    const chosen = this.network.filter(filter);
    this.network = this.network.filter((message) => !filter(message));
    for (const message of chosen) {
      const node = this.nodes.get(message.to);
      if (node !== undefined) node.raft.step(message);
    }
    return chosen;
  }

  /** Drops the messages matching `filter`. */
  drop(filter: (message: Message) => boolean): Message[] {
    const dropped = this.network.filter(filter);
    this.network = this.network.filter((message) => !filter(message));
    return dropped;
  }

  /**
   * Delivers and processes until no server has anything to do, sending leaders' commit news when
   * the network is quiet (as the node does a moment after a commit that no append carried).
   */
  stabilize(filter: (message: Message) => boolean = () => true): void {
    for (let round = 0; round < 10_000; round++) {
      this.processAll();
      const delivered = this.deliver(filter);
      if (delivered.length === 0) {
        this.sendCommitNews();
        this.processAll();
        if (this.network.filter(filter).length === 0) return;
      }
    }
    assert(false, "the cluster did not stabilize");
  }

  /**
   * Has every leader among `ids` (all servers by default) send the commit index to members it has
   * not been sent to (see Raft); returns the leaders that had some to send.
   */
  sendCommitNews(ids: Iterable<NodeId> = this.nodes.keys()): NodeId[] {
    const sent: NodeId[] = [];
    for (const id of ids) {
      const raft = this.raft(id);
      const index = raft.commitNewsOwed();
      if (index === null) continue;
      raft.sendCommitNews(index);
      sent.push(id);
    }
    return sent;
  }

  /** Ticks a server `count` times, processing after each tick. */
  tick(id: NodeId, count = 1): void {
    for (let tick = 0; tick < count; tick++) {
      this.raft(id).tick();
      this.process(id);
    }
  }

  /** Campaigns `id` and stabilizes; returns the leader afterwards. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
    assert(this.raft(id).status().role === "leader", `${id} failed to become leader`);
  }

  /** The ids of servers that currently believe they lead. */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.raft.status().role === "leader").map((node) => node.id);
  }
}
