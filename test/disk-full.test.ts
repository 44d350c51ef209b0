/**
 * A full disk, for real: the clone's data directory is a small tmpfs mounted by the test (the
 * suite runs as root, as the network-namespace tests do). A client writes until a write is refused;
 * then the node has stopped without crashing, says why (its disk is full, with the free space) in
 * its log and to every client, and once the disk has room again (the tmpfs made larger) and the
 * node is restarted, every write it acknowledged is there, with its value, and new writes are taken.
 * For each backend, at High durability (every acknowledged write flushed) and at Medium.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CloneProcess, makeTemporaryDirectory, removeTemporaryDirectory } from "./helpers/clone-process.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const mounted: string[] = [];

function run(...command: string[]): void {
  const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${result.stderr.toString()}`);
}

/** A directory on a tmpfs of `megabytes`, unmounted after the file's tests. */
function smallDisk(megabytes: number): string {
  const directory = makeTemporaryDirectory("finn-disk-full-");
  run("mount", "-t", "tmpfs", "-o", `size=${megabytes}m`, "tmpfs", directory);
  mounted.push(directory);
  return directory;
}

afterAll(() => {
  for (const directory of mounted) {
    Bun.spawnSync(["umount", "-l", directory]);
    removeTemporaryDirectory(directory);
  }
});

const value = "v".repeat(2000);

describe.each([
  ["lmdb", "high"],
  ["lmdb", "medium"],
  ["memory", "high"],
  ["memory", "medium"],
])("-backend %s -durability %s", (backend, durability) => {
  test("a full disk stops the node with a clear error; after room is made and a restart, every acknowledged write is there", async () => {
    const disk = smallDisk(16);
    const dir = join(disk, "data");
    mkdirSync(dir);
    const node = await CloneProcess.start({ dir, logLevel: "notice", extraArguments: ["-backend", backend, "-durability", durability] });
    try {
      const client = await RespConnection.connect(node.port);
      let acknowledged = 0;
      let refusal: unknown = null;
      try {
        // 16 MB of tmpfs holds fewer than 8,000 writes of 2 KB (the log and its journal both take them).
        for (let i = 0; i < 20_000 && refusal === null; i++) {
          const reply = plain(await client.call("SET", `k${i}`, value));
          if (reply === "OK") acknowledged = i + 1;
          else refusal = reply;
        }
        expect(refusal).not.toBeNull();
        expect(acknowledged).toBeGreaterThan(1000);
        // Stopped, not crashed: it answers every command with why.
        const answer = plain(await client.call("GET", "k0")) as { error: string };
        expect(answer.error).toMatch(/^ERR this node stopped: .*the disk of .* has 0\.\d MB free \(full\)$/);
        expect(node.running).toBe(true);
        expect(node.log()).toMatch(/Raft node stopped: .*\(full\)\. .*make room on the disk/);
      } finally {
        client.close();
      }

      await node.stop();
      // Restarted on the disk still full: LMDB's store, which writes as it opens (the journal's
      // saves taken into LMDB), does not start and says why; the memory backend's, which reads its
      // file, starts and stops at its first write (a client's, or its own), as it did while running.
      if (backend === "lmdb") {
        await expect(node.restart()).rejects.toThrow();
        expect(node.log()).toMatch(/finn-clone: cannot open the log in .*: .*; the disk of .* has 0\.\d MB free \(full\)/);
      } else {
        await node.restart();
        const writer = await RespConnection.connect(node.port);
        try {
          // Refused: proposed when the disk said no (outcome unknown), or after the node stopped
          // for a write of its own (its first term's) that the disk refused.
          expect((plain(await writer.call("SET", "one-more", value)) as { error: string }).error).toMatch(/^UNCERTAIN |^ERR this node stopped: .*\(full\)$/);
          expect((plain(await writer.call("GET", "k0")) as { error: string }).error).toMatch(/^ERR this node stopped: .*the disk of .* has 0\.\d MB free \(full\)$/);
        } finally {
          writer.close();
        }
      }
      await node.stop();
      run("mount", "-o", "remount,size=256m", disk);
      await node.restart();
      const reader = await RespConnection.connect(node.port);
      try {
        for (let i = 0; i < acknowledged; i++) reader.command("GET", `k${i}`);
        const values = (await reader.readMany(acknowledged)).map(plain);
        const missing = values.flatMap((one, i) => (one === value ? [] : [i]));
        expect(missing).toEqual([]);
        expect(plain(await reader.call("SET", "after", "1"))).toBe("OK");
        expect(plain(await reader.call("GET", "after"))).toBe("1");
      } finally {
        reader.close();
      }
    } finally {
      await node.cleanup();
    }
  });
});
