/**
 * Finds where one complete reply ends in a buffer of replies, without decoding it: what a proxy
 * needs to relay a server's replies byte for byte. Understands RESP2 and RESP3 (simple strings,
 * errors, integers, bulks, arrays, nulls, doubles, booleans, big numbers, blob errors, verbatim
 * strings, maps, sets, pushes and attributes), bounded in nesting depth.
 */

/** Deeper nesting than this is refused rather than followed (a hostile or broken server). */
const nestingMax = 64;

/** Result: the end offset of the reply, `incomplete` when more bytes are needed, or an error text. */
export type ScanResult = number | "incomplete" | { readonly error: string };

function lineEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  return -1;
}

function parseNumber(bytes: Uint8Array, from: number, to: number): number {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString("latin1");
  return /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
}

/** Scans one reply starting at `start`; `end` bounds the valid bytes. */
export function scanReply(bytes: Uint8Array, start: number, end: number, depth = 0): ScanResult {
  if (depth > nestingMax) return { error: "reply nested too deeply" };
  if (start >= end) return "incomplete";
  const marker = bytes[start] ?? 0;
  const lineStop = lineEnd(bytes, start + 1, end);
  if (lineStop < 0) return "incomplete";
  const afterLine = lineStop + 2;
  switch (marker) {
    case 43: // + simple string
    case 45: // - error
    case 58: // : integer
    case 95: // _ null
    case 44: // , double
    case 35: // # boolean
    case 40: // ( big number
      return afterLine;
    case 36: // $ bulk
    case 33: // ! blob error
    case 61: {
      // = verbatim
      const length = parseNumber(bytes, start + 1, lineStop);
      if (Number.isNaN(length)) return { error: "bad bulk length" };
      if (length < 0) return afterLine;
      if (afterLine + length + 2 > end) return "incomplete";
      return afterLine + length + 2;
    }
    case 42: // * array
    case 126: // ~ set
    case 62: // > push
    case 37: // % map
    case 124: {
      // | attribute (followed by the reply it annotates)
      const count = parseNumber(bytes, start + 1, lineStop);
      if (Number.isNaN(count)) return { error: "bad aggregate length" };
      if (count < 0) return afterLine;
      const items = marker === 37 || marker === 124 ? count * 2 : count;
      let at = afterLine;
      for (let i = 0; i < items; i++) {
        const next = scanReply(bytes, at, end, depth + 1);
        if (typeof next !== "number") return next;
        at = next;
      }
      if (marker === 124) return scanReply(bytes, at, end, depth + 1);
      return at;
    }
    default:
      return { error: `unknown reply type '${String.fromCharCode(marker)}'` };
  }
}
