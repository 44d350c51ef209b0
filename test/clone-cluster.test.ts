/**
 * A 3-node cluster of clone processes under a mix of every write command of every type (SPOP,
 * XADD * and the other commands whose result depends on state, randomness or time included),
 * with snapshots taken often, the leader killed once (SIGKILL) mid-run and restarted (and brought
 * up by a snapshot of every type from the new leader): afterwards
 * every node holds the same keys, types and values (DEBUG DIGEST, and per key TYPE and DEBUG
 * DIGEST-VALUE), and a SCAN cursor from one node continues on another.
 *
 * The nodes run with -consistency low so that each one answers reads (DEBUG DIGEST) from its own
 * state; writes still go to the leader (followers answer MOVED).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(240_000);

const started: CloneProcess[] = [];

afterAll(async () => {
  await cleanupAll(started);
});

async function startNode(name: string, join: CloneProcess | null): Promise<CloneProcess> {
  const clone = await CloneProcess.start({
    name,
    ...(join === null ? {} : { join: `:${join.port}` }),
    // Snapshots every 300 entries with a short trail: they happen during the run, and the
    // restarted node may be brought up by one.
    extraArguments: ["-consistency", "low", "-snapshot-entries", "300", "-snapshot-trail", "50"],
  });
  started.push(clone);
  return clone;
}

async function leaderOf(nodes: readonly CloneProcess[]): Promise<CloneProcess> {
  return (await eventually(
    "a leader",
    async () => {
      for (const node of nodes) {
        if (!node.running) continue;
        if ((await call(node, "RAFTSTATE")) === "Leader") return node;
      }
      return null;
    },
    (leader) => leader !== null,
    30_000,
  )) as CloneProcess;
}

/** mulberry32: a seeded generator, so the command mix is the same on every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random write (or read) of the mix. Keys are shared by type, so commands also collide. */
function randomCommand(random: () => number): string[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const n = (limit: number): string => String(Math.floor(random() * limit));
  const key = (type: string): string => `${type}:${n(6)}`;
  const commands: Array<() => string[]> = [
    () => ["SET", key("str"), `v${n(1000)}`],
    () => ["APPEND", key("str"), "x"],
    () => ["INCRBY", key("num"), n(100)],
    () => ["MSET", key("str"), "a", key("str"), "b"],
    () => ["DEL", pick([key("str"), key("list"), key("set"), key("hash"), key("zset")])],
    () => ["LPUSH", key("list"), `e${n(50)}`, `e${n(50)}`],
    () => ["RPUSH", key("list"), `e${n(50)}`],
    () => ["LPOP", key("list"), ...(random() < 0.5 ? [n(3)] : [])],
    () => ["RPOP", key("list")],
    () => ["LSET", key("list"), "0", `set${n(10)}`],
    () => ["LTRIM", key("list"), "0", n(20)],
    () => ["LREM", key("list"), String(Math.floor(random() * 5) - 2), `e${n(50)}`],
    () => ["SADD", key("set"), `m${n(40)}`, `m${n(40)}`, `m${n(40)}`],
    () => ["SREM", key("set"), `m${n(40)}`],
    () => ["SPOP", key("set")],
    () => ["SPOP", key("set"), n(4)],
    () => ["HSET", key("hash"), `f${n(20)}`, `v${n(100)}`, `f${n(20)}`, "w"],
    () => ["HDEL", key("hash"), `f${n(20)}`],
    () => ["HINCRBY", key("hash"), `c${n(3)}`, String(Math.floor(random() * 21) - 10)],
    () => ["ZADD", key("zset"), ...pick([[], ["NX"], ["XX"], ["GT", "CH"], ["LT"]]), String(Math.floor(random() * 100) / 4), `m${n(30)}`],
    () => ["ZADD", key("zset"), "INCR", String(Math.floor(random() * 20) - 10), `m${n(30)}`],
    () => ["ZINCRBY", key("zset"), "0.5", `m${n(30)}`],
    () => ["ZREM", key("zset"), `m${n(30)}`],
    () => ["ZPOPMIN", key("zset"), ...(random() < 0.5 ? [n(3)] : [])],
    () => ["ZPOPMAX", key("zset")],
    () => ["XADD", `stream:${n(2)}`, ...(random() < 0.3 ? ["MAXLEN", "20"] : []), "*", "f", `v${n(100)}`],
    () => ["RENAME", key("str"), key("str")],
    () => ["LRANGE", key("list"), "0", "-1"],
    () => ["ZRANGEBYSCORE", key("zset"), "-inf", "+inf", "WITHSCORES"],
  ];
  return pick(commands)();
}

