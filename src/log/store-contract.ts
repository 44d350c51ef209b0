/**
 * The contract every log store passes: one suite, registered once per backend by its test file.
 * The semantics are `MemoryStorage`'s (src/raft/storage.ts), plus persistence: everything comes
 * back byte-exact after a close or a SIGKILL, and the durability levels behave as documented.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AssertionError } from "../assert.ts";
import { asIndex, asNodeId, asTerm, emptyMembership, type Entry, type SnapshotMetadata } from "../raft/types.ts";
import type { Backend, Durability, LogStore } from "./store.ts";
import { expectedData, expectedEntry } from "./testing/expected-entries.ts";

/** A store under test, with its count of syncs (fsyncs or LMDB env syncs/flushed commits). */
export interface OpenedStore {
  readonly store: LogStore;
  readonly syncCount: () => number;
}

export type StoreOpener = (dir: string, durability: Durability) => Promise<OpenedStore>;

function entriesFrom(low: number, high: number, term = 1): Entry[] {
  const entries: Entry[] = [];
  for (let index = low; index <= high; index++) entries.push(expectedEntry(index, term));
  return entries;
}

const noChange = { hardState: null, entries: [], snapshot: null } as const;

function membershipOf(...voters: string[]): SnapshotMetadata["membership"] {
  return { voters: voters.map(asNodeId), learners: [], addresses: Object.fromEntries(voters.map((v) => [v, `${v}:7481`])) };
}

