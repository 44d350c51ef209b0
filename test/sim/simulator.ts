/**
 * A deterministic simulator of whole Raft clusters: real cores, a virtual clock, one event queue,
 * and one seeded generator for every choice. The same seed replays the same run exactly.
 *
 * The world: servers tick at slightly different rates (within the core's drift bound); a network
 * delays, drops, duplicates and reorders messages and cuts links (symmetric, one-way, isolating the
 * leader, a majority ring); servers crash, losing what their disk had not made durable (a durable
 * prefix survives, a volatile tail is lost), and restart; members are added and removed, leaders
 * are asked to hand over, and servers compact their logs at random points. Clients issue reads and
 * writes of a few registers, and every operation is recorded as ok, failed or unknown.
 */
import { assert } from "../../src/assert.ts";
import {
  asIndex,
  asNodeId,
  bootstrapEntry,
  MemoryStorage,
  Raft,
  SeededRandom,
  type Entry,
  type Message,
  type NodeId,
  type RaftOptions,
  type RaftTestBugs,
  type Ready,
  type Snapshot,
} from "../../src/raft/index.ts";
import { SafetyChecker } from "./checker.ts";
import { EventQueue } from "./event-queue.ts";
import type { Operation } from "./linearizability.ts";

/** Knobs of one simulated run; everything else is drawn from the seed. */
export interface SimulationOptions {
  readonly seed: number;
  /** Virtual milliseconds of faults before the network heals. */
  readonly faultMs?: number;
  /** After healing, a write must commit within this many election timeouts (liveness). */
  readonly livenessElectionTimeouts?: number;
  /** Options for every core, over the simulator's own (e.g. to switch a safeguard off). */
  readonly raft?: Partial<Pick<RaftOptions, "voteGuardAfterStart" | "clockDriftMax" | "preVote" | "checkQuorum">>;
  /** Deliberate bugs in the simulated driver (teeth tests). */
  readonly driverBugs?: { readonly tickOnceAfterPause?: boolean };
  /** Deliberate bugs in every core (teeth tests). */
  readonly bugs?: RaftTestBugs;
  /** Servers in the founding cluster (drawn from the seed when absent: 1, 2, 3 or 5). */
  readonly nodeCount?: number;
  /** Whether the nemesis strikes new leaders and fresh commits (default true). */
  readonly nemesis?: boolean;
  /** Fault kinds to leave out. */
  readonly quiet?: { readonly crashes?: boolean; readonly membership?: boolean; readonly partitions?: boolean };
}

/** What a run produced. */
export interface SimulationResult {
  readonly history: Operation[];
  readonly stats: Record<string, number>;
  readonly checker: SafetyChecker;
}

const tickMs = 10;
/** A client gives up on an operation after this long (a few election timeouts). */
const clientTimeoutMs = 500;
const electionTicks = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface PendingWrite {
  readonly op: Operation;
  readonly term: number;
  readonly data: Uint8Array;
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raft: Raft | null;
  /** Bumped at every crash, so that events of an earlier life are ignored. */
  life: number;
  /** A Ready being persisted, or null. */
  persisting: Ready | null;
  readonly driftFactor: number;
  kv: Map<string, string>;
  appliedIndex: number;
  pendingWrites: Map<number, PendingWrite>;
  pendingReads: Map<number, Operation>;
  durable: { term: number; commit: number };
  /** The process is stopped until this virtual time (0: running). */
  pausedUntil: number;
  /** Ticks that fell due while paused, caught up on resume. */
  missedTicks: number;
  /** The commit index last seen while this server led, and in which term, for the nemesis. */
  leaderCommit: number;
  leaderCommitTerm: number;
}

/** A failing run: the message says how to replay it. */
export class SimulationFailure extends Error {
  override name = "SimulationFailure";
}

