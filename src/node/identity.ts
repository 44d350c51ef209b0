/**
 * The node's identity, kept in its data directory so that it survives restarts: a random ID made
 * on first start. Stored in the LMDB environment that the log shares (`finn.mdb`), written with a
 * flushed transaction before the node serves anyone.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";

export interface Identity {
  readonly nodeId: string;
  readonly createdAt: number;
}

/** The file name of the LMDB environment inside the data directory. */
export const lmdbFileName = "finn.mdb";

/**
 * Opens (creating if needed) the data directory's metadata and returns the node's identity. With
 * `mayCreate` false (the directory holds a log) a missing identity is an error: a new id beside
 * an old log is another node's log, which its cluster does not know.
 */
export async function loadIdentity(dir: string, mayCreate = true): Promise<{ identity: Identity; environment: RootDatabase }> {
  // Owner-only: the directory will hold every write the cluster accepted.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const environment = open({ path: join(dir, lmdbFileName), compression: false });
  const meta = environment.openDB<Identity, string>({ name: "meta" });
  const stored = meta.get("identity");
  if (stored !== undefined) return { identity: stored, environment };
  if (!mayCreate) {
    await environment.close();
    throw new Error(
      `the data directory ${dir} holds a log but no node identity (${join(dir, lmdbFileName)} is missing or damaged): restore that file, or move the directory away and add this node again as a new member`,
    );
  }
  const identity: Identity = { nodeId: randomId(), createdAt: Date.now() };
  await meta.put("identity", identity);
  await environment.flushed;
  return { identity, environment };
}

/**
 * What a node id looks like on the wire (RAFTJOIN, RAFTADDPEER, RAFTNODEID): hexadecimal digits, 16
 * to 64 of them (ids made here have 40).
 */
export const nodeIdPattern = /^[0-9a-f]{16,64}$/;

function randomId(): string {
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
