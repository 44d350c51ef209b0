/**
 * Writes that change nothing (SADD of a member already there, SET NX of a key that exists, a pop
 * from a missing list...): a leader whose state is current answers them without a log entry, as
 * Redis keeps them out of its AOF and replication stream (`Unchanged` in src/api.ts). Checked
 * against redis-server: the same replies, and a WATCH on the key is not aborted by them, whether
 * they were answered at once or went through the log behind a write of their connection; the log
 * does not grow for them on a single node; on a 3-node cluster a leader under its lease answers
 * them without the log at Low and Medium consistency, and at High sends them through the log (its
 * lease is not trusted there); a follower redirects them at every level (at Low too, where it
 * answers reads from its own state). Seeded random writes on three keys (UNCHANGED_FUZZ_SEED,
 * UNCHANGED_FUZZ_STEPS), half of them of the kinds that may change nothing, give the same reply,
 * the same WATCH outcome and the same state after each as on redis-server: a write wrongly found
 * unchanged would be lost, one wrongly found changed aborts a WATCH that Redis keeps. The linearizability of these answers under partitions and pauses is
 * checked by the fault harness's `set` workload and by test/faults/faults.test.ts's paused leader.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { caseRng, countFromEnvironment, seedFromEnvironment } from "./hostile/fuzz.ts";
import { diffServers } from "./helpers/redis-diff.ts";
import { callPort, plain, RespConnection, type RespValue } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

/** A write that changes nothing once `setup` has run, on key `k`. */
interface NoOp {
  readonly setup: readonly (readonly string[])[];
  readonly write: readonly string[];
}

