/**
 * A linearizability checker for client histories, used by the deterministic Raft simulator and by
 * fault harnesses against real clusters.
 *
 * The search is the Wing–Gong algorithm as improved by Lowe ("Testing for linearizability", 2017)
 * and implemented by Porcupine (github.com/anishathalye/porcupine): call and return events sit in
 * one doubly linked list ordered by time; the search linearizes the first call it can, lifting the
 * call and its return out of the list, and backtracks when it meets a return whose call it could
 * not linearize. Every (set of linearized operations, model state) pair it has reached is cached,
 * so no configuration is explored twice. Histories are partitioned per key first: a register
 * history is linearizable exactly when every key's sub-history is (Herlihy & Wing, locality).
 *
 * The generic core (`Model`, `checkOperations`) knows nothing about registers, so a counter or
 * append workload can reuse it with its own model.
 */
import { assert } from "../../src/assert.ts";

// ---------------------------------------------------------------------------------------------
// Limits.

/** The default time budget for a whole history; past it the verdict is "unknown", never a hang. */
export const checkTimeoutMsDefault = 10_000;

/**
 * Steps of the search between two reads of the clock. Reading the clock costs far more than one
 * step, and a thousand steps take well under a millisecond, so the budget is kept to within that.
 */
const stepsPerClockCheck = 1024;

/**
 * The most configurations the cache may hold for one key, and the most 32-bit words of linearized
 * sets among them. A search that needs more would exhaust the machine before it finished, so it
 * answers "unknown" like a timeout instead. At about 30 bytes an entry plus its state, 16 Mi
 * entries stay near half a GiB; 32 Mi words are 128 MiB.
 */
const cacheEntriesMax = 16 * 1024 * 1024;
const cacheWordsMax = 32 * 1024 * 1024;

/** The most operations an explanation lists in one section, so a failure stays readable. */
const explanationOperationsMax = 20;

// ---------------------------------------------------------------------------------------------
// The generic core.

/**
 * A sequential specification: the state machine that a linearizable history must agree with.
 * States must be treated as immutable, because the search keeps old states to backtrack to.
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /** Whether `input` may produce `output` in `state`, and the state after it. */
  step(state: State, input: Input, output: Output): [boolean, State];
  /** Whether two states are the same; the cache uses it to recognise configurations seen before. */
  equal(a: State, b: State): boolean;
  /** A 32-bit hash of a state, consistent with `equal`. */
  hash(state: State): number;
  /**
   * Whether an operation leaves every state as it was (a read). Optional; when given, the search
   * commits to a legal read-only candidate without trying the others first, which removes most of
   * the branching in read-heavy histories. Only say true when it holds in every state.
   */
  readOnly?(input: Input): boolean;
  /**
   * Whether linearizing `op` may make the read-only `read` legal (a write of the value the read
   * returned). Optional; the search tries such operations first. It only orders the search, so a
   * wrong answer costs time, never a wrong verdict.
   */
  mayEnable?(op: Input, read: Input): boolean;
}

/** One operation of a single-partition history, as the core sees it. */
export interface ModelOperation<Input, Output> {
  input: Input;
  output: Output;
  /** When the call started. */
  invoke: number;
  /** When the reply arrived; Infinity when the operation may take effect at any time after invoke. */
  complete: number;
}

/** The verdict of the core on one partition. Operation numbers index the array that was checked. */
export type SearchResult<State> =
  | { kind: "linearizable"; order: number[] }
  | {
      kind: "not-linearizable";
      /** The longest sequence of operations the search could linearize, in linearization order. */
      longestPrefix: number[];
      /** The model state after that prefix. */
      state: State;
      /** The operations that were candidates next, none of which could be placed (call order). */
      unplaced: number[];
      /** The candidate whose return comes first: it had to take effect before anything after that. */
      due: number;
    }
  | { kind: "gave-up"; reason: "time" | "memory" };

/** Options of `checkOperations`. */
export interface SearchOptions {
  /** The `performance.now()` instant after which the search gives up. */
  deadline?: number;
}

