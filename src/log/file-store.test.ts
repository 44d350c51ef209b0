import { afterEach, describe, expect, test } from "bun:test";
import { fdatasyncSync, fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../log.ts";
import { asIndex, asNodeId, asTerm, emptyMembership, type Entry } from "../raft/types.ts";
import { recordOffsets } from "./file-records.ts";
import { FileLogStore, type FileSyncHooks } from "./file-store.ts";
import { registerStoreContract } from "./store-contract.ts";
import { fileLogFileName, StorageCorruptionError, type Durability } from "./store.ts";
import { expectedEntry } from "./testing/expected-entries.ts";

registerStoreContract("memory", async (dir, durability) => {
  const store = FileLogStore.open(dir, { backend: "memory", durability });
  return { store, syncCount: () => store.syncCount() };
});

function entriesFrom(low: number, high: number, term = 1): Entry[] {
  const entries: Entry[] = [];
  for (let index = low; index <= high; index++) entries.push(expectedEntry(index, term));
  return entries;
}
const noChange = { hardState: null, entries: [], snapshot: null } as const;

describe("file log store", () => {
  const dirs: string[] = [];
  const stores: FileLogStore[] = [];
  function freshDir(): string {
    const dir = mkdtempSync(join(tmpdir(), "finn-file-"));
    dirs.push(dir);
    return dir;
  }
  function openStore(
    dir: string,
    options: { durability?: Durability; lines?: string[]; rewriteGarbageBytesMin?: number; hooks?: FileSyncHooks } = {},
  ): FileLogStore {
    const lines = options.lines ?? [];
    const store = FileLogStore.open(
      dir,
      {
        backend: "memory",
        durability: options.durability ?? "high",
        logger: new Logger("notice", (line) => lines.push(line)),
        ...(options.rewriteGarbageBytesMin === undefined ? {} : { rewriteGarbageBytesMin: options.rewriteGarbageBytesMin }),
      },
      options.hooks ?? {},
    );
    stores.push(store);
    return store;
  }
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  test("high: save() fdatasyncs what it wrote before it returns, one fsync per save", async () => {
    const events: string[] = [];
    const hooks: FileSyncHooks = {
      syncNow: (fd) => {
        events.push(`sync ${fstatSync(fd).size}`);
        fdatasyncSync(fd);
      },
    };
    const store = openStore(freshDir(), { hooks });
    for (const index of [1, 2, 3]) {
      const saved = store.save({ ...noChange, entries: entriesFrom(index, index) });
      events.push(`returned ${store.diskBytes()}`);
      await saved;
    }
    // Each sync saw the whole save already in the file (its size), and came before save() returned.
    expect(events.length).toBe(6);
    for (let i = 0; i < 6; i += 2) {
      const size = events[i + 1]!.split(" ")[1];
      expect(events[i]).toBe(`sync ${size}`);
    }
    expect(store.syncCount()).toBe(3);
  });

  test("high: a failed fsync fails the save and every later use of the store", async () => {
    const store = openStore(freshDir(), {
      hooks: {
        syncNow: () => {
          throw new Error("EIO: fsync failed");
        },
      },
    });
    await expect(store.save({ ...noChange, entries: entriesFrom(1, 1) })).rejects.toThrow("EIO");
    expect(() => store.save({ ...noChange, entries: entriesFrom(2, 2) })).toThrow("EIO");
  });

  /** A store with entries 1..5 saved one by one and a hard state; returns the file bytes. */
  async function fiveEntries(dir: string): Promise<{ bytes: Uint8Array; lastSaveStart: number }> {
    const store = openStore(dir);
    for (let index = 1; index <= 4; index++) await store.save({ ...noChange, entries: entriesFrom(index, index) });
    await store.save({ ...noChange, hardState: { term: asTerm(1), vote: asNodeId("b"), commit: asIndex(3) } });
    const before = store.diskBytes();
    await store.save({ ...noChange, entries: entriesFrom(5, 5) });
    await store.close();
    return { bytes: readFileSync(join(dir, fileLogFileName)), lastSaveStart: before };
  }

  test("a torn final save, cut at any byte, is dropped with a warning and nothing else", async () => {
    const source = freshDir();
    const { bytes, lastSaveStart } = await fiveEntries(source);
    expect(recordOffsets(bytes)).toContain(lastSaveStart);
    for (let cut = lastSaveStart; cut < bytes.byteLength; cut++) {
      const dir = freshDir();
      writeFileSync(join(dir, fileLogFileName), bytes.subarray(0, cut));
      const lines: string[] = [];
      const store = openStore(dir, { lines });
      expect(store.lastIndex()).toBe(asIndex(4));
      expect(store.hardState().commit).toBe(asIndex(3));
      expect(lines.length).toBe(cut === lastSaveStart ? 0 : 1);
      if (cut > lastSaveStart) expect(lines[0]).toContain("dropped the last");
      // The torn bytes are cut off: the next save follows a clean record and survives a reopen.
      await store.save({ ...noChange, entries: entriesFrom(5, 6, 2) });
      await store.close();
      const reopened = openStore(dir);
      expect(reopened.lastIndex()).toBe(asIndex(6));
      expect(reopened.term(asIndex(5))).toBe(asTerm(2));
      await reopened.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a zero-filled tail (power loss) is dropped like a torn save", async () => {
    const dir = freshDir();
    const { bytes } = await fiveEntries(dir);
    const padded = new Uint8Array(bytes.byteLength + 4096);
    padded.set(bytes);
    writeFileSync(join(dir, fileLogFileName), padded);
    const lines: string[] = [];
    const store = openStore(dir, { lines });
    expect(store.lastIndex()).toBe(asIndex(5));
    expect(lines.length).toBe(1);
  });

  test("a corrupt record before the end is an error naming the file, the offset and what to do", async () => {
    const dir = freshDir();
    const { bytes } = await fiveEntries(dir);
    const offsets = recordOffsets(bytes);
    const victim = offsets[2]!; // a record of the second save
    const damaged = Uint8Array.from(bytes);
    damaged[victim + 12] = damaged[victim + 12]! ^ 0x01;
    const path = join(dir, fileLogFileName);
    writeFileSync(path, damaged);
    let error: unknown = null;
    try {
      openStore(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(StorageCorruptionError);
    const corruption = error as StorageCorruptionError;
    expect(corruption.file).toBe(path);
    expect(corruption.offset).toBe(victim);
    expect(corruption.message).toContain(`${path} is corrupt at byte ${victim}`);
    expect(corruption.message).toContain(`move the data directory ${dir} away`);
  });

  test("a damaged length that makes an early record look torn is still corruption", async () => {
    const dir = freshDir();
    const { bytes } = await fiveEntries(dir);
    const victim = recordOffsets(bytes)[2]!;
    const damaged = Uint8Array.from(bytes);
    new DataView(damaged.buffer).setUint32(victim, 1_000_000); // runs past the end of the file
    writeFileSync(join(dir, fileLogFileName), damaged);
    expect(() => openStore(dir)).toThrow(`is corrupt at byte ${victim}`);
  });

  test("compaction rewrites the file once garbage dominates, and disk use stays bounded", async () => {
    const dir = freshDir();
    const store = openStore(dir, { durability: "low", rewriteGarbageBytesMin: 64 * 1024 });
    const sizes: number[] = [];
    let next = 1;
    for (let round = 0; round < 10; round++) {
      void store.save({ ...noChange, entries: entriesFrom(next, next + 999), hardState: { term: asTerm(1), vote: null, commit: asIndex(next + 999) } });
      next += 1000;
      const snapshotIndex = asIndex(next - 11);
      store.recordSnapshot({ index: snapshotIndex, term: asTerm(1), membership: emptyMembership });
      store.compact(snapshotIndex);
      sizes.push(store.diskBytes());
    }
    await store.flush();
    expect(store.rewriteCount).toBeGreaterThan(0);
    expect(sizes[9]!).toBeLessThanOrEqual(Math.max(...sizes.slice(0, 3)) * 1.5);
    expect(existsSync(join(dir, `${fileLogFileName}.rewrite`))).toBe(false);
    await store.close();
    const reopened = openStore(dir);
    expect(reopened.firstIndex()).toBe(asIndex(next - 10));
    expect(reopened.lastIndex()).toBe(asIndex(next - 1));
    expect(reopened.term(asIndex(next - 11))).toBe(asTerm(1));
    expect(reopened.hardState().commit).toBe(asIndex(next - 1));
    expect(reopened.snapshotMetadata().index).toBe(asIndex(next - 11));
  });

  test("a leftover rewrite file from a crash is removed at start", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${fileLogFileName}.rewrite`), "partial");
    const store = openStore(dir);
    expect(existsSync(join(dir, `${fileLogFileName}.rewrite`))).toBe(false);
    expect(store.lastIndex()).toBe(asIndex(0));
  });
});
