/**
 * Splits an inline command line into arguments exactly as Redis's `sdssplitargs` (sds.c) does,
 * which `processInlineBuffer` uses: white space separates arguments; a `"` or `'` anywhere in an
 * argument opens a quoted part (so `a"b c"` is one argument, `ab c`); "double quotes" understand
 * `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<char>`; 'single quotes' understand `\'`; a closing
 * quote must be followed by white space or the end of the line. Like the C code, which works on a
 * NUL-terminated string, a NUL byte ends the line. Arguments without quotes are views of the line;
 * quoted ones are copies (escapes change their bytes).
 */

const nul = 0;
const doubleQuote = 34;
const singleQuote = 39;
const backslash = 92;

/** isspace(3) in the C locale: space, \t, \n, \v, \f, \r. */
function isSpace(byte: number): boolean {
  return byte === 32 || (byte >= 9 && byte <= 13);
}

/** The bytes that end an argument without quotes in sdssplitargs. */
function endsToken(byte: number): boolean {
  return byte === 32 || byte === 10 || byte === 13 || byte === 9;
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

/** Returns the arguments of `line[start, end)`, or null when quotes are unbalanced. */
export function splitInlineArguments(line: Uint8Array, start: number, end: number): Uint8Array[] | null {
  const offsets = splitPlainOffsets(line, start, end);
  if (offsets === null) return splitQuoted(line, start, end);
  const args: Uint8Array[] = [];
  for (let i = 0; i < offsets.length; i += 2) args.push(line.subarray(offsets[i] ?? 0, offsets[i + 1] ?? 0));
  return args;
}

/**
 * The common case, a line without quotes or NUL bytes: the start and end offsets of each argument
 * in `line`, which are then views of it. As in sdssplitargs, any isspace byte is skipped between
 * arguments but only space, \t, \n and \r end one (`a\vb` is one argument). Returns null when the
 * line needs the full rules (`splitQuoted`).
 */
export function splitPlainOffsets(line: Uint8Array, start: number, end: number): number[] | null {
  const offsets: number[] = [];
  let tokenStart = -1;
  for (let p = start; p < end; p++) {
    const byte = line[p] ?? nul;
    if (byte === doubleQuote || byte === singleQuote || byte === nul) return null;
    if (tokenStart < 0) {
      if (!isSpace(byte)) tokenStart = p;
    } else if (endsToken(byte)) {
      offsets.push(tokenStart, p);
      tokenStart = -1;
    }
  }
  if (tokenStart >= 0) offsets.push(tokenStart, end);
  return offsets;
}

/** The full sdssplitargs rules (quotes, escapes, NUL); exported for the tests that compare the paths. */
export function splitQuoted(line: Uint8Array, start: number, end: number): Uint8Array[] | null {
  // The C string: everything up to the first NUL.
  const nulAt = line.subarray(start, end).indexOf(nul);
  const stop = nulAt >= 0 ? start + nulAt : end;
  const at = (i: number): number => (i < stop ? (line[i] ?? 0) : nul);
  const args: Uint8Array[] = [];
  let p = start;
  for (;;) {
    while (p < stop && isSpace(at(p))) p++;
    if (p >= stop) return args;
    const current: number[] = [];
    const tokenStart = p;
    let quoted = false;
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const byte = at(p);
      if (inDouble) {
        if (byte === backslash && at(p + 1) === 120 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          current.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (byte === backslash && at(p + 1) !== nul) {
          p++;
          const escaped = at(p);
          current.push(escapes.get(escaped) ?? escaped);
        } else if (byte === doubleQuote) {
          if (at(p + 1) !== nul && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (byte === nul) {
          return null;
        } else {
          current.push(byte);
        }
      } else if (inSingle) {
        if (byte === backslash && at(p + 1) === singleQuote) {
          p++;
          current.push(singleQuote);
        } else if (byte === singleQuote) {
          if (at(p + 1) !== nul && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (byte === nul) {
          return null;
        } else {
          current.push(byte);
        }
      } else if (endsToken(byte) || byte === nul) {
        done = true;
      } else if (byte === doubleQuote) {
        inDouble = true;
        quoted = true;
      } else if (byte === singleQuote) {
        inSingle = true;
        quoted = true;
      } else {
        current.push(byte);
      }
      if (at(p) !== nul) p++;
    }
    // A token without quotes is its own bytes: a view, as multibulk arguments are.
    args.push(quoted ? Uint8Array.from(current) : line.subarray(tokenStart, tokenStart + current.length));
  }
}
