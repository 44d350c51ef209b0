/**
 * Sorted set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD,
 * ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT, ZRANGE (by rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES),
 * ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZPOPMIN,
 * ZPOPMAX, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZRANDMEMBER, ZSCAN, and ZUNION, ZINTER,
 * ZDIFF, their STORE forms and ZINTERCARD (WEIGHTS, AGGREGATE SUM|MIN|MAX; a plain set counts as a
 * sorted set whose members score 1, as in Redis). Scores are doubles (RESP3 doubles; bulk strings
 * in RESP2); WITHSCORES pairs are nested arrays in RESP3, as in Redis 7. An emptied sorted set
 * deletes its key, and so does a STORE form with an empty result.
 *
 * ZSCAN walks a sorted set in score order. Its cursor is the score to go on from (the score's bits
 * ordered as the doubles are, plus one; 0 starts), so it depends only on the data: every node gives
 * the same cursors, and one node's cursor goes on at another. A step gives COUNT members, but never
 * splits a run of equal scores between two steps (COUNT is exceeded when it ends inside one: a set
 * whose scores are all equal comes in one step); a set of up to 128 members gives all that is left
 * in one step, with cursor 0, as Redis gives a small set whole. A member that is in the set with
 * the same score from the start of a full iteration to its end is returned exactly once; one
 * added, removed or given another score meanwhile may be returned or not (or twice, if its score
 * moved past the cursor). A cursor no step gives (5, 18446744073709551615) reads as 0.
 */
import { type Applier, Blocked, block, type Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { formatDouble } from "../resp/writer.ts";
import { spec } from "../server/command-spec.ts";
import {
  clampRange,
  errNotFloat,
  errNotInteger,
  errSyntax,
  errWrongType,
  type LexRange,
  option,
  parseDouble,
  parseLexRange,
  parseLong,
  parseOffsetCount,
  parsePositiveCount,
  parseScoreRange,
  parseTimeout,
  type ScoreRange,
  uint64Max,
} from "./arguments.ts";
import { bytesOf, type CloneCommand, unchangedZero, writeNullArray } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { parseRandomCount, randomMembers } from "./random-count.ts";
import { parseMultiPop, popFirst, withCountedKeys } from "./pop-first.ts";
import { scanCommand, scanMatches } from "./scan.ts";
import type { SetValue } from "./set.ts";
import { type ScoredMember, type SkipList, type ZNode, ZSetValue } from "./zset.ts";

const errNaN = new RespError("ERR resulting score is not a number (NaN)");
const errNxXx = new RespError("ERR XX and NX options at the same time are not compatible");
const errGtLtNx = new RespError("ERR GT, LT, and/or NX options at the same time are not compatible");
const errIncrPairs = new RespError("ERR INCR option supports a single increment-element pair");
const errLimitWithRank = new RespError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
const errWithScoresByLex = new RespError("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
const errWeightNotFloat = new RespError("ERR weight value is not a float");
const errLimitNegative = new RespError("ERR LIMIT can't be negative");

/** ZADD's options (GEOADD takes NX, XX and CH of them). */
export interface AddFlags {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
}

/** ZADD and ZINCRBY: the pairs start at `first`; the arguments are all checked before `apply`. */
function add(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, flags: AddFlags, first: number): void | Error {
  const elements = command.argCount - first;
  if (elements === 0 || elements % 2 !== 0) return errSyntax;
  if (flags.nx && flags.xx) return errNxXx;
  if ((flags.gt && flags.nx) || (flags.lt && flags.nx) || (flags.gt && flags.lt)) return errGtLtNx;
  if (flags.incr && elements > 2) return errIncrPairs;
  const scores: number[] = [];
  for (let i = first; i < command.argCount; i += 2) {
    const score = parseDouble(command.arg(i));
    if (score === null) return errNotFloat;
    scores.push(score);
  }
  return addScored(db, applier, conn, command, flags, scores, (j) => first + 2 * j + 1);
}

/** ZADD (and ZINCRBY, `incr`): its options from argument 2 on, then the score-member pairs. */
function addWithOptions(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, incr: boolean): void | Error {
  const flags: AddFlags = { nx: false, xx: false, gt: false, lt: false, ch: false, incr };
  let at = 2;
  for (; at < command.argCount; at++) {
    const name = option(command.arg(at));
    if (name === "nx") flags.nx = true;
    else if (name === "xx") flags.xx = true;
    else if (name === "gt") flags.gt = true;
    else if (name === "lt") flags.lt = true;
    else if (name === "ch") flags.ch = true;
    else if (name === "incr") flags.incr = true;
    else break;
  }
  return add(db, applier, conn, command, flags, at);
}

/**
 * What ZADD does once its arguments are read (Redis's `zaddGenericCommand` from the key lookup
 * on): `scores[j]` for the member at argument `memberAt(j)`, with the reply ZADD gives. GEOADD
 * comes here with the scores its coordinates encode to, as Redis's GEOADD calls ZADD.
 */
export function addScored(
  db: Keyspace,
  applier: Applier,
  conn: Conn | null,
  command: Command,
  flags: AddFlags,
  scores: readonly number[],
  memberAt: (j: number) => number,
): void | Error {
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      let zset = db.modify<ZSetValue>(key, "zset");
      let added = 0;
      let updated = 0;
      let processed = 0;
      let score = 0;
      if (zset === undefined) {
        if (flags.xx) return { added, updated, processed, score };
        zset = new ZSetValue(db.epoch);
        db.set(key, zset);
      }
      for (let j = 0; j < scores.length; j++) {
        const member = command.key(memberAt(j));
        const current = zset.scores.get(member);
        const next = nextScore(flags, current, scores[j] as number);
        if (next === null) continue;
        if (current === undefined) {
          zset.set(member, next);
          added++;
        } else if (next !== current) {
          zset.set(member, next);
          updated++;
        }
        processed++;
        score = next;
      }
      db.deleteIfEmpty(key, zset);
      return { added, updated, processed, score };
    },
    (result) => {
      if (conn === null) return;
      if (flags.incr) {
        if (result.processed > 0) conn.writeDouble(result.score);
        else conn.writeNull();
      } else {
        conn.writeInt(flags.ch ? result.added + result.updated : result.added);
      }
    },
    () => {
      // Every member left as it is (there with the same score, or skipped by NX, XX, GT, LT).
      const zset = db.lookup<ZSetValue>(command.key(1), "zset");
      if (zset === undefined) return flags.xx ? { value: { added: 0, updated: 0, processed: 0, score: 0 } } : null;
      let processed = 0;
      let score = 0;
      for (let j = 0; j < scores.length; j++) {
        const current = zset.scores.get(command.key(memberAt(j)));
        const next = nextScore(flags, current, scores[j] as number);
        if (next === null) continue;
        if (next !== current) return null;
        processed++;
        score = next;
      }
      return { value: { added: 0, updated: 0, processed, score } };
    },
  );
}

