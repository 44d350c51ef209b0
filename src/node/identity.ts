/**
 * The node's identity, kept in its data directory so that it survives restarts: a random ID made
 * on first start. Stored in the LMDB environment that the log shares (`finn.mdb`), written with a
 * flushed transaction before the node serves anyone, with a checksum (LMDB has none): a damaged id
 * made the node take itself for a removed member and advise moving its data away. Identities
 * written before the checksum are read as they are, and checked the next time one is recorded.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { decodeChecked, encodeChecked } from "../log/codec.ts";
import { openLmdbFile } from "../log/lmdb-check.ts";
import { StorageCorruptionError } from "../log/store.ts";

export interface Identity {
  readonly nodeId: string;
  readonly createdAt: number;
  /**
   * The backend of the log this node wrote, once one was on disk: a directory that lost its log
   * is then refused rather than started empty under the same id (directories from before this
   * field was added have none, and are not checked).
   */
  readonly log?: "lmdb" | "memory";
  /**
   * The applied index at which this node first found itself in its cluster's membership. After a
   * restart, a membership without it applied at or after that index means it was removed since.
   */
  readonly memberSince?: number;
  /**
   * The id of the cluster this node belongs to (transport/handshake.ts): made when it started a
   * new cluster, or taken from the first peer of one that reached it while it had no Raft state.
   * Directories from before this field have none, and keep none.
   */
  readonly clusterId?: string;
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
  const path = join(dir, lmdbFileName);
  // LMDB would crash the process on a file cut short or a damaged meta page: refuse it first.
  const advice = `Restore that file from a backup, or move the data directory ${dir} away and add this node again as a new member.`;
  const { environment, meta } = openLmdbFile(path, advice, () => {
    const environment = open({ path, compression: false });
    return { environment, meta: metaOf(environment) };
  });
  let stored: Identity | undefined;
  try {
    stored = readIdentity(meta);
  } catch (error) {
    await environment.close();
    throw new StorageCorruptionError(path, null, `${path} is damaged: the node's identity ${error instanceof Error ? error.message : String(error)}. ${advice}`);
  }
  if (stored !== undefined) return { identity: stored, environment };
  if (!mayCreate) {
    await environment.close();
    throw new Error(
      `the data directory ${dir} holds a log but no node identity (${join(dir, lmdbFileName)} is missing or damaged): restore that file, or move the directory away and add this node again as a new member`,
    );
  }
  const identity: Identity = { nodeId: randomId(), createdAt: Date.now() };
  await meta.put(identityKey, encodeChecked(identity));
  await environment.flushed;
  return { identity, environment };
}

const identityKey = "identity";

function metaOf(environment: RootDatabase): Database<unknown, string> {
  return environment.openDB<unknown, string>({ name: "meta" });
}

/** The stored identity, or undefined; throws (what is wrong) when it is damaged. */
function readIdentity(meta: Database<unknown, string>): Identity | undefined {
  let stored: unknown;
  try {
    stored = meta.get(identityKey);
  } catch (error) {
    throw new Error(`cannot be decoded (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (stored === undefined) return undefined;
  // Written before checksums: the object itself.
  const value = stored instanceof Uint8Array ? decodeChecked(stored) : stored;
  if (value === null) throw new Error("fails its checksum");
  const identity = parseIdentity(value);
  if (identity === null) throw new Error("is not in the format of one");
  return identity;
}

/** The identity in `value`, with every field in its format, or null. */
function parseIdentity(value: unknown): Identity | null {
  if (typeof value !== "object" || value === null) return null;
  const { nodeId, createdAt, log, memberSince, clusterId } = value as Record<string, unknown>;
  if (typeof nodeId !== "string" || !nodeIdPattern.test(nodeId) || typeof createdAt !== "number") return null;
  if (log !== undefined && log !== "lmdb" && log !== "memory") return null;
  if (memberSince !== undefined && !(typeof memberSince === "number" && Number.isSafeInteger(memberSince) && memberSince >= 0)) return null;
  if (clusterId !== undefined && !(typeof clusterId === "string" && nodeIdPattern.test(clusterId))) return null;
  return {
    nodeId,
    createdAt,
    ...(log === undefined ? {} : { log }),
    ...(memberSince === undefined ? {} : { memberSince }),
    ...(clusterId === undefined ? {} : { clusterId }),
  };
}

/** What is stored now (fields recorded since `identity` was loaded stay), or `identity`. */
function currentIdentity(meta: Database<unknown, string>, identity: Identity): Identity {
  return readIdentity(meta) ?? identity;
}

/**
 * What a node id looks like on the wire (RAFTJOIN, RAFTADDPEER, RAFTNODEID): hexadecimal digits, 16
 * to 64 of them (ids made here have 40).
 */
export const nodeIdPattern = /^[0-9a-f]{16,64}$/;

/** A new random id (a node's, or a cluster's). */
export function randomId(): string {
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Records in the identity the cluster this node belongs to (see `Identity.clusterId`), flushed to
 * disk before it returns: a node that told a peer it is of that cluster must not forget it.
 */
export function recordClusterId(environment: RootDatabase, identity: Identity, clusterId: string): void {
  const meta = metaOf(environment);
  // A synchronous transaction of this environment (not `noSync`) is durable when it returns.
  meta.putSync(identityKey, encodeChecked({ ...currentIdentity(meta, identity), clusterId }));
}

/** Records in the identity the applied index at which this node found itself a member (see `Identity.memberSince`). */
export async function recordMember(environment: RootDatabase, identity: Identity, index: number): Promise<void> {
  const meta = metaOf(environment);
  const current = currentIdentity(meta, identity);
  if (current.memberSince !== undefined) return;
  await meta.put(identityKey, encodeChecked({ ...current, memberSince: index }));
  await environment.flushed;
}

/** Records in the identity that this node's log, of `backend`, is on disk (see `Identity.log`). */
export async function recordLog(environment: RootDatabase, identity: Identity, backend: "lmdb" | "memory"): Promise<Identity> {
  const meta = metaOf(environment);
  const current = currentIdentity(meta, identity);
  if (current.log === backend) return current;
  const recorded: Identity = { ...current, log: backend };
  await meta.put(identityKey, encodeChecked(recorded));
  await environment.flushed;
  return recorded;
}
