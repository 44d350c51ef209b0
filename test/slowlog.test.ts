/**
 * SLOWLOG against real clone processes (src/server/slowlog.ts): with a threshold of 0 every timed
 * command is logged, newest first, in Redis's entry shape, with its client's address and name; a
 * read is timed while dispatched and a write while applied; commands flagged fast (and SET) are
 * not timed; arguments are cut as Redis cuts them; LEN, RESET, GET's count, the errors, HELP and
 * CONFIG GET; the length bound; a negative threshold logs nothing; a follower logs the writes it
 * applies; with an admin password only the admin user may read it.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { call, CloneProcess } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { callPort, plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

let node: CloneProcess;
const cluster = new InProcessNodes("finn-slowlog-");

beforeAll(async () => {
  node = await CloneProcess.start({ name: "slowlog", extraArguments: ["-slowlog-log-slower-than", "0", "-slowlog-max-len", "50"] });
});

afterAll(async () => {
  await node?.cleanup();
});

type Entry = [number, number, number, string[], string, string];

async function entries(target: CloneProcess, count = "-1"): Promise<Entry[]> {
  return (await call(target, "SLOWLOG", "GET", count)) as Entry[];
}

describe("SLOWLOG", () => {
  test("logs timed commands newest first, with the client's address and name; fast ones and SET are not timed", async () => {
    await call(node, "SLOWLOG", "RESET");
    const client = await RespConnection.connect(node.port);
    try {
      await client.call("CLIENT", "SETNAME", "slow-one");
      const address = /addr=(\S+)/.exec(String(plain(await client.call("CLIENT", "INFO"))))![1]!;
      const before = Math.floor(Date.now() / 1000);
      await client.call("SET", "k", "v");
      await client.call("GET", "k");
      await client.call("INCR", "n");
      await client.call("KEYS", "*");
      await client.call("DEL", "k", "n");
      const logged = (await entries(node)).filter(([, , , args]) => args[0] !== "SLOWLOG" && args[0] !== "CLIENT");
      expect(logged.map(([, , , args]) => args)).toEqual([
        ["DEL", "k", "n"],
        ["KEYS", "*"],
      ]);
      const [del, keys] = logged as [Entry, Entry];
      expect(del[0]).toBeGreaterThan(keys[0]);
      for (const [, time, micros, , from, name] of logged) {
        expect(time).toBeGreaterThanOrEqual(before);
        expect(time).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
        expect(micros).toBeGreaterThanOrEqual(0);
        expect(from).toBe(address);
        expect(name).toBe("slow-one");
      }
    } finally {
      client.close();
    }
  });

  test("cuts arguments as Redis does: 32 at most, 128 bytes of each", async () => {
    await call(node, "SLOWLOG", "RESET");
    const keys = Array.from({ length: 40 }, (_, i) => `key${i}`);
    await call(node, "DEL", "x".repeat(200), ...keys);
    const [entry] = (await entries(node, "1")) as [Entry];
    const args = entry[3];
    expect(args.length).toBe(32);
    expect(args[0]).toBe("DEL");
    expect(args[1]).toBe(`${"x".repeat(128)}... (72 more bytes)`);
    expect(args[30]).toBe("key28");
    expect(args[31]).toBe("... (11 more arguments)");
  });

  test("LEN, RESET, GET's count, the length bound, errors, HELP and CONFIG GET", async () => {
    await call(node, "SLOWLOG", "RESET");
    // SLOWLOG's own GET is logged once it has run, as Redis logs it.
    expect(await call(node, "SLOWLOG", "LEN")).toBe(1);
    // DEL of a missing key is answered without the log, and timed as it is answered.
    for (let i = 0; i < 60; i++) await call(node, "DEL", `d${i}`);
    expect(await call(node, "SLOWLOG", "LEN")).toBe(50);
    expect((await entries(node)).length).toBe(50);
    // The newest first (the SLOWLOG commands just sent come before them).
    expect((await entries(node, "5")).map(([, , , args]) => args.join(" "))).toEqual(["SLOWLOG GET -1", "SLOWLOG LEN", "DEL d59", "DEL d58", "DEL d57"]);
    expect(((await call(node, "SLOWLOG", "GET")) as Entry[]).length).toBe(10);
    expect(await call(node, "SLOWLOG", "GET", "-2")).toEqual({ error: "ERR count should be greater than or equal to -1" });
    expect(await call(node, "SLOWLOG", "GET", "x")).toEqual({ error: "ERR value is not an integer or out of range" });
    expect(await call(node, "SLOWLOG", "LEN", "x")).toEqual({ error: "ERR wrong number of arguments for 'slowlog|len' command" });
    expect(await call(node, "SLOWLOG", "NOPE")).toEqual({ error: "ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP." });
    expect(((await call(node, "SLOWLOG", "HELP")) as string[])[1]).toBe("GET [<count>]");
    expect(await call(node, "CONFIG", "GET", "slowlog-*")).toEqual(["slowlog-log-slower-than", "0", "slowlog-max-len", "50"]);
    expect(await call(node, "SLOWLOG", "RESET")).toBe("OK");
    expect(await call(node, "SLOWLOG", "LEN")).toBe(1);
  });

  test("a negative threshold logs nothing; the default logs what takes 10 ms or more", async () => {
    const off = await CloneProcess.start({ name: "slowlog-off", extraArguments: ["-slowlog-log-slower-than", "-1"] });
    const defaults = await CloneProcess.start({ name: "slowlog-default" });
    try {
      for (const target of [off, defaults]) {
        await call(target, "DEL", "a");
        await call(target, "KEYS", "*");
      }
      expect(await call(off, "SLOWLOG", "LEN")).toBe(0);
      expect(await call(off, "CONFIG", "GET", "slowlog-log-slower-than")).toEqual(["slowlog-log-slower-than", "-1"]);
      expect(await call(defaults, "CONFIG", "GET", "slowlog-*")).toEqual(["slowlog-log-slower-than", "10000", "slowlog-max-len", "128"]);
      // Whatever the default logged took at least 10 ms.
      for (const [, , micros] of await entries(defaults)) expect(micros).toBeGreaterThanOrEqual(10_000);
    } finally {
      await Promise.all([off.cleanup(), defaults.cleanup()]);
    }
  });

  test("a follower logs the writes it applies, with no client", async () => {
    const options = { logLevel: "warning" as const, consistency: "low" as const, limits: { slowlogSlowerThanMicros: 0 } };
    const leader = await cluster.open(new Clone(), options);
    const follower = await cluster.open(new Clone(), options, leader.address);
    await eventually("the follower to be a voter", () => callPort(leader.port, "RAFTPEERS"), (peers) => Array.isArray(peers) && peers.includes("Voter") && !peers.includes("Learner"));
    await writeEach(leader.port, [["RPUSH", "list", "a"], ["DEL", "list"]]);
    const applied = await eventually(
      "the follower to log the DEL it applied",
      async () => ((await callPort(follower.port, "SLOWLOG", "GET", "-1")) as Entry[]).filter(([, , , args]) => args[0] === "DEL"),
      (found) => found.length === 1,
    );
    expect(applied[0]!.slice(3)).toEqual([["DEL", "list"], "", ""]);
    // On the leader, the same write is its client's.
    const [own] = ((await callPort(leader.port, "SLOWLOG", "GET", "-1")) as Entry[]).filter(([, , , args]) => args[0] === "DEL");
    expect(own![4]).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test("with an admin password, only the admin user may read it", async () => {
    const secured = await CloneProcess.start({ name: "slowlog-admin", extraArguments: ["-auth", "client-pass", "-admin-auth", "admin-pass"] });
    const connection = await RespConnection.connect(secured.port);
    try {
      expect(plain(await connection.call("AUTH", "client-pass"))).toBe("OK");
      expect(plain(await connection.call("SLOWLOG", "GET"))).toEqual({ error: "NOPERM this command needs the admin user: AUTH admin <password>" });
      expect(plain(await connection.call("AUTH", "admin", "admin-pass"))).toBe("OK");
      expect(plain(await connection.call("SLOWLOG", "LEN"))).toEqual(expect.any(Number));
    } finally {
      connection.close();
      await secured.cleanup();
    }
  });
});
