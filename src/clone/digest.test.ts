/**
 * DEBUG DIGEST hashes through a buffer of its own; the bytes it hashes must be exactly the plain
 * sequence (key, tagged value, expiry) whatever falls on the buffer's edges: pieces that straddle
 * it, values longer than half of it (hashed directly), and very long keys.
 */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { keyspaceDigest, valueDigest } from "./digest.ts";
import { Keyspace } from "./keyspace.ts";

/** The digest of string values as the byte sequence the file comment describes, one `update` per piece. */
function reference(entries: [string, Uint8Array][]): string {
  const hash = createHash("sha1");
  const prefix = (length: number): void => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(length);
    hash.update(header);
  };
  for (const [key, value] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    prefix(key.length);
    hash.update(Buffer.from(key, "latin1"));
    hash.update("s");
    prefix(value.length);
    hash.update(value);
  }
  return hash.digest("hex");
}

test("the buffered digest equals the plain byte sequence, across the buffer's edges", () => {
  const db = new Keyspace();
  const entries: [string, Uint8Array][] = [];
  const add = (key: string, value: Uint8Array): void => {
    db.set(key, value);
    entries.push([key, value]);
  };
  // Pieces of every small size, so that some straddle each 64 KB boundary.
  for (let i = 0; i < 3000; i++) add(`k${i}`, new Uint8Array(i % 97).fill(i % 251));
  add("big", new Uint8Array(40_000).fill(7)); // more than half the buffer: hashed directly
  add("huge", new Uint8Array(200_000).fill(9));
  add("x".repeat(50_000), Uint8Array.of(1, 2, 3)); // a key longer than half the buffer
  add("\u00ff\u0080binary", Uint8Array.of(0, 255)); // latin1 bytes above 127
  expect(keyspaceDigest(db)).toBe(reference(entries));
  expect(valueDigest(Uint8Array.of(1, 2, 3))).toBe(createHash("sha1").update("s").update(Buffer.from([0, 0, 0, 3, 1, 2, 3])).digest("hex"));
});
