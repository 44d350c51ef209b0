/**
 * The harness that other integration tests build on: it must start a clone, stop exactly what it
 * started, restart on the same port and directory, and leave nothing behind.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { call, CloneProcess, freePort } from "./clone-process.ts";
import { RespConnection } from "./resp-client.ts";

// Real processes on a loaded 2-core machine.
setDefaultTimeout(90_000);

const started: CloneProcess[] = [];

afterAll(async () => {
  for (const clone of started) await clone.cleanup();
});


/** True when nothing accepts connections on the port any more. */
async function refusesConnections(port: number): Promise<boolean> {
  try {
    const connection = await RespConnection.connect(port);
    connection.close();
    return false;
  } catch {
    return true;
  }
}

describe("CloneProcess", () => {
  test("start waits until PING works; stop ends the process group; restart keeps the port", async () => {
    const clone = await CloneProcess.start();
    started.push(clone);
    expect(clone.running).toBe(true);
    expect(clone.log()).toContain("ready to accept connections");
    expect(await call(clone, "SET", "harness:k", "v")).toBe("OK");

    const pid = clone.pid;
    expect(await clone.stop()).toBe(0);
    // The signal is logged like every other line: pid, role, time, level.
    expect(clone.log()).toMatch(new RegExp(`^${pid}:M \\d{2} \\w{3} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} \\* Received SIGTERM, shutting down$`, "m"));
    expect(clone.running).toBe(false);
    expect(await refusesConnections(clone.port)).toBe(true);
    // The group is gone: signalling it fails with ESRCH.
    expect(() => process.kill(-(pid ?? 0), 0)).toThrow();

    await clone.restart();
    expect(clone.running).toBe(true);
    expect(clone.pid).not.toBe(pid);
    expect(clone.log()).toContain(`ready to accept connections on 127.0.0.1:${clone.port}`);
    expect(await call(clone, "PING")).toBe("PONG");
  });

  test("kill(SIGKILL) is reported, and stop and cleanup are safe afterwards and repeatable", async () => {
    const clone = await CloneProcess.start();
    started.push(clone);
    clone.kill("SIGKILL");
    expect(await clone.exited()).toBe("SIGKILL");
    expect(await clone.stop()).toBe("SIGKILL");
    await clone.cleanup();
    await clone.cleanup();
    expect(existsSync(clone.dir)).toBe(false);
  });

  test("a taken port is reported with the clone's log when the port was given", async () => {
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const error = await CloneProcess.start({ port: blocker.port }).then(
        () => null,
        (failure: unknown) => failure,
      );
      expect(String(error)).toContain("before answering PING");
      expect(String(error)).toContain(`-p ${blocker.port}`);
    } finally {
      blocker.stop(true);
    }
  });

  test("a clone that cannot start fails with its log in the message", async () => {
    const port = await freePort();
    const error = await CloneProcess.start({ port, extraArguments: ["-durability", "bogus"] }).then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toContain("before answering PING");
    expect(String(error)).toContain("bogus");
  });
});
describe("the clone, restarted through the harness", () => {
  test("an acknowledged write survives a graceful restart (default backend, LMDB)", async () => {
    const clone = await CloneProcess.start();
    started.push(clone);
    expect(await call(clone, "SET", "restart:k", "v")).toBe("OK");
    expect(await clone.stop()).toBe(0);
    await clone.restart();
    expect({ value: await call(clone, "GET", "restart:k"), log: clone.log() }).toMatchObject({ value: "v" });
  });
});
