/**
 * Log store throughput: appends per second and syncs per second for each backend × durability
 * level × batch size (1, 10, 100, 1000 entries of 100 bytes), as the node loop drives the store:
 * one `save()` per event-loop turn.
 * - low, medium: the node does not wait for durability; a save is issued every turn and the run
 *   ends with `flush()` (included in the time).
 * - high: the node waits for each save before acknowledging; `high ×1` waits for each save before
 *   the next (one batch in flight), `high ×16` keeps up to 16 saves in flight (a leader that
 *   keeps accepting while its last batch flushes), so saves of nearby turns share fsyncs.
 *
 * Syncs: fsyncs the store started (explicit env syncs at low/medium on LMDB; at high on LMDB,
 * committed transactions, each of which lmdb-js flushes, coalescing when they overlap).
 *
 * Usage: bun bench/log-store.ts [seconds per row, default 1] [dir, default a fresh one under /var/tmp]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { asIndex, asTerm, type Entry } from "../src/raft/types.ts";
import { FileLogStore } from "../src/log/file-store.ts";
import { LmdbLogStore } from "../src/log/lmdb-store.ts";
import type { Backend, Durability, LogStore } from "../src/log/store.ts";

const secondsPerRow = Number(process.argv[2] ?? "1");
const baseDir = process.argv[3] ?? mkdtempSync("/var/tmp/finn-bench-log-");
const entryDataBytes = 100;
const batchSizes = [1, 10, 100, 1000] as const;

interface Mode {
  readonly durability: Durability;
  /** Saves in flight before the loop waits for the oldest; 0 means never wait (flush at the end). */
  readonly window: number;
  readonly label: string;
}
const modes: readonly Mode[] = [
  { durability: "low", window: 0, label: "low" },
  { durability: "medium", window: 0, label: "medium" },
  { durability: "high", window: 1, label: "high ×1" },
  { durability: "high", window: 16, label: "high ×16" },
];

function openStore(backend: Backend, dir: string, durability: Durability): { store: LogStore; syncs: () => number } {
  if (backend === "lmdb") {
    const store = LmdbLogStore.open(dir, { backend, durability });
    return { store, syncs: () => store.syncCount() };
  }
  const store = FileLogStore.open(dir, { backend, durability });
  return { store, syncs: () => store.syncCount() };
}

const data = new Uint8Array(entryDataBytes).fill(0x61);
function batchAt(first: number, size: number): Entry[] {
  const entries: Entry[] = [];
  for (let k = 0; k < size; k++) entries.push({ index: asIndex(first + k), term: asTerm(1), type: "normal", data });
  return entries;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function run(
  backend: Backend,
  mode: Mode,
  batchSize: number,
  seconds = secondsPerRow,
): Promise<{ appends: number; syncs: number }> {
  const dir = join(baseDir, `${backend}-${mode.label.replace(/\W+/g, "")}-${batchSize}`);
  const { store, syncs } = openStore(backend, dir, mode.durability);
  let next = 1;
  const inFlight: Promise<void>[] = [];
  const syncsBefore = syncs();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    const saved = store.save({ entries: batchAt(next, batchSize), hardState: null, snapshot: null });
    next += batchSize;
    if (mode.window === 0) {
      await nextTurn();
      continue;
    }
    inFlight.push(saved);
    if (inFlight.length >= mode.window) await inFlight.shift();
    else await nextTurn();
  }
  await Promise.all(inFlight);
  await store.flush();
  const elapsed = (performance.now() - started) / 1000;
  const result = { appends: (next - 1) / elapsed, syncs: (syncs() - syncsBefore) / elapsed };
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`log store bench: ${cpus().length} × ${cpu}, Bun ${Bun.version}, ${secondsPerRow} s per row, dir ${baseDir}`);
console.log(`entries of ${entryDataBytes} bytes; one save per event-loop turn`);
console.log("");
// Warm the JIT up so that the first row is not penalised.
for (const backend of ["lmdb", "memory"] as const) await run(backend, { durability: "low", window: 0, label: "warmup" }, 10, 0.5);
console.log("| backend | durability | batch | appends/s | syncs/s |");
console.log("|---|---|---:|---:|---:|");
for (const backend of ["lmdb", "memory"] as const) {
  for (const mode of modes) {
    for (const batchSize of batchSizes) {
      const { appends, syncs } = await run(backend, mode, batchSize);
      console.log(`| ${backend} | ${mode.label} | ${batchSize} | ${formatRate(appends)} | ${formatRate(syncs)} |`);
    }
  }
}
if (process.argv[3] === undefined) rmSync(baseDir, { recursive: true, force: true });
