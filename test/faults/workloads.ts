/**
 * Workloads for the fault harness and the checks that judge their histories.
 *
 * - register: `SET key <unique value>` and `GET key`, checked for linearizability
 *   (`checkRegisterHistory`).
 * - counter: `INCR key` and `GET key`; no acknowledged increment lost, none applied twice, every
 *   INCR reply and every read inside the bounds real time allows.
 * - append: `APPEND key <unique token>;` and `GET key`; every read a prefix of the final value,
 *   tokens unique, acknowledged tokens present, definitely failed tokens absent, real-time order
 *   respected.
 * - queue: `RPUSH key <unique token>` and `BLPOP key 0.05` (a blocking pop, waiting up to 50 ms);
 *   no token delivered twice (to two BLPOPs, or to one and still in the list at the end), none
 *   that was never pushed or whose push definitely failed, no acknowledged token lost beyond what
 *   pops of unknown outcome may have taken, and each consumer gets one producer's tokens in the
 *   order they were pushed.
 * - set: `SADD key m`, `SREM key m` and `SISMEMBER key m`, one member per key, so that about half
 *   the writes change nothing (a leader answers those without a log entry, see `Unchanged` in
 *   src/api.ts); checked for linearizability against a set of that one member.
 *
 * Outcomes follow the README ("Errors and what they guarantee"): ok; failed (MOVED, TRY,
 * CLUSTERDOWN, TRYAGAIN, LOADING, ERR: definitely not applied); unknown (UNCERTAIN, a reply
 * timeout, a dropped connection: may or may not have been applied).
 */
import { checkOperations, checkRegisterHistory, type Model, type ModelOperation, type Operation, type Outcome } from "../sim/linearizability.ts";
import type { Random } from "./random.ts";

export type WorkloadName = "register" | "counter" | "append" | "queue" | "set";

/** One operation as the harness recorded it. Times are `performance.now()` of the test process. */
export interface HistoryEntry {
  /** Position in the history (invoke order). */
  index: number;
  /** The client number; -1 for the final reads after the cluster was healed. */
  client: number;
  workload: WorkloadName;
  /** The node the command was sent to (its name). */
  node: string;
  command: string[];
  key: string;
  kind: "read" | "write";
  /** For a write, what it adds (SET value, APPEND token; null for INCR); for a read, what it returned. */
  value: string | null;
  /** The reply as text (an error's message, an integer, a bulk string), or why there was none. */
  reply: string;
  /** For INCR and APPEND, the integer reply when ok. */
  integer: number | null;
  invoke: number;
  /** When the reply arrived; null when none did (timeout, dropped connection). */
  complete: number | null;
  outcome: Outcome;
}

/** The next operation a client will send. */
export interface PlannedOperation {
  kind: "read" | "write";
  key: string;
  command: string[];
  value: string | null;
}

/** What a check found. */
export interface CheckReport {
  workload: WorkloadName;
  violations: string[];
  /** Things worth knowing that are not violations (a checker that ran out of time, for example). */
  notes: string[];
}

export interface Workload {
  readonly name: WorkloadName;
  readonly keys: readonly string[];
  generate(client: number, sequence: number, random: Random): PlannedOperation;
  /** The command that reads a key's final value after the run (GET unless given). */
  finalCommand?(key: string): string[];
  check(history: readonly HistoryEntry[], finals: ReadonlyMap<string, string | null>): CheckReport;
}

/** The most violations listed per check, so that a broken run stays readable. */
const violationsListedMax = 20;

function keysOf(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
}

function describe(entry: HistoryEntry): string {
  const complete = entry.complete === null ? "none" : entry.complete.toFixed(1);
  return `#${entry.index} client ${entry.client} on ${entry.node}: ${entry.command.join(" ")} -> ${entry.reply} (${entry.outcome}, invoke ${entry.invoke.toFixed(1)}, complete ${complete})`;
}

function pushLimited(list: string[], message: string): void {
  if (list.length < violationsListedMax) list.push(message);
  else if (list.length === violationsListedMax) list.push("... more violations not listed");
}

// ---------------------------------------------------------------------------------------------

