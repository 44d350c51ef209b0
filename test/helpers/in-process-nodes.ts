/**
 * Nodes opened with `open()` inside the test process, each on a fresh temporary directory on a
 * free loopback port; closed, and their directories removed, after the test file's tests.
 */
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FinnNode, type Machine, open, type Options } from "../../src/finn.ts";
import { eventually } from "./eventually.ts";
import { callPort } from "./resp-client.ts";

export class InProcessNodes {
  /** Every node opened, in order (closed ones included). */
  readonly nodes: FinnNode[] = [];
  private readonly directories: string[] = [];
  /** The data directory of each node opened. */
  private readonly directoryOf = new Map<FinnNode, string>();

  constructor(private readonly prefix: string) {
    afterAll(async () => {
      for (const node of this.nodes) await node.close();
      for (const directory of this.directories) rmSync(directory, { recursive: true, force: true });
    });
  }

  /** A fresh temporary directory, removed after the file's tests. */
  directory(): string {
    const directory = mkdtempSync(join(tmpdir(), `finn-${this.prefix}-`));
    this.directories.push(directory);
    return directory;
  }

  /** Opens a node serving `machine` (on a fresh directory unless one is given), joining `joinAddress` if not empty. */
  async open(machine: Machine, options: Options, joinAddress = "", directory = this.directory()): Promise<FinnNode> {
    const node = await open(directory, "127.0.0.1:0", joinAddress, machine, options);
    this.nodes.push(node);
    this.directoryOf.set(node, directory);
    return node;
  }

  /**
   * Restarts `node` (opened here): closes it (if it is still open), then opens `machine` on its
   * data directory at its address (its peers know it by that address), so that it comes back from
   * its own snapshot and log. Returns the new node.
   */
  async restart(node: FinnNode, machine: Machine, options: Options): Promise<FinnNode> {
    const directory = this.directoryOf.get(node);
    if (directory === undefined) throw new Error(`node ${node.address} was not opened by these InProcessNodes`);
    await node.close();
    const reopened = await open(directory, node.address, "", machine, options);
    this.nodes.push(reopened);
    this.directoryOf.set(reopened, directory);
    return reopened;
  }

  /**
   * Opens a cluster of a node for each of `machines` (at least one), the others joining the first,
   * and waits until every node is a voter (RAFTPEERS lists each with its role). Returns the first.
   */
  async openCluster(machines: readonly Machine[], options: Options): Promise<FinnNode> {
    const [firstMachine, ...others] = machines;
    if (firstMachine === undefined) throw new Error("openCluster needs a machine");
    const first = await this.open(firstMachine, options);
    for (const machine of others) await this.open(machine, options, first.address);
    await eventually(
      `${machines.length} voters`,
      () => callPort(first.port, "RAFTPEERS"),
      (peers) => Array.isArray(peers) && peers.length === 2 * machines.length && !peers.includes("Learner"),
      30_000,
    );
    return first;
  }
}

/** Sends each of `writes` to `port` in turn, one at a time; an error reply fails the test, naming the write. */
export async function writeEach(port: number, writes: readonly string[][]): Promise<void> {
  for (const args of writes) {
    const reply = await callPort(port, ...args);
    expect(typeof reply === "object" && reply !== null && "error" in reply ? [args, reply] : null).toBeNull();
  }
}

/**
 * Waits until the clone nodes at `ports` all answer DEBUG DIGEST alike (each from its own state
 * at low consistency); that digest must not be an empty keyspace's.
 */
export async function awaitSameDigest(ports: readonly number[]): Promise<void> {
  const digests = await eventually(
    "every node to hold the same data",
    () => Promise.all(ports.map((port) => callPort(port, "DEBUG", "DIGEST"))),
    (all) => new Set(all).size === 1,
    30_000,
  );
  expect(digests[0]).not.toBe("0".repeat(40));
}
