/**
 * A child process for the crash tests: opens a log store and saves batches as fast as it can,
 * printing an index once everything up to it is acknowledged as durable: at High after each
 * turn's saves resolved, at Low and Medium after every fifth turn's `flush()` (the other turns do
 * not wait, as the node does not). The parent kills it with SIGKILL at a random moment, reopens
 * the store, and checks every acknowledged entry is there, byte-exact.
 *
 * Usage: bun src/log/testing/crash-writer.ts <dir> <lmdb|memory> <low|medium|high>
 */
import { asIndex, asTerm, type Entry } from "../../raft/types.ts";
import { openLogStore, type Backend, type Durability } from "../store.ts";
import { expectedEntry } from "./expected-entries.ts";

const [dir, backend, durability] = process.argv.slice(2);
if (
  dir === undefined ||
  (backend !== "lmdb" && backend !== "memory") ||
  (durability !== "low" && durability !== "medium" && durability !== "high")
) {
  process.stderr.write("usage: crash-writer.ts <dir> <lmdb|memory> <low|medium|high>\n");
  process.exit(2);
}
const store = await openLogStore(dir, { backend: backend satisfies Backend, durability: durability satisfies Durability });
let next = store.lastIndex() + 1;
let batchNumber = 0;
for (;;) {
  // Sometimes two saves in one event-loop turn, which share one group commit.
  const saves: Promise<void>[] = [];
  const savesThisTurn = batchNumber % 3 === 0 ? 2 : 1;
  for (let save = 0; save < savesThisTurn; save++) {
    const size = 1 + ((batchNumber * 7 + save) % 23);
    const entries: Entry[] = [];
    for (let k = 0; k < size; k++) entries.push(expectedEntry(next + k));
    next += size;
    saves.push(store.save({ entries, hardState: { term: asTerm(1), vote: null, commit: asIndex(next - 1) }, snapshot: null }));
  }
  batchNumber++;
  if (durability === "high") {
    await Promise.all(saves);
  } else if (batchNumber % 5 === 0) {
    await store.flush();
  } else {
    await new Promise((resolve) => setImmediate(resolve));
    continue;
  }
  process.stdout.write(`${next - 1}\n`);
}
