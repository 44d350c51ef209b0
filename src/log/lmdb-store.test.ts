import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { asIndex, asTerm, emptyMembership, type Entry } from "../raft/types.ts";
import { encodeEntryInto } from "./codec.ts";
import { recordOffsets } from "./file-records.ts";
import { Journal, journalBytesDefault, journalGroupBytesMax, lmdbJournalFileName } from "./lmdb-journal.ts";
import { LmdbLogStore, lmdbPageBytesDefault, pieceBytesFor } from "./lmdb-store.ts";
import { registerStoreContract } from "./store-contract.ts";
import { lmdbLogFileName, StorageCorruptionError, type Durability } from "./store.ts";
import { expectedData, expectedEntry } from "./testing/expected-entries.ts";

registerStoreContract("lmdb", async (dir, durability) => {
  const store = LmdbLogStore.open(dir, { backend: "lmdb", durability });
  return { store, syncCount: () => store.syncCount() };
});

function entriesFrom(low: number, high: number, term = 1): Entry[] {
  const entries: Entry[] = [];
  for (let index = low; index <= high; index++) entries.push(expectedEntry(index, term));
  return entries;
}
const noChange = { hardState: null, entries: [], snapshot: null } as const;

/** Counts the store's reads of whole entries from LMDB. */
function spyOnStoredReads(store: LmdbLogStore): { count: number } {
  const counter = { count: 0 };
  const spied = store as unknown as { readStored: (index: number) => Entry };
  const original = spied.readStored.bind(store);
  spied.readStored = (index) => {
    counter.count++;
    return original(index);
  };
  return counter;
}

