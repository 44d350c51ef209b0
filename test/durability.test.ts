/**
 * Durability of a single node across crashes and restarts, per log backend (issue 4):
 *
 * - `kill -9` (SIGKILL to the process group) at a random moment of a burst of INCRs at High
 *   durability: after a restart on the same directory, every counter is at least its highest
 *   acknowledged value (nothing acknowledged lost) and at most acknowledged + in flight (nothing
 *   applied twice: INCR is not idempotent, so a replayed or double-applied entry shows as too high).
 * - the same with frequent snapshots, killing while a snapshot file is being written, and right
 *   after one was renamed into place (when the node records it and compacts the log behind it).
 * - a restart with a large log and a snapshot serves the same data (start-up time is logged).
 * - at Medium durability, a graceful stop (SIGTERM) during a burst loses nothing acknowledged.
 * - after every restart above, the counters read at once agree with the counters read once the
 *   whole log is committed: no read is served before the new term's first entry has committed the
 *   previous term's tail (Raft thesis §6.4).
 *
 * CI runs a few rounds per case; `DURABILITY_ROUNDS=N` runs N rounds per case for long runs.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventually } from "./helpers/eventually.ts";
import { CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import {
  call,
  counterValue,
  getMany,
  pipelinedSets,
  pollUntil,
  raftStats,
  snapshotFiles,
  startIncrementBurst,
  statNumber,
  type CounterRecord,
} from "./durability/workload.ts";

const roundsFromEnvironment = Number(process.env.DURABILITY_ROUNDS ?? "");
/** Kill-and-restart rounds per case: 3 in CI, more with DURABILITY_ROUNDS. */
const rounds = Number.isInteger(roundsFromEnvironment) && roundsFromEnvironment > 0 ? roundsFromEnvironment : 3;

// A round takes a few seconds (a start, a burst, a kill, a restart); a hang, not slowness, should fail a test.
setDefaultTimeout(120_000 + rounds * 30_000);

/** Concurrent INCR clients, each on its own counter. */
const clientCount = 4;
/** Each client pipelines 1 to this many INCRs before it reads their replies. */
const batchMax = 4;
/** Keys written before the rounds, so that snapshots have some size and every restart must bring them back. */
const fillerKeys = 2_000;
const fillerValue = (i: number): string => `filler-${i}-${"x".repeat(200)}`;
const fillerKey = (i: number): string => `filler:${i}`;
/** Log entries (one SET each) in the large-log restart test. */
const largeLogEntries = 50_000;

const backends = ["lmdb", "memory"] as const;
type Backend = (typeof backends)[number];

const started: CloneProcess[] = [];

/** What the reads right after each restart saw, against the reads once the log was committed (see readAfterRestart). */
interface RestartReads {
  round: string;
  first: number[];
  settled: number[];
  firstStats: Record<string, number | string>;
}
const restartReads: RestartReads[] = [];

afterAll(async () => {
  await cleanupAll(started);
});

async function startNode(name: string, backend: Backend, extra: readonly string[]): Promise<CloneProcess> {
  const clone = await CloneProcess.start({ name, extraArguments: ["-backend", backend, ...extra] });
  started.push(clone);
  return clone;
}

function failWithLog(clone: CloneProcess, message: string): never {
  throw new Error(`${message}\n--- ${clone.name} log (tail) ---\n${clone.log().slice(-6_000)}`);
}

/**
 * Reads every counter twice after a restart: at once, as a client that connects first would
 * (`first`, with RAFTSTATS just before), and again once the node has committed and applied its
 * whole log (`settled`: commit_index = last_log_index = applied_index, so the entries of the
 * previous term that were on disk but not yet known committed have been committed by the new
 * term's first entry). No client writes in between, so the two must agree.
 */
async function readAfterRestart(
  clone: CloneProcess,
  records: readonly CounterRecord[],
): Promise<{ first: number[]; settled: number[]; firstStats: Record<string, number | string> }> {
  const firstStats = await raftStats(clone);
  const first: number[] = [];
  for (const record of records) first.push(await counterValue(clone, record.key));
  await eventually(
    "the whole log to be committed and applied",
    () => raftStats(clone),
    (stats) => stats.commit_index === stats.last_log_index && stats.applied_index === stats.commit_index,
  );
  const settled: number[] = [];
  for (const record of records) settled.push(await counterValue(clone, record.key));
  return { first, settled, firstStats };
}

