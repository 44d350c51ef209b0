import { describe, expect, test } from "bun:test";
import { enterLogPosition, leaveLogPosition, logPosition, replicatedRandom } from "./replicated.ts";

function draws(index: number, command: number, count: number): number[] {
  enterLogPosition(index, command);
  try {
    const random = replicatedRandom();
    const values = Array.from({ length: count }, () => random());
    // Calls within one command share one sequence.
    expect(replicatedRandom()).toBe(random);
    return values;
  } finally {
    leaveLogPosition();
  }
}

describe("replicatedRandom", () => {
  test("the same log position gives the same sequence; another position another one", () => {
    expect(draws(42, 3, 5)).toEqual(draws(42, 3, 5));
    expect(draws(42, 3, 5)).not.toEqual(draws(42, 4, 5));
    expect(draws(42, 3, 5)).not.toEqual(draws(43, 3, 5));
    expect(draws(2 ** 40, 0, 5)).not.toEqual(draws(0, 0, 5));
  });

  test("values lie in [0, 1) and spread over it", () => {
    const values = draws(7, 0, 10_000);
    for (const value of values) expect(value >= 0 && value < 1).toBe(true);
    const buckets = new Array<number>(10).fill(0);
    for (const value of values) buckets[Math.floor(value * 10)]! += 1;
    for (const count of buckets) expect(count).toBeGreaterThan(800);
  });

  test("outside mutate there is no log position, and asking for randomness throws", () => {
    expect(logPosition()).toBeNull();
    expect(() => replicatedRandom()).toThrow(/only inside mutate/);
    enterLogPosition(9, 1);
    expect(logPosition()).toEqual({ index: 9, command: 1 });
    leaveLogPosition();
    expect(logPosition()).toBeNull();
  });
});
