/**
 * A Redis sorted set: a map from member to score, and a skip list ordered by (score, member) with
 * spans on every link (Redis's `zskiplist`), so that adding, removing, re-scoring, finding a rank
 * and finding the element at a rank are all O(log n) expected, and a range of m elements after
 * that is O(m) more (ZRANGE, ZRANGEBYSCORE, ZPOPMIN are O(log n + m)).
 *
 * Members are binary-safe latin1 strings; JavaScript compares them by UTF-16 code unit, which for
 * latin1 is byte order, the order Redis uses (memcmp) for equal scores. The skip list's shape comes
 * from a pseudo-random generator private to this module; it does not affect any reply or any
 * change, so replicas need not agree on it. (Lexicographic ranges assume equal scores, as Redis
 * says; when the scores differ, a search down the levels would depend on the shape, so the ends of
 * such a range are found by walking, as Redis does for a small sorted set.)
 *
 * Range removals (ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX) find the first node in
 * O(log n) and unlink the m nodes from there, as Redis's `zslDeleteRangeBy*`: O(log n + m).
 */
import type { LexBound, LexRange, ScoreRange } from "./arguments.ts";

const levelMax = 32;
/** The chance that a node reaches the next level (Redis's ZSKIPLIST_P). */
const levelProbability = 0.25;

/** xorshift32: the skip list's coin. Its state is the module's only. */
let coin = 0x2545f491;
function randomLevel(): number {
  let level = 1;
  for (;;) {
    coin ^= coin << 13;
    coin ^= coin >>> 17;
    coin ^= coin << 5;
    if ((coin >>> 0) / 0x100000000 >= levelProbability || level >= levelMax) return level;
    level++;
  }
}

/** A member and its score: a node, or a result computed from several sets (ZUNION...). */
export interface ScoredMember {
  readonly member: string;
  readonly score: number;
}

export class ZNode {
  /** `next[i]` is the following node at level i; `span[i]` how many level-0 steps that link covers. */
  readonly next: Array<ZNode | null>;
  readonly span: number[];
  previous: ZNode | null = null;

  constructor(
    readonly member: string,
    readonly score: number,
    level: number,
  ) {
    this.next = new Array<ZNode | null>(level).fill(null);
    this.span = new Array<number>(level).fill(0);
  }
}

/** True when (score, member) sorts strictly before the node. */
function before(node: ZNode, score: number, member: string): boolean {
  return node.score < score || (node.score === score && node.member < member);
}

function gteMin(value: number, range: ScoreRange): boolean {
  return range.minExclusive ? value > range.min : value >= range.min;
}

function lteMax(value: number, range: ScoreRange): boolean {
  return range.maxExclusive ? value < range.max : value <= range.max;
}

function lexGteMin(value: string, bound: LexBound): boolean {
  if (bound.kind === "min") return true;
  if (bound.kind === "max") return false;
  return bound.exclusive ? value > bound.value : value >= bound.value;
}

function lexLteMax(value: string, bound: LexBound): boolean {
  if (bound.kind === "max") return true;
  if (bound.kind === "min") return false;
  return bound.exclusive ? value < bound.value : value <= bound.value;
}

