import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  checkOperations,
  checkRegisterHistory,
  registerModel,
  type Model,
  type ModelOperation,
  type Operation,
  type Outcome,
} from "./linearizability.ts";

// ---------------------------------------------------------------------------------------------
// Helpers for hand-written histories.

function write(
  client: number,
  value: string | null,
  invoke: number,
  complete: number,
  outcome: Outcome = "ok",
  key = "x",
): Operation {
  return { client, key, kind: "write", value, invoke, complete, outcome };
}

function read(
  client: number,
  value: string | null,
  invoke: number,
  complete: number,
  outcome: Outcome = "ok",
  key = "x",
): Operation {
  return { client, key, kind: "read", value, invoke, complete, outcome };
}

const unknown = Infinity;

describe("classic register histories", () => {
  test("an empty history is linearizable", () => {
    expect(checkRegisterHistory([])).toEqual({ ok: true });
  });

  test("a sequential history is linearizable", () => {
    const history = [
      read(1, null, 0, 1),
      write(1, "a", 2, 3),
      read(2, "a", 4, 5),
      write(2, "b", 6, 7),
      read(1, "b", 8, 9),
    ];
    expect(checkRegisterHistory(history)).toEqual({ ok: true });
  });

  test("a read overlapping a write may see the value before or after it", () => {
    const before = [write(1, "a", 0, 1), write(1, "b", 2, 10), read(2, "a", 3, 4)];
    const after = [write(1, "a", 0, 1), write(1, "b", 2, 10), read(2, "b", 3, 4)];
    expect(checkRegisterHistory(before).ok).toBe(true);
    expect(checkRegisterHistory(after).ok).toBe(true);
  });

  test("operations that merely touch in time count as concurrent", () => {
    // The write completes at the instant the read is invoked; the clock cannot order them.
    expect(checkRegisterHistory([write(1, "a", 0, 5), read(2, null, 5, 6)]).ok).toBe(true);
  });

  test("a stale read after a completed write is rejected, with an explanation", () => {
    const history = [write(1, "a", 0, 1), write(1, "b", 2, 3), read(2, "a", 4, 5)];
    const result = checkRegisterHistory(history);
    expect(result.ok).toBe(false);
    expect(result.key).toBe("x");
    expect(result.timedOut).toBeUndefined();
    expect(result.explanation).toContain("Longest linearizable prefix: 2 of 3 operations");
    expect(result.explanation).toContain('the register holds "b"');
    expect(result.explanation).toContain('client 2 read "a" [4, 5] ok');
  });

  test("a read of a value never written is rejected", () => {
    expect(checkRegisterHistory([write(1, "a", 0, 1), read(2, "zzz", 0, 3)]).ok).toBe(false);
    expect(checkRegisterHistory([read(2, "zzz", 0, 3)]).ok).toBe(false);
  });

  test("a read of a failed write's value is rejected", () => {
    expect(checkRegisterHistory([write(1, "a", 0, 1, "failed"), read(2, "a", 2, 3)]).ok).toBe(false);
    // Even when the read overlaps the failed write.
    expect(checkRegisterHistory([write(1, "a", 0, 10, "failed"), read(2, "a", 2, 3)]).ok).toBe(false);
  });

  test("a read of an unknown write's value is accepted, even long after the write was invoked", () => {
    expect(checkRegisterHistory([write(1, "a", 0, unknown, "unknown"), read(2, "a", 50, 51)]).ok).toBe(true);
    // The unknown write took effect after a later completed write.
    const late = [write(1, "a", 0, unknown, "unknown"), write(2, "b", 5, 6), read(3, "b", 7, 8), read(3, "a", 9, 10)];
    expect(checkRegisterHistory(late).ok).toBe(true);
  });

  test("the same holds when the unknown write's value was also written by others", () => {
    // Two writers of "a" keep the unknown write's window open to infinity (no narrowing applies).
    const history = [
      write(1, "a", 0, 1),
      write(2, "a", 0, unknown, "unknown"),
      write(3, "b", 5, 6),
      read(3, "b", 7, 8),
      read(3, "a", 9, 10),
    ];
    expect(checkRegisterHistory(history).ok).toBe(true);
    // The first read of "a" saw the completed write; the unknown one landed after "b".
    const landedLate = [
      write(1, "a", 0, 1),
      read(3, "a", 2, 3),
      write(2, "a", 0, unknown, "unknown"),
      write(3, "b", 5, 6),
      read(3, "b", 7, 8),
      read(3, "a", 9, 10),
    ];
    expect(checkRegisterHistory(landedLate).ok).toBe(true);
  });

  test("an unknown write that nobody read is accepted: it may never have happened", () => {
    const history = [write(1, "a", 0, 1), write(2, "b", 2, unknown, "unknown"), read(3, "a", 3, 4), read(3, "a", 5, 6)];
    expect(checkRegisterHistory(history).ok).toBe(true);
  });

  test("an unknown write that was read cannot un-happen", () => {
    const single = [write(1, "a", 0, 1), write(2, "b", 2, unknown, "unknown"), read(3, "b", 3, 4), read(3, "a", 5, 6)];
    expect(checkRegisterHistory(single).ok).toBe(false);
    const duplicated = [...single, write(4, "b", 2, unknown, "unknown")];
    expect(checkRegisterHistory(duplicated).ok).toBe(false);
  });

  test("a read that completed before an unknown write was invoked cannot see its value", () => {
    expect(checkRegisterHistory([read(1, "a", 0, 1), write(2, "a", 2, unknown, "unknown")]).ok).toBe(false);
  });

  test("two reads seeing a completed write sequence in the opposite order are rejected", () => {
    const history = [write(1, "a", 0, 1), write(1, "b", 2, 3), read(2, "b", 4, 5), read(3, "a", 6, 7)];
    expect(checkRegisterHistory(history).ok).toBe(false);
  });

  test("concurrent writes may take either order, but the readers must agree on it", () => {
    const agree = [write(1, "a", 0, 10), write(2, "b", 0, 10), read(3, "a", 1, 2), read(3, "b", 3, 4)];
    expect(checkRegisterHistory(agree).ok).toBe(true);
    const flipFlop = [...agree, read(3, "a", 5, 6)];
    expect(checkRegisterHistory(flipFlop).ok).toBe(false);
  });

  test("failed operations and unknown reads are dropped", () => {
    const history = [
      write(1, "a", 0, 1),
      read(2, "garbage", 2, unknown, "unknown"),
      read(2, "more garbage", 3, 4, "failed"),
      write(3, "b", 3, 4, "failed"),
      read(2, "a", 5, 6),
    ];
    expect(checkRegisterHistory(history).ok).toBe(true);
  });

  test("a write of null deletes the value", () => {
    expect(checkRegisterHistory([write(1, "a", 0, 1), write(1, null, 2, 3), read(2, null, 4, 5)]).ok).toBe(true);
    expect(checkRegisterHistory([write(1, "a", 0, 1), write(1, null, 2, 3), read(2, "a", 4, 5)]).ok).toBe(false);
  });

  test("the initial value can be given", () => {
    const history = [read(1, "start", 0, 1), write(1, "a", 2, 3), read(2, "a", 4, 5)];
    expect(checkRegisterHistory(history).ok).toBe(false);
    expect(checkRegisterHistory(history, { initialValue: "start" }).ok).toBe(true);
    expect(checkRegisterHistory([read(1, null, 0, 1)], { initialValue: "start" }).ok).toBe(false);
    // An unknown write of the initial value is never narrowed: the first read saw the initial
    // value, and the write landed after "a".
    const rewrite = [
      write(2, "start", 0, unknown, "unknown"),
      read(1, "start", 0, 1),
      write(1, "a", 2, 3),
      read(1, "a", 4, 5),
      read(1, "start", 6, 7),
    ];
    expect(checkRegisterHistory(rewrite, { initialValue: "start" }).ok).toBe(true);
  });

  test("keys are independent, and the broken one is named", () => {
    // On one register these reads would contradict each other; on two keys they do not.
    const independent = [
      write(1, "a", 0, 1, "ok", "x"),
      read(2, null, 2, 3, "ok", "y"),
      read(2, "a", 4, 5, "ok", "x"),
      write(3, "b", 6, 7, "ok", "y"),
      read(1, "a", 8, 9, "ok", "x"),
      read(1, "b", 8, 9, "ok", "y"),
    ];
    expect(checkRegisterHistory(independent)).toEqual({ ok: true });
    const broken = [...independent, read(4, null, 10, 11, "ok", "y")];
    const result = checkRegisterHistory(broken);
    expect(result.ok).toBe(false);
    expect(result.key).toBe("y");
    expect(result.explanation).toContain('key "y" is not linearizable');
  });

  test("a search past its time budget answers unknown instead of hanging", () => {
    // Twenty concurrent writes then a read of a value none wrote: proving that needs every
    // (subset, last value) pair, millions of them, so the budget runs out first.
    const writes = Array.from({ length: 20 }, (_, index) => write(index, `v${index}`, 0, 100));
    const result = checkRegisterHistory([...writes, read(99, "nope", 200, 201)], { timeoutMs: 20 });
    expect(result.ok).toBe(true);
    expect(result.timedOut).toBe(true);
    expect(result.explanation).toContain('"x" (time)');
    // A small key after the expensive one is still decided.
    const withBrokenKey = [...writes, read(99, "nope", 200, 201), read(1, "nope", 0, 1, "ok", "y")];
    const second = checkRegisterHistory(withBrokenKey, { timeoutMs: 20 });
    expect(second).toMatchObject({ ok: false, timedOut: true, key: "y" });
  });
});