/** Registers: blind writes of unique values and reads, checked for linearizability. */
export function registerWorkload(keyCount = 4, checkTimeoutMs = 60_000): Workload {
  const keys = keysOf("register", keyCount);
  return {
    name: "register",
    keys,
    generate(client, sequence, random) {
      const key = random.pick(keys);
      if (random.chance(0.5)) {
        const value = `c${client}.${sequence}`;
        return { kind: "write", key, command: ["SET", key, value], value };
      }
      return { kind: "read", key, command: ["GET", key], value: null };
    },
    check(history) {
      const operations = registerOperations(history.filter((entry) => entry.workload === "register"));
      const result = checkRegisterHistory(operations, { timeoutMs: checkTimeoutMs });
      const violations: string[] = [];
      const notes: string[] = [];
      if (!result.ok) violations.push(`register key ${result.key ?? "?"} is not linearizable:\n${result.explanation ?? ""}`);
      if (result.timedOut === true) notes.push(`register check gave up on some keys: ${result.explanation ?? ""}`);
      return { workload: "register", violations, notes };
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Counters: INCR and GET. */
export function counterWorkload(keyCount = 3): Workload {
  const keys = keysOf("counter", keyCount);
  return {
    name: "counter",
    keys,
    generate(_client, _sequence, random) {
      const key = random.pick(keys);
      if (random.chance(0.7)) return { kind: "write", key, command: ["INCR", key], value: null };
      return { kind: "read", key, command: ["GET", key], value: null };
    },
    check(history, finals) {
      const violations: string[] = [];
      for (const key of keys) {
        const entries = history.filter((entry) => entry.workload === "counter" && entry.key === key && entry.client >= 0);
        const increments = entries.filter((entry) => entry.kind === "write");
        const okIncrements = increments.filter((entry) => entry.outcome === "ok");
        const unknownIncrements = increments.filter((entry) => entry.outcome === "unknown");
        const finalText = finals.get(key);
        if (finalText === undefined) {
          violations.push(`counter ${key}: no final read`);
          continue;
        }
        const final = finalText === null ? 0 : Number(finalText);
        if (!Number.isSafeInteger(final)) {
          violations.push(`counter ${key}: final value ${JSON.stringify(finalText)} is not an integer`);
          continue;
        }
        if (final < okIncrements.length) {
          pushLimited(violations, `counter ${key}: final value ${final} < ${okIncrements.length} acknowledged increments (an acknowledged increment was lost)`);
        }
        if (final > okIncrements.length + unknownIncrements.length) {
          pushLimited(
            violations,
            `counter ${key}: final value ${final} > ${okIncrements.length} acknowledged + ${unknownIncrements.length} unknown increments (an increment was applied twice, or a failed one applied)`,
          );
        }
        // Each acknowledged INCR returned the counter after it: all distinct, within [1, final],
        // at least one more than the increments acknowledged before it began, and at most the
        // number of increments (ok or unknown) begun before it completed.
        const seen = new Map<number, HistoryEntry>();
        const okCompletions = okIncrements.map((entry) => entry.complete ?? Infinity).sort((a, b) => a - b);
        const possibleInvokes = [...okIncrements, ...unknownIncrements].map((entry) => entry.invoke).sort((a, b) => a - b);
        for (const entry of okIncrements) {
          const reply = entry.integer;
          if (reply === null) {
            pushLimited(violations, `counter ${key}: INCR ok without an integer: ${describe(entry)}`);
            continue;
          }
          const twin = seen.get(reply);
          if (twin !== undefined) pushLimited(violations, `counter ${key}: two INCRs returned ${reply}: ${describe(twin)} and ${describe(entry)}`);
          seen.set(reply, entry);
          if (reply < 1 || reply > final) pushLimited(violations, `counter ${key}: INCR returned ${reply}, outside [1, final ${final}]: ${describe(entry)}`);
          const before = countBelow(okCompletions, entry.invoke);
          if (reply < before + 1) pushLimited(violations, `counter ${key}: INCR returned ${reply} but ${before} increments were acknowledged before it began: ${describe(entry)}`);
          const begun = countBelow(possibleInvokes, entry.complete ?? Infinity);
          if (reply > begun) pushLimited(violations, `counter ${key}: INCR returned ${reply} but only ${begun} increments had begun when it completed: ${describe(entry)}`);
        }
        // A read sees every increment acknowledged before it began (and at least the largest
        // reply among them), and no more increments than had begun when it completed.
        const replyCompletions = okIncrements
          .filter((entry) => entry.integer !== null)
          .map((entry) => ({ complete: entry.complete ?? Infinity, reply: entry.integer ?? 0 }))
          .sort((a, b) => a.complete - b.complete);
        const replyCompletionTimes = replyCompletions.map((item) => item.complete);
        // largestReplyBefore[i]: the largest reply among the first i completed INCRs.
        const largestReplyBefore = [0];
        for (const item of replyCompletions) largestReplyBefore.push(Math.max(largestReplyBefore.at(-1) ?? 0, item.reply));
        for (const read of entries) {
          if (read.kind !== "read" || read.outcome !== "ok") continue;
          const value = read.value === null ? 0 : Number(read.value);
          const lower = Math.max(
            countBelow(okCompletions, read.invoke),
            largestReplyBefore[countBelow(replyCompletionTimes, read.invoke)] ?? 0,
          );
          const upper = countBelow(possibleInvokes, read.complete ?? Infinity);
          if (!Number.isSafeInteger(value) || value < lower || value > upper) {
            pushLimited(violations, `counter ${key}: read ${String(read.value)} outside [${lower}, ${upper}] (stale or from the future): ${describe(read)}`);
          }
        }
      }
      return { workload: "counter", violations, notes: [] };
    },
  };
}

/** How many of the sorted `values` are strictly below `limit`. */
function countBelow(sorted: readonly number[], limit: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? Infinity) < limit) low = middle + 1;
    else high = middle;
  }
  return low;
}

