import { describe, expect, test } from "bun:test";
import { GroupSync } from "./group-sync.ts";

/** A sync function whose calls the test finishes by hand. */
function manualSync(): { readonly sync: () => Promise<void>; readonly calls: (() => void)[] } {
  const calls: (() => void)[] = [];
  return {
    calls,
    sync: () =>
      new Promise<void>((resolve) => {
        calls.push(resolve);
      }),
  };
}

describe("GroupSync", () => {
  test("writes that arrive during a sync wait for the next flush; they do not start a sync themselves", async () => {
    const { sync, calls } = manualSync();
    const group = new GroupSync(sync);
    let firstDone = false;
    void group.written().then(() => (firstDone = true));
    void group.flush();
    expect(calls.length).toBe(1);
    let secondDone = false;
    void group.written().then(() => (secondDone = true));
    calls[0]!();
    await Bun.sleep(1);
    expect(firstDone).toBe(true);
    // Medium's timer (or an explicit flush) starts the next sync, not the end of this one.
    expect(calls.length).toBe(1);
    expect(secondDone).toBe(false);
    expect(group.hasPending()).toBe(true);
    void group.flush();
    expect(calls.length).toBe(2);
    calls[1]!();
    await Bun.sleep(1);
    expect(secondDone).toBe(true);
    expect(group.syncCount).toBe(2);
  });

  test("a flush requested during a sync starts the next one as soon as it ends", async () => {
    const { sync, calls } = manualSync();
    const group = new GroupSync(sync);
    void group.written();
    void group.flush();
    const later = group.written();
    let laterDone = false;
    void group.flush().then(() => (laterDone = true));
    expect(calls.length).toBe(1);
    calls[0]!();
    await Bun.sleep(1);
    expect(calls.length).toBe(2);
    calls[1]!();
    await later;
    expect(laterDone).toBe(true);
  });

  test("syncSoon gathers the writes of one turn into one sync", async () => {
    const { sync, calls } = manualSync();
    const group = new GroupSync(sync);
    const saves = [group.written(), group.written(), group.written()];
    group.syncSoon();
    group.syncSoon();
    await Bun.sleep(1);
    expect(calls.length).toBe(1);
    calls[0]!();
    await Promise.all(saves);
    expect(group.syncCount).toBe(1);
  });

  test("a failed sync fails the writes waiting for it and those queued behind it", async () => {
    let fail: ((error: Error) => void) | null = null;
    const group = new GroupSync(() => new Promise<void>((_resolve, reject) => (fail = reject)));
    const first = group.written();
    const flushed = group.flush();
    const second = group.written();
    const outcomes = Promise.allSettled([first, flushed, second]);
    fail!(new Error("EIO"));
    for (const outcome of await outcomes) {
      expect(outcome.status).toBe("rejected");
      expect(String((outcome as PromiseRejectedResult).reason)).toContain("EIO");
    }
  });
});
