/**
 * The snapshot growth rule (`snapshotGrowthPercent`, `-snapshot-growth`, Redis's
 * auto-aof-rewrite-percentage): past its entry or byte threshold, an automatic snapshot also waits
 * until the entries applied since the last one hold that percentage of its size, so that a large
 * state is not written again for a log a fraction of its size; at 0 the thresholds alone decide.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clone } from "../src/clone/machine.ts";
import { type FinnNode, open } from "../src/finn.ts";
import { eventually } from "./helpers/eventually.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

const dir = mkdtempSync(join(tmpdir(), "finn-snapshot-growth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Sends the commands pipelined on one connection and waits for every reply. */
async function send(node: FinnNode, commands: string[][]): Promise<void> {
  const client = await RespConnection.connect(node.port);
  try {
    for (const command of commands) client.command(...command);
    const replies = (await client.readMany(commands.length)).map(plain);
    expect(replies.every((reply) => reply === "OK")).toBe(true);
  } finally {
    client.close();
  }
}

const big = "v".repeat(10_000);
/** 100 keys of 10 KB: a state of about a megabyte. */
const bigWrites = Array.from({ length: 100 }, (_, i) => ["SET", `big${i}`, big]);
/** 300 writes of a few bytes each: a log of some 15 KB. */
const smallWrites = Array.from({ length: 300 }, (_, i) => ["SET", `small${i % 10}`, String(i)]);

async function run(growth: number): Promise<{ afterSmall: number; afterBig: number; first: number }> {
  const node = await open(mkdtempSync(join(dir, "node-")), "127.0.0.1:0", "", new Clone(), {
    logLevel: "quiet",
    snapshotEntries: 20,
    snapshotGrowthPercent: growth,
  });
  try {
    // Every write its own entry, so that the entry threshold is passed many times over.
    for (const write of bigWrites) await send(node, [write]);
    await eventually("a first snapshot", () => node.status().lastSnapshotIndex, (index) => index > 0);
    // Automatic snapshots land anywhere among the big writes, and the big writes after the last of
    // them count toward the next: one taken halfway leaves half a megabyte of log, which a few
    // hundred small writes bring to the snapshot's size (as the rule means). So the state is
    // snapshotted now, every big key in it: the first RAFTSNAPSHOT may answer for a snapshot
    // already being written at an earlier index, the second takes one at this index.
    await send(node, [["RAFTSNAPSHOT"]]);
    await send(node, [["RAFTSNAPSHOT"]]);
    const first = node.status().lastSnapshotIndex;
    expect(first).toBe(node.status().appliedIndex);
    for (const write of smallWrites) await send(node, [write]);
    await Bun.sleep(200);
    const afterSmall = node.status().lastSnapshotIndex;
    for (const write of bigWrites) await send(node, [write]);
    const afterBig = await eventually("a snapshot after a log as large as the state", () => node.status().lastSnapshotIndex, (index) => index > afterSmall, 10_000);
    return { first, afterSmall, afterBig };
  } finally {
    await node.close();
  }
}

test("at 100%, a megabyte of state is not snapshotted again for 300 small writes, but is once as much was written", async () => {
  const { first, afterSmall, afterBig } = await run(100);
  // Past a snapshot of the megabyte, the small writes (some 20 KB of log) do not make another.
  expect(afterSmall).toBe(first);
  const grown = await run(0);
  // Without the rule, the 300 small writes (each its own entry, 20 per snapshot) make several.
  expect(grown.afterSmall).toBeGreaterThan(grown.first + 100);
  expect(afterBig).toBeGreaterThan(afterSmall);
});