/** Compares two lex bounds as Redis's `sdscmplex` does: `-` below everything, `+` above. */
function compareLexBounds(a: LexBound, b: LexBound): number {
  if (a.kind === b.kind && a.kind !== "value") return 0;
  if (a.kind === "min" || b.kind === "max") return -1;
  if (a.kind === "max" || b.kind === "min") return 1;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export class SkipList {
  private readonly header = new ZNode("", 0, levelMax);
  private tail: ZNode | null = null;
  private level = 1;
  length = 0;
  /** Scratch arrays for insert and delete. */
  private readonly update = new Array<ZNode>(levelMax);
  private readonly rank = new Array<number>(levelMax).fill(0);

  /**
   * A list of `entries`, which must come in order (as another list's walk gives them), built in
   * O(n) by appending each at the end: what copying a sorted set costs.
   */
  static fromSorted(entries: Iterable<readonly [string, number]>): SkipList {
    const list = new SkipList();
    const last = new Array<ZNode>(levelMax).fill(list.header);
    const lastRank = new Array<number>(levelMax).fill(0);
    let length = 0;
    for (const [member, score] of entries) {
      const level = randomLevel();
      if (level > list.level) list.level = level;
      const node = new ZNode(member, score, level);
      length++;
      const previous = last[0] as ZNode;
      node.previous = previous === list.header ? null : previous;
      for (let i = 0; i < level; i++) {
        const before = last[i] as ZNode;
        before.next[i] = node;
        before.span[i] = length - (lastRank[i] as number);
        last[i] = node;
        lastRank[i] = length;
      }
    }
    // A link to the end spans the nodes after it, as `insert` keeps them.
    for (let i = 0; i < list.level; i++) (last[i] as ZNode).span[i] = length - (lastRank[i] as number);
    list.length = length;
    list.tail = length === 0 ? null : (last[0] as ZNode);
    return list;
  }

  /** Every node, in order. */
  *nodes(): IterableIterator<ZNode> {
    for (let node = this.first(); node !== null; node = node.next[0] ?? null) yield node;
  }

  /** The first node, or null when empty. */
  first(): ZNode | null {
    return this.header.next[0] ?? null;
  }

  /** The last node, or null when empty. */
  last(): ZNode | null {
    return this.tail;
  }

  /** Inserts a member that is not in the list. */
  insert(score: number, member: string): ZNode {
    const update = this.update;
    const rank = this.rank;
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      rank[i] = i === this.level - 1 ? 0 : (rank[i + 1] as number);
      let next = x.next[i] ?? null;
      while (next !== null && before(next, score, member)) {
        rank[i] = (rank[i] as number) + (x.span[i] as number);
        x = next;
        next = x.next[i] ?? null;
      }
      update[i] = x;
    }
    const level = randomLevel();
    if (level > this.level) {
      for (let i = this.level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.header;
        this.header.span[i] = this.length;
      }
      this.level = level;
    }
    const node = new ZNode(member, score, level);
    const rank0 = rank[0] as number;
    for (let i = 0; i < level; i++) {
      const previous = update[i] as ZNode;
      node.next[i] = previous.next[i] ?? null;
      previous.next[i] = node;
      const covered = rank0 - (rank[i] as number);
      node.span[i] = (previous.span[i] as number) - covered;
      previous.span[i] = covered + 1;
    }
    for (let i = level; i < this.level; i++) (update[i] as ZNode).span[i] = ((update[i] as ZNode).span[i] as number) + 1;
    const previous = update[0] as ZNode;
    node.previous = previous === this.header ? null : previous;
    const following = node.next[0] ?? null;
    if (following !== null) following.previous = node;
    else this.tail = node;
    this.length++;
    return node;
  }

  /** Removes (score, member); false when it is not there. */
  delete(score: number, member: string): boolean {
    const update = this.update;
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && before(next, score, member)) {
        x = next;
        next = x.next[i] ?? null;
      }
      update[i] = x;
    }
    const found = x.next[0] ?? null;
    if (found === null || found.score !== score || found.member !== member) return false;
    this.unlink(found, update);
    return true;
  }

  private unlink(node: ZNode, update: ZNode[]): void {
    for (let i = 0; i < this.level; i++) {
      const previous = update[i] as ZNode;
      if (previous.next[i] === node) {
        previous.span[i] = (previous.span[i] as number) + (node.span[i] as number) - 1;
        previous.next[i] = node.next[i] ?? null;
      } else {
        previous.span[i] = (previous.span[i] as number) - 1;
      }
    }
    const following = node.next[0] ?? null;
    if (following !== null) following.previous = node.previous;
    else this.tail = node.previous;
    while (this.level > 1 && (this.header.next[this.level - 1] ?? null) === null) this.level--;
    this.length--;
  }

  /** The 1-based rank of (score, member), or 0 when it is not there. */
  rankOf(score: number, member: string): number {
    let x = this.header;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && (next.score < score || (next.score === score && next.member <= member))) {
        rank += x.span[i] as number;
        x = next;
        next = x.next[i] ?? null;
      }
      if (x !== this.header && x.member === member) return rank;
    }
    return 0;
  }

  /** The node at 1-based `rank`, or null when out of range. */
  byRank(rank: number): ZNode | null {
    if (rank < 1 || rank > this.length) return null;
    let x = this.header;
    let traversed = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && traversed + (x.span[i] as number) <= rank) {
        traversed += x.span[i] as number;
        x = next;
        next = x.next[i] ?? null;
      }
      if (traversed === rank) return x;
    }
    return null;
  }

  private inRange(range: ScoreRange): boolean {
    if (range.min > range.max || (range.min === range.max && (range.minExclusive || range.maxExclusive))) return false;
    const tail = this.tail;
    const first = this.first();
    return tail !== null && gteMin(tail.score, range) && first !== null && lteMax(first.score, range);
  }

  /** The first node whose score is in `range`, or null. */
  firstInRange(range: ScoreRange): ZNode | null {
    if (!this.inRange(range)) return null;
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && !gteMin(next.score, range)) {
        x = next;
        next = x.next[i] ?? null;
      }
    }
    const found = x.next[0] ?? null;
    return found !== null && lteMax(found.score, range) ? found : null;
  }

  /** The last node whose score is in `range`, or null. */
  lastInRange(range: ScoreRange): ZNode | null {
    if (!this.inRange(range)) return null;
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && lteMax(next.score, range)) {
        x = next;
        next = x.next[i] ?? null;
      }
    }
    return x !== this.header && gteMin(x.score, range) ? x : null;
  }

  private inLexRange(range: LexRange): boolean {
    const order = compareLexBounds(range.min, range.max);
    if (order > 0 || (order === 0 && (range.min.exclusive || range.max.exclusive))) return false;
    const tail = this.tail;
    const first = this.first();
    return tail !== null && lexGteMin(tail.member, range.min) && first !== null && lexLteMax(first.member, range.max);
  }

  /** True when every node has the same score (so members are in order), or the list is empty. */
  private uniformScores(): boolean {
    const first = this.first();
    return first === null || first.score === (this.tail as ZNode).score;
  }

  /** The first node whose member is in the lexicographic `range` (meaningful when scores are equal). */
  firstInLexRange(range: LexRange): ZNode | null {
    if (!this.inLexRange(range)) return null;
    if (!this.uniformScores()) {
      // Members out of order: the first one from the head at or above the minimum.
      for (let node = this.first(); node !== null; node = node.next[0] ?? null) {
        if (lexGteMin(node.member, range.min)) return lexLteMax(node.member, range.max) ? node : null;
      }
      return null;
    }
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && !lexGteMin(next.member, range.min)) {
        x = next;
        next = x.next[i] ?? null;
      }
    }
    const found = x.next[0] ?? null;
    return found !== null && lexLteMax(found.member, range.max) ? found : null;
  }

  lastInLexRange(range: LexRange): ZNode | null {
    if (!this.inLexRange(range)) return null;
    if (!this.uniformScores()) {
      for (let node = this.tail; node !== null; node = node.previous) {
        if (lexLteMax(node.member, range.max)) return lexGteMin(node.member, range.min) ? node : null;
      }
      return null;
    }
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && lexLteMax(next.member, range.max)) {
        x = next;
        next = x.next[i] ?? null;
      }
    }
    return x !== this.header && lexGteMin(x.member, range.min) ? x : null;
  }

  /** How many nodes are in the lexicographic `range`: from `firstInLexRange` on, while in it (ZLEXCOUNT). */
  countInLexRange(range: LexRange): number {
    const first = this.firstInLexRange(range);
    if (first === null) return 0;
    if (!this.uniformScores()) {
      // Members out of order: counted by walking, as ZREMRANGEBYLEX removes them.
      let count = 0;
      for (let node: ZNode | null = first; node !== null && lexLteMax(node.member, range.max); node = node.next[0] ?? null) count++;
      return count;
    }
    const last = this.lastInLexRange(range) as ZNode;
    return this.rankOf(last.score, last.member) - this.rankOf(first.score, first.member) + 1;
  }

  /**
   * Unlinks the nodes from the first one `before` says false for, as long as `inside` says true,
   * and hands each to `removed`. `before` is asked about nodes on the way down the levels, with
   * their 1-based rank. The path down (`update`) stays right for every node unlinked after the first.
   */
  private deleteWhile(before: (node: ZNode, rank: number) => boolean, inside: (node: ZNode) => boolean, removed: (node: ZNode) => void): number {
    const update = this.update;
    let x = this.header;
    let traversed = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      let next = x.next[i] ?? null;
      while (next !== null && before(next, traversed + (x.span[i] as number))) {
        traversed += x.span[i] as number;
        x = next;
        next = x.next[i] ?? null;
      }
      update[i] = x;
    }
    let count = 0;
    for (let node = x.next[0] ?? null; node !== null && inside(node); count++) {
      const following = node.next[0] ?? null;
      this.unlink(node, update);
      removed(node);
      node = following;
    }
    return count;
  }

  /** Removes the nodes of 1-based ranks `start` to `end` (inclusive, within the list). */
  deleteRangeByRank(start: number, end: number, removed: (node: ZNode) => void): number {
    let rank = start;
    return this.deleteWhile(
      (_, at) => at < start,
      () => rank++ <= end,
      removed,
    );
  }

  /** Removes the nodes whose score is in `range`. */
  deleteRangeByScore(range: ScoreRange, removed: (node: ZNode) => void): number {
    return this.deleteWhile(
      (node) => !gteMin(node.score, range),
      (node) => lteMax(node.score, range),
      removed,
    );
  }

  /** Removes the nodes from the first one in the lexicographic `range` on, while their member is in it. */
  deleteRangeByLex(range: LexRange, removed: (node: ZNode) => void): number {
    const first = this.firstInLexRange(range);
    if (first === null) return 0;
    const start = this.rankOf(first.score, first.member);
    return this.deleteWhile(
      (_, at) => at < start,
      (node) => lexLteMax(node.member, range.max),
      removed,
    );
  }
}