/** Replies that mean "not done here, maybe not at all": the client moves on. */
function isRetryable(reply: unknown): boolean {
  if (typeof reply !== "object" || reply === null || !("error" in reply)) return false;
  return /^(MOVED|TRY|CLUSTERDOWN|TRYAGAIN|UNCERTAIN|LOADING)/.test(String(reply.error));
}

interface Workload {
  sent: number;
  retried: number;
  /** Errors other than redirects, by text (WRONGTYPE and the like are expected in the mix). */
  errors: Map<string, number>;
}

/** Runs `operations` commands per client from `clients` clients, always against the current leader. */
async function runWorkload(nodes: readonly CloneProcess[], seed: number, clients: number, operations: number, workload: Workload): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const random = generator(seed * 100 + client);
      let connection: RespConnection | null = null;
      let done = 0;
      while (done < operations) {
        try {
          if (connection === null) connection = await RespConnection.connect((await leaderOf(nodes)).port);
          // Small pipelines: several commands in flight per client.
          const batch = Array.from({ length: 5 }, () => randomCommand(random));
          for (const command of batch) connection.command(...command);
          const replies = (await connection.readMany(batch.length, 15_000)).map(plain);
          workload.sent += batch.length;
          done += batch.length;
          if (replies.some(isRetryable)) {
            workload.retried++;
            connection.close();
            connection = null;
            await Bun.sleep(50);
          }
          for (const reply of replies) {
            if (typeof reply === "object" && reply !== null && "error" in reply && !isRetryable(reply)) {
              const text = String(reply.error);
              workload.errors.set(text, (workload.errors.get(text) ?? 0) + 1);
            }
          }
        } catch {
          // The node went away mid-batch (the leader was killed): reconnect to the new leader.
          connection?.close(true);
          connection = null;
          workload.retried++;
          await Bun.sleep(100);
        }
      }
      connection?.close();
    }),
  );
}

async function appliedIndex(node: CloneProcess): Promise<number> {
  const stats = (await call(node, "RAFTSTATS")) as string[];
  return Number(stats[stats.indexOf("applied_index") + 1]);
}

/** Every key with its type and value digest, as one node sees them. */
async function contents(node: CloneProcess): Promise<string[]> {
  const keys = ((await call(node, "KEYS", "*")) as string[]).sort();
  if (keys.length === 0) return [];
  const types = await Promise.all(keys.map((key) => call(node, "TYPE", key)));
  const digests = (await call(node, "DEBUG", "DIGEST-VALUE", ...keys)) as string[];
  return keys.map((key, i) => `${key} ${String(types[i])} ${digests[i]}`);
}

