/**
 * What the tests of blocking commands share: a single-node clone opened on first use (closed
 * after the file's tests), a 3-node cluster for one test, clients that are closed whatever
 * happens, and replies that may not come (a blocked client's): `repliesWithin` says whether one
 * came, and keeps it for `next`.
 */
import { afterAll } from "bun:test";
import { Clone } from "../../src/clone/machine.ts";
import type { FinnNode, Options } from "../../src/finn.ts";
import { eventually } from "./eventually.ts";
import { InProcessNodes } from "./in-process-nodes.ts";
import { callPort, plain, RespConnection, type RespValue } from "./resp-client.ts";

/** A leader of its own for a test file (`prefix` names its directories), opened by the first test that asks. */
export function singleNode(prefix: string): () => Promise<FinnNode> {
  const nodes = new InProcessNodes(prefix);
  let single: FinnNode | null = null;
  afterAll(async () => {
    await single?.close();
  });
  return async () => {
    if (single === null) {
      single = await nodes.open(new Clone(), { logLevel: "warning" });
      const port = single.port;
      await eventually("a leader", () => callPort(port, "RAFTSTATE"), (state) => state === "Leader");
    }
    return single;
  };
}

/** Runs `body` on a 3-node cluster of clones (`prefix` names its directories; `ports` are all three), and closes its nodes after. */
export async function withCluster(
  prefix: string,
  options: Options,
  body: (leader: FinnNode, follower: FinnNode, ports: readonly number[]) => Promise<void>,
): Promise<void> {
  const cluster = new InProcessNodes(prefix);
  const leader = await cluster.openCluster([new Clone(), new Clone(), new Clone()], options);
  try {
    const follower = cluster.nodes.find((one) => one !== leader);
    if (follower === undefined) throw new Error("no follower");
    await body(leader, follower, cluster.nodes.map((one) => one.port));
  } finally {
    for (const one of cluster.nodes) await one.close();
  }
}

export async function connect(port: number): Promise<RespConnection> {
  return RespConnection.connect(port);
}

/** Runs `body` with `count` clients of `port`, and closes them after, whatever happens. */
export async function withClients(port: number, count: number, body: (...clients: RespConnection[]) => Promise<void>): Promise<void> {
  const clients = await Promise.all(Array.from({ length: count }, () => connect(port)));
  try {
    await body(...clients);
  } finally {
    for (const client of clients) client.close();
  }
}

const pushedBack = new Map<RespConnection, RespValue>();

/** Resolves to true if a reply arrives within `milliseconds`, false if none does (the reply is kept for `next`). */
export async function repliesWithin(connection: RespConnection, milliseconds: number): Promise<boolean> {
  try {
    pushedBack.set(connection, await connection.read(milliseconds));
    return true;
  } catch {
    return false;
  }
}

/** The next reply of `connection` as a plain value (one `repliesWithin` kept first). */
export async function next(connection: RespConnection): Promise<unknown> {
  const kept = pushedBack.get(connection);
  if (kept !== undefined) {
    pushedBack.delete(connection);
    return plain(kept);
  }
  return plain(await connection.read(10_000));
}
