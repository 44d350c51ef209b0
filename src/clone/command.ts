/**
 * What every clone command module shares: the shape of a command (its spec and its handler) and
 * reply helpers for the RESP3 types Redis uses.
 *
 * A handler checks everything that depends only on the arguments before `applier.apply`, so a bad
 * command never reaches the log; what depends on the state is checked inside `mutate` (every
 * replica throws the same error there) before anything is changed, since `mutate` is not undone
 * when it throws.
 */
import type { Applier, Conn, Unchanged } from "../api.ts";
import type { Command } from "../resp/reader.ts";
import type { CommandSpec } from "../server/command-spec.ts";
import type { Keyspace } from "./keyspace.ts";

export type Handler = (db: Keyspace, applier: Applier, conn: Conn | null, command: Command) => void | Error;

export interface CloneCommand {
  readonly spec: CommandSpec;
  readonly run: Handler;
  /**
   * True when whether `run` calls `apply` with a `mutate`, and what that `mutate` and its
   * `unchanged` do, depend on nothing but the command's arguments and what they read when called:
   * no key, connection or clock read before (`respond` may use the connection). Then the closures
   * made when the client's command arrives are what a second `run` would make when the command is
   * applied on the same node, and the leader applies its own commands with them (`Clone.command`),
   * sparing the second run. Every other replica runs the command from the log as always.
   */
  readonly reusable?: boolean;
}

/**
 * `unchanged` answers many writes share (see `Unchanged` in api.ts): a write that changes nothing
 * is answered without a log entry, as Redis keeps it out of its AOF. Shared, so asking allocates
 * nothing.
 */
export const unchangedZero: Unchanged<number> = { value: 0 };
export const unchangedNull: Unchanged<null> = { value: null };
export const unchangedUndefined: Unchanged<undefined> = { value: undefined };

const encoder = new TextEncoder();
const setHeaders: Uint8Array[] = [];

/** A set reply (`~n` in RESP3, an array in RESP2), as SMEMBERS and SPOP with a count send. */
export function writeSetHeader(conn: Conn, count: number): void {
  if (conn.protocol !== 3) {
    conn.writeArray(count);
    return;
  }
  let header = count < 64 ? setHeaders[count] : undefined;
  if (header === undefined) {
    header = encoder.encode(`~${count}\r\n`);
    if (count < 64) setHeaders[count] = header;
  }
  conn.writeRaw(header);
}

/** A null array (`*-1` in RESP2, `_` in RESP3): LPOP with a count on a missing key. */
export function writeNullArray(conn: Conn): void {
  if (conn.protocol === 3) conn.writeNull();
  else conn.writeRaw(nullArray);
}
const nullArray = encoder.encode("*-1\r\n");

/** A string as GET answers it: a bulk string, or null when there is none. */
export function writeBulkOrNull(conn: Conn | null, value: Uint8Array | undefined): void {
  if (value === undefined) conn?.writeNull();
  else conn?.writeBulk(value);
}

/** Bytes of a latin1 key or member, for a reply. */
export function bytesOf(text: string): Buffer {
  return Buffer.from(text, "latin1");
}