// ---------------------------------------------------------------------------------------------

/** The separator after every appended token. */
const tokenEnd = ";";

function tokensOf(value: string | null): string[] {
  if (value === null || value === "") return [];
  const parts = value.split(tokenEnd);
  // Every token ends with the separator, so the last part is empty; a non-empty one is torn.
  const last = parts.pop();
  if (last !== "") parts.push(`<torn:${last ?? ""}>`);
  return parts;
}

/** Appends: APPEND of unique tokens and GET. */
export function appendWorkload(keyCount = 3): Workload {
  const keys = keysOf("append", keyCount);
  return {
    name: "append",
    keys,
    generate(client, sequence, random) {
      const key = random.pick(keys);
      if (random.chance(0.6)) {
        const token = `c${client}.${sequence}`;
        return { kind: "write", key, command: ["APPEND", key, `${token}${tokenEnd}`], value: token };
      }
      return { kind: "read", key, command: ["GET", key], value: null };
    },
    check(history, finals) {
      const violations: string[] = [];
      for (const key of keys) {
        const entries = history.filter((entry) => entry.workload === "append" && entry.key === key && entry.client >= 0);
        const appends = entries.filter((entry) => entry.kind === "write");
        const finalText = finals.get(key);
        if (finalText === undefined) {
          violations.push(`append ${key}: no final read`);
          continue;
        }
        const final = tokensOf(finalText);
        const position = new Map<string, number>();
        final.forEach((token, index) => {
          if (position.has(token)) pushLimited(violations, `append ${key}: token ${token} appears twice in the final value`);
          else position.set(token, index);
        });
        const byToken = new Map<string, HistoryEntry>();
        for (const entry of appends) if (entry.value !== null) byToken.set(entry.value, entry);
        for (const token of final) {
          const entry = byToken.get(token);
          if (entry === undefined) pushLimited(violations, `append ${key}: token ${token} in the final value was never appended`);
          else if (entry.outcome === "failed") pushLimited(violations, `append ${key}: token ${token} of a failed APPEND is in the final value: ${describe(entry)}`);
        }
        for (const entry of appends) {
          if (entry.outcome !== "ok" || entry.value === null) continue;
          if (!position.has(entry.value)) {
            pushLimited(violations, `append ${key}: acknowledged token ${entry.value} is missing from the final value: ${describe(entry)}`);
            continue;
          }
          // APPEND replies with the length after it: the final value's prefix of that length
          // must end with this token.
          const length = entry.integer;
          const text = finalText ?? "";
          const written = `${entry.value}${tokenEnd}`;
          const fits = length !== null &&
            (text.endsWith(`${tokenEnd}${written}`, length) || (length === written.length && text.startsWith(written)));
          if (!fits) {
            const around = length === null ? "" : text.slice(Math.max(0, length - 40), length);
            pushLimited(violations, `append ${key}: APPEND of ${entry.value} replied length ${String(length)}, but the final value there ends ${JSON.stringify(around)}: ${describe(entry)}`);
          }
        }
        // Every ok read must be a prefix of the final value; it then holds exactly the first
        // `count` tokens of it. Real time, in O(log n) per read:
        // - every token acknowledged before the read began sits at a position below `count`;
        // - no token among the first `count` was appended after the read completed;
        // - a read that begins after another completed holds at least as many tokens.
        const acknowledged = appends
          .filter((entry) => entry.outcome === "ok" && entry.value !== null && position.has(entry.value))
          .map((entry) => ({ complete: entry.complete ?? Infinity, position: position.get(entry.value ?? "") ?? 0, entry }))
          .sort((a, b) => a.complete - b.complete);
        const acknowledgedTimes = acknowledged.map((item) => item.complete);
        // furthestBefore[i]: the acknowledged append at the largest position among the first i completed.
        const furthestBefore: ({ position: number; entry: HistoryEntry } | null)[] = [null];
        for (const item of acknowledged) {
          const best = furthestBefore.at(-1) ?? null;
          furthestBefore.push(best === null || item.position > best.position ? item : best);
        }
        // latestInvokeUpTo[n]: the latest invoke among the first n tokens of the final value.
        const latestInvokeUpTo = [-Infinity];
        for (const token of final) latestInvokeUpTo.push(Math.max(latestInvokeUpTo.at(-1) ?? -Infinity, byToken.get(token)?.invoke ?? -Infinity));
        // tokenEnds[i]: the length of the final value's prefix that ends with token i.
        const tokenEnds: number[] = [];
        for (const token of final) tokenEnds.push((tokenEnds.at(-1) ?? 0) + token.length + tokenEnd.length);
        const reads: { entry: HistoryEntry; count: number }[] = [];
        const finalString = finalText ?? "";
        for (const read of entries) {
          if (read.kind !== "read" || read.outcome !== "ok") continue;
          const text = read.value ?? "";
          if (!finalString.startsWith(text) || (text !== "" && !text.endsWith(tokenEnd))) {
            pushLimited(violations, `append ${key}: read is not a prefix of the final value ${JSON.stringify(finalString.slice(0, 200))}: ${describe(read)}`);
            continue;
          }
          const count = countBelow(tokenEnds, text.length + 1);
          reads.push({ entry: read, count });
          const furthest = furthestBefore[countBelow(acknowledgedTimes, read.invoke)] ?? null;
          if (furthest !== null && furthest.position >= count) {
            pushLimited(violations, `append ${key}: read misses ${furthest.entry.value ?? ""}, acknowledged before the read began (stale read): ${describe(read)} / ${describe(furthest.entry)}`);
          }
          if ((latestInvokeUpTo[count] ?? -Infinity) > (read.complete ?? Infinity)) {
            pushLimited(violations, `append ${key}: read contains a token appended only after the read completed: ${describe(read)}`);
          }
        }
        reads.sort((a, b) => (a.entry.complete ?? Infinity) - (b.entry.complete ?? Infinity));
        const readTimes = reads.map((read) => read.entry.complete ?? Infinity);
        const mostBefore: ({ count: number; entry: HistoryEntry } | null)[] = [null];
        for (const read of reads) {
          const best = mostBefore.at(-1) ?? null;
          mostBefore.push(best === null || read.count > best.count ? read : best);
        }
        for (const read of reads) {
          const earlier = mostBefore[countBelow(readTimes, read.entry.invoke)] ?? null;
          if (earlier !== null && earlier.count > read.count) {
            pushLimited(violations, `append ${key}: a later read saw fewer tokens than an earlier one (stale read): ${describe(earlier.entry)} then ${describe(read.entry)}`);
          }
        }
      }
      return { workload: "append", violations, notes: [] };
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** How long a BLPOP of the queue workload waits, in seconds. */
const popTimeoutSeconds = "0.05";

/**
 * Queues: RPUSH of unique tokens, and BLPOP. A BLPOP is recorded as a read (its reply, `key,token`
 * or null, is what the check needs), though it removes what it returns.
 */
export function queueWorkload(keyCount = 2): Workload {
  const keys = keysOf("queue", keyCount);
  const tokenOf = (reply: string | null): string | null => (reply === null ? null : (reply.split(",")[1] ?? null));
  return {
    name: "queue",
    keys,
    generate(client, sequence, random) {
      const key = random.pick(keys);
      // More pushes than pops: most pops find something, some wait (and some time out).
      if (random.chance(0.6)) {
        const token = `c${client}.${sequence}`;
        return { kind: "write", key, command: ["RPUSH", key, token], value: token };
      }
      return { kind: "read", key, command: ["BLPOP", key, popTimeoutSeconds], value: null };
    },
    finalCommand: (key) => ["LRANGE", key, "0", "-1"],
    check(history, finals) {
      const violations: string[] = [];
      for (const key of keys) {
        const entries = history.filter((entry) => entry.workload === "queue" && entry.key === key && entry.client >= 0);
        const pushes = new Map<string, HistoryEntry>();
        for (const entry of entries) if (entry.kind === "write" && entry.value !== null) pushes.set(entry.value, entry);
        const finalText = finals.get(key);
        if (finalText === undefined) {
          violations.push(`queue ${key}: no final read`);
          continue;
        }
        const remaining = finalText === null || finalText === "" ? [] : finalText.split(",");
        const delivered = new Map<string, HistoryEntry | "final">();
        const deliver = (token: string, to: HistoryEntry | "final"): void => {
          const twice = delivered.get(token);
          if (twice !== undefined) {
            const where = (one: HistoryEntry | "final"): string => (one === "final" ? "the final list" : describe(one));
            pushLimited(violations, `queue ${key}: token ${token} delivered twice: ${where(twice)} and ${where(to)}`);
          }
          delivered.set(token, to);
          const push = pushes.get(token);
          if (push === undefined) pushLimited(violations, `queue ${key}: token ${token} was never pushed`);
          else if (push.outcome === "failed") pushLimited(violations, `queue ${key}: token ${token} of a failed RPUSH was delivered: ${describe(push)}`);
        };
        const pops = entries.filter((entry) => entry.kind === "read");
        for (const pop of pops) {
          if (pop.outcome !== "ok") continue;
          const token = tokenOf(pop.value);
          if (token !== null) deliver(token, pop);
        }
        for (const token of remaining) deliver(token, "final");
        // An acknowledged push is delivered, or taken by a pop whose reply never came.
        const unknownPops = pops.filter((pop) => pop.outcome === "unknown").length;
        const lost = [...pushes.values()].filter((push) => push.outcome === "ok" && push.value !== null && !delivered.has(push.value));
        if (lost.length > unknownPops) {
          pushLimited(
            violations,
            `queue ${key}: ${lost.length} acknowledged tokens are neither popped nor left (at most ${unknownPops} pops of unknown outcome could have taken them): ${lost
              .slice(0, 5)
              .map(describe)
              .join("; ")}`,
          );
        }
        // One producer's tokens reach each consumer in the order they were pushed (FIFO).
        const lastSeen = new Map<string, { sequence: number; pop: HistoryEntry }>();
        for (const pop of pops.filter((one) => one.outcome === "ok").sort((a, b) => a.index - b.index)) {
          const token = tokenOf(pop.value);
          const match = token === null ? null : /^c(\d+)\.(\d+)$/.exec(token);
          if (match === null) continue;
          const producer = `${pop.client}<-${match[1] ?? ""}`;
          const sequence = Number(match[2]);
          const before = lastSeen.get(producer);
          if (before !== undefined && before.sequence > sequence) {
            pushLimited(violations, `queue ${key}: a consumer got ${token} after a later token of the same producer: ${describe(before.pop)} then ${describe(pop)}`);
          }
          lastSeen.set(producer, { sequence, pop });
        }
      }
      return { workload: "queue", violations, notes: [] };
    },
  };
}

/** The member every command of the set workload names. */
const setMember = "m";

/** A set workload operation for the checker: what it does, and its reply (null: unknown). */
interface SetInput {
  readonly op: "add" | "remove" | "is";
  readonly reply: number | null;
}

/**
 * A set of one member (present or not): SADD answers 1 when it added it, SREM 1 when it removed it,
 * SISMEMBER whether it is there. A write of unknown outcome may answer anything.
 */
const setModel: Model<boolean, SetInput, null> = {
  init: () => false,
  step(present, input) {
    const expected = input.op === "add" ? (present ? 0 : 1) : present ? 1 : 0;
    const legal = input.reply === null || input.reply === expected;
    return [legal, input.op === "add" ? true : input.op === "remove" ? false : present];
  },
  equal: (a, b) => a === b,
  hash: (present) => (present ? 1 : 0),
  readOnly: (input) => input.op === "is",
};

/**
 * Sets: SADD, SREM and SISMEMBER of one member per key, about half the writes changing nothing,
 * checked for linearizability (`setModel`). Failed commands took no effect and are left out, as
 * are reads without a reply; a write without one may take effect at any time after it was sent.
 */
export function setWorkload(keyCount = 3, checkTimeoutMs = 60_000): Workload {
  const keys = keysOf("set", keyCount);
  return {
    name: "set",
    keys,
    generate(_client, _sequence, random) {
      const key = random.pick(keys);
      const roll = random.int(0, 2);
      if (roll === 0) return { kind: "write", key, command: ["SADD", key, setMember], value: null };
      if (roll === 1) return { kind: "write", key, command: ["SREM", key, setMember], value: null };
      return { kind: "read", key, command: ["SISMEMBER", key, setMember], value: null };
    },
    finalCommand: (key) => ["SISMEMBER", key, setMember],
    check(history) {
      const violations: string[] = [];
      const notes: string[] = [];
      const deadline = performance.now() + checkTimeoutMs;
      for (const key of keys) {
        const entries = history.filter((entry) => entry.workload === "set" && entry.key === key && entry.outcome !== "failed");
        const operations: ModelOperation<SetInput, null>[] = [];
        const sources: HistoryEntry[] = [];
        for (const entry of entries) {
          const known = entry.outcome === "ok";
          if (entry.kind === "read" && !known) continue;
          const op = entry.kind === "read" ? "is" : entry.command[0] === "SADD" ? "add" : "remove";
          const reply = !known ? null : entry.kind === "read" ? Number(entry.value) : entry.integer;
          operations.push({ input: { op, reply }, output: null, invoke: entry.invoke, complete: known ? (entry.complete as number) : Infinity });
          sources.push(entry);
        }
        const verdict = checkOperations(setModel, operations, { deadline });
        if (verdict.kind === "gave-up") notes.push(`set ${key}: no verdict (${verdict.reason})`);
        else if (verdict.kind === "not-linearizable") {
          const prefix = verdict.longestPrefix.slice(-5).map((i) => describe(sources[i] as HistoryEntry));
          const unplaced = verdict.unplaced.slice(0, 5).map((i) => describe(sources[i] as HistoryEntry));
          pushLimited(violations, `set ${key}: not linearizable; last placed: ${prefix.join("; ")}; could not place: ${unplaced.join("; ")}`);
        }
      }
      return { workload: "set", violations, notes };
    },
  };
}

export function makeWorkload(name: WorkloadName): Workload {
  switch (name) {
    case "set":
      return setWorkload();
    case "queue":
      return queueWorkload();
    case "register":
      return registerWorkload();
    case "counter":
      return counterWorkload();
    case "append":
      return appendWorkload();
  }
}

/** History entries as the register checker's operations (an operation never completed ends at infinity). */
export function registerOperations(history: readonly HistoryEntry[]): Operation[] {
  return history.map((entry) => ({
    client: entry.client,
    key: entry.key,
    kind: entry.kind,
    value: entry.value,
    invoke: entry.invoke,
    complete: entry.complete ?? Infinity,
    outcome: entry.outcome,
  }));
}