/** Registers the contract suite for one backend. */
export function registerStoreContract(backend: Backend, openStore: StoreOpener): void {
  describe(`log store contract: ${backend}`, () => {
    const dirs: string[] = [];
    const opened: LogStore[] = [];
    function freshDir(): string {
      const dir = mkdtempSync(join(tmpdir(), `finn-log-${backend}-`));
      dirs.push(dir);
      return dir;
    }
    async function open(dir: string, durability: Durability = "high"): Promise<OpenedStore> {
      const result = await openStore(dir, durability);
      opened.push(result.store);
      return result;
    }
    async function reopen(dir: string, store: LogStore, durability: Durability = "high"): Promise<LogStore> {
      await store.close();
      return (await open(dir, durability)).store;
    }
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    /** Checks the log's bounds and that every entry in them is the expected one, byte-exact. */
    function expectLog(store: LogStore, first: number, last: number, term = (_index: number) => 1): void {
      expect(store.firstIndex()).toBe(asIndex(first));
      expect(store.lastIndex()).toBe(asIndex(last));
      if (last >= first) expectEntries(store, first, last, term);
    }
    function expectEntries(store: LogStore, first: number, last: number, term = (_index: number) => 1): void {
      const entries = store.entries(asIndex(first), asIndex(last + 1), Infinity);
      expect(entries.length).toBe(last - first + 1);
      for (const entry of entries) {
        expect(entry.term).toBe(asTerm(term(entry.index)));
        expect(entry.type).toBe("normal");
        expect(Buffer.from(entry.data).equals(Buffer.from(expectedData(entry.index)))).toBe(true);
      }
    }

    test("an empty store", async () => {
      const { store } = await open(freshDir());
      expect(store.firstIndex()).toBe(asIndex(1));
      expect(store.lastIndex()).toBe(asIndex(0));
      expect(store.term(asIndex(0))).toBe(asTerm(0));
      expect(store.hardState()).toEqual({ term: asTerm(0), vote: null, commit: asIndex(0) });
      expect(store.snapshotMetadata()).toEqual({ index: asIndex(0), term: asTerm(0), membership: emptyMembership });
      expect(() => store.term(asIndex(1))).toThrow(AssertionError);
    });

    test("append: reads reflect a save at once, and everything survives a reopen byte-exact", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      const saved = store.save({ ...noChange, entries: entriesFrom(1, 50) });
      expectLog(store, 1, 50);
      await saved;
      const noop: Entry = { index: asIndex(51), term: asTerm(2), type: "noop", data: new Uint8Array(0) };
      const config: Entry = { index: asIndex(52), term: asTerm(2), type: "config", data: new Uint8Array([1, 2, 3]) };
      await store.save({ ...noChange, entries: [noop, config] });
      const reopened = await reopen(dir, store);
      expect(reopened.lastIndex()).toBe(asIndex(52));
      expectEntries(reopened, 1, 50);
      expect(reopened.entries(asIndex(51), asIndex(53), Infinity)).toEqual([noop, config]);
      expect(reopened.term(asIndex(52))).toBe(asTerm(2));
    });

    test("large entries and every byte value round-trip exactly", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      const large = new Uint8Array(3 * 1024 * 1024 + 17);
      for (let position = 0; position < large.byteLength; position++) large[position] = (position * 131) & 0xff;
      const allBytes = Uint8Array.from({ length: 256 }, (_, value) => value);
      const entries: Entry[] = [
        { index: asIndex(1), term: asTerm(1), type: "normal", data: large },
        { index: asIndex(2), term: asTerm(1), type: "normal", data: allBytes },
        { index: asIndex(3), term: asTerm(1), type: "normal", data: new Uint8Array(0) },
      ];
      await store.save({ ...noChange, entries });
      const reopened = await reopen(dir, store);
      const read = reopened.entries(asIndex(1), asIndex(4), Infinity);
      expect(read.length).toBe(3);
      for (const [position, entry] of read.entries()) {
        expect(entry.data).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(entry.data).equals(Buffer.from(entries[position]!.data))).toBe(true);
      }
    });

    test("append asserts against gaps and bad ranges", async () => {
      const { store } = await open(freshDir());
      await store.save({ ...noChange, entries: entriesFrom(1, 3) });
      expect(() => store.save({ ...noChange, entries: entriesFrom(5, 6) })).toThrow(AssertionError);
      expect(() => store.entries(asIndex(0), asIndex(2), Infinity)).toThrow(AssertionError);
      expect(() => store.entries(asIndex(2), asIndex(5), Infinity)).toThrow(AssertionError);
      expect(() => store.entries(asIndex(2), asIndex(2), Infinity)).toThrow(AssertionError);
      expect(() => store.term(asIndex(4))).toThrow(AssertionError);
    });

    test("a conflicting suffix is dropped, in memory and on disk", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      const saved = store.save({ ...noChange, entries: entriesFrom(6, 8, 2) });
      const termOf = (index: number): number => (index >= 6 ? 2 : 1);
      expectLog(store, 1, 8, termOf);
      await saved;
      // Then the log grows past where the old suffix ended.
      await store.save({ ...noChange, entries: entriesFrom(9, 12, 2) });
      const reopened = await reopen(dir, store);
      expectLog(reopened, 1, 12, termOf);
    });

    test("entries covered by the compaction point are skipped on append", async () => {
      const { store } = await open(freshDir());
      await store.save({ ...noChange, entries: entriesFrom(1, 5) });
      store.recordSnapshot({ index: asIndex(3), term: asTerm(1), membership: membershipOf("a") });
      store.compact(asIndex(3));
      await store.save({ ...noChange, entries: entriesFrom(2, 7) });
      expectLog(store, 4, 7);
    });

    test("compaction drops a prefix; reads below it assert; it survives a reopen", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      expect(() => store.compact(asIndex(4))).toThrow(AssertionError); // no snapshot covers it yet
      const metadata: SnapshotMetadata = { index: asIndex(6), term: asTerm(1), membership: membershipOf("a", "b") };
      store.recordSnapshot(metadata);
      expectLog(store, 1, 10);
      store.compact(asIndex(4));
      expectLog(store, 5, 10);
      expect(store.term(asIndex(4))).toBe(asTerm(1));
      expect(() => store.term(asIndex(3))).toThrow(AssertionError);
      expect(() => store.entries(asIndex(4), asIndex(6), Infinity)).toThrow(AssertionError);
      expect(() => store.compact(asIndex(7))).toThrow(AssertionError); // beyond the snapshot
      store.compact(asIndex(2)); // already compacted: nothing to do
      store.compact(asIndex(6));
      await store.flush();
      const reopened = await reopen(dir, store);
      expectLog(reopened, 7, 10);
      expect(reopened.term(asIndex(6))).toBe(asTerm(1));
      expect(reopened.snapshotMetadata()).toEqual(metadata);
    });

    test("hard state: saved, read back, survives a reopen, never goes backwards", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      const hardState = { term: asTerm(3), vote: asNodeId("node-b"), commit: asIndex(2) };
      await store.save({ ...noChange, entries: entriesFrom(1, 2), hardState });
      expect(store.hardState()).toEqual(hardState);
      expect(() => store.save({ ...noChange, hardState: { ...hardState, term: asTerm(2) } })).toThrow(AssertionError);
      const reopened = await reopen(dir, store);
      expect(reopened.hardState()).toEqual(hardState);
      await reopened.save({ ...noChange, hardState: { term: asTerm(4), vote: null, commit: asIndex(2) } });
      const again = await reopen(dir, reopened);
      expect(again.hardState()).toEqual({ term: asTerm(4), vote: null, commit: asIndex(2) });
    });

    test("snapshot metadata resets the log, which restarts after it", async () => {
      const dir = freshDir();
      const { store } = await open(dir);
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      const metadata: SnapshotMetadata = { index: asIndex(20), term: asTerm(3), membership: membershipOf("a", "b", "c") };
      const hardState = { term: asTerm(3), vote: null, commit: asIndex(20) };
      await store.save({ snapshot: metadata, entries: entriesFrom(21, 23, 3), hardState });
      const termOf = (): number => 3;
      expectLog(store, 21, 23, termOf);
      expect(store.term(asIndex(20))).toBe(asTerm(3));
      expect(store.snapshotMetadata()).toEqual(metadata);
      expect(() => store.term(asIndex(10))).toThrow(AssertionError);
      // A snapshot inside the log also drops the whole log (Raft §7: the follower discards it).
      const inside: SnapshotMetadata = { index: asIndex(22), term: asTerm(3), membership: membershipOf("a") };
      await store.save({ ...noChange, snapshot: inside });
      expectLog(store, 23, 22);
      expect(() => store.save({ ...noChange, snapshot: metadata })).toThrow(AssertionError); // backwards
      const reopened = await reopen(dir, store);
      expectLog(reopened, 23, 22);
      expect(reopened.term(asIndex(22))).toBe(asTerm(3));
      expect(reopened.snapshotMetadata()).toEqual(inside);
      expect(reopened.hardState()).toEqual(hardState);
    });

    test("entries stop at maxBytes but return at least one", async () => {
      const { store } = await open(freshDir());
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      const size = (index: number): number => expectedData(index).byteLength + 24;
      expect(store.entries(asIndex(1), asIndex(10), 0).length).toBe(1);
      expect(store.entries(asIndex(1), asIndex(10), size(1)).length).toBe(1);
      expect(store.entries(asIndex(1), asIndex(10), size(1) + size(2)).length).toBe(2);
      expect(store.entries(asIndex(1), asIndex(10), size(1) + size(2) + size(3) - 1).length).toBe(2);
      expect(store.entries(asIndex(3), asIndex(11), Infinity).length).toBe(8);
    });

    test("saves of one event-loop turn all resolve, and flush resolves after them", async () => {
      const { store } = await open(freshDir());
      const saves = [1, 2, 3].map((k) => store.save({ ...noChange, entries: entriesFrom(k, k) }));
      await store.flush();
      await Promise.all(saves);
      expectLog(store, 1, 3);
    });

    test("high: save() resolves only after a sync that covers it", async () => {
      const { store, syncCount } = await open(freshDir(), "high");
      const before = syncCount();
      await store.save({ ...noChange, entries: entriesFrom(1, 5) });
      expect(syncCount()).toBeGreaterThan(before);
    });

    test("medium: syncs within about a second without flush()", async () => {
      const { store, syncCount } = await open(freshDir(), "medium");
      const before = syncCount();
      let resolved = false;
      void store.save({ ...noChange, entries: entriesFrom(1, 5) }).then(() => {
        resolved = true;
      });
      await Bun.sleep(50);
      expect(resolved).toBe(false);
      const deadline = Date.now() + 3000;
      while (!resolved && Date.now() < deadline) await Bun.sleep(50);
      expect(resolved).toBe(true);
      expect(syncCount()).toBeGreaterThan(before);
    });

    test("low: never syncs on its own; flush() forces one", async () => {
      const { store, syncCount } = await open(freshDir(), "low");
      const before = syncCount();
      let resolved = false;
      const saved = store.save({ ...noChange, entries: entriesFrom(1, 5) }).then(() => {
        resolved = true;
      });
      await Bun.sleep(300);
      expect(resolved).toBe(false);
      expect(syncCount()).toBe(before);
      await store.flush();
      await saved;
      expect(syncCount()).toBe(before + 1);
      await store.flush(); // nothing new: no sync
      expect(syncCount()).toBe(before + 1);
    });

    test("low and medium: a batch that changes term or vote is synced at once", async () => {
      for (const durability of ["low", "medium"] as const) {
        const { store, syncCount } = await open(freshDir(), durability);
        const before = syncCount();
        const started = Date.now();
        await store.save({ ...noChange, hardState: { term: asTerm(1), vote: asNodeId("me"), commit: asIndex(0) } });
        expect(Date.now() - started).toBeLessThan(500);
        expect(syncCount()).toBe(before + 1);
        // A commit-only change is not urgent.
        let resolved = false;
        void store.save({ ...noChange, hardState: { term: asTerm(1), vote: asNodeId("me"), commit: asIndex(0) } }).then(() => {
          resolved = true;
        });
        await Bun.sleep(100);
        expect(resolved).toBe(false);
        await store.flush();
      }
    });

    test("every durability level reopens what it saved", async () => {
      for (const durability of ["low", "medium", "high"] as const) {
        const dir = freshDir();
        const { store } = await open(dir, durability);
        void store.save({ ...noChange, entries: entriesFrom(1, 20) });
        const reopened = await reopen(dir, store, durability);
        expectLog(reopened, 1, 20);
      }
    });

    test("SIGKILL at a random moment loses no acknowledged entry and leaves a clean prefix, at every level", async () => {
      const script = join(import.meta.dir, "testing", "crash-writer.ts");
      for (const durability of ["high", "medium", "low"] as const) {
        const dir = freshDir();
        let acknowledged = 0;
        for (let kill = 0; kill < 2; kill++) {
          const command = [process.execPath, script, dir, backend, durability];
          const child = Bun.spawn(command, { stdout: "pipe", stderr: "inherit" });
          const output = new Response(child.stdout).text();
          await Bun.sleep(250 + Math.floor(Math.random() * 400));
          child.kill("SIGKILL");
          await child.exited;
          for (const line of (await output).split("\n")) {
            if (line !== "") acknowledged = Math.max(acknowledged, Number(line));
          }
        }
        const { store } = await open(dir, "high");
        expect(store.lastIndex()).toBeGreaterThanOrEqual(asIndex(acknowledged));
        expectLog(store, 1, store.lastIndex());
        // Hard state and entries are saved atomically: the commit never points past the log.
        expect(store.hardState().commit).toBeLessThanOrEqual(store.lastIndex());
        expect(store.hardState().commit).toBeGreaterThanOrEqual(asIndex(acknowledged));
      }
    });
  });
}