/**
 * The score ZADD gives a member whose score is `current` (undefined when it is not there), or null
 * when it leaves the member as it is (NX, XX, GT, LT).
 */
function nextScore(flags: AddFlags, current: number | undefined, given: number): number | null {
  if (current === undefined) return flags.xx ? null : given;
  if (flags.nx) return null;
  const next = flags.incr ? current + given : given;
  // Only INCR can make NaN, and INCR has one pair: nothing was changed yet.
  if (Number.isNaN(next)) throw errNaN;
  if ((flags.lt && next >= current) || (flags.gt && next <= current)) return null;
  return next;
}

/** Writes members (with scores when asked: pairs in RESP3, flat in RESP2). */
function writeNodes(conn: Conn, nodes: readonly ScoredMember[], withScores: boolean): void {
  const nested = withScores && conn.protocol === 3;
  conn.writeArray(withScores && !nested ? nodes.length * 2 : nodes.length);
  for (const node of nodes) {
    if (nested) conn.writeArray(2);
    conn.writeBulk(bytesOf(node.member));
    if (withScores) conn.writeDouble(node.score);
  }
}

type RangeType = "auto" | "rank" | "score" | "lex";

/** What ZRANGE (and its older forms, and ZRANGESTORE) asks for: one of `rank`, `scores`, `lex`. */
interface RangeQuery {
  readonly descending: boolean;
  readonly withScores: boolean;
  readonly offset: number;
  /** LIMIT's count; -1 for no limit. */
  readonly limit: number;
  readonly rank: readonly [number, number] | null;
  readonly scores: ScoreRange | null;
  readonly lex: LexRange | null;
}

/**
 * Parses the ZRANGE family's arguments (Redis's `zrangeGenericCommand`): the source key at
 * `source`, min and max after it, then the options. ZRANGESTORE (`store`) takes no WITHSCORES.
 */
function parseRange(command: Command, source: number, fixedType: RangeType, fixedReverse: boolean | null, store: boolean): RangeQuery | RespError {
  let type = fixedType;
  let reverse = fixedReverse;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = source + 3; j < command.argCount; j++) {
    const name = option(command.arg(j));
    const left = command.argCount - j - 1;
    if (!store && name === "withscores") withScores = true;
    else if (name === "limit" && left >= 2) {
      const pair = parseOffsetCount(command, j);
      if (pair instanceof RespError) return pair;
      [offset, limit] = pair;
      j += 2;
    } else if (reverse === null && name === "rev") reverse = true;
    else if (type === "auto" && name === "bylex") type = "lex";
    else if (type === "auto" && name === "byscore") type = "score";
    else return errSyntax;
  }
  const descending = reverse === true;
  if (type === "auto") type = "rank";
  if (limit !== -1 && type === "rank") return errLimitWithRank;
  if (withScores && type === "lex") return errWithScoresByLex;
  // By score or lex in reverse, the range is given as max, min.
  const [minAt, maxAt] = descending && type !== "rank" ? [source + 2, source + 1] : [source + 1, source + 2];
  const query = { descending, withScores, offset, limit, rank: null, scores: null, lex: null };
  if (type === "rank") {
    const start = parseLong(command.arg(minAt));
    const stop = parseLong(command.arg(maxAt));
    if (start === null || stop === null) return errNotInteger;
    return { ...query, rank: [start, stop] };
  }
  if (type === "score") return { ...query, scores: parseScoreRange(command.arg(minAt), command.arg(maxAt)) };
  return { ...query, lex: parseLexRange(command.arg(minAt), command.arg(maxAt)) };
}

