/**
 * Redis's glob matching (`stringmatchlen` in util.c), byte for byte: `*` and `?` match any byte,
 * `/` included; `[abc]`, `[^a]`, `[a-z]` (ends in either order) and `\` escapes; an unterminated
 * `[` class is closed at the end of the pattern. Used by KEYS, SCAN MATCH and CONFIG GET.
 *
 * Libraries such as picomatch implement shell globs, where `*` stops at `/`; Redis's does not, so
 * this is a port, not a wrapper. Like Redis it gives up on patterns nested past a limit and stops
 * retrying longer matches for an earlier `*` once the rest of the pattern cannot match anywhere,
 * which keeps hostile patterns such as `*a*a*a*a*b` linear rather than exponential.
 */

const star = 42;
const question = 63;
const open = 91;
const close = 93;
const caret = 94;
const dash = 45;
const backslash = 92;

/** Redis's protection against abusive patterns. */
const nestingMax = 1000;

function lower(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

interface MatchState {
  skipLongerMatches: boolean;
}

function matchFrom(
  pattern: Uint8Array,
  patternAt: number,
  subject: Uint8Array,
  subjectAt: number,
  noCase: boolean,
  state: MatchState,
  nesting: number,
): boolean {
  if (nesting > nestingMax) return false;
  let p = patternAt;
  let s = subjectAt;
  const patternEnd = pattern.length;
  const subjectEnd = subject.length;
  while (p < patternEnd && s < subjectEnd) {
    const token = pattern[p] ?? 0;
    switch (token) {
      case star: {
        while (p + 1 < patternEnd && pattern[p + 1] === star) p++;
        if (p + 1 === patternEnd) return true;
        while (s < subjectEnd) {
          if (matchFrom(pattern, p + 1, subject, s, noCase, state, nesting + 1)) return true;
          if (state.skipLongerMatches) return false;
          s++;
        }
        state.skipLongerMatches = true;
        return false;
      }
      case question:
        s++;
        break;
      case open: {
        p++;
        const negate = p < patternEnd && pattern[p] === caret;
        if (negate) p++;
        let matched = false;
        const byte = subject[s] ?? 0;
        for (;;) {
          if (p >= patternEnd) {
            // Unterminated class: Redis steps back so the outer loop ends on the last byte.
            p--;
            break;
          }
          const current = pattern[p] ?? 0;
          if (current === backslash && patternEnd - p >= 2) {
            p++;
            if (pattern[p] === byte) matched = true;
          } else if (current === close) {
            break;
          } else if (patternEnd - p >= 3 && pattern[p + 1] === dash) {
            let start = current;
            let end = pattern[p + 2] ?? 0;
            let candidate = byte;
            if (start > end) [start, end] = [end, start];
            if (noCase) {
              start = lower(start);
              end = lower(end);
              candidate = lower(candidate);
            }
            p += 2;
            if (candidate >= start && candidate <= end) matched = true;
          } else if (noCase ? lower(current) === lower(byte) : current === byte) {
            matched = true;
          }
          p++;
        }
        if (negate) matched = !matched;
        if (!matched) return false;
        s++;
        break;
      }
      default: {
        if (token === backslash && patternEnd - p >= 2) p++;
        const literal = pattern[p] ?? 0;
        const byte = subject[s] ?? 0;
        if (noCase ? lower(literal) !== lower(byte) : literal !== byte) return false;
        s++;
        break;
      }
    }
    p++;
    if (s === subjectEnd) {
      while (p < patternEnd && pattern[p] === star) p++;
      break;
    }
  }
  return p === patternEnd && s === subjectEnd;
}

/** True when `subject` matches the Redis glob `pattern`. */
export function globMatch(pattern: Uint8Array, subject: Uint8Array, noCase = false): boolean {
  return matchFrom(pattern, 0, subject, 0, noCase, { skipLongerMatches: false }, 0);
}

const encoder = new TextEncoder();

/** `globMatch` for strings (UTF-8). */
export function globMatchText(pattern: string, subject: string, noCase = false): boolean {
  return globMatch(encoder.encode(pattern), encoder.encode(subject), noCase);
}
