/**
 * The engine's helper threads yield to the event loop.
 *
 * Besides the thread that runs JavaScript, a Bun process runs helper threads: JavaScriptCore's JIT
 * compilers (`JITWorker`, `JSCWarmUp`), its garbage collector's helpers (`HeapHelper`, `Collector
 * Thread`) and the allocator's scavenger (`mi-scavenger`). Where they share a core with the event
 * loop (one node given one core, or several nodes on a few), the kernel's fair scheduler gives
 * them slices of milliseconds, and the loop, which every client is waiting on, stalls meanwhile.
 * Raising their nice value to 10 cuts their share of a contended core from a half to about a tenth;
 * a core with nothing else to run still runs them at once. Linux only (`/proc/self/task`, and
 * `setpriority` on a thread id); elsewhere this does nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { loadLibc } from "./libc.ts";

/** The nice value given to helper threads by default (0 leaves them alone; 19 is the lowest priority). */
export const helperThreadNiceDefault = 10;
/** Helper threads may start later (the JIT starts compilers as it needs them): look again this often. */
const rescanMilliseconds = 2_000;
const priorityOfProcess = 0;
/**
 * The helpers' thread names as `/proc` shows them (at most 15 characters: JavaScriptCore's
 * "Collector Thread" appears as "ollector Thread"). Only these: threads a program using Finn starts
 * itself (Workers, for one) keep their priority.
 */
const helperNames = /^(JITWorker|JSCWarmUp|HeapHelper|C?ollector Thread|mi-scavenger)$/;

/** Lowers the helper threads' priority now and as they start, until `stop()`. */
export async function lowerHelperThreads(nice: number = helperThreadNiceDefault): Promise<{ stop(): void }> {
  const libc = nice === 0 ? null : loadLibc();
  if (libc === null) return { stop() {} };
  const done = new Set<number>();
  const scan = (): void => {
    let tids: string[];
    try {
      tids = readdirSync("/proc/self/task");
    } catch {
      return;
    }
    for (const name of tids) {
      const tid = Number(name);
      if (done.has(tid) || tid === process.pid) continue;
      let comm: string;
      try {
        comm = readFileSync(`/proc/self/task/${name}/comm`, "latin1").trim();
      } catch {
        continue; // the thread ended meanwhile
      }
      // A thread is named once it runs: one not (yet) named as a helper is looked at again.
      if (!helperNames.test(comm)) continue;
      done.add(tid);
      libc.setpriority(priorityOfProcess, tid, nice);
    }
  };
  scan();
  const timer = setInterval(scan, rescanMilliseconds);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
