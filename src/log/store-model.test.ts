/**
 * Property test: random sequences of saves (appends with conflicting suffixes, hard states,
 * snapshot resets), recorded snapshots and compactions against `MemoryStorage`, the reference
 * the Raft core is tested with. After every step, and again after a reopen, every read of each
 * backend equals the reference's. LMDB runs with a tiny tail cache, so that reads go to LMDB.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { MemoryStorage } from "../raft/storage.ts";
import { asIndex, asNodeId, asTerm, type Entry, type Index, type SnapshotMetadata } from "../raft/types.ts";
import { FileLogStore } from "./file-store.ts";
import { LmdbLogStore } from "./lmdb-store.ts";
import type { Backend, LogStore } from "./store.ts";

const root = mkdtempSync(join(tmpdir(), "finn-model-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runNumber = 0;

function openStore(backend: Backend, dir: string): LogStore {
  return backend === "lmdb"
    ? LmdbLogStore.open(dir, { backend, durability: "low", tailCacheBytesMax: 200 })
    : FileLogStore.open(dir, { backend, durability: "low" });
}

const step = fc.record({
  kind: fc.integer({ min: 0, max: 5 }),
  a: fc.nat(1000),
  b: fc.nat(1000),
  data: fc.uint8Array({ maxLength: 40 }),
});

function expectSame(store: LogStore, model: MemoryStorage, maxBytes: number): void {
  expect(store.firstIndex()).toBe(model.firstIndex());
  expect(store.lastIndex()).toBe(model.lastIndex());
  expect(store.hardState()).toEqual(model.hardState());
  expect(store.snapshotMetadata()).toEqual(model.snapshotMetadata());
  for (let index = model.firstIndex() - 1; index <= model.lastIndex(); index++) {
    expect(store.term(asIndex(index))).toBe(model.term(asIndex(index)));
  }
  if (model.lastIndex() >= model.firstIndex()) {
    const high = asIndex(model.lastIndex() + 1);
    const expected = model.entries(model.firstIndex(), high, maxBytes);
    const actual = store.entries(model.firstIndex(), high, maxBytes);
    expect(actual.length).toBe(expected.length);
    for (const [position, entry] of actual.entries()) {
      const reference = expected[position]!;
      expect([entry.index, entry.term, entry.type]).toEqual([reference.index, reference.term, reference.type]);
      expect(Buffer.from(entry.data).equals(Buffer.from(reference.data))).toBe(true);
    }
  }
}

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

async function runSteps(backend: Backend, steps: readonly Step[]): Promise<void> {
  const dir = join(root, `${backend}-${runNumber++}`);
  let store = openStore(backend, dir);
  const model = new MemoryStorage();
  let termMax = 1;
  for (const { kind, a, b, data } of steps) {
    const first = model.firstIndex();
    const last = model.lastIndex();
    switch (kind) {
      case 0:
      case 1: {
        // Append 1..4 entries at a position in [first, last + 1]: a conflicting suffix or a tail.
        // Never below a snapshot: what a snapshot covers is committed and never conflicts.
        const lowest = Math.max(first, model.snapshotMetadata().index + 1);
        const start = lowest + (a % (last - lowest + 2));
        termMax += b % 2;
        const entries: Entry[] = [];
        for (let k = 0; k < 1 + (b % 4); k++) {
          entries.push({ index: asIndex(start + k), term: asTerm(termMax), type: k === 0 && a % 5 === 0 ? "noop" : "normal", data: data.subarray(k) });
        }
        model.append(entries);
        void store.save({ entries, hardState: null, snapshot: null });
        break;
      }
      case 2: {
        const hard = model.hardState();
        const hardState = {
          term: asTerm(Math.max(hard.term, termMax) + (a % 2)),
          vote: a % 3 === 0 ? null : asNodeId(`node-${b % 3}`),
          commit: asIndex(hard.commit + (b % 3)),
        };
        termMax = Math.max(termMax, hardState.term);
        model.setHardState(hardState);
        void store.save({ entries: [], hardState, snapshot: null });
        break;
      }
      case 3: {
        // A snapshot from the leader, at or after the current one.
        const index = asIndex(model.snapshotMetadata().index + (a % 12));
        termMax += b % 2;
        const metadata: SnapshotMetadata = { index, term: asTerm(termMax), membership: { voters: [asNodeId("a")], learners: [], addresses: {} } };
        model.applySnapshot({ metadata, data: new Uint8Array(0) });
        void store.save({ entries: [], hardState: null, snapshot: metadata });
        break;
      }
      case 4: {
        // A local snapshot at an index in [max(first - 1, snapshot), last].
        const low = Math.max(first - 1, model.snapshotMetadata().index);
        if (low > last) break;
        const index = asIndex(low + (a % (last - low + 1)));
        const membership = { voters: [asNodeId("a"), asNodeId("b")], learners: [], addresses: { a: "x:1" } };
        const snapshot = model.createSnapshot(index, membership, new Uint8Array(0));
        store.recordSnapshot(snapshot.metadata);
        break;
      }
      case 5: {
        const high = Math.min(model.snapshotMetadata().index, last);
        const index: Index = asIndex(Math.min(high, first - 1 + (a % 6)));
        model.compact(index);
        store.compact(index);
        break;
      }
    }
    expectSame(store, model, b % 300);
    if (a % 7 === 0) await Bun.sleep(0); // let commits land, so that LMDB evicts and reads from disk
  }
  await store.close();
  store = openStore(backend, dir);
  expectSame(store, model, 1000);
  await store.close();
}

for (const backend of ["lmdb", "memory"] as const) {
  test(`${backend}: every read equals MemoryStorage's, during random histories and after a reopen`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), (steps) => runSteps(backend, steps)),
      { numRuns: 100 },
    );
  });
}
