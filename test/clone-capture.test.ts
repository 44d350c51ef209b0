/**
 * The keyspace's snapshot capture is incremental: `capture()` copies nothing, and the snapshot
 * reads the keys afterwards while writes go on. What it reads must be exactly the keyspace at the
 * capture: every key held then (expired ones not reclaimed yet included), with its value and
 * expiry as they were, in sequence order, and nothing created after. Checked against a copy made
 * at the capture, under random interleavings of reads with writes of every kind that touch an
 * entry: overwrite, create, delete, expiry set and removed, expiry reached (deleted on access),
 * aggregates changed (copy-on-write), strings changed in place (`modifyString`, as SETBIT does),
 * FLUSHALL, and a second capture started midway. A string a command took while applying (a reply
 * waiting its turn) never changes afterwards either.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Captured, Keyspace, type Value } from "../src/clone/keyspace.ts";
import { ListValue } from "../src/clone/list.ts";
import { enterLogPosition, leaveLogPosition } from "../src/replicated.ts";

interface Seen {
  key: string;
  value: string;
  seq: number;
  expiresAt: number;
}

function render(value: Value): string {
  if (value instanceof Uint8Array) return `s:${Buffer.from(value).toString("latin1")}`;
  if (value instanceof ListValue) return `l:${Array.from({ length: value.size }, (_, i) => Buffer.from(value.at(i)).toString("latin1")).join(",")}`;
  return `?:${value.type}`;
}

/** The keyspace as a capture must see it: every entry held, in sequence order. */
function expectedOf(db: Keyspace): Seen[] {
  return [...db.held()].sort((a, b) => a.seq - b.seq).map((entry) => ({ key: entry.key, value: render(entry.value), seq: entry.seq, expiresAt: entry.expiresAt }));
}

type Operation =
  | { kind: "set"; key: number; value: number; keepTtl: boolean }
  | { kind: "delete"; key: number }
  | { kind: "expire"; key: number; inMs: number }
  | { kind: "push"; key: number; value: number }
  | { kind: "bit"; key: number; offset: number }
  | { kind: "take"; key: number }
  | { kind: "tick"; ms: number }
  | { kind: "flush" }
  | { kind: "read"; count: number }
  | { kind: "second" };

