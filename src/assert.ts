/**
 * Assertions for programmer errors. They crash loudly: an invariant that does not hold means the
 * code is wrong, and continuing would risk data loss. Operating errors (bad input, lost peers,
 * full disks) are values handled at the edge, never assertions.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Crashes with `why` when `condition` is false. */
export function assert(condition: boolean, why: string): asserts condition {
  if (!condition) throw new AssertionError(why);
}

/** Marks a branch that exhaustive switches make unreachable. */
export function unreachable(value: never, why = "unreachable"): never {
  throw new AssertionError(`${why}: ${String(value)}`);
}