const noOps: readonly NoOp[] = [
  { setup: [["SADD", "k", "a", "b"]], write: ["SADD", "k", "b", "a"] },
  { setup: [["SADD", "k", "a"]], write: ["SREM", "k", "x", "y"] },
  { setup: [], write: ["SREM", "k", "x"] },
  { setup: [], write: ["SPOP", "k"] },
  { setup: [], write: ["SPOP", "k", "3"] },
  { setup: [["SADD", "k", "a"]], write: ["SMOVE", "k", "d", "x"] },
  { setup: [], write: ["SMOVE", "k", "d", "x"] },
  { setup: [["SADD", "k", "a"]], write: ["SMOVE", "k", "k", "a"] },
  { setup: [["SET", "k", "v"]], write: ["SET", "k", "w", "NX"] },
  { setup: [["SET", "k", "v"]], write: ["SET", "k", "w", "NX", "GET"] },
  { setup: [], write: ["SET", "k", "w", "XX"] },
  { setup: [], write: ["SET", "k", "w", "XX", "GET"] },
  { setup: [["SET", "k", "v"]], write: ["SETNX", "k", "w"] },
  { setup: [["SET", "k", "v"]], write: ["MSETNX", "j", "1", "k", "2"] },
  { setup: [], write: ["DEL", "k", "j"] },
  { setup: [], write: ["UNLINK", "k"] },
  { setup: [], write: ["GETDEL", "k"] },
  { setup: [], write: ["EXPIRE", "k", "100"] },
  { setup: [["SET", "k", "v", "EX", "100"]], write: ["EXPIRE", "k", "50", "NX"] },
  { setup: [["SET", "k", "v"]], write: ["PEXPIRE", "k", "500", "XX"] },
  { setup: [["SET", "k", "v"]], write: ["PERSIST", "k"] },
  { setup: [["SET", "k", "v", "EX", "100"]], write: ["EXPIRE", "k", "50", "GT"] },
  { setup: [["SET", "k", "v", "EX", "100"]], write: ["EXPIRE", "k", "500", "LT"] },
  { setup: [["SET", "k", "v"]], write: ["PEXPIREAT", "k", "4102444800000", "GT"] },
  { setup: [["SET", "k", "v"]], write: ["RENAME", "k", "k"] },
  { setup: [["SET", "k", "v"]], write: ["RENAMENX", "k", "k"] },
  { setup: [["SET", "k", "v"], ["SET", "j", "w"]], write: ["RENAMENX", "k", "j"] },
  { setup: [], write: ["RENAME", "k", "j"] },
  { setup: [], write: ["PERSIST", "k"] },
  { setup: [], write: ["LPOP", "k"] },
  { setup: [], write: ["RPOP", "k", "2"] },
  { setup: [], write: ["LPUSHX", "k", "a"] },
  { setup: [], write: ["RPUSHX", "k", "a", "b"] },
  { setup: [], write: ["RPOPLPUSH", "k", "d"] },
  { setup: [], write: ["LMOVE", "k", "d", "LEFT", "RIGHT"] },
  { setup: [["ZADD", "k", "1", "a", "2", "b"]], write: ["ZADD", "k", "2", "b", "1", "a"] },
  { setup: [["ZADD", "k", "1", "a"]], write: ["ZADD", "k", "NX", "5", "a"] },
  { setup: [["ZADD", "k", "1", "a"]], write: ["ZADD", "k", "XX", "CH", "5", "b"] },
  { setup: [["ZADD", "k", "3", "a"]], write: ["ZADD", "k", "GT", "2", "a"] },
  { setup: [["ZADD", "k", "3", "a"]], write: ["ZADD", "k", "INCR", "0", "a"] },
  { setup: [], write: ["ZADD", "k", "XX", "1", "a"] },
  { setup: [["ZADD", "k", "1", "a"]], write: ["ZREM", "k", "x"] },
  { setup: [], write: ["ZPOPMIN", "k"] },
  { setup: [["ZADD", "k", "1", "a", "5", "b"]], write: ["ZREMRANGEBYSCORE", "k", "2", "(5"] },
  { setup: [], write: ["ZREMRANGEBYSCORE", "k", "-inf", "+inf"] },
  { setup: [["ZADD", "k", "1", "a"]], write: ["ZREMRANGEBYRANK", "k", "3", "5"] },
  { setup: [["ZADD", "k", "0", "a", "0", "c"]], write: ["ZREMRANGEBYLEX", "k", "[b", "[bz"] },
  { setup: [["RPUSH", "k", "a", "b", "a"]], write: ["LREM", "k", "0", "c"] },
  { setup: [], write: ["LREM", "k", "-1", "c"] },
  { setup: [], write: ["ZPOPMAX", "k", "2"] },
  { setup: [], write: ["XADD", "k", "NOMKSTREAM", "*", "f", "v"] },
  { setup: [["HSET", "k", "f", "v"]], write: ["HSETNX", "k", "f", "w"] },
  { setup: [["HSET", "k", "f", "v"]], write: ["HDEL", "k", "g", "h"] },
  { setup: [], write: ["HDEL", "k", "g"] },
  { setup: [["GEOADD", "k", "13.361389", "38.115556", "a"]], write: ["GEOADD", "k", "13.361389", "38.115556", "a"] },
  { setup: [["PFADD", "k", "a", "b", "c"]], write: ["PFADD", "k", "b", "a"] },
  { setup: [["PFADD", "k", "a"]], write: ["PFADD", "k"] },
  { setup: [["PFADD", "k", ...Array.from({ length: 5000 }, (_, i) => `e${i}`)]], write: ["PFADD", "k", "e1", "e4999"] },
  // PFCOUNT stores a count it computed (the cache) and is then a change; with the cache fresh it is not.
  { setup: [["PFADD", "k", "a"], ["PFCOUNT", "k"]], write: ["PFCOUNT", "k"] },
  { setup: [], write: ["PFCOUNT", "k"] },
  // The same check that makes the write a no-op reports its type error: not logged either.
  { setup: [["SET", "k", "v"]], write: ["SADD", "k", "a"] },
  { setup: [["SADD", "k", "a"]], write: ["LPOP", "k"] },
  { setup: [["LPUSH", "k", "a"]], write: ["SET", "k", "w", "NX", "GET"] },
];

/** RAFTSTATS's last_log_index of the node at `port`. */
async function lastLogIndex(port: number): Promise<number> {
  const stats = (await callPort(port, "RAFTSTATS")) as string[];
  const at = stats.indexOf("last_log_index");
  return Number(stats[at + 1]);
}

/** A reply, comparable across servers. */
function shown(reply: RespValue): unknown {
  return plain(reply);
}

