/**
 * The nemesis of the fault harness: a seeded plan of steps (kill -9 and restart, SIGSTOP and
 * SIGCONT, RAFTSNAPSHOT, network partitions, membership changes; on the leader, a follower or a
 * random node) and the loop that carries it out against a `FaultCluster`, one fault at a time,
 * each ending by the run's deadline (a membership change finishes what it began: the fresh member
 * is started and waited for, within `membershipTimeoutMilliseconds`).
 */
import { type FaultCluster, probe, probeTimeoutMilliseconds, replyText, restartTimeoutMilliseconds, sleep, withTimeout } from "./cluster.ts";
import { describeLinks, isolateLinks, type Link, outgoingLinks, splitLinks } from "./partition-proxy.ts";
import type { Random } from "./random.ts";

export type NemesisAction =
  | "kill-leader"
  | "kill-random"
  | "kill-minority"
  | "kill-all"
  | "pause-minority"
  | "pause-leader"
  | "pause-random"
  | "snapshot"
  | "partition-random"
  | "partition-leader"
  | "partition-halves"
  | "partition-oneway"
  | "member-remove-add"
  | "member-replace"
  | "member-remove-leader";

/** The membership changes: RAFTREMOVEPEER through the leader, then a fresh member with -join. */
export const membershipActions: readonly NemesisAction[] = ["member-remove-add", "member-replace", "member-remove-leader"];

export function isMembershipAction(action: NemesisAction): boolean {
  return membershipActions.includes(action);
}

/** The actions that cut links (they need a cluster started with partition proxies). */
export const partitionActions: readonly NemesisAction[] = ["partition-random", "partition-leader", "partition-halves", "partition-oneway"];

export function isPartitionAction(action: NemesisAction): boolean {
  return partitionActions.includes(action);
}

/** Relative weights of the nemesis actions; absent means never. */
export type NemesisMix = Partial<Record<NemesisAction, number>>;

/** One planned nemesis step: wait `gapMs`, then act on `target` for `durationMs`. */
export interface NemesisStep {
  gapMs: number;
  action: NemesisAction;
  /**
   * "leader" and "follower" (a random one) are resolved when the step runs; a number is a node
   * index (0-based).
   */
  target: "leader" | "follower" | "random" | number;
  /**
   * How long the node stays down or paused, or the partition lasts; for a membership change, how
   * long the slot stays empty between the removal and the fresh node's start.
   */
  durationMs: number;
  /**
   * For partitions, the directed links cut (`[from, to]`, node indexes), when known in advance:
   * planned for halves and for a one-way cut of a random link, resolved when the step runs for
   * the others (and then saved in the schedule, so that a replay cuts the same links).
   */
  links?: Link[];
  /** For kill-minority, kill-all and pause-minority: the nodes acted on together (planned). */
  group?: number[];
}

/** One executed nemesis step, as saved in schedule.json. */
export interface NemesisEvent extends NemesisStep {
  /** The node acted on (0-based index), or null when none could be chosen. */
  node: number | null;
  nodeName: string | null;
  startedAt: number;
  endedAt: number;
  note: string;
}

/** What a plan depends on. */
export interface NemesisPlanOptions {
  nodes: number;
  durationMs: number;
  mix: NemesisMix;
  /** Milliseconds between two steps, drawn uniformly from [min, max]. */
  gapMs: [number, number];
  /** How long a killed node stays down, a paused node stays paused or a partition lasts, from [min, max]. */
  faultMs: [number, number];
}

/**
 * The seeded plan of nemesis steps for a run of `durationMs`. Actions are dealt from a shuffled
 * deck holding each action as many times as its weight, so that every action of the mix shows up
 * in a short run (independent draws often leave one out).
 */
