/**
 * Splits an inline command line into arguments the way Redis's `sdssplitargs` does: arguments are
 * separated by white space; "double quotes" understand `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and
 * `\<char>`; 'single quotes' understand `\'`; a closing quote must be followed by white space or
 * the end of the line.
 */

const space = 32;
const doubleQuote = 34;
const singleQuote = 39;
const backslash = 92;

function isSpace(byte: number): boolean {
  // isspace(3) in the C locale: space, \t, \n, \v, \f, \r.
  return byte === space || (byte >= 9 && byte <= 13);
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

const escapes: ReadonlyMap<number, number> = new Map([
  [110, 10], // \n
  [114, 13], // \r
  [116, 9], // \t
  [98, 8], // \b
  [97, 7], // \a
]);

/**
 * Returns the arguments of `line[start, end)`, or null when quotes are unbalanced. Unquoted
 * arguments are views of `line`; quoted ones are fresh copies (escapes change their bytes).
 */
export function splitInlineArguments(line: Uint8Array, start: number, end: number): Uint8Array[] | null {
  const args: Uint8Array[] = [];
  let i = start;
  for (;;) {
    while (i < end && isSpace(line[i] ?? 0)) i++;
    if (i >= end) return args;
    const first = line[i] ?? 0;
    if (first !== doubleQuote && first !== singleQuote) {
      const argumentStart = i;
      while (i < end && !isSpace(line[i] ?? 0)) i++;
      args.push(line.subarray(argumentStart, i));
      continue;
    }
    const bytes: number[] = [];
    i++;
    let closed = false;
    while (i < end) {
      const byte = line[i] ?? 0;
      if (first === doubleQuote && byte === backslash && i + 3 < end && (line[i + 1] ?? 0) === 120) {
        const high = hexValue(line[i + 2] ?? 0);
        const low = hexValue(line[i + 3] ?? 0);
        if (high >= 0 && low >= 0) {
          bytes.push(high * 16 + low);
          i += 4;
          continue;
        }
      }
      if (byte === backslash && i + 1 < end) {
        const next = line[i + 1] ?? 0;
        if (first === doubleQuote) {
          bytes.push(escapes.get(next) ?? next);
          i += 2;
          continue;
        }
        if (next === singleQuote) {
          bytes.push(singleQuote);
          i += 2;
          continue;
        }
      }
      if (byte === first) {
        // The closing quote must be followed by a space or nothing at all.
        if (i + 1 < end && !isSpace(line[i + 1] ?? 0)) return null;
        closed = true;
        i++;
        break;
      }
      bytes.push(byte);
      i++;
    }
    if (!closed) return null;
    args.push(Uint8Array.from(bytes));
  }
}
