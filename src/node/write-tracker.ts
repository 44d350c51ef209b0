/**
 * What WATCH needs: for each key, the log index of the last applied write to it, so that EXEC can
 * tell whether a watched key may have changed since WATCH.
 *
 * Every command in the log is a write (reads never enter it), but for a blocking read (XREAD
 * BLOCK, whose spec has both the `readonly` and `blocking` flags), which goes through the log only
 * to wait in order, and writes nothing. (A plain `readonly` command in the log may write: PFCOUNT
 * stores its cached count, and Redis counts that as a change of the key, for WATCH too.) A write's
 * keys come from its command spec (`firstKey`, `lastKey`, `step`, as Redis's key specs, or its
 * `keys` function for keys without fixed positions: LMPOP's); a write without key positions
 * (FLUSHALL, or a machine that lists no specs) counts as writing every key.
 * Bounded: past `keysMax` keys the map is cleared, and a watch older than that moment counts as
 * changed (a spurious abort, which clients retry; never a missed change).
 *
 * Writes are recorded only while some client watches (`watch()` to `release`): without a WATCH
 * open, nobody asks, and applying a write costs nothing here. When the first watch opens, every
 * write up to the index applied then counts as unknown; a watch only asks about later ones.
 */
import type { Command } from "../resp/reader.ts";
import type { CommandSpec } from "../server/command-spec.ts";

/** Keys remembered before the map is cleared. */
const keysMaxDefault = 1_000_000;

/** One open WATCH: the applied index it started at, and how to say it is over (idempotent). */
export interface WatchHandle {
  readonly since: number;
  release(): void;
}

export class WriteTracker {
  private readonly lastWrite = new Map<string, number>();
  /** The last index at which every key counts as written. */
  private everythingAt = 0;
  /** Open watches; writes are recorded only while there is one. */
  private watchers = 0;

  constructor(
    private readonly specOf: (name: string) => CommandSpec | undefined,
    private readonly keysMax = keysMaxDefault,
  ) {}

  /** Opens a watch at applied index `appliedIndex`; writes after it are recorded until it is released. */
  watch(appliedIndex: number): WatchHandle {
    if (this.watchers === 0) this.everythingAt = Math.max(this.everythingAt, appliedIndex);
    this.watchers++;
    let open = true;
    return {
      since: appliedIndex,
      release: () => {
        if (!open) return;
        open = false;
        this.watchers--;
        if (this.watchers === 0) this.lastWrite.clear();
      },
    };
  }

  /** Whether writes are being recorded (some watch is open). */
  get tracking(): boolean {
    return this.watchers > 0;
  }

  /** The write `command` was applied at log `index` (it did not fail). */
  applied(command: Command, index: number): void {
    if (this.watchers === 0) return;
    const keys = this.keysOf(command);
    if (keys === null) {
      this.everythingAt = index;
      return;
    }
    for (const key of keys) this.lastWrite.set(key, index);
    if (this.lastWrite.size > this.keysMax) {
      this.lastWrite.clear();
      this.everythingAt = index;
    }
  }

  /** Writes up to `index` are unknown (the state came from a snapshot): they all count as changes. */
  forgetUpTo(index: number): void {
    this.lastWrite.clear();
    this.everythingAt = Math.max(this.everythingAt, index);
  }

  /** True when one of `keys` was written by a command applied after log index `since`. */
  changedSince(keys: readonly string[], since: number): boolean {
    if (this.everythingAt > since) return true;
    for (const key of keys) if ((this.lastWrite.get(key) ?? 0) > since) return true;
    return false;
  }

  /** True when the write `command` (not applied yet) writes one of `keys`. */
  writes(command: Command, keys: ReadonlySet<string>): boolean {
    const written = this.keysOf(command);
    if (written === null) return true;
    for (const key of written) if (keys.has(key)) return true;
    return false;
  }

  private keysOf(command: Command): string[] | null {
    return keysWritten(this.specOf(command.name), command);
  }
}

/**
 * The keys a write names, from its spec; null when it has no key positions (it writes everything);
 * none for a blocking read (`readonly` and `blocking`: XREAD BLOCK in the log, whose keys, after
 * STREAMS, have no fixed positions either, and which must not count as writing every key).
 */
export function keysWritten(spec: CommandSpec | undefined, command: Command): string[] | null {
  if (spec !== undefined && isBlockingRead(spec)) return [];
  if (spec?.keys !== undefined) return spec.keys(command);
  if (spec === undefined || spec.firstKey <= 0) return null;
  const count = command.argCount;
  const last = spec.lastKey < 0 ? count + spec.lastKey : Math.min(spec.lastKey, count - 1);
  const step = Math.max(1, spec.step);
  const keys: string[] = [];
  for (let i = spec.firstKey; i <= last; i += step) keys.push(command.key(i));
  return keys;
}

/** A command that waits for data and takes none of it (XREAD): its spec is `readonly` and `blocking`. */
export function isBlockingRead(spec: CommandSpec): boolean {
  return spec.flags.includes("readonly") && spec.flags.includes("blocking");
}