/** Checks every counter against what its client saw: acknowledged <= applied <= sent. Returns the values. */
async function checkCounters(clone: CloneProcess, records: readonly CounterRecord[], round: string): Promise<number[]> {
  const { first, settled, firstStats } = await readAfterRestart(clone, records);
  const values: number[] = [];
  for (const [i, record] of records.entries()) {
    if (record.violation !== null) failWithLog(clone, `${round}: ${record.violation}`);
    const value = settled[i] ?? Number.NaN;
    const lowest = record.start + record.acknowledged;
    const highest = record.start + record.sent;
    if (!(value >= lowest && value <= highest)) {
      failWithLog(
        clone,
        `${round}: ${record.key} = ${value} after the restart; it started the round at ${record.start}, ` +
          `${record.acknowledged} INCRs were acknowledged and ${record.sent} sent, so it must be in [${lowest}, ${highest}]` +
          (value < lowest ? " (an acknowledged increment was lost)" : " (an increment was applied twice)"),
      );
    }
    values.push(value);
  }
  restartReads.push({ round, first, settled, firstStats });
  return values;
}

/** The filler keys are all back, with their values (checked on a sample of 200 and by DBSIZE). */
async function checkFiller(clone: CloneProcess, extraKeys: number, round: string): Promise<void> {
  const size = await call(clone, "DBSIZE");
  if (size !== fillerKeys + extraKeys) failWithLog(clone, `${round}: DBSIZE is ${JSON.stringify(size)}, expected ${fillerKeys + extraKeys}`);
  const sample = Array.from({ length: 200 }, () => Math.floor(Math.random() * fillerKeys));
  const values = await getMany(clone, sample.map(fillerKey));
  expect(values).toEqual(sample.map(fillerValue));
}

/** RAFTSTATS after a restart: applied up to the commit, and never a snapshot beyond what was applied. */
async function checkStats(clone: CloneProcess, round: string): Promise<Record<string, number | string>> {
  const stats = await raftStats(clone);
  const applied = statNumber(stats, "applied_index");
  const commit = statNumber(stats, "commit_index");
  const snapshot = statNumber(stats, "last_snapshot_index");
  const last = statNumber(stats, "last_log_index");
  if (!(snapshot <= applied && applied <= commit && commit <= last)) {
    failWithLog(clone, `${round}: RAFTSTATS out of order: ${JSON.stringify(stats)} (want last_snapshot_index <= applied_index <= commit_index <= last_log_index)`);
  }
  return stats;
}

type KillMoment = "random" | "snapshot-writing" | "snapshot-written";

interface RoundReport {
  round: number;
  acknowledged: number;
  sent: number;
  caught: boolean;
  temporaryLeftAfterKill: number;
  restartMilliseconds: number;
  snapshotIndex: number;
  appliedIndex: number;
}

/**
 * Runs `rounds` rounds on one node: a burst of INCRs, a SIGKILL at `moment`, a restart on the same
 * directory and port, and the checks. `moment` is when the kill is sent:
 * - "random": once a random number (100 to 1,500) of INCRs has been acknowledged;
 * - "snapshot-writing": as soon as a snapshot `.tmp` file is seen (the node is writing a snapshot);
 * - "snapshot-written": as soon as a new `.snap` file is seen (the node records it and compacts).
 * The kill lands on a moment that polling saw, so it may land a little later; each round says
 * whether the moment was seen at all and whether a `.tmp` file was left behind by the kill.
 */
