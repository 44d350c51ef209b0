/**
 * The clone starts itself again, once and in place, with `MIMALLOC_PURGE_DELAY=10000` and
 * `MIMALLOC_PURGE_HOLES=0`, so that Bun's allocator keeps freed memory instead of handing it to
 * the kernel for the next batch to fault back in (src/node/allocator.ts); a value set by the
 * operator is left alone.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";

setDefaultTimeout(60_000);

const started: CloneProcess[] = [];
afterAll(async () => {
  await cleanupAll(started);
});

/** The value of `name` in the environment the process `pid` was started with, or null. */
function environmentValue(pid: number, name: string): string | null {
  for (const entry of readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")) {
    if (entry.startsWith(`${name}=`)) return entry.slice(name.length + 1);
  }
  return null;
}

test("the clone runs with MIMALLOC_PURGE_DELAY=10000 and MIMALLOC_PURGE_HOLES=0, under the process id it was started with, with its own arguments", async () => {
  const clone = await CloneProcess.start({ name: "allocator" });
  started.push(clone);
  const pid = clone.pid ?? 0;
  expect(environmentValue(pid, "MIMALLOC_PURGE_DELAY")).toBe("10000");
  expect(environmentValue(pid, "MIMALLOC_PURGE_HOLES")).toBe("0");
  expect(readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0")).toContain(String(clone.port));
  expect(await call(clone, "SET", "k", "v")).toBe("OK");
  expect(await call(clone, "GET", "k")).toBe("v");
});

test("a value the operator set is left alone, and the other setting is still added", async () => {
  const clone = await CloneProcess.start({ name: "allocator-set", environment: { MIMALLOC_PURGE_DELAY: "10" } });
  started.push(clone);
  expect(environmentValue(clone.pid ?? 0, "MIMALLOC_PURGE_DELAY")).toBe("10");
  expect(environmentValue(clone.pid ?? 0, "MIMALLOC_PURGE_HOLES")).toBe("0");
  expect(await call(clone, "PING")).toBe("PONG");
  const other = await CloneProcess.start({ name: "allocator-holes", environment: { MIMALLOC_PURGE_HOLES: "1" } });
  started.push(other);
  expect(environmentValue(other.pid ?? 0, "MIMALLOC_PURGE_HOLES")).toBe("1");
  expect(environmentValue(other.pid ?? 0, "MIMALLOC_PURGE_DELAY")).toBe("10000");
  expect(await call(other, "PING")).toBe("PONG");
});

test("with both set by the operator, both are left alone", async () => {
  const clone = await CloneProcess.start({ name: "allocator-both", environment: { MIMALLOC_PURGE_DELAY: "-1", MIMALLOC_PURGE_HOLES: "1" } });
  started.push(clone);
  expect(environmentValue(clone.pid ?? 0, "MIMALLOC_PURGE_DELAY")).toBe("-1");
  expect(environmentValue(clone.pid ?? 0, "MIMALLOC_PURGE_HOLES")).toBe("1");
  expect(await call(clone, "PING")).toBe("PONG");
});
