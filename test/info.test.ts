/**
 * INFO's counters beyond the basics, as monitoring tools read them: bytes in and out (exactly the
 * client's frames and replies), the instantaneous rates, keyspace hits and misses (reads only),
 * expired and evicted keys, the memory peak and fragmentation ratio; CONFIG RESETSTAT clears them.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { CloneProcess } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

let clone: CloneProcess;
let connection: RespConnection;
beforeAll(async () => {
  clone = await CloneProcess.start({ name: "info" });
  connection = await RespConnection.connect(clone.port);
});
afterAll(async () => {
  connection.close();
  await clone.cleanup();
});

/** INFO `section`'s fields. */
async function fields(section: string): Promise<Map<string, string>> {
  const text = String(plain(await connection.call("INFO", section)));
  return new Map(text.split("\r\n").flatMap((line) => (line.includes(":") ? [line.split(":", 2) as [string, string]] : [])));
}

test("total_net_input_bytes and total_net_output_bytes count the client's frames and replies, from CONFIG RESETSTAT on", async () => {
  expect(plain(await connection.call("CONFIG", "RESETSTAT"))).toBe("OK");
  expect(plain(await connection.call("PING"))).toBe("PONG");
  const stats = await fields("stats");
  // In: `*1 $4 PING` (14 bytes) and this INFO's `*2 $4 INFO $5 stats` (25); out: `+OK` after the
  // reset (5) and `+PONG` (7); INFO's own reply is not sent yet when it is written.
  expect([stats.get("total_net_input_bytes"), stats.get("total_net_output_bytes")]).toEqual(["39", "12"]);
  expect(stats.get("total_net_repl_input_bytes")).toBe("0");
});

test("keyspace hits and misses count reads (not writes), expired_keys the keys deleted when their time came; RESETSTAT clears them", async () => {
  expect(plain(await connection.call("CONFIG", "RESETSTAT"))).toBe("OK");
  await connection.call("SET", "info:k", "v");
  await connection.call("GET", "info:k");
  await connection.call("GET", "info:nope");
  await connection.call("EXISTS", "info:k", "info:nope2");
  await connection.call("MGET", "info:k", "info:k", "info:nope3");
  await connection.call("SET", "info:short", "v", "PX", "1");
  await Bun.sleep(20);
  // A read of an expired key is a miss; the next write reclaims it (reads never change state).
  await connection.call("GET", "info:short");
  await connection.call("SET", "info:other", "v");
  // Writes that change nothing, answered without the log, are not reads: as in Redis, their
  // lookups count for neither.
  expect(plain(await connection.call("DEL", "info:nope4"))).toBe(0);
  expect(plain(await connection.call("SET", "info:k", "w", "NX"))).toBe(null);
  const stats = await fields("stats");
  expect([stats.get("keyspace_hits"), stats.get("keyspace_misses"), stats.get("expired_keys"), stats.get("evicted_keys")]).toEqual(["4", "4", "1", "0"]);
  expect(plain(await connection.call("CONFIG", "RESETSTAT"))).toBe("OK");
  const cleared = await fields("stats");
  expect([cleared.get("keyspace_hits"), cleared.get("keyspace_misses"), cleared.get("expired_keys")]).toEqual(["0", "0", "0"]);
});

test("instantaneous_ops_per_sec shows a burst of commands, and the memory section its peak and ratio", async () => {
  for (let i = 0; i < 2000; i++) connection.command("PING");
  await connection.readMany(2000);
  await eventually("a rate above zero", async () => Number((await fields("stats")).get("instantaneous_ops_per_sec")), (rate) => rate > 0);
  const memory = await fields("memory");
  expect(Number(memory.get("used_memory_peak"))).toBeGreaterThanOrEqual(Number(memory.get("used_memory")));
  expect(Number(memory.get("mem_fragmentation_ratio"))).toBeGreaterThan(0);
  expect(Number(memory.get("total_system_memory"))).toBeGreaterThan(0);
});

test("section titles are Redis's: each name capitalized, CPU in capitals", async () => {
  const text = String(plain(await connection.call("INFO", "server", "cpu", "keyspace")));
  expect(text.split("\r\n").filter((line) => line.startsWith("#"))).toEqual(["# Server", "# CPU", "# Keyspace"]);
});