export function planNemesis(options: NemesisPlanOptions, random: Random): NemesisStep[] {
  const fullDeck: NemesisAction[] = [];
  for (const [action, weight] of Object.entries(options.mix) as [NemesisAction, number][]) {
    for (let i = 0; i < weight; i++) fullDeck.push(action);
  }
  const steps: NemesisStep[] = [];
  if (fullDeck.length === 0) return steps;
  let deck: NemesisAction[] = [];
  let elapsed = 0;
  // Bounded: each step takes at least the minimum gap, and the plan never exceeds the duration.
  const stepsMax = Math.ceil(options.durationMs / Math.max(1, options.gapMs[0])) + 1;
  while (steps.length < stepsMax) {
    if (deck.length === 0) deck = shuffle(fullDeck, random);
    const action = deck.pop() ?? "snapshot";
    const gapMs = random.int(options.gapMs[0], options.gapMs[1]);
    const durationMs = random.int(options.faultMs[0], options.faultMs[1]);
    const targetIndex = random.int(0, options.nodes - 1);
    let target: NemesisStep["target"] = action.endsWith("-leader") ? "leader" : action === "member-remove-add" ? "follower" : targetIndex;
    // Partition shapes drawn now; the draws happen only for partition actions, so the plans of
    // mixes without them are what they were before partitions existed.
    let links: Link[] | undefined;
    if (action === "partition-halves") {
      const minority = shuffle(Array.from({ length: options.nodes }, (_, i) => i), random).slice(0, Math.floor(options.nodes / 2));
      links = splitLinks(minority, options.nodes);
      target = minority[0] ?? targetIndex;
    } else if (action === "partition-oneway") {
      if (random.chance(0.5)) {
        target = "leader"; // every link out of the leader, resolved when the step runs
      } else {
        const to = (targetIndex + random.int(1, options.nodes - 1)) % options.nodes;
        links = [[targetIndex, to]];
      }
    }
    // Group shapes drawn now too, and only for group actions (earlier seeds keep their plans).
    let group: number[] | undefined;
    if (action === "kill-all") group = Array.from({ length: options.nodes }, (_, i) => i);
    else if (action === "kill-minority" || action === "pause-minority") {
      group = shuffle(Array.from({ length: options.nodes }, (_, i) => i), random).slice(0, Math.floor((options.nodes - 1) / 2));
      target = group[0] ?? targetIndex;
    }
    elapsed += gapMs + (action === "snapshot" ? 0 : durationMs);
    if (elapsed > options.durationMs) break;
    steps.push({ gapMs, action, target, durationMs, ...(links === undefined ? {} : { links }), ...(group === undefined ? {} : { group }) });
  }
  return steps;
}

