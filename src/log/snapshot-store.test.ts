import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asIndex, asNodeId, asTerm, type SnapshotMetadata } from "../raft/types.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { StorageCorruptionError } from "./store.ts";

function metadataAt(index: number, term = 2): SnapshotMetadata {
  return {
    index: asIndex(index),
    term: asTerm(term),
    membership: { voters: [asNodeId("a"), asNodeId("b")], learners: [asNodeId("c")], addresses: { a: ":7481", b: ":7482", c: ":7483" } },
  };
}

function dataOf(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let position = 0; position < length; position++) bytes[position] = (position * 31 + seed) & 0xff;
  return bytes;
}

async function writeSnapshot(store: SnapshotStore, metadata: SnapshotMetadata, data: Uint8Array, chunkBytes = 100_000): Promise<void> {
  const writer = await store.create(metadata);
  for (let offset = 0; offset < data.byteLength; offset += chunkBytes) await writer.write(data.subarray(offset, offset + chunkBytes));
  await writer.finish();
}

describe("snapshot store", () => {
  const dirs: string[] = [];
  function freshDir(): string {
    const dir = mkdtempSync(join(tmpdir(), "finn-snap-"));
    dirs.push(dir);
    return dir;
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  test("none at first", async () => {
    expect(await SnapshotStore.open(freshDir()).latest()).toBeNull();
  });

  test("write streamed in chunks, read back whole and in chunks, byte-exact", async () => {
    const store = SnapshotStore.open(freshDir());
    const data = dataOf(2_500_000, 7);
    await writeSnapshot(store, metadataAt(100), data);
    const latest = await store.latest();
    expect(latest).not.toBeNull();
    expect(latest!.metadata).toEqual(metadataAt(100));
    expect(Buffer.from(await latest!.readAll()).equals(Buffer.from(data))).toBe(true);
    const parts: Uint8Array[] = [];
    for await (const chunk of latest!.chunks()) parts.push(chunk);
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
  });

  test("an empty snapshot is valid", async () => {
    const store = SnapshotStore.open(freshDir());
    await writeSnapshot(store, metadataAt(5), new Uint8Array(0));
    const latest = await store.latest();
    expect((await latest!.readAll()).byteLength).toBe(0);
  });

  test("keeps the newest N and deletes older ones", async () => {
    const store = SnapshotStore.open(freshDir(), { keep: 2 });
    for (const index of [10, 20, 30, 40]) await writeSnapshot(store, metadataAt(index), dataOf(1000, index));
    expect(store.list().length).toBe(2);
    const latest = await store.latest();
    expect(latest!.metadata.index).toBe(asIndex(40));
    expect(Buffer.from(await latest!.readAll()).equals(Buffer.from(dataOf(1000, 40)))).toBe(true);
  });

  test("abort leaves nothing; leftover temporary files are removed at start", async () => {
    const dir = freshDir();
    const store = SnapshotStore.open(dir);
    const writer = await store.create(metadataAt(9));
    await writer.write(dataOf(100, 1));
    await writer.abort();
    expect(readdirSync(store.dir)).toEqual([]);
    const crashed = await store.create(metadataAt(10));
    await crashed.write(dataOf(100, 1)); // never finished: as if the process died here
    writeFileSync(join(store.dir, "snapshot-x.snap.tmp"), "junk");
    expect(readdirSync(store.dir).length).toBe(2);
    const reopened = SnapshotStore.open(dir);
    expect(readdirSync(reopened.dir)).toEqual([]);
    expect(await reopened.latest()).toBeNull();
    await crashed.abort(); // closes its descriptor; the file is already gone
  });

  test("a directory named like a snapshot is not one: the newest snapshot file is used", async () => {
    const store = SnapshotStore.open(freshDir());
    const writer = await store.create(metadataAt(10));
    await writer.write(dataOf(100, 1));
    await writer.finish();
    mkdirSync(join(store.dir, "snapshot-00000000000000000099-00000000000000000001.snap"));
    expect((await store.latest())!.metadata.index).toBe(asIndex(10));
  });

  test("a corrupt or truncated newest snapshot is a clear error naming the file, never used", async () => {
    const store = SnapshotStore.open(freshDir());
    await writeSnapshot(store, metadataAt(10), dataOf(5000, 1));
    await writeSnapshot(store, metadataAt(20), dataOf(5000, 2));
    const path = join(store.dir, store.list()[0]!);
    const original = readFileSync(path);

    const flipped = Uint8Array.from(original);
    flipped[flipped.byteLength - 100] = flipped[flipped.byteLength - 100]! ^ 0x10;
    writeFileSync(path, flipped);
    await expect(store.latest()).rejects.toThrow(`snapshot file ${path} is corrupt: the data fails its checksum`);

    writeFileSync(path, original);
    truncateSync(path, original.byteLength - 1);
    await expect(store.latest()).rejects.toThrow(StorageCorruptionError);
    await expect(store.latest()).rejects.toThrow("Move it away to start from the previous snapshot");

    const badHeader = Uint8Array.from(original);
    badHeader[14] = badHeader[14]! ^ 0x01; // inside the index field
    writeFileSync(path, badHeader);
    await expect(store.latest()).rejects.toThrow("the header fails its checksum");

    // Moving it away, as the message says, falls back to the previous snapshot.
    rmSync(path);
    expect((await store.latest())!.metadata.index).toBe(asIndex(10));
  });

  test("readDataSync: a snapshot's data read back whole by its metadata, checked; null when its file is gone", async () => {
    const store = SnapshotStore.open(freshDir());
    const data = dataOf(300_000, 3);
    await writeSnapshot(store, metadataAt(30), data);
    expect(Buffer.from(store.readDataSync(metadataAt(30))!).equals(Buffer.from(data))).toBe(true);
    expect(store.readDataSync(metadataAt(31))).toBeNull();
    await writeSnapshot(store, metadataAt(40), new Uint8Array(0));
    expect(store.readDataSync(metadataAt(40))!.byteLength).toBe(0);

    const path = join(store.dir, store.list().find((name) => name.includes(String(30).padStart(20, "0")))!);
    const original = readFileSync(path);
    const flipped = Uint8Array.from(original);
    flipped[flipped.byteLength - 10] = flipped[flipped.byteLength - 10]! ^ 0x01;
    writeFileSync(path, flipped);
    expect(() => store.readDataSync(metadataAt(30))).toThrow(`snapshot file ${path} is corrupt: the data fails its checksum`);
    truncateSync(path, original.byteLength - 1);
    expect(() => store.readDataSync(metadataAt(30))).toThrow("the data is truncated");
    writeFileSync(path, Buffer.concat([original, Buffer.from("x")]));
    expect(() => store.readDataSync(metadataAt(30))).toThrow("bytes follow the data");
  });
});
