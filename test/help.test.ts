/**
 * Every command whose unknown-subcommand error says "Try <NAME> HELP" answers HELP, in Redis's
 * shape, and every subcommand its help names is one the command knows and does what it says.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { call, CloneProcess } from "./helpers/clone-process.ts";

setDefaultTimeout(60_000);

let clone: CloneProcess;
beforeAll(async () => {
  clone = await CloneProcess.start({ name: "help" });
});
afterAll(async () => {
  await clone.cleanup();
});

async function errorOf(...args: string[]): Promise<string> {
  try {
    const reply = await call(clone, ...args);
    return `no error: ${JSON.stringify(reply)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

for (const name of ["CLIENT", "COMMAND", "CONFIG", "CLUSTER", "DEBUG", "OBJECT", "MEMORY"]) {
  test(`${name} HELP answers what ${name}'s unknown-subcommand error sends clients to`, async () => {
    expect(await errorOf(name, "NO-SUCH-SUBCOMMAND")).toContain(`Try ${name} HELP.`);
    const lines = (await call(clone, name, "HELP")) as string[];
    expect(lines[0]).toBe(`${name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`);
    expect(lines.slice(-2)).toEqual(["HELP", "    Print this help."]);
    // Usage lines start at the margin, descriptions are indented; each usage names subcommands
    // (upper-case words before any argument) that the command must know.
    const usages = lines.slice(1, -2).filter((line) => !line.startsWith(" ") && !line.startsWith("("));
    expect(usages.length).toBeGreaterThan(0);
    for (const usage of usages) {
      for (const alternative of usage.split(/, | \| /)) {
        const subcommand = alternative.split(" ")[0] ?? "";
        if (!/^[A-Z][A-Z-]*$/.test(subcommand)) continue;
        expect({ subcommand, error: await errorOf(name, subcommand) }).not.toEqual({ subcommand, error: expect.stringContaining("unknown subcommand") });
      }
    }
  });
}

test("CONFIG RESETSTAT starts INFO's counters from zero, as its help says", async () => {
  const counter = async (): Promise<number> => Number(/total_commands_processed:(\d+)/.exec(String(await call(clone, "INFO", "stats")))?.[1]);
  for (let i = 0; i < 20; i++) await call(clone, "PING");
  expect(await counter()).toBeGreaterThan(20);
  expect(await call(clone, "CONFIG", "RESETSTAT")).toBe("OK");
  // The INFO that reads the counter is itself counted.
  expect(await counter()).toBe(1);
});
