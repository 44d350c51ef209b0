import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asIndex, asNodeId, asTerm, type HardState, type SnapshotMetadata } from "../raft/types.ts";
import { FileLogStore } from "./file-store.ts";
import { LmdbLogStore } from "./lmdb-store.ts";
import { changesTermOrVote, openLogStore } from "./store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test("openLogStore opens the backend asked for, and passes snapshotData through", async () => {
  const data = new Uint8Array([7, 8, 9]);
  for (const [backend, kind] of [
    ["lmdb", LmdbLogStore],
    ["memory", FileLogStore],
  ] as const) {
    const dir = mkdtempSync(join(tmpdir(), "finn-open-"));
    dirs.push(dir);
    const seen: SnapshotMetadata[] = [];
    const store = await openLogStore(dir, {
      backend,
      durability: "medium",
      snapshotData: (metadata) => {
        seen.push(metadata);
        return data;
      },
    });
    expect(store).toBeInstanceOf(kind);
    expect(store.snapshot().data).toBe(data);
    expect(seen[0]!.index).toBe(asIndex(0));
    await store.close();
  }
});

test("only term and vote changes are urgent", () => {
  const current: HardState = { term: asTerm(2), vote: null, commit: asIndex(5) };
  expect(changesTermOrVote(current, null)).toBe(false);
  expect(changesTermOrVote(current, { ...current, commit: asIndex(9) })).toBe(false);
  expect(changesTermOrVote(current, { ...current, term: asTerm(3) })).toBe(true);
  expect(changesTermOrVote(current, { ...current, vote: asNodeId("b") })).toBe(true);
});