describe("a 3-node cluster under a mix of every type's commands", () => {
  test("after the leader is killed once, every node holds the same keys, types and values", async () => {
    const first = await startNode("types-1", null);
    const nodes = [first, await startNode("types-2", first), await startNode("types-3", first)];
    await eventually(
      "every node to be a voter",
      () => call(first, "RAFTPEERS"),
      (peers) => Array.isArray(peers) && peers.length === 6 && !peers.includes("Learner"),
      30_000,
    );
    const workload: Workload = { sent: 0, retried: 0, errors: new Map() };

    // Phase 1: the mix against a healthy cluster.
    await runWorkload(nodes, 1, 3, 400, workload);

    // Phase 2: the mix goes on while the leader is killed.
    const oldLeader = await leaderOf(nodes);
    const during = runWorkload(nodes, 2, 3, 400, workload);
    await Bun.sleep(300);
    oldLeader.kill("SIGKILL");
    await oldLeader.exited();
    await during;
    const survivors = nodes.filter((node) => node !== oldLeader);
    expect(await leaderOf(survivors)).not.toBe(oldLeader);

    // Phase 3: more of the mix on the new leader; then more entries than the trail kept behind a
    // snapshot, and a snapshot, so the old leader, when it comes back, is brought up by one.
    await runWorkload(survivors, 3, 2, 200, workload);
    const newLeader = await leaderOf(survivors);
    for (let i = 0; i < 120; i++) expect(await call(newLeader, "INCR", "catch-up")).toBe(i + 1);
    expect(await call(newLeader, "RAFTSNAPSHOT")).toBe("OK");
    await oldLeader.restart();
    await eventually("the old leader to install a snapshot", () => oldLeader.log(), (log) => log.includes("Installed a snapshot from the leader"), 60_000);
    await runWorkload(nodes, 4, 2, 100, workload);

    const leader = await leaderOf(nodes);
    const target = await appliedIndex(leader);
    for (const node of nodes) await eventually(`${node.name} to apply everything`, () => appliedIndex(node), (index) => index >= target, 60_000);

    const digests = await Promise.all(nodes.map((node) => call(node, "DEBUG", "DIGEST")));
    const perNode = await Promise.all(nodes.map(contents));
    // Readable first: which keys differ, if any.
    expect(perNode[1]).toEqual(perNode[0] as string[]);
    expect(perNode[2]).toEqual(perNode[0] as string[]);
    expect(new Set(digests).size).toBe(1);

    // The state is not trivial: every type is there, and the mix did run.
    const types = new Set((perNode[0] as string[]).map((line) => line.split(" ")[1]));
    expect([...types].sort()).toEqual(["hash", "list", "set", "stream", "string", "zset"]);
    expect(workload.sent).toBeGreaterThanOrEqual(2 * 3 * 400 + 2 * 200 + 2 * 100);
    // The only errors are the ones the mix provokes on purpose (types collide on DEL'd keys, LSET
    // on missing lists...), never an internal error.
    for (const text of workload.errors.keys()) {
      expect(text).toMatch(/^(WRONGTYPE|ERR no such key|ERR index out of range|ERR value is not an integer|ERR resulting score is not a number)/);
    }

    // A snapshot was taken during the run (the log was compacted).
    const stats = (await call(leader, "RAFTSTATS")) as string[];
    expect(Number(stats[stats.indexOf("last_snapshot_index") + 1])).toBeGreaterThan(0);

    // A SCAN continues from node to node: each step on the next node, with the cursor the last one
    // gave. The nodes number keys alike (sequence numbers are replicated state), so every key is
    // returned, exactly once. (Where a step ends may differ: a node skips the slots of deleted keys
    // it has not compacted yet, up to a bound per step.)
    const scanned: string[] = [];
    let cursor = "0";
    let step = 0;
    do {
      const [next, keys] = (await call(nodes[step % nodes.length] as CloneProcess, "SCAN", cursor, "COUNT", "7")) as [string, string[]];
      scanned.push(...keys);
      cursor = next;
      step++;
    } while (cursor !== "0" && step < 10_000);
    expect(scanned.sort()).toEqual((perNode[0] as string[]).map((line) => line.split(" ")[0] as string));
  });
});