/**
 * On a fresh keyspace: runs `setup`, then on a second connection WATCHes `k`, then (with `behind`,
 * pipelined behind a write of another key on the same connection, so that it waits its turn and
 * goes through the log) sends the no-op, then runs MULTI/EXEC on the watching connection. Returns
 * the no-op's reply and whether EXEC ran (null when aborted).
 */
async function runNoOp(port: number, noOp: NoOp, behind: boolean): Promise<{ reply: unknown; exec: unknown }> {
  const writer = await RespConnection.connect(port);
  const watcher = await RespConnection.connect(port);
  try {
    await writer.call("FLUSHALL");
    for (const command of noOp.setup) await writer.call(...command);
    await watcher.call("WATCH", "k");
    let reply: unknown;
    if (behind) {
      writer.command("SET", "other", "x");
      writer.command(...noOp.write);
      const [set, noOpReply] = await writer.readMany(2);
      expect(shown(set as RespValue)).toBe("OK");
      reply = shown(noOpReply as RespValue);
    } else {
      reply = shown(await writer.call(...noOp.write));
    }
    await watcher.call("MULTI");
    await watcher.call("GET", "other");
    const exec = shown(await watcher.call("EXEC"));
    return { reply, exec };
  } finally {
    writer.close();
    watcher.close();
  }
}

describe("a single node, against redis-server", () => {
  const servers = diffServers();

  test("answers each write that changes nothing as redis-server does, without a log entry, and a WATCH stays", async () => {
    const differences: string[] = [];
    for (const noOp of noOps) {
      const expected = await runNoOp(servers.redisPort, noOp, false);
      const before = await lastLogIndex(servers.clonePort);
      const actual = await runNoOp(servers.clonePort, noOp, false);
      const after = await lastLogIndex(servers.clonePort);
      // FLUSHALL, the setup's writes and SET other, each an entry: the no-op adds none.
      const entries = after - before;
      const expectedEntries = 1 + noOp.setup.length;
      if (JSON.stringify(actual) !== JSON.stringify(expected) || entries !== expectedEntries) {
        differences.push(`${noOp.write.join(" ")}: redis ${JSON.stringify(expected)}, clone ${JSON.stringify(actual)}, ${entries} entries (expected ${expectedEntries})`);
      }
    }
    expect(differences).toEqual([]);
  });

  test("behind a write of its connection it goes through the log, with the same reply, and a WATCH stays", async () => {
    const differences: string[] = [];
    for (const noOp of noOps) {
      const expected = await runNoOp(servers.redisPort, noOp, true);
      const actual = await runNoOp(servers.clonePort, noOp, true);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        differences.push(`${noOp.write.join(" ")}: redis ${JSON.stringify(expected)}, clone ${JSON.stringify(actual)}`);
      }
    }
    expect(differences).toEqual([]);
  });

  test("writes that change something are still logged, and abort a WATCH as in redis-server", async () => {
    const changes: NoOp[] = [
      { setup: [["SADD", "k", "a"]], write: ["SADD", "k", "a", "b"] },
      // A stale cached count is computed and stored.
      { setup: [["PFADD", "k", "a"]], write: ["PFCOUNT", "k"] },
    ];
    for (const change of changes) {
      const expected = await runNoOp(servers.redisPort, change, false);
      expect(expected.exec).toBeNull();
      const before = await lastLogIndex(servers.clonePort);
      expect(await runNoOp(servers.clonePort, change, false)).toEqual(expected);
      // FLUSHALL, the setup and the write.
      expect((await lastLogIndex(servers.clonePort)) - before).toBe(2 + change.setup.length);
    }
  });
});

/** The keys the random sequences use, and the members and values they write. */
const randomKeys = ["k1", "k2", "d"];
const randomMembers = ["a", "b", "c"];

