/**
 * DEBUG DIGEST: the same for the same keys, types, values and expiry times whatever the order they
 * were made in, and different when one of them differs, also for pieces around the hasher's
 * buffer edges (values longer than half of it, very long keys). DEBUG DIGEST-VALUE is a SHA-1 of
 * the value's serialisation.
 */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { emptyDigest, keyspaceDigest, valueDigest } from "./digest.ts";
import { Keyspace } from "./keyspace.ts";

type Contents = [string, Uint8Array][];

function contents(): Contents {
  const entries: Contents = [];
  // Pieces of every small size, so that some straddle each 64 KB boundary.
  for (let i = 0; i < 3000; i++) entries.push([`k${i}`, new Uint8Array(i % 97).fill(i % 251)]);
  entries.push(["big", new Uint8Array(40_000).fill(7)]); // more than half the buffer: hashed directly
  entries.push(["huge", new Uint8Array(200_000).fill(9)]);
  entries.push(["x".repeat(50_000), Uint8Array.of(1, 2, 3)]); // a key longer than half the buffer
  entries.push(["\u00ff\u0080binary", Uint8Array.of(0, 255)]); // latin1 bytes above 127
  return entries;
}

function keyspaceOf(entries: Contents): Keyspace {
  const db = new Keyspace();
  for (const [key, value] of entries) db.set(key, value);
  return db;
}

test("the digest does not depend on the order keys were made in, and changes with a value, a key or a size", () => {
  const entries = contents();
  const digest = keyspaceDigest(keyspaceOf(entries));
  expect(digest).toMatch(/^[0-9a-f]{40}$/);
  expect(keyspaceDigest(keyspaceOf([...entries].reverse()))).toBe(digest);
  expect(keyspaceDigest(new Keyspace())).toBe(emptyDigest);
  const variants: [string, Contents][] = [
    ["one byte of a small value", entries.map(([key, value]) => [key, key === "k500" ? value.map((byte, i) => (i === 3 ? byte ^ 1 : byte)) : value])],
    ["one byte of a value hashed directly", entries.map(([key, value]) => [key, key === "huge" ? value.map((byte, i) => (i === 150_000 ? 0 : byte)) : value])],
    ["a key renamed", entries.map(([key, value]) => [key === "k7" ? "k7'" : key, value])],
    ["a key dropped", entries.filter(([key]) => key !== "big")],
    ["a byte moved from one value to the next key's", entries.map(([key, value]) => [key, key === "k1" ? Uint8Array.of(1, 1) : key === "k2" ? Uint8Array.of(2) : value])],
  ];
  for (const [what, variant] of variants) expect({ what, digest: keyspaceDigest(keyspaceOf(variant)) }).not.toEqual({ what, digest });
});

test("DEBUG DIGEST-VALUE is a SHA-1 of the value's serialisation", () => {
  expect(valueDigest(Uint8Array.of(1, 2, 3))).toBe(createHash("sha1").update("s").update(Buffer.from([0, 0, 0, 3, 1, 2, 3])).digest("hex"));
  expect(valueDigest(undefined)).toBe(emptyDigest);
});