/**
 * Decides whether `operations` is linearizable with respect to `model`.
 *
 * Events with equal times are ordered calls first, so operations that merely touch (one completes
 * at the instant the other is invoked) count as concurrent: with clocks of finite resolution the
 * checker cannot tell which came first, and it must never reject a correct system.
 *
 * An operation with `complete === Infinity` must still be linearized, but it may go after every
 * other operation. That is how "may never have happened" is expressed: for models in which such an
 * operation placed last is harmless (a register write nobody reads afterwards), leaving it out and
 * placing it at the end are the same thing.
 */
export function checkOperations<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly ModelOperation<Input, Output>[],
  options: SearchOptions = {},
): SearchResult<State> {
  return new Search(model, operations, options.deadline ?? performance.now() + checkTimeoutMsDefault).run();
}

/**
 * One run of the search. A configuration is the set of linearized operations with the model state
 * after them. Level d of the stack is the configuration with d operations linearized; for each
 * level the search keeps its candidates (the calls before the first return still in the list,
 * which are exactly the operations nothing pending had to precede) and a cursor over them, so
 * backtracking resumes where that level left off.
 *
 * Beyond Porcupine, two register-friendly refinements, both driven by optional model hooks:
 *
 * - When a read-only candidate is legal in the current state, linearizing it now loses nothing.
 *   Any linearization from here that places it later stays valid with it moved to the front, since
 *   it reads the state as it is and changes nothing for the operations it jumps over. So the
 *   search commits to it: the level gets no other candidates, and if the configuration after it
 *   fails (or failed before, per the cache), so does this one.
 * - Otherwise candidates that may make a pending read legal (the write of the value it returned)
 *   are tried first. Order changes no verdict, but a linearizable history is found far sooner.
 */
class Search<State, Input, Output> {
  private readonly list: EventList;
  private readonly linearized: LinearizedSet;
  private readonly cache: ConfigurationCache<State>;
  /** Per level: the call that led to the next level, and the state at this level. */
  private readonly stackEvents: Int32Array;
  private readonly stackStates: State[] = [];
  /**
   * Per level: the next candidate to try and the end of the level's candidates in `candidates`,
   * where the next level's begin.
   */
  private readonly levelEnd: Int32Array;
  private readonly levelCursor: Int32Array;
  private candidates = new Int32Array(1024);
  private depth = 0;
  private state: State;
  /** Scratch space for reordering one level's candidates. */
  private reordered = new Int32Array(64);
  /**
   * The deepest failed configuration, for the explanation; `due` is -1 until one is recorded. Its
   * prefix (the calls, `bestDepth` of them) is copied incrementally: stack entries below
   * `unchangedBelow`, the lowest depth since the last record, still match it.
   */
  private best: { state: State; unplaced: number[]; due: number };
  private readonly bestPrefix: Int32Array;
  private bestDepth = -1;
  private unchangedBelow = 0;

  constructor(
    private readonly model: Model<State, Input, Output>,
    private readonly operations: readonly ModelOperation<Input, Output>[],
    private readonly deadline: number,
  ) {
    const count = operations.length;
    this.list = buildEventList(operations);
    this.linearized = new LinearizedSet(count);
    this.cache = new ConfigurationCache<State>(model);
    this.stackEvents = new Int32Array(count);
    this.levelEnd = new Int32Array(count + 1);
    this.levelCursor = new Int32Array(count + 1);
    this.state = model.init();
    this.best = { state: this.state, unplaced: [], due: -1 };
    this.bestPrefix = new Int32Array(count);
  }

  run(): SearchResult<State> {
    let steps = 0;
    let entered = true;
    for (;;) {
      steps += 1;
      if (steps % stepsPerClockCheck === 0 && performance.now() > this.deadline) {
        return { kind: "gave-up", reason: "time" };
      }
      if (entered) {
        if ((this.list.next[0] ?? -1) === -1) break;
        const committed = this.enter();
        if (committed === "memory") return { kind: "gave-up", reason: "memory" };
        entered = committed === "taken";
        if (entered) continue;
      }
      const level = this.depth;
      const cursor = this.levelCursor[level] ?? 0;
      if (cursor < (this.levelEnd[level] ?? 0)) {
        this.levelCursor[level] = cursor + 1;
        const tried = this.tryLinearize(this.candidates[cursor] ?? -1);
        if (tried === "memory") return { kind: "gave-up", reason: "memory" };
        entered = tried === "taken";
      } else {
        // Every candidate failed here: some pending operation had to take effect before the
        // first return in the list, and no order allows it. Undo the step that led here.
        if (this.depth > this.bestDepth) this.recordBest();
        if (this.depth === 0) return this.failure();
        this.backtrack();
      }
    }
    const order = Array.from(this.stackEvents.subarray(0, this.depth), (call) => this.list.operation[call] ?? -1);
    assert(order.length === this.operations.length, "a finished search has linearized every operation");
    return { kind: "linearizable", order };
  }

