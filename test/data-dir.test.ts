/** The clone's data directory and every file it writes there are readable by their owner only. */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CloneProcess, call, makeTemporaryDirectory, removeTemporaryDirectory } from "./helpers/clone-process.ts";

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
