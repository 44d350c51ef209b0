/**
 * The few libc functions the node calls through Bun's FFI, loaded once; null where they cannot be
 * (no glibc, or an FFI that fails to load), and callers then do without.
 */
export interface Libc {
  /** flock(2). */
  flock(fd: number, operation: number): number;
  /** setpriority(2): on Linux, `PRIO_PROCESS` with a thread id sets that thread's nice value alone. */
  setpriority(which: number, who: number, priority: number): number;
}

let loaded: Libc | null | undefined;

export async function loadLibc(): Promise<Libc | null> {
  if (loaded !== undefined) return loaded;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const library = dlopen("libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
    });
    loaded = {
      flock: (fd, operation) => library.symbols.flock(fd, operation),
      setpriority: (which, who, priority) => library.symbols.setpriority(which, who, priority),
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