/** The nodes `query` selects in `zset`, in the order asked for. */
function collectRange(zset: ZSetValue, query: RangeQuery): ZNode[] {
  const { descending, offset, limit, rank, scores, lex } = query;
  const list = zset.list;
  const nodes: ZNode[] = [];
  if (rank !== null) {
    const clamped = clampRange(rank[0], rank[1], list.length);
    if (clamped !== null) {
      const [start, stop] = clamped;
      let node = descending ? list.byRank(list.length - start) : list.byRank(start + 1);
      for (let i = start; i <= stop && node !== null; i++) {
        nodes.push(node);
        node = descending ? node.previous : (node.next[0] ?? null);
      }
    }
    return nodes;
  }
  if (offset < 0 || (offset > 0 && offset >= list.length)) return nodes;
  let node = scores !== null
    ? descending ? list.lastInRange(scores) : list.firstInRange(scores)
    : descending ? list.lastInLexRange(lex as LexRange) : list.firstInLexRange(lex as LexRange);
  if (node !== null && offset > 0) {
    // Skip by rank rather than one by one: O(log n).
    const at = list.rankOf(node.score, node.member);
    node = list.byRank(descending ? at - offset : at + offset);
  }
  const inside = (candidate: ZNode): boolean => {
    if (scores !== null) {
      return descending
        ? scores.minExclusive ? candidate.score > scores.min : candidate.score >= scores.min
        : scores.maxExclusive ? candidate.score < scores.max : candidate.score <= scores.max;
    }
    const bound = descending ? (lex as LexRange).min : (lex as LexRange).max;
    if (bound.kind !== "value") return descending ? bound.kind === "min" : bound.kind === "max";
    if (descending) return bound.exclusive ? candidate.member > bound.value : candidate.member >= bound.value;
    return bound.exclusive ? candidate.member < bound.value : candidate.member <= bound.value;
  };
  for (let taken = 0; node !== null && (limit < 0 || taken < limit); taken++) {
    if (!inside(node)) break;
    nodes.push(node);
    node = descending ? node.previous : (node.next[0] ?? null);
  }
  return nodes;
}

/** The shared ZRANGE family's reads. */
function range(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, fixedType: RangeType, fixedReverse: boolean | null): void | Error {
  const query = parseRange(command, 1, fixedType, fixedReverse, false);
  if (query instanceof RespError) return query;
  return applier.apply(conn, command, null, () => {
    const zset = db.lookup<ZSetValue>(command.key(1), "zset");
    if (conn !== null) writeNodes(conn, zset === undefined ? [] : collectRange(zset, query), query.withScores);
  });
}

/**
 * Stores `entries` (in order) at `key` as a new sorted set, whatever the key held (its TTL goes), or
 * deletes the key when there are none, as Redis's STORE forms do. Returns how many were stored.
 */
export function storeSorted(db: Keyspace, key: string, entries: readonly ScoredMember[]): number {
  if (entries.length === 0) db.delete(key);
  else db.set(key, ZSetValue.fromSorted(db.epoch, entries));
  return entries.length;
}

/**
 * ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX: `remove` takes the members out and says how
 * many; `none` tells, only reading, that the range holds no member (then nothing changes).
 */
function removeRange(
  db: Keyspace,
  applier: Applier,
  conn: Conn | null,
  command: Command,
  remove: (zset: ZSetValue) => number,
  none: (zset: ZSetValue) => boolean,
): void {
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      const zset = db.modify<ZSetValue>(key, "zset");
      if (zset === undefined) return 0;
      const removed = remove(zset);
      db.deleteIfEmpty(key, zset);
      return removed;
    },
    (removed) => conn?.writeInt(removed),
    () => {
      const zset = db.lookup<ZSetValue>(command.key(1), "zset");
      return zset === undefined || none(zset) ? unchangedZero : null;
    },
  );
}

/** Removes and returns up to `count` members with the lowest (or, `max`, the highest) scores, in that order. */
function popScored(zset: ZSetValue, count: number, max: boolean): Array<[string, number]> {
  const popped: Array<[string, number]> = [];
  while (popped.length < count && zset.size > 0) {
    const node = (max ? zset.list.last() : zset.list.first()) as ZNode;
    popped.push([node.member, node.score]);
    zset.delete(node.member);
  }
  return popped;
}

/** BZPOPMIN and BZPOPMAX: the first of the keys that holds a sorted set gives one member, waiting for one. */
function blockingPop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, max: boolean): void | Error {
  const timeout = parseTimeout(command.arg(command.argCount - 1));
  if (timeout instanceof RespError) return timeout;
  return applier.apply(
    conn,
    command,
    () => {
      const found = popFirst<ZSetValue, [string, number]>(db, command, 1, command.argCount - 1, "zset", (zset) => popScored(zset, 1, max)[0] as [string, number]);
      return Array.isArray(found) ? block(found, timeout) : found;
    },
    (result) => {
      if (conn === null) return;
      if (result instanceof Blocked) {
        writeNullArray(conn);
        return;
      }
      const [member, score] = result.taken;
      conn.writeArray(3);
      conn.writeBulk(bytesOf(result.key));
      conn.writeBulk(bytesOf(member));
      conn.writeDouble(score);
    },
  );
}

/**
 * ZMPOP numkeys key... MIN|MAX [COUNT n], and BZMPOP timeout numkeys ...: `at` is the position of
 * numkeys; `timeout` (milliseconds, 0 for none) is null for ZMPOP, which does not wait.
 */
