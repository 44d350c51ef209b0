/**
 * The request reader against a seeded fuzzer (test/hostile/fuzz.ts): random bytes, protocol-token
 * soup, and structure-aware mutations of valid traffic, each fed in one of several ways (one chunk,
 * byte by byte, random splits, random splits with a sink that stops and resumes, empty feeds in
 * between). For every case:
 *
 * - nothing is thrown: the reader only ever answers with its own status;
 * - the outcome (commands, their raw bytes, the final status and error text) is what the
 *   independent reference model in fuzz.ts says, and for valid or truncated valid streams what
 *   the generator meant;
 * - memory is bounded: after every call, the bytes the reader keeps stay within
 *   `queryBufferBytesMax`, a complete parse keeps exactly the incomplete tail, and its own buffer
 *   is never larger than twice the most it has had to hold at once (so a declared length never
 *   allocates anything by itself); after an error it keeps nothing;
 * - an error is final: later feeds and resumes return it and deliver nothing.
 *
 * Work per byte is bounded by construction of the checks below: the last test feeds megabyte
 * inputs one byte at a time, where any rescan of buffered bytes per chunk would not finish.
 *
 * Short mode (the default, for CI): 40,000 cases plus every truncation point of 200 streams.
 * Long mode: FUZZ_CASES=1000000 (and FUZZ_TRUNCATIONS=20000). FUZZ_SEED=<n> (or `random`) picks
 * the seed, FUZZ_CASE=<i> replays one case. A failure prints the seed and the case to replay.
 */
import { describe, expect, test } from "bun:test";
import { type Command, type CommandSink, defaultReaderLimits, type ReaderLimits, type ReadStatus, RespReader } from "../../src/resp/reader.ts";
import {
  bytesOfLatin1,
  caseRng,
  countFromEnvironment,
  type FuzzCase,
  generateCase,
  intendedPrefix,
  latin1Of,
  type RefCommand,
  type RefOutcome,
  referenceParse,
  type Rng,
  seedFromEnvironment,
  show,
  validStream,
} from "./fuzz.ts";

const seed = seedFromEnvironment("FUZZ_SEED", 0x5eed_f022);
const cases = countFromEnvironment("FUZZ_CASES", 40_000);
const truncationStreams = countFromEnvironment("FUZZ_TRUNCATIONS", 200);
const onlyCase = process.env["FUZZ_CASE"] === undefined ? null : countFromEnvironment("FUZZ_CASE", 0);

/** The reader's pending buffer (private), to check that its capacity stays bounded. */
function capacityOf(reader: RespReader): number {
  const buffer = Reflect.get(reader, "buffer") as Uint8Array;
  return buffer.length;
}

/** The smallest buffer the reader allocates (its `pendingBytesMin`). */
const pendingBytesMin = 16 * 1024;

type Strategy = "one-chunk" | "byte-by-byte" | "random-splits" | "stopping-sink" | "empty-feeds";
const strategies: readonly Strategy[] = ["one-chunk", "byte-by-byte", "random-splits", "stopping-sink", "empty-feeds"];

interface ReaderOutcome {
  readonly commands: RefCommand[];
  readonly status: ReadStatus;
  readonly bufferedBytes: number;
}

/** Cuts `input` into chunks: a mix of tiny and large pieces. */
function randomCuts(rng: Rng, input: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const scale = 1 + rng.below(Math.max(1, input.length));
  for (let at = 0; at < input.length; ) {
    const size = 1 + Math.floor(rng.float() * rng.float() * scale);
    chunks.push(input.slice(at, Math.min(input.length, at + size)));
    at += size;
  }
  return chunks;
}

function chunksFor(strategy: Strategy, rng: Rng, input: Uint8Array): Uint8Array[] {
  switch (strategy) {
    case "one-chunk":
      return [input.slice()];
    case "byte-by-byte":
      return Array.from({ length: input.length }, (_, i) => input.slice(i, i + 1));
    default:
      return randomCuts(rng, input);
  }
}

/**
 * Feeds `input` to a fresh reader the way `strategy` says, checking the invariants after every
 * call; returns what came out. Any violation throws with a description.
 */
