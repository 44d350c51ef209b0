/**
 * TIME, SAVE, BGSAVE and LASTSAVE: the node's clock, and snapshots taken on command (each node's
 * own, as RAFTSNAPSHOT's), with Redis's replies; SAVE is refused inside MULTI, and with an admin
 * password both need the admin user.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../src/clone/machine.ts";
import { type FinnNode, open } from "../src/finn.ts";
import { eventually } from "./helpers/eventually.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

const dir = mkdtempSync(join(tmpdir(), "finn-persistence-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withNode(name: string, options: { adminPassword?: string }, body: (node: FinnNode, client: RespConnection) => Promise<void>): Promise<void> {
  const node = await open(join(dir, name), "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", ...options });
  try {
    const client = await RespConnection.connect(node.port);
    try {
      await body(node, client);
    } finally {
      client.close();
    }
  } finally {
    await node.close();
  }
}

/** RAFTSTATS's last_snapshot_index. */
async function snapshotIndex(client: RespConnection): Promise<number> {
  const stats = plain(await client.call("RAFTSTATS")) as string[];
  return Number(stats[stats.indexOf("last_snapshot_index") + 1]);
}

test("TIME answers this node's clock as seconds and microseconds", async () => {
  await withNode("time", {}, async (_node, client) => {
    const before = Date.now();
    const [seconds, microseconds] = plain(await client.call("TIME")) as string[];
    const after = Date.now();
    expect(seconds).toMatch(/^\d+$/);
    expect(microseconds).toMatch(/^\d{1,6}$/);
    const at = Number(seconds) * 1000 + Number(microseconds) / 1000;
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(after + 1);
    expect(plain(await client.call("TIME", "x"))).toEqual({ error: "ERR wrong number of arguments for 'time' command" });
  });
});

test("SAVE writes a snapshot before it answers; LASTSAVE and INFO report when", async () => {
  await withNode("save", {}, async (_node, client) => {
    const started = Math.floor(Date.now() / 1000);
    expect(plain(await client.call("LASTSAVE"))).toBeGreaterThanOrEqual(started - 1);
    for (let i = 0; i < 10; i++) expect(plain(await client.call("SET", `k${i}`, "v"))).toBe("OK");
    const requested = Math.floor(Date.now() / 1000);
    expect(await snapshotIndex(client)).toBe(0);
    expect(plain(await client.call("SAVE"))).toBe("OK");
    expect(await snapshotIndex(client)).toBeGreaterThanOrEqual(11);
    const lastSave = plain(await client.call("LASTSAVE")) as number;
    expect(lastSave).toBeGreaterThanOrEqual(requested);
    expect(plain(await client.call("INFO", "persistence"))).toContain(`rdb_last_save_time:${lastSave}\r\n`);
    // As in Redis, not inside a transaction: refused when queued, and EXEC aborts.
    expect(plain(await client.call("MULTI"))).toBe("OK");
    expect(plain(await client.call("SAVE"))).toEqual({ error: "ERR Command not allowed inside a transaction" });
    expect(plain(await client.call("EXEC"))).toEqual({ error: "EXECABORT Transaction discarded because of previous errors." });
  });
});

test("BGSAVE answers at once and the snapshot follows; bad options are refused", async () => {
  await withNode("bgsave", {}, async (_node, client) => {
    expect(plain(await client.call("BGSAVE", "NOW"))).toEqual({ error: "ERR syntax error" });
    expect(plain(await client.call("BGSAVE", "SCHEDULE", "x"))).toEqual({ error: "ERR syntax error" });
    for (let i = 0; i < 10; i++) expect(plain(await client.call("SET", `k${i}`, "v"))).toBe("OK");
    expect(plain(await client.call("BGSAVE"))).toBe("Background saving started");
    await eventually("the snapshot BGSAVE started", () => snapshotIndex(client), (index) => index >= 11);
    expect(plain(await client.call("SET", "later", "v"))).toBe("OK");
    expect(plain(await client.call("BGSAVE", "SCHEDULE"))).toBe("Background saving started");
    await eventually("the second snapshot", () => snapshotIndex(client), (index) => index >= 12);
  });
});

test("with an admin password SAVE and BGSAVE need the admin user; TIME and LASTSAVE do not", async () => {
  await withNode("admin", { adminPassword: "s3cret" }, async (_node, client) => {
    const denied = { error: "NOPERM this command needs the admin user: AUTH admin <password>" };
    expect(plain(await client.call("SAVE"))).toEqual(denied);
    expect(plain(await client.call("BGSAVE"))).toEqual(denied);
    expect(typeof plain(await client.call("LASTSAVE"))).toBe("number");
    expect((plain(await client.call("TIME")) as string[]).length).toBe(2);
    expect(plain(await client.call("AUTH", "admin", "s3cret"))).toBe("OK");
    expect(plain(await client.call("SAVE"))).toBe("OK");
  });
});
