/**
 * What a write costs the disk. A single node's write takes two Readies of the Raft core: one
 * appends the entry, the next moves the commit index. Raft needs no durable commit index, so the
 * second must not cost a write of its own (at High that was a second fsync per write): the commit
 * index rides with the next save, and once writes stop it is written once, after a quiet tick,
 * so that a restart re-applies the whole committed log. Counted with INFO persistence's
 * `log_writes` and `log_syncs`, on both backends.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Applier, Conn, Machine, RespCommand } from "../src/finn.ts";
import { FileLogStore } from "../src/log/file-store.ts";
import { LmdbLogStore } from "../src/log/lmdb-store.ts";
import type { SaveBatch } from "../src/log/store.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

class Counter implements Machine {
  value = 0;
  command(applier: Applier, conn: Conn | null, command: RespCommand): void | Error {
    if (command.name === "incr") {
      applier.apply(conn, command, () => ++this.value, (value) => conn?.writeInt(value));
      return;
    }
    if (command.name === "get") {
      applier.apply(conn, command, null, () => conn?.writeInt(this.value));
      return;
    }
    return new Error(`ERR unknown command '${command.name}'`);
  }
  snapshot(): void {}
  restore(): void {}
}

const nodes = new InProcessNodes("log-writes");

async function persistence(connection: RespConnection): Promise<{ writes: number; syncs: number; commit: number; last: number }> {
  const text = String(plain(await connection.call("INFO", "persistence", "raft")));
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return { writes: field("log_writes"), syncs: field("log_syncs"), commit: field("commit_index"), last: field("last_log_index") };
}

/** One write at a time, so that each is a turn of its own: the case where the cost per write shows. */
const sequentialWrites = 200;

for (const backend of ["lmdb", "memory"] as const) {
  describe(`${backend} backend`, () => {
    for (const durability of ["high", "medium"] as const) {
      test(`at ${durability} durability one write costs one log write${durability === "high" ? " and one fsync" : ""}, not two; the commit index follows once writes stop`, async () => {
        const node = await nodes.open(new Counter(), { logLevel: "warning", backend, durability });
        const connection = await RespConnection.connect(node.port);
        try {
          expect(plain(await connection.call("INCR"))).toBe(1);
          const before = await persistence(connection);
          for (let i = 0; i < sequentialWrites; i++) await connection.call("INCR");
          const after = await persistence(connection);
          expect(plain(await connection.call("GET"))).toBe(sequentialWrites + 1);
          // One append per write, plus at most a few commit-index writes after quiet ticks (a tick
          // is 50 ms; a slow machine may leave one without a write now and then). Two per write
          // would be 2 × 200.
          const writes = after.writes - before.writes;
          expect(writes).toBeGreaterThanOrEqual(sequentialWrites);
          expect(writes).toBeLessThan(sequentialWrites * 1.25);
          if (durability === "high") {
            const syncs = after.syncs - before.syncs;
            expect(syncs).toBeGreaterThanOrEqual(sequentialWrites);
            expect(syncs).toBeLessThan(sequentialWrites * 1.25);
          }
          // Writes stopped: after a quiet tick the commit index is written once, then nothing.
          let settled = await persistence(connection);
          const deadline = performance.now() + 5_000;
          while (settled.writes === after.writes && performance.now() < deadline) {
            await Bun.sleep(20);
            settled = await persistence(connection);
          }
          expect(settled.writes).toBe(after.writes + 1);
          await Bun.sleep(300);
          expect((await persistence(connection)).writes).toBe(settled.writes);
        } finally {
          connection.close();
        }
      });
    }
  });
}

test("a node restarted after its writes stopped has applied them all when open() returns", async () => {
  const directory = nodes.directory();
  const first = await nodes.open(new Counter(), { logLevel: "warning", durability: "high" }, "", directory);
  const connection = await RespConnection.connect(first.port);
  for (let i = 0; i < 20; i++) await connection.call("INCR");
  const written = await persistence(connection);
  let settled = written;
  while (settled.writes === written.writes) {
    await Bun.sleep(20);
    settled = await persistence(connection);
  }
  connection.close();
  await first.close();
  // The restarted node re-applies all 20 writes from its log before it serves.
  const machine = new Counter();
  await nodes.open(machine, { logLevel: "warning", durability: "high" }, "", directory);
  expect(machine.value).toBe(20);
});

for (const [backend, store] of [["lmdb", LmdbLogStore], ["memory", FileLogStore]] as const) {
  test(`${backend}: a membership change takes effect only once the commit index that covers it is saved`, async () => {
    // The core applies a membership change when it is applied, and a restart rebuilds the
    // membership from the log up to the commit index on disk: if that index were behind an
    // applied change, a node restarted after a crash would come back with the old membership.
    const savedCommits: number[] = [];
    const save = store.prototype.save;
    store.prototype.save = function (this: LmdbLogStore & FileLogStore, batch: SaveBatch) {
      if (batch.hardState !== null) savedCommits.push(batch.hardState.commit);
      return save.call(this, batch);
    };
    try {
      const node = await nodes.open(new Counter(), { logLevel: "warning", backend, durability: "medium" });
      const connection = await RespConnection.connect(node.port);
      try {
        for (let i = 0; i < 5; i++) await connection.call("INCR");
        // A new member (nobody listens there: it stays a learner); answered once applied.
        expect(plain(await connection.call("RAFTADDPEER", "127.0.0.1:1", "0123456789abcdef0123456789abcdef"))).toBe("OK");
        const { commit } = await persistence(connection);
        expect(Math.max(...savedCommits)).toBeGreaterThanOrEqual(commit);
      } finally {
        connection.close();
      }
    } finally {
      store.prototype.save = save;
    }
  });
}
