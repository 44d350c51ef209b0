import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { globMatch, globMatchText } from "./glob.ts";

/** Bytes of a latin1 string (one byte per character). */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

function match(pattern: string, subject: string, noCase = false): boolean {
  return globMatch(bytes(pattern), bytes(subject), noCase);
}

function lower(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

/**
 * A character class of the bytes in `candidates` that `accept` takes, for a RegExp over latin1
 * strings. Only bytes that occur in the subject can matter, and listing only those keeps it fast.
 */
function byteClass(candidates: readonly number[], accept: (byte: number) => boolean): string {
  let members = "";
  for (const byte of candidates) if (accept(byte)) members += `\\x${byte.toString(16).padStart(2, "0")}`;
  return members === "" ? "(?!)" : `[${members}]`;
}

/**
 * A reference for Redis's stringmatchlen: the pattern is parsed by the C code's rules (escapes,
 * classes with `^`, ranges in either order, an unterminated `[` closed at the end) and translated to
 * a RegExp. Ranges and literals are expanded to explicit byte sets, so noCase follows C's `tolower`
 * on both ends exactly rather than RegExp's `i` flag.
 */
function referenceMatch(pattern: string, subject: string, noCase: boolean): boolean {
  // C's main loop runs only while both pattern and subject remain: an empty subject matches only the
  // empty pattern (not even `*`). Recursive calls for `*` always have at least one byte, so this
  // quirk applies only at the top.
  if (subject.length === 0) return pattern.length === 0;
  const code = (index: number): number => pattern.charCodeAt(index);
  const same = (a: number, b: number): boolean => (noCase ? lower(a) === lower(b) : a === b);
  const length = pattern.length;
  const candidates = [...new Set(Array.from(subject, (character) => character.charCodeAt(0)))];
  let source = "^";
  let i = 0;
  while (i < length) {
    const token = pattern[i];
    if (token === "*") {
      source += "[\\s\\S]*";
      i++;
    } else if (token === "?") {
      source += "[\\s\\S]";
      i++;
    } else if (token === "[") {
      i++;
      const negate = i < length && pattern[i] === "^";
      if (negate) i++;
      const members: ((byte: number) => boolean)[] = [];
      for (;;) {
        if (i < length && pattern[i] === "\\" && length - i >= 2) {
          const escaped = code(i + 1);
          members.push((byte) => byte === escaped); // C compares escaped class members exactly
          i += 2;
        } else if (i < length && pattern[i] === "]") {
          i++;
          break;
        } else if (i >= length) {
          break; // unterminated: the class ends with the pattern
        } else if (length - i >= 3 && pattern[i + 1] === "-") {
          let start = code(i);
          let end = code(i + 2);
          if (start > end) [start, end] = [end, start];
          if (noCase) {
            const [low, high] = [lower(start), lower(end)];
            members.push((byte) => lower(byte) >= low && lower(byte) <= high);
          } else {
            const [low, high] = [start, end];
            members.push((byte) => byte >= low && byte <= high);
          }
          i += 3;
        } else {
          const literal = code(i);
          members.push((byte) => same(byte, literal));
          i++;
        }
      }
      source += byteClass(candidates, (byte) => members.some((member) => member(byte)) !== negate);
    } else {
      let literal = code(i);
      if (token === "\\" && length - i >= 2) {
        literal = code(i + 1);
        i += 2;
      } else {
        i++;
      }
      source += byteClass(candidates, (byte) => same(byte, literal));
    }
  }
  return new RegExp(`${source}$`).test(subject);
}

describe("globMatch: Redis's documented and tested cases", () => {
  test("KEYS documentation examples", () => {
    for (const subject of ["hello", "hallo", "hxllo"]) expect(match("h?llo", subject)).toBe(true);
    expect(match("h?llo", "hllo")).toBe(false);
    for (const subject of ["hllo", "heeeello"]) expect(match("h*llo", subject)).toBe(true);
    expect(match("h[ae]llo", "hello")).toBe(true);
    expect(match("h[ae]llo", "hallo")).toBe(true);
    expect(match("h[ae]llo", "hillo")).toBe(false);
    for (const subject of ["hallo", "hbllo"]) expect(match("h[^e]llo", subject)).toBe(true);
    expect(match("h[^e]llo", "hello")).toBe(false);
    expect(match("h[a-b]llo", "hallo")).toBe(true);
    expect(match("h[a-b]llo", "hbllo")).toBe(true);
    expect(match("h[a-b]llo", "hcllo")).toBe(false);
    expect(match("h\\?llo", "h?llo")).toBe(true);
    expect(match("h\\?llo", "hello")).toBe(false);
  });

  test("KEYS with pattern (keyspace.tcl)", () => {
    const keys = ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"];
    expect(keys.filter((key) => match("foo*", key))).toEqual(["foo_a", "foo_b", "foo_c"]);
    expect(keys.filter((key) => match("*", key))).toEqual(keys);
    expect(keys.filter((key) => match("key_?", key))).toEqual(["key_x", "key_y", "key_z"]);
  });

  test("KEYS with hashtag (keyspace.tcl)", () => {
    const keys = ["{a}x", "{a}y", "{a}z", "{b}a", "{b}b", "{b}c"];
    expect(keys.filter((key) => match("{a}*", key))).toEqual(["{a}x", "{a}y", "{a}z"]);
    expect(keys.filter((key) => match("*{b}*", key))).toEqual(["{b}a", "{b}b", "{b}c"]);
  });

  test("PSUBSCRIBE patterns (pubsub.tcl)", () => {
    expect(match("foo.*", "foo.bar")).toBe(true);
    expect(match("foo.*", "foo.")).toBe(true);
    expect(match("foo.*", "foo")).toBe(false);
    expect(match("bar.*", "foo.bar")).toBe(false);
    expect(match("*", "any:thing/at all")).toBe(true);
  });

  test("regression: pattern matching long nested loops (keyspace.tcl)", () => {
    expect(match(`${"a*".repeat(38)}b`, "a".repeat(48))).toBe(false);
  });

  test("regression: pattern matching very long nested loops (nesting limit)", () => {
    // Redis gives up past 1000 levels of `*`: this would match, but KEYS returns nothing.
    expect(match("*?".repeat(50_000), "a".repeat(50_000))).toBe(false);
    expect(match("*?".repeat(500), "a".repeat(500))).toBe(true);
  });

  test("a hostile pattern against 10,000 a's returns false (skipLongerMatches keeps it linear)", () => {
    expect(match("*a*a*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(10_000))).toBe(false);
    expect(match("*a*a*a*a*a*a*a*a*a*a*a*a*a", "a".repeat(10_000))).toBe(true);
    expect(match("*a*a*a*a*a*a*a*a*a*a*a*a*?b", `${"a".repeat(10_000)}`)).toBe(false);
  });
});

describe("globMatch: the rules", () => {
  test("* and ? match / and any byte", () => {
    expect(match("*", "a/b/c")).toBe(true);
    expect(match("a*c", "a/b/c")).toBe(true);
    expect(match("a?c", "a/c")).toBe(true);
    expect(match("?", "\x00")).toBe(true);
    expect(match("?", "\xff")).toBe(true);
    expect(match("*", "\r\n")).toBe(true);
    expect(match("a*", "a")).toBe(true);
    expect(match("a**", "a")).toBe(true);
    expect(match("**a", "a")).toBe(true);
    expect(match("*a", "ba")).toBe(true);
    expect(match("*a", "ab")).toBe(false);
    expect(match("?", "")).toBe(false);
    expect(match("??", "a")).toBe(false);
  });

  test("classes: [abc], [^a], [a-z], reversed [z-a]", () => {
    expect(match("[abc]", "b")).toBe(true);
    expect(match("[abc]", "d")).toBe(false);
    expect(match("[abc]", "ab")).toBe(false);
    expect(match("[^a]", "b")).toBe(true);
    expect(match("[^a]", "a")).toBe(false);
    expect(match("[^a]", "/")).toBe(true);
    expect(match("[a-z]", "m")).toBe(true);
    expect(match("[a-z]", "M")).toBe(false);
    expect(match("[z-a]", "m")).toBe(true);
    expect(match("[z-a]", "A")).toBe(false);
    expect(match("[^a-c]", "b")).toBe(false);
    expect(match("[^a-c]", "d")).toBe(true);
    expect(match("[a-cx-z]", "y")).toBe(true);
    expect(match("[a-]", "-")).toBe(false); // `a-]` is a range from ] to a, and the class is unterminated
    expect(match("[a-]", "_")).toBe(true);
    expect(match("[-a]", "-")).toBe(true);
    expect(match("[]", "a")).toBe(false);
    expect(match("[]a", "a")).toBe(false);
    expect(match("[^]", "a")).toBe(true);
    expect(match("x[]]", "x]")).toBe(false);
  });

  test("escapes: \\*, \\[, \\?, \\\\ and a trailing backslash", () => {
    expect(match("\\*", "*")).toBe(true);
    expect(match("\\*", "a")).toBe(false);
    expect(match("\\[", "[")).toBe(true);
    expect(match("\\?", "?")).toBe(true);
    expect(match("\\?", "a")).toBe(false);
    expect(match("\\\\", "\\")).toBe(true);
    expect(match("\\a", "a")).toBe(true);
    expect(match("a\\", "a\\")).toBe(true); // a lone trailing backslash is itself
    expect(match("*\\*", "abc*")).toBe(true);
    expect(match("*\\*", "abc")).toBe(false);
  });

  test("escapes inside classes: [\\]], [\\^], [\\-]", () => {
    expect(match("[\\]]", "]")).toBe(true);
    expect(match("[\\]]", "\\")).toBe(false);
    expect(match("[\\]a]", "a")).toBe(true);
    expect(match("[\\^]", "^")).toBe(true);
    expect(match("[^\\]]", "]")).toBe(false);
    expect(match("[^\\]]", "a")).toBe(true);
    expect(match("[a\\-z]", "-")).toBe(true);
    expect(match("[a\\-z]", "m")).toBe(false);
    expect(match("[\\", "\\")).toBe(true); // a backslash last in the pattern is a plain member
  });

  test("an unterminated [ ends with the pattern", () => {
    expect(match("[", "a")).toBe(false);
    expect(match("[", "[")).toBe(false);
    expect(match("[a", "a")).toBe(true);
    expect(match("[ab", "b")).toBe(true);
    expect(match("[ab", "ab")).toBe(false);
    expect(match("x[^", "xq")).toBe(true);
    expect(match("[a-", "a")).toBe(true);
    expect(match("[a-", "-")).toBe(true);
  });

  test("empty pattern and empty subject", () => {
    expect(match("", "")).toBe(true);
    expect(match("", "a")).toBe(false);
    expect(match("a", "")).toBe(false);
    // C's loop never runs on an empty subject, so `*` does not match it (KEYS special-cases "*";
    // redis-server 7.0.15 answers KEYS ** with nothing when the only key is the empty string).
    expect(match("*", "")).toBe(false);
    expect(match("**", "")).toBe(false);
  });

  test("noCase folds ASCII letters in literals, classes and ranges", () => {
    expect(match("HeLLo", "hello", true)).toBe(true);
    expect(match("HeLLo", "hello", false)).toBe(false);
    expect(match("h[AE]llo", "hello", true)).toBe(true);
    expect(match("h[^E]llo", "hello", true)).toBe(false);
    expect(match("[A-C]", "b", true)).toBe(true);
    expect(match("[a-c]", "B", true)).toBe(true);
    // Both ends are lowered after ordering: [Z-a] becomes z..a, which contains nothing.
    expect(match("[Z-a]", "_", false)).toBe(true);
    expect(match("[Z-a]", "_", true)).toBe(false);
    // Escaped class members compare exactly, as in C.
    expect(match("[\\A]", "a", true)).toBe(false);
    expect(match("\\A", "a", true)).toBe(true);
    expect(match("É", "é", true)).toBe(false); // only ASCII folds
  });

  test("ranges compare bytes as unsigned", () => {
    // Redis on x86-64 compares signed chars here (so [a-\xe9] also takes \xff there); on ARM, where
    // char is unsigned, Redis agrees with this port. The port picks the unsigned, portable reading.
    expect(match("[a-\xe9]", "\xc0")).toBe(true);
    expect(match("[a-\xe9]", "\xff")).toBe(false);
    expect(match("[\xe9-\xff]", "\xff")).toBe(true);
  });

  test("globMatchText encodes UTF-8", () => {
    expect(globMatchText("caf?", "café")).toBe(false); // é is two bytes
    expect(globMatchText("caf??", "café")).toBe(true);
    expect(globMatchText("CAF*", "café", true)).toBe(true);
  });
});

const alphabet = ["a", "b", "/", "*", "?", "[", "]", "^", "-", "\\"];
const patternArbitrary = fc.array(fc.constantFrom(...alphabet), { maxLength: 10 }).map((parts) => parts.join(""));
const subjectArbitrary = fc.array(fc.constantFrom(...alphabet), { maxLength: 10 }).map((parts) => parts.join(""));

/** Patterns made from a subject by replacing some of its characters with wildcards, to reach matches. */
const nearPair = fc
  .tuple(subjectArbitrary, fc.array(fc.constantFrom("keep", "?", "*", "class", "escape"), { maxLength: 10 }))
  .map(([subject, edits]) => {
    let pattern = "";
    for (let i = 0; i < subject.length; i++) {
      const character = subject[i] ?? "";
      const edit = edits[i] ?? "keep";
      if (edit === "?") pattern += "?";
      else if (edit === "*") pattern += "*";
      else if (edit === "class") pattern += `[${character === "]" ? "\\]" : character}b]`;
      else if (edit === "escape") pattern += `\\${character}`;
      else pattern += character;
    }
    return [pattern, subject] as const;
  });

describe("globMatch: against a reference (property)", () => {
  test("random patterns and subjects over a small alphabet", () => {
    fc.assert(
      fc.property(patternArbitrary, subjectArbitrary, fc.boolean(), (pattern, subject, noCase) => {
        expect(match(pattern, subject, noCase)).toBe(referenceMatch(pattern, subject, noCase));
      }),
      { seed: 0x610b01, numRuns: 2000 },
    );
  });

  test("patterns near their subject, so that many match", () => {
    let matched = 0;
    fc.assert(
      fc.property(nearPair, ([pattern, subject]) => {
        const expected = referenceMatch(pattern, subject, false);
        if (expected) matched++;
        expect(match(pattern, subject)).toBe(expected);
      }),
      { seed: 0x610b02, numRuns: 2000 },
    );
    expect(matched).toBeGreaterThan(200);
  });

  test("noCase with upper- and lower-case letters", () => {
    const letters = ["a", "A", "b", "B", "z", "Z", "[", "]", "-", "^", "\\", "*", "?", "_"];
    const text = fc.array(fc.constantFrom(...letters), { maxLength: 8 }).map((parts) => parts.join(""));
    fc.assert(
      fc.property(text, text, (pattern, subject) => {
        expect(match(pattern, subject, true)).toBe(referenceMatch(pattern, subject, true));
      }),
      { seed: 0x610b03, numRuns: 2000 },
    );
  });
});

// Opt-in: GLOB_DIFFERENTIAL=1 bun test src/glob.test.ts runs random patterns through KEYS on a real
// redis-server (7.x on PATH) and compares its answers with globMatch.
describe.skipIf(process.env.GLOB_DIFFERENTIAL !== "1")("globMatch: against redis-server KEYS (opt-in)", () => {
  test("random patterns and keys", async () => {
    const { createServer, connect } = await import("node:net");
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", reject);
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address();
        const found = typeof address === "object" && address !== null ? address.port : 0;
        probe.close(() => resolve(found));
      });
    });
    const server = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const socket = await connectWithRetry(connect, port);
      const client = new TinyClient(socket);
      const random = fc.sample(fc.tuple(patternArbitrary, fc.uniqueArray(subjectArbitrary.filter((key) => key !== ""), { minLength: 1, maxLength: 12 })), {
        seed: 0x610b04,
        numRuns: 500,
      });
      const near = fc.sample(nearPair, { seed: 0x610b05, numRuns: 500 }).map(([pattern, subject]) => [pattern, [subject]] as const);
      for (const [pattern, keys] of [...random, ...near]) {
        if (pattern === "*") continue; // KEYS * skips matching altogether
        const commands = [["FLUSHALL"], ...keys.map((key) => ["SET", key, "1"]), ["KEYS", pattern]];
        const replies = await client.send(commands);
        const fromRedis = (replies.at(-1) ?? []).slice().sort();
        const fromPort = keys.filter((key) => match(pattern, key)).sort();
        expect({ pattern, keys: fromPort }).toEqual({ pattern, keys: fromRedis });
      }
      socket.destroy();
    } finally {
      server.kill();
      await server.exited;
    }
  }, 60_000);
});