function multiPop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, at: number, timeout: number | null): void | Error {
  const parsed = parseMultiPop(command, at);
  if (parsed instanceof RespError) return parsed;
  const { whereAt, count } = parsed;
  const where = option(command.arg(whereAt));
  if (where !== "min" && where !== "max") return errSyntax;
  return applier.apply(
    conn,
    command,
    () => {
      const found = popFirst<ZSetValue, Array<[string, number]>>(db, command, at + 1, whereAt, "zset", (zset) => popScored(zset, count, where === "max"));
      return !Array.isArray(found) ? found : timeout === null ? null : block(found, timeout);
    },
    (result) => {
      if (conn === null) return;
      if (result === null || result instanceof Blocked) {
        writeNullArray(conn);
        return;
      }
      conn.writeArray(2);
      conn.writeBulk(bytesOf(result.key));
      conn.writeArray(result.taken.length);
      for (const [member, score] of result.taken) {
        conn.writeArray(2);
        conn.writeBulk(bytesOf(member));
        conn.writeDouble(score);
      }
    },
  );
}

/** ZPOPMIN and ZPOPMAX. */
function pop(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, max: boolean): void | Error {
  if (command.argCount > 3) return errSyntax;
  const count = command.argCount === 3 ? parsePositiveCount(command.arg(2)) : null;
  const nested = count !== null && conn?.protocol === 3;
  if (count === 0) {
    // Nothing to pop: a read (the key's type is still checked, as in Redis), not a write.
    return applier.apply(conn, command, null, () => {
      db.lookup<ZSetValue>(command.key(1), "zset");
      conn?.writeArray(0);
    });
  }
  return applier.apply(
    conn,
    command,
    () => {
      const key = command.key(1);
      const zset = db.modify<ZSetValue>(key, "zset");
      if (zset === undefined) return [];
      const popped = popScored(zset, count ?? 1, max);
      db.deleteIfEmpty(key, zset);
      return popped;
    },
    (popped) => {
      if (conn === null) return;
      conn.writeArray(nested ? popped.length : popped.length * 2);
      for (const [member, score] of popped) {
        if (nested) conn.writeArray(2);
        conn.writeBulk(bytesOf(member));
        conn.writeDouble(score);
      }
    },
    () => (db.lookup<ZSetValue>(command.key(1), "zset") === undefined ? { value: [] } : null),
  );
}

/** Sorted sets this small are scanned whole in one reply (Redis's zset-max-listpack-entries). */
const scanWholeMax = 128;
const signBit = 1n << 63n;
const scratch = new DataView(new ArrayBuffer(8));

/** The ZSCAN cursor that goes on at `score`: its bits ordered as the doubles are, plus one (0 starts and ends). */
function cursorAt(score: number): bigint {
  scratch.setFloat64(0, score);
  const bits = scratch.getBigUint64(0);
  return ((bits & signBit) !== 0n ? ~bits & uint64Max : bits | signBit) + 1n;
}

/** The score a ZSCAN cursor goes on at; null for 0, and for a cursor no step gives (its code is a NaN's). */
function scoreAt(cursor: bigint): number | null {
  if (cursor === 0n) return null;
  const code = cursor - 1n;
  scratch.setBigUint64(0, (code & signBit) !== 0n ? code ^ signBit : ~code & uint64Max);
  const score = scratch.getFloat64(0);
  return Number.isNaN(score) ? null : score;
}

/**
 * A score as ZSCAN sends it (a bulk string, in RESP3 too): Redis 7.0 keeps an integral score
 * within ±2^62 as an integer in a small sorted set, and prints all its digits; any other score is
 * printed as every reply prints it.
 */
function scanScoreText(score: number): string {
  if (Number.isInteger(score) && Math.abs(score) <= 2 ** 62) return BigInt(score).toString();
  return score === Infinity ? "inf" : score === -Infinity ? "-inf" : formatDouble(score);
}

/** One ZSCAN step: the nodes to send and the cursor to go on from (see the file comment). */
function scanStep(list: SkipList, cursor: bigint, count: number): { nodes: ZNode[]; next: bigint } {
  const from = scoreAt(cursor);
  const limit = list.length <= scanWholeMax ? Infinity : count;
  const nodes: ZNode[] = [];
  let node = from === null ? list.first() : list.firstInRange({ min: from, max: Infinity, minExclusive: false, maxExclusive: false });
  while (node !== null && (nodes.length < limit || node.score === (nodes[nodes.length - 1] as ZNode).score)) {
    nodes.push(node);
    node = node.next[0] ?? null;
  }
  return { nodes, next: node === null ? 0n : cursorAt(node.score) };
}

/**
 * ZRANDMEMBER's picks, with this node's own randomness (a read): `count` distinct members (all of
 * them when there are fewer), or -`count` members with repeats when it is negative.
 */
function randomNodes(list: SkipList, count: number): ZNode[] {
  const size = list.length;
  return randomMembers(
    size,
    count,
    () => list.byRank(1 + Math.floor(Math.random() * size)) as ZNode,
    () => [...list.nodes()],
  );
}

type SetOperation = "union" | "inter" | "diff";
type AggregateKind = "sum" | "min" | "max";

/** An input of ZUNION and the like: a sorted set, a plain set (its members score 1), or nothing. */
type Source = ZSetValue | SetValue | undefined;

interface CombineOptions {
  readonly weights: number[];
  aggregate: AggregateKind;
  withScores: boolean;
  /** ZINTERCARD's LIMIT; 0 for none. */
  limit: number;
}

/** numkeys, as Redis checks it before looking at any key. */
function parseNumkeys(command: Command, at: number): number | RespError {
  const numkeys = parseLong(command.arg(at));
  if (numkeys === null) return errNotInteger;
  if (numkeys < 1) return new RespError(`ERR at least 1 input key is needed for '${command.name}' command`);
  if (numkeys > command.argCount - at - 1) return errSyntax;
  return numkeys;
}