  /**
   * Sets up the level just reached: commits to a legal read-only candidate if there is one
   * ("taken"), else lays out the candidates in the order to try them.
   */
  private enter(): "taken" | "ready" | "memory" {
    const { next, match, operation } = this.list;
    const level = this.depth;
    const start = level === 0 ? 0 : (this.levelEnd[level - 1] ?? 0);
    this.levelCursor[level] = start;
    this.levelEnd[level] = start;
    const readOnly = this.model.readOnly;
    const pendingReads: Input[] = [];
    let count = 0;
    for (let call = next[0] ?? -1; call !== -1 && (match[call] ?? -1) !== -1; call = next[call] ?? -1) {
      const subject = this.operations[operation[call] ?? -1];
      assert(subject !== undefined, "every call event names an operation");
      if (readOnly !== undefined && readOnly.call(this.model, subject.input)) {
        const [legal] = this.model.step(this.state, subject.input, subject.output);
        if (legal) {
          const tried = this.tryLinearize(call);
          // Committed: this level has no other way out, whether the read was new or not.
          if (tried !== "illegal") return tried === "taken" ? "taken" : tried === "memory" ? "memory" : "ready";
        }
        pendingReads.push(subject.input);
      }
      if (start + count === this.candidates.length) {
        this.candidates = grown(this.candidates, this.candidates.length * 2);
      }
      this.candidates[start + count] = call;
      count += 1;
    }
    this.levelEnd[level] = start + count;
    if (pendingReads.length > 0) this.preferEnablers(start, count, pendingReads);
    return "ready";
  }

  /** Moves the candidates that may make a pending read legal to the front, keeping call order. */
  private preferEnablers(start: number, count: number, pendingReads: readonly Input[]): void {
    const mayEnable = this.model.mayEnable;
    if (mayEnable === undefined) return;
    if (this.reordered.length < count) this.reordered = new Int32Array(2 * count);
    let front = 0;
    let back = count;
    for (let index = start; index < start + count; index += 1) {
      const call = this.candidates[index] ?? -1;
      const subject = this.operations[this.list.operation[call] ?? -1];
      assert(subject !== undefined, "every call event names an operation");
      let enables = false;
      for (const read of pendingReads) enables ||= mayEnable.call(this.model, subject.input, read);
      // Enablers fill the front in order; the others fill the back in reverse, undone below.
      if (enables) this.reordered[front++] = call;
      else this.reordered[--back] = call;
    }
    for (let index = 0; index < front; index += 1) this.candidates[start + index] = this.reordered[index] ?? -1;
    for (let index = front; index < count; index += 1) {
      this.candidates[start + index] = this.reordered[count - 1 - (index - front)] ?? -1;
    }
  }

  /** Linearizes the operation of `call` if legal now and the configuration after it is new. */
  private tryLinearize(call: number): "taken" | "illegal" | "present" | "memory" {
    const op = this.list.operation[call] ?? -1;
    const subject = this.operations[op];
    assert(subject !== undefined, "every call event names an operation");
    const [legal, stateAfter] = this.model.step(this.state, subject.input, subject.output);
    if (!legal) return "illegal";
    const slot = this.list.slot[op] ?? -1;
    this.linearized.add(slot);
    const added = this.cache.addIfAbsent(this.linearized, stateAfter);
    if (added !== "added") {
      this.linearized.remove(slot);
      return added;
    }
    this.stackEvents[this.depth] = call;
    this.stackStates[this.depth] = this.state;
    this.depth += 1;
    this.state = stateAfter;
    lift(this.list, call);
    return "taken";
  }

