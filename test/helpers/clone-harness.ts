/**
 * Runs the clone's machine in process, the way the framework does, without sockets or Raft: a
 * command goes through `Clone.command` with a connection; a write's `mutate` is not run there but
 * "committed": the command is applied, as the executor does (`conn === null`, an apply-mode
 * applier, at a log position), on the leader's machine and on a replica's, and the leader's result
 * goes to the first call's `respond`. Replies are recorded as plain values:
 *
 *   bulk and simple strings -> string; integers -> number; null -> null; errors -> { error };
 *   arrays -> arrays; RESP3 maps -> Map; RESP3 sets -> { set: [...] }; RESP3 doubles -> { double }
 *   (in RESP2 a double is the bulk string the server writes).
 *
 * Every committed command is checked to give the same result (value or error) on both machines,
 * so any non-determinism in `mutate` shows up, and `log` counts what reached the "log".
 */
import { expect } from "bun:test";
import type { Applier, Conn } from "../../src/api.ts";
import { Clone } from "../../src/clone/machine.ts";
import { errorReplyText, RespError } from "../../src/errors.ts";
import { enterLogPosition, leaveLogPosition } from "../../src/replicated.ts";
import { Command } from "../../src/resp/reader.ts";

export type Reply =
  | string
  | number
  | bigint
  | null
  | { error: string }
  | { double: number }
  | { set: Reply[] }
  | Reply[]
  | Map<Reply, Reply>;

interface Open {
  kind: "array" | "map" | "set";
  left: number;
  items: Reply[];
}

/** A connection that records what the machine writes as plain values. */
export class RecordingConn implements Conn {
  readonly id = 1;
  readonly remoteAddress = "127.0.0.1:1";
  context: unknown = null;
  readonly replies: Reply[] = [];
  private readonly open: Open[] = [];

  constructor(readonly protocol: 2 | 3) {}

  private push(value: Reply): void {
    const top = this.open[this.open.length - 1];
    if (top === undefined) {
      this.replies.push(value);
      return;
    }
    top.items.push(value);
    top.left--;
    this.closeFinished();
  }

  private closeFinished(): void {
    for (;;) {
      const top = this.open[this.open.length - 1];
      if (top === undefined || top.left > 0) return;
      this.open.pop();
      let value: Reply;
      if (top.kind === "map") {
        const map = new Map<Reply, Reply>();
        for (let i = 0; i < top.items.length; i += 2) map.set(top.items[i] as Reply, top.items[i + 1] as Reply);
        value = map;
      } else if (top.kind === "set") {
        value = { set: top.items };
      } else {
        value = top.items;
      }
      this.push(value);
      return;
    }
  }

  private begin(kind: Open["kind"], left: number): void {
    if (left === 0) {
      this.push(kind === "map" ? new Map() : kind === "set" ? { set: [] } : []);
      return;
    }
    this.open.push({ kind, left, items: [] });
  }

  writeString(value: string): void {
    this.push(value);
  }
  writeError(message: string): void {
    this.push({ error: message });
  }
  writeInt(value: number | bigint): void {
    this.push(typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value);
  }
  writeBulk(value: Uint8Array | string): void {
    this.push(typeof value === "string" ? value : Buffer.from(value).toString("latin1"));
  }
  writeNull(): void {
    this.push(null);
  }
  writeArray(count: number): void {
    this.begin("array", count);
  }
  writeMap(pairs: number): void {
    if (this.protocol === 3) this.begin("map", pairs * 2);
    else this.begin("array", pairs * 2);
  }
  writeDouble(value: number): void {
    const text = Number.isNaN(value) ? "nan" : value === Infinity ? "inf" : value === -Infinity ? "-inf" : Object.is(value, -0) ? "-0" : String(value);
    this.push(this.protocol === 3 ? { double: value } : text);
  }
  writeRaw(bytes: Uint8Array): void {
    const text = Buffer.from(bytes).toString("latin1");
    const set = /^~(\d+)\r\n$/.exec(text);
    if (set !== null) this.begin("set", Number(set[1]));
    else if (text === "*-1\r\n" || text === "_\r\n") this.push(null);
    else throw new Error(`unexpected raw reply ${JSON.stringify(text)}`);
  }
  close(): void {}
}