/** Which options a command of the ZUNION family takes after its keys. */
interface CombineSyntax {
  /** WEIGHTS and AGGREGATE: ZUNION, ZINTER and their STORE forms. */
  readonly scored: boolean;
  /** WITHSCORES: the forms that reply with members (ZUNION, ZINTER, ZDIFF). */
  readonly withScores: boolean;
  /** LIMIT: ZINTERCARD. */
  readonly limit: boolean;
}

/** The options after the keys (Redis's `zunionInterDiffGenericCommand`), those `syntax` allows. */
function parseCombineOptions(command: Command, from: number, numkeys: number, syntax: CombineSyntax): CombineOptions | RespError {
  const options: CombineOptions = { weights: new Array<number>(numkeys).fill(1), aggregate: "sum", withScores: false, limit: 0 };
  for (let j = from; j < command.argCount; ) {
    const remaining = command.argCount - j;
    const name = option(command.arg(j));
    if (syntax.scored && name === "weights" && remaining > numkeys) {
      for (let i = 0; i < numkeys; i++) {
        const weight = parseDouble(command.arg(j + 1 + i));
        if (weight === null) return errWeightNotFloat;
        options.weights[i] = weight;
      }
      j += 1 + numkeys;
    } else if (syntax.scored && name === "aggregate" && remaining >= 2) {
      const kind = option(command.arg(j + 1));
      if (kind !== "sum" && kind !== "min" && kind !== "max") return errSyntax;
      options.aggregate = kind;
      j += 2;
    } else if (syntax.withScores && name === "withscores") {
      options.withScores = true;
      j++;
    } else if (syntax.limit && name === "limit" && remaining >= 2) {
      const limit = parseLong(command.arg(j + 1));
      if (limit === null || limit < 0) return errLimitNegative;
      options.limit = limit;
      j += 2;
    } else {
      return errSyntax;
    }
  }
  return options;
}

/** The inputs named from `at` on; WRONGTYPE for a key that holds neither a sorted set nor a set. */
function lookupSources(db: Keyspace, command: Command, at: number, count: number): Source[] {
  const sources: Source[] = [];
  for (let i = at; i < at + count; i++) {
    const value = db.get(command.key(i));
    if (value !== undefined && (value instanceof Uint8Array || (value.type !== "zset" && value.type !== "set"))) throw errWrongType;
    sources.push(value as Source);
  }
  return sources;
}

function sizeOf(source: Source): number {
  return source?.size ?? 0;
}

function scoreIn(source: Source, member: string): number | undefined {
  if (source === undefined) return undefined;
  if (source.type === "set") return source.has(member) ? 1 : undefined;
  return source.scores.get(member);
}

function* entriesOf(source: Source): IterableIterator<readonly [string, number]> {
  if (source === undefined) return;
  if (source.type === "zset") {
    yield* source.entries();
    return;
  }
  for (const member of source.members) yield [member, 1];
}

/** A score times its weight, where infinity times zero makes 0 rather than NaN (as in Redis). */
function weighted(score: number, weight: number): number {
  const value = weight * score;
  return Number.isNaN(value) ? 0 : value;
}

/** Redis's `zunionInterAggregate`, comparisons included (a NaN `value` leaves MIN and MAX alone). */
function aggregateScores(target: number, value: number, kind: AggregateKind): number {
  if (kind === "sum") {
    const sum = target + value;
    return Number.isNaN(sum) ? 0 : sum;
  }
  if (kind === "min") return value < target ? value : target;
  return value > target ? value : target;
}

/** The members of the union, intersection or difference, with their scores as Redis computes them. */
function combine(op: SetOperation, sources: readonly Source[], options: CombineOptions): Map<string, number> {
  const result = new Map<string, number>();
  if (op === "diff") {
    const [first, ...others] = sources;
    for (const [member, score] of entriesOf(first)) if (others.every((other) => scoreIn(other, member) === undefined)) result.set(member, score);
    return result;
  }
  const { weights, aggregate, limit } = options;
  // The inputs from the smallest to the largest (stable), as Redis orders them: the order of a sum
  // can change its rounding, and which of 0 and -0 MIN or MAX keeps.
  const order = sources.map((_, i) => i).sort((a, b) => sizeOf(sources[a]) - sizeOf(sources[b]));
  if (op === "inter") {
    const [smallest, ...rest] = order as [number, ...number[]];
    for (const [member, first] of entriesOf(sources[smallest])) {
      let score = weighted(first, weights[smallest] as number);
      let everywhere = true;
      for (const j of rest) {
        const found = scoreIn(sources[j], member);
        if (found === undefined) {
          everywhere = false;
          break;
        }
        score = aggregateScores(score, found * (weights[j] as number), aggregate);
      }
      if (!everywhere) continue;
      result.set(member, score);
      if (result.size === limit) break;
    }
    return result;
  }
  for (const i of order) {
    for (const [member, given] of entriesOf(sources[i])) {
      const score = weighted(given, weights[i] as number);
      const current = result.get(member);
      result.set(member, current === undefined ? score : aggregateScores(current, score, aggregate));
    }
  }
  return result;
}

/** The order of a sorted set: by score, then by member (bytes, as latin1 strings compare). */
export function byScoreThenMember(a: ScoredMember, b: ScoredMember): number {
  return a.score < b.score ? -1 : a.score > b.score ? 1 : a.member < b.member ? -1 : a.member > b.member ? 1 : 0;
}

