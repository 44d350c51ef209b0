/**
 * DEBUG DIGEST and DEBUG DIGEST-VALUE: a SHA-1 of the whole keyspace (or of one value) that is
 * the same on two nodes exactly when they hold the same keys with the same types, values and
 * expiry times. DEBUG DIGEST covers every key held, expired ones not reclaimed yet included:
 * reclaiming happens only while applying, identically on every replica, so nodes that applied
 * the same log hold the same keys whatever their clocks say (a key without a TTL digests as it
 * did before TTLs existed).
 * Sets and hashes are hashed in sorted order, so their internal order does not matter; lists,
 * sorted sets and streams in their own order. As in Redis, an empty keyspace (or a missing key)
 * digests to forty zeros. The digest is not Redis's (Redis mixes its own encodings); only equality
 * means anything.
 */
import { createHash, type Hash } from "node:crypto";
import type { Keyspace, Value } from "./keyspace.ts";

export const emptyDigest = "0".repeat(40);

function lengthPrefix(hash: Hash, length: number): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(length >>> 0);
  hash.update(header);
}

function bytes(hash: Hash, value: Uint8Array): void {
  lengthPrefix(hash, value.length);
  hash.update(value);
}

function text(hash: Hash, value: string): void {
  bytes(hash, Buffer.from(value, "latin1"));
}

function score(hash: Hash, value: number): void {
  const buffer = Buffer.allocUnsafe(8);
  buffer.writeDoubleBE(value);
  hash.update(buffer);
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function hashValue(hash: Hash, value: Value): void {
  if (value instanceof Uint8Array) {
    hash.update("s");
    bytes(hash, value);
    return;
  }
  switch (value.type) {
    case "list":
      hash.update("l");
      lengthPrefix(hash, value.size);
      for (let i = 0; i < value.size; i++) bytes(hash, value.at(i));
      return;
    case "set":
      hash.update("S");
      lengthPrefix(hash, value.size);
      for (const member of sorted(value.members)) text(hash, member);
      return;
    case "hash":
      hash.update("h");
      lengthPrefix(hash, value.size);
      for (const field of sorted(value.fields.keys())) {
        text(hash, field);
        bytes(hash, value.fields.get(field) as Uint8Array);
      }
      return;
    case "zset":
      hash.update("z");
      lengthPrefix(hash, value.size);
      for (const [member, memberScore] of value.entries()) {
        text(hash, member);
        score(hash, memberScore);
      }
      return;
    case "stream":
      hash.update("x");
      text(hash, `${value.lastId.ms}-${value.lastId.seq}`);
      lengthPrefix(hash, value.size);
      for (let i = 0; i < value.size; i++) {
        const entry = value.at(i);
        text(hash, `${entry.id.ms}-${entry.id.seq}`);
        lengthPrefix(hash, entry.fields.length);
        for (const field of entry.fields) bytes(hash, field);
      }
      return;
  }
}

/** The digest of one value, or forty zeros for none. */
export function valueDigest(value: Value | undefined): string {
  if (value === undefined) return emptyDigest;
  const hash = createHash("sha1");
  hashValue(hash, value);
  return hash.digest("hex");
}

/** The digest of every key, type and value. */
export function keyspaceDigest(db: Keyspace): string {
  if (db.size === 0) return emptyDigest;
  const hash = createHash("sha1");
  const entries = [...db.held()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const entry of entries) {
    text(hash, entry.key);
    hashValue(hash, entry.value);
    if (entry.expiresAt !== 0) {
      hash.update("e");
      score(hash, entry.expiresAt);
    }
  }
  return hash.digest("hex");
}
