/**
 * A deleted key's value is not kept alive by the keyspace: `order` keeps dead entries until it is
 * compacted (after 1,024 deaths, and half of it), the expiry heap keeps them until they come up,
 * and eight deleted 70 MB strings stayed in memory with them (560 MB, seen in a heap snapshot).
 */
import { expect, test } from "bun:test";
import { Keyspace } from "../src/clone/keyspace.ts";
import { enterLogPosition, leaveLogPosition } from "../src/replicated.ts";

/** Stores values under `keys` (each made here, so that no caller's frame holds one) and returns weak references to them. */
function fill(db: Keyspace, keys: readonly string[], withTtl: boolean): WeakRef<Uint8Array>[] {
  enterLogPosition(1, 0, Date.now());
  try {
    return keys.map((key) => {
      const value = new Uint8Array(1024 * 1024).fill(7);
      db.set(key, value);
      if (withTtl) db.setExpiry(key, Date.now() + 3_600_000);
      return new WeakRef(value);
    });
  } finally {
    leaveLogPosition();
  }
}

function remove(db: Keyspace, keys: readonly string[], all: boolean): void {
  enterLogPosition(1, 0, Date.now());
  try {
    if (all) db.flush();
    else for (const key of keys) db.delete(key);
  } finally {
    leaveLogPosition();
  }
}

for (const [what, withTtl, all] of [
  ["DEL", false, false],
  ["DEL of keys with a TTL (in the expiry heap)", true, false],
  ["FLUSHALL", false, true],
] as const) {
  test(`after ${what}, the values are garbage`, async () => {
    const db = new Keyspace();
    const keys = Array.from({ length: 8 }, (_, i) => `big:${i}`);
    const refs = fill(db, keys, withTtl);
    // A few live keys around them, as in a real keyspace.
    fill(db, ["other:1", "other:2"], false);
    remove(db, keys, all);
    // On a later turn, so that no stale pointer on the stack or in a register (the collector
    // scans them conservatively) keeps one alive.
    await Bun.sleep(1);
    Bun.gc(true);
    const alive = refs.filter((ref) => ref.deref() !== undefined).length;
    expect(alive).toBe(0);
  });
}
