/**
 * Property test: the optimised log (unstable suffix over MemoryStorage, fast paths in
 * `maybeAppend`, byte-limited slices across the stable/unstable boundary) behaves like a plain
 * array of entries, under random appends, truncations, persistence, commits and compaction.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { RaftLog } from "./raft-log.ts";
import { entryBytes, MemoryStorage } from "./storage.ts";
import { asIndex, asTerm, emptyMembership, type Entry } from "./types.ts";

type Operation =
  | { kind: "append"; offset: number; count: number; size: number }
  | { kind: "receive"; prevBack: number; count: number; conflict: boolean }
  | { kind: "persist" }
  | { kind: "commit"; fraction: number }
  | { kind: "compact"; fraction: number }
  | { kind: "slice"; low: number; high: number; maxBytes: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("append" as const), offset: fc.nat(6), count: fc.integer({ min: 1, max: 5 }), size: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("receive" as const), prevBack: fc.nat(6), count: fc.nat(5), conflict: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("persist" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("slice" as const), low: fc.nat(4), high: fc.nat(16), maxBytes: fc.integer({ min: 1, max: 150 }) }) },
);

test("RaftLog behaves like a plain array of entries", () => {
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
      const storage = new MemoryStorage();
      const log = new RaftLog(storage);
      let reference: Entry[] = [];
      let term = 1;
      const make = (index: number, entryTerm: number, size: number): Entry => ({
        term: asTerm(entryTerm),
        index: asIndex(index),
        type: "normal",
        data: new Uint8Array(size),
      });
      for (const op of operations) {
        const last = reference.length;
        switch (op.kind) {
          case "append": {
            const first = Math.min(last + 1, log.committed + 1 + op.offset);
            term++;
            const entries = Array.from({ length: op.count }, (_, position) => make(first + position, term, op.size));
            log.append(entries);
            reference = reference.slice(0, first - 1).concat(entries);
            break;
          }
          case "receive": {
            // An append from a leader: a copy of what we hold after prev, maybe with a new suffix.
            const prev = Math.max(log.firstIndex() - 1, last - op.prevBack);
            const prevTerm = prev === 0 ? 0 : reference[prev - 1]!.term;
            let entries = reference.slice(prev, prev + op.count);
            // A leader never contradicts committed entries: conflicts start after the commit index.
            const keep = Math.max(0, log.committed - prev);
            if (op.conflict && entries.length > keep) {
              term++;
              entries = entries.slice(0, keep).concat(
                Array.from({ length: Math.max(1, entries.length - keep) }, (_, position) => make(prev + keep + position + 1, term, 3)),
              );
            }
            const result = log.maybeAppend(asIndex(prev), asTerm(prevTerm), asIndex(log.committed), entries);
            expect(result).toBe(asIndex(prev + entries.length));
            const conflictAt = entries.findIndex((entry) => reference[entry.index - 1]?.term !== entry.term);
            if (conflictAt >= 0) reference = reference.slice(0, entries[conflictAt]!.index - 1).concat(entries.slice(conflictAt));
            break;
          }
          case "persist": {
            const unstable = log.unstableEntries();
            const lastUnstable = unstable[unstable.length - 1];
            storage.append(unstable);
            if (lastUnstable !== undefined) log.stableTo(lastUnstable.index, lastUnstable.term);
            break;
          }
          case "commit":
            log.commitTo(asIndex(log.committed + Math.floor(op.fraction * (last - log.committed))));
            break;
          case "compact": {
            // Only what is durable and committed can be compacted.
            const stable = Math.min(log.stableLastIndex(), log.committed);
            const index = storage.firstIndex() - 1 + Math.floor(op.fraction * (stable - (storage.firstIndex() - 1)));
            if (index >= storage.firstIndex()) {
              storage.createSnapshot(asIndex(index), emptyMembership, new Uint8Array(0));
              storage.compact(asIndex(index));
            }
            break;
          }
          case "slice": {
            const first = log.firstIndex();
            const low = Math.min(first + op.low, last + 1);
            const high = Math.min(Math.max(low, low + op.high), last + 1);
            const actual = log.slice(asIndex(low), asIndex(high), op.maxBytes);
            const expected: Entry[] = [];
            let bytes = 0;
            for (let index = low; index < high; index++) {
              const entry = reference[index - 1]!;
              bytes += entryBytes(entry);
              if (bytes > op.maxBytes && expected.length > 0) break;
              expected.push(entry);
            }
            expect(actual).toEqual(expected);
            break;
          }
        }
        expect(log.lastIndex()).toBe(asIndex(reference.length));
        for (let index = log.firstIndex(); index <= reference.length; index++) {
          expect(log.term(asIndex(index))).toBe(reference[index - 1]!.term);
        }
        expect(log.committed <= log.lastIndex()).toBe(true);
      }
    }),
    { numRuns: 1000 },
  );
});
