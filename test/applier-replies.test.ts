/**
 * Every command gets exactly one reply, whatever the machine does wrong: a `respond` that writes
 * part of a reply and then throws, one that returns an error or writes nothing, `respond: null`,
 * `apply` called twice, a `command` that throws after `apply`, a `mutate` that returns an error or
 * a Promise. Each case is sent pipelined with a PING behind it; the PING's reply must come next, so
 * the stream stays in step (found by a probe: a `respond` that wrote `*3 :1` and threw left its
 * client's stream broken, and in proxy mode another client received that reply's end).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Applier, Conn, Machine } from "../src/api.ts";
import { type FinnNode, open } from "../src/finn.ts";
import type { Command } from "../src/resp/reader.ts";
import { encodeCommand, plain, RespConnection } from "./helpers/resp-client.ts";

/** A machine whose commands misbehave on purpose; `count` counts the mutates applied. */
class Misbehaving implements Machine {
  count = 0;

  command(applier: Applier, conn: Conn | null, command: Command): void | Error {
    const bump = (): number => ++this.count;
    switch (command.name) {
      case "count":
        return applier.apply(conn, command, null, () => conn?.writeInt(this.count));
      case "partial":
        return applier.apply(conn, command, null, () => {
          conn?.writeArray(3);
          conn?.writeInt(1);
          throw new Error("respond threw midway");
        });
      case "partialwrite":
        return applier.apply(conn, command, bump, () => {
          conn?.writeArray(3);
          throw new Error("respond threw midway");
        });
      case "returnerror":
        return applier.apply(conn, command, null, () => new Error("respond returned this") as unknown as void);
      case "silent":
        return applier.apply(conn, command, bump, () => {});
      case "nullrespond":
        return applier.apply(conn, command, bump, null);
      case "nullread":
        return applier.apply(conn, command, null, null);
      case "noapply":
        return;
      case "twice":
        applier.apply(conn, command, bump, (value) => conn?.writeInt(value));
        return applier.apply(conn, command, bump, (value) => conn?.writeInt(value));
      case "throwafter":
        applier.apply(conn, command, bump, (value) => conn?.writeInt(value));
        throw new Error("command threw after apply");
      case "mutatereturnserror":
        return applier.apply(conn, command, () => new Error("mutate returned this"), () => conn?.writeString("not this"));
      case "asyncmutate":
        return applier.apply(conn, command, async () => bump(), () => conn?.writeString("not this"));
      default:
        return new Error(`unknown command '${command.name}'`);
    }
  }

  snapshot(): Error {
    return new Error("not used");
  }

  restore(): void {}
}

const machine = new Misbehaving();
let node: FinnNode;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "finn-replies-"));
  node = await open(join(dir, "data"), "127.0.0.1:0", "", machine, { logLevel: "quiet" });
  for (let i = 0; i < 100 && node.status().state !== "Leader"; i++) await Bun.sleep(20);
});

afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `name` and a PING in one write; returns the two replies, which must be the next two. */
async function withPing(name: string): Promise<[unknown, unknown]> {
  const client = await RespConnection.connect(node.port);
  try {
    client.send(Buffer.concat([encodeCommand([name]), encodeCommand(["PING"])]));
    const first = plain(await client.read());
    const second = plain(await client.read());
    return [first, second];
  } finally {
    client.close();
  }
}

async function count(): Promise<unknown> {
  const client = await RespConnection.connect(node.port);
  try {
    return plain(await client.call("COUNT"));
  } finally {
    client.close();
  }
}

const cases: [string, unknown, number][] = [
  // command, its one reply, how many mutates it applied
  ["partial", { error: "ERR respond threw midway" }, 0],
  ["partialwrite", { error: "ERR respond threw midway" }, 1],
  ["returnerror", { error: "ERR respond returned this" }, 0],
  ["silent", "OK", 1],
  ["nullrespond", "OK", 1],
  ["nullread", "OK", 0],
  ["noapply", "OK", 0],
  ["twice", { error: "ERR apply called more than once for one command" }, 1],
  ["throwafter", { error: "ERR command threw after apply" }, 1],
  ["mutatereturnserror", { error: "ERR mutate returned this" }, 0],
  ["asyncmutate", { error: "ERR mutate returned a Promise: it must be synchronous" }, 1],
];

for (const [name, reply, mutates] of cases) {
  test(`${name}: one reply, then the next command's`, async () => {
    const before = Number(await count());
    const [first, second] = await withPing(name);
    expect(first).toEqual(reply as never);
    expect(second).toBe("PONG");
    // An async mutate's work lands after its first await, outside log order: what the error warns of.
    if (name === "asyncmutate") await Bun.sleep(10);
    expect(Number(await count()) - before).toBe(mutates);
  });
}

test("a machine whose snapshot fails is asked again after a wait, not after every write past the threshold", async () => {
  const lines: string[] = [];
  const failing = new Misbehaving();
  failing.snapshot = () => {
    throw new Error("snapshot exploded");
  };
  const failingDir = mkdtempSync(join(tmpdir(), "finn-snapfail-"));
  const other = await open(join(failingDir, "data"), "127.0.0.1:0", "", failing, { snapshotEntries: 5, logOutput: (line) => lines.push(line) });
  try {
    for (let i = 0; i < 100 && other.status().state !== "Leader"; i++) await Bun.sleep(20);
    const client = await RespConnection.connect(other.port);
    for (let i = 0; i < 60; i++) expect(plain(await client.call("SILENT"))).toBe("OK");
    client.close();
    // It used to warn 61 times for 60 writes.
    const failures = lines.filter((line) => line.includes("Snapshot failed: snapshot exploded"));
    expect(failures.length).toBe(1);
    expect(failures[0]).toContain("the next try in 1 s");
  } finally {
    await other.close();
    rmSync(failingDir, { recursive: true, force: true });
  }
});