/** A random write on a small keyspace: one that makes state, or one that may change nothing. */
function randomWrite(rng: ReturnType<typeof caseRng>): string[] {
  const k = rng.pick(randomKeys);
  const m = rng.pick(randomMembers);
  const v = rng.pick(["v", "w"]);
  const score = rng.pick(["1", "2"]);
  const makers: (() => string[])[] = [
    () => ["SET", k, v],
    () => ["RPUSH", k, m],
    () => ["SADD", k, m],
    () => ["ZADD", k, score, m],
    () => ["HSET", k, m, v],
    () => ["PFADD", k, m],
  ];
  const maybeNothing: (() => string[])[] = [
    () => ["SADD", k, m, rng.pick(randomMembers)],
    () => ["SREM", k, m],
    () => ["SPOP", k, "10"],
    () => ["SMOVE", k, "d", m],
    () => ["SET", k, v, rng.pick(["NX", "XX"]), ...(rng.chance(0.5) ? ["GET"] : [])],
    () => ["SETNX", k, v],
    () => ["MSETNX", "k1", v, "k2", v],
    () => ["DEL", k, rng.pick(randomKeys)],
    () => ["UNLINK", k],
    () => ["GETDEL", k],
    () => ["EXPIRE", k, "1000", ...(rng.chance(0.5) ? [rng.pick(["NX", "XX"])] : [])],
    () => ["PERSIST", k],
    // Absolute times, so that GT and LT decide alike on both servers whatever their clocks.
    () => ["PEXPIREAT", k, String(4102444800000 + rng.int(1, 3) * 1_000_000), ...(rng.chance(0.7) ? [rng.pick(["NX", "XX", "GT", "LT"])] : [])],
    () => ["EXPIRE", k, "-1", ...(rng.chance(0.5) ? [rng.pick(["GT", "LT"])] : [])],
    () => [rng.pick(["RENAME", "RENAMENX"]), k, rng.pick(randomKeys)],
    () => ["LPOP", k],
    () => ["RPOP", k, "2"],
    () => [rng.pick(["LPUSHX", "RPUSHX"]), k, m],
    () => ["RPOPLPUSH", k, "d"],
    () => ["LMOVE", k, "d", "LEFT", "RIGHT"],
    () => ["LREM", k, rng.pick(["0", "1", "-1"]), m],
    () => ["ZADD", k, ...(rng.chance(0.6) ? [rng.pick(["NX", "XX", "GT", "LT", "CH", "INCR"])] : []), score, m],
    () => ["ZREM", k, m],
    () => ["ZREMRANGEBYSCORE", k, score, score],
    () => ["ZREMRANGEBYRANK", k, "1", "2"],
    () => ["ZREMRANGEBYLEX", k, "[a", `[${m}`],
    () => [rng.pick(["ZPOPMIN", "ZPOPMAX"]), k],
    () => ["HSETNX", k, m, v],
    () => ["HDEL", k, m],
    () => ["PFADD", k, m],
    () => ["PFCOUNT", k],
  ];
  return rng.chance(0.35) ? rng.pick(makers)() : rng.pick(maybeNothing)();
}

/** Every key's type, TTL presence and content, in a form both servers answer alike. */
async function stateOf(connection: RespConnection): Promise<unknown[]> {
  const state: unknown[] = [];
  for (const key of randomKeys) {
    const type = shown(await connection.call("TYPE", key));
    const ttl = Number(shown(await connection.call("TTL", key))) > 0;
    const reads: Record<string, string[]> = {
      string: ["GET", key],
      list: ["LRANGE", key, "0", "-1"],
      set: ["SMEMBERS", key],
      zset: ["ZRANGE", key, "0", "-1", "WITHSCORES"],
      hash: ["HGETALL", key],
    };
    const read = reads[String(type)];
    let content = read === undefined ? null : shown(await connection.call(...read));
    // Sets and hashes: their order is each server's own.
    if ((type === "set" || type === "hash") && Array.isArray(content)) content = [...content].map(String).sort();
    state.push([key, type, ttl, content]);
  }
  return state;
}

