/**
 * The core is pure: nothing under src/raft (tests aside) may import Bun, Node, LMDB or the
 * network, or reach for a clock, timers, randomness or Promises. The network node and the
 * simulator drive the very same code, so a leak here would make simulation lie.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir);

function sourceFiles(directory: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) files.push(path);
  }
  return files;
}

/** Patterns that must not appear in the core, with the reason. */
const forbidden: [RegExp, string][] = [
  [/from\s+["'](?!\.{1,2}\/)[^"']+["']/, "imports a package (only relative imports are allowed)"],
  [/import\s*\(/, "dynamic import"],
  [/\brequire\s*\(/, "require"],
  [/\bBun\./, "Bun API"],
  [/\bprocess\./, "Node process API"],
  [/\bDate\b/, "wall clock"],
  [/\bperformance\./, "clock"],
  [/\bMath\.random\b/, "unseeded randomness"],
  [/\bcrypto\./, "randomness or IO"],
  [/\bset(Timeout|Interval|Immediate)\b/, "timers"],
  [/\bPromise\b|\basync\b|\bawait\b/, "asynchrony"],
  [/\bfetch\s*\(/, "network"],
];

test("src/raft imports nothing but itself and src/assert.ts, and uses no clock, timer or IO", () => {
  const files = sourceFiles(root);
  expect(files.length).toBeGreaterThan(5);
  const problems: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    for (const [pattern, why] of forbidden) {
      if (pattern.test(code)) problems.push(`${relative(root, file)}: ${why}`);
    }
    for (const match of code.matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = join(file, "..", match[1]!);
      const inside = !relative(root, target).startsWith("..");
      if (!inside && !target.endsWith(join("src", "assert.ts"))) problems.push(`${relative(root, file)}: imports ${match[1]}`);
    }
  }
  expect(problems).toEqual([]);
});