  /** Undoes the last step; the level below resumes at its cursor. */
  private backtrack(): void {
    assert(this.depth > 0, "backtracking needs a step to undo");
    this.depth -= 1;
    const call = this.stackEvents[this.depth] ?? -1;
    const restored = this.stackStates[this.depth];
    assert(restored !== undefined, "every stack entry keeps the state before it");
    this.state = restored;
    this.linearized.remove(this.list.slot[this.list.operation[call] ?? -1] ?? -1);
    unlift(this.list, call);
    if (this.depth < this.unchangedBelow) this.unchangedBelow = this.depth;
  }

  /** Remembers the current configuration as the deepest failure: prefix, state and candidates. */
  private recordBest(): void {
    const { next, match, operation } = this.list;
    const unplaced: number[] = [];
    let due = next[0] ?? -1;
    for (; due !== -1 && (match[due] ?? -1) !== -1; due = next[due] ?? -1) unplaced.push(operation[due] ?? -1);
    assert(due !== -1, "a configuration with pending calls has a return in the list");
    this.best = { state: this.state, unplaced, due: operation[due] ?? -1 };
    for (let level = this.unchangedBelow; level < this.depth; level += 1) {
      this.bestPrefix[level] = this.stackEvents[level] ?? -1;
    }
    this.bestDepth = this.depth;
    this.unchangedBelow = this.depth;
  }

  private failure(): SearchResult<State> {
    const { state, unplaced, due } = this.best;
    const prefixCalls = this.bestPrefix.subarray(0, this.bestDepth);
    const longestPrefix = Array.from(prefixCalls, (call) => this.list.operation[call] ?? -1);
    return { kind: "not-linearizable", longestPrefix, state, unplaced, due };
  }
}

/**
 * The events of a history as a doubly linked list in typed arrays. Event 0 is the head sentinel;
 * events 1..2n are the calls and returns in time order. `-1` is the null link.
 */
interface EventList {
  next: Int32Array;
  prev: Int32Array;
  /** For a call, its return event; for a return (and the head), -1. */
  match: Int32Array;
  /** The operation an event belongs to. */
  operation: Int32Array;
  /**
   * Per operation, the rank of its call in time order. Linearized sets are kept over ranks rather
   * than input positions: the search linearizes roughly in call order, so a set is a run of all
   * ones followed by a short ragged edge, which `LinearizedSet` stores compactly.
   */
  slot: Int32Array;
}

function buildEventList<Input, Output>(operations: readonly ModelOperation<Input, Output>[]): EventList {
  const count = operations.length;
  // Event 2i is operation i's call, 2i+1 its return. Sort keys: time, then calls before returns,
  // then operation number for determinism. Times are compared, not subtracted: Infinity - Infinity
  // is NaN.
  const order = Array.from({ length: 2 * count }, (_, index) => index);
  const time = (index: number): number => {
    const op = operations[index >> 1];
    assert(op !== undefined, "event index within the history");
    assert(op.invoke <= op.complete, "an operation completes no earlier than it is invoked");
    return (index & 1) === 0 ? op.invoke : op.complete;
  };
  order.sort((a, b) => {
    const [timeA, timeB] = [time(a), time(b)];
    if (timeA !== timeB) return timeA < timeB ? -1 : 1;
    return (a & 1) - (b & 1) || (a >> 1) - (b >> 1);
  });
  const size = 2 * count + 1;
  const list: EventList = {
    next: new Int32Array(size),
    prev: new Int32Array(size),
    match: new Int32Array(size).fill(-1),
    operation: new Int32Array(size).fill(-1),
    slot: new Int32Array(count),
  };
  let calls = 0;
  const callEvent = new Int32Array(count);
  const returnEvent = new Int32Array(count);
  order.forEach((index, position) => {
    const event = position + 1;
    list.operation[event] = index >> 1;
    if ((index & 1) === 0) {
      callEvent[index >> 1] = event;
      list.slot[index >> 1] = calls;
      calls += 1;
    } else {
      returnEvent[index >> 1] = event;
    }
    list.prev[event] = event - 1;
    list.next[event - 1] = event;
  });
  list.next[size - 1] = -1;
  list.prev[0] = -1;
  for (let op = 0; op < count; op += 1) {
    const call = callEvent[op] ?? 0;
    const reply = returnEvent[op] ?? 0;
    assert(call < reply, "an operation's call precedes its return");
    list.match[call] = reply;
  }
  return list;
}