/** One simulated cluster run. */
export class Simulation {
  readonly random: SeededRandom;
  readonly queue = new EventQueue();
  readonly checker = new SafetyChecker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly history: Operation[] = [];
  readonly stats: Record<string, number> = {};
  /** Cut links, as "from>to". */
  private blocked = new Set<string>();
  private dropRate: number;
  private duplicateRate: number;
  private nextNodeNumber = 1;
  private nextReadContext = 1;
  /** Set once the fault phase is over: no more faults, no nemesis. */
  private healed = false;
  private readonly faultMs: number;
  /** The mean interval between faults in this run. */
  private faultEveryMs = 100;
  private readonly messageBytesMax: number;
  private readonly inflightMessagesMax: number;
  /** How often the nemesis strikes a new leader, and a leader's first commit in its term. */
  private readonly leaderNemesisRate: number;
  private readonly commitNemesisRate: number;
  private lastLeaderTerm = 0;
  private readonly bugs: RaftTestBugs;
  /** Operations whose outcome is recorded; later news of them is ignored. */
  private readonly settled = new Set<Operation>();
  /** `SIM_TRACE=1` logs role, term and membership changes, crashes and pauses; `2` every message too. */
  private readonly trace = Number.parseInt(process.env["SIM_TRACE"] ?? "0", 10);
  private readonly traceLast = new Map<string, string>();

  constructor(readonly options: SimulationOptions) {
    this.random = new SeededRandom(options.seed);
    this.faultMs = options.faultMs ?? 3000;
    this.bugs = options.bugs ?? {};
    this.dropRate = this.random.nextFloat() * 0.1;
    this.duplicateRate = this.random.nextFloat() * 0.05;
    // Small messages and shallow pipelines make entries travel separately, as under load.
    this.messageBytesMax = [64, 256, 4096][this.random.nextInt(3)]!;
    this.inflightMessagesMax = [1, 2, 8][this.random.nextInt(3)]!;
    const nemesis = options.nemesis ?? true;
    this.leaderNemesisRate = [0, 0.2, 0.6][this.random.nextInt(3)]! * (nemesis ? 1 : 0);
    this.commitNemesisRate = [0, 0.2, 0.6][this.random.nextInt(3)]! * (nemesis ? 1 : 0);
    // Mostly 3 or 5 founders; sometimes 1 or 2, which then grow through learners and promotions.
    const drawnCount = [1, 2, 3, 3, 5, 5][this.random.nextInt(6)]!;
    const count = options.nodeCount ?? drawnCount;
    const ids: NodeId[] = [];
    for (let position = 0; position < count; position++) ids.push(this.newId());
    for (const id of ids) this.startNode(id, MemoryStorage.bootstrap(bootstrapEntry(ids)));
  }

  private log(line: string): void {
    console.log(`${this.queue.now.toFixed(1).padStart(8)} ${line}`);
  }

  private count(stat: string): void {
    this.stats[stat] = (this.stats[stat] ?? 0) + 1;
  }

  private newId(): NodeId {
    return asNodeId(`n${this.nextNodeNumber++}`);
  }

  private chance(probability: number): boolean {
    return this.random.nextFloat() < probability;
  }

  private pick<T>(items: readonly T[]): T | undefined {
    if (items.length === 0) return undefined;
    return items[this.random.nextInt(items.length)];
  }

  // ---------------------------------------------------------------------------------------------
  // Servers
  // ---------------------------------------------------------------------------------------------

  private startNode(id: NodeId, storage: MemoryStorage): void {
    // Tick rates differ by at most 4% either way: the ratio stays under the core's 10% bound.
    const node: SimNode = {
      id,
      storage,
      raft: null,
      life: 0,
      persisting: null,
      driftFactor: 0.96 + this.random.nextFloat() * 0.08,
      kv: new Map(),
      appliedIndex: 0,
      pendingWrites: new Map(),
      pendingReads: new Map(),
      durable: { term: storage.hardState().term, commit: storage.hardState().commit },
      leaderCommit: 0,
      leaderCommitTerm: 0,
      pausedUntil: 0,
      missedTicks: 0,
    };
    this.nodes.set(id, node);
    this.boot(node);
  }

