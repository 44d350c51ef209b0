/** The clone's data directory and every file it writes there are readable by their owner only. */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { CloneProcess, call, freePort, makeTemporaryDirectory, removeTemporaryDirectory } from "./helpers/clone-process.ts";

setDefaultTimeout(60_000);

const parent = makeTemporaryDirectory("finn-perm-");
let clone: CloneProcess | undefined;
afterAll(async () => {
  await clone?.cleanup();
  removeTemporaryDirectory(parent);
});

function modesUnder(directory: string): [string, number][] {
  const found: [string, number][] = [[directory, statSync(directory).mode & 0o777]];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...modesUnder(path));
    else found.push([path, statSync(path).mode & 0o777]);
  }
  return found;
}

test("a new data directory, its subdirectories and its files allow nobody but the owner", async () => {
  const dir = join(parent, "nested", "data");
  clone = await CloneProcess.start({ dir, extraArguments: ["-snapshot-entries", "5"] });
  for (let i = 0; i < 20; i++) await call(clone, "SET", `k${i}`, "v");
  await call(clone, "RAFTSNAPSHOT");
  const modes = modesUnder(join(parent, "nested"));
  expect(modes.some(([path]) => path.includes("snapshots"))).toBe(true);
  for (const [path, mode] of modes) expect({ path, others: mode & 0o077 }).toEqual({ path, others: 0 });
});

/** Runs the clone on `dir` and returns what it printed when it refused to start (it must exit). */
async function refusedStart(dir: string, extra: string[] = []): Promise<{ exitCode: number | null; output: string }> {
  const port = String(await freePort());
  const run = Bun.spawnSync([process.execPath, "run", join(import.meta.dir, "..", "src", "clone.ts"), "-p", port, "-dir", dir, ...extra], { timeout: 20_000 });
  return { exitCode: run.exitCode, output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

test("a data directory in use by a running node is refused to a second one; the lock goes with the process, even after kill -9", async () => {
  const dir = join(parent, "shared");
  const first = await CloneProcess.start({ dir });
  try {
    expect(await call(first, "SET", "k", "first")).toBe("OK");
    const second = await refusedStart(dir);
    expect(second.exitCode).not.toBe(0);
    expect(second.output).toContain(`the data directory ${dir} is in use by another node (process ${first.pid})`);
    expect(await call(first, "GET", "k")).toBe("first");
    first.kill("SIGKILL");
    await first.exited();
    await first.restart();
    expect(await call(first, "GET", "k")).toBe("first");
  } finally {
    await first.stop();
  }
});

test("a directory written by one log backend is refused to the other, and one whose identity is lost is refused", async () => {
  const dir = join(parent, "backend");
  const node = await CloneProcess.start({ dir });
  expect(await call(node, "SET", "k", "lmdb")).toBe("OK");
  await node.stop();
  const other = await refusedStart(dir, ["-backend", "memory"]);
  expect(other.exitCode).not.toBe(0);
  expect(other.output).toContain("holds a log of the lmdb backend (log.mdb): start with -backend lmdb");
  rmSync(join(dir, "finn.mdb"));
  rmSync(join(dir, "finn.mdb-lock"), { force: true });
  const lost = await refusedStart(dir);
  expect(lost.exitCode).not.toBe(0);
  expect(lost.output).toContain("holds a log but no node identity");
});
