/**
 * A Jepsen-style fault harness against real clusters of clone processes (issue 6, first part).
 *
 * It starts a cluster of 3 (or 5) nodes formed with `-join`, runs concurrent clients over raw
 * RESP connections, and meanwhile a nemesis kills (SIGKILL) and restarts nodes, pauses them
 * (SIGSTOP, then SIGCONT after 1–3 s), triggers RAFTSNAPSHOT and partitions the network (nodes
 * behind fault-injecting proxies, `partition-proxy.ts`). At the end it heals everything,
 * waits for a leader, reads every key through it and checks the history with each workload's
 * checker (see `workloads.ts`).
 *
 * Clients never retry inside an operation: one command, one reply (or a timeout), one record with
 * invoke and completion times from the test process's monotonic clock (`performance.now()`). Half
 * of them pipeline up to three commands, sent milliseconds or up to 1.5 s apart (`runClient`).
 * After MOVED a client sends its next operation to the leader named; after CLUSTERDOWN, LOADING,
 * a timeout or a dropped connection, to a node chosen at random.
 *
 * Determinism: one seed drives the nemesis plan (what, on whom, when, for how long) and every
 * client's choices; timing of real processes is not reproducible, so a replay reproduces the
 * plan, not the interleaving. The executed schedule (with the leader resolved to a node) is saved
 * and can be replayed exactly with FAULT_SCHEDULE=path/schedule.json.
 *
 * Everything is bounded: the run by its duration, each operation by the reply timeout, each
 * nemesis action by its own duration plus a restart timeout, healing and the final reads by
 * fixed budgets.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CloneProcess } from "../helpers/clone-process.ts";
import { plain, RespConnection, type RespValue } from "../helpers/resp-client.ts";
import {
  classifyError,
  errorText,
  FaultCluster,
  probe,
  probeTimeoutMilliseconds,
  redirectPort,
  replyText,
  sleep,
} from "./cluster.ts";
import { isPartitionAction, Nemesis, type NemesisAction, type NemesisEvent, type NemesisMix, type NemesisStep, planNemesis } from "./nemesis.ts";
import { Random } from "./random.ts";
import { type CheckReport, type HistoryEntry, makeWorkload, type PlannedOperation, type Workload, type WorkloadName } from "./workloads.ts";

// ---------------------------------------------------------------------------------------------
// Limits.

/** How long a client waits for a reply before it records the operation as unknown. Longer than
 * the longest pause, so that a read sent to a paused leader is answered (or refused) after it
 * resumes: that is where a stale read would show. */
export const replyTimeoutMillisecondsDefault = 5_000;
/** How long a client waits to connect. A paused node still accepts (the kernel does). */
const connectTimeoutMilliseconds = 1_000;
/** Pause after a refused operation before the next, so that an election does not become a busy loop. */
const refusedBackoffMilliseconds = 25;
/** How long healing may take to produce a leader that answers. */
const healLeaderTimeoutMilliseconds = 30_000;
/** How long the final reads may take, all keys together. */
const finalReadsTimeoutMilliseconds = 30_000;

export { FaultCluster } from "./cluster.ts";
export type { NemesisAction, NemesisEvent, NemesisMix, NemesisStep } from "./nemesis.ts";

// ---------------------------------------------------------------------------------------------
// Types.

export interface ScenarioOptions {
  name: string;
  seed: number;
  /** 3 or 5. */
  nodes: number;
  durationMs: number;
  clients: number;
  /** Clients are dealt round-robin over these workloads. */
  workloads: WorkloadName[];
  consistency: "low" | "medium" | "high";
  durability: "low" | "medium" | "high";
  /** More flags for every node (e.g. small snapshot thresholds). */
  extraArguments?: string[];
  mix: NemesisMix;
  /** Milliseconds between two nemesis steps, drawn uniformly from [min, max]. */
  gapMs: [number, number];
  /** How long a killed node stays down, a paused node stays paused or a partition lasts, from [min, max]. */
  faultMs: [number, number];
  replyTimeoutMs?: number;
  /** A saved schedule to replay instead of the seeded plan. */
  schedule?: NemesisStep[];
  /**
   * Start the nodes behind partition proxies (`partition-proxy.ts`); on by default when the mix
   * (or the replayed schedule) holds a partition action.
   */
  partitions?: boolean;
  /** Write the artifacts even when there is no violation. */
  keepArtifacts?: boolean;
}

