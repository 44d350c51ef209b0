/**
 * Commands proposed in one turn become log entries: their RESP frames concatenated, in order, up
 * to `entryBytesMax` bytes an entry (a larger command gets an entry of its own). Several client
 * commands per entry keep each client's semantics (they apply one by one, in order) and make the
 * log, the disk and the network move batches instead of commands.
 *
 * Each entry begins with a clock frame, `RAFTTIME <ms>`: the leader's wall-clock time when it
 * proposed the entry, never earlier than any time it has seen in the log before. Every replica
 * applies the entry's commands at that time (`replicatedTime()` inside mutate), so decisions that
 * depend on time, such as expiry, are the same everywhere. The executor takes the frame off; the
 * machine never sees it.
 */
import { assert } from "../assert.ts";
import { Command } from "../resp/reader.ts";
import { entryBytesMax, type Ticket } from "./replicator.ts";

export interface EntryBatch {
  /** The data of each entry. */
  readonly entries: Uint8Array[];
  /** The tickets of each entry's commands, in command order. */
  readonly tickets: (Ticket | null)[][];
  /**
   * Each entry's commands (the parsed form of its data after the clock frame), in order; null for
   * an entry with an inline command, whose frame in the log is an encoding of it (its `raw` bytes
   * differ from what a replica parsing the entry sees).
   */
  readonly commands: (Command[] | null)[];
}

export function batchEntries(commands: readonly Command[], tickets: readonly (Ticket | null)[], time: number): EntryBatch {
  assert(commands.length === tickets.length, "one ticket per command");
  const batch: EntryBatch = { entries: [], tickets: [], commands: [] };
  const clock = clockFrame(time);
  let first = 0;
  while (first < commands.length) {
    let last = first;
    let bytes = commands[first]?.frameLength ?? 0;
    while (last + 1 < commands.length && bytes + (commands[last + 1]?.frameLength ?? 0) <= entryBytesMax) {
      last++;
      bytes += commands[last]?.frameLength ?? 0;
    }
    batch.entries.push(concatFrames(clock, commands, first, last + 1, bytes));
    batch.tickets.push(tickets.slice(first, last + 1));
    const entryCommands = commands.slice(first, last + 1);
    batch.commands.push(entryCommands.some((command) => command.inline) ? null : entryCommands);
    first = last + 1;
  }
  return batch;
}

/**
 * The clock frame and the frames of `commands[from, to)` copied into one Buffer: the log never
 * shares a client's buffer, and a Buffer never needs its `.buffer` materialised when parsed.
 */
function concatFrames(clock: Uint8Array, commands: readonly Command[], from: number, to: number, bytes: number): Uint8Array {
  const out = Buffer.allocUnsafe(clock.length + bytes);
  out.set(clock, 0);
  const end = Command.copyFrames(commands, from, to, out, clock.length);
  assert(end === clock.length + bytes, "entry size matches its frames");
  return out;
}

/** The name of the clock frame's command. */
export const clockCommandName = "rafttime";
const clockPrefix = Buffer.from("*2\r\n$8\r\nRAFTTIME\r\n$", "latin1");

/** `RAFTTIME <ms>` as a RESP frame. */
export function clockFrame(time: number): Uint8Array {
  assert(Number.isSafeInteger(time) && time >= 0, "a clock time is a non-negative integer of milliseconds");
  const digits = String(time);
  return Buffer.from(`*2\r\n$8\r\nRAFTTIME\r\n$${digits.length}\r\n${digits}\r\n`, "latin1");
}

/** The time in an entry's clock frame, or null when the entry does not begin with one. */
export function entryTime(data: Uint8Array): number | null {
  const prefixLength = clockPrefix.length;
  if (data.length < prefixLength + 4) return null;
  for (let i = 0; i < prefixLength; i++) if (data[i] !== clockPrefix[i]) return null;
  // `$<length>\r\n`: a time has at most 16 digits, so its length at most 2.
  let at = prefixLength;
  let length = 0;
  for (; at < prefixLength + 2 && at < data.length && data[at] !== 13; at++) {
    const digit = (data[at] ?? 0) - 48;
    if (digit < 0 || digit > 9) return null;
    length = length * 10 + digit;
  }
  if (data[at] !== 13 || data[at + 1] !== 10) return null;
  at += 2;
  if (length < 1 || length > 16 || at + length + 2 > data.length) return null;
  let time = 0;
  for (let i = 0; i < length; i++) {
    const digit = (data[at + i] ?? 0) - 48;
    if (digit < 0 || digit > 9) return null;
    time = time * 10 + digit;
  }
  return time;
}
