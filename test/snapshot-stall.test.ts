/**
 * A machine with a large state writes its snapshot while the node goes on: the node's event loop
 * must keep turning (heartbeats, acknowledgements, clients), not stand still until the last chunk
 * is written. The machine here captures at once and then spends about 400 ms producing 200 chunks,
 * awaiting each write, as the clone does; the node must answer clients meanwhile, and report the
 * longest time its loop was held (RAFTSTATS snapshot_stall_ms_max), which must be a slice, not the
 * whole snapshot.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import type { Applier, Conn, Machine, RespCommand, SnapshotWriter } from "../src/finn.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

/** Spins the CPU for `milliseconds` (work a machine does to encode a chunk of its state). */
function busy(milliseconds: number): void {
  const until = performance.now() + milliseconds;
  while (performance.now() < until) {
    // encoding...
  }
}

class SlowSnapshotter implements Machine {
  value = 0;
  command(applier: Applier, conn: Conn | null, command: RespCommand): void | Error {
    if (command.name === "incr") {
      applier.apply(conn, command, () => ++this.value, (value) => conn?.writeInt(value));
      return;
    }
    applier.apply(conn, command, null, () => conn?.writeInt(this.value));
  }
  async snapshot(writer: SnapshotWriter): Promise<void> {
    const captured = this.value;
    for (let chunk = 0; chunk < 200; chunk++) {
      busy(2);
      await writer.write(new TextEncoder().encode(chunk === 0 ? String(captured) : " "));
    }
  }
  restore(): void {}
}

const nodes = new InProcessNodes("stall");

test("the event loop keeps turning while a machine writes a long snapshot, and the stall reported is one slice", async () => {
  const node = await nodes.open(new SlowSnapshotter(), { logLevel: "warning" });
  const port = node.port;
  const connection = await RespConnection.connect(port);
  // Another client's requests: replies on one connection leave in order, behind RAFTSNAPSHOT's.
  const other = await RespConnection.connect(port);
  try {
    expect(plain(await connection.call("INCR", "k"))).toBe(1);
    // A timer that should fire every few milliseconds while the snapshot is written.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const snapshot = connection.call("RAFTSNAPSHOT");
    // Clients are served meanwhile: writes and reads answer before the snapshot is done.
    let answeredDuring = 0;
    let done = false;
    void snapshot.then(() => (done = true));
    while (!done) {
      await other.call("INCR", "k");
      if (!done) answeredDuring++;
    }
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(plain(await snapshot)).toBe("OK");
    expect(elapsed).toBeGreaterThan(300);
    expect(answeredDuring).toBeGreaterThan(10);
    expect(ticks).toBeGreaterThan(10);
    const stats = plain(await connection.call("RAFTSTATS")) as string[];
    const at = stats.indexOf("snapshot_stall_ms_max");
    const stall = Number(stats[at + 1]);
    expect(stall).toBeGreaterThan(0);
    // One slice of writing (the node yields every 5 ms of work; a chunk takes 2 ms), far below
    // the 400 ms the whole snapshot took.
    expect(stall).toBeLessThan(elapsed / 4);
  } finally {
    connection.close();
    other.close();
  }
});
