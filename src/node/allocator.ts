/**
 * Bun's allocator, mimalloc, hands memory that falls free back to the kernel (`madvise`) after
 * 10 ms, and the next allocations fault it back in, one page at a time: 14–16 µs a page on our
 * VMs. A node allocates and frees at every message and every batch of commands, so it paid that
 * over and over: a follower took about 0.13 page faults per SET, and a quarter of its CPU was the
 * kernel's memory management. With `MIMALLOC_PURGE_DELAY=10000` mimalloc keeps freed memory for its
 * next allocations for 10 s instead (under load it is used again long before; after a burst it
 * goes back, as jemalloc's 10 s decay does for Redis). `-1`, kept for ever, was the setting before:
 * nodes stayed at their peak, 5-6 GB of RSS with 0.4-0.8 GB in use after 70 MB values and 200 MB
 * snapshots, and one was killed for want of memory. The README's "Latency tails" has the measurements.
 *
 * mimalloc reads its options from the environment once, as the process starts: so the clone
 * starts itself again, once, in place (`execve` of its own executable with its own arguments, so
 * the process id stays the same), with the variable added, unless it is set already (whatever
 * its value: `MIMALLOC_PURGE_DELAY=10` restores mimalloc's default). Linux only; where anything
 * fails, the node goes on as it is. Nothing may be opened before this runs: file descriptors
 * without close-on-exec would be inherited (a data directory's lock among them).
 */
import { readFileSync } from "node:fs";
import { loadLibc } from "./libc.ts";

export const allocatorVariable = "MIMALLOC_PURGE_DELAY";
/** How long freed memory stays with the allocator before it goes back to the kernel. */
export const purgeDelayMilliseconds = 10_000;

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

/** Starts this process again with the allocator setting, when it lacks it; returns if it does not. */
export function restartWithAllocatorSetting(): void {
  if (process.platform !== "linux" || process.env[allocatorVariable] !== undefined) return;
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
  environment.push(Buffer.from(`${allocatorVariable}=${purgeDelayMilliseconds}`));
  libc.execve(Buffer.from("/proc/self/exe"), argv, environment);
}
