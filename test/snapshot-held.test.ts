/**
 * A node keeps its latest snapshot's bytes in memory only when it has peers, to send to a follower
 * that needs them; alone, it keeps only their size (they would be a second copy of its state that
 * nothing sends), and reads them back from the snapshot file, checked, when a node joins and the
 * log behind the snapshot is gone (src/node/raft-node.ts, `noteSnapshotData`).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { eventually } from "./helpers/eventually.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const nodes = new InProcessNodes("held");

test("a node alone that compacted its log brings up a node that joins from its snapshot file", async () => {
  const options = { logLevel: "warning", consistency: "low", snapshotEntries: 50, snapshotTrailEntries: 0 } as const;
  const first = await nodes.open(new Clone(), options);
  await writeEach(
    first.port,
    Array.from({ length: 300 }, (_, i) => ["SET", `key:${i}`, `value ${i}`]),
  );
  // Every entry before the last snapshot is gone from the log: a node that joins needs the
  // snapshot. (The last one, past index 250, may still be being written: it is waited for.)
  await eventually(
    "a snapshot past index 250",
    async () => {
      const stats = (await callPort(first.port, "RAFTSTATS")) as string[];
      return Number(stats[stats.indexOf("last_snapshot_index") + 1]);
    },
    (index) => index > 250,
  );
  const second = await nodes.open(new Clone(), options, first.address);
  await awaitSameDigest([first.port, second.port]);
  expect(await callPort(second.port, "GET", "key:299")).toBe("value 299");
  expect(await callPort(second.port, "DBSIZE")).toBe(300);
});
