/**
 * The public contract between the framework and a user's state machine, as in Finn's README:
 * a `Machine` handles every command and routes shared reads and writes through
 * `applier.apply(conn, cmd, mutate, respond)`.
 */
import type { Command } from "./resp/reader.ts";

export type { Command } from "./resp/reader.ts";

/** A client connection, for writing replies. Writes are buffered and sent once per batch. */
export interface Conn {
  /** A number unique to this connection in this process (`CLIENT ID`). */
  readonly id: number;
  /** `ip:port` of the client. */
  readonly remoteAddress: string;
  /** 2, or 3 after `HELLO 3`: which reply types the client understands. */
  readonly protocol: 2 | 3;
  /** Anything the machine wants to keep with the connection (redcon's `Context`). */
  context: unknown;

  /** `+value` */
  writeString(value: string): void;
  /** `-message`; the message should start with an error code (`ERR ...`). */
  writeError(message: string): void;
  /** `:n` */
  writeInt(value: number | bigint): void;
  /** `$n` followed by the bytes (a string is sent as UTF-8). */
  writeBulk(value: Uint8Array | string): void;
  /** A null reply (`$-1`, or `_` in RESP3). */
  writeNull(): void;
  /** `*n`: n replies follow. */
  writeArray(count: number): void;
  /** A map of n pairs (RESP3), a flat array of 2n in RESP2. */
  writeMap(pairs: number): void;
  /** A double (RESP3), a bulk string in RESP2. */
  writeDouble(value: number): void;
  /** Pre-encoded RESP bytes, written as they are. */
  writeRaw(bytes: Uint8Array): void;
  /** Closes the connection once the replies before this call have been sent. */
  close(): void;
}

/**
 * Routes a command's shared work. `mutate` changes state and runs on every node in log order (its
 * return value is handed to `respond`); `respond` writes the reply and runs only on the node that
 * holds the client. `mutate === null` means the command only reads. Throwing from either cancels
 * the operation and sends the error to the client.
 */
export interface Applier {
  apply<T>(
    conn: Conn | null,
    command: Command,
    mutate: (() => T) | null,
    respond: ((value: T) => void) | null,
    unchanged?: (() => Unchanged<T> | null) | null,
  ): void;
}

/**
 * What a write's `unchanged` returns when the write, run now, would change nothing: `value` is
 * what `mutate` would return. `unchanged` only reads (it runs outside the log, on one node), and
 * answers null when it cannot tell, or when the write would change something.
 *
 * With it, the framework may answer such a write as a linearizable read, without a log entry, as
 * Redis leaves a write that changed nothing out of its AOF and replication stream: SADD of members
 * already there, SET NX of a key that exists, a pop from a missing list. It asks only on the leader,
 * when a read could be served there at once with no stale answer (under its lease, or as its
 * cluster's only voter; at High consistency only the latter), and only when nothing of the
 * connection is still waiting. Otherwise, or when it answers null, the write goes through the log
 * as always. A thrown error is the command's reply, as from a read.
 */
export interface Unchanged<T> {
  readonly value: T;
}

/**
 * What a blocking command's `mutate` returns when it has nothing to do yet (BLPOP on empty
 * lists): `block(keys, timeoutMilliseconds, retryArgs?)`. It changes nothing, on every node. On the
 * node that holds the client the reply waits (and the client's next commands with it, as in
 * Redis): each time a later write to one of `keys` is applied, the command is proposed again (or
 * the command `retryArgs` make, when given), and the first time `mutate` returns anything else,
 * `respond` gets that. Once `timeoutMilliseconds` have passed (0: never) `respond` gets a `Blocked`
 * with `timedOut` set and writes the timeout's reply. Inside MULTI/EXEC nothing waits: `respond`
 * gets this value itself at once (`timedOut` false), as Redis answers a blocking command there.
 * Only commands whose spec has the `blocking` flag wait; for others it is an ordinary value.
 */
export class Blocked {
  constructor(
    readonly keys: readonly string[],
    readonly timeoutMilliseconds: number,
    /** Set when the client waited until its timeout (Redis answers some commands differently then). */
    readonly timedOut = false,
    /** The arguments (name first) of the command its retries propose instead of the original (see `block`). */
    readonly retryArgs?: readonly (Uint8Array | string)[],
  ) {}
}

/**
 * Says that a blocking command must wait for a write to one of `keys` (see `Blocked`).
 *
 * `retryArgs`, when given, are the arguments (the command's name first) of the command each retry
 * proposes, instead of the client's own: for an argument that means something relative to the
 * state when the command first ran, which a retry must not read again against a later state.
 * XREAD's `$` is one: "after the stream's last id now". Retried as sent, `$` would mean the last
 * id at each retry, and miss the very entry that woke it; its first `mutate` passes the arguments
 * with each `$` replaced by the id it stood for. Being computed in `mutate`, they are the same on
 * every replica, and each retry carries them in the log as explicit arguments. Strings are sent as
 * UTF-8: pass keys (latin1 text in `Command.key`) as bytes (`command.copyArg`). Only the first
 * `block` of a waiting command counts: a retry that blocks again waits with the command it had.
 */
export function block(keys: readonly string[], timeoutMilliseconds: number, retryArgs?: readonly (Uint8Array | string)[]): Blocked {
  return new Blocked(keys, timeoutMilliseconds, false, retryArgs);
}

/** A writer for a snapshot: stream bytes into it. */
export interface SnapshotWriter {
  write(bytes: Uint8Array): void | Promise<void>;
}

/** A reader of a snapshot: the whole content, and a streaming view of it. */
export interface SnapshotReader {
  /** Every byte of the snapshot. */
  readAll(): Promise<Uint8Array>;
  /** The snapshot in chunks. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** The user's state machine. */
export interface Machine {
  /**
   * Handles one command. Return (or throw) an error to answer it with an error reply;
   * `ErrUnknownCommand` and `ErrWrongNumberOfArguments` produce Redis's texts.
   */
  command(applier: Applier, conn: Conn | null, command: Command): void | Error;
  /**
   * Writes the state as of the last applied command. Throw or return `ErrDisabled` to turn
   * snapshots off.
   */
  snapshot(writer: SnapshotWriter): void | Error | Promise<void | Error>;
  /** Replaces the state with a snapshot's. */
  restore(reader: SnapshotReader): void | Error | Promise<void | Error>;
}
