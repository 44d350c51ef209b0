import { describe, expect, test } from "bun:test";
import { Command } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { withCountedKeys } from "../clone/pop-first.ts";
import { WriteTracker } from "./write-tracker.ts";

const specs = new Map(
  [
    spec("set", -3, "write", [1, 1, 1], "string", "", "key value"),
    spec("mset", -3, "write", [1, -1, 2], "string", "", "(key value)..."),
    spec("del", -2, "write", [1, -1, 1], "generic", "", "key ..."),
    spec("flushall", -1, "write", [0, 0, 0], "server", ""),
    spec("xread", -4, "readonly blocking movablekeys", [0, 0, 0], "stream", ""),
    spec("pfcount", -2, "readonly", [1, -1, 1], "hyperloglog", "", "key ..."),
    withCountedKeys(spec("lmpop", -4, "write movablekeys", [0, 0, 0], "list", ""), 1),
  ].map((one) => [one.name, one]),
);

/** A tracker with one watch open from the start (writes are recorded only while one is). */
function tracker(keysMax?: number): WriteTracker {
  const writes = new WriteTracker((name) => specs.get(name), keysMax);
  writes.watch(0);
  return writes;
}

describe("WriteTracker", () => {
  test("a write with movable keys (LMPOP) touches the keys its spec's `keys` finds, not every key", () => {
    const writes = tracker();
    writes.applied(Command.of(["LMPOP", "2", "q1", "q2", "LEFT", "COUNT", "3"]), 5);
    expect(writes.changedSince(["q1"], 4)).toBe(true);
    expect(writes.changedSince(["q2"], 4)).toBe(true);
    expect(writes.changedSince(["LEFT"], 0)).toBe(false);
    expect(writes.changedSince(["other"], 0)).toBe(false);
    // numkeys past the arguments: no keys found, so every key counts as written (never a missed change).
    writes.applied(Command.of(["LMPOP", "9", "q1", "LEFT"]), 6);
    expect(writes.changedSince(["other"], 5)).toBe(true);
  });

  test("a write's keys come from its spec: one key, every other argument, every argument", () => {
    const writes = tracker();
    writes.applied(Command.of(["SET", "a", "1"]), 5);
    writes.applied(Command.of(["MSET", "b", "1", "c", "2"]), 6);
    writes.applied(Command.of(["DEL", "d", "e"]), 7);
    expect(writes.changedSince(["a"], 4)).toBe(true);
    expect(writes.changedSince(["a"], 5)).toBe(false);
    expect(writes.changedSince(["b", "c"], 5)).toBe(true);
    // MSET's values are not keys.
    expect(writes.changedSince(["1", "2"], 0)).toBe(false);
    expect(writes.changedSince(["e"], 6)).toBe(true);
    expect(writes.changedSince(["zzz"], 0)).toBe(false);
    expect(writes.writes(Command.of(["MSET", "x", "1", "y", "2"]), new Set(["y"]))).toBe(true);
    expect(writes.writes(Command.of(["MSET", "x", "1", "y", "2"]), new Set(["1"]))).toBe(false);
  });

  test("a write without key positions, or without a spec, changes every key", () => {
    const writes = tracker();
    writes.applied(Command.of(["FLUSHALL"]), 9);
    expect(writes.changedSince(["anything"], 8)).toBe(true);
    expect(writes.changedSince(["anything"], 9)).toBe(false);
    writes.applied(Command.of(["MYCOMMAND", "k"]), 10);
    expect(writes.changedSince(["other"], 9)).toBe(true);
    expect(writes.writes(Command.of(["MYCOMMAND", "k"]), new Set(["other"]))).toBe(true);
  });

  test("a blocking read (XREAD BLOCK in the log) writes nothing; a plain readonly command in the log writes its keys", () => {
    const writes = tracker();
    writes.applied(Command.of(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]), 3);
    expect(writes.changedSince(["s", "anything"], 2)).toBe(false);
    expect(writes.writes(Command.of(["XREAD", "BLOCK", "0", "STREAMS", "s", "0"]), new Set(["s"]))).toBe(false);
    // PFCOUNT goes through the log to store its cached count, a change of the key (as in Redis).
    writes.applied(Command.of(["PFCOUNT", "h"]), 4);
    expect(writes.changedSince(["h"], 3)).toBe(true);
  });

  test("past its bound, or after a snapshot, it forgets keys and counts older watches as changed", () => {
    const writes = tracker(2);
    writes.applied(Command.of(["SET", "a", "1"]), 1);
    writes.applied(Command.of(["SET", "b", "1"]), 2);
    expect(writes.changedSince(["c"], 2)).toBe(false);
    writes.applied(Command.of(["SET", "c", "1"]), 3);
    expect(writes.changedSince(["zzz"], 2)).toBe(true);
    expect(writes.changedSince(["zzz"], 3)).toBe(false);
    writes.forgetUpTo(10);
    expect(writes.changedSince(["zzz"], 9)).toBe(true);
    expect(writes.changedSince(["zzz"], 10)).toBe(false);
  });

  test("writes are recorded only while a watch is open; a watch asks only about writes after it opened", () => {
    const writes = new WriteTracker((name) => specs.get(name));
    expect(writes.tracking).toBe(false);
    writes.applied(Command.of(["SET", "a", "1"]), 1);
    const first = writes.watch(1);
    expect(first.since).toBe(1);
    expect(writes.tracking).toBe(true);
    expect(writes.changedSince(["a"], first.since)).toBe(false);
    // What came before the first watch is not known key by key: an older `since` counts as changed.
    expect(writes.changedSince(["zzz"], 0)).toBe(true);
    writes.applied(Command.of(["SET", "a", "2"]), 2);
    const second = writes.watch(2);
    writes.applied(Command.of(["SET", "b", "1"]), 3);
    expect(writes.changedSince(["a"], first.since)).toBe(true);
    expect(writes.changedSince(["a"], second.since)).toBe(false);
    expect(writes.changedSince(["b"], second.since)).toBe(true);
    first.release();
    first.release(); // idempotent: the second watch stays open
    expect(writes.tracking).toBe(true);
    writes.applied(Command.of(["SET", "c", "1"]), 4);
    expect(writes.changedSince(["c"], second.since)).toBe(true);
    second.release();
    expect(writes.tracking).toBe(false);
    writes.applied(Command.of(["SET", "d", "1"]), 5);
    // Reopened later: writes while nobody watched count as unknown for older indexes only.
    const third = writes.watch(5);
    expect(writes.changedSince(["d"], third.since)).toBe(false);
    expect(writes.changedSince(["d"], 4)).toBe(true);
    third.release();
  });
});