export interface OutcomeCounts {
  ok: number;
  failed: number;
  unknown: number;
}

export interface ScenarioResult {
  name: string;
  seed: number;
  options: ScenarioOptions;
  history: HistoryEntry[];
  schedule: NemesisEvent[];
  finals: Record<string, string | null>;
  counts: OutcomeCounts;
  countsByWorkload: Record<string, OutcomeCounts>;
  /** Operations not sent because no connection could be made. */
  connectFailures: number;
  reports: CheckReport[];
  violations: string[];
  notes: string[];
  artifactDirectory: string | null;
  elapsedMs: number;
  /** How long the checks took. */
  checkMs: number;
}

// ---------------------------------------------------------------------------------------------
// Clients.

class History {
  readonly entries: HistoryEntry[] = [];
  connectFailures = 0;
}

/** A pipelining client sends up to this many commands before it reads their replies. */
const pipelineDepthMax = 3;
/**
 * ... pausing before each further one: mostly briefly, sometimes long enough for an election, so
 * that a later command may reach a node whose role changed while an earlier one waited there.
 */
const pipelinePauseMilliseconds: readonly [number, number] = [0, 30];
const pipelineLongPauseMilliseconds: readonly [number, number] = [300, 1_500];
const pipelineLongPauseChance = 0.1;

/**
 * One client. Clients are dealt to the workloads in rounds (client `i` runs workload `i mod n`);
 * in even rounds a client sends one command and reads its reply before the next, in odd rounds it
 * pipelines (`pipelining`), so that every workload has clients of both kinds whatever the number
 * of workloads: it often sends a second and a third command, each after a short pause, before it
 * reads the replies in order, so that a read can queue behind a write of its own connection that
 * the node is still deciding, perhaps after the node lost leadership (each command is its own
 * operation in the history, from its send to its reply).
 */