describe("lmdb log store", () => {
  const dirs: string[] = [];
  const stores: LmdbLogStore[] = [];
  function openStore(dir: string, durability: Durability = "high", tailCacheBytesMax?: number, lmdbPageBytes?: number): LmdbLogStore {
    const options = { ...(tailCacheBytesMax === undefined ? {} : { tailCacheBytesMax }), ...(lmdbPageBytes === undefined ? {} : { lmdbPageBytes }) };
    const store = LmdbLogStore.open(dir, { backend: "lmdb", durability, ...options });
    stores.push(store);
    return store;
  }
  function freshDir(): string {
    const dir = mkdtempSync(join(tmpdir(), "finn-lmdb-"));
    dirs.push(dir);
    return dir;
  }
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  test("each save, thousands of writes, is one transaction committed before save() returns (below High)", async () => {
    for (const durability of ["low", "medium"] as const) {
      const dir = freshDir();
      const store = openStore(dir, durability);
      const before = store.commitCount;
      const saves = [store.save({ ...noChange, entries: entriesFrom(1, 3000) })];
      saves.push(store.save({ ...noChange, entries: entriesFrom(1001, 1500, 2) })); // truncates 1501..3000
      saves.push(store.save({ ...noChange, hardState: { term: asTerm(2), vote: null, commit: asIndex(10) } }));
      expect(store.commitCount - before).toBe(3);
      // Committed: another reader of the file sees it at once, before any promise resolved.
      const reader = open({ path: join(dir, lmdbLogFileName), readOnly: true });
      const entries = reader.openDB({ name: "entries", encoding: "binary" });
      expect(entries.getKeysCount()).toBe(1500);
      await reader.close();
      await store.flush();
      await Promise.all(saves);
      expect(store.lastIndex()).toBe(asIndex(1500));
    }
  });

  test("high: an appending save is one journal group, and the next transaction takes it into LMDB with its own writes", async () => {
    const dir = freshDir();
    const store = openStore(dir, "high");
    const commits = store.commitCount;
    const saves = [store.save({ ...noChange, entries: entriesFrom(1, 500) })];
    expect(store.journalWrites()).toBe(1);
    expect(store.commitCount).toBe(commits);
    const countStored = async (): Promise<number> => {
      const reader = open({ path: join(dir, lmdbLogFileName), readOnly: true });
      const count = reader.openDB({ name: "entries", encoding: "binary" }).getKeysCount();
      await reader.close();
      return count;
    };
    expect(await countStored()).toBe(0);
    // A conflicting suffix is a transaction: the journal's group first, then the truncation.
    saves.push(store.save({ ...noChange, entries: entriesFrom(251, 375, 2) }));
    expect(store.commitCount).toBe(commits + 1);
    expect(await countStored()).toBe(375);
    // A new term is a transaction of its own, at once.
    saves.push(store.save({ ...noChange, hardState: { term: asTerm(2), vote: null, commit: asIndex(10) } }));
    expect(store.commitCount).toBe(commits + 2);
    expect(store.journalWrites()).toBe(1);
    await Promise.all(saves);
    await store.close();
    const reopened = openStore(dir, "high");
    expect(reopened.lastIndex()).toBe(asIndex(375));
    expect(reopened.term(asIndex(375))).toBe(asTerm(2));
    expect(reopened.hardState().term).toBe(asTerm(2));
  });

  test("high: save() is durable when it returns: one fdatasync of the journal, done inside it", async () => {
    const store = openStore(freshDir(), "high");
    for (let round = 0; round < 20; round++) {
      const before = store.syncCount();
      let resolved = false;
      void store.save({ ...noChange, entries: entriesFrom(round * 10 + 1, round * 10 + 10) }).then(() => {
        resolved = true;
      });
      // One sync per save, done inside it: the promise is already settled.
      expect(store.syncCount()).toBe(before + 1);
      await Promise.resolve();
      expect(resolved).toBe(true);
      // And lmdb-js has nothing left to flush.
      let flushed = false;
      void store.environment.flushed.then(() => {
        flushed = true;
      });
      for (let tick = 0; tick < 5; tick++) await Promise.resolve();
      expect(flushed).toBe(true);
    }
  });

  test("reads below the cached tail come from LMDB, byte-exact, and truncation reaches them", async () => {
    const dir = freshDir();
    const store = openStore(dir, "high", 4096);
    await store.save({ ...noChange, entries: entriesFrom(1, 500) });
    // At High the save waits in the journal (and in memory) until a checkpoint puts it in LMDB.
    store.checkpoint();
    // Entries leave the cached tail once the node applied them.
    store.applied(asIndex(500));
    await Bun.sleep(10);
    const cache = store.cacheStatus();
    expect(cache.from).toBeGreaterThan(asIndex(400));
    expect(cache.bytes).toBeLessThanOrEqual(4096 + 200);
    const early = store.entries(asIndex(1), asIndex(101), Infinity);
    for (const entry of early) expect(Buffer.from(entry.data).equals(Buffer.from(expectedData(entry.index)))).toBe(true);
    expect(store.term(asIndex(7))).toBe(asTerm(1));
    // A conflict far below the cache: the stored suffix goes, the new entries are cached.
    await store.save({ ...noChange, entries: entriesFrom(50, 60, 2) });
    expect(store.lastIndex()).toBe(asIndex(60));
    expect(store.term(asIndex(49))).toBe(asTerm(1));
    expect(store.term(asIndex(50))).toBe(asTerm(2));
    await store.close();
    const reopened = openStore(dir, "high", 4096);
    expect(reopened.lastIndex()).toBe(asIndex(60));
    expect(reopened.entries(asIndex(45), asIndex(61), Infinity).map((entry) => entry.term)).toEqual(
      [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2].map(asTerm),
    );
  });

  test("LMDB's own word that a page is damaged (it has no checksums) is an error naming log.mdb with what to do", async () => {
    const dir = freshDir();
    const store = openStore(dir, "high", 4096);
    const big = (index: number): Entry => ({ index: asIndex(index), term: asTerm(1), type: "normal", data: new Uint8Array(8 * 1024).fill(index) });
    await store.save({ ...noChange, entries: [big(1), big(2), big(3)] });
    store.checkpoint();
    store.applied(asIndex(3));
    expect(store.cacheStatus().from).toBe(asIndex(4));
    // What lmdb-js throws when a page reference leads nowhere.
    const database = (store as unknown as { entryDatabase: { get: (key: number) => unknown } }).entryDatabase;
    database.get = () => {
      throw new Error("MDB_PAGE_NOTFOUND: Requested page not found");
    };
    let failure: unknown = null;
    try {
      store.entries(asIndex(1), asIndex(2), Infinity);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(StorageCorruptionError);
    expect(String(failure)).toContain(`log store ${join(dir, lmdbLogFileName)} is corrupt: LMDB reports MDB_PAGE_NOTFOUND`);
    expect(String(failure)).toContain("Restore the data directory from a backup");
  });

  test("entries not applied yet stay in memory whatever their size, and their terms are known without reading them back", async () => {
    const store = openStore(freshDir(), "medium", 4096);
    const big = (index: number): Entry => ({ index: asIndex(index), term: asTerm(index < 3 ? 1 : 2), type: "normal", data: new Uint8Array(64 * 1024).fill(index) });
    const reads = spyOnStoredReads(store);
    await store.save({ ...noChange, entries: [big(1), big(2), big(3)] });
    // Three times the tail's budget, none applied: all three are still served from memory.
    expect(store.cacheStatus().from).toBe(asIndex(1));
    expect(store.entries(asIndex(1), asIndex(4), Infinity).map((entry) => entry.data[0])).toEqual([1, 2, 3]);
    store.applied(asIndex(2));
    expect(store.cacheStatus().from).toBe(asIndex(3));
    store.applied(asIndex(3));
    expect(store.cacheStatus().bytes).toBe(0);
    // Terms of entries appended since the store opened come from memory.
    expect([store.term(asIndex(1)), store.term(asIndex(2)), store.term(asIndex(3))]).toEqual([1, 1, 2].map(asTerm));
    expect(reads.count).toBe(0);
    // The entries themselves are read back from LMDB, byte-exact.
    expect(store.entries(asIndex(2), asIndex(3), Infinity)[0]!.data).toEqual(big(2).data);
    expect(reads.count).toBe(1);
    await store.close();
  });

  test("a corrupt entry or meta record is a clear error naming the file", async () => {
    const dir = freshDir();
    const store = openStore(dir);
    await store.save({ ...noChange, entries: entriesFrom(1, 10), hardState: { term: asTerm(1), vote: null, commit: asIndex(1) } });
    await store.close();
    const path = join(dir, lmdbLogFileName);
    const raw = open({ path, compression: false });
    const entries = raw.openDB<Uint8Array, number>({ name: "entries", encoding: "binary" });
    const bad = Uint8Array.from(await entries.get(3)!);
    bad[30] = bad[30]! ^ 0xff;
    await entries.put(3, bad);
    await raw.close();
    const damaged = openStore(dir, "high", 1);
    await Bun.sleep(0);
    expect(() => damaged.entries(asIndex(1), asIndex(11), Infinity)).toThrow(StorageCorruptionError);
    expect(() => damaged.term(asIndex(3))).toThrow(path);
    await damaged.close();
    stores.splice(stores.indexOf(damaged), 1);

    const raw2 = open({ path, compression: false });
    const meta = raw2.openDB<Uint8Array, string>({ name: "meta", encoding: "binary" });
    await meta.put("hardState", new Uint8Array([1, 2, 3, 4, 5]));
    await raw2.close();
    expect(() => LmdbLogStore.open(dir, { backend: "lmdb", durability: "high" })).toThrow(
      /log store .*log\.mdb is corrupt: the 'hardState' record fails its checksum/,
    );
  });

  // New files get 16 KB pages; files made before that have the system's 4 KB pages and keep them.
  for (const pageBytes of [4096, lmdbPageBytesDefault]) describe(`entries longer than a leaf page holds (${pageBytes}-byte pages)`, () => {
    const piece = pieceBytesFor(pageBytes);
    const openSized = (dir: string, durability: Durability = "high", tailCacheBytesMax?: number): LmdbLogStore => openStore(dir, durability, tailCacheBytesMax, pageBytes);
    /** An entry of `bytes` data bytes whose content depends on its index and term. */
    function sized(index: number, bytes: number, term = 1): Entry {
      const data = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
      return { index: asIndex(index), term: asTerm(term), type: "normal", data };
    }
    // Around the piece size (the 24-byte header counts), and far past it.
    const sizes = [0, 100, piece - 25, piece - 24, piece - 23, 2 * piece - 24, 2 * piece + 1200, 100_000, 1_500_000];

    function rawStats(dir: string, name: string): { entryCount: number; overflowPages: number } {
      const raw = open({ path: join(dir, lmdbLogFileName), readOnly: true });
      try {
        const stats = raw.openDB({ name, encoding: "binary" }).getStats() as { entryCount: number; overflowPages: number };
        return { entryCount: stats.entryCount, overflowPages: stats.overflowPages };
      } finally {
        void raw.close();
      }
    }

    test("are stored in pieces, no record on overflow pages, and read back whole after a reopen", async () => {
      const dir = freshDir();
      const store = openSized(dir);
      await store.save({ ...noChange, entries: sizes.map((bytes, i) => sized(i + 1, bytes)) });
      await store.close();
      for (const name of ["entries", "pieces"]) expect(rawStats(dir, name).overflowPages).toBe(0);
      expect(rawStats(dir, "entries").entryCount).toBe(sizes.length);
      // A one-byte tail cache: every read goes to LMDB.
      const reopened = openSized(dir, "high", 1);
      expect(reopened.entries(asIndex(1), asIndex(sizes.length + 1), Infinity)).toEqual(sizes.map((bytes, i) => sized(i + 1, bytes)));
    });

    test("a conflicting entry replaces one in pieces; removal takes the pieces along", async () => {
      const dir = freshDir();
      const store = openSized(dir, "high", 1);
      const [long, shorter, longer] = [Math.round(piece * 4.7), Math.round(piece * 1.3), piece * 10];
      await store.save({ ...noChange, entries: [sized(1, 10), sized(2, long), sized(3, long), sized(4, long)] });
      // Index 2 again, shorter, at term 2 (its extra pieces must not linger), then index 3 longer.
      await store.save({ ...noChange, entries: [sized(2, shorter, 2), sized(3, longer, 2)] });
      expect(store.lastIndex()).toBe(asIndex(3));
      expect(store.entries(asIndex(1), asIndex(4), Infinity)).toEqual([sized(1, 10), sized(2, shorter, 2), sized(3, longer, 2)]);
      store.recordSnapshot({ index: asIndex(2), term: asTerm(2), membership: emptyMembership });
      store.compact(asIndex(2));
      await store.close();
      // Left: entry 3 alone, in ceil((24 + its bytes) / piece) records.
      expect(rawStats(dir, "entries").entryCount).toBe(1);
      expect(rawStats(dir, "pieces").entryCount).toBe(Math.ceil((24 + longer) / piece) - 1);
      const reopened = openSized(dir, "high", 1);
      expect(reopened.entries(asIndex(3), asIndex(4), Infinity)).toEqual([sized(3, longer, 2)]);
    });

    test("an entry stored whole, as before pieces, is read as it is", async () => {
      const dir = freshDir();
      const store = openSized(dir);
      await store.save({ ...noChange, entries: [sized(1, 10)] });
      await store.close();
      const whole = sized(2, piece + 5000);
      const encoded = new Uint8Array(24 + piece + 5000);
      encodeEntryInto(encoded, new DataView(encoded.buffer), 0, whole);
      const raw = open({ path: join(dir, lmdbLogFileName), compression: false });
      await raw.openDB<Uint8Array, number>({ name: "entries", encoding: "binary" }).put(2, encoded);
      await raw.close();
      const reopened = openSized(dir, "high", 1);
      expect(reopened.lastIndex()).toBe(asIndex(2));
      expect(reopened.entries(asIndex(1), asIndex(3), Infinity)).toEqual([sized(1, 10), whole]);
    });

    test("a damaged piece is a clear error naming the file", async () => {
      const dir = freshDir();
      const store = openSized(dir);
      await store.save({ ...noChange, entries: [sized(1, piece * 3), sized(2, 10)] });
      await store.close();
      const raw = open({ path: join(dir, lmdbLogFileName), compression: false });
      const pieces = raw.openDB<Uint8Array, [number, number]>({ name: "pieces", encoding: "binary" });
      const bad = Uint8Array.from(pieces.get([1, 2])!);
      bad[5] = bad[5]! ^ 0x01;
      await pieces.put([1, 2], bad);
      await raw.close();
      // Opening reads the last entry only; reading the damaged one fails.
      const damaged = openSized(dir, "high", 1);
      expect(() => damaged.entries(asIndex(1), asIndex(3), Infinity)).toThrow(StorageCorruptionError);
      expect(() => damaged.term(asIndex(1))).toThrow(join(dir, lmdbLogFileName));
    });
  });

  test("a new log file has 16 KB pages; one made with 4 KB pages keeps them, and its pieces, when reopened", async () => {
    const fresh = openStore(freshDir());
    expect(fresh.environment.getStats()).toMatchObject({ pageSize: lmdbPageBytesDefault });
    expect(fresh.pieceBytes).toBe(pieceBytesFor(lmdbPageBytesDefault));
    const dir = freshDir();
    const long = (index: number): Entry => ({ index: asIndex(index), term: asTerm(1), type: "normal", data: new Uint8Array(12_000).fill(index) });
    const old = openStore(dir, "high", 1, 4096);
    expect(old.pieceBytes).toBe(1900);
    await old.save({ ...noChange, entries: [long(1), long(2)] });
    await old.close();
    // Reopened with the default (16 KB for a new file): the file's own 4 KB pages and 1,900-byte pieces.
    const reopened = openStore(dir, "high", 1);
    expect(reopened.environment.getStats()).toMatchObject({ pageSize: 4096 });
    expect(reopened.pieceBytes).toBe(1900);
    await reopened.save({ ...noChange, entries: [long(3)] });
    expect(reopened.entries(asIndex(1), asIndex(4), Infinity)).toEqual([long(1), long(2), long(3)]);
    await reopened.close();
    expect(openStore(dir, "high", 1).entries(asIndex(1), asIndex(4), Infinity)).toEqual([long(1), long(2), long(3)]);
  });

  test("entries evicted from the tail cache, or compacted away, are not kept in memory", async () => {
    const dir = freshDir();
    // A 64 KB budget, and entries of 64 KB: once applied, each is evicted by the next.
    const store = openStore(dir, "medium", 64 * 1024);
    /** Saves entries [from, from + count) and returns weak references to their data. */
    async function saveWatched(from: number, count: number): Promise<WeakRef<Uint8Array>[]> {
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) entries.push({ index: asIndex(from + i), term: asTerm(1), type: "normal", data: new Uint8Array(64 * 1024).fill(i) });
      await store.save({ ...noChange, entries });
      return entries.map((entry) => new WeakRef(entry.data));
    }
    const evicted = await saveWatched(1, 200);
    store.applied(asIndex(200));
    const compacted = await saveWatched(201, 50);
    store.recordSnapshot({ index: asIndex(250), term: asTerm(1), membership: emptyMembership });
    store.compact(asIndex(249));
    Bun.gc(true);
    Bun.gc(true);
    // Before, up to 1,024 dead slots of the tail's array kept theirs (200 MB of 1 MB entries
    // in a node taking large SETs); the garbage collector may still see a stray pointer or two.
    expect(evicted.slice(0, 199).filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(2);
    expect(compacted.slice(0, 49).filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(2);
    // What is held is still read back, from LMDB or from the tail.
    expect(store.entries(asIndex(250), asIndex(251), Infinity)[0]?.data[0]).toBe(49);
  });

  /** What a crash at this moment would leave on disk: a copy of the files, opened as a store. */
  function crashImage(dir: string, durability: Durability = "high"): LmdbLogStore {
    const copy = freshDir();
    copyFileSync(join(dir, lmdbLogFileName), join(copy, lmdbLogFileName));
    if (existsSync(join(dir, lmdbJournalFileName))) copyFileSync(join(dir, lmdbJournalFileName), join(copy, lmdbJournalFileName));
    return openStore(copy, durability);
  }
  /** The entry at `index` has term 1 + index / 1000 (rounded down): steps land inside terms. */
  const stepTerm = (index: number): number => 1 + Math.floor(index / 1000);
  function termsFrom(low: number, high: number): Entry[] {
    const entries: Entry[] = [];
    for (let index = low; index <= high; index++) entries.push(expectedEntry(index, stepTerm(index)));
    return entries;
  }

  test("compaction leaves disk in bounded steps, each a dense log that reopens with the right terms", async () => {
    const dir = freshDir();
    // Saves too large for a journal group, each a transaction (a small save is a journal group, and
    // the steps ride with the next transaction instead). Medium: its saves are committed when
    // save() returns (their promises wait for the sync, a second away).
    const store = openStore(dir, "medium");
    for (let low = 1; low <= 20000; low += 5000) void store.save({ ...noChange, entries: termsFrom(low, low + 4999) });
    store.recordSnapshot({ index: asIndex(20000), term: asTerm(stepTerm(20000)), membership: emptyMembership });
    store.compact(asIndex(19000));
    // In memory at once; on disk nothing yet (no transaction since).
    expect(store.firstIndex()).toBe(asIndex(19001));
    expect(store.compactionBacklog()).toBe(19000);
    expect(crashImage(dir).firstIndex()).toBe(asIndex(1));
    // A save of 500 entries removes some of them (more than it appends), not all 19,000 at once.
    const commits = store.commitCount;
    void store.save({ ...noChange, entries: termsFrom(20001, 20500) });
    expect(store.commitCount).toBe(commits + 1);
    const backlog = store.compactionBacklog();
    expect(backlog).toBeGreaterThan(0);
    expect(backlog).toBeLessThan(19000 - 500);
    const partial = crashImage(dir);
    const first = partial.firstIndex();
    expect(first).toBe(asIndex(19000 - backlog + 1));
    expect(partial.lastIndex()).toBe(asIndex(20500));
    expect(partial.term(asIndex(first - 1))).toBe(asTerm(stepTerm(first - 1)));
    expect(partial.entries(first, asIndex(first + 3), Infinity)).toEqual(termsFrom(first, first + 2));
    // With no saves coming, transactions of its own finish the job.
    for (let waited = 0; store.compactionBacklog() > 0 && waited < 10_000; waited += 10) await Bun.sleep(10);
    expect(store.compactionBacklog()).toBe(0);
    const done = crashImage(dir);
    expect(done.firstIndex()).toBe(asIndex(19001));
    expect(done.term(asIndex(19000))).toBe(asTerm(stepTerm(19000)));
    expect(done.entries(asIndex(19001), asIndex(20501), Infinity)).toEqual(termsFrom(19001, 20500));
  });

  test("a snapshot that resets the log removes what compaction left on disk, in the same transaction", async () => {
    const dir = freshDir();
    const store = openStore(dir, "high");
    await store.save({ ...noChange, entries: termsFrom(1, 5000) });
    store.recordSnapshot({ index: asIndex(5000), term: asTerm(stepTerm(5000)), membership: emptyMembership });
    store.compact(asIndex(5000));
    const snapshot = { index: asIndex(9000), term: asTerm(9), membership: emptyMembership };
    await store.save({ snapshot, entries: termsFrom(9001, 9002), hardState: null });
    expect(store.compactionBacklog()).toBe(0);
    const image = crashImage(dir);
    expect(image.firstIndex()).toBe(asIndex(9001));
    expect(image.term(asIndex(9000))).toBe(asTerm(9));
    expect(image.entries(asIndex(9001), asIndex(9003), Infinity)).toEqual(termsFrom(9001, 9002));
  });

  describe("the journal", () => {
    test("saves not yet in LMDB come back after a crash, whether the node restarts at High or Medium", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      // A new term is saved in LMDB at once; appends with commit indexes then go to the journal.
      await store.save({ ...noChange, entries: entriesFrom(1, 100), hardState: { term: asTerm(1), vote: null, commit: asIndex(0) } });
      expect(store.journalWrites()).toBe(0);
      for (let low = 101; low <= 400; low += 100) {
        await store.save({ ...noChange, entries: entriesFrom(low, low + 99), hardState: { term: asTerm(1), vote: null, commit: asIndex(low) } });
      }
      expect(store.journalWrites()).toBe(3);
      for (const durability of ["high", "medium"] as const) {
        const image = crashImage(dir, durability);
        expect(image.firstIndex()).toBe(asIndex(1));
        expect(image.lastIndex()).toBe(asIndex(400));
        expect(image.entries(asIndex(1), asIndex(401), Infinity)).toEqual(entriesFrom(1, 400));
        expect(image.hardState().commit).toBe(asIndex(301));
      }
    });

    test("a torn last group is left out; the groups before it come back", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      for (let low = 1; low <= 300; low += 100) await store.save({ ...noChange, entries: entriesFrom(low, low + 99) });
      const copy = freshDir();
      copyFileSync(join(dir, lmdbLogFileName), join(copy, lmdbLogFileName));
      const journal = readFileSync(join(dir, lmdbJournalFileName));
      expect(journal.byteLength).toBe(journalBytesDefault);
      // The third group's records: a journal record, 100 entries, the end mark. Damage its last entry.
      const offsets = recordOffsets(journal);
      expect(offsets.length).toBe(3 * 102);
      journal[offsets[offsets.length - 2]! + 20]! ^= 0xff;
      writeFileSync(join(copy, lmdbJournalFileName), journal);
      const image = openStore(copy, "high");
      expect(image.lastIndex()).toBe(asIndex(200));
      expect(image.entries(asIndex(1), asIndex(201), Infinity)).toEqual(entriesFrom(1, 200));
      // The image goes on from there: a new save, a clean close, a reopen.
      await image.save({ ...noChange, entries: entriesFrom(201, 210, 2) });
      await image.close();
      expect(openStore(copy, "high").entries(asIndex(195), asIndex(211), Infinity)).toEqual([...entriesFrom(195, 200), ...entriesFrom(201, 210, 2)]);
    });

    test("after a checkpoint, groups left from before it are not read again", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      // A long group, then (after the checkpoint) a short one over its beginning.
      await store.save({ ...noChange, entries: entriesFrom(1, 500) });
      expect(store.journalWrites()).toBe(1);
      store.checkpoint();
      await store.save({ ...noChange, entries: entriesFrom(501, 501) });
      const image = crashImage(dir);
      expect(image.lastIndex()).toBe(asIndex(501));
      expect(image.entries(asIndex(490), asIndex(502), Infinity)).toEqual(entriesFrom(490, 501));
      // A clean close checkpoints too: the next open reads nothing from the journal.
      await store.close();
      const reopened = openStore(dir, "high");
      expect(reopened.lastIndex()).toBe(asIndex(501));
      expect(reopened.commitCount).toBe(0);
    });

    test("a group left from before a checkpoint, whole and where the next group would start, is not read again", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      await store.save({ ...noChange, entries: entriesFrom(1, 99), hardState: { term: asTerm(1), vote: null, commit: asIndex(0) } });
      // Groups of 37 entries from 100 on have the same size (three digits, every `index % 37`).
      const commit = (index: number) => ({ term: asTerm(1), vote: null, commit: asIndex(index) });
      for (const low of [100, 137, 174]) await store.save({ ...noChange, entries: entriesFrom(low, low + 36), hardState: commit(low) });
      expect(store.journalWrites()).toBe(3);
      store.checkpoint();
      // The next group lands over the first one; the second one follows it, intact, with its number.
      await store.save({ ...noChange, entries: entriesFrom(211, 247), hardState: commit(211) });
      const offsets = recordOffsets(readFileSync(join(dir, lmdbJournalFileName)));
      expect(offsets.length).toBeGreaterThanOrEqual(2 * 40);
      const image = crashImage(dir);
      expect(image.lastIndex()).toBe(asIndex(247));
      expect(image.entries(asIndex(200), asIndex(248), Infinity)).toEqual(entriesFrom(200, 247));
      expect(image.hardState().commit).toBe(asIndex(211));
      // And what the checkpoint took is in LMDB alone: the hard state of its last group too.
      const lmdbOnly = freshDir();
      copyFileSync(join(dir, lmdbLogFileName), join(lmdbOnly, lmdbLogFileName));
      // An empty journal beside it: go on without the journal's groups (a missing one is refused).
      writeFileSync(join(lmdbOnly, lmdbJournalFileName), "");
      const checkpointed = openStore(lmdbOnly, "high");
      expect(checkpointed.lastIndex()).toBe(asIndex(210));
      expect(checkpointed.hardState().commit).toBe(asIndex(174));
    });

    test("entries waiting in the journal stay in memory past the tail's budget, applied or not, until a checkpoint", async () => {
      const store = openStore(freshDir(), "high", 4096);
      await store.save({ ...noChange, entries: entriesFrom(1, 500) });
      expect(store.journalWrites()).toBe(1);
      store.applied(asIndex(500));
      // Not in LMDB yet: the tail is the only place to read them from.
      expect(store.cacheStatus().from).toBe(asIndex(1));
      expect(store.entries(asIndex(1), asIndex(501), Infinity)).toEqual(entriesFrom(1, 500));
      store.checkpoint();
      store.applied(asIndex(500));
      expect(store.cacheStatus().from).toBeGreaterThan(asIndex(400));
      expect(store.entries(asIndex(1), asIndex(501), Infinity)).toEqual(entriesFrom(1, 500));
    });

    test("saves beyond the journal's size checkpoint into LMDB and start the journal over; all of them come back", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      const perSave = 500; // about 40 KB a group: the journal fills every 25 saves
      for (let low = 1; low <= 60 * perSave; low += perSave) await store.save({ ...noChange, entries: entriesFrom(low, low + perSave - 1) });
      expect(store.journalWrites()).toBe(60);
      expect(store.commitCount).toBeGreaterThanOrEqual(2);
      expect(store.commitCount).toBeLessThan(10);
      const image = crashImage(dir);
      expect(image.lastIndex()).toBe(asIndex(60 * perSave));
      expect(image.entries(asIndex(1), asIndex(60 * perSave + 1), Infinity)).toEqual(entriesFrom(1, 60 * perSave));
    });

    test("a save larger than a journal group may be is a transaction of its own, after the groups waiting", async () => {
      const dir = freshDir();
      const store = openStore(dir, "high");
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      const commits = store.commitCount;
      await store.save({ ...noChange, entries: [{ index: asIndex(11), term: asTerm(1), type: "normal", data: new Uint8Array(journalGroupBytesMax + 1).fill(7) }] });
      expect(store.journalWrites()).toBe(1);
      expect(store.commitCount).toBe(commits + 1);
      const lmdbOnly = freshDir();
      copyFileSync(join(dir, lmdbLogFileName), join(lmdbOnly, lmdbLogFileName));
      // An empty journal beside it: go on without the journal's groups (a missing one is refused).
      writeFileSync(join(lmdbOnly, lmdbJournalFileName), "");
      const stored = openStore(lmdbOnly, "high");
      expect(stored.lastIndex()).toBe(asIndex(11));
      expect(stored.entries(asIndex(1), asIndex(11), Infinity)).toEqual(entriesFrom(1, 10));
    });

    test("below High, groups LMDB has taken stay in the journal ahead of those it has not; a crash brings the latter back", async () => {
      const dir = freshDir();
      const store = openStore(dir, "medium");
      const commits = store.commitCount;
      for (let index = 1; index <= 300; index++) {
        void store.save({ ...noChange, entries: entriesFrom(index, index), hardState: { term: asTerm(0), vote: null, commit: asIndex(index) } });
      }
      // One journal group per save; LMDB takes them 128 at a time.
      expect(store.journalWrites()).toBe(300);
      expect(store.commitCount - commits).toBe(2);
      for (const durability of ["medium", "high", "low"] as const) {
        const image = crashImage(dir, durability);
        expect(image.lastIndex()).toBe(asIndex(300));
        expect(image.entries(asIndex(1), asIndex(301), Infinity)).toEqual(entriesFrom(1, 300));
        expect(image.hardState().commit).toBe(asIndex(300));
      }
      await store.flush();
    });

    test("a store reopened after a run below High flushes LMDB before its journal starts over, even with no group to take", async () => {
      const dir = freshDir();
      const store = openStore(dir, "medium");
      // 128 single-entry saves: LMDB takes them all, without a flush; the journal still holds them.
      for (let index = 1; index <= 128; index++) void store.save({ ...noChange, entries: entriesFrom(index, index) });
      expect(store.journalWrites()).toBe(128);
      expect(store.commitCount).toBe(1);
      // A crash now, then a restart: new groups will overwrite those, so LMDB's copy must be on disk first.
      // At High too: its transactions flush, but the groups LMDB took before it opened may not be.
      for (const durability of ["medium", "high"] as const) {
        const image = crashImage(dir, durability);
        expect(image.syncCount()).toBe(1);
        expect(image.entries(asIndex(1), asIndex(129), Infinity)).toEqual(entriesFrom(1, 128));
      }
      await store.flush();
    });

    test("below High, a full journal starts over once LMDB's file is flushed, off the loop; saves meanwhile are transactions", async () => {
      const dir = freshDir();
      const store = openStore(dir, "low");
      let next = 1;
      const saveSome = (count: number): void => {
        for (let k = 0; k < count; k++, next += 50) void store.save({ ...noChange, entries: entriesFrom(next, next + 49) });
      };
      // Groups of about 5 KB: the journal is full after about 200.
      saveSome(300);
      const written = store.journalWrites();
      expect(written).toBeLessThan(300);
      // Until LMDB's file is flushed, every save is a transaction of its own.
      const commits = store.commitCount;
      saveSome(3);
      expect(store.commitCount).toBe(commits + 3);
      expect(store.journalWrites()).toBe(written);
      for (let waited = 0; waited < 5_000; waited += 5) {
        saveSome(1);
        if (store.journalWrites() > written) break;
        await Bun.sleep(5);
      }
      expect(store.journalWrites()).toBe(written + 1);
      saveSome(100);
      const image = crashImage(dir, "low");
      expect(image.lastIndex()).toBe(asIndex(next - 1));
      expect(image.entries(asIndex(1), asIndex(next), Infinity)).toEqual(entriesFrom(1, next - 1));
      await store.flush();
    });

    test("a group completed by records of another (a torn write over an older group) is not read", async () => {
      const dir = freshDir();
      const path = join(dir, lmdbJournalFileName);
      const journal = Journal.open(path, { syncEach: true });
      // Entries 10-12 and 47-49 have records of the same sizes, pairwise.
      expect(journal.append(1, entriesFrom(10, 12), null)).toBe("written");
      expect(journal.append(2, entriesFrom(47, 49), null)).toBe("written");
      expect(journal.read(0).map((save) => save.number)).toEqual([1, 2]);
      journal.close();
      const original = readFileSync(path);
      const offsets = recordOffsets(original);
      expect(offsets.length).toBe(10);
      const record = (k: number): Buffer => original.subarray(offsets[k]!, offsets[k]! + 9 + original.readUInt32BE(offsets[k]!));
      const tampered = (into: number, from: number): Buffer => {
        const copy = Buffer.from(original);
        expect(record(from).byteLength).toBe(record(into).byteLength);
        record(from).copy(copy, offsets[into]!);
        return copy;
      };
      // Group 2 ending with group 1's end mark; group 2 with group 1's middle entry in place of its own.
      for (const bytes of [tampered(9, 4), tampered(7, 2)]) {
        writeFileSync(path, bytes);
        const reopened = Journal.open(path, { syncEach: true });
        expect(reopened.read(0).map((save) => save.number)).toEqual([1]);
        reopened.close();
      }
    });

    test("a journal that begins after a gap in the saves LMDB holds is a clear error naming the file", async () => {
      const dir = freshDir();
      const journal = Journal.open(join(dir, lmdbJournalFileName), { syncEach: true });
      expect(journal.append(5, entriesFrom(1, 3), null)).toBe("written");
      journal.close();
      expect(() => LmdbLogStore.open(dir, { backend: "lmdb", durability: "high" })).toThrow(StorageCorruptionError);
      expect(() => LmdbLogStore.open(dir, { backend: "lmdb", durability: "medium" })).toThrow(join(dir, lmdbJournalFileName));
    });

    /** A store at High with three journal groups of 100 entries after a first save LMDB holds; its crash image's files. */
    async function threeGroups(): Promise<{ lmdb: Buffer; journal: Buffer; offsets: number[] }> {
      const dir = freshDir();
      const store = openStore(dir, "high");
      await store.save({ ...noChange, entries: entriesFrom(1, 10), hardState: { term: asTerm(1), vote: null, commit: asIndex(0) } });
      for (let low = 11; low <= 300; low += 100) await store.save({ ...noChange, entries: entriesFrom(low, low + 99) });
      expect(store.journalWrites()).toBe(3);
      const journal = readFileSync(join(dir, lmdbJournalFileName));
      return { lmdb: readFileSync(join(dir, lmdbLogFileName)), journal, offsets: recordOffsets(journal) };
    }
    function imageOf(lmdb: Uint8Array, journal: Uint8Array | null): string {
      const copy = freshDir();
      writeFileSync(join(copy, lmdbLogFileName), lmdb);
      if (journal !== null) writeFileSync(join(copy, lmdbJournalFileName), journal);
      return copy;
    }

    test("a journal damaged before groups that follow is refused, naming it (a crash tears the last group only); emptied, LMDB's saves go on", async () => {
      const { lmdb, journal, offsets } = await threeGroups();
      expect(offsets.length).toBe(3 * 102);
      // An entry of the first group (save 1): the two after it are whole.
      journal[offsets[5]! + 20]! ^= 0xff;
      const dir = imageOf(lmdb, journal);
      let refusal: unknown = null;
      try {
        openStore(dir, "high");
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(StorageCorruptionError);
      expect(String(refusal)).toContain(`the journal ${join(dir, lmdbJournalFileName)} is damaged at byte 0, and save 2 follows it`);
      expect(String(refusal)).toContain(`truncate -s 0 ${join(dir, lmdbJournalFileName)}`);
      // The operator's way on without the journal: an empty file in its place.
      writeFileSync(join(dir, lmdbJournalFileName), "");
      const store = openStore(dir, "high");
      expect(store.lastIndex()).toBe(asIndex(10));
      await store.save({ ...noChange, entries: entriesFrom(11, 20) });
      expect(store.entries(asIndex(1), asIndex(21), Infinity)).toEqual(entriesFrom(1, 20));
    });

    test("a last group whose end is on disk but not its beginning (a power loss inside its fdatasync) is left out", async () => {
      const { lmdb, journal, offsets } = await threeGroups();
      // The third group's opening record and first entry lost; its end mark sound.
      const third = offsets[2 * 102]!;
      journal.fill(0, third, offsets[2 * 102 + 2]!);
      const store = openStore(imageOf(lmdb, journal), "high");
      expect(store.lastIndex()).toBe(asIndex(210));
      expect(store.entries(asIndex(1), asIndex(211), Infinity)).toEqual(entriesFrom(1, 210));
    });

    test("a missing journal is refused when the last run left it open (a crash), and made anew after a clean close", async () => {
      const { lmdb } = await threeGroups();
      expect(() => openStore(imageOf(lmdb, null), "high")).toThrow("is missing, but the last run did not close it");
      expect(() => openStore(imageOf(lmdb, null), "medium")).toThrow(StorageCorruptionError);
      const dir = freshDir();
      const store = openStore(dir, "high");
      await store.save({ ...noChange, entries: entriesFrom(1, 10) });
      await store.close();
      rmSync(join(dir, lmdbJournalFileName));
      const reopened = openStore(dir, "high");
      expect(reopened.entries(asIndex(1), asIndex(11), Infinity)).toEqual(entriesFrom(1, 10));
      // Open again: a crash of this run without its journal is refused once more.
      await reopened.save({ ...noChange, entries: entriesFrom(11, 12) });
      expect(() => openStore(imageOf(readFileSync(join(dir, lmdbLogFileName)), null), "high")).toThrow(StorageCorruptionError);
    });
  });

  test("compaction frees pages that LMDB reuses: disk use stays bounded", async () => {
    const store = openStore(freshDir(), "low");
    const sizes: number[] = [];
    let next = 1;
    for (let round = 0; round < 12; round++) {
      await Promise.all([store.save({ ...noChange, entries: entriesFrom(next, next + 4999) }), store.flush()]);
      next += 5000;
      const last = asIndex(next - 1);
      store.recordSnapshot({ index: last, term: asTerm(1), membership: emptyMembership });
      store.compact(last);
      await store.flush();
      sizes.push(store.diskBytes());
    }
    expect(sizes[11]!).toBeLessThanOrEqual(sizes[3]! * 1.5);
  });
});
