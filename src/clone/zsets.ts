/**
 * Sorted set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD,
 * ZRANK, ZREVRANK, ZCOUNT, ZRANGE (by rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZREVRANGE,
 * ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZPOPMIN, ZPOPMAX. Scores are
 * doubles (RESP3 doubles; bulk strings in RESP2); WITHSCORES pairs are nested arrays in RESP3, as
 * in Redis 7. An emptied sorted set deletes its key.
 */
import type { Applier, Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import {
  clampRange,
  errNotFloat,
  errNotInteger,
  errSyntax,
  type LexRange,
  option,
  parseDouble,
  parseLexRange,
  parseLong,
  parsePositiveCount,
  parseScoreRange,
  type ScoreRange,
} from "./arguments.ts";
import { bytesOf, type CloneCommand } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { type ZNode, ZSetValue } from "./zset.ts";

const errNaN = new RespError("ERR resulting score is not a number (NaN)");
const errNxXx = new RespError("ERR XX and NX options at the same time are not compatible");
const errGtLtNx = new RespError("ERR GT, LT, and/or NX options at the same time are not compatible");
const errIncrPairs = new RespError("ERR INCR option supports a single increment-element pair");
const errLimitWithRank = new RespError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
const errWithScoresByLex = new RespError("ERR syntax error, WITHSCORES not supported in combination with BYLEX");

interface AddFlags {
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
        const member = command.key(first + 2 * j + 1);
        const given = scores[j] as number;
        const current = zset.scores.get(member);
        if (current !== undefined) {
          if (flags.nx) continue;
          const next = flags.incr ? current + given : given;
          // Only INCR can make NaN, and INCR has one pair: nothing was changed yet.
          if (Number.isNaN(next)) throw errNaN;
          if ((flags.lt && next >= current) || (flags.gt && next <= current)) continue;
          if (next !== current) {
            zset.set(member, next);
            updated++;
          }
          processed++;
          score = next;
        } else {
          if (flags.xx) continue;
          zset.set(member, given);
          added++;
          processed++;
          score = given;
        }
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
  );
}

/** Writes members (with scores when asked: pairs in RESP3, flat in RESP2). */
function writeNodes(conn: Conn, nodes: readonly ZNode[], withScores: boolean): void {
  const nested = withScores && conn.protocol === 3;
  conn.writeArray(withScores && !nested ? nodes.length * 2 : nodes.length);
  for (const node of nodes) {
    if (nested) conn.writeArray(2);
    conn.writeBulk(bytesOf(node.member));
    if (withScores) conn.writeDouble(node.score);
  }
}

type RangeType = "auto" | "rank" | "score" | "lex";

/** The shared ZRANGE family (Redis's `zrangeGenericCommand`). */
function range(db: Keyspace, applier: Applier, conn: Conn | null, command: Command, fixedType: RangeType, fixedReverse: boolean | null): void | Error {
  let type = fixedType;
  let reverse = fixedReverse;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = 4; j < command.argCount; j++) {
    const name = option(command.arg(j));
    const left = command.argCount - j - 1;
    if (name === "withscores") withScores = true;
    else if (name === "limit" && left >= 2) {
      const givenOffset = parseLong(command.arg(j + 1));
      const givenLimit = parseLong(command.arg(j + 2));
      if (givenOffset === null || givenLimit === null) return errNotInteger;
      offset = givenOffset;
      limit = givenLimit;
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
  const [minAt, maxAt] = descending && type !== "rank" ? [3, 2] : [2, 3];
  let rank: [number, number] | null = null;
  let scores: ScoreRange | null = null;
  let lex: LexRange | null = null;
  if (type === "rank") {
    const start = parseLong(command.arg(minAt));
    const stop = parseLong(command.arg(maxAt));
    if (start === null || stop === null) return errNotInteger;
    rank = [start, stop];
  } else if (type === "score") {
    scores = parseScoreRange(command.arg(minAt), command.arg(maxAt));
  } else {
    lex = parseLexRange(command.arg(minAt), command.arg(maxAt));
  }
  return applier.apply(conn, command, null, () => {
    const zset = db.lookup<ZSetValue>(command.key(1), "zset");
    if (conn === null) return;
    const nodes: ZNode[] = [];
    if (zset !== undefined) {
      const list = zset.list;
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
      } else if (offset >= 0 && !(offset > 0 && offset >= list.length)) {
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
      }
    }
    writeNodes(conn, nodes, withScores);
  });
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
      const popped: Array<[string, number]> = [];
      if (zset === undefined) return popped;
      const wanted = count ?? 1;
      while (popped.length < wanted && zset.size > 0) {
        const node = (max ? zset.list.last() : zset.list.first()) as ZNode;
        popped.push([node.member, node.score]);
        zset.delete(node.member);
      }
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
  );
}

export const zsetCommands: readonly CloneCommand[] = [
  {
    spec: spec(
      "zadd",
      -4,
      "write denyoom fast",
      [1, 1, 1],
      "sorted-set",
      "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
      "key [NX|XX] [GT|LT] [CH] [INCR] (score:double member)...",
    ),
    run(db, applier, conn, command) {
      const flags: AddFlags = { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
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
    },
  },
  {
    spec: spec("zincrby", 4, "write denyoom fast", [1, 1, 1], "sorted-set", "Increments the score of a member in a sorted set.", "key increment:double member"),
    run: (db, applier, conn, command) => add(db, applier, conn, command, { nx: false, xx: false, gt: false, lt: false, ch: false, incr: true }, 2),
  },
  {
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
    spec: spec("zpopmin", -2, "write fast", [1, 1, 1], "sorted-set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, false),
  },
  {
    spec: spec("zpopmax", -2, "write fast", [1, 1, 1], "sorted-set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]"),
    run: (db, applier, conn, command) => pop(db, applier, conn, command, true),
  },
];
