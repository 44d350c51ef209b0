/**
 * MULTI / EXEC / DISCARD with Redis's replies, atomicity under concurrent writers, and the
 * transactional pipelines of real clients (redis-py's default pipeline(), ioredis and node-redis
 * multi()).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../src/clone/machine.ts";
import { type FinnNode, open } from "../src/finn.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

let node: FinnNode;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "finn-transactions-"));
  node = await open(dir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet" });
});

afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

async function session(commands: string[][]): Promise<unknown[]> {
  const connection = await RespConnection.connect(node.port);
  try {
    for (const command of commands) connection.command(...command);
    return (await connection.readMany(commands.length)).map(plain);
  } finally {
    connection.close();
  }
}

describe("MULTI / EXEC / DISCARD", () => {
  test("commands are queued, then EXEC answers all of them in one array", async () => {
    expect(await session([["MULTI"], ["SET", "t:a", "1"], ["INCR", "t:a"], ["GET", "t:a"], ["GET", "t:none"], ["EXEC"]])).toEqual([
      "OK",
      "QUEUED",
      "QUEUED",
      "QUEUED",
      "QUEUED",
      ["OK", 2, "2", null],
    ]);
  });

  test("a command that cannot be queued aborts EXEC; nothing of it is applied", async () => {
    expect(await session([["MULTI"], ["SET", "t:abort", "1"], ["NOSUCH"], ["SET", "t:x"], ["EXEC"], ["GET", "t:abort"]])).toEqual([
      "OK",
      "QUEUED",
      { error: "ERR unknown command 'NOSUCH'" },
      { error: "ERR wrong number of arguments for 'set' command" },
      { error: "EXECABORT Transaction discarded because of previous errors." },
      null,
    ]);
  });

  test("a command that fails when run gets its error in the array; the others run", async () => {
    expect(await session([["SET", "t:s", "text"], ["MULTI"], ["INCR", "t:s"], ["SET", "t:s2", "ok"], ["EXEC"]])).toEqual([
      "OK",
      "OK",
      "QUEUED",
      "QUEUED",
      [{ error: "ERR value is not an integer or out of range" }, "OK"],
    ]);
  });

  test("EXEC and DISCARD without MULTI, nested MULTI, DISCARD drops the queue", async () => {
    expect(await session([["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["SET", "t:d", "1"], ["DISCARD"], ["GET", "t:d"]])).toEqual([
      { error: "ERR EXEC without MULTI" },
      { error: "ERR DISCARD without MULTI" },
      "OK",
      { error: "ERR MULTI calls can not be nested" },
      "QUEUED",
      "OK",
      null,
    ]);
  });

  test("a transaction holds at most 100,000 commands, and at most the query buffer's limit of bytes: past either EXEC aborts", async () => {
    const many = [["MULTI"], ...Array.from({ length: 100_001 }, () => ["INCR", "t:many"]), ["EXEC"], ["GET", "t:many"]];
    const replies = await session(many);
    expect(replies.slice(0, 2)).toEqual(["OK", "QUEUED"]);
    expect(replies[100_001]).toEqual({ error: "ERR a transaction holds at most 100000 commands" });
    expect(replies.slice(-2)).toEqual([{ error: "EXECABORT Transaction discarded because of previous errors." }, null]);
    const smallDir = mkdtempSync(join(tmpdir(), "finn-transactions-bytes-"));
    const small = await open(smallDir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", limits: { queryBufferBytesMax: 64 * 1024 } });
    try {
      const connection = await RespConnection.connect(small.port);
      const value = "v".repeat(40 * 1024);
      for (const command of [["MULTI"], ["SET", "t:a", value], ["SET", "t:b", value], ["EXEC"], ["EXISTS", "t:a", "t:b"]]) connection.command(...command);
      expect((await connection.readMany(5)).map(plain)).toEqual([
        "OK",
        "QUEUED",
        { error: "ERR a transaction holds at most 65536 bytes of commands (client-query-buffer-limit)" },
        { error: "EXECABORT Transaction discarded because of previous errors." },
        0,
      ]);
      connection.close();
    } finally {
      await small.close();
      rmSync(smallDir, { recursive: true, force: true });
    }
  });

  test("EXEC's replies keep the commands' order when a read waits before replies made at once", async () => {
    // A read queued before any write waits for the transaction's confirmation; PING, ECHO and an
    // argument error are answered at once, and must not overtake it (found by a differential fuzz).
    expect(await session([["MULTI"], ["GET", "t:o"], ["PING"], ["ECHO", "x"], ["LRANGE", "t:o", "0", "x"], ["EXEC"]])).toEqual([
      "OK",
      "QUEUED",
      "QUEUED",
      "QUEUED",
      "QUEUED",
      [null, "PONG", "x", { error: "ERR value is not an integer or out of range" }],
    ]);
  });

  test("transaction commands refused inside MULTI abort it, as in Redis; UNWATCH is queued", async () => {
    expect(await session([["MULTI"], ["WATCH"], ["SET", "t:w", "1"], ["EXEC"], ["GET", "t:w"]])).toEqual([
      "OK",
      { error: "ERR wrong number of arguments for 'watch' command" },
      "QUEUED",
      { error: "EXECABORT Transaction discarded because of previous errors." },
      null,
    ]);
    expect(await session([["MULTI"], ["SET", "t:e", "1"], ["EXEC", "x"], ["EXEC"], ["GET", "t:e"]])).toEqual([
      "OK",
      "QUEUED",
      { error: "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command" },
      { error: "ERR EXEC without MULTI" },
      null,
    ]);
    expect(await session([["MULTI"], ["DISCARD", "x"], ["EXEC"]])).toEqual([
      "OK",
      { error: "ERR wrong number of arguments for 'discard' command" },
      { error: "EXECABORT Transaction discarded because of previous errors." },
    ]);
    expect(await session([["MULTI"], ["UNWATCH"], ["EXEC"]])).toEqual(["OK", "QUEUED", ["OK"]]);
  });

  test("a transaction sees one state while other clients write the same key", async () => {
    const writers = await Promise.all(Array.from({ length: 4 }, () => RespConnection.connect(node.port)));
    let running = true;
    const load = writers.map(async (writer) => {
      while (running) {
        for (let i = 0; i < 20; i++) writer.command("INCR", "t:shared");
        await writer.readMany(20);
      }
    });
    try {
      for (let round = 0; round < 50; round++) {
        const [, , , , , replies] = await session([["MULTI"], ["GET", "t:shared"], ["INCR", "t:shared"], ["INCR", "t:shared"], ["GET", "t:shared"], ["EXEC"]]);
        if (!Array.isArray(replies)) throw new Error(`EXEC answered ${JSON.stringify(replies)}`);
        const before = Number(replies[0] ?? 0);
        expect(replies[1]).toBe(before + 1);
        expect(replies[2]).toBe(before + 2);
        expect(replies[3]).toBe(String(before + 2));
      }
    } finally {
      running = false;
      await Promise.all(load);
      for (const writer of writers) writer.close();
    }
  });
});

describe("WATCH", () => {
  test("EXEC answers null and applies nothing when a watched key was written by another client", async () => {
    const watcher = await RespConnection.connect(node.port);
    try {
      expect(plain(await watcher.call("WATCH", "w:a", "w:b"))).toBe("OK");
      await session([["SET", "w:b", "other"]]);
      watcher.command("MULTI");
      watcher.command("SET", "w:a", "mine");
      watcher.command("EXEC");
      expect((await watcher.readMany(3)).map(plain)).toEqual(["OK", "QUEUED", null]);
      expect(await session([["GET", "w:a"], ["GET", "w:b"]])).toEqual([null, "other"]);
      // EXEC forgot the watch: the next transaction runs.
      watcher.command("MULTI");
      watcher.command("SET", "w:a", "mine");
      watcher.command("EXEC");
      expect((await watcher.readMany(3)).map(plain)).toEqual(["OK", "QUEUED", ["OK"]]);
    } finally {
      watcher.close();
    }
  });

  test("SORT ... STORE writes its destination only: a WATCH on the sorted key survives it, one on the destination does not", async () => {
    expect(
      await session([["RPUSH", "w:src", "2", "1"], ["WATCH", "w:src", "w:c5"], ["SORT", "w:src", "BY", "nosort", "GET", "#", "STORE", "w:sorted"], ["SORT", "w:src"], ["MULTI"], ["INCR", "w:c5"], ["EXEC"]]),
    ).toEqual([2, "OK", 2, ["1", "2"], "OK", "QUEUED", [1]]);
    expect(await session([["WATCH", "w:sorted"], ["SORT", "w:src", "LIMIT", "0", "1", "STORE", "w:other", "STORE", "w:sorted"], ["MULTI"], ["INCR", "w:c5"], ["EXEC"]])).toEqual([
      "OK",
      1,
      "OK",
      "QUEUED",
      null,
    ]);
    // An empty result deletes the destination: a write too.
    expect(await session([["WATCH", "w:sorted"], ["SORT", "w:none", "STORE", "w:sorted"], ["MULTI"], ["INCR", "w:c5"], ["EXEC"], ["EXISTS", "w:sorted"]])).toEqual([
      "OK",
      0,
      "OK",
      "QUEUED",
      null,
      0,
    ]);
  });

  test("EXEC runs when watched keys are untouched, or only other keys changed, or after UNWATCH", async () => {
    expect(await session([["WATCH", "w:c"], ["SET", "w:other", "1"], ["MULTI"], ["INCR", "w:c"], ["EXEC"]])).toEqual(["OK", "OK", "OK", "QUEUED", [1]]);
    // A write whose keys follow a count (LMPOP, ZMPOP) touches those keys only.
    expect(
      await session([["RPUSH", "w:list", "x", "y"], ["WATCH", "w:c2"], ["LMPOP", "1", "w:list", "LEFT"], ["ZMPOP", "1", "w:none", "MIN"], ["MULTI"], ["INCR", "w:c2"], ["EXEC"]]),
    ).toEqual([2, "OK", ["w:list", ["x"]], null, "OK", "QUEUED", [1]]);
    // GEORADIUS ... STORE writes its destination (found after the options), and nothing else:
    // not even its source, which it only reads.
    expect(
      await session([["GEOADD", "w:geo", "13.36", "38.11", "p"], ["WATCH", "w:geo"], ["GEORADIUS", "w:geo", "13.36", "38.11", "10", "km", "STORE", "w:near"], ["MULTI"], ["INCR", "w:c3"], ["EXEC"]]),
    ).toEqual([1, "OK", 1, "OK", "QUEUED", [1]]);
    expect(await session([["WATCH", "w:near"], ["GEORADIUS", "w:geo", "13.36", "38.11", "10", "km", "STOREDIST", "w:near"], ["MULTI"], ["INCR", "w:c3"], ["EXEC"]])).toEqual([
      "OK",
      1,
      "OK",
      "QUEUED",
      null,
    ]);
    expect(await session([["WATCH", "w:list"], ["LMPOP", "2", "w:none", "w:list", "RIGHT"], ["MULTI"], ["INCR", "w:c2"], ["EXEC"]])).toEqual([
      "OK",
      ["w:list", ["y"]],
      "OK",
      "QUEUED",
      null,
    ]);
    const watcher = await RespConnection.connect(node.port);
    try {
      expect(plain(await watcher.call("WATCH", "w:d"))).toBe("OK");
      expect(plain(await watcher.call("UNWATCH"))).toBe("OK");
      await session([["SET", "w:d", "changed"]]);
      watcher.command("MULTI");
      watcher.command("APPEND", "w:d", "!");
      watcher.command("EXEC");
      expect((await watcher.readMany(3)).map(plain)).toEqual(["OK", "QUEUED", [8]]);
    } finally {
      watcher.close();
    }
  });

  test("a FLUSHALL counts as a change to every key; DISCARD forgets the watch", async () => {
    const watcher = await RespConnection.connect(node.port);
    try {
      expect(plain(await watcher.call("WATCH", "w:e"))).toBe("OK");
      await session([["FLUSHALL"]]);
      watcher.command("MULTI");
      watcher.command("SET", "w:e", "1");
      watcher.command("EXEC");
      expect((await watcher.readMany(3)).map(plain)).toEqual(["OK", "QUEUED", null]);
      expect(plain(await watcher.call("WATCH", "w:e"))).toBe("OK");
      watcher.command("MULTI");
      watcher.command("DISCARD");
      expect((await watcher.readMany(2)).map(plain)).toEqual(["OK", "OK"]);
      await session([["SET", "w:e", "2"]]);
      watcher.command("MULTI");
      watcher.command("SET", "w:e", "3");
      watcher.command("EXEC");
      expect((await watcher.readMany(3)).map(plain)).toEqual(["OK", "QUEUED", ["OK"]]);
    } finally {
      watcher.close();
    }
  });

  test("WATCH inside MULTI is refused, and the transaction still runs (as in Redis 7)", async () => {
    expect(await session([["MULTI"], ["WATCH", "w:f"], ["SET", "w:f", "1"], ["EXEC"], ["GET", "w:f"]])).toEqual([
      "OK",
      { error: "ERR WATCH inside MULTI is not allowed" },
      "QUEUED",
      ["OK"],
      "1",
    ]);
  });

  test("optimistic increments with WATCH/GET/MULTI/SET/EXEC lose no update under contention", async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => RespConnection.connect(node.port)));
    let committed = 0;
    try {
      await Promise.all(
        clients.map(async (client) => {
          for (let done = 0; done < 15; ) {
            expect(plain(await client.call("WATCH", "w:counter"))).toBe("OK");
            const value = Number(plain(await client.call("GET", "w:counter")) ?? 0);
            client.command("MULTI");
            client.command("SET", "w:counter", String(value + 1));
            client.command("EXEC");
            const [, , result] = (await client.readMany(3)).map(plain);
            if (result !== null) {
              committed++;
              done++;
            }
          }
        }),
      );
    } finally {
      for (const client of clients) client.close();
    }
    expect(committed).toBe(90);
    // Every committed increment is in the value: none was lost to a concurrent one (aborted
    // attempts were retried).
    expect(await session([["GET", "w:counter"]])).toEqual(["90"]);
  });
});

describe("real clients' transactions", () => {
  test("redis-py's default pipeline() (MULTI/EXEC)", async () => {
    const script = [
      "import redis, sys",
      "c = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))",
      "p = c.pipeline()",
      "p.set('t:py', 1); p.incr('t:py'); p.get('t:py')",
      "print(p.execute())",
    ].join("\n");
    // Not spawnSync: the server runs in this process and must keep serving meanwhile.
    const run = Bun.spawn(["/usr/bin/python3", "-c", script, String(node.port)], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text()]);
    await run.exited;
    expect(stderr).toBe("");
    expect(stdout.trim()).toBe("[True, 2, b'2']");
  });

  test("ioredis multi()", async () => {
    const { default: Redis } = await import("ioredis");
    const client = new Redis(node.port, "127.0.0.1");
    try {
      expect(await client.multi().set("t:io", "a").append("t:io", "b").get("t:io").exec()).toEqual([
        [null, "OK"],
        [null, 2],
        [null, "ab"],
      ]);
    } finally {
      client.disconnect();
    }
  });

  test("node-redis multi()", async () => {
    const { createClient } = await import("redis");
    const client = createClient({ socket: { host: "127.0.0.1", port: node.port } });
    await client.connect();
    try {
      const replies: unknown = await client.multi().set("t:nr", "x").append("t:nr", "y").get("t:nr").exec();
      expect(replies).toEqual(["OK", 2, "xy"]);
    } finally {
      await client.quit();
    }
  });
});
