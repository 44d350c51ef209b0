/**
 * StreamValue's node layout against a literal model of Redis 7.0's stream (t_stream.c): nodes of
 * entry slots with a deleted flag, `streamAppendItem` opening a node at 100 slots, XDEL marking an
 * entry deleted and freeing a node with its last live entry, and `streamTrim` as written (whole
 * nodes first, LIMIT counted in live entries of whole nodes, then the first node's entries one by
 * one unless approximate). After every step the live entries, each node and every reply agree.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { compareIds, nodeEntriesMax, type StreamId, type StreamTrim, StreamValue } from "./stream.ts";

interface Slot {
  readonly id: StreamId;
  deleted: boolean;
}

/** Redis's stream as t_stream.c keeps it: a radix tree of listpacks, each a run of slots. */
class RedisModel {
  nodes: Slot[][] = [];
  length = 0;

  append(id: StreamId): void {
    const tail = this.nodes[this.nodes.length - 1];
    if (tail === undefined || tail.length >= nodeEntriesMax) this.nodes.push([{ id, deleted: false }]);
    else tail.push({ id, deleted: false });
    this.length++;
  }

  delete(id: StreamId): boolean {
    for (let n = 0; n < this.nodes.length; n++) {
      const node = this.nodes[n] as Slot[];
      const slot = node.find((one) => !one.deleted && compareIds(one.id, id) === 0);
      if (slot === undefined) continue;
      if (node.filter((one) => !one.deleted).length === 1) this.nodes.splice(n, 1);
      else slot.deleted = true;
      this.length--;
      return true;
    }
    return false;
  }

  trim(how: StreamTrim): number {
    let deleted = 0;
    while (this.nodes.length > 0) {
      if (how.strategy === "maxlen" && this.length <= how.maxLength) break;
      const node = this.nodes[0] as Slot[];
      const entries = node.filter((one) => !one.deleted).length;
      if (how.limit > 0 && deleted + entries > how.limit) break;
      const last = (node[node.length - 1] as Slot).id;
      const removeNode = how.strategy === "maxlen" ? this.length - entries >= how.maxLength : compareIds(last, how.minId) < 0;
      if (removeNode) {
        this.nodes.shift();
        this.length -= entries;
        deleted += entries;
        continue;
      }
      if (how.approximate) break;
      for (const slot of node) {
        const stop = how.strategy === "maxlen" ? this.length <= how.maxLength : compareIds(slot.id, how.minId) >= 0;
        if (stop) break;
        if (!slot.deleted) {
          slot.deleted = true;
          this.length--;
          deleted++;
        }
      }
      break;
    }
    return deleted;
  }

  liveIds(): string[] {
    return this.nodes.flatMap((node) => node.filter((one) => !one.deleted).map((one) => `${one.id.ms}-${one.id.seq}`));
  }

  layout(): string[] {
    return this.nodes.map((node) => {
      const last = (node[node.length - 1] as Slot).id;
      return `${node.filter((one) => !one.deleted).length}/${node.length}/${last.ms}-${last.seq}`;
    });
  }
}

function idsOf(stream: StreamValue): string[] {
  return Array.from({ length: stream.size }, (_, i) => `${stream.at(i).id.ms}-${stream.at(i).id.seq}`);
}

function layoutOf(stream: StreamValue): string[] {
  return stream.layout().map((node) => `${node.live}/${node.slots}/${node.lastId.ms}-${node.lastId.seq}`);
}

const operation = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 1, max: 60 }), gap: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.integer({ min: 0, max: 1000 }), span: fc.integer({ min: 1, max: 40 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("trim" as const),
      strategy: fc.constantFrom("maxlen" as const, "minid" as const),
      approximate: fc.boolean(),
      threshold: fc.integer({ min: 0, max: 1200 }),
      limit: fc.constantFrom(0, 1, 10, 50, 99, 100, 150, 250, 10_000),
    }),
  },
);

test("appends, XDEL and trims keep the nodes Redis would have, and answer as Redis does", () => {
  fc.assert(
    fc.property(fc.array(operation, { minLength: 5, maxLength: 120, size: "max" }), (operations) => {
      const stream = new StreamValue(0);
      const model = new RedisModel();
      let next = 1n;
      for (const step of operations) {
        if (step.kind === "append") {
          for (let i = 0; i < step.count; i++) {
            const id = { ms: next, seq: 0n };
            next += BigInt(step.gap);
            stream.append({ id, fields: [] });
            model.append(id);
          }
        } else if (step.kind === "delete") {
          // A run of ids, present or not.
          for (let i = 0; i < step.span; i++) {
            const id = { ms: BigInt(step.at + i), seq: 0n };
            expect(stream.delete(id)).toBe(model.delete(id));
          }
        } else {
          const how: StreamTrim = {
            strategy: step.strategy,
            approximate: step.approximate,
            maxLength: step.threshold,
            minId: { ms: BigInt(step.threshold), seq: 0n },
            limit: step.approximate ? step.limit : 0,
          };
          const dry = stream.trim(how, true);
          expect(stream.trim(how)).toBe(dry);
          expect(dry).toBe(model.trim(how));
        }
        expect(idsOf(stream)).toEqual(model.liveIds());
        expect(layoutOf(stream)).toEqual(model.layout());
      }
      // A copy has the same entries and nodes, and changing it leaves the original alone.
      const copy = stream.clone(1);
      expect(layoutOf(copy)).toEqual(layoutOf(stream));
      const before = layoutOf(stream);
      // (A delete changes a node in place.)
      if (copy.size > 1) copy.delete(copy.at(1).id);
      expect(layoutOf(stream)).toEqual(before);
    }),
    { numRuns: 300 },
  );
});