async function killRounds(backend: Backend, moment: KillMoment, extra: readonly string[]): Promise<RoundReport[]> {
  const clone = await startNode(`${backend}-${moment}`, backend, ["-durability", "high", ...extra]);
  await pipelinedSets(clone, fillerKey, fillerValue, 0, fillerKeys);
  let counters = Array.from({ length: clientCount }, () => 0);
  const reports: RoundReport[] = [];
  for (let round = 1; round <= rounds; round++) {
    const label = `${backend}/${moment} round ${round}`;
    let signalled = false;
    const before = snapshotFiles(clone.dir).complete;
    const burst = await startIncrementBurst(clone, "counter:", counters, batchMax, () => signalled);
    let caught: boolean;
    if (moment === "random") {
      const target = 100 + Math.floor(Math.random() * 1_400);
      caught = await pollUntil(() => burst.acknowledgedTotal() >= target, 30_000);
    } else if (moment === "snapshot-writing") {
      // Let the burst run a little first, so that the kill does not always hit the first snapshot.
      const warmup = Math.floor(Math.random() * 2_000);
      await pollUntil(() => burst.acknowledgedTotal() >= warmup, 30_000);
      caught = await pollUntil(() => snapshotFiles(clone.dir).temporary.length > 0, 15_000);
    } else {
      const warmup = Math.floor(Math.random() * 2_000);
      await pollUntil(() => burst.acknowledgedTotal() >= warmup, 30_000);
      const seen = new Set(snapshotFiles(clone.dir).complete);
      caught = await pollUntil(() => snapshotFiles(clone.dir).complete.some((name) => !seen.has(name)), 15_000);
    }
    signalled = true;
    clone.kill("SIGKILL");
    const exit = await clone.exited();
    expect(exit).toBe("SIGKILL");
    await burst.finished;
    const temporaryLeftAfterKill = snapshotFiles(clone.dir).temporary.length;
    const restartStarted = performance.now();
    await clone.restart();
    const restartMilliseconds = performance.now() - restartStarted;
    counters = await checkCounters(clone, burst.records, label);
    const stats = await checkStats(clone, label);
    await checkFiller(clone, counters.filter((value) => value > 0).length, label);
    // No stray temporary snapshot survives a start. The node may be writing a new snapshot now
    // (replaying the log after the restart crossed the snapshot period): that one goes once it is
    // written, a stray one never does.
    await pollUntil(() => snapshotFiles(clone.dir).temporary.length === 0, 15_000);
    expect(snapshotFiles(clone.dir).temporary).toEqual([]);
    const report: RoundReport = {
      round,
      acknowledged: burst.acknowledgedTotal(),
      sent: burst.records.reduce((sum, record) => sum + record.sent, 0),
      caught,
      temporaryLeftAfterKill,
      restartMilliseconds: Math.round(restartMilliseconds),
      snapshotIndex: statNumber(stats, "last_snapshot_index"),
      appliedIndex: statNumber(stats, "applied_index"),
    };
    reports.push(report);
    console.log(`durability ${label}: ${JSON.stringify(report)} (snapshots before: ${before.length})`);
  }
  await clone.cleanup();
  return reports;
}

