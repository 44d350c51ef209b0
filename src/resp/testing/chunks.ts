/**
 * Test helpers for feeding byte streams to incremental parsers: a seeded generator and the three
 * ways every RESP case is cut into chunks (one chunk, byte by byte, random split points). Each
 * chunk is a fresh copy with its own `ArrayBuffer`, as Bun hands each `data` event, so a parser
 * that keeps views of a chunk it no longer owns shows up as corrupted arguments.
 */

/** A small seeded generator (mulberry32): the same seed gives the same splits on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes of a string with one byte per character (latin1); throws on characters above 255. */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 255) throw new Error(`not a latin1 character at ${i}: ${code}`);
    out[i] = code;
  }
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The whole input as one chunk (a copy, so it has a buffer of its own). */
export function oneChunk(input: Uint8Array): Uint8Array[] {
  return [input.slice()];
}

/** One chunk per byte. */
export function byteByByte(input: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < input.length; i++) chunks.push(input.slice(i, i + 1));
  return chunks;
}

/** Chunks cut at cut points chosen by `seed`; chunk sizes vary from one byte to the whole input. */
export function randomChunks(input: Uint8Array, seed: number): Uint8Array[] {
  const random = seededRandom(seed);
  const chunks: Uint8Array[] = [];
  // Mix tiny and large pieces: each piece is up to a random fraction of the input, at least 1 byte.
  const scale = 1 + Math.floor(random() * Math.max(1, input.length));
  let at = 0;
  while (at < input.length) {
    const size = 1 + Math.floor(random() * random() * scale);
    chunks.push(input.slice(at, Math.min(input.length, at + size)));
    at += size;
  }
  return chunks;
}

/** Chunks cut at the given sorted cut points (used by property tests that draw the points). */
export function chunksAt(input: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => Math.max(0, Math.min(input.length, cut))))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const point of points) {
    if (point > at) chunks.push(input.slice(at, point));
    at = Math.max(at, point);
  }
  if (at < input.length || chunks.length === 0) chunks.push(input.slice(at));
  return chunks;
}

/** Seeds used for the random-split run of every case. */
export const splitSeeds: readonly number[] = [1, 2, 3, 42, 1234, 99991];