/** Takes a call and its return out of the list (Porcupine's lift). */
function lift(list: EventList, call: number): void {
  const { next, prev, match } = list;
  const reply = match[call] ?? -1;
  const callPrev = prev[call] ?? -1;
  const callNext = next[call] ?? -1;
  // A call's return comes after it, so a call always has a successor.
  next[callPrev] = callNext;
  prev[callNext] = callPrev;
  const replyPrev = prev[reply] ?? -1;
  const replyNext = next[reply] ?? -1;
  next[replyPrev] = replyNext;
  if (replyNext !== -1) prev[replyNext] = replyPrev;
}

/** Puts back what `lift` took out; the return first, since the call may be its predecessor. */
function unlift(list: EventList, call: number): void {
  const { next, prev, match } = list;
  const reply = match[call] ?? -1;
  const replyNext = next[reply] ?? -1;
  next[prev[reply] ?? -1] = reply;
  if (replyNext !== -1) prev[replyNext] = reply;
  next[prev[call] ?? -1] = call;
  prev[next[call] ?? -1] = call;
}

/**
 * The set of linearized operations (by call rank) as a bitset, with what the cache needs kept up to
 * date in O(1) per change: a Zobrist hash (the XOR of one random key per member, so adding and
 * removing are both an XOR) and the span of words that are neither all ones nor all zeros.
 */
class LinearizedSet {
  readonly words: Uint32Array;
  /** The lowest word that is not all ones: every word below it is full. */
  low = 0;
  /** One past the highest word that is not all zeros. */
  high = 0;
  hash = 0;
  private readonly keys: Int32Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) + 1);
    this.keys = zobristKeys(size);
  }

  add(member: number): void {
    const word = member >>> 5;
    this.words[word] = (this.words[word] ?? 0) | (1 << (member & 31));
    this.hash ^= this.keys[member] ?? 0;
    if (word >= this.high) this.high = word + 1;
    while (this.words[this.low] === 0xffffffff) this.low += 1;
  }

  remove(member: number): void {
    const word = member >>> 5;
    this.words[word] = (this.words[word] ?? 0) & ~(1 << (member & 31));
    this.hash ^= this.keys[member] ?? 0;
    if (word < this.low) this.low = word;
    while (this.high > 0 && this.words[this.high - 1] === 0) this.high -= 1;
  }
}

/**
 * One random 32-bit key per member, from a seeded generator (splitmix32) so that runs are
 * reproducible.
 */
function zobristKeys(count: number): Int32Array {
  const keys = new Int32Array(count);
  let seed = 0x2545f491;
  for (let index = 0; index < count; index += 1) {
    seed = (seed + 0x9e3779b9) | 0;
    let value = seed;
    value = Math.imul(value ^ (value >>> 16), 0x85ebca6b);
    value = Math.imul(value ^ (value >>> 13), 0xc2b2ae35);
    keys[index] = value ^ (value >>> 16);
  }
  return keys;
}

/**
 * The visited configurations, in a chained hash table over typed arrays. A linearized set is
 * stored as its ragged span only (`low` and the words from `low` up to `high`), usually a word or
 * two however long the history, so memory grows with the configurations, not with their product
 * with the history's length as a full bitset per entry (as in Porcupine) would.
 */
class ConfigurationCache<State> {
  private readonly states: State[] = [];
  /** Per entry: its hash, the next entry in its bucket, `low`, and where its span starts and ends in the arena. */
  private hashes = new Int32Array(initialEntries);
  private chain = new Int32Array(initialEntries);
  private lows = new Int32Array(initialEntries);
  private spanStarts = new Int32Array(initialEntries);
  private spanEnds = new Int32Array(initialEntries);
  private arena = new Uint32Array(initialEntries);
  private arenaUsed = 0;
  /** Per bucket, its first entry, or -1. The table doubles when it averages two entries a bucket. */
  private buckets = new Int32Array(initialEntries).fill(-1);
  private size = 0;

