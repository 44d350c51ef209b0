/**
 * COMMAND DOCS as redis-cli reads it: every argument of every command (the framework's and the
 * clone's) has a type Redis 7 knows (redis-cli prints "Unknown type" warnings for any other, on
 * every start in pipe mode), and a trailing `...` glued to an argument marks it multiple.
 */
import { expect, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import { type ArgumentDoc, parseArguments } from "../src/server/command-spec.ts";
import { builtins } from "../src/server/commands/index.ts";

const redisTypes = new Set(["key", "string", "integer", "double", "pattern", "pure-token", "block", "oneof"]);

function badTypes(name: string, docs: readonly ArgumentDoc[]): string[] {
  return docs.flatMap((doc) => [
    ...(redisTypes.has(doc.type) ? [] : [`${name}: argument '${doc.name}' has type '${doc.type}'`]),
    ...badTypes(name, doc.arguments ?? []),
  ]);
}

test("every command's arguments have types COMMAND DOCS knows", () => {
  const specs = [...[...builtins.values()].map((builtin) => builtin.spec), ...(new Clone().commands ?? [])];
  expect(specs.length).toBeGreaterThan(150);
  expect(specs.flatMap((spec) => badTypes(spec.name, spec.arguments))).toEqual([]);
});

test("a trailing ... glued to an argument marks it multiple; an unknown type is refused", () => {
  expect(parseArguments("[WEIGHTS weight:integer...]")).toEqual([
    { name: "args", type: "block", optional: true, arguments: [{ name: "WEIGHTS", type: "string" }, { name: "weight", type: "integer", multiple: true }] },
  ]);
  expect(parseArguments("key ...")).toEqual([{ name: "key", type: "key", multiple: true }]);
  expect(() => parseArguments("count:integr")).toThrow("'count:integr' has no type COMMAND DOCS knows");
});
