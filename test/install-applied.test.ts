/**
 * A node installing a snapshot from the leader (here a new member, which a compacted log can only
 * bring up that way): until its machine holds the snapshot, its RAFTSTATS applied_index stays
 * where the machine is (the Raft core counts the snapshot applied as
 * soon as it accepts it). Anything that waits for applied_index (a test comparing replicas, an
 * operator) must not read the old state as if it were the new one; the command fuzzer did, about
 * one run in ten. Made deterministic here with a machine whose restore waits for a gate.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import type { SnapshotReader } from "../src/api.ts";
import { Clone } from "../src/clone/machine.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

/** A clone whose restores wait for `open()` once `hold` is set. */
class GatedClone extends Clone {
  hold = false;
  private readonly gate = Promise.withResolvers<void>();
  restoring = false;

  open(): void {
    this.gate.resolve();
  }

  override async restore(reader: SnapshotReader): Promise<void> {
    if (this.hold) {
      this.restoring = true;
      await this.gate.promise;
    }
    return super.restore(reader);
  }
}

async function stat(port: number, name: string): Promise<number> {
  const stats = (await callPort(port, "RAFTSTATS")) as string[];
  return Number(stats[stats.indexOf(name) + 1]);
}

test("RAFTSTATS applied_index stays at the machine's index while a snapshot from the leader is being installed", async () => {
  const cluster = new InProcessNodes("install-applied");
  const options = { logLevel: "warning" as const, consistency: "low" as const, snapshotTrailEntries: 2 };
  const leader = await cluster.open(new Clone(), options);
  try {
    await eventually("a leader", () => callPort(leader.port, "RAFTSTATE"), (state) => state === "Leader");
    for (let i = 0; i < 20; i++) expect(await callPort(leader.port, "SET", `key:${i}`, "x")).toBe("OK");
    for (let i = 0; i < 30; i++) await callPort(leader.port, "INCR", "counter");
    // Compacted past the start of the log: a new member can only be brought up by the snapshot.
    expect(await callPort(leader.port, "RAFTSNAPSHOT")).toBe("OK");
    const snapshotIndex = await stat(leader.port, "last_snapshot_index");

    const gated = new GatedClone();
    gated.hold = true;
    const joining = await cluster.open(gated, options, leader.address);
    await eventually("the install to begin", () => gated.restoring, (restoring) => restoring, 30_000);
    // The core took the snapshot; the machine has not: applied_index says where the machine is.
    expect(await stat(joining.port, "applied_index")).toBeLessThan(snapshotIndex);
    expect(await callPort(joining.port, "DBSIZE")).toBe(0);
    gated.open();
    await eventually("the machine to hold the snapshot", () => stat(joining.port, "applied_index"), (index) => index >= snapshotIndex);
    expect(await callPort(joining.port, "DBSIZE")).toBe(21);
    expect(await callPort(joining.port, "GET", "counter")).toBe("30");
  } finally {
    for (const node of cluster.nodes) await node.close().catch(() => {});
  }
});