for (const backend of backends) {
  describe(`${backend} backend`, () => {
    test("kill -9 at a random moment of an INCR burst at High durability: nothing acknowledged lost, nothing applied twice", async () => {
      const reports = await killRounds(backend, "random", []);
      expect(reports.length).toBe(rounds);
      // Every round really crashed a node that was acknowledging writes.
      for (const report of reports) expect(report.acknowledged).toBeGreaterThan(0);
    });

    test("kill -9 while a snapshot is being written (a snapshot every 200 entries): counters exact, snapshot <= applied, data intact", async () => {
      const reports = await killRounds(backend, "snapshot-writing", ["-snapshot-entries", "200", "-snapshot-trail", "50"]);
      expect(reports.length).toBe(rounds);
      // Snapshots really were taken during the rounds, and the node restarts from one.
      for (const report of reports) expect(report.acknowledged).toBeGreaterThan(0);
      expect(reports.some((report) => report.snapshotIndex > 0)).toBe(true);
      console.log(
        `durability ${backend}: kills while a snapshot .tmp existed: ${reports.filter((report) => report.caught).length}/${rounds}; ` +
          `.tmp left by the kill: ${reports.filter((report) => report.temporaryLeftAfterKill > 0).length}/${rounds}`,
      );
    });

    test("kill -9 right after a snapshot file lands, while the log is compacted behind it: counters exact, snapshot <= applied, data intact", async () => {
      const reports = await killRounds(backend, "snapshot-written", ["-snapshot-entries", "200", "-snapshot-trail", "50"]);
      expect(reports.length).toBe(rounds);
      for (const report of reports) expect(report.acknowledged).toBeGreaterThan(0);
      // The kill followed a new snapshot in at least one round, so the restart used a compacted log.
      expect(reports.some((report) => report.caught && report.snapshotIndex > 0)).toBe(true);
    });

    test(`a node with a large log (${largeLogEntries.toLocaleString("en")} entries) and a snapshot restarts with the same data`, async () => {
      // Medium durability and one connection sending one SET at a time: every SET arrives in its
      // own event-loop turn and becomes its own log entry (pipelined SETs would be packed many to
      // an entry), and the run stays short. The stop is graceful, which flushes the log.
      const clone = await startNode(`${backend}-large`, backend, ["-durability", "medium"]);
      const key = (i: number): string => `key:${i}`;
      const half = largeLogEntries / 2;
      // First half, then a snapshot, then a second half that overwrites half of the first and adds as many new keys.
      await pipelinedSets(clone, key, (i) => `first-${i}`, 0, half, 1, 1);
      expect(await call(clone, "RAFTSNAPSHOT")).toBe("OK");
      const snapshotIndex = statNumber(await raftStats(clone), "last_snapshot_index");
      expect(snapshotIndex).toBeGreaterThanOrEqual(half);
      await pipelinedSets(clone, key, (i) => `second-${i}`, half / 2, half / 2 + half, 1, 1);
      const expectedKeys = half / 2 + half;
      expect(await call(clone, "DBSIZE")).toBe(expectedKeys);
      const beforeStats = await raftStats(clone);
      expect(statNumber(beforeStats, "last_log_index")).toBeGreaterThanOrEqual(largeLogEntries);
      const sample = Array.from({ length: 1_000 }, () => Math.floor(Math.random() * expectedKeys));
      const before = await getMany(clone, sample.map(key));
      expect(before).toEqual(sample.map((i) => (i < half / 2 ? `first-${i}` : `second-${i}`)));

      expect(await clone.stop()).toBe(0);
      const restartStarted = performance.now();
      await clone.restart();
      const restartMilliseconds = performance.now() - restartStarted;

      expect(await call(clone, "DBSIZE")).toBe(expectedKeys);
      expect(await getMany(clone, sample.map(key))).toEqual(before);
      const afterStats = await checkStats(clone, `${backend} large log`);
      expect(statNumber(afterStats, "last_snapshot_index")).toBe(snapshotIndex);
      expect(statNumber(afterStats, "applied_index")).toBeGreaterThanOrEqual(statNumber(beforeStats, "applied_index"));
      // The restart loaded the snapshot (and replayed the log after it: the sample above holds second-half values).
      expect(clone.log()).toContain(`Loaded the snapshot at index ${snapshotIndex}`);
      console.log(
        `durability ${backend}: restart with ${statNumber(beforeStats, "last_log_index")} log entries ` +
          `(snapshot at ${snapshotIndex}, ${half} SETs after it) took ${Math.round(restartMilliseconds)} ms until PING answered`,
      );
      await clone.cleanup();
    });

    test("Medium durability: SIGTERM during an INCR burst, then a restart, loses nothing acknowledged", async () => {
      const clone = await startNode(`${backend}-medium`, backend, ["-durability", "medium"]);
      let counters = Array.from({ length: clientCount }, () => 0);
      for (let round = 1; round <= rounds; round++) {
        const label = `${backend}/medium-sigterm round ${round}`;
        let signalled = false;
        const burst = await startIncrementBurst(clone, "counter:", counters, batchMax, () => signalled);
        const target = 200 + Math.floor(Math.random() * 2_000);
        await pollUntil(() => burst.acknowledgedTotal() >= target, 30_000);
        signalled = true;
        // stop(): SIGTERM to the group, SIGKILL only if it has not exited within the grace period.
        const exit = await clone.stop();
        if (exit !== 0) failWithLog(clone, `${label}: a graceful stop should exit 0, got ${String(exit)}`);
        await burst.finished;
        await clone.restart();
        counters = await checkCounters(clone, burst.records, label);
        await checkStats(clone, label);
        console.log(`durability ${label}: acknowledged ${burst.acknowledgedTotal()}, values ${JSON.stringify(counters)}`);
      }
      await clone.cleanup();
    });

    test("reads served right after each restart above agree with reads once the log is committed (no read before the new term's first entry commits, Raft thesis §6.4)", () => {
      const observed = restartReads.filter((reads) => reads.round.startsWith(`${backend}/`));
      // Every kill round and every SIGTERM round above restarted the node once and read its counters.
      expect(observed.length).toBe(4 * rounds);
      const disagreements = observed
        .filter((reads) => reads.first.some((value, i) => value !== reads.settled[i]))
        .map((reads) =>
          `${reads.round}: the first reads after the restart returned ${JSON.stringify(reads.first)}, later reads ` +
            `${JSON.stringify(reads.settled)}, with no write in between; RAFTSTATS at the first read: ${JSON.stringify(reads.firstStats)}`,
        );
      expect(disagreements).toEqual([]);
    });
  });
}
