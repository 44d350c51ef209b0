/**
 * Commands proposed in one turn become log entries: their RESP frames concatenated, in order, up
 * to `entryBytesMax` bytes an entry (a larger command gets an entry of its own). Several client
 * commands per entry keep each client's semantics (they apply one by one, in order) and make the
 * log, the disk and the network move batches instead of commands.
 */
import { assert } from "../assert.ts";
import { Command } from "../resp/reader.ts";
import { entryBytesMax, type Ticket } from "./replicator.ts";

export interface EntryBatch {
  /** The data of each entry. */
  readonly entries: Uint8Array[];
  /** The tickets of each entry's commands, in command order. */
  readonly tickets: (Ticket | null)[][];
}

export function batchEntries(commands: readonly Command[], tickets: readonly (Ticket | null)[]): EntryBatch {
  assert(commands.length === tickets.length, "one ticket per command");
  const batch: EntryBatch = { entries: [], tickets: [] };
  let first = 0;
  while (first < commands.length) {
    let last = first;
    let bytes = commands[first]?.frameLength ?? 0;
    while (last + 1 < commands.length && bytes + (commands[last + 1]?.frameLength ?? 0) <= entryBytesMax) {
      last++;
      bytes += commands[last]?.frameLength ?? 0;
    }
    batch.entries.push(concatFrames(commands, first, last + 1, bytes));
    batch.tickets.push(tickets.slice(first, last + 1));
    first = last + 1;
  }
  return batch;
}

/**
 * The frames of `commands[from, to)` copied into one Buffer: the log never shares a client's
 * buffer, and a Buffer never needs its `.buffer` materialised when the entry is parsed.
 */
function concatFrames(commands: readonly Command[], from: number, to: number, bytes: number): Uint8Array {
  const out = Buffer.allocUnsafe(bytes);
  const end = Command.copyFrames(commands, from, to, out, 0);
  assert(end === bytes, "entry size matches its frames");
  return out;
}
