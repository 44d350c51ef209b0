/**
 * The clone's reusable commands (`CloneCommand.reusable`): the leader applies a command its client
 * sent with the `mutate` and `unchanged` made when it arrived, not a second `run`. That is sound
 * only if those closures do at apply what a second `run` would: whatever the state became in
 * between (other writes applied first, a type changed, a key gone or expired) and whatever the
 * reply is. Each case here runs one command both ways on two machines in the same state, after
 * the same writes in between, and requires the same result and the same keyspace, key by key
 * (DEBUG DIGEST's hash: types, values and expiry times).
 */
import { describe, expect, test } from "bun:test";
import type { Applier } from "../src/api.ts";
import { Clone } from "../src/clone/machine.ts";
import { keyspaceDigest } from "../src/clone/digest.ts";
import { Logger } from "../src/log.ts";
import { type ApplyResult, Executor } from "../src/node/executor.ts";
import { Command } from "../src/resp/reader.ts";
import { RecordingConn } from "./helpers/clone-harness.ts";

/** What the leader's client applier does with a write: nothing yet (it is proposed). */
const proposing: Applier = { apply() {} };

const start = 1_700_000_000_000;
const quiet = new Logger("quiet");

/**
 * Applies `command` as the node's executor does, as the entry at `index` (replicated randomness
 * is drawn from the log position) of `time`: its value, what its `unchanged` answered, or its error.
 */
function applyOn(machine: Clone, command: Command, index: number, time: number): unknown {
  let result: ApplyResult | null = null;
  new Executor(machine, quiet).applyParsed(index, time, [command], { before() {}, after: (_command, applied) => void (result = { ...applied }) });
  const { value, error, unchanged } = result as unknown as ApplyResult;
  if (error !== undefined) return { error: String(error) };
  return unchanged ? { unchanged: value } : { value };
}

/** Applies each of `writes` to each of `machines` in turn, at the same positions on each, from `index` on. */
function applyAll(machines: Clone[], writes: string[][], index: number, time: number): number {
  for (const args of writes) {
    for (const machine of machines) applyOn(machine, Command.of(args), index, time);
    index++;
  }
  return index;
}

/** States of the key `k` (and `k2`) before the command arrives. */
const initial: Record<string, string[][]> = {
  missing: [],
  string: [["SET", "k", "5"]],
  "string with a TTL": [["SET", "k", "5", "PX", "100000"]],
  list: [["RPUSH", "k", "a", "b", "c"]],
  set: [["SADD", "k", "a", "b", "c"]],
  hash: [["HSET", "k", "f", "1", "g", "2"]],
  zset: [["ZADD", "k", "1", "a", "2", "b", "3", "c"], ["SET", "k2", "x"]],
};

/** Writes applied after the command arrived and before it is applied, with the time they move to. */
const between: Record<string, { writes: string[][]; after: number }> = {
  nothing: { writes: [], after: 0 },
  "a string": { writes: [["SET", "k", "7"]], after: 0 },
  deleted: { writes: [["DEL", "k", "k2"]], after: 0 },
  "a list": { writes: [["DEL", "k"], ["RPUSH", "k", "x", "y", "z"]], after: 0 },
  "a set": { writes: [["DEL", "k"], ["SADD", "k", "a", "d"]], after: 0 },
  "a hash": { writes: [["DEL", "k"], ["HSET", "k", "f", "9"]], after: 0 },
  "a sorted set": { writes: [["DEL", "k"], ["ZADD", "k", "5", "a", "6", "b"]], after: 0 },
  "expired, not reclaimed": { writes: [["SET", "k", "8", "PX", "50"]], after: 1_000 },
  "a TTL set": { writes: [["PEXPIRE", "k", "100000"]], after: 0 },
};

