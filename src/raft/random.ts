/**
 * Randomness for the core comes only from a generator handed in, so that a seed replays a run
 * exactly. The core uses it for one thing: randomised election timeouts (Raft §5.2).
 */
import { assert } from "../assert.ts";

/** A source of uniformly distributed integers. */
export interface Random {
  /** An integer in `[0, bound)`; `bound` is a positive safe integer below 2^32. */
  nextInt(bound: number): number;
}

/**
 * A small, fast, seeded generator (mulberry32). Not cryptographic; its only job is to spread
 * election timeouts and to make simulations reproducible.
 */
export class SeededRandom implements Random {
  private state: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), "seed must be a safe integer");
    // Fold the high bits in so that seeds above 2^32 still differ.
    this.state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0;
  }

  /** A float in `[0, 1)`. */
  nextFloat(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  nextInt(bound: number): number {
    assert(Number.isInteger(bound) && bound > 0 && bound <= 0x1_0000_0000, "bound out of range");
    return Math.floor(this.nextFloat() * bound);
  }
}