  constructor(private readonly model: Pick<Model<State, unknown, unknown>, "equal" | "hash">) {}

  /** Adds the configuration unless present; "memory" when it would outgrow the cache's limits. */
  addIfAbsent(set: LinearizedSet, state: State): "added" | "present" | "memory" {
    const hash = mixHash(set.hash, this.model.hash(state));
    const bucket = hash & (this.buckets.length - 1);
    const first = this.buckets[bucket] ?? -1;
    for (let entry = first; entry !== -1; entry = this.chain[entry] ?? -1) {
      // The cast is safe: `states` has an element for every entry a chain can name.
      const same = this.hashes[entry] === hash && this.spanEquals(entry, set);
      if (same && this.model.equal(this.states[entry] as State, state)) return "present";
    }
    const spanLength = Math.max(0, set.high - set.low);
    if (this.size === cacheEntriesMax || this.arenaUsed + spanLength > cacheWordsMax) return "memory";
    if (this.size === this.hashes.length) this.growEntries();
    while (this.arenaUsed + spanLength > this.arena.length) this.arena = grown(this.arena, this.arena.length * 2);
    const entry = this.size;
    for (let word = 0; word < spanLength; word += 1) this.arena[this.arenaUsed + word] = set.words[set.low + word] ?? 0;
    this.hashes[entry] = hash;
    this.lows[entry] = set.low;
    this.spanStarts[entry] = this.arenaUsed;
    this.spanEnds[entry] = this.arenaUsed + spanLength;
    this.arenaUsed += spanLength;
    this.states.push(state);
    this.chain[entry] = first;
    this.buckets[bucket] = entry;
    this.size += 1;
    if (this.size > 2 * this.buckets.length) this.rehash();
    return "added";
  }

  private spanEquals(entry: number, set: LinearizedSet): boolean {
    const start = this.spanStarts[entry] ?? 0;
    const length = (this.spanEnds[entry] ?? 0) - start;
    if (this.lows[entry] !== set.low || length !== Math.max(0, set.high - set.low)) return false;
    for (let word = 0; word < length; word += 1) {
      if (this.arena[start + word] !== set.words[set.low + word]) return false;
    }
    return true;
  }

  private growEntries(): void {
    const capacity = this.hashes.length * 2;
    this.hashes = grown(this.hashes, capacity);
    this.chain = grown(this.chain, capacity);
    this.lows = grown(this.lows, capacity);
    this.spanStarts = grown(this.spanStarts, capacity);
    this.spanEnds = grown(this.spanEnds, capacity);
  }

  private rehash(): void {
    this.buckets = new Int32Array(this.buckets.length * 2).fill(-1);
    const mask = this.buckets.length - 1;
    for (let entry = 0; entry < this.size; entry += 1) {
      const bucket = (this.hashes[entry] ?? 0) & mask;
      this.chain[entry] = this.buckets[bucket] ?? -1;
      this.buckets[bucket] = entry;
    }
  }
}

/** The cache's starting capacity, in entries; it doubles as needed. */
const initialEntries = 1024;

function grown(array: Int32Array<ArrayBuffer>, capacity: number): Int32Array<ArrayBuffer>;
function grown(array: Uint32Array<ArrayBuffer>, capacity: number): Uint32Array<ArrayBuffer>;
function grown(
  array: Int32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>,
  capacity: number,
): Int32Array<ArrayBuffer> | Uint32Array<ArrayBuffer> {
  const copy = array instanceof Int32Array ? new Int32Array(capacity) : new Uint32Array(capacity);
  copy.set(array);
  return copy;
}

function mixHash(setHash: number, stateHash: number): number {
  return (setHash ^ Math.imul(stateHash ^ (stateHash >>> 15), 0x2c1b3c6d)) | 0;
}

// ---------------------------------------------------------------------------------------------
// Registers.

/** How an operation ended, as the client saw it. */
export type Outcome = "ok" | "failed" | "unknown";

/** One client operation on a register, as recorded by a simulator or a fault harness. */
export interface Operation {
  client: number;
  key: string;
  kind: "read" | "write";
  /** the value written, or the value a read returned; null means absent (never written / deleted) */
  value: string | null;
  invoke: number; // time the call started (any monotonic number)
  complete: number; // time the reply arrived; Infinity when the outcome is unknown
  outcome: Outcome;
}