async function runClient(
  client: number,
  pipelining: boolean,
  workload: Workload,
  cluster: FaultCluster,
  history: History,
  random: Random,
  deadline: number,
  replyTimeoutMs: number,
): Promise<void> {
  let target = random.int(0, cluster.nodes.length - 1);
  let connection: RespConnection | null = null;
  // The node the connection is to: a membership change may put a new node in the same slot.
  let connectionNode: CloneProcess | null = null;
  let sequence = 0;
  const pickAny = (): void => {
    target = random.int(0, cluster.nodes.length - 1);
  };
  try {
    while (performance.now() < deadline) {
      const node = cluster.nodes[target];
      if (node === undefined) throw new Error(`client ${client}: no node ${target}`);
      if (connection === null || connection.closed || connectionNode !== node) {
        connection?.close(true);
        connection = null;
        try {
          connection = await RespConnection.connect(node.port, node.host, { timeoutMilliseconds: connectTimeoutMilliseconds });
          connectionNode = node;
        } catch {
          // Nothing was sent: not an operation, just a node that is down.
          history.connectFailures++;
          pickAny();
          await sleep(refusedBackoffMilliseconds);
          continue;
        }
      }
      const batch: { entry: HistoryEntry; planned: PlannedOperation }[] = [];
      for (;;) {
        const planned = workload.generate(client, sequence++, random);
        const entry: HistoryEntry = {
          index: history.entries.length,
          client,
          workload: workload.name,
          node: node.name,
          command: planned.command,
          key: planned.key,
          kind: planned.kind,
          value: planned.value,
          reply: "",
          integer: null,
          invoke: performance.now(),
          complete: null,
          outcome: "unknown",
        };
        history.entries.push(entry);
        connection.command(...planned.command);
        batch.push({ entry, planned });
        if (!pipelining || batch.length >= pipelineDepthMax || !random.chance(0.5)) break;
        const [low, high] = random.chance(pipelineLongPauseChance) ? pipelineLongPauseMilliseconds : pipelinePauseMilliseconds;
        await sleep(random.int(low, high));
        if (connection.closed || performance.now() >= deadline) break;
      }
      // Replies in order; after a dropped connection or a timeout, the rest get none (unknown).
      let broken: string | null = null;
      let refused: string | null = null;
      for (const { entry, planned } of batch) {
        if (broken !== null) {
          entry.reply = `no reply: ${broken}`;
          continue;
        }
        let reply: RespValue;
        try {
          reply = await connection.read(replyTimeoutMs);
        } catch (error) {
          broken = error instanceof Error ? error.message : String(error);
          entry.reply = `no reply: ${broken}`;
          continue;
        }
        entry.complete = performance.now();
        const error = errorText(reply);
        entry.reply = replyText(reply);
        if (error !== null) {
          entry.outcome = classifyError(error);
          refused = error;
          continue;
        }
        entry.outcome = "ok";
        const converted = plain(reply);
        if (planned.kind === "read") {
          entry.value = converted === null ? null : String(converted);
        } else if (typeof converted === "number") {
          entry.integer = converted;
        }
      }
      if (broken !== null) {
        connection.close(true);
        connection = null;
        pickAny();
        continue;
      }
      if (refused !== null) {
        // After MOVED, the leader named; else a node at random.
        const port = redirectPort(refused);
        const redirected = port === null ? null : cluster.indexOfPort(port);
        if (redirected !== null) target = redirected;
        else pickAny();
        await sleep(refusedBackoffMilliseconds);
      }
    }
  } finally {
    connection?.close(true);
  }
}

// ---------------------------------------------------------------------------------------------
// Final reads.

async function finalReads(
  cluster: FaultCluster,
  keys: readonly { workload: WorkloadName; key: string; command: string[] }[],
  history: History,
  notes: string[],
): Promise<Map<string, string | null>> {
  const finals = new Map<string, string | null>();
  const deadline = performance.now() + finalReadsTimeoutMilliseconds;
  let leader: number | null = await cluster.waitLeader(healLeaderTimeoutMilliseconds);
  for (const { workload, key, command } of keys) {
    while (performance.now() < deadline && !finals.has(key)) {
      if (leader === null) {
        leader = await cluster.findLeader(probeTimeoutMilliseconds);
        if (leader === null) {
          await sleep(100);
          continue;
        }
      }
      const node = cluster.nodes[leader];
      if (node === undefined) throw new Error(`no node ${leader}`);
      const entry: HistoryEntry = {
        index: history.entries.length,
        client: -1,
        workload,
        node: node.name,
        command,
        key,
        kind: "read",
        value: null,
        reply: "",
        integer: null,
        invoke: performance.now(),
        complete: null,
        outcome: "unknown",
      };
      let reply: RespValue;
      try {
        reply = await probe(node.port, replyTimeoutMillisecondsDefault, ...command);
      } catch (error) {
        entry.reply = `no reply: ${String(error)}`;
        history.entries.push(entry);
        leader = null;
        continue;
      }
      entry.complete = performance.now();
      entry.reply = replyText(reply);
      const error = errorText(reply);
      if (error !== null) {
        entry.outcome = "failed";
        history.entries.push(entry);
        const port = redirectPort(error);
        leader = port === null ? null : cluster.indexOfPort(port);
        await sleep(100);
        continue;
      }
      const converted = plain(reply);
      entry.outcome = "ok";
      entry.value = converted === null ? null : String(converted);
      history.entries.push(entry);
      finals.set(key, entry.value);
    }
    if (!finals.has(key)) notes.push(`no final read of ${key} within ${finalReadsTimeoutMilliseconds} ms`);
  }
  return finals;
}

