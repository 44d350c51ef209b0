/** The clone's command-line flags: sizes with Redis's units, and errors that name the flag. */
import { expect, test } from "bun:test";
import { parseFlags, parseSize, usage, valueFlags } from "./clone.ts";

test("sizes take Redis's units, as redis.conf does", () => {
  expect(parseSize("1048576", "f")).toBe(1048576);
  expect(parseSize("512mb", "f")).toBe(512 * 1024 * 1024);
  expect(parseSize("1GB", "f")).toBe(1024 ** 3);
  expect(parseSize("64kb", "f")).toBe(65536);
  expect(parseSize("64k", "f")).toBe(64000);
  expect(parseSize("2m", "f")).toBe(2_000_000);
  expect(parseSize("100b", "f")).toBe(100);
  for (const bad of ["", "mb", "1.5mb", "-1", "12 mb", "1tb", "99999999999gb"]) {
    expect(() => parseSize(bad, "proto-max-bulk-len")).toThrow(`invalid size '${bad}' for -proto-max-bulk-len: expected bytes, optionally with a unit`);
  }
});

test("the size flags read units, and keep their lower bounds", () => {
  const flags = parseFlags(["-proto-max-bulk-len", "512mb", "-client-query-buffer-limit", "1gb", "-snapshot-bytes", "64mb", "-snapshot-trail-bytes", "0"]);
  if (typeof flags === "string") throw new Error(`flags: ${flags}`);
  expect([flags.bulkBytesMax, flags.queryBufferBytesMax, flags.snapshotBytes, flags.snapshotTrailBytes]).toEqual([512 * 1024 ** 2, 1024 ** 3, 64 * 1024 ** 2, 0]);
  expect(() => parseFlags(["-proto-max-bulk-len", "1k"])).toThrow("invalid size '1k' for -proto-max-bulk-len: at least 1024 bytes");
  expect(() => parseFlags(["-snapshot-bytes", "0"])).toThrow("invalid size '0' for -snapshot-bytes: at least 1 byte");
});

test("-election-timeout takes whole milliseconds from 20 to an hour", () => {
  const flags = parseFlags(["-election-timeout", "3000"]);
  expect(typeof flags === "string" ? null : flags.electionTimeoutMilliseconds).toBe(3000);
  for (const bad of ["10", "1.5", "abc", "3600001"]) {
    expect(() => parseFlags(["-election-timeout", bad])).toThrow(`invalid milliseconds '${bad}' for -election-timeout: from 20 to 3600000`);
  }
});

test("-version and -v print the version; a flag it does not know is named as unknown, even as the last argument", () => {
  for (const flag of ["-v", "-version", "--version"]) expect(parseFlags([flag])).toBe("version");
  for (const flag of ["-bogus", "--verbose"]) expect(() => parseFlags([flag])).toThrow(`unknown flag '${flag}'`);
  expect(() => parseFlags(["-dir"])).toThrow("flag -dir needs a value");
});

test("every flag the help names is one the parser takes, and every one it takes is in the help", () => {
  // The flag column of each line that starts with one: "  -tls-cert FILE, -tls-key FILE      serve ...".
  const columns = usage.split("\n").filter((line) => line.startsWith("  -")).map((line) => line.trim().split(/ {2,}/)[0] ?? "");
  const named = new Set(columns.flatMap((column) => [...column.matchAll(/(?:^|, )-([a-z-]+)/g)].map((match) => match[1] ?? "")));
  for (const name of ["h", "help", "v", "version"]) named.delete(name);
  expect([...named].sort()).toEqual([...valueFlags].filter((name) => name !== "port").sort());
});
