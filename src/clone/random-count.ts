/**
 * What SRANDMEMBER, HRANDFIELD and ZRANDMEMBER share: reading their count (and the WITHVALUES or
 * WITHSCORES after it) with Redis's checks and error texts, this server's limit on repeats, and
 * random picks from a pool. They only read, so they use this node's own randomness.
 */
import { RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { errNotInteger, errSyntax, int64Max, option, parseInt64 } from "./arguments.ts";

const errCountRange = new RespError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
const errPairsCountRange = new RespError("ERR value is out of range");
/** With pairs (WITHVALUES, WITHSCORES) Redis bounds the count to ±LONG_MAX / 2. */
const pairsCountMax = int64Max / 2n;
/** More repeats than these commands send for a negative count (see `parseRandomCount`). */
const repeatsMax = 1 << 24;
const errRepeats = new RespError(`ERR this server sends at most ${repeatsMax} repeated members`);

/** A random command's count: how many to pick (negative: that many, repeats allowed), and whether pairs were asked for. */
export interface RandomCount {
  readonly count: number;
  readonly withPairs: boolean;
}

/**
 * The count at argument 2 and the option at 3 of SRANDMEMBER (`pairs` null: none allowed),
 * HRANDFIELD ("withvalues") or ZRANDMEMBER ("withscores"), checked in Redis's order: an integer,
 * from -LONG_MAX to LONG_MAX; then the option (a syntax error); then, with it, ±LONG_MAX / 2. Last,
 * a negative count asks for that many random members with repeats: Redis would try to send
 * however many, and this server refuses more than `repeatsMax` rather than loop for ever.
 */
export function parseRandomCount(command: Command, pairs: string | null): RandomCount | RespError {
  const value = parseInt64(command.arg(2));
  if (value === null) return errNotInteger;
  if (value < -int64Max) return errCountRange;
  if (command.argCount > 4 || (command.argCount === 4 && (pairs === null || option(command.arg(3)) !== pairs))) return errSyntax;
  const withPairs = command.argCount === 4;
  if (withPairs && (value < -pairsCountMax || value > pairsCountMax)) return errPairsCountRange;
  const count = Number(value);
  if (count < -repeatsMax) return errRepeats;
  return { count, withPairs };
}

/**
 * `count` random items of `pool` by this node's own randomness (for reads, which followers do not
 * run): distinct ones, at most all of them, by a partial Fisher-Yates shuffle of `pool` (which is
 * reordered) when `distinct`; with repeats otherwise.
 */
export function randomPicks<T>(pool: T[], count: number, distinct: boolean): T[] {
  const picks: T[] = [];
  if (pool.length === 0) return picks;
  if (!distinct) {
    for (let i = 0; i < count; i++) picks.push(pool[Math.floor(Math.random() * pool.length)] as T);
    return picks;
  }
  const take = Math.min(count, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    const picked = pool[j] as T;
    pool[j] = pool[i] as T;
    pool[i] = picked;
    picks.push(picked);
  }
  return picks;
}

/**
 * `count` random members of a collection of `size` (this node's own randomness, for reads):
 * distinct ones when `count` >= 0 (all of them when there are fewer), or -`count` with repeats.
 * `draw` picks one uniformly in O(1); `all` lists the pool, a fresh array, called only when
 * needed. A few distinct members of many (`count` * 3 <= `size`) are drawn until enough differ,
 * O(count); more are a partial shuffle of the pool, O(size).
 */
export function randomMembers<T>(size: number, count: number, draw: () => T, all: () => T[]): T[] {
  if (size === 0) return [];
  if (count < 0) return Array.from({ length: -count }, draw);
  if (count * 3 > size) return randomPicks(all(), count, true);
  const picks = new Set<T>();
  while (picks.size < count) picks.add(draw());
  return [...picks];
}