export class ZSetValue {
  readonly type = "zset";
  /** The keyspace epoch this set was made in (see `Keyspace.modify`). */
  epoch: number;
  readonly scores: Map<string, number>;
  readonly list: SkipList;

  constructor(epoch: number, scores = new Map<string, number>(), list = new SkipList()) {
    this.epoch = epoch;
    this.scores = scores;
    this.list = list;
  }

  /**
   * A set of `entries` given in order (by score, then member), made in O(n). Scores of -0 are
   * kept as 0, as `set` keeps them.
   */
  static fromSorted(epoch: number, entries: readonly ScoredMember[]): ZSetValue {
    const normalized = entries.map(({ member, score }): [string, number] => [member, score + 0]);
    return new ZSetValue(epoch, new Map(normalized), SkipList.fromSorted(normalized));
  }

  get size(): number {
    return this.scores.size;
  }

  /** Sets the score of `member`, adding it when absent. */
  set(member: string, given: number): void {
    // -0 is kept as 0, as Redis 7 answers for it (ZADD z -0 m; ZSCORE z m gives "0").
    const score = given + 0;
    const current = this.scores.get(member);
    if (current !== undefined) {
      // As in Redis, an equal score (0 and -0 included) changes nothing.
      if (current === score) return;
      this.list.delete(current, member);
    }
    this.scores.set(member, score);
    this.list.insert(score, member);
  }

