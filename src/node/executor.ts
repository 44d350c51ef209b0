/**
 * Applies committed log entries to the user's Machine. An entry's data is one or more RESP
 * commands exactly as clients sent them; each is run through `Machine.command` with an applier in
 * apply mode, whose `apply` runs `mutate` at once and keeps its result. This is what every node
 * does, the one that proposed the command included, so every replica runs the same code on the
 * same bytes in the same order (as Finn does).
 */
import type { Applier, Conn, Machine, Unchanged } from "../api.ts";
import { assert } from "../assert.ts";
import type { Logger } from "../log.ts";
import { enterLogPosition, leaveLogPosition, noteAppliedTime } from "../replicated.ts";
import { clockCommandName } from "./batch.ts";
import { type Command, type CommandSink, RespReader } from "../resp/reader.ts";

/**
 * What applying one command produced: `mutate`'s value, or the error it (or `command`) raised;
 * `unchanged` when the command's `unchanged` found that it would change nothing (see `Unchanged`),
 * so `mutate` did not run.
 */
export interface ApplyResult {
  value: unknown;
  error: unknown;
  unchanged: boolean;
}

/** The applier handed to the machine while applying committed commands. */
class ApplyModeApplier implements Applier {
  value: unknown = undefined;
  error: unknown = undefined;
  unchanged = false;
  calls = 0;

  reset(): void {
    this.value = undefined;
    this.error = undefined;
    this.unchanged = false;
    this.calls = 0;
  }

  apply<T>(
    _conn: Conn | null,
    _command: Command,
    mutate: (() => T) | null,
    _respond: ((value: T) => void) | null,
    unchanged?: (() => Unchanged<T> | null) | null,
  ): void {
    this.calls++;
    if (this.calls > 1) {
      this.error = new Error("apply called more than once for one command");
      return;
    }
    if (mutate === null) return;
    try {
      // A write found to change nothing is not run: it wrote no key (WATCH, blocked clients), as
      // the same write answered without the log did not. Every replica asks the same state.
      const found = unchanged == null ? null : unchanged();
      if (found !== null) {
        this.value = found.value;
        this.unchanged = true;
        return;
      }
      const value: unknown = mutate();
      // Returning an error answers with it, as throwing does (what mutate changed before stays,
      // the same on every node). A Promise means mutate is async: what it does after its first
      // await would change state outside log order, so the command answers with an error.
      if (value instanceof Error) this.error = value;
      else if (isThenable(value)) this.error = new Error("mutate returned a Promise: it must be synchronous");
      else this.value = value;
    } catch (error) {
      this.error = error;
    }
  }
}

function isThenable(value: unknown): boolean {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** Hears about each command of an entry: just before it is applied, and what applying it produced. */
export interface ApplyListener {
  before(command: Command): void;
  after(command: Command, result: ApplyResult): void;
}

const ignore: ApplyListener = { before: () => {}, after: () => {} };

export class Executor implements CommandSink {
  private readonly applier = new ApplyModeApplier();
  private listener: ApplyListener = ignore;
  private readonly result: ApplyResult = { value: undefined, error: undefined, unchanged: false };

  constructor(
    private readonly machine: Machine,
    private readonly logger: Logger,
    /**
     * Commands the framework applies itself, by name (PUBLISH): the machine never sees them, and
     * what the function returns is their value.
     */
    private readonly frameworkCommands: ReadonlyMap<string, (command: Command) => unknown> = new Map(),
  ) {}

  /** Whether the framework applies commands named `name` itself (they touch no key of the machine). */
  appliesItself(name: string): boolean {
    return this.frameworkCommands.has(name);
  }

  /** The index of the entry being applied, and the place in it of the next command. */
  private entryIndex = 0;
  private commandPosition = 0;
  /** The time the entry being applied carries, and the latest time of any entry applied. */
  private entryTime = 0;
  private lastTime = 0;

  /** The latest time of the entries applied so far (0 before the first). */
  get lastAppliedTime(): number {
    return this.lastTime;
  }

  /** Applies every command in `data` (the entry at `index`), in order, telling `listener` before and after each. */
  applyEntry(index: number, data: Uint8Array, listener: ApplyListener): void {
    this.listener = listener;
    this.entryIndex = index;
    this.commandPosition = 0;
    // An entry written before entries carried a clock applies at the last time seen.
    this.entryTime = this.lastTime;
    // The entry holds complete frames written by the framework; a fresh reader sees them all.
    const status = new RespReader().feed(data, this);
    assert(status.kind === "ok", "a committed entry holds only complete RESP commands");
  }

  /**
   * Applies the entry at `index` from the commands it was built from (`batchEntries`) rather than
   * its bytes: what the node that proposed it does, sparing a second parse. `commands` are the
   * parsed form of the entry's frames after its clock frame, which carried `time`, so the machine
   * sees the same arguments at the same log positions and time as every other replica, which
   * parses the bytes.
   */
  applyParsed(index: number, time: number, commands: readonly Command[], listener: ApplyListener): void {
    this.listener = listener;
    this.entryIndex = index;
    this.noteTime(time);
    // Position 0 is the clock frame, as when parsed.
    this.commandPosition = 1;
    for (const command of commands) this.applyCommand(command);
  }

  onCommand(command: Command): boolean {
    if (this.commandPosition === 0 && command.name === clockCommandName && command.argCount === 2) {
      // The entry's clock frame: the time its commands apply at, not a command of the machine.
      const time = Number(command.key(1));
      if (Number.isSafeInteger(time) && time >= 0) this.noteTime(time);
      this.commandPosition++;
      return true;
    }
    this.applyCommand(command);
    return true;
  }

  private noteTime(time: number): void {
    this.entryTime = time;
    this.lastTime = Math.max(this.lastTime, time);
    noteAppliedTime(this.lastTime);
  }

  private applyCommand(command: Command): void {
    this.listener.before(command);
    const applier = this.applier;
    applier.reset();
    const result = this.result;
    try {
      enterLogPosition(this.entryIndex, this.commandPosition++, this.entryTime);
      const own = this.frameworkCommands.get(command.name);
      result.unchanged = false;
      if (own !== undefined) {
        result.value = own(command);
        result.error = undefined;
      } else {
        const returned = this.machine.command(applier, null, command);
        result.value = applier.value;
        result.error = returned instanceof Error ? returned : applier.error;
        result.unchanged = applier.unchanged;
      }
    } catch (error) {
      result.value = undefined;
      result.error = error;
      result.unchanged = false;
      if (error instanceof Error && error.name === "AssertionError") throw error;
    } finally {
      leaveLogPosition();
    }
    if (result.error !== undefined && this.logger.enabled("debug")) {
      this.logger.debug(`Applying '${command.name}' failed: ${String(result.error)}`);
    }
    this.listener.after(command, result);
  }
}