// ---------------------------------------------------------------------------------------------
// A scenario.

/** How a seed is chosen: FAULT_SEED (a number, or "random"), else the given default. */
export function seedFromEnvironment(fallback: number): number {
  const text = process.env.FAULT_SEED;
  if (text === undefined || text === "") return fallback >>> 0;
  if (text === "random") return (Math.floor(Math.random() * 2 ** 32) >>> 0);
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`FAULT_SEED must be an integer or "random", not ${JSON.stringify(text)}`);
  return seed >>> 0;
}

/** A saved schedule to replay (FAULT_SCHEDULE=path to a schedule.json this harness wrote), or undefined. */
export function scheduleFromEnvironment(): NemesisStep[] | undefined {
  const path = process.env.FAULT_SCHEDULE;
  if (path === undefined || path === "") return undefined;
  const saved = JSON.parse(readFileSync(path, "utf8")) as { events: NemesisEvent[] };
  // Replay exactly: the node that was acted on, not "the leader" again.
  return saved.events.map((event) => ({
    gapMs: event.gapMs,
    action: event.action,
    target: event.node ?? event.target,
    durationMs: event.durationMs,
    // The links a partition cut, with the leader resolved: the same cut on the same nodes.
    ...(event.links === undefined ? {} : { links: event.links }),
  }));
}

/** Runs one scenario from start to verdict. Never throws for a violation; returns it. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const began = performance.now();
  const random = new Random(options.seed);
  const nemesisRandom = random.fork(1_000_000);
  const steps = options.schedule ?? planNemesis(options, nemesisRandom.fork(1));
  const workloads = options.workloads.map(makeWorkload);
  const extraArguments = [
    "-consistency", options.consistency,
    "-durability", options.durability,
    ...(options.extraArguments ?? []),
  ];
  const mixed = (Object.entries(options.mix) as [NemesisAction, number][]).filter(([, weight]) => weight > 0).map(([action]) => action);
  const partitions = options.partitions ?? [...mixed, ...steps.map((step) => step.action)].some(isPartitionAction);
  const cluster = await FaultCluster.start(options.nodes, extraArguments, { partitions });
  const history = new History();
  const notes: string[] = [];
  let schedule: NemesisEvent[] = [];
  let finals = new Map<string, string | null>();
  try {
    const start = performance.now();
    const deadline = start + options.durationMs;
    const replyTimeoutMs = options.replyTimeoutMs ?? replyTimeoutMillisecondsDefault;
    const nemesis = new Nemesis(cluster, steps, start, nemesisRandom.fork(2));
    const clients = Array.from({ length: options.clients }, (_, client) => {
      const workload = workloads[client % workloads.length];
      if (workload === undefined) throw new Error("no workload");
      const pipelining = Math.floor(client / workloads.length) % 2 === 1;
      return runClient(client, pipelining, workload, cluster, history, random.fork(client), deadline, replyTimeoutMs);
    });
    const nemesisDone = nemesis.run(deadline);
    await Promise.all([...clients, nemesisDone]);
    schedule = nemesis.events;
    notes.push(...(await cluster.heal()));
    const keys = workloads.flatMap((workload) => workload.keys.map((key) => ({ workload: workload.name, key, command: workload.finalCommand?.(key) ?? ["GET", key] })));
    finals = await finalReads(cluster, keys, history, notes);
  } catch (error) {
    notes.push(`harness error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }

  const checkStart = performance.now();
  const reports = workloads.map((workload) => workload.check(history.entries, finals));
  const checkMs = Math.round(performance.now() - checkStart);
  const violations = reports.flatMap((report) => report.violations.map((violation) => `[${report.workload}] ${violation}`));
  for (const report of reports) notes.push(...report.notes);
  const harnessFailed = notes.some((note) => note.startsWith("harness error"));
  if (harnessFailed) violations.push(...notes.filter((note) => note.startsWith("harness error")));
  violations.push(...nodeFindings(cluster, schedule, notes));

  const counts: OutcomeCounts = { ok: 0, failed: 0, unknown: 0 };
  const countsByWorkload: Record<string, OutcomeCounts> = {};
  for (const entry of history.entries) {
    if (entry.client < 0) continue;
    counts[entry.outcome]++;
    const byWorkload = (countsByWorkload[entry.workload] ??= { ok: 0, failed: 0, unknown: 0 });
    byWorkload[entry.outcome]++;
  }
  const result: ScenarioResult = {
    name: options.name,
    seed: options.seed,
    options,
    history: history.entries,
    schedule,
    finals: Object.fromEntries(finals),
    counts,
    countsByWorkload,
    connectFailures: history.connectFailures,
    reports,
    violations,
    notes,
    artifactDirectory: null,
    elapsedMs: Math.round(performance.now() - began),
    checkMs,
  };
  if (violations.length > 0 || options.keepArtifacts === true) {
    result.artifactDirectory = saveArtifacts(result, cluster);
  }
  await cluster.destroy();
  return result;
}

/** Log lines that mean a node broke, not merely that it was faulted. */
const brokenNodePatterns = [/Raft node stopped/, /is corrupt/, /assertion/i, /uncaught/i, /panic/i];
/** What a member removed on purpose logs (README: a removed node says so and serves nothing). */
const removedNodePattern = /This node was removed from the cluster|Raft node stopped: this node was removed from the cluster/;

