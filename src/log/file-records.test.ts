import { describe, expect, test } from "bun:test";
import { asIndex, asTerm, type Entry } from "../raft/types.ts";
import { recordOffsets, RecordKind, RecordWriter } from "./file-records.ts";

function entry(index: number, bytes: number): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + i) & 0xff;
  return { index: asIndex(index), term: asTerm(1), type: "normal", data };
}

/** The bytes a new writer makes of `entries` and a closing mark. */
function freshGroup(entries: readonly Entry[]): Uint8Array {
  const writer = new RecordWriter();
  for (const e of entries) writer.addEntry(e);
  writer.add(RecordKind.saveEnd, new Uint8Array(0));
  return writer.finish().slice();
}

describe("RecordWriter reused with reset", () => {
  test("encodes each group as a new writer would, whatever the groups before it held", () => {
    const writer = new RecordWriter();
    // Sizes that grow the buffer, shrink back below what it holds, and pass the kept maximum.
    const groups = [[3000], [40_000, 20_000], [10], [], [2 * 1024 * 1024], [500, 500, 500], [70_000]];
    let index = 1;
    for (const sizes of groups) {
      const entries = sizes.map((bytes) => entry(index++, bytes));
      writer.reset();
      for (const e of entries) writer.addEntry(e);
      writer.add(RecordKind.saveEnd, new Uint8Array(0));
      const written = writer.finish();
      expect(written).toEqual(freshGroup(entries));
      // Every record is whole and passes its checksum: none carries bytes of an earlier group.
      expect(recordOffsets(written)).toHaveLength(entries.length + 1);
    }
  });

  test("a reset writer starts from nothing", () => {
    const writer = new RecordWriter();
    writer.addEntry(entry(1, 100));
    expect(writer.bytes).toBeGreaterThan(100);
    writer.reset();
    expect(writer.bytes).toBe(0);
    expect(writer.finish().byteLength).toBe(0);
  });
});
