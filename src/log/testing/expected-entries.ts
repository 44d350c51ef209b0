/**
 * Deterministic entries for tests: the entry at an index always has the same bytes, so a test
 * (or the parent of a crashed child) can check what it reads back without keeping a copy.
 * The data is a RESP command with awkward bytes in it (CR, LF, NUL, 0xFF) so that any encoding
 * of the data, rather than storing it byte-exact, shows up.
 */
import { asIndex, asTerm, type Entry } from "../../raft/types.ts";

const encoder = new TextEncoder();

/** The bytes of entry `index` (term 1, normal). */
export function expectedData(index: number): Uint8Array {
  const value = `value-${index}-${"x".repeat(index % 37)}`;
  const command = `*3\r\n$3\r\nSET\r\n$${String(index).length + 4}\r\nkey:${index}\r\n$${value.length + 3}\r\n${value}`;
  const text = encoder.encode(command);
  const bytes = new Uint8Array(text.byteLength + 5);
  bytes.set(text);
  bytes.set([0, 0xff, index & 0xff, 13, 10], text.byteLength);
  return bytes;
}

/** The entry at `index` as the crash writer and the contract tests write it. */
export function expectedEntry(index: number, term = 1): Entry {
  return { index: asIndex(index), term: asTerm(term), type: "normal", data: expectedData(index) };
}