/**
 * A node that cannot come back after a kill (or whose Raft node stopped on an internal error) is
 * a finding even when every history check passes: the README promises that a process crash loses
 * nothing acknowledged and that a restarted member rejoins by itself.
 */
function nodeFindings(cluster: FaultCluster, schedule: readonly NemesisEvent[], notes: readonly string[]): string[] {
  const findings: string[] = [];
  for (const event of schedule) {
    if (event.note.includes("restart failed")) findings.push(`[node] ${event.nodeName ?? "?"} did not restart after ${event.action}: ${firstLines(event.note, 2)}`);
  }
  for (const note of notes) if (note.startsWith("could not restart")) findings.push(`[node] ${firstLines(note, 2)}`);
  // A membership that does not come back whole: a fresh node that never joins or is never
  // promoted, or a member that should be out and is not (README: "joins as a learner, promoted
  // once caught up").
  for (const note of notes) {
    if (note.startsWith("membership did not converge") || note.startsWith("could not fill")) findings.push(`[membership] ${firstLines(note, 2)}`);
  }
  for (const node of cluster.nodes) {
    const lines = node.log().split("\n").filter((line) => brokenNodePatterns.some((pattern) => pattern.test(line)));
    for (const line of lines.slice(0, 5)) findings.push(`[node] ${node.name} logged: ${line}`);
  }
  // Nodes removed on purpose: saying that they were removed is expected, anything else is not.
  for (const node of cluster.retired) {
    const lines = node
      .log()
      .split("\n")
      .filter((line) => !removedNodePattern.test(line) && brokenNodePatterns.some((pattern) => pattern.test(line)));
    for (const line of lines.slice(0, 5)) findings.push(`[node] ${node.name} (removed) logged: ${line}`);
  }
  return findings;
}

function firstLines(text: string, count: number): string {
  return text.split("\n").slice(0, count).join(" / ");
}

/** The command line that replays a run's plan (and, with FAULT_SCHEDULE, its exact schedule). */
export function replayCommand(result: ScenarioResult, schedulePath?: string): string {
  const schedule = schedulePath === undefined ? "" : ` FAULT_SCHEDULE=${schedulePath}`;
  // The environment that changed the scenario's shape, so that the replay runs the same cluster.
  const nodes = result.options.nodes === 3 ? "" : ` FAULT_NODES=${result.options.nodes}`;
  const durability = (process.env.FAULT_DURABILITY ?? "") === "" ? "" : ` FAULT_DURABILITY=${result.options.durability}`;
  return `FAULT_SEED=${result.seed}${schedule}${nodes}${durability} bun test test/faults/faults.test.ts -t ${JSON.stringify(result.name)}`;
}