/** A shuffled copy (Fisher–Yates). */
function shuffle<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    const item = copy[i] as T;
    copy[i] = copy[j] as T;
    copy[j] = item;
  }
  return copy;
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];

  constructor(
    private readonly cluster: FaultCluster,
    private readonly steps: readonly NemesisStep[],
    private readonly start: number,
    private readonly random: Random,
  ) {}

  async run(deadline: number): Promise<void> {
    for (const step of this.steps) {
      await sleep(Math.min(step.gapMs, deadline - performance.now()));
      if (performance.now() >= deadline) return;
      await this.act(step, deadline);
    }
  }

  /** Kills (and restarts) or pauses (and resumes) several nodes at once: a minority, or all. */
  private async actOnGroup(step: NemesisStep, group: readonly number[], deadline: number, startedAt: number): Promise<void> {
    const members = group.filter((index) => this.cluster.reachable(index));
    const names = members.map((index) => this.cluster.nodes[index]?.name ?? String(index));
    if (members.length === 0) {
      this.record(step, null, startedAt, "skipped: every node of the group is down or paused");
      return;
    }
    const faultMs = Math.max(0, Math.min(step.durationMs, deadline - performance.now()));
    let note = "";
    if (step.action === "pause-minority") {
      for (const index of members) {
        this.cluster.paused.add(index);
        this.cluster.nodes[index]?.kill("SIGSTOP");
      }
      await sleep(faultMs);
      for (const index of members) {
        this.cluster.nodes[index]?.kill("SIGCONT");
        this.cluster.paused.delete(index);
      }
      note = `paused ${names.join(", ")} for ${faultMs} ms`;
    } else {
      const clones = members.map((index) => this.cluster.nodes[index]).filter((clone) => clone !== undefined);
      for (const clone of clones) clone.kill("SIGKILL");
      await Promise.all(clones.map((clone) => withTimeout(clone.exited(), 5_000, `${clone.name} to exit after SIGKILL`).catch(() => {})));
      await sleep(faultMs);
      const restarts = await Promise.allSettled(clones.map((clone) => withTimeout(clone.restart(), restartTimeoutMilliseconds, `restart of ${clone.name}`)));
      const failed = restarts.filter((result) => result.status === "rejected").length;
      note = `killed ${names.join(", ")} for ${faultMs} ms, restarted${failed > 0 ? ` (${failed} restarts failed; healing retries)` : ""}`;
    }
    this.record(step, members[0] ?? null, startedAt, note);
  }

  private async act(step: NemesisStep, deadline: number): Promise<void> {
    const startedAt = performance.now() - this.start;
    let node: number | null = null;
    let note = "";
    if (typeof step.target === "number") {
      node = step.target;
    } else if (step.target === "leader") {
      node = await this.cluster.findLeader(probeTimeoutMilliseconds);
      if (node === null) note = "no leader found; ";
    } else if (step.target === "follower") {
      const leader = await this.cluster.findLeader(probeTimeoutMilliseconds);
      const followers = this.cluster.nodes.map((_, index) => index).filter((index) => index !== leader && this.cluster.reachable(index));
      node = leader === null || followers.length === 0 ? null : this.random.pick(followers);
      if (node === null) note = leader === null ? "no leader found; " : "no follower reachable; ";
    } else {
      node = this.random.int(0, this.cluster.nodes.length - 1);
    }
    const clone = node === null ? undefined : this.cluster.nodes[node];
    if (clone === undefined || node === null) {
      this.record(step, null, startedAt, `${note}skipped`);
      return;
    }
    if (isPartitionAction(step.action)) {
      await this.partition(step, node, deadline, startedAt, note);
      return;
    }
    if (step.group !== undefined) {
      await this.actOnGroup(step, step.group, deadline, startedAt);
      return;
    }
    if (!this.cluster.reachable(node)) {
      this.record(step, node, startedAt, `${note}skipped: ${clone.name} is down or paused`);
      return;
    }
    // A fault ends by the run's deadline at the latest, so that healing starts on time.
    const faultMs = Math.max(0, Math.min(step.durationMs, deadline - performance.now()));
    switch (step.action) {
      case "kill-leader":
      case "kill-random": {
        clone.kill("SIGKILL");
        await withTimeout(clone.exited(), 5_000, `${clone.name} to exit after SIGKILL`).catch((error: unknown) => {
          note += `${String(error)}; `;
        });
        await sleep(faultMs);
        try {
          await withTimeout(clone.restart(), restartTimeoutMilliseconds, `restart of ${clone.name}`);
          note += `killed for ${faultMs} ms, restarted`;
        } catch (error) {
          note += `killed for ${faultMs} ms; restart failed: ${String(error)}`;
        }
        break;
      }
      case "pause-leader":
      case "pause-random": {
        this.cluster.paused.add(node);
        clone.kill("SIGSTOP");
        await sleep(faultMs);
        clone.kill("SIGCONT");
        this.cluster.paused.delete(node);
        note += `paused for ${faultMs} ms`;
        break;
      }
      case "member-remove-add":
      case "member-replace":
      case "member-remove-leader": {
        // Not bounded by the run's deadline: a change that removed a member also brings a fresh
        // one in (bounded by membershipTimeoutMilliseconds), so that healing starts from a whole
        // cluster; only the time the slot stays empty is.
        note += await this.cluster.replaceMember(node, { newAddress: step.action === "member-replace", downMs: faultMs });
        break;
      }
      case "snapshot": {
        try {
          note += `RAFTSNAPSHOT -> ${replyText(await probe(clone.port, 5_000, "RAFTSNAPSHOT"))}`;
        } catch (error) {
          note += `RAFTSNAPSHOT failed: ${String(error)}`;
        }
        break;
      }
    }
    // The node acted on (a membership change put a fresh one in its slot since).
    this.record(step, node, startedAt, note, clone.name);
  }

  /**
   * Cuts the step's links (planned, or computed from `node`: every link to and from it, or every
   * link out of it for a one-way cut of the leader), waits the fault time, heals.
   */
  private async partition(step: NemesisStep, node: number, deadline: number, startedAt: number, note: string): Promise<void> {
    const network = this.cluster.network;
    if (network === null) {
      this.record(step, node, startedAt, `${note}skipped: the cluster has no partition proxies`);
      return;
    }
    const size = this.cluster.nodes.length;
    const links = step.links ?? (step.action === "partition-oneway" ? outgoingLinks(node, size) : isolateLinks(node, size));
    const faultMs = Math.max(0, Math.min(step.durationMs, deadline - performance.now()));
    const before = network.totals();
    this.cluster.cut(links);
    await sleep(faultMs);
    const reset = network.heal();
    const after = network.totals();
    const names = (index: number): string => this.cluster.nodes[index]?.name ?? String(index);
    note += `cut ${describeLinks(links, names)} for ${faultMs} ms: ${after.blackholedConnections - before.blackholedConnections} connections black-holed, ${after.droppedBytes - before.droppedBytes} bytes dropped, ${reset} reset on heal`;
    this.record({ ...step, links }, node, startedAt, note);
  }

  private record(step: NemesisStep, node: number | null, startedAt: number, note: string, name?: string): void {
    this.events.push({
      ...step,
      node,
      nodeName: name ?? (node === null ? null : (this.cluster.nodes[node]?.name ?? null)),
      startedAt: Math.round(startedAt),
      endedAt: Math.round(performance.now() - this.start),
      note,
    });
  }
}