  /** Removes `member`; false when it was not there. */
  delete(member: string): boolean {
    const score = this.scores.get(member);
    if (score === undefined) return false;
    this.scores.delete(member);
    this.list.delete(score, member);
    return true;
  }

  /** The 0-based rank of `member` from the lowest score, or null. */
  rank(member: string): number | null {
    const score = this.scores.get(member);
    if (score === undefined) return null;
    return this.list.rankOf(score, member) - 1;
  }

  /** Removes the members of 0-based ranks `start` to `stop` (clamped already, see `clampRange`); returns how many. */
  removeRangeByRank(start: number, stop: number): number {
    return this.list.deleteRangeByRank(start + 1, stop + 1, (node) => this.scores.delete(node.member));
  }

  /** Removes the members whose score is in `range`; returns how many. */
  removeRangeByScore(range: ScoreRange): number {
    return this.list.deleteRangeByScore(range, (node) => this.scores.delete(node.member));
  }

  /** Removes the members in the lexicographic `range` (meaningful when scores are equal); returns how many. */
  removeRangeByLex(range: LexRange): number {
    return this.list.deleteRangeByLex(range, (node) => this.scores.delete(node.member));
  }

  /** Every member in order, with its score: for snapshots and copies. */
  *entries(): IterableIterator<[string, number]> {
    for (let node = this.list.first(); node !== null; node = node.next[0] ?? null) yield [node.member, node.score];
  }

  /** A copy made in `epoch`, in O(n). */
  clone(epoch: number): ZSetValue {
    return new ZSetValue(epoch, new Map(this.scores), SkipList.fromSorted(this.entries()));
  }
}
