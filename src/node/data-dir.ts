/**
 * The data directory belongs to one process at a time, and to one log backend.
 *
 * LMDB lets several processes open one environment (it is built for that), so nothing stopped a
 * second node from starting on a directory in use: both then wrote the same log, and acknowledged
 * writes were lost or the log damaged. A node now holds an exclusive `flock` on `LOCK` in the
 * directory, and on the directory itself (`LOCK` can be deleted while the node runs; the directory
 * cannot be replaced without its files), for as long as it runs; the kernel drops both when the
 * process ends, however it ends.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileLogFileName, lmdbLogFileName } from "../log/store.ts";
import { loadLibc } from "./libc.ts";

const lockFileName = "LOCK";
const lockExclusive = 2;
const lockNonBlocking = 4;

/** A held lock on a data directory; `release()` at close. */
export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the directory's lock, or throws an error that names the directory and the process that
 * holds it. Where flock cannot be called (no glibc), `warn` is told and the node runs unlocked.
 */
export async function lockDataDirectory(dir: string, warn: (message: string) => void): Promise<DirectoryLock> {
  const lock = loadLibc()?.flock ?? null;
  const path = join(dir, lockFileName);
  let fd: number;
  try {
    fd = openSync(path, "a+", 0o600);
  } catch (error) {
    throw new Error(`cannot use ${dir} as the data directory: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (lock === null) {
    warn(`cannot lock ${path} (flock is not available here): make sure no other node uses this data directory`);
    return { release: () => closeSync(fd) };
  }
  const directoryFd = openSync(dir, "r");
  if (lock(fd, lockExclusive | lockNonBlocking) !== 0 || lock(directoryFd, lockExclusive | lockNonBlocking) !== 0) {
    closeSync(fd);
    closeSync(directoryFd);
    const holder = readFileSync(path, "latin1").trim();
    throw new Error(`the data directory ${dir} is in use by another node${holder === "" ? "" : ` (process ${holder})`}: stop it first, or give this one another -dir`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`);
  return {
    release: () => {
      closeSync(fd);
      closeSync(directoryFd);
    },
  };
}

/**
 * Refuses a directory whose log was written by the other backend: opening it with this one would
 * start an empty log beside it (a new, empty cluster), and what it acknowledged would vanish when
 * the directory is opened with the right backend again.
 */
export function checkBackend(dir: string, backend: "lmdb" | "memory"): void {
  const other = backend === "lmdb" ? fileLogFileName : lmdbLogFileName;
  if (holdsFile(dir, other)) {
    const flag = backend === "lmdb" ? "memory" : "lmdb";
    throw new Error(`the data directory ${dir} holds a log of the ${flag} backend (${other}): start with -backend ${flag}, or move that file away to start an empty node`);
  }
}

/** Whether the directory holds a log of either backend (then it must also hold the node's identity). */
export function holdsLog(dir: string): boolean {
  return holdsFile(dir, lmdbLogFileName) || holdsFile(dir, fileLogFileName);
}

/** Whether `name` in `dir` exists and is not empty. */
function holdsFile(dir: string, name: string): boolean {
  const path = join(dir, name);
  return existsSync(path) && statSync(path).size > 0;
}
