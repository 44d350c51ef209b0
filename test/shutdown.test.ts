/**
 * SHUTDOWN, as redis-cli and scripts send it: the clone closes its node and exits, keeping its
 * data; Redis's option syntax is checked; with an admin password only the admin user may; a
 * program over `open()` that did not ask for it (`onShutdown`) keeps its node.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../src/clone/machine.ts";
import { open } from "../src/finn.ts";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

const clones: CloneProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "finn-shutdown-"));
afterAll(async () => {
  await cleanupAll(clones);
  rmSync(dir, { recursive: true, force: true });
});

test("SHUTDOWN closes the clone, which exits 0 and keeps its data; bad options are refused first", async () => {
  const clone = await CloneProcess.start({ logLevel: "notice" });
  clones.push(clone);
  expect(await call(clone, "SET", "k", "v")).toBe("OK");
  expect(await call(clone, "SHUTDOWN", "ABORT")).toEqual({ error: "ERR No shutdown in progress." });
  expect(await call(clone, "SHUTDOWN", "SAVE", "NOSAVE")).toEqual({ error: "ERR syntax error" });
  expect(await call(clone, "SHUTDOWN", "NOW", "ABORT")).toEqual({ error: "ERR syntax error" });
  expect(await call(clone, "SHUTDOWN", "LATER")).toEqual({ error: "ERR syntax error" });
  expect(await call(clone, "GET", "k")).toBe("v");
  // As in Redis, not inside a transaction: refused when queued, and the transaction aborts.
  const transaction = await RespConnection.connect(clone.port, clone.host);
  expect(plain(await transaction.call("MULTI"))).toBe("OK");
  expect(plain(await transaction.call("SET", "k", "w"))).toBe("QUEUED");
  expect(plain(await transaction.call("SHUTDOWN"))).toEqual({ error: "ERR Command not allowed inside a transaction" });
  expect(plain(await transaction.call("EXEC"))).toEqual({ error: "EXECABORT Transaction discarded because of previous errors." });
  transaction.close();
  expect(await call(clone, "GET", "k")).toBe("v");
  // On success there is no reply: the connection closes, as with Redis.
  const connection = await RespConnection.connect(clone.port, clone.host);
  connection.command("SHUTDOWN", "NOSAVE", "NOW");
  await expect(connection.read()).rejects.toThrow();
  connection.close();
  expect(await clone.exited()).toBe(0);
  expect(clone.log()).toContain("Received SHUTDOWN from 127.0.0.1:");
  expect(clone.log()).toContain("Node closed");
  await clone.restart();
  expect(await call(clone, "GET", "k")).toBe("v");
});

test("with -admin-auth only the admin user may shut the node down", async () => {
  const clone = await CloneProcess.start({ extraArguments: ["-admin-auth", "s3cret"] });
  clones.push(clone);
  expect(await call(clone, "SHUTDOWN")).toEqual({ error: "NOPERM this command needs the admin user: AUTH admin <password>" });
  expect(await call(clone, "PING")).toBe("PONG");
  const admin = await RespConnection.connect(clone.port, clone.host);
  expect(plain(await admin.call("AUTH", "admin", "s3cret"))).toBe("OK");
  admin.command("SHUTDOWN");
  await expect(admin.read()).rejects.toThrow();
  admin.close();
  expect(await clone.exited()).toBe(0);
});

test("a program that passed no onShutdown keeps its node: SHUTDOWN is refused", async () => {
  const node = await open(dir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet" });
  try {
    const client = await RespConnection.connect(node.port);
    try {
      expect(plain(await client.call("SHUTDOWN"))).toEqual({ error: "ERR SHUTDOWN is not enabled: the program running this node did not ask for it (onShutdown)" });
      expect(plain(await client.call("PING"))).toBe("PONG");
    } finally {
      client.close();
    }
  } finally {
    await node.close();
  }
});

test("a hang-up (SIGHUP) leaves the clone running, as redis-server; -version prints the version", async () => {
  const clone = await CloneProcess.start({ logLevel: "notice" });
  clones.push(clone);
  expect(await call(clone, "SET", "k", "v")).toBe("OK");
  clone.kill("SIGHUP");
  await Bun.sleep(200);
  expect(clone.running).toBe(true);
  expect(await call(clone, "GET", "k")).toBe("v");
  expect(await clone.stop()).toBe(0);
  const version = Bun.spawnSync([process.execPath, "run", join(import.meta.dir, "..", "src", "clone.ts"), "-version"]);
  expect(version.exitCode).toBe(0);
  expect(version.stdout.toString()).toMatch(/^finn-clone \d+\.\d+\.\d+ \(Bun \d+\.\d+\.\d+\)\n$/);
});
