/**
 * The few libc functions the node calls through Bun's FFI, loaded once; null where they cannot be
 * (no glibc, or an FFI that fails to load), and callers then do without.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

export interface Libc {
  /** flock(2). */
  flock(fd: number, operation: number): number;
  /** setpriority(2): on Linux, `PRIO_PROCESS` with a thread id sets that thread's nice value alone. */
  setpriority(which: number, who: number, priority: number): number;
  /** execve(2) with byte strings (no NUL inside); returns only when it failed. */
  execve(path: Uint8Array, argv: readonly Uint8Array[], environment: readonly Uint8Array[]): number;
}

let loaded: Libc | null | undefined;

/** A C string: the bytes and a NUL. */
function cString(bytes: Uint8Array): Buffer {
  const string = Buffer.alloc(bytes.length + 1);
  string.set(bytes);
  return string;
}

export function loadLibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  try {
    const library = dlopen("libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
      execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    });
    loaded = {
      flock: (fd, operation) => library.symbols.flock(fd, operation),
      setpriority: (which, who, priority) => library.symbols.setpriority(which, who, priority),
      execve: (path, argv, environment) => {
        // Every string and table stays referenced here until the call returns (if it does).
        const strings = [cString(path), ...argv.map(cString), ...environment.map(cString)];
        const table = (from: number, count: number): BigUint64Array => {
          const pointers = new BigUint64Array(count + 1);
          for (let i = 0; i < count; i++) pointers[i] = BigInt(ptr(strings[from + i]!));
          return pointers;
        };
        const argumentTable = table(1, argv.length);
        const environmentTable = table(1 + argv.length, environment.length);
        return library.symbols.execve(ptr(strings[0]!), ptr(argumentTable), ptr(environmentTable));
      },
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
