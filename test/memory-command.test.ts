/**
 * MEMORY STATS, DOCTOR, PURGE and MALLOC-STATS (src/server/commands/memory.ts) against a real
 * clone process: STATS has redis-server's fields in redis-server's order (compared with a real one)
 * in RESP2 and RESP3, with figures that agree with DBSIZE and INFO; PURGE gives back what deleted
 * values held (the admin user's, when there is one); DOCTOR judges an empty node, then a node whose peak is past; the errors and
 * arities are Redis's; a transaction runs them; redis-py's helpers parse the replies.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { call, CloneProcess, repositoryRoot } from "./helpers/clone-process.ts";
import { startRedisServer } from "./helpers/redis-diff.ts";
import { purge } from "../src/server/commands/memory.ts";
import { callPort, plain, RespConnection, type RespValue } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

let node: CloneProcess;

beforeAll(async () => {
  node = await CloneProcess.start({ name: "memory-command" });
});

afterAll(async () => {
  await node?.cleanup();
});

/** MEMORY STATS as name -> value, in the order the server sent them (RESP2 pairs). */
async function stats(port: number): Promise<Map<string, unknown>> {
  const reply = (await callPort(port, "MEMORY", "STATS")) as unknown[];
  const fields = new Map<string, unknown>();
  for (let i = 0; i < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  return fields;
}

const number = (fields: Map<string, unknown>, name: string): number => Number(fields.get(name));

/** A real redis-server with one key, for its MEMORY STATS field names. */
async function redisFieldNames(): Promise<string[]> {
  const redis = await startRedisServer();
  try {
    await callPort(redis.port, "SET", "k", "v");
    const reply = (await callPort(redis.port, "MEMORY", "STATS")) as unknown[];
    return reply.filter((_, i) => i % 2 === 0).map(String);
  } finally {
    await redis.stop();
  }
}

describe("MEMORY STATS", () => {
  test("has redis-server's fields in its order, with db.0 while keys exist", async () => {
    await call(node, "FLUSHALL");
    const empty = await stats(node.port);
    expect(empty.has("db.0")).toBe(false);
    expect(number(empty, "keys.count")).toBe(0);
    await call(node, "SET", "k", "v");
    const fields = await stats(node.port);
    expect([...fields.keys()]).toEqual(await redisFieldNames());
    expect(fields.get("db.0")).toEqual(["overhead.hashtable.main", expect.any(Number), "overhead.hashtable.expires", 0]);
  });

  test("figures agree with DBSIZE, INFO and each other", async () => {
    await call(node, "FLUSHALL");
    await call(node, "MSET", "a", "1", "b", "2", "c", "3");
    await call(node, "EXPIRE", "a", "1000");
    const fields = await stats(node.port);
    expect(number(fields, "keys.count")).toBe(3);
    expect(fields.get("db.0")).toEqual(["overhead.hashtable.main", expect.any(Number), "overhead.hashtable.expires", expect.any(Number)]);
    const [, main, , expires] = fields.get("db.0") as number[];
    expect(main).toBeGreaterThan(expires!);
    expect(expires).toBeGreaterThan(0);
    const total = number(fields, "total.allocated");
    expect(total).toBeGreaterThan(0);
    expect(number(fields, "peak.allocated")).toBeGreaterThanOrEqual(total);
    expect(number(fields, "startup.allocated")).toBeGreaterThan(0);
    expect(number(fields, "overhead.total")).toBeGreaterThanOrEqual(number(fields, "startup.allocated"));
    expect(number(fields, "allocator.allocated")).toBe(total);
    expect(number(fields, "allocator.active")).toBeGreaterThan(0);
    expect(number(fields, "allocator.resident")).toBeGreaterThan(0);
    // A ratio is a double (a bulk string in RESP2), the rest integers.
    expect(Number.isFinite(Number(fields.get("fragmentation")))).toBe(true);
    expect(number(fields, "fragmentation.bytes")).toBe(number(fields, "allocator.resident") - total);
    const info = String(await call(node, "INFO", "memory"));
    expect(Number(/used_memory_rss:(\d+)/.exec(info)?.[1])).toBeGreaterThan(0);
  });

  test("is a map in RESP3, with doubles as doubles", async () => {
    await call(node, "SET", "k", "v");
    const connection = await RespConnection.connect(node.port);
    try {
      await connection.call("HELLO", "3");
      const reply = (await connection.call("MEMORY", "STATS")) as Extract<RespValue, { type: "map" }>;
      expect(reply.type).toBe("map");
      const byName = new Map(reply.value.map(([name, value]) => [String(plain(name)), value]));
      expect(byName.get("keys.count")?.type).toBe("integer");
      expect(byName.get("fragmentation")?.type).toBe("double");
      expect(byName.get("db.0")?.type).toBe("map");
    } finally {
      connection.close();
    }
  });
});

describe("MEMORY PURGE and DOCTOR", () => {
  test("DOCTOR finds an empty node empty; PURGE gives back what deleted values held; DOCTOR then notes the peak", async () => {
    // A node of its own: the other tests' traffic does not move its figures.
    // No snapshot while it runs: one being written holds the values it captured until it is done.
    const own = await CloneProcess.start({ name: "memory-purge", extraArguments: ["-snapshot-bytes", String(1 << 30)] });
    try {
      expect(await call(own, "MEMORY", "DOCTOR")).toStartWith("Hi Sam, this instance is empty or is using very little memory");
      // 64 values of 1 MB: held outside the engine's heap, as a user's large values are.
      const value = "x".repeat(1024 * 1024);
      const connection = await RespConnection.connect(own.port);
      for (let i = 0; i < 64; i++) expect(plain(await connection.call("SET", `big:${i}`, value))).toBe("OK");
      const loaded = number(await stats(own.port), "total.allocated");
      expect(plain(await connection.call("FLUSHALL"))).toBe("OK");
      expect(plain(await connection.call("MEMORY", "PURGE"))).toBe("OK");
      connection.close();
      const purged = await stats(own.port);
      // The values are gone from what the engine holds (the log keeps their entries on disk).
      expect(number(purged, "total.allocated")).toBeLessThan(loaded - 48 * 1024 * 1024);
      expect(number(purged, "keys.count")).toBe(0);
      const report = String(await call(own, "MEMORY", "DOCTOR"));
      expect(report).toContain("Peak memory");
      expect(report).toEndWith("I want to help you.\n");
    } finally {
      await own.cleanup();
    }
  });
});

describe("MEMORY PURGE in a loop", () => {
  test("collects at most once in five of its own lengths, so a client sending it in a loop cannot hold the loop", async () => {
    const start = performance.now();
    expect(purge()).toBe(true);
    const took = performance.now() - start;
    expect(purge()).toBe(false);
    await Bun.sleep(4 * took + 20);
    expect(purge()).toBe(true);
  });
});

describe("MEMORY's node subcommands", () => {
  test("with an admin password, PURGE is the admin user's (STATS is anyone's)", async () => {
    const secured = await CloneProcess.start({ name: "memory-admin", extraArguments: ["-auth", "client-pass", "-admin-auth", "admin-pass"] });
    const connection = await RespConnection.connect(secured.port);
    try {
      expect(plain(await connection.call("AUTH", "client-pass"))).toBe("OK");
      expect(plain(await connection.call("MEMORY", "PURGE"))).toEqual({ error: "NOPERM this command needs the admin user: AUTH admin <password>" });
      expect((plain(await connection.call("MEMORY", "STATS")) as unknown[])[0]).toBe("peak.allocated");
      expect(plain(await connection.call("AUTH", "admin", "admin-pass"))).toBe("OK");
      expect(plain(await connection.call("MEMORY", "PURGE"))).toBe("OK");
    } finally {
      connection.close();
      await secured.cleanup();
    }
  });

  test("MALLOC-STATS reports the engine and the allocator's settings", async () => {
    const report = String(await call(node, "MEMORY", "MALLOC-STATS"));
    expect(report).toStartWith("___ Begin Bun memory statistics ___\n");
    expect(report).toContain("MIMALLOC_PURGE_DELAY=10000");
    expect(report).toMatch(/\nheap\.used: \d+\n/);
    expect(report).toEndWith("___ End Bun memory statistics ___\n");
  });

  test("arity errors name the subcommand; HELP lists every subcommand; USAGE stays the machine's", async () => {
    for (const sub of ["STATS", "DOCTOR", "PURGE", "MALLOC-STATS", "stats"]) {
      expect(await call(node, "MEMORY", sub, "extra")).toEqual({ error: `ERR wrong number of arguments for 'memory|${sub.toLowerCase()}' command` });
    }
    const help = (await call(node, "MEMORY", "HELP")) as string[];
    expect(help.slice(1).filter((line) => /^[A-Z]/.test(line))).toEqual(["DOCTOR", "MALLOC-STATS", "PURGE", "STATS", "USAGE <key> [SAMPLES <count>]", "HELP"]);
    await call(node, "SET", "k", "v");
    expect(Number(await call(node, "MEMORY", "USAGE", "k"))).toBeGreaterThan(0);
    expect(await call(node, "MEMORY", "NOPE")).toEqual({ error: "ERR unknown subcommand 'NOPE'. Try MEMORY HELP." });
  });

  test("they run inside a transaction", async () => {
    const connection = await RespConnection.connect(node.port);
    try {
      expect(plain(await connection.call("MULTI"))).toBe("OK");
      expect(plain(await connection.call("MEMORY", "STATS"))).toBe("QUEUED");
      expect(plain(await connection.call("MEMORY", "PURGE"))).toBe("QUEUED");
      const [statsReply, purged] = plain(await connection.call("EXEC")) as [unknown[], unknown];
      expect(statsReply[0]).toBe("peak.allocated");
      expect(purged).toBe("OK");
    } finally {
      connection.close();
    }
  });

  test("redis-py's memory_stats and memory_purge parse the replies (its memory_doctor is left out on purpose)", async () => {
    const script = `
import json, sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
r.set("py", "v")
stats = r.memory_stats()
print(json.dumps({"keys": stats["keys.count"], "db0": sorted(stats["db.0"].keys()), "purge": r.memory_purge(), "doctor": type(r.execute_command("MEMORY DOCTOR")).__name__}))
`;
    const child = Bun.spawn(["/usr/bin/python3", "-c", script, String(node.port)], { cwd: repositoryRoot, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    await child.exited;
    expect(stderr).toBe("");
    const result = JSON.parse(stdout);
    expect(result.keys).toBeGreaterThan(0);
    expect(result.db0).toEqual(["overhead.hashtable.expires", "overhead.hashtable.main"]);
    expect(result.purge).toBe(true);
    expect(result.doctor).toBe("str");
  });
});