function runReader(input: Uint8Array, limits: ReaderLimits, strategy: Strategy, rng: Rng): ReaderOutcome {
  const reader = new RespReader(limits);
  const received: Command[] = [];
  const stopping = strategy === "stopping-sink";
  const sink: CommandSink = {
    onCommand(command) {
      received.push(command);
      return !(stopping && rng.chance(0.3));
    },
  };
  // (Widened on purpose: the closures below change it, which narrowing would not see.)
  let status = { kind: "ok" } as ReadStatus;
  let peak = 0;
  let errorAtCommands = -1;
  const check = (next: ReadStatus, what: string): void => {
    if (status.kind === "error") {
      if (next.kind !== "error" || next.message !== status.message) throw new Error(`${what} after an error returned ${JSON.stringify(next)}`);
      if (received.length !== errorAtCommands) throw new Error(`${what} after an error delivered commands`);
    } else if (next.kind === "error") {
      errorAtCommands = received.length;
    }
    if (next.kind === "error") {
      if (!next.message.startsWith("Protocol error: ")) throw new Error(`error without the Protocol error prefix: ${next.message}`);
      if (reader.bufferedBytes !== 0) throw new Error(`${reader.bufferedBytes} bytes kept after an error`);
      if (capacityOf(reader) !== 0) throw new Error(`a buffer of ${capacityOf(reader)} bytes kept after an error`);
    } else {
      if (reader.bufferedBytes > limits.queryBufferBytesMax) {
        throw new Error(`${reader.bufferedBytes} bytes buffered, more than queryBufferBytesMax ${limits.queryBufferBytesMax}`);
      }
      const bound = Math.max(pendingBytesMin, 2 * peak);
      if (capacityOf(reader) > bound) throw new Error(`buffer of ${capacityOf(reader)} bytes, more than ${bound} (twice the most held)`);
    }
    status = next;
  };
  const call = (what: string, run: () => ReadStatus): ReadStatus => {
    let next: ReadStatus;
    try {
      next = run();
    } catch (error) {
      throw new Error(`${what} threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    check(next, what);
    return next;
  };
  for (const chunk of chunksFor(strategy, rng, input)) {
    peak = Math.max(peak, reader.bufferedBytes + chunk.length);
    let next = call("feed", () => reader.feed(chunk, sink));
    if (strategy === "empty-feeds" && rng.chance(0.5)) next = call("feed of an empty chunk", () => reader.feed(new Uint8Array(0), sink));
    // A stopped reader is resumed some of the time before the next chunk, as a server that paused
    // the socket may still receive bytes that were in flight.
    while (next.kind === "stopped" && rng.chance(0.7)) next = call("resume", () => reader.resume(sink));
  }
  let guard = 0;
  while (status.kind === "stopped") {
    call("resume", () => reader.resume(sink));
    if (++guard > input.length + 2) throw new Error("resume keeps stopping without handing out commands");
  }
  if (status.kind === "error") {
    call("feed after the error", () => reader.feed(bytesOfLatin1("*1\r\n$4\r\nPING\r\n"), sink));
    call("resume after the error", () => reader.resume(sink));
  }
  // Commands are read only now, after every feed: a reader that reused bytes a view still
  // points at would show up here as a corrupted argument.
  const commands = received.map((command) => ({ args: command.args.map(latin1Of), raw: latin1Of(command.raw), inline: command.inline }));
  return { commands, status, bufferedBytes: reader.bufferedBytes };
}

function sameCommands(a: readonly RefCommand[], b: readonly RefCommand[], count = Math.max(a.length, b.length)): boolean {
  if (a.length < count || b.length < count) return false;
  for (let i = 0; i < count; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return false;
    if (x.raw !== y.raw || x.inline !== y.inline || x.args.length !== y.args.length) return false;
    for (let k = 0; k < x.args.length; k++) if (x.args[k] !== y.args[k]) return false;
  }
  return true;
}

function describeCommands(commands: readonly RefCommand[]): string {
  return commands.length <= 8
    ? JSON.stringify(commands.map((command) => command.args.map((arg) => show(arg, 40))))
    : `${commands.length} commands, first ${JSON.stringify(commands.slice(0, 3).map((command) => command.args.map((arg) => show(arg, 40))))}`;
}

/**
 * Compares the reader's outcome with the reference. With the query buffer capped (the reference
 * ignores that limit: where it strikes depends on the chunks), the reader may instead stop with
 * "query buffer limit reached" after a prefix of the reference's commands.
 */
function checkAgainstReference(outcome: ReaderOutcome, reference: RefOutcome, input: string, limits: ReaderLimits): string | null {
  const limitReached = outcome.status.kind === "error" && outcome.status.message === "Protocol error: query buffer limit reached";
  if (limitReached && limits.queryBufferBytesMax < 1024 * 1024 * 1024) {
    if (input.length <= limits.queryBufferBytesMax && !/\$[0-9]{1,18}\r\n/.test(input)) {
      return `query buffer limit (${limits.queryBufferBytesMax}) reached with only ${input.length} bytes and no declared bulk`;
    }
    if (outcome.commands.length > reference.commands.length || !sameCommands(outcome.commands, reference.commands, outcome.commands.length)) {
      return `commands before the query buffer limit are not a prefix of the reference's: ${describeCommands(outcome.commands)} vs ${describeCommands(reference.commands)}`;
    }
    return null;
  }
  if (!sameCommands(outcome.commands, reference.commands)) {
    return `commands differ: reader ${describeCommands(outcome.commands)}, reference ${describeCommands(reference.commands)}`;
  }
  if (JSON.stringify(outcome.status) !== JSON.stringify(reference.status)) {
    return `status differs: reader ${JSON.stringify(outcome.status)}, reference ${JSON.stringify(reference.status)}`;
  }
  if (reference.status.kind === "ok" && outcome.bufferedBytes !== input.length - reference.consumed) {
    return `reader keeps ${outcome.bufferedBytes} bytes, the incomplete tail is ${input.length - reference.consumed}`;
  }
  return null;
}

interface Tally {
  cases: number;
  feeds: Record<Strategy, number>;
  families: Map<string, number>;
  statuses: Map<string, number>;
  commands: number;
  bytes: number;
  slowestMilliseconds: number;
  slowestCase: number;
}

function newTally(): Tally {
  return {
    cases: 0,
    feeds: { "one-chunk": 0, "byte-by-byte": 0, "random-splits": 0, "stopping-sink": 0, "empty-feeds": 0 },
    families: new Map(),
    statuses: new Map(),
    commands: 0,
    bytes: 0,
    slowestMilliseconds: 0,
    slowestCase: -1,
  };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** The family's first word ("mutated:count+crlf" counts as "mutated"; each kind counted too). */
function familyKeys(family: string): string[] {
  if (!family.startsWith("mutated:")) return [family];
  return ["mutated", ...family.slice("mutated:".length).split("+").map((kind) => `  mutation ${kind}`)];
}

/** Runs case `index`; returns a failure description or null. */
function runCase(index: number, tally: Tally): string | null {
  const rng = caseRng(seed, index);
  const fuzzCase: FuzzCase = generateCase(rng, defaultReaderLimits);
  const input = bytesOfLatin1(fuzzCase.input);
  const reference = referenceParse(fuzzCase.input, fuzzCase.limits);
  const where = (): string =>
    `FUZZ_SEED=${seed} FUZZ_CASE=${index} (family ${fuzzCase.family}, limits ${JSON.stringify(fuzzCase.limits)})\ninput ${show(fuzzCase.input)}`;
  if (fuzzCase.intended !== null) {
    // The reference must agree with what the generator meant: this checks the oracle itself.
    if (!sameCommands(reference.commands, fuzzCase.intended.commands) || reference.status.kind !== "ok" || reference.consumed !== fuzzCase.intended.consumed) {
      return `${where()}\nthe reference model disagrees with the intended commands: reference ${describeCommands(reference.commands)} ${JSON.stringify(reference.status)} consumed ${reference.consumed}, intended ${describeCommands(fuzzCase.intended.commands)} consumed ${fuzzCase.intended.consumed}`;
    }
  }
  // One strategy per case in turn, and every strategy for one case in 16.
  // (Large inputs are not fed byte by byte: that costs much and the megabyte test below does it.)
  const chosen = (index % 16 === 0 ? strategies : [strategies[index % strategies.length] ?? "one-chunk"]).filter(
    (strategy) => !(fuzzCase.family === "large" && strategy === "byte-by-byte"),
  );
  for (const strategy of chosen) {
    const started = performance.now();
    let outcome: ReaderOutcome;
    try {
      outcome = runReader(input, fuzzCase.limits, strategy, rng);
    } catch (error) {
      return `${where()}\nfed ${strategy}: ${error instanceof Error ? error.message : String(error)}`;
    }
    const elapsed = performance.now() - started;
    if (elapsed > tally.slowestMilliseconds) {
      tally.slowestMilliseconds = elapsed;
      tally.slowestCase = index;
    }
    const refusal = fuzzCase.queryBufferRefusal;
    const refused = outcome.status.kind === "error" && outcome.status.message === "Protocol error: query buffer limit reached";
    if (refusal !== undefined && refused !== refusal) {
      return `${where()}\nfed ${strategy}: the frame should ${refusal ? "be refused on its header" : "be waited for"}, the reader answered ${JSON.stringify(outcome.status)}`;
    }
    const mismatch = checkAgainstReference(outcome, reference, fuzzCase.input, fuzzCase.limits);
    if (mismatch !== null) return `${where()}\nfed ${strategy}: ${mismatch}`;
    tally.feeds[strategy]++;
    tally.commands += outcome.commands.length;
    bump(tally.statuses, outcome.status.kind === "error" ? outcome.status.message.replace(/got '.*'$/, "got ...'") : outcome.status.kind);
  }
  tally.cases++;
  tally.bytes += input.length;
  for (const key of familyKeys(fuzzCase.family)) bump(tally.families, key);
  return null;
}

function report(title: string, tally: Tally, milliseconds: number): void {
  const lines = [
    `${title}: seed ${seed}, ${tally.cases} cases, ${tally.bytes} input bytes, ${tally.commands} commands parsed, ${(milliseconds / 1000).toFixed(1)} s`,
    `  feeds: ${Object.entries(tally.feeds).map(([way, count]) => `${way} ${count}`).join(", ")}`,
    `  slowest case: ${tally.slowestMilliseconds.toFixed(2)} ms (case ${tally.slowestCase})`,
    "  families:",
    ...[...tally.families].sort().map(([family, count]) => `    ${family}: ${count}`),
    "  outcomes:",
    ...[...tally.statuses].sort((a, b) => b[1] - a[1]).map(([status, count]) => `    ${status}: ${count}`),
  ];
  console.log(lines.join("\n"));
}

describe("RESP reader under a seeded fuzzer", () => {
  test(`${onlyCase === null ? cases : 1} cases: no throw, the reference outcome, bounded memory, sticky errors`, () => {
    const tally = newTally();
    const started = performance.now();
    const first = onlyCase ?? 0;
    const last = onlyCase === null ? cases : onlyCase + 1;
    let failure: string | null = null;
    for (let index = first; index < last && failure === null; index++) failure = runCase(index, tally);
    report("reader fuzz", tally, performance.now() - started);
    if (failure !== null) console.error(`FAILED: ${failure}`);
    expect(failure).toBeNull();
  });

  test(`every truncation point of ${truncationStreams} valid streams gives the commands wholly before it`, () => {
    const started = performance.now();
    let runs = 0;
    let failure: string | null = null;
    for (let index = 0; index < truncationStreams && failure === null; index++) {
      const rng = caseRng(seed ^ 0x7ab1e, index);
      const limits: ReaderLimits = index % 2 === 0 ? defaultReaderLimits : { bulkBytesMax: 40, argumentsMax: 6, inlineBytesMax: 48, queryBufferBytesMax: 1024 * 1024 * 1024 };
      // Short streams (small arguments): every cut of each is run, so cost grows with the square.
      const elements = validStream(rng, { limits, argumentBytesTypical: 6, argumentBytesMax: 48 }, 5);
      const whole = elements.map((element) => element.text).join("");
      for (let cut = 0; cut <= whole.length && failure === null; cut++) {
        const prefix = whole.slice(0, cut);
        const intended = intendedPrefix(elements, cut);
        const strategy = strategies[(index + cut) % strategies.length] ?? "one-chunk";
        let outcome: ReaderOutcome;
        try {
          outcome = runReader(bytesOfLatin1(prefix), limits, strategy, rng);
        } catch (error) {
          failure = `FUZZ_SEED=${seed} truncation stream ${index} cut ${cut} (${strategy}): ${String(error)}\ninput ${show(prefix)}`;
          break;
        }
        runs++;
        const ok = outcome.status.kind === "ok" && sameCommands(outcome.commands, intended.commands) && outcome.bufferedBytes === cut - intended.consumed;
        if (!ok) {
          failure =
            `FUZZ_SEED=${seed} truncation stream ${index} cut ${cut} (${strategy}): reader ${describeCommands(outcome.commands)} ${JSON.stringify(outcome.status)} ` +
            `keeps ${outcome.bufferedBytes}; intended ${describeCommands(intended.commands)} keeps ${cut - intended.consumed}\ninput ${show(prefix)}`;
        }
      }
    }
    console.log(`truncations: seed ${seed}, ${truncationStreams} streams, ${runs} prefixes, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (failure !== null) console.error(`FAILED: ${failure}`);
    expect(failure).toBeNull();
  });

  test("megabyte inputs fed one byte at a time finish and parse right (no rescans of buffered bytes)", () => {
    const big: ReaderLimits = { bulkBytesMax: 4 * 1024 * 1024, argumentsMax: 1024 * 1024, inlineBytesMax: 2 * 1024 * 1024, queryBufferBytesMax: 8 * 1024 * 1024 };
    const megabyte = 1024 * 1024;
    const argumentsCount = 150_000;
    const ok: ReadStatus = { kind: "ok" };
    const refused = (detail: string): ReadStatus => ({ kind: "error", message: `Protocol error: ${detail}` });
    const inputs: { name: string; text: string; limits: ReaderLimits; commands: string[][]; status: ReadStatus }[] = [
      { name: "a 1 MB inline line", text: `ECHO ${"i".repeat(megabyte)}\r\n`, limits: big, commands: [["ECHO", "i".repeat(megabyte)]], status: ok },
      { name: "a 1 MB bulk", text: `*2\r\n$4\r\nECHO\r\n$${megabyte}\r\n${"b".repeat(megabyte)}\r\n`, limits: big, commands: [["ECHO", "b".repeat(megabyte)]], status: ok },
      {
        name: `a frame of ${argumentsCount} arguments`,
        text: `*${argumentsCount}\r\n${"$1\r\nx\r\n".repeat(argumentsCount)}`,
        limits: big,
        commands: [Array.from({ length: argumentsCount }, () => "x")],
        status: ok,
      },
      { name: "an inline line past the limit, never ended", text: "j".repeat(big.inlineBytesMax + 10), limits: big, commands: [], status: refused("too big inline request") },
      { name: "a header that never ends", text: `*${"1".repeat(megabyte)}`, limits: big, commands: [], status: refused("invalid multibulk length") },
      {
        name: "a bulk larger than the query buffer, trickling in",
        text: `*2\r\n$4\r\nECHO\r\n$${4 * megabyte}\r\n${"q".repeat(4 * megabyte)}\r\n`,
        limits: { ...big, queryBufferBytesMax: 3 * megabyte },
        commands: [],
        status: refused("query buffer limit reached"),
      },
      {
        name: "many small commands split across chunks",
        text: "*1\r\n$4\r\nPING\r\n".repeat(60_000),
        limits: big,
        commands: Array.from({ length: 60_000 }, () => ["PING"]),
        status: ok,
      },
    ];
    for (const { name, text, limits, commands, status: expected } of inputs) {
      const started = performance.now();
      const reader = new RespReader(limits);
      const received: Command[] = [];
      const sink: CommandSink = { onCommand: (command) => (received.push(command), true) };
      const bytes = bytesOfLatin1(text);
      let status: ReadStatus = ok;
      let peakBuffered = 0;
      let feeds = 0;
      for (let i = 0; i < bytes.length && status.kind !== "error"; i++) {
        status = reader.feed(bytes.subarray(i, i + 1), sink);
        feeds++;
        peakBuffered = Math.max(peakBuffered, reader.bufferedBytes);
      }
      console.log(`${name}: ${feeds} one-byte feeds of ${bytes.length}, ${((performance.now() - started) / 1000).toFixed(2)} s, ${JSON.stringify(status)}, at most ${peakBuffered} bytes buffered`);
      expect(status).toEqual(expected);
      expect(peakBuffered).toBeLessThanOrEqual(limits.queryBufferBytesMax);
      expect(received.length).toBe(commands.length);
      expect(received.map((command) => command.args.map(latin1Of))).toEqual(commands);
    }
  });
});