function saveArtifacts(result: ScenarioResult, cluster: FaultCluster): string {
  const safeName = result.name.replace(/[^a-zA-Z0-9-]+/g, "-");
  const directory = mkdtempSync(join(tmpdir(), `finn-faults-${safeName}-seed${result.seed}-`));
  mkdirSync(directory, { recursive: true });
  const schedulePath = join(directory, "schedule.json");
  writeFileSync(join(directory, "history.json"), JSON.stringify(result.history, null, 1));
  writeFileSync(schedulePath, JSON.stringify({ seed: result.seed, options: result.options, events: result.schedule }, null, 2));
  writeFileSync(join(directory, "finals.json"), JSON.stringify(result.finals, null, 2));
  for (const node of cluster.nodes) {
    writeFileSync(join(directory, `${node.name}.log`), `${node.name} port ${node.port} dir ${node.dir}\n${node.log()}`);
  }
  // Nodes that membership changes removed (their data directories were wiped with the change).
  for (const node of cluster.retired) {
    writeFileSync(join(directory, `${node.name}.log`), `${node.name} (removed from the cluster) port ${node.port} dir ${node.dir}\n${node.log()}`);
  }
  if (result.violations.length > 0) {
    // The data directories too (LMDB files are sparse: copy them sparse), before cleanup removes them.
    for (const node of cluster.nodes) {
      const copy = Bun.spawnSync(["cp", "-a", "--sparse=always", node.dir, join(directory, `${node.name}-data`)]);
      if (copy.exitCode !== 0) result.notes.push(`could not copy ${node.dir}: ${copy.stderr.toString()}`);
    }
  }
  const summary = [
    `scenario: ${result.name}`,
    `seed: ${result.seed}`,
    `replay the plan: ${replayCommand(result)}`,
    `replay the exact schedule: ${replayCommand(result, schedulePath)}`,
    `operations: ${JSON.stringify(result.counts)} (connect failures ${result.connectFailures})`,
    `nodes: ${cluster.nodes.map((node) => `${node.name}=${node.port}`).join(" ")}${cluster.retired.length === 0 ? "" : `; removed: ${cluster.retired.map((node) => `${node.name}=${node.port}`).join(" ")}`}`,
    "",
    "violations:",
    ...result.violations,
    "",
    "notes:",
    ...result.notes,
    "",
    "schedule:",
    ...result.schedule.map((event) => `  +${event.startedAt}..${event.endedAt} ms ${event.action} ${event.nodeName ?? "-"}: ${event.note}`),
  ].join("\n");
  writeFileSync(join(directory, "summary.txt"), `${summary}\n`);
  return directory;
}

/** A one-paragraph summary for the test output. */
export function summarize(result: ScenarioResult): string {
  const lines = [
    `${result.name} (seed ${result.seed}, ${(result.elapsedMs / 1000).toFixed(1)} s, checks ${(result.checkMs / 1000).toFixed(1)} s): ${result.history.filter((entry) => entry.client >= 0).length} operations, ok ${result.counts.ok}, failed ${result.counts.failed}, unknown ${result.counts.unknown}, connect failures ${result.connectFailures}; nemesis: ${result.schedule.map((event) => `${event.action}@${event.nodeName ?? "-"}`).join(", ") || "none"}; violations: ${result.violations.length}`,
  ];
  if (result.artifactDirectory !== null) {
    lines.push(`artifacts: ${result.artifactDirectory}`);
    lines.push(`replay: ${replayCommand(result)}   (exact schedule: add FAULT_SCHEDULE=${join(result.artifactDirectory, "schedule.json")})`);
  }
  for (const violation of result.violations.slice(0, 10)) lines.push(`  VIOLATION ${violation}`);
  for (const note of result.notes) if (!note.startsWith("SIGCONT") && !note.startsWith("restarted")) lines.push(`  note: ${note}`);
  return lines.join("\n");
}
