/**
 * `open()` checks its options before anything starts: a program that builds them at run time (from
 * a configuration file, in plain JavaScript) hears what is wrong, instead of a node that runs with
 * a level nobody meant, or a TypeError from deep inside.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../src/clone/machine.ts";
import { type Options, open } from "../src/finn.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

const dir = mkdtempSync(join(tmpdir(), "finn-open-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every malformed option is refused with its name and what it takes; the directory stays usable", async () => {
  const refused: [Record<string, unknown>, string][] = [
    [{ consistency: "bogus" }, 'invalid consistency "bogus": expected low, medium or high'],
    [{ durability: "x" }, 'invalid durability "x": expected low, medium or high'],
    [{ backend: "sqlite" }, 'invalid backend "sqlite": expected lmdb or memory'],
    [{ redirect: "forward" }, 'invalid redirect "forward": expected moved, try or proxy'],
    [{ snapshotEntries: -1 }, "invalid snapshotEntries -1: expected a whole number of at least 1"],
    [{ snapshotBytes: 1.5 }, "invalid snapshotBytes 1.5: expected a whole number of at least 1"],
    [{ snapshotTrailEntries: "10" }, "invalid snapshotTrailEntries 10: expected a whole number of at least 0"],
    [{ limits: { clientsMax: 0 } }, "invalid limits.clientsMax 0: expected a whole number of at least 1"],
    [{ limits: { maxClients: 10 } }, "unknown limits 'maxClients': expected one of"],
    [{ peerLimits: { frameBytesMax: Number.NaN } }, "invalid peerLimits.frameBytesMax NaN"],
    [{ cluster: "" }, "invalid cluster '': a cluster needs a name"],
    [{ password: 42 }, "invalid password: expected a string"],
    [{ protectedMode: "no" }, "invalid protectedMode: expected true or false"],
    [{ onShutdown: "exit" }, "invalid onShutdown: expected a function"],
    // A misspelt name (it opened at medium, the default, before).
    [{ durabilty: "high" }, "unknown option 'durabilty': expected one of consistency, durability,"],
    [{ electionTimeoutMilliseconds: 5 }, "invalid electionTimeoutMilliseconds 5: expected a whole number of at least 20"],
  ];
  for (const [options, message] of refused) {
    const error = await open(dir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", ...(options as Options) }).then(
      async (node) => {
        await node.close();
        return "opened";
      },
      (caught: unknown) => (caught instanceof Error ? caught.message : String(caught)),
    );
    expect({ options, error }).toEqual({ options, error: expect.stringContaining(message) });
  }
  // Nothing was started or locked: the same directory opens with good options.
  const node = await open(dir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", limits: { idleTimeoutSeconds: 0 }, snapshotTrailEntries: 0 });
  await node.close();
});

test("CONFIG GET reports the log as Redis's append-only file, flushed as the durability level says", async () => {
  for (const [durability, backend, appendfsync] of [
    ["high", "memory", "always"],
    ["medium", "lmdb", "everysec"],
    ["low", "lmdb", "no"],
  ] as const) {
    const node = await open(mkdtempSync(join(dir, "config-")), "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", durability, backend });
    const client = await RespConnection.connect(node.port);
    try {
      client.command("CONFIG", "GET", "append*");
      expect(plain(await client.read())).toEqual(["appendonly", "yes", "appendfsync", appendfsync]);
    } finally {
      client.close();
      await node.close();
    }
  }
});
