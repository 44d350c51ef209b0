/** Command's accessors give the same bytes whether it came from a frame, a split frame, an inline line or `Command.of`. */
import { describe, expect, test } from "bun:test";
import { Command, encodeCommand, latin1 } from "./command.ts";
import { type CommandSink, RespReader } from "./reader.ts";

function parse(...chunks: (string | Uint8Array)[]): Command[] {
  const commands: Command[] = [];
  const sink: CommandSink = { onCommand: (command) => commands.push(command) > 0 };
  const reader = new RespReader();
  for (const chunk of chunks) {
    const status = reader.feed(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk, sink);
    expect(status.kind).toBe("ok");
  }
  return commands;
}

const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
const frame = encodeCommand([Buffer.from("SeT"), binary, Buffer.from("value")]);

function expectAccessors(command: Command): void {
  expect(command.name).toBe("set");
  expect(command.argCount).toBe(3);
  expect(command.args.length).toBe(3);
  expect([...command.arg(1)]).toEqual([...binary]);
  expect([...command.arg(7)]).toEqual([]);
  expect(command.key(1)).toBe(latin1(binary));
  expect(Buffer.from(command.key(1), "latin1").equals(Buffer.from(binary))).toBe(true);
  expect(command.key(2)).toBe("value");
  expect(command.key(9)).toBe("");
  const copy = command.copyArg(2);
  expect(latin1(copy)).toBe("value");
  copy[0] = 88;
  expect(command.key(2)).toBe("value");
  expect([...command.frame()]).toEqual([...frame]);
  expect(command.frameLength).toBe(frame.length);
  const target = new Uint8Array(frame.length + 4);
  command.copyFrameInto(target, 2);
  expect([...target.subarray(2, 2 + frame.length)]).toEqual([...frame]);
}

describe("Command", () => {
  test("from one chunk", () => {
    const [command] = parse(frame);
    if (command === undefined) throw new Error("no command");
    expect(command.inline).toBe(false);
    expectAccessors(command);
  });

  test("from a frame split byte by byte (parsed in the reader's own buffer)", () => {
    const commands = parse(...Array.from(frame, (byte) => Uint8Array.of(byte)));
    const [command] = commands;
    if (command === undefined) throw new Error("no command");
    expectAccessors(command);
  });

  test("built with Command.of", () => {
    expectAccessors(Command.of(["SeT", binary, "value"]));
  });

  test("copyArg copies, arg views", () => {
    const [command] = parse(frame);
    if (command === undefined) throw new Error("no command");
    expect(command.arg(2).buffer).toBe(command.raw.buffer);
    expect(command.copyArg(2).buffer).not.toBe(command.raw.buffer);
  });

  test("inline commands re-encode as multibulk frames", () => {
    const [command] = parse('set "a b" c\r\n');
    if (command === undefined) throw new Error("no command");
    expect(command.inline).toBe(true);
    expect(command.name).toBe("set");
    expect(command.key(1)).toBe("a b");
    expect(latin1(command.frame())).toBe("*3\r\n$3\r\nset\r\n$3\r\na b\r\n$1\r\nc\r\n");
    expect(command.frameLength).toBe(command.frame().length);
  });

  test("names are lower-cased in ASCII only, and the same name in any case is the same string", () => {
    const commands = parse(encodeCommand([Buffer.from("GET")]), encodeCommand([Buffer.from("gEt")]), encodeCommand([Uint8Array.of(0xc9, 0x47)]));
    expect(commands.map((command) => command.name)).toEqual(["get", "get", "\u00c9g"]);
    const long = "X".repeat(40);
    expect(parse(encodeCommand([Buffer.from(long)]))[0]?.name).toBe(long.toLowerCase());
  });

  test("many distinct names do not grow the intern table without bound (all still decode right)", () => {
    for (let i = 0; i < 3000; i++) {
      const name = `Cmd${i}`;
      expect(parse(encodeCommand([Buffer.from(name)]))[0]?.name).toBe(name.toLowerCase());
    }
  });
});

describe("Command.copyFrames", () => {
  test("copies every frame in order, whether runs are back to back, split across chunks, inline or built", () => {
    const commands = [
      ...parse("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$2\r\nxy\r\n"),
      ...parse("SET c 1\r\n*2\r\n$3\r\nGET\r\n$1\r\nc\r\n"),
      ...parse("*2\r\n$4\r\nECHO\r\n$3\r\nab", "c\r\n*1\r\n$4\r\nPING\r\n"),
      Command.of(["SET", "d", binary]),
      ...parse("*1\r\n$4\r\nPING\r\n"),
    ];
    // Every sub-range, so that runs start and end everywhere.
    for (let from = 0; from < commands.length; from++) {
      for (let to = from; to <= commands.length; to++) {
        const size = commands.slice(from, to).reduce((sum, command) => sum + command.frameLength, 0);
        const target = Buffer.alloc(size + 3, 0xee);
        const end = Command.copyFrames(commands, from, to, target, 2);
        expect(end).toBe(2 + size);
        const want = Buffer.concat(commands.slice(from, to).map((command) => command.frame()));
        expect(target.subarray(2, end).equals(want)).toBe(true);
        expect(target[0]).toBe(0xee);
        expect(target[end]).toBe(0xee);
      }
    }
  });
});
