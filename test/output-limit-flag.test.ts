/**
 * `-client-output-buffer-limit BYTES`: the most a client may leave unread (a reply being built
 * included) before it is disconnected; the way to let a large reply (KEYS of a large keyspace, an
 * MGET of many values) through, or to hold clients to less.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import { RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);
const started: CloneProcess[] = [];
afterAll(async () => {
  await cleanupAll(started);
});

test("a reply past -client-output-buffer-limit disconnects its client; the default limit lets it through; CONFIG GET shows the limit", async () => {
  const clone = await CloneProcess.start({ extraArguments: ["-client-output-buffer-limit", "2mb"] });
  started.push(clone);
  const keys = Array.from({ length: 100 }, (_, i) => `big:${i}`);
  const value = "v".repeat(30 * 1024);
  expect(await call(clone, "MSET", ...keys.flatMap((key) => [key, value]))).toBe("OK");
  expect(await call(clone, "CONFIG", "GET", "client-output-buffer-limit")).toEqual([
    "client-output-buffer-limit",
    "normal 2097152 4194304 0 slave 2097152 4194304 0 pubsub 2097152 4194304 0",
  ]);
  // 3 MB of reply: past the limit, and no single value large enough to pass it alone.
  const cut = await RespConnection.connect(clone.port);
  await expect(cut.call("MGET", ...keys)).rejects.toThrow();
  cut.close();
  expect(clone.log()).toContain("closed for overcoming of output buffer limits");
  expect(await call(clone, "INFO", "stats")).toMatch(/client_output_buffer_limit_disconnections:1\r\n/);

  await clone.stop();
  const unlimited = await CloneProcess.start({ dir: clone.dir });
  started.push(unlimited);
  const whole = (await call(unlimited, "MGET", ...keys)) as string[];
  expect(whole.length).toBe(100);
  expect(whole.every((one) => one === value)).toBe(true);
});
