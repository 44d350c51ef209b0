import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { splitInlineArguments, splitQuoted } from "./inline.ts";
import { latin1 } from "./reader.ts";
import { bytesOf } from "./testing/chunks.ts";

/** Splits a whole line; null when Redis would answer "unbalanced quotes". */
function split(line: string): string[] | null {
  const bytes = bytesOf(line);
  return splitInlineArguments(bytes, 0, bytes.length)?.map(latin1) ?? null;
}

// Expected values follow Redis's sdssplitargs; the cases marked "redis-server 7.0.15" were checked
// by sending `ECHO <line>` inline to a real server.
describe("splitInlineArguments", () => {
  test("white space separates arguments", () => {
    expect(split("")).toEqual([]);
    expect(split("   \t ")).toEqual([]);
    expect(split("GET key")).toEqual(["GET", "key"]);
    expect(split("  SET\tkey \t value  ")).toEqual(["SET", "key", "value"]);
    expect(split("a\rb\nc")).toEqual(["a", "b", "c"]);
  });

  test("double quotes and their escapes", () => {
    expect(split('"a b"')).toEqual(["a b"]);
    expect(split('""')).toEqual([""]);
    expect(split('"\\x41\\x4a\\x4A"')).toEqual(["AJJ"]); // redis-server 7.0.15: "a\x4Ab" -> aJb
    expect(split('"\\n\\r\\t\\b\\a"')).toEqual(["\n\r\t\b\x07"]);
    expect(split('"\\"\\\\\\z"')).toEqual(['"\\z']);
    // Not a hex escape: the backslash escapes the x, the rest stays.
    expect(split('"\\xZZ"')).toEqual(["xZZ"]);
    expect(split('"\\x4"')).toEqual(["x4"]);
  });

  test("single quotes understand only \\'", () => {
    expect(split("'a b'")).toEqual(["a b"]);
    expect(split("'it\\'s'")).toEqual(["it's"]);
    expect(split("'\\n\\x41'")).toEqual(["\\n\\x41"]);
  });

  test("a closing quote must be followed by white space or the end", () => {
    expect(split('"a" b')).toEqual(["a", "b"]);
    expect(split('"a"\tb')).toEqual(["a", "b"]);
    expect(split('"a"b')).toBeNull();
    expect(split("'a'b")).toBeNull(); // redis-server 7.0.15: unbalanced quotes
  });

  test("unterminated quotes", () => {
    expect(split('"abc')).toBeNull();
    expect(split("'abc")).toBeNull();
    expect(split('"abc\\"')).toBeNull();
    expect(split('"abc\\')).toBeNull();
  });

  // sdssplitargs works on a C string, so a NUL ends the line. (redis-server 7.0.15 itself never gets
  // that far: processInlineBuffer finds the newline with strchr, which stops at the NUL too, so such
  // a line waits until the inline limit. The port's reading is the sane one.)
  test("a NUL byte ends the line", () => {
    expect(split("ECHO a\x00b c")).toEqual(["ECHO", "a"]);
    expect(split("\x00GET a")).toEqual([]);
    expect(split('ECHO "a\x00b"')).toBeNull();
    expect(split("ECHO 'a\x00'")).toBeNull();
  });

  test("only space, tab, CR and LF end an unquoted argument; \\v and \\f separate only between arguments", () => {
    expect(split("a\vb")).toEqual(["a\vb"]); // redis-server 7.0.15: ECHO a\vb -> "a\vb"
    expect(split("a\fb")).toEqual(["a\fb"]);
    expect(split("\va \fb\v")).toEqual(["a", "b\v"]);
  });

  test("quoted arguments are copies, unquoted ones views", () => {
    const line = bytesOf('plain "quoted"');
    const args = splitInlineArguments(line, 0, line.length) ?? [];
    expect(args[0]?.buffer).toBe(line.buffer);
    expect(args[1]?.buffer).not.toBe(line.buffer);
  });

  test("only [start, end) is read", () => {
    const line = bytesOf('xx"a b" c\r\nyy');
    expect(splitInlineArguments(line, 2, 9)?.map(latin1)).toEqual(["a b", "c"]);
  });

  // sdssplitargs opens a quote anywhere inside an argument, not only at its start: `ECHO a"b c"`
  // answers "ab c" on redis-server 7.0.15. The port treats a quote inside an argument as a plain byte.
  test("a quote inside an argument opens a quoted part, as in Redis", () => {
    expect(split('a"b c"')).toEqual(["ab c"]);
    expect(split("x'y z' w")).toEqual(["xy z", "w"]);
    expect(split('a"b')).toBeNull();
  });

  test("the fast path for lines without quotes splits as the full rules do", () => {
    const lineBytes = fc.uint8Array({ maxLength: 40 }).map((bytes) =>
      bytes.map((byte) => [97, 98, 32, 9, 10, 11, 12, 13, 200][byte % 9] ?? 97),
    );
    fc.assert(
      fc.property(lineBytes, (line) => {
        const fast = splitInlineArguments(line, 0, line.length)?.map(latin1);
        const full = splitQuoted(line, 0, line.length)?.map(latin1);
        expect(fast).toEqual(full);
      }),
      { numRuns: 2000 },
    );
  });
});
