import { expect, test } from "bun:test";
import { ReplyScanner, scanReply } from "./reply-scanner.ts";

const replies = [
  "+OK\r\n",
  "-ERR no\r\n",
  ":42\r\n",
  "$5\r\nhello\r\n",
  "$-1\r\n",
  "$0\r\n\r\n",
  "*-1\r\n",
  "*0\r\n",
  "*3\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n+x\r\n",
  "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n$2\r\nzz\r\n",
  "~2\r\n,1.5\r\n#t\r\n",
  ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
  "|1\r\n+ttl\r\n:3\r\n$3\r\nval\r\n",
  "=15\r\ntxt:Some string\r\n",
  "!21\r\nSYNTAX invalid syntax\r\n",
  "_\r\n",
  "(3492890328409238509324850943850943825024385\r\n",
  "*2\r\n*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n:4\r\n",
];

test("each kind of reply ends where it ends, whole or fed a byte at a time to one scanner that goes on where it stopped", () => {
  for (const reply of replies) {
    const bytes = Buffer.from(`${reply}+next\r\n`, "latin1");
    expect({ reply, end: scanReply(bytes, 0, bytes.length) }).toEqual({ reply, end: reply.length });
    const scanner = new ReplyScanner();
    let result: ReturnType<ReplyScanner["scan"]> = "incomplete";
    let available = 0;
    while (result === "incomplete" && available < bytes.length) result = scanner.scan(bytes, 0, ++available);
    expect({ reply, result, available }).toEqual({ reply, result: reply.length, available: reply.length });
    // The scanner is between replies again: the next one scans from its start.
    expect(scanner.scan(bytes, reply.length, bytes.length)).toBe(bytes.length);
  }
});

test("a scan that goes on after the buffer moved toward its start (shift) ends at the right place", () => {
  const first = "+first\r\n";
  const array = `*1000\r\n${"$3\r\nabc\r\n".repeat(1000)}`;
  const bytes = Buffer.from(first + array, "latin1");
  const scanner = new ReplyScanner();
  expect(scanner.scan(bytes, 0, bytes.length)).toBe(first.length);
  expect(scanner.scan(bytes, first.length, first.length + 5000)).toBe("incomplete");
  // The proxy drops the replies it relayed: the rest moves to offset 0.
  const moved = Buffer.from(bytes.subarray(first.length));
  scanner.shift(first.length);
  expect(scanner.scan(moved, 0, moved.length)).toBe(array.length);
});

test("what is not a reply is an error, and the scanner starts afresh after it", () => {
  const scanner = new ReplyScanner();
  for (const bad of ["?x\r\n", "$abc\r\nxyz\r\n", "*x\r\n", "$99999999999999999\r\n"]) {
    const bytes = Buffer.from(bad, "latin1");
    expect(scanner.scan(bytes, 0, bytes.length)).toHaveProperty("error");
  }
  const deep = Buffer.from(`${"*1\r\n".repeat(65)}:1\r\n`, "latin1");
  expect(scanner.scan(deep, 0, deep.length)).toEqual({ error: "reply nested too deeply" });
  const fine = Buffer.from(`${"*1\r\n".repeat(64)}:1\r\n`, "latin1");
  expect(scanner.scan(fine, 0, fine.length)).toBe(fine.length);
});
