/**
 * The fault harness's checks have teeth: hand-made histories with a lost write, a double apply,
 * a phantom failed write and stale reads are caught; correct ones pass.
 */
import { describe, expect, test } from "bun:test";
import type { Outcome } from "../sim/linearizability.ts";
import { appendWorkload, counterWorkload, type HistoryEntry, queueWorkload, registerWorkload, setWorkload, type WorkloadName } from "./workloads.ts";

let nextIndex = 0;

function entry(
  workload: WorkloadName,
  kind: "read" | "write",
  key: string,
  value: string | null,
  invoke: number,
  complete: number | null,
  outcome: Outcome,
  integer: number | null = null,
): HistoryEntry {
  return {
    index: nextIndex++,
    client: 0,
    workload,
    node: "node-1",
    command: [],
    key,
    kind,
    value,
    reply: "",
    integer,
    invoke,
    complete,
    outcome,
  };
}

const counterKey = "counter:0";
const incr = (invoke: number, complete: number | null, outcome: Outcome, reply: number | null = null): HistoryEntry =>
  entry("counter", "write", counterKey, null, invoke, complete, outcome, reply);
const counterRead = (invoke: number, complete: number, value: string | null): HistoryEntry =>
  entry("counter", "read", counterKey, value, invoke, complete, "ok");

function counterViolations(history: HistoryEntry[], final: string | null): string[] {
  const workload = counterWorkload(1);
  return workload.check(history, new Map([[counterKey, final]])).violations;
}

describe("counter check", () => {
  test("a correct history passes, unknown increments applied or not", () => {
    const history = [incr(0, 1, "ok", 1), incr(2, null, "unknown"), incr(3, 4, "failed"), counterRead(5, 6, "1"), incr(7, 8, "ok", 2)];
    expect(counterViolations(history, "2")).toEqual([]);
    expect(counterViolations([...history.slice(0, 4), incr(7, 8, "ok", 3)], "3")).toEqual([]);
  });
  test("a lost acknowledged increment is caught", () => {
    expect(counterViolations([incr(0, 1, "ok", 1), incr(2, 3, "ok", 2)], "1").length).toBeGreaterThan(0);
  });
  test("an increment applied twice (or a failed one applied) is caught", () => {
    expect(counterViolations([incr(0, 1, "ok", 1), incr(2, 3, "failed")], "2").length).toBeGreaterThan(0);
  });
  test("two INCRs returning the same value are caught", () => {
    expect(counterViolations([incr(0, 1, "ok", 1), incr(0, 1, "ok", 1), incr(2, null, "unknown")], "2").length).toBeGreaterThan(0);
  });
  test("a stale read is caught", () => {
    expect(counterViolations([incr(0, 1, "ok", 1), counterRead(2, 3, null)], "1").length).toBeGreaterThan(0);
  });
  test("a read from the future is caught", () => {
    expect(counterViolations([counterRead(0, 1, "1"), incr(2, 3, "ok", 1)], "1").length).toBeGreaterThan(0);
  });
});

const appendKey = "append:0";
const append = (token: string, invoke: number, complete: number | null, outcome: Outcome, length: number | null = null): HistoryEntry =>
  entry("append", "write", appendKey, token, invoke, complete, outcome, length);
const appendRead = (invoke: number, complete: number, value: string | null): HistoryEntry =>
  entry("append", "read", appendKey, value, invoke, complete, "ok");

function appendViolations(history: HistoryEntry[], final: string | null): string[] {
  return appendWorkload(1).check(history, new Map([[appendKey, final]])).violations;
}

describe("append check", () => {
  test("a correct history passes", () => {
    const history = [append("a", 0, 1, "ok", 2), appendRead(2, 3, "a;"), append("b", 4, null, "unknown"), append("c", 5, 6, "ok", 6), appendRead(7, 8, "a;b;c;")];
    expect(appendViolations(history, "a;b;c;")).toEqual([]);
  });
  test("a lost acknowledged token is caught", () => {
    expect(appendViolations([append("a", 0, 1, "ok", 2), append("b", 2, 3, "ok", 4)], "a;").length).toBeGreaterThan(0);
  });
  test("a failed token that appears is caught", () => {
    expect(appendViolations([append("a", 0, 1, "failed")], "a;").length).toBeGreaterThan(0);
  });
  test("a token applied twice is caught", () => {
    expect(appendViolations([append("a", 0, null, "unknown")], "a;a;").length).toBeGreaterThan(0);
  });
  test("a read that is not a prefix of the final value is caught", () => {
    expect(appendViolations([append("a", 0, 1, "ok", 2), append("b", 0, 1, "ok", 4), appendRead(2, 3, "b;")], "a;b;").length).toBeGreaterThan(0);
  });
  test("a stale read is caught", () => {
    expect(appendViolations([append("a", 0, 1, "ok", 2), appendRead(2, 3, null)], "a;").length).toBeGreaterThan(0);
  });
  test("a reply length that disagrees with the final order is caught", () => {
    expect(appendViolations([append("a", 0, 1, "ok", 4), append("b", 0, 1, "ok", 2)], "a;b;").length).toBeGreaterThan(0);
  });
});