describe("the generic core", () => {
  test("an operation with an infinite completion is linearized after everything else", () => {
    // The core has no notion of "never happened": the write of 7, invoked after the write of 1
    // and never read, can only go last, after both reads.
    const operations: ModelOperation<{ kind: "read" | "write"; value: number }, null>[] = [
      { input: { kind: "write", value: 1 }, output: null, invoke: 0, complete: 1 },
      { input: { kind: "write", value: 7 }, output: null, invoke: 2, complete: Infinity },
      { input: { kind: "read", value: 1 }, output: null, invoke: 3, complete: 4 },
      { input: { kind: "read", value: 1 }, output: null, invoke: 5, complete: 6 },
    ];
    expect(checkOperations(registerModel(0), operations)).toEqual({ kind: "linearizable", order: [0, 2, 3, 1] });
  });

  test("a counter model reuses the search", () => {
    type CounterInput = { kind: "add"; amount: number } | { kind: "get" };
    const counter: Model<number, CounterInput, number> = {
      init: () => 0,
      step: (state, input, output) =>
        input.kind === "add" ? [true, state + input.amount] : [output === state, state],
      equal: (a, b) => a === b,
      hash: (state) => state | 0,
    };
    const add = (amount: number, invoke: number, complete: number): ModelOperation<CounterInput, number> => ({
      input: { kind: "add", amount },
      output: 0,
      invoke,
      complete,
    });
    const get = (output: number, invoke: number, complete: number): ModelOperation<CounterInput, number> => ({
      input: { kind: "get" },
      output,
      invoke,
      complete,
    });
    expect(checkOperations(counter, [add(1, 0, 10), add(2, 0, 10), get(2, 1, 2), get(3, 3, 4)]).kind).toBe(
      "linearizable",
    );
    const verdict = checkOperations(counter, [add(1, 0, 10), add(2, 0, 10), get(3, 1, 2), get(2, 3, 4)]);
    expect(verdict).toMatchObject({ kind: "not-linearizable", longestPrefix: [0, 1, 2], state: 3, due: 3 });
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests.

/** One step of a generated execution; the executor decides what each kind means. */
interface GeneratedStep {
  key: number;
  kind: "read" | "write" | "phantom" | "failed";
  before: number;
  after: number;
  unknown: boolean;
  duplicate: boolean;
  client: number;
}

const stepArbitrary: fc.Arbitrary<GeneratedStep> = fc.record({
  key: fc.nat(2),
  kind: fc.constantFrom<GeneratedStep["kind"]>("read", "read", "read", "write", "write", "write", "phantom", "failed"),
  before: fc.nat(25),
  after: fc.nat(25),
  // About one write or read in five loses its reply.
  unknown: fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0),
  duplicate: fc.boolean(),
  client: fc.nat(9),
});

/**
 * Builds a history that is linearizable by construction: step i takes effect at time 10·(i+1) on
 * a sequential register, and its call window is drawn around that point. Writes may be unknown
 * (their reply was lost); phantoms are unknown writes that never took effect, sometimes writing a
 * value another write also wrote; failed writes never took effect; reads may be unknown or failed
 * and then carry junk.
 */
function buildHistory(steps: readonly GeneratedStep[]): Operation[] {
  const registers = new Map<string, string | null>();
  const written = new Map<string, string[]>();
  return steps.map((step, index): Operation => {
    const key = `k${step.key}`;
    const point = 10 * (index + 1);
    const invoke = point - step.before;
    const complete = point + step.after;
    const client = step.client;
    const earlier = written.get(key) ?? [];
    switch (step.kind) {
      case "write": {
        const value = `v${index}`;
        registers.set(key, value);
        written.set(key, [...earlier, value]);
        return step.unknown
          ? { client, key, kind: "write", value, invoke, complete: Infinity, outcome: "unknown" }
          : { client, key, kind: "write", value, invoke, complete, outcome: "ok" };
      }
      case "phantom": {
        const copied = step.duplicate ? earlier[step.before % Math.max(1, earlier.length)] : undefined;
        const value = copied ?? `p${index}`;
        return { client, key, kind: "write", value, invoke, complete: Infinity, outcome: "unknown" };
      }
      case "failed":
        return { client, key, kind: "write", value: `f${index}`, invoke, complete, outcome: "failed" };
      case "read": {
        const value = registers.get(key) ?? null;
        if (!step.unknown) return { client, key, kind: "read", value, invoke, complete, outcome: "ok" };
        return step.duplicate
          ? { client, key, kind: "read", value: "junk", invoke, complete: Infinity, outcome: "unknown" }
          : { client, key, kind: "read", value: "junk", invoke, complete, outcome: "failed" };
      }
    }
  });
}

/**
 * Whether no linearization can let `target` (a read) return `value`. The last write before the read
 * would have to write `value` (the initial null counts as a write at minus infinity), and each such
 * writer is ruled out when it was invoked after the read completed, or when it completed before
 * another completed write of a different value began that itself completed before the read began.
 */
function impossibleForRead(history: readonly Operation[], target: Operation, value: string | null): boolean {
  const sameKey = history.filter((op) => op.key === target.key && op.kind === "write" && op.outcome !== "failed");
  const writers = sameKey
    .filter((op) => op.value === value)
    .map((op) => ({ invoke: op.invoke, complete: op.complete, ok: op.outcome === "ok" }));
  if (value === null) writers.push({ invoke: -Infinity, complete: -Infinity, ok: true });
  return writers.every(
    (writer) =>
      writer.invoke > target.complete ||
      (writer.ok &&
        sameKey.some(
          (later) =>
            later.outcome === "ok" &&
            later.value !== value &&
            writer.complete < later.invoke &&
            later.complete < target.invoke,
        )),
  );
}

describe("property: histories linearizable by construction", () => {
  const executions = fc.array(stepArbitrary, { minLength: 1, maxLength: 40 });

  test("are accepted", () => {
    fc.assert(
      fc.property(executions, (steps) => {
        const result = checkRegisterHistory(buildHistory(steps));
        expect(result).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  test("are rejected once a read returns a value impossible throughout its window", () => {
    fc.assert(
      fc.property(executions, fc.nat(), fc.nat(), (steps, readChoice, valueChoice) => {
        const history = buildHistory(steps);
        const reads = history.filter((op) => op.kind === "read" && op.outcome === "ok");
        fc.pre(reads.length > 0);
        const target = reads[readChoice % reads.length];
        if (target === undefined) throw new Error("a read is chosen");
        const candidates = [
          "never-written",
          null,
          ...new Set(history.filter((op) => op.key === target.key && op.kind === "write").map((op) => op.value)),
        ].filter((value) => impossibleForRead(history, target, value));
        const value = candidates[valueChoice % candidates.length] ?? "never-written";
        const mutated = history.map((op) => (op === target ? { ...op, value } : op));
        const result = checkRegisterHistory(mutated);
        expect(result.ok).toBe(false);
        expect(result.key).toBe(target.key);
        expect(result.timedOut).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * A brute-force reference: tries every order of the operations that respects real time, leaving
 * out unknown writes altogether rather than placing them last, over all keys at once.
 */
function referenceLinearizable(history: readonly Operation[], initialValue: string | null): boolean {
  const live = history
    .filter((op) => op.outcome === "ok" || (op.outcome === "unknown" && op.kind === "write"))
    .map((op) => ({ ...op, complete: op.outcome === "unknown" ? Infinity : op.complete }));
  const done = live.map(() => false);
  const search = (registers: ReadonlyMap<string, string | null>): boolean => {
    if (live.every((op, index) => done[index] === true || op.outcome !== "ok")) return true;
    for (const [index, op] of live.entries()) {
      if (done[index] === true) continue;
      const mustWait = live.some((other, otherIndex) => done[otherIndex] !== true && other.complete < op.invoke);
      if (mustWait) continue;
      const current = registers.has(op.key) ? (registers.get(op.key) ?? null) : initialValue;
      if (op.kind === "read" && current !== op.value) continue;
      const next = op.kind === "write" ? new Map(registers).set(op.key, op.value) : registers;
      done[index] = true;
      const found = search(next);
      done[index] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map());
}

describe("property: agreement with a brute-force reference", () => {
  const smallOperation: fc.Arbitrary<Operation> = fc
    .record({
      client: fc.nat(3),
      key: fc.constantFrom("x", "x", "y"),
      kind: fc.constantFrom<Operation["kind"]>("read", "write"),
      value: fc.constantFrom<string | null>("a", "b", null),
      invoke: fc.nat(12),
      duration: fc.nat(6),
      outcome: fc.constantFrom<Outcome>("ok", "ok", "ok", "unknown", "failed"),
    })
    .map(({ duration, invoke, outcome, ...rest }) => ({
      ...rest,
      invoke,
      outcome,
      complete: outcome === "unknown" ? Infinity : invoke + duration,
    }));

  test("on small random histories, linearizable or not", () => {
    fc.assert(
      fc.property(
        fc.array(smallOperation, { minLength: 0, maxLength: 8 }),
        fc.constantFrom<string | null>(null, "a"),
        (history, initialValue) => {
          const expected = referenceLinearizable(history, initialValue);
          expect(checkRegisterHistory(history, { initialValue }).ok).toBe(expected);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe("property: the search refinements change no verdict", () => {
  type RegisterInput = { kind: "read" | "write"; value: number };
  // Plain Porcupine: the same register model without the read-only and ordering hooks.
  const { readOnly: _readOnly, mayEnable: _mayEnable, ...plainRegister } = registerModel(0);
  const coreOperation: fc.Arbitrary<ModelOperation<RegisterInput, null>> = fc
    .record({
      kind: fc.constantFrom<RegisterInput["kind"]>("read", "write"),
      value: fc.nat(2),
      invoke: fc.nat(20),
      duration: fc.nat(8),
      open: fc.integer({ min: 0, max: 5 }),
    })
    .map(({ kind, value, invoke, duration, open }) => ({
      input: { kind, value },
      output: null,
      invoke,
      // Now and then a write that may take effect any time later, or never.
      complete: kind === "write" && open === 0 ? Infinity : invoke + duration,
    }));

  test("on random core histories, with and without the model hooks", () => {
    fc.assert(
      fc.property(fc.array(coreOperation, { maxLength: 14 }), (operations) => {
        const refined = checkOperations(registerModel(0), operations);
        const plain = checkOperations(plainRegister, operations);
        expect(refined.kind).toBe(plain.kind);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Scale.

/** mulberry32: a small seeded generator, so the large history is the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Ten clients each issue operations back to back over five keys; every operation takes effect at a
 * random point of its window, and reads return what the register held at their point. Some writes
 * lose their reply (unknown), some of those never took effect.
 */
function concurrentHistory(seed: number, clients: number, perClient: number, keys: number): Operation[] {
  const random = seededRandom(seed);
  const planned: { op: Operation; point: number; applied: boolean }[] = [];
  for (let client = 0; client < clients; client += 1) {
    let time = random() * 10;
    for (let index = 0; index < perClient; index += 1) {
      const invoke = time;
      const complete = invoke + 1 + random() * 30;
      const point = invoke + random() * (complete - invoke);
      const key = `key${Math.floor(random() * keys)}`;
      const isWrite = random() < 0.5;
      const lost = isWrite && random() < 0.02;
      const op: Operation = isWrite
        ? {
            client,
            key,
            kind: "write",
            value: `c${client}-${index}`,
            invoke,
            complete: lost ? Infinity : complete,
            outcome: lost ? "unknown" : "ok",
          }
        : { client, key, kind: "read", value: null, invoke, complete, outcome: "ok" };
      planned.push({ op, point, applied: !lost || random() < 0.5 });
      time = complete + random() * 5;
    }
  }
  const registers = new Map<string, string | null>();
  for (const { op, applied } of [...planned].sort((a, b) => a.point - b.point)) {
    if (op.kind === "read") op.value = registers.get(op.key) ?? null;
    else if (applied) registers.set(op.key, op.value);
  }
  return planned.map(({ op }) => op);
}

describe("scale", () => {
  test("a 2,000-operation history over 5 keys with 10 clients is decided", () => {
    const history = concurrentHistory(42, 10, 200, 5);
    expect(history.length).toBe(2000);
    expect(checkRegisterHistory(history)).toEqual({ ok: true });
    // Break one late read and the verdict is still reached, not timed out.
    const reads = history.filter((op) => op.kind === "read" && op.invoke > 1000);
    const target = reads[reads.length >> 1];
    if (target === undefined) throw new Error("the history has late reads");
    const broken = history.map((op) => (op === target ? { ...op, value: "never-written" } : op));
    const result = checkRegisterHistory(broken);
    expect(result.ok).toBe(false);
    expect(result.key).toBe(target.key);
    expect(result.timedOut).toBeUndefined();
  });
});
