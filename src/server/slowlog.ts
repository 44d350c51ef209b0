/**
 * SLOWLOG: the commands that took this node longer than `slowlogSlowerThanMicros` (Redis's
 * `slowlog-log-slower-than`, 10 ms by default; negative: none are logged; 0: all), the newest
 * `slowlogMaxLen` of them (Redis's `slowlog-max-len`, 128), in Redis's entries:
 * `[id, unix time, microseconds, [arguments...], "ip:port", "client name"]`.
 *
 * What is timed is where the node does the command's work: a command answered at once (a read,
 * or a write that would change nothing, answered without the log) while it is dispatched, a write
 * in the log while it is applied (on every replica: a follower's entry has no client, and shows an
 * empty address). A read that waits (behind its connection's write, for a ReadIndex round at High
 * consistency, in a transaction before its first write) is answered later and not timed. Commands Redis flags `fast` (O(1) or O(log N): GET,
 * INCR, HSET...) and SET, SETEX and PSETEX (O(1)) are not timed at all, so that the hot paths read
 * no clock (two readings cost some 75 ns, 0.6% of a SET's CPU on one node); nor is EXEC itself (its
 * commands are). Arguments are cut as Redis cuts them: 32 at most (the last then says how many
 * more there were), 128 bytes of each (then how many more bytes), with AUTH's and HELLO's
 * passwords redacted as MONITOR redacts them.
 */
import type { Command } from "../resp/reader.ts";
import type { CommandSpec } from "./command-spec.ts";
import { shownArgument } from "./monitor.ts";

/**
 * Not timed besides the commands flagged fast: EXEC (its commands are), and SET and its forms,
 * O(1) as Redis documents them though not flagged fast, and the commonest write of all.
 */
const untimed: ReadonlySet<string> = new Set(["exec", "set", "setex", "psetex"]);

/** Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING. */
const argumentsMax = 32;
const argumentBytesMax = 128;

export interface SlowLogEntry {
  readonly id: number;
  readonly time: number;
  readonly micros: number;
  readonly args: readonly Uint8Array[];
  readonly address: string;
  readonly name: string;
}

/** Who sent a command, as far as the node knows. */
export interface SlowLogClient {
  readonly remoteAddress: string;
  readonly name: string;
}

export class SlowLog {
  /** Newest last; at most `maxLen`. */
  private entries: SlowLogEntry[] = [];
  private nextId = 0;
  /** Commands timed (while dispatched, and writes also while applied). */
  private readonly timed: ReadonlySet<string>;
  private readonly timedWrites: ReadonlySet<string>;

  constructor(
    readonly slowerThanMicros: number,
    readonly maxLen: number,
    specs: readonly CommandSpec[],
  ) {
    const timed = specs.filter((spec) => !spec.flags.includes("fast") && !untimed.has(spec.name));
    this.timed = new Set(timed.map((spec) => spec.name));
    this.timedWrites = new Set(timed.filter((spec) => spec.flags.includes("write")).map((spec) => spec.name));
  }

  /** Whether the command named `name` is timed while it is dispatched. */
  times(name: string): boolean {
    return this.slowerThanMicros >= 0 && this.timed.has(name);
  }

  /** Whether the command named `name` is timed while it is applied. */
  timesApply(name: string): boolean {
    return this.slowerThanMicros >= 0 && this.timedWrites.has(name);
  }

  /** Logs `command` if `micros` is at least the threshold. */
  note(command: Command, micros: number, client: SlowLogClient | null): void {
    if (this.slowerThanMicros < 0 || micros < this.slowerThanMicros || this.maxLen === 0) return;
    this.entries.push({
      id: this.nextId++,
      time: Math.floor(Date.now() / 1000),
      micros: Math.round(micros),
      args: cutArguments(command),
      address: client?.remoteAddress ?? "",
      name: client?.name ?? "",
    });
    if (this.entries.length > this.maxLen) this.entries.splice(0, this.entries.length - this.maxLen);
  }

  /** The newest `count` entries, newest first (all of them for a negative count). */
  newest(count: number): SlowLogEntry[] {
    const taken = count < 0 ? this.entries.length : Math.min(count, this.entries.length);
    return this.entries.slice(this.entries.length - taken).reverse();
  }

  get length(): number {
    return this.entries.length;
  }

  reset(): void {
    this.entries = [];
  }
}

function cutArguments(command: Command): Uint8Array[] {
  const count = command.argCount;
  const shown = Math.min(count, argumentsMax);
  const cut: Uint8Array[] = [];
  for (let i = 0; i < shown; i++) {
    if (i === shown - 1 && count > argumentsMax) {
      cut.push(Buffer.from(`... (${count - argumentsMax + 1} more arguments)`));
      break;
    }
    const arg = shownArgument(command, i);
    // A copy, not a view: a view would keep the client's whole read buffer alive.
    cut.push(
      arg.length > argumentBytesMax
        ? Buffer.concat([arg.subarray(0, argumentBytesMax), Buffer.from(`... (${arg.length - argumentBytesMax} more bytes)`)])
        : Uint8Array.from(arg),
    );
  }
  return cut;
}
