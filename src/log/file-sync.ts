/** Small synchronous and asynchronous file helpers shared by the file store and snapshot files. */
import { closeSync, fdatasync, fsyncSync, openSync } from "node:fs";

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