  private boot(node: SimNode): void {
    const snapshot = node.storage.snapshot();
    node.kv = decodeState(snapshot);
    node.appliedIndex = snapshot.metadata.index;
    node.raft = new Raft({
      id: node.id,
      storage: node.storage,
      random: new SeededRandom(this.random.nextInt(0x7fff_ffff)),
      electionTicks,
      heartbeatTicks: 2,
      messageBytesMax: this.messageBytesMax,
      inflightMessagesMax: this.inflightMessagesMax,
      testBugs: this.bugs,
      ...this.options.raft,
    });
    this.checker.restarted(node.id, node.appliedIndex);
    const life = node.life;
    const tick = (): void => {
      if (node.life !== life || node.raft === null) return;
      if (this.isPaused(node)) {
        node.missedTicks++;
      } else {
        node.raft.tick();
        this.pump(node);
      }
      this.queue.schedule(tickMs * node.driftFactor, tick);
    };
    this.queue.schedule(this.random.nextFloat() * tickMs, tick);
    this.pump(node);
  }

  private crash(node: SimNode): void {
    if (node.raft === null) return;
    if (this.trace >= 1) this.log(`${node.id} crashes`);
    this.count("crashes");
    const ready = node.persisting;
    if (ready !== null && ready.snapshot === null && ready.entries.length > 0 && this.chance(0.5)) {
      // The write was under way: a prefix of its entries reached the disk, the rest did not.
      const prefix = ready.entries.slice(0, this.random.nextInt(ready.entries.length + 1));
      this.persistEntries(node, prefix);
      this.count("tornWrites");
    }
    node.raft = null;
    node.persisting = null;
    node.pausedUntil = 0;
    node.life++;
    for (const pending of node.pendingWrites.values()) this.finish(pending.op, "unknown");
    for (const op of node.pendingReads.values()) this.finish(op, "unknown");
    node.pendingWrites.clear();
    node.pendingReads.clear();
  }

  private restart(node: SimNode): void {
    if (node.raft !== null) return;
    this.count("restarts");
    this.boot(node);
  }

  /** Hands the server's next Ready to the driver, if it has one and none is being persisted. */
  private pump(node: SimNode): void {
    const raft = node.raft;
    if (raft === null) return;
    this.observe(node);
    if (node.persisting !== null || !raft.hasReady()) return;
    const ready = raft.ready();
    node.persisting = ready;
    for (const message of ready.messages) this.send(message);
    const life = node.life;
    const latency = this.chance(0.3) ? 0 : this.random.nextFloat() * 3;
    const done = (): void => {
      if (node.life !== life) return;
      // A paused process finishes its write only when it runs again.
      if (this.isPaused(node)) this.queue.schedule(node.pausedUntil - this.queue.now + 0.001, done);
      else this.persisted(node, ready);
    };
    this.queue.schedule(latency, done);
  }

  private isPaused(node: SimNode): boolean {
    return node.pausedUntil > this.queue.now;
  }

  /**
   * Stops a server's process (a GC pause, a stalled VM) for `duration` ms: nothing it receives is
   * handled and it does not tick until it resumes. On resume, a correct driver first catches up
   * the ticks it missed, measured by a monotonic clock, and only then handles what arrived: the
   * lease is sound only if ticks track elapsed time (docs/raft.md, the drift bound).
   */
  private pause(node: SimNode, duration: number): void {
    if (node.raft === null || this.isPaused(node)) return;
    this.count("pauses");
    if (this.trace >= 1) this.log(`${node.id} pauses for ${duration.toFixed(0)} ms`);
    node.pausedUntil = this.queue.now + duration;
    node.missedTicks = 0;
    const life = node.life;
    this.queue.schedule(duration, () => {
      const raft = node.raft;
      if (node.life !== life || raft === null) return;
      const catchUp = this.options.driverBugs?.tickOnceAfterPause === true ? Math.min(1, node.missedTicks) : node.missedTicks;
      // As RaftNode does: several at once in one batch (`Raft.catchUp`), before the messages.
      if (catchUp === 1) raft.tick();
      else if (catchUp > 1) raft.catchUp(catchUp);
      node.missedTicks = 0;
      this.pump(node);
    });
  }