/** The applier the executor uses: runs `mutate` at once and keeps what it gave or threw. */
class ApplyModeApplier implements Applier {
  value: unknown = undefined;
  error: unknown = undefined;
  apply<T>(_conn: Conn | null, _command: Command, mutate: (() => T) | null): void {
    if (mutate === null) return;
    try {
      this.value = mutate();
    } catch (error) {
      this.error = error;
    }
  }
}

/** The key under which a result records an error (a string key, so deep equality compares it). */
const committedError = "__committedError";

export class CloneHarness {
  readonly leader = new Clone();
  readonly replica = new Clone();
  /** Commands that reached the log. */
  readonly log: string[][] = [];
  /** The time the next committed entries carry (`replicatedTime()` inside mutate). */
  time = 1_700_000_000_000;
  private index = 1;

  /** Runs one command on a connection of `protocol`, returns its reply. Byte arguments are sent as they are. */
  call(protocol: 2 | 3, ...args: (string | Uint8Array)[]): Reply {
    const conn = new RecordingConn(protocol);
    const command = Command.of(args);
    const applier: Applier = {
      apply: (_conn, committed, mutate, respond) => {
        if (mutate === null) {
          (respond as ((value: unknown) => void) | null)?.(undefined);
          return;
        }
        const value = this.commit(committed);
        (respond as ((value: unknown) => void) | null)?.(value);
      },
    };
    try {
      const returned = this.leader.command(applier, conn, command);
      if (returned instanceof Error) conn.writeError(errorReplyText(returned, command.name));
    } catch (error) {
      conn.writeError(errorReplyText(error, command.name));
    }
    expect(conn.replies.length).toBe(1);
    return conn.replies[0] as Reply;
  }

  /** RESP2. */
  run(...args: (string | Uint8Array)[]): Reply {
    return this.call(2, ...args);
  }

  /** RESP3. */
  run3(...args: (string | Uint8Array)[]): Reply {
    return this.call(3, ...args);
  }

  /** Applies a command on both machines as the executor would; throws what the leader's threw. */
  private commit(proposed: Command): unknown {
    const args = proposed.args.map((arg) => arg.slice());
    this.log.push(args.map((arg) => Buffer.from(arg).toString("latin1")));
    const index = this.index++;
    const results = [this.leader, this.replica].map((machine) => {
      const applier = new ApplyModeApplier();
      enterLogPosition(index, 0, this.time);
      try {
        const returned = machine.command(applier, null, Command.of(args));
        const error = returned instanceof Error ? returned : applier.error;
        return error === undefined ? applier.value : { [committedError]: errorReplyText(error, proposed.name) };
      } catch (error) {
        return { [committedError]: errorReplyText(error, proposed.name) };
      } finally {
        leaveLogPosition();
      }
    });
    expect(Bun.deepEquals(results[0], results[1])).toBe(true);
    const leaderResult = results[0] as { [committedError]?: string };
    if (typeof leaderResult === "object" && leaderResult !== null && committedError in leaderResult) {
      throw new CommittedError(leaderResult[committedError] as string);
    }
    return results[0];
  }

  /** DEBUG DIGEST of both machines (they must agree). */
  digests(): [string, string] {
    const conn = [new RecordingConn(2), new RecordingConn(2)];
    const read: Applier = { apply: (_c, _cmd, _m, respond) => (respond as ((value: unknown) => void) | null)?.(undefined) };
    this.leader.command(read, conn[0] as RecordingConn, Command.of(["DEBUG", "DIGEST"]));
    this.replica.command(read, conn[1] as RecordingConn, Command.of(["DEBUG", "DIGEST"]));
    return [conn[0]?.replies[0] as string, conn[1]?.replies[0] as string];
  }
}

/** An error raised while applying: its text is already the reply. */
class CommittedError extends RespError {}
