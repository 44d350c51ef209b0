/**
 * DEBUG DIGEST and DEBUG DIGEST-VALUE: a hash of the whole keyspace (or a SHA-1 of one value)
 * that is the same on two nodes exactly when they hold the same keys with the same types, values
 * and expiry times (but for collisions of 128-bit hashes). DEBUG DIGEST covers every key held,
 * expired ones not reclaimed yet included: reclaiming happens only while applying, identically on
 * every replica, so nodes that applied the same log hold the same keys whatever their clocks say
 * (a key without a TTL digests as it did before TTLs existed).
 * Sets and hashes are hashed in sorted order, so their internal order does not matter; lists,
 * sorted sets and streams in their own order. As in Redis, an empty keyspace (or a missing key)
 * digests to forty zeros. The digest is not Redis's (Redis mixes its own encodings); only equality
 * means anything.
 */
import { createHash, type Hash } from "node:crypto";
import type { Keyspace, Value } from "./keyspace.ts";
import { formatId, type StreamValue } from "./stream.ts";
import { sortedGroups } from "./stream-groups.ts";

export const emptyDigest = "0".repeat(40);

/** Where a `Hasher`'s bytes go once its buffer fills or it finishes. */
interface Sink {
  absorb(bytes: Uint8Array): void;
}

/** SHA-1 of every byte (DEBUG DIGEST-VALUE). */
class ShaSink implements Sink {
  readonly hash: Hash = createHash("sha1");
  absorb(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }
}

/** Two 64-bit wyhash lanes, each chained over the pieces (one key of DEBUG DIGEST). */
class LaneSink implements Sink {
  first = 1n;
  second = 2n;
  /** Starts the lanes again, for the next key. */
  reset(): void {
    this.first = 1n;
    this.second = 2n;
  }
  absorb(bytes: Uint8Array): void {
    this.first = Bun.hash.wyhash(bytes, this.first) as bigint;
    this.second = Bun.hash.wyhash(bytes, this.second ^ 0x9e3779b97f4a7c15n) as bigint;
  }
}

/**
 * Serialises what is hashed (type tags, lengths, bytes) into a 64 KB buffer of its own and hands
 * the sink whole buffers: a few small pieces per key, each a native call and a small Buffer,
 * made DEBUG DIGEST of a few hundred thousand keys slow enough, with its garbage, to hold a
 * leader's loop past an election timeout.
 */
class Hasher {
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  constructor(private readonly sink: Sink) {}

  private room(bytes: number): void {
    if (this.length + bytes > this.buffer.length) this.flush();
  }

  /** Hands what is buffered to the sink (at the end of a value or a key, and when the buffer is full). */
  flush(): void {
    if (this.length > 0) this.sink.absorb(this.buffer.subarray(0, this.length));
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
      this.sink.absorb(value);
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
      this.sink.absorb(Buffer.from(value, "latin1"));
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
      // The node layout is state too: what approximate trimming removes next depends on it.
      const layout = value.layout();
      hash.lengthPrefix(layout.length);
      for (const node of layout) hash.text(`${node.live}/${node.slots}/${node.lastId.ms}-${node.lastId.seq}/${formatId(node.firstId)}`);
      hashStreamGroups(hash, value);
      return;
  }
}

/**
 * A stream's consumer groups and the counters they read (replicated state: what XREADGROUP
 * delivers next, and to whom, depends on them), groups and consumers in name order.
 */
function hashStreamGroups(hash: Hasher, value: StreamValue): void {
  hash.text(`${value.entriesAdded}/${formatId(value.maxDeletedId)}`);
  const groups = value.groups === null ? [] : sortedGroups(value.groups);
  hash.lengthPrefix(groups.length);
  for (const [name, group] of groups) {
    hash.text(name);
    hash.text(`${formatId(group.lastId)}/${group.entriesRead}`);
    const consumers = group.sortedConsumers();
    hash.lengthPrefix(consumers.length);
    for (const consumer of consumers) {
      hash.text(consumer.name);
      hash.score(consumer.seenTime);
    }
    hash.lengthPrefix(group.pending.size);
    for (const entry of group.pending.values()) {
      hash.text(formatId(entry.id));
      hash.text(entry.consumer.name);
      hash.score(entry.deliveryTime);
      hash.score(entry.deliveryCount);
    }
  }
}

/** The digest of one value, or forty zeros for none: a SHA-1 of its serialisation. */
export function valueDigest(value: Value | undefined): string {
  if (value === undefined) return emptyDigest;
  const sha = new ShaSink();
  const hash = new Hasher(sha);
  hashValue(hash, value);
  hash.flush();
  return sha.hash.digest("hex");
}

const hex64 = (value: bigint): string => value.toString(16).padStart(16, "0");

/**
 * The digest of every key, type, value and expiry: each key is hashed on its own (two 64-bit
 * lanes of its serialisation), and the keys' hashes are combined in an order-free way (XOR of
 * each lane, and a sum of the first), as Redis combines its keys' digests. Nothing is sorted and
 * no Buffer is made per piece: 223,000 keys took 240-280 ms on an idle cluster's leader.
 */
export function keyspaceDigest(db: Keyspace): string {
  if (db.size === 0) return emptyDigest;
  let first = 0n;
  let second = 0n;
  let sum = 0n;
  const lanes = new LaneSink();
  const hash = new Hasher(lanes);
  for (const entry of db.held()) {
    lanes.reset();
    hash.text(entry.key);
    hashValue(hash, entry.value);
    if (entry.expiresAt !== 0) {
      hash.tag("e");
      hash.score(entry.expiresAt);
    }
    hash.flush();
    first ^= lanes.first;
    second ^= lanes.second;
    sum = BigInt.asUintN(64, sum + lanes.first);
  }
  return (hex64(first) + hex64(second) + hex64(sum)).slice(0, 40);
}
