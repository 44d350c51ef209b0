/**
 * Bun's allocator, mimalloc, hands memory that falls free back to the kernel (`madvise`), and the
 * next allocations fault it back in, one page at a time: 14–16 µs a page on our VMs. A node
 * allocates and frees at every message and every batch of commands, so it paid that over and
 * over: a follower took about 0.13 page faults per SET, and a quarter of its CPU was the kernel's
 * memory management. Two settings of Bun's mimalloc (3.5) decide it:
 * - `MIMALLOC_PURGE_DELAY`: how long a free page waits before it goes back (100 ms by default).
 *   10 s here: under load a page is used again long before; after a burst it goes back, as
 *   jemalloc's 10 s decay does for Redis. `-1`, kept for ever, was the setting before: nodes
 *   stayed at their peak, 5-6 GB of RSS with 0.4-0.8 GB in use after 70 MB values and 200 MB
 *   snapshots, and one was killed for want of memory.
 * - `MIMALLOC_PURGE_HOLES`: Bun's own addition, on by default: its scavenger thread hands back the
 *   free stretches inside pages still in use, every 100 ms whatever the delay above. With it on, a
 *   node at 10 s took the same 0.13-0.16 faults a SET as with mimalloc's defaults; off, 0.03.
 * The README's "Latency tails" and "The allocator" have the measurements.
 *
 * mimalloc reads its options from the environment once, as the process starts: so the clone
 * starts itself again, once, in place (`execve` of its own executable with its own arguments, so
 * the process id stays the same), with the variables it lacks added. A variable the operator set
 * is left as it is, whatever its value (`MIMALLOC_PURGE_DELAY=100` and `MIMALLOC_PURGE_HOLES=1`
 * restore Bun's defaults); when both are set there is no restart. Linux only; where something
 * fails, the node goes on as it is. Nothing may be opened before this runs: file descriptors
 * without close-on-exec would be inherited (a data directory's lock among them).
 */
import { readFileSync } from "node:fs";
import { loadLibc } from "./libc.ts";

/** The allocator's settings the clone runs with, by environment variable (see above). */
export const allocatorSettings: Readonly<Record<string, string>> = {
  /** How long (ms) a free page stays with the allocator before it goes back to the kernel. */
  MIMALLOC_PURGE_DELAY: "10000",
  /** Free stretches inside pages in use stay with the allocator. */
  MIMALLOC_PURGE_HOLES: "0",
};

/** The NUL-separated strings of a /proc file (its last string ends with a NUL too). */
function nulSeparated(bytes: Buffer): Buffer[] {
  const strings: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    strings.push(bytes.subarray(start, i));
    start = i + 1;
  }
  if (start < bytes.length) strings.push(bytes.subarray(start));
  return strings;
}

/** Starts this process again with the allocator settings it lacks; returns if it lacks none. */
export function restartWithAllocatorSettings(): void {
  const missing = Object.keys(allocatorSettings).filter((name) => process.env[name] === undefined);
  if (process.platform !== "linux" || missing.length === 0) return;
  const libc = loadLibc();
  if (libc === null) return;
  let argv: Buffer[];
  let environment: Buffer[];
  try {
    argv = nulSeparated(readFileSync("/proc/self/cmdline"));
    environment = nulSeparated(readFileSync("/proc/self/environ"));
  } catch {
    return;
  }
  if (argv.length === 0) return;
  for (const name of missing) environment.push(Buffer.from(`${name}=${allocatorSettings[name]}`));
  libc.execve(Buffer.from("/proc/self/exe"), argv, environment);
}