/** The verdict on a whole history. */
export interface CheckResult {
  ok: boolean; // true when linearizable (every key)
  /** true when the time budget ran out before a verdict on some key; ok is then true only if no key was proven non-linearizable */
  timedOut?: boolean;
  key?: string; // the first key found not linearizable
  explanation?: string; // human-readable: the longest linearizable prefix found and the operations that could not be placed
}

/** A register operation for the core, with values interned as small integers. */
export interface RegisterInput {
  kind: "read" | "write";
  value: number;
}

/**
 * The register model over interned values: a write sets the value, a read must see it. A read
 * carries the value it returned in its input, so the output is unused.
 */
export function registerModel(initial: number): Model<number, RegisterInput, null> {
  return {
    init: () => initial,
    step: (state, input) => (input.kind === "write" ? [true, input.value] : [state === input.value, state]),
    equal: (a, b) => a === b,
    hash: (state) => state,
    readOnly: (input) => input.kind === "read",
    mayEnable: (op, read) => op.kind === "write" && op.value === read.value,
  };
}

/**
 * Decides whether a history of register reads and writes, over any number of keys, is
 * linearizable. Failed operations did not take effect and are dropped; unknown reads say nothing
 * and are dropped; unknown writes may take effect at any time after their invoke, or never.
 * Keys are checked in order of first appearance and the first non-linearizable key is reported.
 */
export function checkRegisterHistory(
  ops: readonly Operation[],
  options: { timeoutMs?: number; initialValue?: string | null } = {},
): CheckResult {
  const timeoutMs = options.timeoutMs ?? checkTimeoutMsDefault;
  const deadline = performance.now() + timeoutMs;
  const initialValue = options.initialValue ?? null;
  const undecided: { key: string; reason: "time" | "memory" }[] = [];
  for (const [key, keyOps] of partitionByKey(ops)) {
    // Once the budget is spent each remaining key still gets up to `stepsPerClockCheck` steps,
    // which decides the small ones.
    const verdict = checkKey(key, keyOps, initialValue, deadline);
    if (verdict.kind === "gave-up") {
      undecided.push({ key, reason: verdict.reason });
    } else if (verdict.kind === "not-linearizable") {
      const result: CheckResult = { ok: false, key, explanation: verdict.explanation };
      if (undecided.length > 0) result.timedOut = true;
      return result;
    }
  }
  if (undecided.length === 0) return { ok: true };
  const listed = undecided.map(({ key, reason }) => `${JSON.stringify(key)} (${reason})`).join(", ");
  return {
    ok: true,
    timedOut: true,
    explanation: `no verdict within ${timeoutMs} ms or the cache limit on keys: ${listed}`,
  };
}

function partitionByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const partitions = new Map<string, Operation[]>();
  for (const op of ops) {
    assert(Number.isFinite(op.invoke), "an operation's invoke time is a finite number");
    assert(op.complete >= op.invoke, "an operation completes no earlier than it is invoked");
    assert(op.outcome !== "ok" || Number.isFinite(op.complete), "an ok operation has a completion time");
    const partition = partitions.get(op.key);
    if (partition === undefined) partitions.set(op.key, [op]);
    else partition.push(op);
  }
  return partitions;
}

type KeyVerdict =
  | { kind: "linearizable" }
  | { kind: "not-linearizable"; explanation: string }
  | { kind: "gave-up"; reason: "time" | "memory" };

function checkKey(
  key: string,
  keyOps: readonly Operation[],
  initialValue: string | null,
  deadline: number,
): KeyVerdict {
  const { operations, sources, initialId } = prepareKey(keyOps, initialValue);
  const verdict = checkOperations(registerModel(initialId), operations, { deadline });
  switch (verdict.kind) {
    case "linearizable":
      return { kind: "linearizable" };
    case "gave-up":
      return { kind: "gave-up", reason: verdict.reason };
    case "not-linearizable":
      return { kind: "not-linearizable", explanation: explain(key, verdict, sources, initialValue) };
  }
}

