/**
 * Finds where one complete reply ends in a buffer of replies, without decoding it: what a proxy
 * needs to relay a server's replies byte for byte. Understands RESP2 and RESP3 (simple strings,
 * errors, integers, bulks, arrays, nulls, doubles, booleans, big numbers, blob errors, verbatim
 * strings, maps, sets, pushes and attributes), bounded in nesting depth.
 *
 * A `ReplyScanner` resumes where it stopped when a reply was incomplete: a reply of a million
 * elements arriving in a thousand reads is scanned once, not a thousand times from its start.
 */

/** Deeper nesting than this is refused rather than followed (a hostile or broken server). */
const nestingMax = 64;

/** Result: the end offset of the reply, `incomplete` when more bytes are needed, or an error text. */
export type ScanResult = number | "incomplete" | { readonly error: string };

function lineEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  return -1;
}

/** The decimal integer in `bytes[from, to)` (a sign allowed), or NaN. */
function parseNumber(bytes: Uint8Array, from: number, to: number): number {
  let at = from;
  const negative = bytes[at] === 45;
  if (negative) at++;
  if (at >= to || to - at > 15) return Number.NaN;
  let value = 0;
  for (; at < to; at++) {
    const digit = (bytes[at] ?? 0) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

export class ReplyScanner {
  /** Elements still to come in each aggregate the reply being scanned has open, innermost last. */
  private readonly open: number[] = [];
  /** Where the scan of an incomplete reply goes on, or -1 between replies. */
  private resumeAt = -1;

  /**
   * Scans the reply that starts at `start` (or goes on with the one that was incomplete, from
   * where it stopped; `start` is then ignored); `end` bounds the valid bytes.
   */
  scan(bytes: Uint8Array, start: number, end: number): ScanResult {
    let at = this.resumeAt >= 0 ? this.resumeAt : start;
    for (;;) {
      if (at >= end) return this.suspend(at);
      const marker = bytes[at] ?? 0;
      const lineStop = lineEnd(bytes, at + 1, end);
      if (lineStop < 0) return this.suspend(at);
      const afterLine = lineStop + 2;
      switch (marker) {
        case 43: // + simple string
        case 45: // - error
        case 58: // : integer
        case 95: // _ null
        case 44: // , double
        case 35: // # boolean
        case 40: // ( big number
          at = afterLine;
          break;
        case 36: // $ bulk
        case 33: // ! blob error
        case 61: {
          // = verbatim
          const length = parseNumber(bytes, at + 1, lineStop);
          if (Number.isNaN(length)) return this.fail("bad bulk length");
          if (length < 0) {
            at = afterLine;
            break;
          }
          if (afterLine + length + 2 > end) return this.suspend(at);
          at = afterLine + length + 2;
          break;
        }
        case 42: // * array
        case 126: // ~ set
        case 62: // > push
        case 37: // % map
        case 124: {
          // | attribute (followed by the reply it annotates)
          const count = parseNumber(bytes, at + 1, lineStop);
          if (Number.isNaN(count)) return this.fail("bad aggregate length");
          at = afterLine;
          if (count < 0) break;
          const items = (marker === 37 || marker === 124 ? count * 2 : count) + (marker === 124 ? 1 : 0);
          if (items === 0) break;
          if (this.open.length >= nestingMax) return this.fail("reply nested too deeply");
          this.open.push(items);
          continue;
        }
        default:
          return this.fail(`unknown reply type '${String.fromCharCode(marker)}'`);
      }
      // An element ended at `at`: it may end the aggregates around it too.
      for (;;) {
        const innermost = this.open.length - 1;
        if (innermost < 0) {
          this.resumeAt = -1;
          return at;
        }
        const left = (this.open[innermost] ?? 0) - 1;
        if (left > 0) {
          this.open[innermost] = left;
          break;
        }
        this.open.pop();
      }
    }
  }

  /** The buffer's bytes moved `by` toward its start (what was before them was dropped). */
  shift(by: number): void {
    if (this.resumeAt >= 0) this.resumeAt -= by;
  }

  private suspend(at: number): "incomplete" {
    this.resumeAt = at;
    return "incomplete";
  }

  private fail(error: string): { readonly error: string } {
    this.resumeAt = -1;
    this.open.length = 0;
    return { error };
  }
}

/** Scans one reply starting at `start`; `end` bounds the valid bytes (no state kept). */
export function scanReply(bytes: Uint8Array, start: number, end: number): ScanResult {
  return new ReplyScanner().scan(bytes, start, end);
}