const keyIndex = fc.integer({ min: 0, max: 11 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("set" as const), key: keyIndex, value: fc.integer({ min: 0, max: 99 }), keepTtl: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("expire" as const), key: keyIndex, inMs: fc.integer({ min: -5, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("push" as const), key: keyIndex, value: fc.integer({ min: 0, max: 99 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("bit" as const), key: keyIndex, offset: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("take" as const), key: keyIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "flush" as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("read" as const), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "second" as const }) },
);

/** A capture being read, with what it must see and what it saw. */
class Reading {
  readonly seen: Seen[] = [];
  /** Values handed out, to check that nothing changed them afterwards. */
  readonly handed: { value: Value; rendered: string }[] = [];
  done = false;
  constructor(
    readonly captured: Captured,
    readonly expected: Seen[],
  ) {}

  read(count: number): void {
    for (let i = 0; i < count && !this.done; i++) {
      if (!this.captured.next()) {
        this.done = true;
        return;
      }
      const value = this.captured.value;
      const rendered = render(value);
      this.seen.push({ key: this.captured.key, value: rendered, seq: this.captured.seq, expiresAt: this.captured.expiresAt });
      this.handed.push({ value, rendered });
    }
  }

  finish(): void {
    this.read(Number.MAX_SAFE_INTEGER);
    expect(this.seen).toEqual(this.expected);
    expect(this.captured.count).toBe(this.expected.length);
    for (const { value, rendered } of this.handed) expect(render(value)).toBe(rendered);
    this.captured.release();
  }
}

describe("incremental snapshot capture", () => {
  test("reads exactly the keyspace at the capture, whatever is written while it reads", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), fc.array(operation, { maxLength: 120 }), (before, during) => {
        const db = new Keyspace();
        let time = 1_000;
        let index = 1;
        const apply = (body: () => void): void => {
          enterLogPosition(index++, 1, time);
          try {
            body();
          } catch (error) {
            // WRONGTYPE (a push on a string): the command fails, the keyspace is unchanged.
            if (!(error instanceof Error) || !error.message.includes("WRONGTYPE")) throw error;
          } finally {
            leaveLogPosition();
          }
        };
        const readings: Reading[] = [];
        /** Strings taken while applying, as a command's result waiting for its reply holds them. */
        const taken: { value: Uint8Array; rendered: string }[] = [];
        const run = (op: Operation): void => {
          const key = "key" in op ? `k${op.key}` : "";
          switch (op.kind) {
            case "set":
              return apply(() => db.set(key, Buffer.from(`v${op.value}`), op.keepTtl));
            case "delete":
              return apply(() => void db.delete(key));
            case "expire":
              return apply(() => db.setExpiry(key, time + op.inMs));
            case "push":
              return apply(() => db.modifyOrCreate<ListValue>(key, "list", (epoch) => new ListValue(epoch)).pushBack(Buffer.from(`e${op.value}`)));
            case "bit":
              // SETBIT: flips the bit, growing the string; WRONGTYPE on an aggregate.
              return apply(() => {
                const bytes = db.modifyString(key, (op.offset >> 3) + 1);
                bytes[op.offset >> 3] = (bytes[op.offset >> 3] as number) ^ (0x80 >> (op.offset & 7));
              });
            case "take":
              return apply(() => {
                const value = db.lookupString(key);
                if (value !== undefined) taken.push({ value, rendered: render(value) });
              });
            case "tick":
              time += op.ms;
              // Reading a key while applying deletes it once expired: touch every key.
              return apply(() => {
                for (let i = 0; i < 12; i++) db.has(`k${i}`);
              });
            case "flush":
              return apply(() => db.flush());
            case "read":
              for (const reading of readings) reading.read(op.count);
              return;
            case "second":
              if (readings.length < 2) readings.push(new Reading(db.capture(), expectedOf(db)));
              return;
          }
        };
        for (const op of before) if (op.kind !== "read" && op.kind !== "second") run(op);
        readings.push(new Reading(db.capture(), expectedOf(db)));
        for (const op of during) run(op);
        for (const reading of readings) reading.finish();
        for (const { value, rendered } of taken) expect(render(value)).toBe(rendered);
        // With every capture released, writes neither copy nor preserve: a new capture reads the present.
        const last = new Reading(db.capture(), expectedOf(db));
        last.finish();
      }),
      { numRuns: 2000 },
    );
  });

  test("a capture of a million keys takes no time; reading it while every key is overwritten sees the old values", () => {
    const db = new Keyspace();
    enterLogPosition(1, 1, 1_000);
    for (let i = 0; i < 1_000_000; i++) db.set(`key:${i}`, Buffer.from("old"));
    leaveLogPosition();
    const started = performance.now();
    const captured = db.capture();
    const took = performance.now() - started;
    enterLogPosition(2, 1, 1_000);
    for (let i = 0; i < 1_000_000; i += 2) db.set(`key:${i}`, Buffer.from("new"));
    for (let i = 1; i < 1_000_000; i += 4) db.delete(`key:${i}`);
    for (let i = 0; i < 1000; i++) db.set(`added:${i}`, Buffer.from("new"));
    leaveLogPosition();
    let count = 0;
    while (captured.next()) {
      const value = Buffer.from(captured.value as Uint8Array).toString();
      if (captured.key !== `key:${count}` || value !== "old") throw new Error(`read ${captured.key} = ${value} in place ${count}`);
      count++;
    }
    captured.release();
    expect(count).toBe(1_000_000);
    expect(captured.count).toBe(1_000_000);
    // Not a timing threshold: capture copies nothing, so it is a few microseconds; reported for the record.
    console.log(`capture of 1,000,000 keys: ${took.toFixed(3)} ms`);
  }, 60_000);
});
