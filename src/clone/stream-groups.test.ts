/**
 * Consumer groups under random sequences of every group command (fast-check): the two machines of
 * a `CloneHarness` (the leader and a replica applying the same log, at the log's times) stay
 * identical, reply for reply and digest for digest; and a snapshot started midway, while the
 * commands go on, restores exactly the state it started on (a stream's groups, consumers and
 * pending entries are copied before a command changes them, not shared with the snapshot).
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import type { Applier } from "../api.ts";
import { Command } from "../resp/reader.ts";
import { CloneHarness, RecordingConn } from "../../test/helpers/clone-harness.ts";
import { Clone } from "./machine.ts";
import { PendingList } from "./stream-groups.ts";

const keys = ["s", "t"];
const groups = ["g", "h"];
const consumers = ["alice", "bob", "carol"];
const ids = ["0", "1-0", "2-0", "3-0", "5-0", "8-0", "(2-0", "-", "+"];

/** One group (or stream) command with arguments drawn from small pools, so that they meet. */
const groupCommand: fc.Arbitrary<string[]> = fc.oneof(
  // Entries and groups often, so that reads find something to deliver and claims something to take.
  { arbitrary: fc.tuple(fc.constantFrom(...keys), fc.integer({ min: 1, max: 12 })).map(([key, ms]) => ["XADD", key, `${ms}-*`, "f", String(ms)]), weight: 6 },
  {
    arbitrary: fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom(...consumers)).map(([key, group, consumer]) => ["XREADGROUP", "GROUP", group, consumer, "STREAMS", key, ">"]),
    weight: 4,
  },
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...ids)).map(([key, id]) => ["XDEL", key, id]),
  fc.tuple(fc.constantFrom(...keys), fc.integer({ min: 0, max: 4 })).map(([key, length]) => ["XTRIM", key, "MAXLEN", String(length)]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom("0", "$", "3-0")).map(([key, group, id]) => ["XGROUP", "CREATE", key, group, id, "MKSTREAM"]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom("0", "$", "3-0")).map(([key, group, id]) => ["XGROUP", "CREATE", key, group, id, "MKSTREAM"]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom("0", "$", "2-0")).map(([key, group, id]) => ["XGROUP", "SETID", key, group, id]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups)).map(([key, group]) => ["XGROUP", "DESTROY", key, group]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom(...consumers), fc.boolean()).map(([key, group, consumer, create]) => [
    "XGROUP",
    create ? "CREATECONSUMER" : "DELCONSUMER",
    key,
    group,
    consumer,
  ]),
  fc
    .tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom(...consumers), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constantFrom(">", "0", "2-0"))
    .map(([key, group, consumer, count, noAck, id]) => ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(count), ...(noAck ? ["NOACK"] : []), "STREAMS", key, id]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.subarray(ids.slice(1, 6), { minLength: 1 })).map(([key, group, acked]) => ["XACK", key, group, ...acked]),
  fc
    .tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom(...consumers), fc.constantFrom("0", "20"), fc.subarray(ids.slice(1, 6), { minLength: 1 }), fc.subarray(["FORCE", "JUSTID", "RETRYCOUNT", "IDLE"]))
    .map(([key, group, consumer, idle, claimed, options]) => [
      "XCLAIM",
      key,
      group,
      consumer,
      idle,
      ...claimed,
      ...options.flatMap((option) => (option === "RETRYCOUNT" ? [option, "5"] : option === "IDLE" ? [option, "30"] : [option])),
    ]),
  fc
    .tuple(fc.constantFrom(...keys), fc.constantFrom(...groups), fc.constantFrom(...consumers), fc.constantFrom("0", "20"), fc.constantFrom(...ids), fc.integer({ min: 1, max: 3 }))
    .map(([key, group, consumer, idle, start, count]) => ["XAUTOCLAIM", key, group, consumer, idle, start, "COUNT", String(count)]),
  fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...groups)).map(([key, group]) => ["XPENDING", key, group, "-", "+", "10"]),
);

/** A read on one machine, its reply (or its error). */
function read(clone: Clone, ...args: string[]): unknown {
  const conn = new RecordingConn(2);
  const applier: Applier = { apply: (_c, _cmd, _m, respond) => (respond as ((value: unknown) => void) | null)?.(undefined) };
  try {
    const returned = clone.command(applier, conn, Command.of(args));
    if (returned instanceof Error) return { error: returned.message };
  } catch (error) {
    return { error: String(error) };
  }
  return conn.replies[0];
}

test("random group commands: the replica stays identical, and a snapshot taken midway restores the state it began on", async () => {
  // How many commands found pending entries to answer with: the pools must make the commands meet.
  let served = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(groupCommand, { minLength: 20, maxLength: 80 }), fc.array(groupCommand, { maxLength: 30 }), async (before, during) => {
      const h = new CloneHarness();
      for (const args of before) {
        h.time += 10;
        const reply = h.run(...args);
        if ((args[0] === "XPENDING" || args[0] === "XCLAIM") && Array.isArray(reply) && reply.length > 0) served++;
        const [leader, replica] = h.digests();
        expect(replica).toBe(leader);
      }
      const atStart = h.digests()[0];
      const views = keys.flatMap((key) => [read(h.leader, "XINFO", "STREAM", key, "FULL", "COUNT", "0")]);
      const chunks: Uint8Array[] = [];
      const writing = h.leader.snapshot({
        async write(bytes: Uint8Array) {
          chunks.push(bytes.slice());
          await Bun.sleep(0);
        },
      });
      for (const args of during) {
        h.time += 10;
        h.run(...args);
      }
      await writing;
      const restored = new Clone();
      await restored.restore({ readAll: async () => Buffer.concat(chunks), chunks: async function* () { yield* chunks; } });
      expect(read(restored, "DEBUG", "DIGEST")).toBe(atStart);
      expect(keys.flatMap((key) => [read(restored, "XINFO", "STREAM", key, "FULL", "COUNT", "0")])).toEqual(views);
      const [leader, replica] = h.digests();
      expect(replica).toBe(leader);
    }),
    { numRuns: 200 },
  );
  expect(served).toBeGreaterThan(10);
});

test("the pending list keeps id order through inserts and removals anywhere (the oldest removed in O(1), compacted past 1024)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 4000 }), (operations) => {
      const list = new PendingList();
      const model = new Set<number>();
      const consumer = { name: "c", seenTime: 0, pending: new PendingList() };
      // Mostly appended in order and removed oldest first, as a PEL is; some anywhere.
      let next = 0;
      for (const [insert, value] of operations) {
        if (insert) {
          const ms = value % 5 === 0 ? value : next++;
          if (model.has(ms)) continue;
          model.add(ms);
          list.insert({ id: { ms: BigInt(ms), seq: 0n }, consumer, deliveryTime: 0, deliveryCount: 1 });
        } else {
          const oldest = value % 4 !== 0 && list.size > 0 ? Number(list.at(0).id.ms) : value;
          expect(list.remove({ ms: BigInt(oldest), seq: 0n }) !== undefined).toBe(model.delete(oldest));
        }
      }
      const sorted = [...model].sort((a, b) => a - b);
      expect(list.values().map((entry) => Number(entry.id.ms))).toEqual(sorted);
      expect(list.size).toBe(sorted.length);
      for (const ms of sorted.slice(0, 20)) expect(list.find({ ms: BigInt(ms), seq: 0n })?.id.ms).toBe(BigInt(ms));
    }),
    { numRuns: 60 },
  );
});
