/**
 * The engine's helper threads run at a lower priority than the event loop, so that on a core they
 * share with it they yield to it (src/node/helper-threads.ts), and threads the node does not know
 * keep theirs.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { call, CloneProcess, cleanupAll } from "./helpers/clone-process.ts";

setDefaultTimeout(60_000);

const started: CloneProcess[] = [];
afterAll(async () => {
  await cleanupAll(started);
});

/** Each thread of `pid`: its name and nice value (field 19 of stat, counted after the name's closing parenthesis). */
function threads(pid: number): { tid: number; name: string; nice: number }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return [{ tid: Number(tid), name: readFileSync(`/proc/${pid}/task/${tid}/comm`, "latin1").trim(), nice: Number(fields[16]) }];
    } catch {
      return [];
    }
  });
}

test("JIT, garbage collector and allocator threads get nice 10; the event loop's thread and the others keep 0", async () => {
  const clone = await CloneProcess.start({ name: "helper-threads" });
  started.push(clone);
  for (let i = 0; i < 3000; i++) await call(clone, "SET", `k${i % 100}`, "v".repeat(100));
  const pid = clone.pid ?? 0;
  // Helpers started after the node's first look (any of them: the JIT starts compilers as it needs
  // them, the collector its thread at its first collection) are found within a rescan (2 s).
  const helperNames = /^(JITWorker|JSCWarmUp|HeapHelper|ollector Thread|mi-scavenger)$/;
  const deadline = Date.now() + 10_000;
  let seen = threads(pid);
  while (Date.now() < deadline && seen.some((thread) => helperNames.test(thread.name) && thread.nice !== 10)) {
    await Bun.sleep(200);
    seen = threads(pid);
  }
  const helpers = seen.filter((thread) => helperNames.test(thread.name));
  expect(helpers.some((thread) => thread.name === "JITWorker")).toBe(true);
  for (const thread of helpers) expect({ name: thread.name, nice: thread.nice }).toEqual({ name: thread.name, nice: 10 });
  // The event loop's thread is the process's first (its id is the pid).
  expect(seen.find((thread) => thread.tid === pid)?.nice).toBe(0);
  for (const thread of seen.filter((one) => one.name.startsWith("Bun Pool"))) expect(thread.nice).toBe(0);
});