const commands: string[][] = [
  ["SET", "k", "v"],
  ["SET", "k", "v", "NX"],
  ["SET", "k", "v", "XX", "GET"],
  ["SET", "k", "v", "EX", "100"],
  ["SET", "k", "v", "KEEPTTL"],
  ["GETSET", "k", "v"],
  ["MSET", "k", "v", "k2", "w"],
  ["INCR", "k"],
  ["DECR", "k"],
  ["INCRBY", "k", "5"],
  ["DECRBY", "k", "5"],
  ["APPEND", "k", "xy"],
  ["LPUSH", "k", "a", "b"],
  ["RPUSH", "k", "a"],
  ["LPOP", "k"],
  ["RPOP", "k", "2"],
  ["SADD", "k", "a", "b"],
  ["SPOP", "k"],
  ["SPOP", "k", "2"],
  ["HSET", "k", "f", "v"],
  ["ZADD", "k", "1", "a"],
  ["ZADD", "k", "NX", "CH", "2", "a"],
  ["ZADD", "k", "GT", "INCR", "3", "a"],
  ["ZPOPMIN", "k"],
  ["ZPOPMIN", "k", "2"],
  ["SETNX", "k", "v"],
  ["SETEX", "k", "100", "v"],
  ["PSETEX", "k", "100000", "v"],
  ["GETDEL", "k"],
  ["HMSET", "k", "f", "v", "g", "w"],
  ["HINCRBY", "k", "f", "3"],
  ["HSETNX", "k", "f", "v"],
  ["HDEL", "k", "f", "g"],
  ["SREM", "k", "a", "d"],
  ["ZREM", "k", "a", "b"],
  ["ZINCRBY", "k", "2", "a"],
  ["ZPOPMAX", "k"],
  ["LPUSHX", "k", "a"],
  ["RPUSHX", "k", "a", "b"],
  ["DEL", "k", "k2"],
  ["UNLINK", "k"],
];

describe("a reusable command applied with the closures made when it arrived", () => {
  for (const args of commands) {
    test(`${args.join(" ")}: the same result and keyspace as a second run, whatever was applied in between`, () => {
      const differences: string[] = [];
      for (const [state, setup] of Object.entries(initial)) {
        for (const [what, { writes, after }] of Object.entries(between)) {
          const leader = new Clone();
          const replica = new Clone();
          let index = applyAll([leader, replica], setup, 1, start);
          // The client's command arrives at the leader, which proposes it.
          const arrived = Command.of(args);
          leader.command(proposing, new RecordingConn(3), arrived);
          expect(arrived.keptMutate).toBeDefined();
          index = applyAll([leader, replica], writes, index, start + 1);
          const time = start + 2 + after;
          // The leader applies the object it proposed; the replica parses the entry's bytes.
          const reused = applyOn(leader, arrived, index, time);
          expect(arrived.keptMutate).toBeUndefined();
          const rerun = applyOn(replica, Command.of(args), index, time);
          const same = Bun.deepEquals(reused, rerun) && keyspaceDigest(leader.keyspace) === keyspaceDigest(replica.keyspace);
          if (!same) differences.push(`${state}, then ${what}: reused ${JSON.stringify(reused)}, rerun ${JSON.stringify(rerun)}`);
        }
      }
      expect(differences).toEqual([]);
    });
  }

  test("the closures are used only on the keyspace they were made for (not after a snapshot was restored)", async () => {
    const leader = new Clone();
    const other = new Clone();
    applyAll([other], [["RPUSH", "k", "from-the-snapshot"]], 1, start);
    const arrived = Command.of(["RPUSH", "k", "a"]);
    leader.command(proposing, new RecordingConn(2), arrived);
    expect(arrived.keptMutate).toBeDefined();
    const chunks: Uint8Array[] = [];
    await other.snapshot({ write: (bytes) => void chunks.push(bytes.slice()) });
    const data = Buffer.concat(chunks);
    await leader.restore({
      readAll: async () => data,
      chunks: async function* () {
        yield data;
      },
    });
    expect(applyOn(leader, arrived, 2, start + 1)).toEqual({ value: 2 });
    applyAll([other], [["RPUSH", "k", "a"]], 2, start + 1);
    expect(keyspaceDigest(leader.keyspace)).toBe(keyspaceDigest(other.keyspace));
  });

  test("a command that is not reusable keeps nothing, and runs again when applied", () => {
    const leader = new Clone();
    const replica = new Clone();
    applyAll([leader, replica], [["RPUSH", "k", "a", "b"]], 1, start);
    const arrived = Command.of(["LSET", "k", "0", "z"]);
    leader.command(proposing, new RecordingConn(2), arrived);
    expect(arrived.keptMutate).toBeUndefined();
    expect(applyOn(leader, arrived, 2, start + 1)).toEqual(applyOn(replica, Command.of(["LSET", "k", "0", "z"]), 2, start + 1));
    expect(keyspaceDigest(leader.keyspace)).toBe(keyspaceDigest(replica.keyspace));
  });
});