describe("a 3-node cluster with keys that expire", () => {
  test("across a leader kill, every node agrees (DEBUG DIGEST, expiry times included) and no read returns an expired key", async () => {
    const first = await startNode("ttl-1", null);
    const nodes = [first, await startNode("ttl-2", first), await startNode("ttl-3", first)];
    await eventually(
      "every node to be a voter",
      () => call(first, "RAFTPEERS"),
      (peers) => Array.isArray(peers) && peers.length === 6 && !peers.includes("Learner"),
      30_000,
    );
    const random = generator(7);
    let writing = true;
    let reads = 0;
    let hits = 0;
    const violations: string[] = [];

    // Readers on every node (each answers from its own state, -consistency low). A value is the
    // key's absolute deadline (SET ... PXAT): a reply sent after `before` that holds a value
    // proves the node read it at a time >= before, so the deadline must be later than `before`.
    const readers = nodes.map(async (node) => {
      while (writing) {
        if (!node.running) {
          await Bun.sleep(50);
          continue;
        }
        try {
          const key = `at:${Math.floor(random() * 40)}`;
          const before = Date.now();
          const value = await call(node, "GET", key);
          reads++;
          if (typeof value === "string") {
            hits++;
            if (Number(value) <= before) violations.push(`${node.name} read ${key}=${value} at or after ${before}`);
          }
        } catch {
          await Bun.sleep(50);
        }
      }
    });

    const writes = async (count: number, alive: readonly CloneProcess[]): Promise<void> => {
      let connection: RespConnection | null = null;
      for (let done = 0; done < count; ) {
        try {
          if (connection === null) connection = await RespConnection.connect((await leaderOf(alive)).port);
          const ttl = 300 + Math.floor(random() * 1200);
          const i = Math.floor(random() * 40);
          const pick = random();
          const command =
            pick < 0.5
              ? ["SET", `at:${i}`, String(Date.now() + ttl), "PXAT", String(Date.now() + ttl)]
              : pick < 0.7
                ? ["SET", `px:${i}`, "v", "PX", String(ttl)]
                : pick < 0.8
                  ? ["PEXPIRE", `px:${i}`, String(ttl), "GT"]
                  : pick < 0.9
                    ? ["RPUSH", `list:${i % 5}`, "e"]
                    : ["PEXPIRE", `list:${i % 5}`, String(ttl)];
          const reply = plain(await connection.call(...command));
          if (isRetryable(reply)) {
            connection.close();
            connection = null;
            await Bun.sleep(50);
            continue;
          }
          done++;
        } catch {
          connection?.close(true);
          connection = null;
          await Bun.sleep(100);
        }
      }
      connection?.close();
    };

    await writes(300, nodes);
    const oldLeader = await leaderOf(nodes);
    const during = writes(300, nodes);
    await Bun.sleep(300);
    oldLeader.kill("SIGKILL");
    await oldLeader.exited();
    await during;
    const survivors = nodes.filter((node) => node !== oldLeader);
    await writes(200, survivors);
    await oldLeader.restart();
    await writes(200, nodes);
    writing = false;
    await Promise.all(readers);

    const leader = await leaderOf(nodes);
    const target = await appliedIndex(leader);
    for (const node of nodes) await eventually(`${node.name} to apply everything`, () => appliedIndex(node), (index) => index >= target, 60_000);
    const digests = await Promise.all(nodes.map((node) => call(node, "DEBUG", "DIGEST")));
    expect(new Set(digests).size).toBe(1);
    expect(violations).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(hits).toBeGreaterThan(0);

    // Once every TTL has run out, no node shows any of those keys, though they may still be held
    // (nothing is reclaimed without a write); one write reclaims up to 20 on every node alike.
    await Bun.sleep(1600);
    for (const node of nodes) expect(await call(node, "KEYS", "at:*")).toEqual([]);
    expect(await call(leader, "SET", "tick", "1")).toBe("OK");
    const after = await appliedIndex(leader);
    for (const node of nodes) await eventually(`${node.name} to apply the tick`, () => appliedIndex(node), (index) => index >= after, 60_000);
    const digestsAfter = await Promise.all(nodes.map((node) => call(node, "DEBUG", "DIGEST")));
    expect(new Set(digestsAfter).size).toBe(1);
  });
});
