/**
 * The records the snapshot writes around a large value by hand (`rawItemRecord`) are byte for
 * byte msgpackr's, for keys, sequence numbers, lengths and expiry times across msgpack's size
 * classes. (Round trips of whole keyspaces with such values: test/clone-types.test.ts.)
 */
import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { rawItemRecord } from "./snapshot.ts";

test("a record made around its data by hand is what msgpackr packs", () => {
  const packr = new Packr({ useRecords: false });
  const keys = [0, 1, 255, 256, 65_535, 65_536].map((length) => new Uint8Array(length).fill(107));
  const numbers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_764_350_000_123, Number.MAX_SAFE_INTEGER];
  const datas = [0, 1, 255, 256, 65_535, 65_536, 300_000].map((length) => new Uint8Array(length).fill(7));
  for (const key of keys) {
    for (const seq of numbers) {
      for (const data of datas) {
        for (const expiresAt of [0, 1, 2 ** 32, 1_764_350_000_123]) {
          for (const type of [0, 1]) {
            const item = expiresAt === 0 ? [key, type, seq, data] : [key, type, seq, data, expiresAt];
            const parts = rawItemRecord(key, type, seq, data, expiresAt);
            expect(parts[1]).toBe(data);
            expect(Buffer.concat(parts).equals(packr.pack([item]))).toBe(true);
          }
        }
      }
    }
  }
});
