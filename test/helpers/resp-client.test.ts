/**
 * The test client's RESP parser judges the server's output, so it gets its own checks: every
 * RESP2 and RESP3 type, fed whole, byte by byte, and at every split point.
 */
import { describe, expect, test } from "bun:test";
import { encodeCommand, parseAll, plain, RespParser, RespProtocolError, type RespValue } from "./resp-client.ts";

/** Parses `bytes` fed in pieces of the given sizes (cycled); returns every value. */
function parseInPieces(bytes: Buffer, pieceSizes: readonly number[]): RespValue[] {
  const parser = new RespParser();
  const values: RespValue[] = [];
  let offset = 0;
  let piece = 0;
  while (offset < bytes.length) {
    const size = pieceSizes[piece % pieceSizes.length] ?? 1;
    parser.push(bytes.subarray(offset, offset + size));
    offset += size;
    piece += 1;
    for (let value = parser.next(); value !== undefined; value = parser.next()) values.push(value);
  }
  expect(parser.pendingBytes).toBe(0);
  return values;
}

const cases: Array<[string, string, RespValue]> = [
  ["simple string", "+OK\r\n", { type: "simple", value: "OK" }],
  ["error", "-ERR bad\r\n", { type: "error", value: "ERR bad" }],
  ["integer", ":-42\r\n", { type: "integer", value: -42n }],
  ["64-bit integer", ":9223372036854775807\r\n", { type: "integer", value: 9223372036854775807n }],
  ["bulk", "$5\r\nhe\r\no\r\n", { type: "bulk", value: Buffer.from("he\r\no") }],
  ["empty bulk", "$0\r\n\r\n", { type: "bulk", value: Buffer.alloc(0) }],
  ["null bulk", "$-1\r\n", { type: "bulk", value: null }],
  ["null array", "*-1\r\n", { type: "array", value: null }],
  [
    "nested array",
    "*2\r\n*1\r\n:1\r\n$1\r\nx\r\n",
    { type: "array", value: [{ type: "array", value: [{ type: "integer", value: 1n }] }, { type: "bulk", value: Buffer.from("x") }] },
  ],
  ["RESP3 null", "_\r\n", { type: "null" }],
  ["RESP3 boolean", "#t\r\n", { type: "boolean", value: true }],
  ["RESP3 double", ",1.5\r\n", { type: "double", value: 1.5, text: "1.5" }],
  ["RESP3 infinite double", ",-inf\r\n", { type: "double", value: -Infinity, text: "-inf" }],
  ["RESP3 big number", "(123456789012345678901234567890\r\n", { type: "bignumber", value: 123456789012345678901234567890n }],
  ["RESP3 blob error", "!7\r\nERR x y\r\n", { type: "blob-error", value: "ERR x y" }],
  ["RESP3 verbatim", "=8\r\ntxt:abcd\r\n", { type: "verbatim", format: "txt", value: Buffer.from("abcd") }],
  [
    "RESP3 map",
    "%1\r\n+k\r\n:1\r\n",
    { type: "map", value: [[{ type: "simple", value: "k" }, { type: "integer", value: 1n }]] },
  ],
  ["RESP3 set", "~1\r\n+a\r\n", { type: "set", value: [{ type: "simple", value: "a" }] }],
  ["RESP3 push", ">1\r\n+a\r\n", { type: "push", value: [{ type: "simple", value: "a" }] }],
];

describe("RespParser", () => {
  for (const [name, wire, expected] of cases) {
    test(`${name}: whole, byte by byte, and at every split`, () => {
      const bytes = Buffer.from(wire, "latin1");
      expect(parseAll(bytes)).toEqual([expected]);
      expect(parseInPieces(bytes, [1])).toEqual([expected]);
      for (let split = 1; split < bytes.length; split++) {
        expect(parseInPieces(bytes, [split, bytes.length])).toEqual([expected]);
      }
    });
  }

  test("several replies in one chunk come out in order", () => {
    const bytes = Buffer.from("+A\r\n:1\r\n$1\r\nb\r\n");
    expect(parseAll(bytes).map(plain)).toEqual(["A", 1, "b"]);
  });

  test("binary bulk bytes are kept exactly", () => {
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const bytes = Buffer.concat([Buffer.from(`$${payload.length}\r\n`), payload, Buffer.from("\r\n")]);
    expect(parseAll(bytes)).toEqual([{ type: "bulk", value: payload }]);
  });

  test("malformed input is a protocol error, not a hang", () => {
    expect(() => parseAll(Buffer.from("?what\r\n"))).toThrow(RespProtocolError);
    expect(() => parseAll(Buffer.from("$3\r\nabcd\r\n"))).toThrow(RespProtocolError);
    expect(() => parseAll(Buffer.from(":12x\r\n"))).toThrow(RespProtocolError);
    expect(() => parseAll(Buffer.from("$3\r\nab"))).toThrow(RespProtocolError); // left over
  });
});

test("encodeCommand writes a RESP array of bulk strings", () => {
  expect(encodeCommand(["SET", "k", Buffer.from([0, 255]), 7]).toString("latin1")).toBe(
    "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\x00\xff\r\n$1\r\n7\r\n",
  );
});
