/**
 * Nodes opened with `open()` inside the test process, each on a fresh temporary directory on a
 * free loopback port; closed, and their directories removed, after the test file's tests.
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FinnNode, type Machine, open, type Options } from "../../src/finn.ts";

export class InProcessNodes {
  /** Every node opened, in order (closed ones included). */
  readonly nodes: FinnNode[] = [];
  private readonly directories: string[] = [];

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
    return node;
  }
}