/** Members by score, then member; a -0 stays -0 (Redis's replies say "-0" for it, its stored sets "0"). */
function sortedEntries(scores: ReadonlyMap<string, number>): ScoredMember[] {
  return Array.from(scores, ([member, score]) => ({ member, score })).sort(byScoreThenMember);
}

/** The usage line of a command of the ZUNION family: its arguments, then the options `syntax` allows. */
function combineUsage(store: boolean, syntax: CombineSyntax): string {
  const parts = store ? ["destination:key", "numkeys:integer key..."] : ["numkeys:integer key..."];
  if (syntax.scored) parts.push("[WEIGHTS weight:integer...] [AGGREGATE SUM|MIN|MAX]");
  if (syntax.withScores) parts.push("[WITHSCORES]");
  if (syntax.limit) parts.push("[LIMIT limit:integer]");
  return parts.join(" ");
}

/**
 * ZUNION, ZINTER, ZDIFF, their STORE forms (`store`: the destination is argument 1) and
 * ZINTERCARD (`cardinality`).
 */
function combineCommand(name: string, summary: string, op: SetOperation, store: boolean, cardinality = false): CloneCommand {
  const syntax: CombineSyntax = { scored: op !== "diff" && !cardinality, withScores: !store && !cardinality, limit: cardinality };
  const flags = store ? "write denyoom movablekeys" : "readonly movablekeys";
  return {
    spec: spec(name, store ? -4 : -3, flags, store ? [1, 1, 1] : [0, 0, 0], "sorted-set", summary, combineUsage(store, syntax)),
    run(db, applier, conn, command) {
      const numkeysAt = store ? 2 : 1;
      const numkeys = parseNumkeys(command, numkeysAt);
      if (numkeys instanceof RespError) return numkeys;
      const keysAt = numkeysAt + 1;
      const options = parseCombineOptions(command, keysAt + numkeys, numkeys, syntax);
      if (options instanceof RespError) {
        // Redis checks the inputs' types before the options. A read, so that it sees the connection's writes before it.
        return applier.apply(conn, command, null, () => {
          lookupSources(db, command, keysAt, numkeys);
          throw options;
        });
      }
      if (store) {
        return applier.apply(
          conn,
          command,
          () => storeSorted(db, command.key(1), sortedEntries(combine(op, lookupSources(db, command, keysAt, numkeys), options))),
          (stored) => conn?.writeInt(stored),
        );
      }
      return applier.apply(conn, command, null, () => {
        const scores = combine(op, lookupSources(db, command, keysAt, numkeys), options);
        if (conn === null) return;
        if (cardinality) conn.writeInt(scores.size);
        else writeNodes(conn, sortedEntries(scores), options.withScores);
      });
    },
  };
}

