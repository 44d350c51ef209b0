/**
 * Replicated time and randomness: every replica applies a write at the time its leader stamped on
 * the log entry and draws the same random numbers for it, so a machine that decides by time
 * (expiry) or by chance (SPOP) makes the same decision on every node, across a leader change.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { type Applier, type Conn, type Machine, replicatedRandom, replicatedTime, type RespCommand } from "../src/finn.ts";
import { eventually } from "./helpers/eventually.ts";
import { InProcessNodes } from "./helpers/in-process-nodes.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

/** `STAMP key` records (time, a random draw) for the key, in mutate; `SEEN key` reads them back. */
class Stamper implements Machine {
  readonly stamps = new Map<string, [number, number]>();
  command(applier: Applier, conn: Conn | null, command: RespCommand): void | Error {
    const key = command.key(1);
    if (command.name === "stamp") {
      applier.apply(conn, command, () => {
        this.stamps.set(key, [replicatedTime(), replicatedRandom()()]);
      }, () => conn?.writeString("OK"));
      return;
    }
    applier.apply(conn, command, null, () => conn?.writeBulk(JSON.stringify(this.stamps.get(key) ?? null)));
  }
  snapshot(): void {}
  restore(): void {}
}

const cluster = new InProcessNodes("time");

test("three replicas record the same time and the same random draw for every write, across a leader change", async () => {
  const machines = [new Stamper(), new Stamper(), new Stamper()];
  const first = await cluster.openCluster(machines, { logLevel: "warning", consistency: "high" });

  const before = Date.now();
  for (let i = 0; i < 20; i++) expect(await callPort(first.port, "STAMP", `k${i}`)).toBe("OK");
  const after = Date.now();
  // Hand leadership over, and write through the new leader.
  expect(await callPort(first.port, "RAFTTRANSFER")).toBe("OK");
  const leader = await eventually("a new leader", () => cluster.nodes.find((node) => node !== first && node.status().state === "Leader") ?? null, (node) => node !== null, 30_000);
  for (let i = 20; i < 30; i++) expect(await callPort(leader!.port, "STAMP", `k${i}`)).toBe("OK");

  await eventually("every replica to apply every write", () => machines.map((machine) => machine.stamps.size), (sizes) => sizes.every((size) => size === 30), 30_000);
  const reference = [...machines[0]!.stamps.entries()];
  for (const machine of machines.slice(1)) expect([...machine.stamps.entries()]).toEqual(reference);
  // The first writes were stamped with the first leader's clock while they were sent.
  for (let i = 0; i < 20; i++) {
    const [time] = machines[0]!.stamps.get(`k${i}`) ?? [0];
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  }
  // Time never goes back along the log, and the draws differ from write to write.
  const times = Array.from({ length: 30 }, (_, i) => machines[0]!.stamps.get(`k${i}`)?.[0] ?? 0);
  for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
  expect(new Set(reference.map(([, [, draw]]) => draw)).size).toBe(30);
});
