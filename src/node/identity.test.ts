import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { StorageCorruptionError } from "../log/store.ts";
import { lmdbFileName, loadIdentity, recordLog } from "./identity.ts";

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "finn-identity-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Replaces every copy of `from` in the file with `to` (same length). */
function replaceInFile(path: string, from: string, to: string): number {
  const bytes = readFileSync(path);
  let count = 0;
  for (let at = bytes.indexOf(from); at !== -1; at = bytes.indexOf(from, at + 1)) {
    bytes.write(to, at, "latin1");
    count++;
  }
  writeFileSync(path, bytes);
  return count;
}

test("a node id with one digit changed on disk is refused, naming finn.mdb, not taken for another node's", async () => {
  const dir = freshDir();
  const { identity, environment } = await loadIdentity(dir);
  await environment.close();
  const changed = `${identity.nodeId.slice(0, 10)}${identity.nodeId[10] === "0" ? "1" : "0"}${identity.nodeId.slice(11)}`;
  expect(replaceInFile(join(dir, lmdbFileName), identity.nodeId, changed)).toBeGreaterThan(0);
  let refusal: unknown = null;
  try {
    await loadIdentity(dir, false);
  } catch (error) {
    refusal = error;
  }
  expect(refusal).toBeInstanceOf(StorageCorruptionError);
  expect(String(refusal)).toContain(`${join(dir, lmdbFileName)} is damaged: the node's identity fails its checksum`);
});

test("an identity written before checksums is read as it is, checked in format, and stored with one at the next change", async () => {
  const dir = freshDir();
  const nodeId = "0123456789abcdef0123456789abcdef01234567";
  const legacy = open({ path: join(dir, lmdbFileName), compression: false });
  await legacy.openDB({ name: "meta" }).put("identity", { nodeId, createdAt: 1 });
  await legacy.close();
  const { identity, environment } = await loadIdentity(dir, false);
  expect(identity).toEqual({ nodeId, createdAt: 1 });
  await recordLog(environment, identity, "lmdb");
  await environment.close();
  // Now with a checksum: the same change is caught.
  expect(replaceInFile(join(dir, lmdbFileName), nodeId, `1${nodeId.slice(1)}`)).toBeGreaterThan(0);
  await expect(loadIdentity(dir, false)).rejects.toThrow("fails its checksum");

  // An old identity whose id is not one (a damaged digit that is no longer hexadecimal).
  const other = freshDir();
  const damaged = open({ path: join(other, lmdbFileName), compression: false });
  await damaged.openDB({ name: "meta" }).put("identity", { nodeId: `z${nodeId.slice(1)}`, createdAt: 1 });
  await damaged.close();
  await expect(loadIdentity(other, false)).rejects.toThrow("is not in the format of one");
});