/**
 * Turns one key's operations into core operations. Besides dropping what carries no information,
 * it narrows unknown writes, which otherwise stay concurrent with everything after them and make
 * the search exponential in their number (a harness with timeouts produces many):
 *
 * - An unknown write whose value no read returned is dropped. If the rest is linearizable the
 *   write can go last, after everything; if a linearization places it elsewhere, the reads up to
 *   the next write would return its value, and none does, so removing it leaves a linearization.
 * - An unknown write that is the only write of its value (and the value is not the initial one)
 *   must precede every read that returned that value, so it completes, in effect, by the earliest
 *   completion among those reads. Shrinking its window to that loses no linearization.
 */
function prepareKey(
  keyOps: readonly Operation[],
  initialValue: string | null,
): { operations: ModelOperation<RegisterInput, null>[]; sources: Operation[]; initialId: number } {
  const kept = keyOps.filter((op) => op.outcome === "ok" || (op.outcome === "unknown" && op.kind === "write"));
  const writers = new Map<string | null, number>();
  const earliestReadCompletion = new Map<string | null, number>();
  for (const op of kept) {
    if (op.kind === "write") writers.set(op.value, (writers.get(op.value) ?? 0) + 1);
    else earliestReadCompletion.set(op.value, Math.min(op.complete, earliestReadCompletion.get(op.value) ?? Infinity));
  }

  // Values become small integers for the model. Every value no read returned shares one id: no
  // read can tell them apart, so merging them changes no verdict, and configurations that differ
  // only in which unread value the register holds (orders of blind writes) meet in the cache.
  const unreadId = 0;
  const ids = new Map<string | null, number>();
  const intern = (value: string | null): number => {
    if (!earliestReadCompletion.has(value)) return unreadId;
    let id = ids.get(value);
    if (id === undefined) {
      id = ids.size + 1;
      ids.set(value, id);
    }
    return id;
  };
  const initialId = intern(initialValue);

  const operations: ModelOperation<RegisterInput, null>[] = [];
  const sources: Operation[] = [];
  for (const op of kept) {
    let complete = op.complete;
    if (op.outcome === "unknown") {
      const readBy = earliestReadCompletion.get(op.value);
      if (readBy === undefined) continue;
      const onlySource = writers.get(op.value) === 1 && op.value !== initialValue;
      complete = onlySource && readBy >= op.invoke ? readBy : Infinity;
    }
    operations.push({ input: { kind: op.kind, value: intern(op.value) }, output: null, invoke: op.invoke, complete });
    sources.push(op);
  }
  return { operations, sources, initialId };
}

function explain(
  key: string,
  verdict: { longestPrefix: number[]; unplaced: number[]; due: number },
  sources: readonly Operation[],
  initialValue: string | null,
): string {
  const describe = (index: number): string => {
    const op = sources[index];
    assert(op !== undefined, "explanations name operations of the history");
    const end = op.complete === Infinity ? "∞)" : `${op.complete}]`;
    return `client ${op.client} ${op.kind} ${JSON.stringify(op.value)} [${op.invoke}, ${end} ${op.outcome}`;
  };
  const prefix = verdict.longestPrefix;
  // An unknown write's deadline is the first completed read of its value (see `prepareKey`).
  const deadline =
    sources[verdict.due]?.outcome === "unknown" ? "before a read of its value completed" : "before its reply";
  const shown = prefix.slice(-explanationOperationsMax);
  // The model's state may be the merged id of unread values, so name the value from the prefix.
  let holds = initialValue;
  for (const index of prefix) {
    const op = sources[index];
    if (op?.kind === "write") holds = op.value;
  }
  const lines = [
    `key ${JSON.stringify(key)} is not linearizable.`,
    `Longest linearizable prefix: ${prefix.length} of ${sources.length} operations` +
      (shown.length < prefix.length ? ` (the last ${shown.length} shown):` : ":"),
    ...shown.map((index) => `  ${describe(index)}`),
    `after which the register holds ${JSON.stringify(holds)}.`,
    `None of these could be placed next (${verdict.unplaced.length} in all):`,
    ...verdict.unplaced.slice(0, explanationOperationsMax).map((index) => `  ${describe(index)}`),
    `yet this one had to take effect ${deadline}: ${describe(verdict.due)}`,
  ];
  return lines.join("\n");
}
