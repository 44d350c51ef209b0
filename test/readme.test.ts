/**
 * The README's API example is real code: this test takes it out of README.md, runs it (on a
 * temporary directory and a free port instead of `data` and 7481) and talks to it over RESP.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FinnNode } from "../src/finn.ts";

const root = join(import.meta.dir, "..");
const generated = join(import.meta.dir, `.generated-readme-${process.pid}.ts`);
const dir = mkdtempSync(join(tmpdir(), "finn-readme-"));

afterAll(() => {
  rmSync(generated, { force: true });
  rmSync(dir, { recursive: true, force: true });
});

function exampleSource(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
  const example = blocks.find((block) => block.includes("class Clone implements Machine"));
  if (example === undefined) throw new Error("README.md has no ts block with the Clone example");
  const opening = 'const node = await open("data", ":7481", "", new Clone(), {});';
  if (!example.includes(opening)) throw new Error(`the README example no longer contains: ${opening}`);
  return (
    example
      .replace('from "./src/finn.ts"', `from ${JSON.stringify(join(root, "src", "finn.ts"))}`)
      .replace(opening, `const node = await open(${JSON.stringify(dir)}, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet" });`) +
    "\nexport { node };\n"
  );
}

/** Sends `request` and collects replies until `length` bytes arrived (or 5 s passed). */
async function exchange(port: number, request: string, length: number): Promise<string> {
  let received = "";
  const { promise, resolve } = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        received += Buffer.from(data).toString("latin1");
        if (received.length >= length) resolve();
      },
      close() {
        resolve();
      },
    },
  });
  socket.write(request);
  await Promise.race([promise, Bun.sleep(5000)]);
  socket.end();
  return received;
}

function multibulk(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
}

test("the README's Clone example serves SET, GET, DEL (a DEL of nothing too) and KEYS", async () => {
  writeFileSync(generated, exampleSource());
  const module = (await import(generated)) as { node: FinnNode };
  try {
    const expected =
      "+OK\r\n+OK\r\n$8\r\nmy value\r\n*2\r\n$3\r\na/b\r\n$5\r\nmykey\r\n:1\r\n$-1\r\n:0\r\n-ERR wrong number of arguments for 'set' command\r\n";
    const reply = await exchange(
      module.node.port,
      multibulk("SET", "a/b", "1") +
        multibulk("SET", "mykey", "my value") +
        multibulk("GET", "mykey") +
        multibulk("KEYS", "*") +
        multibulk("DEL", "mykey", "nokey") +
        multibulk("GET", "mykey") +
        multibulk("DEL", "mykey", "nokey") +
        multibulk("SET", "x"),
      expected.length,
    );
    expect(reply).toBe(expected);
  } finally {
    await module.node.close();
  }
});