describe("random writes on a small keyspace, against redis-server", () => {
  const servers = diffServers();
  // UNCHANGED_FUZZ_SEED=random (or a number) and UNCHANGED_FUZZ_STEPS for longer runs by hand.
  const seed = seedFromEnvironment("UNCHANGED_FUZZ_SEED", 0x5eed);
  const steps = countFromEnvironment("UNCHANGED_FUZZ_STEPS", 300);

  for (const behind of [false, true]) {
    test(`the same replies, WATCH outcomes and state after each of ${steps} writes${behind ? ", each behind a write of its connection" : ""} (seed ${seed})`, async () => {
      const run = async (port: number): Promise<unknown[]> => {
        const rng = caseRng(seed, behind ? 1 : 0);
        const writer = await RespConnection.connect(port);
        const watcher = await RespConnection.connect(port);
        const observed: unknown[] = [];
        try {
          await writer.call("FLUSHALL");
          for (let step = 0; step < steps; step++) {
            const command = randomWrite(rng);
            await watcher.call("WATCH", ...randomKeys);
            let reply: unknown;
            if (behind) {
              writer.command("SET", "other", "x");
              writer.command(...command);
              reply = shown((await writer.readMany(2))[1] as RespValue);
            } else {
              reply = shown(await writer.call(...command));
            }
            // SPOP's members come in each server's own order.
            if (command[0] === "SPOP" && Array.isArray(reply)) reply = [...reply].map(String).sort();
            await watcher.call("MULTI");
            await watcher.call("PING");
            const exec = shown(await watcher.call("EXEC"));
            observed.push({ step, command: command.join(" "), reply, aborted: exec === null, state: await stateOf(writer) });
          }
        } finally {
          writer.close();
          watcher.close();
        }
        return observed;
      };
      const expected = await run(servers.redisPort);
      const actual = await run(servers.clonePort);
      const first = actual.findIndex((one, i) => JSON.stringify(one) !== JSON.stringify(expected[i]));
      // The first step where they part (later steps start from different states).
      expect(first === -1 ? null : { redis: expected[first], clone: actual[first], before: expected[first - 1] ?? null }).toBeNull();
    });
  }
});

describe("a 3-node cluster", () => {
  for (const consistency of ["low", "medium", "high"] as const) {
    describe(`at ${consistency} consistency`, () => {
      const cluster = new InProcessNodes(`unchanged-${consistency}`);
      let leaderPort = 0;
      let followerPort = 0;
      beforeAll(async () => {
        const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency });
        leaderPort = leader.port;
        followerPort = (cluster.nodes.find((node) => node !== leader) as { port: number }).port;
        expect(await callPort(leaderPort, "SADD", "members", "m")).toBe(1);
      });

      if (consistency !== "high") {
        test("the leader under its lease answers SADD of a member already there without the log", async () => {
          // The lease holds from the first heartbeat round a quorum acknowledged in this term.
          await eventually(
            "an SADD answered without a log entry",
            async () => {
              const before = await lastLogIndex(leaderPort);
              const reply = await callPort(leaderPort, "SADD", "members", "m");
              return { reply, entries: (await lastLogIndex(leaderPort)) - before };
            },
            (result) => result.reply === 0 && result.entries === 0,
          );
        });

        test("it keeps doing so while only heartbeats pass (their answers renew the lease)", async () => {
          // A heartbeat's answer leaves the leader's core nothing to hand out; the fast path it
          // cleared on arrival must be judged again then, not only at the next heartbeat's send.
          // The three nodes share this process: a round in which it stalled for long (a full
          // collection late in the suite) could let the lease lapse for real, so such a round
          // proves nothing either way and is done again. The lease outlasts 300 ms of silence.
          const through: number[] = [];
          let rounds = 0;
          for (let attempt = 0; rounds < 10 && attempt < 30; attempt++) {
            const start = performance.now();
            await Bun.sleep(120); // a few heartbeat rounds, answered
            const before = await lastLogIndex(leaderPort);
            expect(await callPort(leaderPort, "SADD", "members", "m")).toBe(0);
            const logged = (await lastLogIndex(leaderPort)) !== before;
            if (performance.now() - start > 250) continue;
            if (logged) through.push(rounds);
            rounds++;
          }
          expect({ rounds, through }).toEqual({ rounds: 10, through: [] });
        });
      } else {
        test("the leader sends SADD of a member already there through the log (its lease is not trusted at High)", async () => {
          for (let i = 0; i < 3; i++) {
            const before = await lastLogIndex(leaderPort);
            expect(await callPort(leaderPort, "SADD", "members", "m")).toBe(0);
            expect((await lastLogIndex(leaderPort)) - before).toBe(1);
          }
        });
      }

      test("a follower redirects it, as any write", async () => {
        const reply = (await callPort(followerPort, "SADD", "members", "m")) as { error: string };
        expect(reply.error).toStartWith("MOVED 0 ");
      });
    });
  }
});