  private observe(node: SimNode): void {
    const raft = node.raft;
    if (raft === null) return;
    const status = raft.status();
    if (this.trace >= 1) {
      const key = `${status.role}/${status.term}/${status.membership.voters.join(",")}|${status.membership.learners.join(",")}`;
      if (this.traceLast.get(node.id) !== key) {
        this.traceLast.set(node.id, key);
        this.log(
          `${node.id} ${status.role} term=${status.term} commit=${status.commit} applied=${status.applied} last=${status.lastIndex} voters=${status.membership.voters.join(",")} learners=${status.membership.learners.join(",")}`,
        );
      }
    }
    this.checker.observe(
      status,
      (index) => raft.termAt(asIndex(index)),
      (low, high) => raft.entriesBetween(asIndex(low), asIndex(high)),
    );
    if (status.role === "leader" && status.term > this.lastLeaderTerm) {
      this.lastLeaderTerm = status.term;
      this.newLeader(node);
    } else if (status.role === "leader" && status.commit > node.leaderCommit && !this.healed) {
      // The nemesis also strikes the moment a leader commits (most often its first commit),
      // cutting it off before the news or its next entries spread.
      const first = node.leaderCommitTerm !== status.term;
      node.leaderCommitTerm = status.term;
      if (this.chance(first ? this.commitNemesisRate : this.commitNemesisRate / 20)) {
        this.count("nemesis.commit");
        this.isolate(node.id);
      }
    }
    node.leaderCommit = status.role === "leader" ? status.commit : 0;
  }

  /**
   * The nemesis reacts to a new leader: sometimes it cuts the leader off or crashes it a moment
   * later, in the middle of its first replication. Divergent log suffixes come from exactly this.
   */
  private newLeader(node: SimNode): void {
    if (this.healed || !this.chance(this.leaderNemesisRate)) return;
    const life = node.life;
    // Isolating at once also loses the new leader's first appends, which are in flight.
    const delay = this.chance(0.5) ? 0 : this.random.nextFloat() * 10;
    this.queue.schedule(delay, () => {
      if (node.life !== life || this.healed) return;
      this.count("nemesis.newLeader");
      if (this.chance(0.5)) {
        this.isolate(node.id);
      } else {
        this.crash(node);
        this.queue.schedule(20 + this.random.nextFloat() * 300, () => {
          if (node.life === life + 1) this.restart(node);
        });
      }
    });
  }