export const zsetCommands: readonly CloneCommand[] = [
  {
    reusable: true,
    spec: spec(
      "zadd",
      -4,
      "write denyoom fast",
      [1, 1, 1],
      "sorted-set",
      "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
      "key [NX|XX] [GT|LT] [CH] [INCR] (score:double member)...",
    ),
    run: (db, applier, conn, command) => addWithOptions(db, applier, conn, command, false),
  },
  {
    reusable: true,
    spec: spec("zincrby", 4, "write denyoom fast", [1, 1, 1], "sorted-set", "Increments the score of a member in a sorted set.", "key increment:double member"),
    // Redis's ZINCRBY is ZADD with INCR, options included: `ZINCRBY key XX member` is a syntax error.
    run: (db, applier, conn, command) => addWithOptions(db, applier, conn, command, true),
  },
  {
    reusable: true,
    spec: spec("zrem", -3, "write fast", [1, 1, 1], "sorted-set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "key member ..."),
    run(db, applier, conn, command) {
      return applier.apply(
        conn,
        command,
        () => {
          const key = command.key(1);
          const zset = db.modify<ZSetValue>(key, "zset");
          if (zset === undefined) return 0;
          let removed = 0;
          for (let i = 2; i < command.argCount; i++) if (zset.delete(command.key(i))) removed++;
          db.deleteIfEmpty(key, zset);
          return removed;
        },
        (removed) => conn?.writeInt(removed),
        () => {
          // No member there: nothing to remove.
          const zset = db.lookup<ZSetValue>(command.key(1), "zset");
          if (zset !== undefined) for (let i = 2; i < command.argCount; i++) if (zset.scores.has(command.key(i))) return null;
          return unchangedZero;
        },
      );
    },
  },
  {
    spec: spec("zscore", 3, "readonly fast", [1, 1, 1], "sorted-set", "Returns the score of a member in a sorted set.", "key member"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const score = db.lookup<ZSetValue>(command.key(1), "zset")?.scores.get(command.key(2));
        if (score === undefined) conn?.writeNull();
        else conn?.writeDouble(score);
      });
    },
  },
  {
    spec: spec("zmscore", -3, "readonly fast", [1, 1, 1], "sorted-set", "Returns the score of one or more members in a sorted set.", "key member ..."),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => {
        const zset = db.lookup<ZSetValue>(command.key(1), "zset");
        conn?.writeArray(command.argCount - 2);
        for (let i = 2; i < command.argCount; i++) {
          const score = zset?.scores.get(command.key(i));
          if (score === undefined) conn?.writeNull();
          else conn?.writeDouble(score);
        }
      });
    },
  },
  {
    spec: spec("zcard", 2, "readonly fast", [1, 1, 1], "sorted-set", "Returns the number of members in a sorted set.", "key"),
    run(db, applier, conn, command) {
      return applier.apply(conn, command, null, () => conn?.writeInt(db.lookup<ZSetValue>(command.key(1), "zset")?.size ?? 0));
    },
  },
  ...(["zrank", "zrevrank"] as const).map((name) => ({
    spec: spec(
      name,
      3,
      "readonly fast",
      [1, 1, 1],
      "sorted-set",
      name === "zrank" ? "Returns the index of a member in a sorted set ordered by ascending scores." : "Returns the index of a member in a sorted set ordered by descending scores.",
      "key member",
    ),
    run: ((db, applier, conn, command) => {
      return applier.apply(conn, command, null, () => {
        const zset = db.lookup<ZSetValue>(command.key(1), "zset");
        const rank = zset?.rank(command.key(2)) ?? null;
        if (zset === undefined || rank === null) conn?.writeNull();
        else conn?.writeInt(name === "zrank" ? rank : zset.size - 1 - rank);
      });
    }) satisfies CloneCommand["run"],
  })),
  {
    spec: spec("zcount", 4, "readonly fast", [1, 1, 1], "sorted-set", "Returns the count of members in a sorted set that have scores within a range.", "key min:double max:double"),
    run(db, applier, conn, command) {
      const scores = parseScoreRange(command.arg(2), command.arg(3));
      return applier.apply(conn, command, null, () => {
        const zset = db.lookup<ZSetValue>(command.key(1), "zset");
        if (zset === undefined) {
          conn?.writeInt(0);
          return;
        }
        const first = zset.list.firstInRange(scores);
        const last = zset.list.lastInRange(scores);
        conn?.writeInt(
          first === null || last === null ? 0 : zset.list.rankOf(last.score, last.member) - zset.list.rankOf(first.score, first.member) + 1,
        );
      });
    },
  },
  {
    spec: spec(
      "zrange",
      -4,
      "readonly",
      [1, 1, 1],
      "sorted-set",
      "Returns members in a sorted set within a range of indexes, scores or names.",
      "key start:string stop:string [BYSCORE|BYLEX] [REV] [(LIMIT offset:integer count:integer)] [WITHSCORES]",
    ),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "auto", null),
  },
  {
    spec: spec("zrevrange", -4, "readonly", [1, 1, 1], "sorted-set", "Returns members in a sorted set within a range of indexes in reverse order.", "key start:integer stop:integer [WITHSCORES]"),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "rank", true),
  },
  {
    spec: spec(
      "zrangebyscore",
      -4,
      "readonly",
      [1, 1, 1],
      "sorted-set",
      "Returns members in a sorted set within a range of scores.",
      "key min:double max:double [WITHSCORES] [(LIMIT offset:integer count:integer)]",
    ),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "score", false),
  },
  {
    spec: spec(
      "zrevrangebyscore",
      -4,
      "readonly",
      [1, 1, 1],
      "sorted-set",
      "Returns members in a sorted set within a range of scores in reverse order.",
      "key max:double min:double [WITHSCORES] [(LIMIT offset:integer count:integer)]",
    ),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "score", true),
  },
  {
    spec: spec("zrangebylex", -4, "readonly", [1, 1, 1], "sorted-set", "Returns members in a sorted set within a lexicographical range.", "key min:string max:string [(LIMIT offset:integer count:integer)]"),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "lex", false),
  },
  {
    spec: spec("zrevrangebylex", -4, "readonly", [1, 1, 1], "sorted-set", "Returns members in a sorted set within a lexicographical range in reverse order.", "key max:string min:string [(LIMIT offset:integer count:integer)]"),
    run: (db, applier, conn, command) => range(db, applier, conn, command, "lex", true),
  },
  {
    reusable: true,
    spec: spec("zpopmin", -2, "write fast", [1, 1, 1], "sorted-set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, false),
  },
  {
    reusable: true,
    spec: spec("zpopmax", -2, "write fast", [1, 1, 1], "sorted-set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, true),
  },
  {
    spec: spec(
      "bzpopmin",
      -3,
      "write fast blocking",
      [1, -2, 1],
      "sorted-set",
      "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
      "key... timeout:double",
    ),
    run: (db, applier, conn, command) => blockingPop(db, applier, conn, command, false),
  },
  {
    spec: spec(
      "bzpopmax",
      -3,
      "write fast blocking",
      [1, -2, 1],
      "sorted-set",
      "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
      "key... timeout:double",
    ),
    run: (db, applier, conn, command) => blockingPop(db, applier, conn, command, true),
  },
  {
    // The keys' positions depend on numkeys: `keys` finds them.
    spec: withCountedKeys(
      spec(
        "zmpop",
        -4,
        "write movablekeys",
        [0, 0, 0],
        "sorted-set",
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        "numkeys:integer key... MIN|MAX [COUNT count:integer]",
      ),
      1,
    ),
    run: (db, applier, conn, command) => multiPop(db, applier, conn, command, 1, null),
  },
  {
    spec: withCountedKeys(
      spec(
        "bzmpop",
        -5,
        "write blocking movablekeys",
        [0, 0, 0],
        "sorted-set",
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "timeout:double numkeys:integer key... MIN|MAX [COUNT count:integer]",
      ),
      2,
    ),
    run(db, applier, conn, command) {
      const timeout = parseTimeout(command.arg(1));
      if (timeout instanceof RespError) return timeout;
      return multiPop(db, applier, conn, command, 2, timeout);
    },
  },
  {
    spec: spec(
      "zrangestore",
      -5,
      "write denyoom",
      [1, 2, 1],
      "sorted-set",
      "Stores a range of members from sorted set in a key.",
      "dst:key src:key min:string max:string [BYSCORE|BYLEX] [REV] [(LIMIT offset:integer count:integer)]",
    ),
    run(db, applier, conn, command) {
      const query = parseRange(command, 2, "auto", null, true);
      if (query instanceof RespError) return query;
      return applier.apply(
        conn,
        command,
        () => {
          const source = db.lookup<ZSetValue>(command.key(2), "zset");
          const nodes = source === undefined ? [] : collectRange(source, query);
          if (query.descending) nodes.reverse();
          return storeSorted(db, command.key(1), nodes);
        },
        (stored) => conn?.writeInt(stored),
      );
    },
  },
  {
    spec: spec("zlexcount", 4, "readonly fast", [1, 1, 1], "sorted-set", "Returns the number of members in a sorted set within a lexicographical range.", "key min:string max:string"),
    run(db, applier, conn, command) {
      const lex = parseLexRange(command.arg(2), command.arg(3));
      return applier.apply(conn, command, null, () => {
        conn?.writeInt(db.lookup<ZSetValue>(command.key(1), "zset")?.list.countInLexRange(lex) ?? 0);
      });
    },
  },
  {
    spec: spec(
      "zremrangebyrank",
      4,
      "write",
      [1, 1, 1],
      "sorted-set",
      "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
      "key start:integer stop:integer",
    ),
    run(db, applier, conn, command) {
      const start = parseLong(command.arg(2));
      const stop = parseLong(command.arg(3));
      if (start === null || stop === null) return errNotInteger;
      return removeRange(
        db,
        applier,
        conn,
        command,
        (zset) => {
          const clamped = clampRange(start, stop, zset.size);
          return clamped === null ? 0 : zset.removeRangeByRank(clamped[0], clamped[1]);
        },
        (zset) => clampRange(start, stop, zset.size) === null,
      );
    },
  },
  {
    spec: spec(
      "zremrangebyscore",
      4,
      "write",
      [1, 1, 1],
      "sorted-set",
      "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
      "key min:double max:double",
    ),
    run(db, applier, conn, command) {
      const scores = parseScoreRange(command.arg(2), command.arg(3));
      return removeRange(
        db,
        applier,
        conn,
        command,
        (zset) => zset.removeRangeByScore(scores),
        (zset) => zset.list.firstInRange(scores) === null,
      );
    },
  },
  {
    spec: spec(
      "zremrangebylex",
      4,
      "write",
      [1, 1, 1],
      "sorted-set",
      "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
      "key min:string max:string",
    ),
    run(db, applier, conn, command) {
      const lex = parseLexRange(command.arg(2), command.arg(3));
      return removeRange(
        db,
        applier,
        conn,
        command,
        (zset) => zset.removeRangeByLex(lex),
        (zset) => zset.list.countInLexRange(lex) === 0,
      );
    },
  },
  {
    spec: spec("zrandmember", -2, "readonly", [1, 1, 1], "sorted-set", "Returns one or more random members from a sorted set.", "key [(count:integer [WITHSCORES])]"),
    run(db, applier, conn, command) {
      if (command.argCount === 2) {
        return applier.apply(conn, command, null, () => {
          const zset = db.lookup<ZSetValue>(command.key(1), "zset");
          if (zset === undefined) conn?.writeNull();
          else conn?.writeBulk(bytesOf((randomNodes(zset.list, -1)[0] as ZNode).member));
        });
      }
      const parsed = parseRandomCount(command, "withscores");
      if (parsed instanceof RespError) return parsed;
      const { count, withPairs: withScores } = parsed;
      return applier.apply(conn, command, null, () => {
        const zset = db.lookup<ZSetValue>(command.key(1), "zset");
        if (conn !== null) writeNodes(conn, zset === undefined || count === 0 ? [] : randomNodes(zset.list, count), withScores);
      });
    },
  },
  {
    spec: spec(
      "zscan",
      -3,
      "readonly",
      [1, 1, 1],
      "sorted-set",
      "Iterates over members and scores of a sorted set.",
      "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]",
    ),
    run: scanCommand(
      (db, key) => db.lookup<ZSetValue>(key, "zset"),
      (zset, cursor, options, items) => {
        const step = scanStep(zset.list, cursor, options.count);
        for (const node of step.nodes) if (scanMatches(options, node.member)) items.push(bytesOf(node.member), bytesOf(scanScoreText(node.score)));
        return step.next;
      },
    ),
  },
  combineCommand("zunionstore", "Stores the union of multiple sorted sets in a key.", "union", true),
  combineCommand("zinterstore", "Stores the intersect of multiple sorted sets in a key.", "inter", true),
  combineCommand("zdiffstore", "Stores the difference of multiple sorted sets in a key.", "diff", true),
  combineCommand("zunion", "Returns the union of multiple sorted sets.", "union", false),
  combineCommand("zinter", "Returns the intersect of multiple sorted sets.", "inter", false),
  combineCommand("zdiff", "Returns the difference between multiple sorted sets.", "diff", false),
  combineCommand("zintercard", "Returns the number of members of the intersect of multiple sorted sets.", "inter", false, true),
];
