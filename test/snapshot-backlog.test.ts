/**
 * While a snapshot is written the log grows behind it and is compacted only when it is done. A
 * leader lets four times `snapshotBytes` of entries (or the last snapshot's size, if more) be
 * applied after the snapshot's capture, then holds new writes until the snapshot is done, so the
 * data directory stays bounded however slow the disk (src/node/raft-node.ts,
 * `snapshotBacklogFactor`). A held write waits 5 s at most, then goes on: a snapshot that never
 * ends slows writes without stopping them. The machine here captures its state and then waits,
 * before its first write, for the test to let it go on.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import type { Applier, Conn, Machine, RespCommand, SnapshotWriter } from "../src/finn.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const kilobyte = 1024;
const snapshotBytes = 64 * kilobyte;
const value = "v".repeat(16 * kilobyte);

/** Counts its APPENDs' bytes; its snapshots wait for `release()` before writing. */
class GatedSnapshots implements Machine {
  appended = 0;
  bytes = 0;
  snapshotsStarted = 0;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => {};

  close(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
    this.gate = Promise.resolve();
  }

  command(applier: Applier, conn: Conn | null, command: RespCommand): void | Error {
    if (command.name === "append") {
      const length = command.arg(2).byteLength;
      applier.apply(
        conn,
        command,
        () => {
          this.appended++;
          this.bytes += length;
          return this.appended;
        },
        (count) => conn?.writeInt(count),
      );
      return;
    }
    applier.apply(conn, command, null, () => conn?.writeInt(this.appended));
  }

  async snapshot(writer: SnapshotWriter): Promise<void> {
    const captured = `${this.appended} ${this.bytes}`;
    this.snapshotsStarted++;
    await this.gate;
    await writer.write(new TextEncoder().encode(captured));
  }

  restore(): void {}
}

/** RAFTSTATS as a map. */
async function raftStats(connection: RespConnection): Promise<Map<string, string>> {
  const flat = plain(await connection.call("RAFTSTATS")) as string[];
  const stats = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) stats.set(flat[i]!, flat[i + 1]!);
  return stats;
}

const heldMarker = Symbol("held");

/**
 * Sends APPENDs of 16 KB one at a time, each after the last was answered, until one is not
 * answered within a second: returns how many were answered, and the reply of the one held.
 */
async function appendUntilHeld(connection: RespConnection, limit = 100): Promise<{ answered: number; held: Promise<unknown> }> {
  for (let answered = 0; answered < limit; answered++) {
    const reply = connection.call("APPEND", "k", value);
    const first = await Promise.race([reply, Bun.sleep(1000).then(() => heldMarker)]);
    if (first === heldMarker) return { answered, held: reply.then(plain) };
  }
  throw new Error(`${limit} writes answered, none held`);
}

/** Sends APPENDs one at a time until the machine has started a snapshot. */
async function appendUntilSnapshot(connection: RespConnection, machine: GatedSnapshots): Promise<void> {
  for (let i = 0; machine.snapshotsStarted === 0; i++) {
    if (i === 20) throw new Error("no snapshot after 20 writes of 16 KB");
    await connection.call("APPEND", "k", value);
    // The snapshot starts at the end of the turn that applied the write past the bound.
    await Bun.sleep(20);
  }
}

const nodes = new InProcessNodes("backlog");

/**
 * Opens a node whose machine's snapshots wait at a gate, writes until a snapshot starts and then
 * until a write is held; checks that sixteen writes of 16 KB went through after the capture (256
 * KB of entries with their framing; fifteen fall short of it). Runs `rest`, then opens the gate.
 */
async function withHeldWrite(
  rest: (context: { machine: GatedSnapshots; writer: RespConnection; reader: RespConnection; before: number; held: Promise<unknown> }) => Promise<void>,
): Promise<void> {
  const machine = new GatedSnapshots();
  machine.close();
  const node = await nodes.open(machine, { logLevel: "warning", snapshotBytes });
  const writer = await RespConnection.connect(node.port);
  const reader = await RespConnection.connect(node.port);
  try {
    await appendUntilSnapshot(writer, machine);
    const captured = machine.appended;
    const { answered, held } = await appendUntilHeld(writer);
    expect(answered).toBe(16);
    expect(machine.appended).toBe(captured + answered);
    await rest({ machine, writer, reader, before: machine.appended, held });
  } finally {
    machine.release();
    writer.close();
    reader.close();
  }
}

test("a leader holds writes once 4 x snapshotBytes were applied behind a snapshot still being written, and lets them go when it is done", async () => {
  await withHeldWrite(async ({ machine, writer, reader, before, held }) => {
    // Reads are not held.
    expect(plain(await reader.call("GET", "k"))).toBe(before);
    const stats = await raftStats(reader);
    expect(Number(stats.get("snapshot_write_holds"))).toBe(1);
    // The snapshot is done: the held write goes on, applied once, and so do the next.
    machine.release();
    expect(await held).toBe(before + 1);
    expect(plain(await writer.call("APPEND", "k", value))).toBe(before + 2);
    expect(machine.appended).toBe(before + 2);
    const after = await raftStats(reader);
    expect(Number(after.get("last_snapshot_index"))).toBeGreaterThan(0);
    expect(Number(after.get("snapshot_write_hold_ms_max"))).toBeGreaterThanOrEqual(1000);
  });
});

test("a snapshot that does not end holds a write 5 s at most: then it goes on", async () => {
  await withHeldWrite(async ({ machine, reader, before, held }) => {
    // The gate stays shut: after the longest hold the write goes on anyway, applied once.
    expect(await held).toBe(before + 1);
    expect(machine.appended).toBe(before + 1);
    const stats = await raftStats(reader);
    expect(Number(stats.get("snapshot_write_holds"))).toBe(1);
    expect(Number(stats.get("snapshot_write_hold_ms_max"))).toBeGreaterThanOrEqual(5_000);
    expect(machine.snapshotsStarted).toBe(1);
  });
});

test("a follower does not hold: it applies what its leader sends while its own snapshot waits", async () => {
  const machines = [new GatedSnapshots(), new GatedSnapshots(), new GatedSnapshots()];
  machines[1]!.close();
  const leader = await nodes.openCluster(machines, { logLevel: "warning", snapshotBytes });
  const writer = await RespConnection.connect(leader.port);
  try {
    for (let i = 1; i <= 44; i++) expect(plain(await writer.call("APPEND", "k", value))).toBe(i);
    await eventually("the follower to apply every write", () => machines[1]!.appended, (appended) => appended === 44, 10_000);
    expect(machines[1]!.snapshotsStarted).toBe(1);
  } finally {
    machines[1]!.release();
    writer.close();
  }
});
