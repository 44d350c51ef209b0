import { describe, expect, test } from "bun:test";
import { Progress } from "./progress.ts";
import { asIndex } from "./types.ts";

describe("Progress: probes", () => {
  const megabyte = 1024 * 1024;

  test("a small probe is sent again at the first heartbeat answer a tick or more after it went", () => {
    const progress = new Progress(asIndex(5), 256, 32 * megabyte);
    progress.sentEntries(asIndex(5), 1, 100, 10);
    expect(progress.isPaused()).toBe(true);
    progress.heartbeatAnswered(10, 1, 10, megabyte);
    expect(progress.isPaused()).toBe(true);
    progress.heartbeatAnswered(11, 1, 10, megabyte);
    expect(progress.isPaused()).toBe(false);
  });

  test("a large probe waits a tick per megabyte it carried, at most an election timeout", () => {
    const progress = new Progress(asIndex(5), 256, 32 * megabyte);
    progress.sentEntries(asIndex(5), 1, 4 * megabyte, 100);
    // A follower still reading it answers a burst of heartbeats: none of them resends it.
    for (let tick = 100; tick < 104; tick++) {
      progress.heartbeatAnswered(tick, 1, 10, megabyte);
      expect(progress.isPaused()).toBe(true);
    }
    progress.heartbeatAnswered(104, 1, 10, megabyte);
    expect(progress.isPaused()).toBe(false);
    progress.sentEntries(asIndex(5), 1, 50 * megabyte, 200);
    progress.heartbeatAnswered(209, 1, 10, megabyte);
    expect(progress.isPaused()).toBe(true);
    progress.heartbeatAnswered(210, 1, 10, megabyte);
    expect(progress.isPaused()).toBe(false);
  });

  test("an answer to the probe itself unpauses at once, whatever its size", () => {
    const progress = new Progress(asIndex(5), 256, 32 * megabyte);
    progress.sentEntries(asIndex(5), 1, 50 * megabyte, 0);
    expect(progress.maybeUpdate(asIndex(5))).toBe(true);
    expect(progress.isPaused()).toBe(false);
  });
});
