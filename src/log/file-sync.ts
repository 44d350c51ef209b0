/** Small synchronous and asynchronous file helpers shared by the file store and snapshot files. */
import { closeSync, fdatasync, fsyncSync, openSync, statfsSync } from "node:fs";

/** `fdatasync` on the libuv thread pool, as a promise. */
export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (error) => (error === null ? resolve() : reject(error)));
  });
}

/** Fsyncs a directory, so that a rename or a new file in it survives a power loss. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}


/** Error codes of a full or failing disk: Node's names, and the bare errno numbers lmdb-js reports. */
const diskErrorCodes = new Set<unknown>(["ENOSPC", "EDQUOT", "EIO", "EROFS", 28, 122, 5, 30]);

/**
 * What a failed write to the data directory says about its disk, to add to the error: its free
 * space when the error is one of a full or failing disk (LMDB reports a short write, which is what
 * a full disk gives it, as EIO), else nothing.
 */
export function diskNote(error: unknown, directory: string): string {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  if (!diskErrorCodes.has(code)) return "";
  const free = freeBytes(directory);
  if (free === null) return "";
  const full = free < fullBytes ? " (full)" : "";
  return `; the disk of ${directory} has ${(free / (1024 * 1024)).toFixed(1)} MB free${full}`;
}

/** Less free space than this is a full disk (for the notes above). */
const fullBytes = 1024 * 1024;

/** Whether the disk of `directory` is full, or as good as (false when that cannot be told). */
export function diskFull(directory: string): boolean {
  const free = freeBytes(directory);
  return free !== null && free < fullBytes;
}

/** The bytes free to this process on the disk of `directory`, or null when statfs fails. */
function freeBytes(directory: string): number | null {
  try {
    const stats = statfsSync(directory);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}
