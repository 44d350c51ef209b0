/**
 * The clone's data types through real clients against a real clone process: node-redis (RESP3
 * and RESP2), ioredis, redis-py, redis-cli's argument hints from COMMAND DOCS, and
 * redis-benchmark's whole default suite (no -t), which must finish with no error.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Redis from "ioredis";
import { createClient } from "redis";
import { call, CloneProcess, repositoryRoot } from "./helpers/clone-process.ts";
import { RecordingProxy } from "./helpers/resp-proxy.ts";
import { errorsIn } from "./helpers/resp-proxy.ts";

setDefaultTimeout(120_000);

let node: CloneProcess;

beforeAll(async () => {
  node = await CloneProcess.start({ name: "clone-types-clients" });
});

afterAll(async () => {
  await node?.cleanup();
});

async function withNodeLog<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof Error) error.message += `\n--- clone log ---\n${node.log()}`;
    throw error;
  }
}

async function run(argv: string[]): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const child = Bun.spawn(argv, { cwd: repositoryRoot, stdout: "pipe", stderr: "pipe", timeout: 110_000, killSignal: "SIGKILL" });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  return { exitCode: child.exitCode, stdout, stderr };
}

describe("redis-benchmark", () => {
  test("the whole default suite (no -t) completes with no error", () =>
    withNodeLog(async () => {
      // redis-benchmark 7 exits at the first error reply (and says so), so a clean exit means none.
      const result = await run(["redis-benchmark", "-h", "127.0.0.1", "-p", String(node.port), "-c", "20", "-n", "3000", "--csv"]);
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.exitCode).toBe(0);
      expect(output).not.toMatch(/error|warning|could not|unknown|WRONGTYPE|ERR/i);
      const tests = result.stdout.trim().split("\n").slice(1).map((line) => line.split(",")[0]?.replace(/"/g, ""));
      // redis-benchmark 7.0's default suite; 7.2 added XADD (run below as a custom command).
      for (const name of ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100 (first 100 elements)", "LRANGE_600 (first 600 elements)", "MSET (10 keys)"]) {
        expect(tests).toContain(name);
      }
      // The keys the suite wrote hold the right types.
      expect(await call(node, "TYPE", "mylist")).toBe("list");
      expect(await call(node, "TYPE", "myhash")).toBe("hash");
      expect(await call(node, "TYPE", "counter:__rand_int__")).toBe("string");
      expect(Number(await call(node, "LLEN", "mylist"))).toBeGreaterThanOrEqual(600);
      // Its values are 3 bytes (-d 3).
      expect(((await call(node, "LRANGE", "mylist", "0", "1")) as string[]).map((value) => value.length)).toEqual([3, 3]);
    }));

  test("XADD (redis-benchmark 7.2's XADD test, as a custom command) completes with no error", () =>
    withNodeLog(async () => {
      const result = await run(["redis-benchmark", "-h", "127.0.0.1", "-p", String(node.port), "-c", "20", "-n", "2000", "--csv", "XADD", "bench:stream", "*", "myfield", "xxx"]);
      expect(result.exitCode).toBe(0);
      expect(`${result.stdout}\n${result.stderr}`).not.toMatch(/error|ERR/i);
      expect(await call(node, "XLEN", "bench:stream")).toBe(2000);
    }));
});

describe("redis-cli", () => {
  test("COMMAND DOCS describes the new commands (redis-cli builds its hints from it)", () =>
    withNodeLog(async () => {
      const docs = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(node.port), "COMMAND", "DOCS", "zadd", "lpop", "scan"]);
      expect(docs.stdout).toContain("Adds one or more members to a sorted set");
      expect(docs.stdout).toContain("sorted-set");
      expect(docs.stdout).toMatch(/count/);
      const info = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(node.port), "COMMAND", "INFO", "hset"]);
      expect(info.stdout).toMatch(/^hset\n-4\n/);
    }));
});

describe("node-redis", () => {
  for (const resp of [3, 2] as const) {
    test(`RESP${resp}: lists, sets, hashes, sorted sets, streams, TYPE, RENAME, SCAN`, () =>
      withNodeLog(async () => {
        const proxy = await RecordingProxy.start(node.port);
        const socket = { host: "127.0.0.1", port: proxy.port };
        // One static type for both (the RESP3 client's replies differ only in types these asserts allow).
        const client = (resp === 3 ? createClient({ socket, RESP: 3 }) : createClient({ socket, RESP: 2 })) as unknown as ReturnType<typeof createClient>;
        client.on("error", (error: unknown) => console.error("node-redis error:", error));
        await client.connect();
        const p = `nr${resp}:`;
        try {
          expect(await client.rPush(`${p}l`, ["a", "b", "c"])).toBe(3);
          expect(await client.lPush(`${p}l`, "z")).toBe(4);
          expect(await client.lRange(`${p}l`, 0, -1)).toEqual(["z", "a", "b", "c"]);
          expect(await client.lPop(`${p}l`)).toBe("z");
          expect(await client.lPopCount(`${p}l`, 2)).toEqual(["a", "b"]);
          expect(await client.rPop(`${p}l`)).toBe("c");
          expect(await client.exists(`${p}l`)).toBe(0);

          expect(await client.sAdd(`${p}s`, ["x", "y", "z"])).toBe(3);
          expect([...(await client.sMembers(`${p}s`))].sort()).toEqual(["x", "y", "z"]);
          expect(Number(await client.sIsMember(`${p}s`, "y"))).toBe(1);
          const popped = await client.sPop(`${p}s`);
          expect(["x", "y", "z"]).toContain(popped as string);
          expect(await client.sCard(`${p}s`)).toBe(2);

          expect(await client.hSet(`${p}h`, { f1: "v1", f2: "v2" })).toBe(2);
          expect({ ...(await client.hGetAll(`${p}h`)) }).toEqual({ f1: "v1", f2: "v2" });
          expect(await client.hIncrBy(`${p}h`, "n", 5)).toBe(5);
          expect(await client.hmGet(`${p}h`, ["f1", "nope"])).toEqual(["v1", null]);

          expect(await client.zAdd(`${p}z`, [{ score: 2, value: "b" }, { score: 1, value: "a" }, { score: 3.5, value: "c" }])).toBe(3);
          expect(await client.zRangeWithScores(`${p}z`, 0, -1)).toEqual([{ value: "a", score: 1 }, { value: "b", score: 2 }, { value: "c", score: 3.5 }]);
          expect(await client.zScore(`${p}z`, "c")).toBe(3.5);
          expect(await client.zRangeByScore(`${p}z`, "(1", "+inf")).toEqual(["b", "c"]);
          expect(await client.zPopMin(`${p}z`)).toEqual({ value: "a", score: 1 });

          const id = await client.xAdd(`${p}x`, "*", { field: "value" });
          expect(id).toMatch(/^\d+-\d+$/);
          expect(await client.xLen(`${p}x`)).toBe(1);
          // (JSON drops the null prototype of node-redis's message objects.)
          expect(JSON.parse(JSON.stringify(await client.xRange(`${p}x`, "-", "+")))).toEqual([{ id, message: { field: "value" } }]);

          expect(await client.type(`${p}z`)).toBe("zset");
          expect(await client.rename(`${p}z`, `${p}z2`)).toBe("OK");
          expect(await client.type(`${p}z`)).toBe("none");

          const scanned: string[] = [];
          for await (const keys of client.scanIterator({ MATCH: `${p}*`, COUNT: 2 })) scanned.push(...keys);
          expect(scanned.sort()).toEqual([`${p}h`, `${p}s`, `${p}x`, `${p}z2`]);
          await expect(client.get(`${p}h`)).rejects.toThrow(/WRONGTYPE/);
        } finally {
          await client.close();
          await proxy.close();
        }
        const errors = proxy.connections.flatMap((connection) => connection.replies().flatMap(errorsIn));
        expect(errors.filter((message) => !/MAINT_NOTIFICATIONS/.test(message))).toEqual(["WRONGTYPE Operation against a key holding the wrong kind of value"]);
      }));
  }
});

describe("ioredis", () => {
  test("lists, sets, hashes, sorted sets, streams, TYPE, RENAME, scanStream", () =>
    withNodeLog(async () => {
      const client = new Redis(node.port, "127.0.0.1", { lazyConnect: true });
      client.on("error", (error: unknown) => console.error("ioredis error:", error));
      await client.connect();
      const p = "io:";
      try {
        expect(await client.rpush(`${p}l`, "a", "b", "c")).toBe(3);
        expect(await client.lrange(`${p}l`, 0, -1)).toEqual(["a", "b", "c"]);
        expect(await client.lpop(`${p}l`, 2)).toEqual(["a", "b"]);
        expect(await client.llen(`${p}l`)).toBe(1);
        expect(await client.sadd(`${p}s`, "x", "y")).toBe(2);
        expect((await client.smembers(`${p}s`)).sort()).toEqual(["x", "y"]);
        expect((await client.spop(`${p}s`, 5)).sort()).toEqual(["x", "y"]);
        expect(await client.exists(`${p}s`)).toBe(0);
        expect(await client.hset(`${p}h`, { a: "1", b: "2" })).toBe(2);
        expect(await client.hgetall(`${p}h`)).toEqual({ a: "1", b: "2" });
        expect(await client.hdel(`${p}h`, "a")).toBe(1);
        expect(await client.zadd(`${p}z`, 10, "ten", 1, "one", 5, "five")).toBe(3);
        expect(await client.zrange(`${p}z`, "0", "-1", "WITHSCORES")).toEqual(["one", "1", "five", "5", "ten", "10"]);
        expect(await client.zrangebyscore(`${p}z`, "(1", "10", "LIMIT", 0, 1)).toEqual(["five"]);
        expect(await client.zadd(`${p}z`, "INCR", "2.5", "one")).toBe("3.5");
        expect(await client.zpopmin(`${p}z`, 2)).toEqual(["one", "3.5", "five", "5"]);
        expect(await client.zcard(`${p}z`)).toBe(1);
        const id = await client.xadd(`${p}x`, "*", "f", "v");
        expect(await client.xrange(`${p}x`, "-", "+")).toEqual([[id as string, ["f", "v"]]]);
        expect(await client.type(`${p}x`)).toBe("stream");
        expect(await client.rename(`${p}l`, `${p}l2`)).toBe("OK");
        const keys = await new Promise<string[]>((resolve, reject) => {
          const found: string[] = [];
          const stream = client.scanStream({ match: `${p}*`, count: 1 });
          stream.on("data", (batch: string[]) => found.push(...batch));
          stream.on("end", () => resolve(found));
          stream.on("error", reject);
        });
        expect(keys.sort()).toEqual([`${p}h`, `${p}l2`, `${p}x`, `${p}z`]);
        await expect(client.lpush(`${p}h`, "x")).rejects.toThrow(/WRONGTYPE/);
      } finally {
        client.disconnect();
      }
    }));
});

describe("redis-py", () => {
  test("lists, sets, hashes, sorted sets, streams, TYPE, RENAME, scan_iter, and a pipeline", () =>
    withNodeLog(async () => {
      const script = `
import json, sys, redis
c = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True, socket_timeout=30)
p = "py:"
out = {}
out["rpush"] = c.rpush(p + "l", "a", "b", "c")
out["lrange"] = c.lrange(p + "l", 0, -1)
out["lpop2"] = c.lpop(p + "l", 2)
out["lindex"] = c.lindex(p + "l", 0)
out["sadd"] = c.sadd(p + "s", "x", "y", "z")
out["smembers"] = sorted(c.smembers(p + "s"))
out["sismember"] = c.sismember(p + "s", "x")
out["spop"] = c.spop(p + "s") in ("x", "y", "z")
out["scard"] = c.scard(p + "s")
out["hset"] = c.hset(p + "h", mapping={"a": "1", "b": "2"})
out["hgetall"] = c.hgetall(p + "h")
out["hincrby"] = c.hincrby(p + "h", "a", 41)
out["zadd"] = c.zadd(p + "z", {"one": 1, "two": 2, "half": 0.5})
out["zrange"] = c.zrange(p + "z", 0, -1, withscores=True)
out["zrangebyscore"] = c.zrangebyscore(p + "z", "(0.5", "+inf", start=0, num=1)
out["zscore"] = c.zscore(p + "z", "two")
out["zincrby"] = c.zincrby(p + "z", 1.5, "half")
out["zpopmin"] = c.zpopmin(p + "z")
out["xadd"] = c.xadd(p + "x", {"f": "v"}, id="5-1")
out["xrange"] = c.xrange(p + "x")
out["type"] = [c.type(p + k) for k in ("l", "s", "h", "z", "x", "none")]
out["rename"] = c.rename(p + "h", p + "h2")
out["scan"] = sorted(c.scan_iter(match=p + "*", count=2))
pipe = c.pipeline(transaction=True)
pipe.lpush(p + "tl", "1").sadd(p + "ts", "m").zadd(p + "tz", {"m": 1}).hset(p + "th", "f", "v").type(p + "tz")
out["pipeline"] = pipe.execute()
try:
    c.get(p + "h2")
    out["wrongtype"] = None
except redis.ResponseError as error:
    out["wrongtype"] = str(error)
print(json.dumps(out))
`;
      const result = await run(["/usr/bin/python3", "-c", script, String(node.port)]);
      expect(result.stderr).toBe("");
      expect(JSON.parse(result.stdout)).toEqual({
        rpush: 3,
        lrange: ["a", "b", "c"],
        lpop2: ["a", "b"],
        lindex: "c",
        sadd: 3,
        smembers: ["x", "y", "z"],
        sismember: true,
        spop: true,
        scard: 2,
        hset: 2,
        hgetall: { a: "1", b: "2" },
        hincrby: 42,
        zadd: 3,
        zrange: [["half", 0.5], ["one", 1], ["two", 2]],
        zrangebyscore: ["one"],
        zscore: 2,
        zincrby: 2,
        zpopmin: [["one", 1]],
        xadd: "5-1",
        xrange: [["5-1", { f: "v" }]],
        type: ["list", "set", "hash", "zset", "stream", "none"],
        rename: true,
        scan: ["py:h2", "py:l", "py:s", "py:x", "py:z"],
        pipeline: [1, 1, 1, 1, "zset"],
        wrongtype: "WRONGTYPE Operation against a key holding the wrong kind of value",
      });
    }));
});
