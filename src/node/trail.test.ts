import { describe, expect, test } from "bun:test";
import { Trail } from "./trail.ts";

/** Applies entries `from..to` of `bytes` bytes each. */
function apply(trail: Trail, from: number, to: number, bytes: number): void {
  for (let index = from; index <= to; index++) trail.applied(index, bytes);
}

describe("Trail", () => {
  test("small entries: the count bounds the trail", () => {
    const trail = new Trail(100, 1_000_000);
    apply(trail, 1, 1000, 10);
    expect(trail.compactionPoint(1000)).toBe(900);
    expect(trail.compactionPoint(950)).toBe(850);
  });

  test("large entries: the bytes bound the trail, to within a mark's spacing", () => {
    const trail = new Trail(10_000, 1600);
    // 100-byte entries: marks every 100 bytes (1600 / 16), i.e. at every entry.
    apply(trail, 1, 1000, 100);
    const point = trail.compactionPoint(1000);
    // Entries (point, 1000] hold at most 1600 bytes, and not much less.
    expect((1000 - point) * 100).toBeLessThanOrEqual(1600);
    expect((1000 - point) * 100).toBeGreaterThanOrEqual(1600 - 100);
  });

  test("entries larger than the spacing: still within the bound", () => {
    const trail = new Trail(10_000, 64 * 1024 * 1024);
    // ~480 KB entries, as 50 clients' 16 KB SETs make: the count would keep 4.9 GB.
    const entryBytes = 480 * 1024;
    apply(trail, 1, 10_300, entryBytes);
    const point = trail.compactionPoint(10_271);
    const kept = (10_300 - point) * entryBytes;
    expect(kept).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(kept).toBeGreaterThan(48 * 1024 * 1024);
  });

  test("never past the snapshot's index", () => {
    const trail = new Trail(10, 1000);
    apply(trail, 1, 50, 10);
    // Then many bytes after the snapshot's index 50: everything behind it goes, nothing after.
    apply(trail, 51, 60, 1000);
    expect(trail.compactionPoint(50)).toBe(50);
  });

  test("what came before the trail began is held to the count only, until bytes past the bound are counted", () => {
    const trail = new Trail(1000, 10_000);
    // A restarted node applies the log after its snapshot (index 5000): not enough bytes yet.
    apply(trail, 5001, 5040, 100);
    expect(trail.compactionPoint(5040)).toBe(4040);
    apply(trail, 5041, 5400, 100);
    const point = trail.compactionPoint(5400);
    expect(point).toBeGreaterThan(5040);
    expect((5400 - point) * 100).toBeLessThanOrEqual(10_000);
  });

  test("marks stay few over a long run", () => {
    const trail = new Trail(10_000, 1 << 20);
    apply(trail, 1, 200_000, 700);
    const marks = (trail as unknown as { markIndexes: number[] }).markIndexes.length;
    expect(marks).toBeLessThanOrEqual(18);
    expect(marks).toBeGreaterThan(10);
  });

  test("reset forgets what was counted (a snapshot from the leader replaced the log)", () => {
    const trail = new Trail(1000, 1000);
    apply(trail, 1, 100, 100);
    trail.reset();
    apply(trail, 501, 505, 100);
    expect(trail.compactionPoint(505)).toBe(-495);
  });

  test("a zero byte bound keeps nothing behind the snapshot", () => {
    const trail = new Trail(1000, 0);
    apply(trail, 1, 100, 10);
    expect(trail.compactionPoint(100)).toBe(100);
  });
});