describe("register check", () => {
  test("a stale read is caught, a fresh one passes", () => {
    const key = "register:0";
    const write = entry("register", "write", key, "x", 0, 1, "ok");
    const workload = registerWorkload(1, 5_000);
    expect(workload.check([write, entry("register", "read", key, null, 2, 3, "ok")], new Map()).violations.length).toBe(1);
    expect(workload.check([write, entry("register", "read", key, "x", 2, 3, "ok")], new Map()).violations).toEqual([]);
  });
});

const queueKey = "queue:0";
const push = (token: string, outcome: Outcome, client = 0): HistoryEntry => ({ ...entry("queue", "write", queueKey, token, nextIndex, nextIndex + 1, outcome), client });
const pop = (token: string | null, outcome: Outcome, client = 1): HistoryEntry => ({
  ...entry("queue", "read", queueKey, token === null ? null : `${queueKey},${token}`, nextIndex, nextIndex + 1, outcome),
  client,
});

function queueViolations(history: HistoryEntry[], final: string): string[] {
  return queueWorkload(1).check(history, new Map([[queueKey, final]])).violations;
}

describe("queue check", () => {
  test("a correct history passes: popped, timed out, left in the list, one taken by a pop whose reply was lost", () => {
    const history = [push("c0.1", "ok"), push("c0.2", "ok"), push("c0.3", "ok"), push("c0.4", "unknown"), pop("c0.1", "ok"), pop(null, "ok"), pop(null, "unknown"), pop("c0.3", "ok")];
    expect(queueViolations(history, "c0.4")).toEqual([]);
    expect(queueViolations(history.slice(0, 6).concat(history.slice(7)), "c0.2")).toEqual([]);
  });
  test("a token delivered twice is caught: to two pops, or popped and still listed", () => {
    expect(queueViolations([push("c0.1", "ok"), pop("c0.1", "ok"), pop("c0.1", "ok", 2)], "").length).toBeGreaterThan(0);
    expect(queueViolations([push("c0.1", "ok"), pop("c0.1", "ok")], "c0.1").length).toBeGreaterThan(0);
  });
  test("a lost acknowledged token, a phantom one and a failed push delivered are caught", () => {
    expect(queueViolations([push("c0.1", "ok"), push("c0.2", "ok"), pop("c0.1", "ok")], "").length).toBeGreaterThan(0);
    expect(queueViolations([push("c0.1", "ok"), pop("c9.9", "ok")], "c0.1").length).toBeGreaterThan(0);
    expect(queueViolations([push("c0.1", "failed")], "c0.1").length).toBeGreaterThan(0);
  });
  test("a consumer that gets one producer's tokens out of order is caught", () => {
    expect(queueViolations([push("c0.1", "ok"), push("c0.2", "ok"), pop("c0.2", "ok"), pop("c0.1", "ok")], "").length).toBeGreaterThan(0);
  });
});

const setKey = "set:0";
/** A set workload command: SADD or SREM (`integer` its reply), or SISMEMBER (`value` its reply). */
function setOp(command: "SADD" | "SREM" | "SISMEMBER", invoke: number, complete: number | null, outcome: Outcome, reply: number | null): HistoryEntry {
  const read = command === "SISMEMBER";
  const made = entry("set", read ? "read" : "write", setKey, read && reply !== null ? String(reply) : null, invoke, complete, outcome, read ? null : reply);
  made.command = [command, setKey, "m"];
  return made;
}

function setViolations(history: HistoryEntry[]): string[] {
  return setWorkload(1).check(history, new Map()).violations;
}

describe("set check", () => {
  test("a correct history passes, writes that changed nothing included", () => {
    const history = [
      setOp("SADD", 0, 1, "ok", 1),
      setOp("SADD", 2, 3, "ok", 0),
      setOp("SISMEMBER", 4, 5, "ok", 1),
      setOp("SREM", 6, null, "unknown", null),
      setOp("SREM", 7, 8, "failed", null),
      setOp("SREM", 9, 10, "ok", 1),
      setOp("SREM", 11, 12, "ok", 0),
      setOp("SISMEMBER", 13, 14, "ok", 0),
    ];
    expect(setViolations(history)).toEqual([]);
    // Concurrent: the SADD may come before or after the SREM.
    expect(setViolations([setOp("SADD", 0, 1, "ok", 1), setOp("SREM", 2, 5, "ok", 1), setOp("SADD", 3, 4, "ok", 0)])).toEqual([]);
  });
  test("a write answered from a stale state is caught", () => {
    // The member was removed (acknowledged) before the second SADD was sent, which still said it was there.
    const history = [setOp("SADD", 0, 1, "ok", 1), setOp("SREM", 2, 3, "ok", 1), setOp("SADD", 4, 5, "ok", 0)];
    expect(setViolations(history).length).toBeGreaterThan(0);
  });
  test("a stale read is caught", () => {
    expect(setViolations([setOp("SADD", 0, 1, "ok", 1), setOp("SISMEMBER", 2, 3, "ok", 0)]).length).toBeGreaterThan(0);
  });
  test("a lost write is caught", () => {
    expect(setViolations([setOp("SADD", 0, 1, "ok", 1), setOp("SADD", 2, 3, "ok", 1)]).length).toBeGreaterThan(0);
  });
});