type NetSocket = import("node:net").Socket;

async function connectWithRetry(connect: typeof import("node:net").connect, port: number): Promise<NetSocket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<NetSocket>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () => resolve(socket));
        socket.once("error", reject);
      });
    } catch (error) {
      if (attempt >= 50) throw error;
      await Bun.sleep(100);
    }
  }
}

/** Just enough of a RESP client for the differential test: latin1 keys, replies as arrays or strings. */
class TinyClient {
  private pending = "";
  private waiter: (() => void) | null = null;

  constructor(private readonly socket: NetSocket) {
    socket.on("data", (data: Buffer) => {
      this.pending += data.toString("latin1");
      this.waiter?.();
    });
  }

  async send(commands: readonly (readonly string[])[]): Promise<string[][]> {
    const frames = commands.map((args) => `*${args.length}\r\n${args.map((arg) => `$${arg.length}\r\n${arg}\r\n`).join("")}`);
    this.socket.write(Buffer.from(frames.join(""), "latin1"));
    const replies: string[][] = [];
    while (replies.length < commands.length) {
      const parsed = parseReply(this.pending, 0);
      if (parsed === null) {
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
        continue;
      }
      replies.push(parsed.value);
      this.pending = this.pending.slice(parsed.end);
    }
    return replies;
  }
}

function parseReply(text: string, at: number): { value: string[]; end: number } | null {
  const lineEnd = text.indexOf("\r\n", at);
  if (lineEnd < 0) return null;
  const line = text.slice(at + 1, lineEnd);
  switch (text[at]) {
    case "+":
    case ":":
      return { value: [line], end: lineEnd + 2 };
    case "-":
      throw new Error(`redis error: ${line}`);
    case "*": {
      const values: string[] = [];
      let end = lineEnd + 2;
      for (let i = 0; i < Number(line); i++) {
        const header = text.indexOf("\r\n", end);
        if (header < 0) return null;
        const length = Number(text.slice(end + 1, header));
        if (text.length < header + 2 + length + 2) return null;
        values.push(text.slice(header + 2, header + 2 + length));
        end = header + 2 + length + 2;
      }
      return { value: values, end };
    }
    default:
      throw new Error(`unexpected reply ${JSON.stringify(text.slice(at, at + 20))}`);
  }
}
