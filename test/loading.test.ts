/**
 * A node replaying a long log at start answers -LOADING meanwhile, as Redis does while it loads,
 * rather than leave its clients unanswered, and serves nothing from a state that has not caught
 * up. (Found by an operator probe: the first command hung for 3–7 s while the replay held the
 * event loop.)
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const started: CloneProcess[] = [];
afterAll(async () => {
  await cleanupAll(started);
});

test("a node replaying its log answers -LOADING meanwhile, then the data it had", async () => {
  // No snapshot: the restart replays the whole log.
  const node = await CloneProcess.start({ name: "loading", extraArguments: ["-snapshot-entries", "100000000", "-snapshot-bytes", "100000000000"] });
  started.push(node);
  const bench = Bun.spawnSync(["redis-benchmark", "-p", String(node.port), "-t", "set", "-n", "400000", "-P", "16", "-c", "20", "-r", "100000", "-q"]);
  expect(bench.exitCode).toBe(0);
  expect(await call(node, "SET", "marker", "last")).toBe("OK");
  await node.stop();
  const child = Bun.spawn(node.commandLine(), { cwd: join(import.meta.dir, ".."), stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const replies: unknown[] = [];
  try {
    let connection: RespConnection | null = null;
    for (let attempt = 0; connection === null && attempt < 2_000; attempt++) {
      connection = await RespConnection.connect(node.port).catch(() => null);
      if (connection === null) await Bun.sleep(5);
    }
    expect(connection).not.toBeNull();
    for (;;) {
      const reply = plain(await (connection as RespConnection).call("GET", "marker"));
      replies.push(reply);
      if (reply === "last" || replies.length > 100_000) break;
    }
    (connection as RespConnection).close();
  } finally {
    child.kill();
    await child.exited;
  }
  // Every reply before the data is -LOADING: never an older value, never another error.
  const loading = replies.slice(0, -1);
  expect(replies.at(-1)).toBe("last");
  expect(loading.every((reply) => JSON.stringify(reply).includes("LOADING"))).toBe(true);
  // The replay of 400,000 SETs takes long enough that the first GET, sent as soon as the port
  // accepts, is answered -LOADING (it used to wait, unanswered, until the replay was done).
  expect(loading.length).toBeGreaterThan(0);
});