  private isolate(id: NodeId): void {
    this.blocked.clear();
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.blocked.add(`${id}>${other}`);
      this.blocked.add(`${other}>${id}`);
    }
  }

  private persistEntries(node: SimNode, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const storage = node.storage;
    const first = entries[0]!.index;
    const before = first - 1 >= storage.firstIndex() - 1 && first - 1 <= storage.lastIndex() ? storage.term(asIndex(first - 1)) : 0;
    this.checker.persisting(node.id, entries, before, (index) =>
      index >= storage.firstIndex() && index <= storage.lastIndex() ? storage.term(asIndex(index)) : null,
    );
    storage.append(entries);
  }

  /** The Ready's write is durable: send what waited for it, apply, answer clients, advance. */
  private persisted(node: SimNode, ready: Ready): void {
    const raft = node.raft;
    assert(raft !== null && node.persisting === ready, "persisted the Ready in flight");
    if (ready.snapshot !== null) node.storage.applySnapshot(ready.snapshot);
    this.persistEntries(node, ready.entries);
    if (ready.hardState !== null) {
      const after = { term: ready.hardState.term, commit: ready.hardState.commit };
      this.checker.durableHardState(node.id, node.durable, after);
      node.storage.setHardState(ready.hardState);
      node.durable = after;
    }
    for (const message of ready.messagesAfterPersist) this.send(message);
    if (ready.snapshot !== null) this.installSnapshot(node, ready.snapshot);
    let lastConfig = -1;
    for (const entry of ready.committedEntries) {
      this.apply(node, entry);
      if (entry.type === "config") lastConfig = entry.index;
    }
    for (const read of ready.readStates) {
      const op = node.pendingReads.get(read.ctx);
      if (op === undefined) continue;
      assert(node.appliedIndex >= read.index, "a read is served only once its index is applied");
      node.pendingReads.delete(read.ctx);
      op.value = node.kv.get(op.key) ?? null;
      this.finish(op, "ok");
    }
    for (const ctx of ready.droppedReads) {
      const op = node.pendingReads.get(ctx);
      if (op === undefined) continue;
      node.pendingReads.delete(ctx);
      this.finish(op, "failed");
    }
    raft.advance();
    node.persisting = null;
    // The core's membership is the one after this Ready's entries, unless a snapshot from the
    // leader replaced the log meanwhile (then it is the snapshot's, at a later index).
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastConfig >= 0 && raft.status().applied === lastCommitted?.index) {
      this.checker.membershipAfter(node.id, lastConfig, raft.status().membership);
    }
    this.pump(node);
  }

  private installSnapshot(node: SimNode, snapshot: Snapshot): void {
    this.count("snapshotsInstalled");
    this.checker.installedSnapshot(node.id, snapshot.metadata.index);
    node.kv = decodeState(snapshot);
    node.appliedIndex = snapshot.metadata.index;
    for (const [index, pending] of node.pendingWrites) {
      if (index <= snapshot.metadata.index) {
        // The entry may or may not be in the snapshot: the client cannot tell.
        this.finish(pending.op, "unknown");
        node.pendingWrites.delete(index);
      }
    }
  }

  private apply(node: SimNode, entry: Entry): void {
    this.checker.applying(node.id, entry);
    node.appliedIndex = entry.index;
    if (entry.type === "normal") {
      const [key, value] = decoder.decode(entry.data).split("=") as [string, string];
      node.kv.set(key, value);
    }
    const pending = node.pendingWrites.get(entry.index);
    if (pending !== undefined) {
      node.pendingWrites.delete(entry.index);
      // Another entry committed at this index: the write can never commit (log matching).
      this.finish(pending.op, entry.term === pending.term && entry.data === pending.data ? "ok" : "failed");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Network
  // ---------------------------------------------------------------------------------------------

  private send(message: Message): void {
    this.count(`sent.${message.type}`);
    if (this.blocked.has(`${message.from}>${message.to}`)) return;
    if (this.chance(this.dropRate)) return;
    const copies = this.chance(this.duplicateRate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delay = this.chance(0.03) ? 20 + this.random.nextFloat() * 150 : 1 + this.random.nextFloat() * 8;
      this.queue.schedule(delay, () => this.deliver(message));
    }
  }

  private deliver(message: Message): void {
    if (this.blocked.has(`${message.from}>${message.to}`)) return;
    const node = this.nodes.get(message.to);
    if (node === undefined || node.raft === null) return;
    if (this.isPaused(node)) {
      this.queue.schedule(node.pausedUntil - this.queue.now + 0.001, () => this.deliver(message));
      return;
    }
    if (this.trace >= 2) this.log(`deliver ${JSON.stringify(message, (key, value: unknown) => (key === "entries" && Array.isArray(value) ? value.length : key === "snapshot" ? "..." : value))}`);
    node.raft.step(message);
    this.pump(node);
  }

  private liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.raft !== null).map((node) => node.id);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const status = node.raft?.status();
      if (status !== undefined && status.role === "leader" && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  private partition(): void {
    this.blocked.clear();
    const ids = [...this.nodes.keys()];
    const cut = (from: NodeId, to: NodeId): void => void this.blocked.add(`${from}>${to}`);
    const kind = this.random.nextInt(4);
    if (kind === 0) {
      // Symmetric split into two sides.
      const side = new Set(ids.filter(() => this.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) cut(a, b);
      this.count("partition.symmetric");
    } else if (kind === 1) {
      // One-way cuts: some links lose traffic in one direction only.
      for (const a of ids) for (const b of ids) if (a !== b && this.chance(0.25)) cut(a, b);
      this.count("partition.oneWay");
    } else if (kind === 2) {
      const leader = this.leader();
      if (leader === undefined) return;
      this.isolate(leader.id);
      this.count("partition.isolateLeader");
    } else {
      // A ring: each server reaches only its neighbours, so each sees a different majority.
      const ring = [...ids];
      for (let i = ring.length - 1; i > 0; i--) {
        const j = this.random.nextInt(i + 1);
        [ring[i], ring[j]] = [ring[j]!, ring[i]!];
      }
      for (let i = 0; i < ring.length; i++) {
        for (let j = 0; j < ring.length; j++) {
          const distance = Math.min(Math.abs(i - j), ring.length - Math.abs(i - j));
          if (distance > 1) cut(ring[i]!, ring[j]!);
        }
      }
      this.count("partition.ring");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Faults and operations
  // ---------------------------------------------------------------------------------------------

  private fault(): void {
    if (this.healed) return;
    const quiet = this.options.quiet ?? {};
    const roll = this.random.nextInt(10);
    const node = this.pick([...this.nodes.values()]);
    if (node === undefined) return;
    if (roll <= 1 && quiet.partitions !== true) {
      this.partition();
    } else if (roll === 2) {
      this.blocked.clear();
    } else if (roll === 3 && quiet.crashes !== true) {
      // Half the crashes hit the leader, mid-replication: that is where logs diverge.
      const victim = this.chance(0.5) ? (this.leader() ?? node) : node;
      if (this.liveIds().length > 1) this.crash(victim);
      const life = victim.life;
      this.queue.schedule(10 + this.random.nextFloat() * Math.min(400, 5 * this.faultEveryMs), () => {
        if (victim.life === life) this.restart(victim);
      });
    } else if (roll === 4 && quiet.membership !== true) {
      this.changeMembership();
    } else if (roll === 5) {
      const leader = this.leader();
      const to = this.pick(leader?.raft?.status().membership.voters ?? []);
      if (leader !== undefined && to !== undefined && to !== leader.id) {
        if (leader.raft?.transferLeadership(to) === true) this.count("transfers");
        this.pump(leader);
      }
    } else if (roll <= 7) {
      this.compact(node);
    } else {
      // Pauses hit the leader half the time: that is where leases are tested.
      const victim = this.chance(0.5) ? (this.leader() ?? node) : node;
      this.pause(victim, 50 + this.random.nextFloat() * 500);
      // Half the time the network is lost too (a VM migrating, a switch rebooting).
      if (this.chance(0.5) && quiet.partitions !== true) this.isolate(victim.id);
    }
  }

  private changeMembership(): void {
    const leader = this.leader();
    const raft = leader?.raft;
    if (leader === undefined || raft === null || raft === undefined) return;
    const membership = raft.status().membership;
    const members = membership.voters.length + membership.learners.length;
    if (this.chance(0.5) && members < 6) {
      const id = this.newId();
      const result = raft.proposeConfigChange({ kind: "addLearner", node: id, address: `${id}:7481` });
      if (result.ok) {
        this.count("membership.add");
        this.startNode(id, new MemoryStorage());
      }
    } else if (membership.voters.length > 3 || membership.learners.length > 0) {
      const candidates = membership.voters.length > 3 ? [...membership.voters, ...membership.learners] : membership.learners;
      const victim = this.pick(candidates);
      if (victim !== undefined && raft.proposeConfigChange({ kind: "remove", node: victim }).ok) {
        this.count(victim === leader.id ? "membership.removeLeader" : "membership.remove");
      }
    }
    this.pump(leader);
  }

  private compact(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || node.persisting !== null) return;
    const status = raft.status();
    if (status.applied !== node.appliedIndex || node.appliedIndex <= node.storage.snapshotMetadata().index) return;
    const data = encoder.encode(JSON.stringify([...node.kv]));
    node.storage.createSnapshot(asIndex(node.appliedIndex), status.membership, data);
    node.storage.compact(asIndex(Math.max(node.storage.firstIndex() - 1, node.appliedIndex - this.random.nextInt(20))));
    this.count("compactions");
  }

  /** Records how an operation ended, once: later news of it (after a timeout) is ignored. */
  private finish(op: Operation, outcome: Operation["outcome"]): void {
    if (this.settled.has(op)) return;
    this.settled.add(op);
    op.outcome = outcome;
    op.complete = outcome === "unknown" ? Infinity : this.queue.now;
    this.count(`op.${op.kind}.${outcome}`);
  }

  private runClient(client: number): void {
    let sequence = 0;
    const next = (): void => {
      if (this.queue.now > this.faultMs + 1000) return;
      const op = this.issue(client, sequence++);
      const poll = (): void => {
        if (this.settled.has(op) || this.queue.now - op.invoke > clientTimeoutMs) {
          // A client gives up after a timeout: the operation may still take effect, or not.
          this.finish(op, "unknown");
          this.queue.schedule(this.random.nextFloat() * 20, next);
        } else {
          this.queue.schedule(5, poll);
        }
      };
      this.queue.schedule(1, poll);
    };
    this.queue.schedule(this.random.nextFloat() * 50, next);
  }

  /** Picks a server the way a client would: ask someone who the leader is, and go there. */
  private route(): SimNode | undefined {
    // A paused server cannot answer "who leads?"; the client asks a running one.
    const live = this.liveIds().filter((id) => !this.isPaused(this.nodes.get(id)!));
    const asked = this.pick(live);
    if (asked === undefined) return undefined;
    const hint = this.nodes.get(asked)?.raft?.status().leader ?? null;
    const target = hint !== null && this.chance(0.9) ? this.nodes.get(hint) : this.nodes.get(asked);
    return target?.raft === null ? this.nodes.get(asked) : target;
  }

  private issue(client: number, sequence: number): Operation {
    const key = `k${this.random.nextInt(3)}`;
    const kind = this.chance(0.5) ? "write" : "read";
    const op: Operation = {
      client,
      key,
      kind,
      value: kind === "write" ? `c${client}.${sequence}` : null,
      invoke: this.queue.now,
      complete: Infinity,
      outcome: "unknown",
    };
    this.history.push(op);
    const node = this.route();
    if (node === undefined || node.raft === null) {
      this.finish(op, "failed");
      return op;
    }
    this.submit(op, node);
    return op;
  }

  /** Hands a client operation to a server (once it runs, if it is paused). */
  private submit(op: Operation, node: SimNode): void {
    if (this.isPaused(node)) {
      const life = node.life;
      this.queue.schedule(node.pausedUntil - this.queue.now + 0.001, () => {
        if (node.life === life && node.raft !== null) this.submit(op, node);
        else this.finish(op, "failed");
      });
      return;
    }
    const raft = node.raft;
    assert(raft !== null, "submit to a live server");
    const key = op.key;
    if (op.kind === "write") {
      const data = encoder.encode(`${key}=${op.value}`);
      const result = raft.propose(data);
      if (!result.ok) this.finish(op, "failed");
      else node.pendingWrites.set(result.lastIndex, { op, term: result.term, data });
    } else {
      const ctx = this.nextReadContext++;
      const result = raft.readIndex(ctx, this.chance(0.5) ? "lease" : "quorum");
      if (!result.ok) this.finish(op, "failed");
      else node.pendingReads.set(ctx, op);
    }
    this.pump(node);
  }

  // ---------------------------------------------------------------------------------------------
  // The run
  // ---------------------------------------------------------------------------------------------

  // ---------------------------------------------------------------------------------------------
  // Scenarios: tests that script the faults themselves use these instead of run().
  // ---------------------------------------------------------------------------------------------

  /** Starts `count` clients that issue operations until `faultMs + 1000`. */
  startClients(count: number): void {
    for (let client = 0; client < count; client++) this.runClient(client);
  }

  /** Runs every event up to virtual time `time`. */
  runUntil(time: number): void {
    while (this.queue.runNext(time)) {
      // Run.
    }
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Restores every link. */
  reconnect(): void {
    this.blocked.clear();
  }

  /** The servers' ids. */
  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  /** The live server that leads in the highest term, if any. */
  leaderId(): NodeId | undefined {
    return this.leader()?.id;
  }

  /** A server's status, or null while it is down. */
  statusOf(id: NodeId): ReturnType<Raft["status"]> | null {
    return this.nodes.get(id)?.raft?.status() ?? null;
  }

  /** Runs faults, then heals everything and checks that the cluster makes progress again. */
  run(): SimulationResult {
    this.startClients(2 + this.random.nextInt(7));
    // Some runs are calm, some are storms of faults (many elections, crashes mid-replication).
    const faultEvery = [15, 60, 200][this.random.nextInt(3)]! * (0.5 + this.random.nextFloat());
    this.faultEveryMs = faultEvery;
    const scheduleFault = (): void => {
      if (this.queue.now >= this.faultMs) return;
      this.fault();
      this.queue.schedule(this.random.nextFloat() * 2 * faultEvery, scheduleFault);
    };
    this.queue.schedule(faultEvery, scheduleFault);
    while (this.queue.runNext(this.faultMs)) {
      // Run the fault phase.
    }
    this.heal();
    const healedAt = this.queue.now;
    const electionTimeoutMs = 2 * electionTicks * tickMs * 1.05;
    const deadline = healedAt + (this.options.livenessElectionTimeouts ?? 10) * electionTimeoutMs;
    const probe = this.probeLiveness(deadline);
    while (this.queue.runNext(deadline + 1500)) {
      // Let clients finish after the probe; their operations time out after clientTimeoutMs.
    }
    if (!probe.committed) {
      throw new SimulationFailure(
        `liveness: no write committed within ${this.options.livenessElectionTimeouts ?? 10} election timeouts after healing`,
      );
    }
    this.stats["liveness.recoveryMs"] = Math.round(probe.at - healedAt);
    return { history: this.history, stats: this.stats, checker: this.checker };
  }

  private heal(): void {
    this.healed = true;
    this.blocked.clear();
    this.dropRate = 0;
    this.duplicateRate = 0;
    for (const node of this.nodes.values()) this.restart(node);
  }

  private probeLiveness(deadline: number): { committed: boolean; at: number } {
    const state = { committed: false, at: 0 };
    let attempt = 0;
    const tryOnce = (): void => {
      if (state.committed || this.queue.now > deadline) return;
      const leader = this.leader();
      const raft = leader?.raft;
      if (leader !== undefined && raft !== null && raft !== undefined) {
        const data = encoder.encode(`probe=${attempt++}`);
        const result = raft.propose(data);
        if (result.ok) {
          const op: Operation = { client: -1, key: "probe", kind: "write", value: `${attempt - 1}`, invoke: this.queue.now, complete: Infinity, outcome: "unknown" };
          leader.pendingWrites.set(result.lastIndex, { op, term: result.term, data });
          const watch = (): void => {
            if (op.outcome === "ok" && !state.committed) {
              state.committed = true;
              state.at = op.complete;
            } else if (op.complete === Infinity && this.queue.now <= deadline) {
              this.queue.schedule(5, watch);
            }
          };
          this.queue.schedule(1, watch);
        }
        this.pump(leader);
      }
      this.queue.schedule(50, tryOnce);
    };
    this.queue.schedule(0, tryOnce);
    while (!state.committed && this.queue.runNext(deadline)) {
      // Run until the probe commits or the deadline passes.
    }
    return state;
  }
}

function decodeState(snapshot: Snapshot): Map<string, string> {
  if (snapshot.data.byteLength === 0) return new Map();
  return new Map(JSON.parse(decoder.decode(snapshot.data)) as [string, string][]);
}
