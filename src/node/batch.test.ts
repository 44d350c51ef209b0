import { describe, expect, test } from "bun:test";
import type { Applier, Conn, Machine } from "../api.ts";
import { Logger } from "../log.ts";
import { logPosition, replicatedTime } from "../replicated.ts";
import { Command, encodeCommand, latin1, RespReader } from "../resp/reader.ts";
import { batchEntries, clockFrame, entryTime } from "./batch.ts";
import { Executor } from "./executor.ts";
import { entryBytesMax, type Ticket } from "./replicator.ts";

function commands(...lines: string[][]): Command[] {
  return lines.map((args) => Command.of(args));
}

/** The commands an entry's bytes hold, as strings. */
function framesOf(data: Uint8Array): string[][] {
  const found: string[][] = [];
  new RespReader().feed(data, { onCommand: (command) => found.push(command.args.map(latin1)) > 0 });
  return found;
}

describe("batchEntries", () => {
  test("every entry starts with the clock frame, then the commands' frames exactly as given", () => {
    const batch = batchEntries(commands(["SET", "a", "1"], ["INCR", "b"]), [null, null], 1_764_178_800_123);
    expect(batch.entries.length).toBe(1);
    expect(framesOf(batch.entries[0]!)).toEqual([["RAFTTIME", "1764178800123"], ["SET", "a", "1"], ["INCR", "b"]]);
    expect(entryTime(batch.entries[0]!)).toBe(1_764_178_800_123);
    expect(batch.tickets).toEqual([[null, null]]);
    expect(batch.commands[0]?.map((command) => command.args.map(latin1))).toEqual([["SET", "a", "1"], ["INCR", "b"]]);
  });

  test("an entry holding an inline command keeps no parsed commands (its frame is an encoding of the line)", () => {
    const inline: Command[] = [];
    new RespReader().feed(Buffer.from("SET a 1\r\n"), { onCommand: (command) => inline.push(command) > 0 });
    const batch = batchEntries([...commands(["SET", "b", "2"]), ...inline], [null, null], 1);
    expect(batch.commands).toEqual([null]);
    expect(framesOf(batch.entries[0]!)).toEqual([["RAFTTIME", "1"], ["SET", "b", "2"], ["SET", "a", "1"]]);
  });

  test("entries split at the size limit each carry the clock and their own tickets", () => {
    const big = "x".repeat(entryBytesMax / 2);
    const tickets = [1, 2, 3].map((n) => ({ n }) as unknown as Ticket);
    const batch = batchEntries(commands(["SET", "a", big], ["SET", "b", big], ["SET", "c", big]), tickets, 5);
    expect(batch.entries.length).toBe(3);
    for (const [i, entry] of batch.entries.entries()) {
      expect(entryTime(entry)).toBe(5);
      expect(framesOf(entry).length).toBe(2);
      expect(batch.tickets[i]).toEqual([tickets[i] ?? null]);
    }
  });

  test("entryTime reads only a well-formed clock frame at the start", () => {
    expect(entryTime(clockFrame(0))).toBe(0);
    expect(entryTime(clockFrame(2 ** 52))).toBe(2 ** 52);
    expect(entryTime(encodeCommand([Buffer.from("SET"), Buffer.from("a"), Buffer.from("1")]))).toBeNull();
    expect(entryTime(Buffer.from("*2\r\n$8\r\nRAFTTIME\r\n$3\r\n1x3\r\n"))).toBeNull();
    expect(entryTime(Buffer.from("*2\r\n$8\r\nRAFTTIME\r\n$999\r\n123\r\n"))).toBeNull();
    expect(entryTime(Buffer.from("*2\r\n$8\r\nRAFTTIME\r\n$3\r\n12"))).toBeNull();
    expect(entryTime(new Uint8Array(0))).toBeNull();
  });
});

describe("the executor and the clock frame", () => {
  /** A machine that records, for each write, the time it applied at. */
  class Recorder implements Machine {
    readonly seen: [string, number][] = [];
    command(applier: Applier, conn: Conn | null, command: Command): void | Error {
      applier.apply(conn, command, () => this.seen.push([command.key(1), replicatedTime()]), null);
    }
    snapshot(): void {}
    restore(): void {}
  }

  test("the machine never sees the clock frame; its commands apply at the entry's time, listeners stay aligned", () => {
    const machine = new Recorder();
    const executor = new Executor(machine, new Logger("quiet"));
    const listened: string[] = [];
    const listener = { before: (command: Command) => listened.push(`before ${command.key(1)}`), after: (command: Command) => listened.push(`after ${command.key(1)}`) };
    const first = batchEntries(commands(["W", "a"], ["W", "b"]), [null, null], 1000).entries[0]!;
    const second = batchEntries(commands(["W", "c"]), [null], 2000).entries[0]!;
    executor.applyEntry(7, first, listener);
    executor.applyEntry(8, second, listener);
    expect(machine.seen).toEqual([["a", 1000], ["b", 1000], ["c", 2000]]);
    expect(listened).toEqual(["before a", "after a", "before b", "after b", "before c", "after c"]);
    expect(executor.lastAppliedTime).toBe(2000);
    // An entry from before clocks applies at the latest time seen.
    executor.applyEntry(9, encodeCommand([Buffer.from("W"), Buffer.from("d")]), listener);
    expect(machine.seen.at(-1)).toEqual(["d", 2000]);
  });

  test("applying an entry from its parsed commands shows the machine what parsing its bytes shows", () => {
    class Positions implements Machine {
      readonly seen: string[] = [];
      command(applier: Applier, conn: Conn | null, command: Command): void | Error {
        applier.apply(conn, command, () => {
          const position = logPosition();
          this.seen.push(`${command.args.map(latin1).join(" ")} @${position?.index}.${position?.command} t${replicatedTime()}`);
        }, null);
      }
      snapshot(): void {}
      restore(): void {}
    }
    const batch = batchEntries(commands(["W", "a", "1"], ["W", "b"]), [null, null], 4242);
    const fromBytes = new Positions();
    const fromParsed = new Positions();
    const ignore = { before: () => {}, after: () => {} };
    new Executor(fromBytes, new Logger("quiet")).applyEntry(12, batch.entries[0]!, ignore);
    new Executor(fromParsed, new Logger("quiet")).applyParsed(12, 4242, batch.commands[0]!, ignore);
    expect(fromParsed.seen).toEqual(fromBytes.seen);
    expect(fromBytes.seen).toEqual(["W a 1 @12.1 t4242", "W b @12.2 t4242"]);
  });
});
