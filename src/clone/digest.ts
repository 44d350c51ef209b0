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

/**
 * A SHA-1 fed through a buffer of its own: a keyspace digest hashes a few small pieces per key,
 * and one `update` call (and one small Buffer) per piece made DEBUG DIGEST of a few hundred
 * thousand keys allocate enough to set off a full collection of a large heap, which held the loop
 * for over a second. The bytes hashed are the same, so the digest is too.
 */
class Hasher {
  private readonly hash: Hash = createHash("sha1");
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  private room(bytes: number): void {
    if (this.length + bytes > this.buffer.length) this.flush();
  }

  private flush(): void {
    if (this.length > 0) this.hash.update(this.buffer.subarray(0, this.length));
    this.length = 0;
  }

  /** One ASCII character (a type tag). */
  tag(character: string): void {
    this.room(1);
    this.buffer[this.length++] = character.charCodeAt(0);
  }

  lengthPrefix(length: number): void {
    this.room(4);
    this.buffer.writeUInt32BE(length >>> 0, this.length);
    this.length += 4;
  }

  bytes(value: Uint8Array): void {
    this.lengthPrefix(value.length);
    if (value.length > this.buffer.length / 2) {
      this.flush();
      this.hash.update(value);
      return;
    }
    this.room(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** A binary-safe string key: its latin1 bytes, length first. */
  text(value: string): void {
    this.lengthPrefix(value.length);
    if (value.length > this.buffer.length / 2) {
      this.flush();
      this.hash.update(Buffer.from(value, "latin1"));
      return;
    }
    this.room(value.length);
    this.length += this.buffer.write(value, this.length, "latin1");
  }

  score(value: number): void {
    this.room(8);
    this.buffer.writeDoubleBE(value, this.length);
    this.length += 8;
  }

  digest(): string {
    this.flush();
    return this.hash.digest("hex");
  }
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function hashValue(hash: Hasher, value: Value): void {
  if (value instanceof Uint8Array) {
    hash.tag("s");
    hash.bytes(value);
    return;
  }
  switch (value.type) {
    case "list":
      hash.tag("l");
      hash.lengthPrefix(value.size);
      for (let i = 0; i < value.size; i++) hash.bytes(value.at(i));
      return;
    case "set":
      hash.tag("S");
      hash.lengthPrefix(value.size);
      for (const member of sorted(value.members)) hash.text(member);
      return;
    case "hash":
      hash.tag("h");
      hash.lengthPrefix(value.size);
      for (const field of sorted(value.fields.keys())) {
        hash.text(field);
        hash.bytes(value.fields.get(field) as Uint8Array);
      }
      return;
    case "zset":
      hash.tag("z");
      hash.lengthPrefix(value.size);
      for (const [member, memberScore] of value.entries()) {
        hash.text(member);
        hash.score(memberScore);
      }
      return;
    case "stream":
      hash.tag("x");
      hash.text(`${value.lastId.ms}-${value.lastId.seq}`);
      hash.lengthPrefix(value.size);
      for (let i = 0; i < value.size; i++) {
        const entry = value.at(i);
        hash.text(`${entry.id.ms}-${entry.id.seq}`);
        hash.lengthPrefix(entry.fields.length);
        for (const field of entry.fields) hash.bytes(field);
      }
      return;
  }
}

/** The digest of one value, or forty zeros for none. */
export function valueDigest(value: Value | undefined): string {
  if (value === undefined) return emptyDigest;
  const hash = new Hasher();
  hashValue(hash, value);
  return hash.digest();
}

/** The digest of every key, type and value. */
export function keyspaceDigest(db: Keyspace): string {
  if (db.size === 0) return emptyDigest;
  const hash = new Hasher();
  const entries = [...db.held()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const entry of entries) {
    hash.text(entry.key);
    hashValue(hash, entry.value);
    if (entry.expiresAt !== 0) {
      hash.tag("e");
      hash.score(entry.expiresAt);
    }
  }
  return hash.digest();
}
