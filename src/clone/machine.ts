/**
 * The Redis clone's state machine: strings, lists, sets, hashes, sorted sets and a minimal stream,
 * with Redis's replies and errors. Every write goes through `applier.apply`, so it runs on every
 * node in log order; reads answer from local state.
 *
 * The commands live by type in this directory (strings.ts, lists.ts, sets.ts, hashes.ts,
 * zsets.ts, streams.ts, keys.ts); the keyspace (keyspace.ts) keeps the values, SCAN's order and
 * the copy-on-write that makes snapshots point-in-time; snapshot.ts writes and reads snapshots.
 */
import type { Applier, Conn, Machine, SnapshotReader, SnapshotWriter } from "../api.ts";
import { ErrUnknownCommand, ErrWrongNumberOfArguments } from "../errors.ts";
import type { MachineExtras } from "../finn.ts";
import type { Command } from "../resp/reader.ts";
import type { InfoSections } from "../server/builtin.ts";
import type { CommandSpec } from "../server/command-spec.ts";
import type { CloneCommand } from "./command.ts";
import { hashCommands } from "./hashes.ts";
import { keyCommands } from "./keys.ts";
import { Keyspace } from "./keyspace.ts";
import { listCommands } from "./lists.ts";
import { setCommands } from "./sets.ts";
import { readSnapshot, writeSnapshot } from "./snapshot.ts";
import { streamCommands } from "./streams.ts";
import { stringCommands } from "./strings.ts";
import { zsetCommands } from "./zsets.ts";

const all: readonly CloneCommand[] = [
  ...stringCommands,
  ...keyCommands,
  ...listCommands,
  ...setCommands,
  ...hashCommands,
  ...zsetCommands,
  ...streamCommands,
];
const byName = new Map(all.map((one) => [one.spec.name, one]));
/** The clone's commands, for COMMAND and redis-cli's hints. */
const commands: readonly CommandSpec[] = all.map((one) => one.spec);

export class Clone implements Machine, MachineExtras {
  readonly commands = commands;
  private db = new Keyspace();

  /** The number of keys (for tests and INFO). */
  get size(): number {
    return this.db.size;
  }

  info(): InfoSections {
    return { keyspace: this.db.size > 0 ? { db0: `keys=${this.db.size},expires=0,avg_ttl=0` } : {} };
  }

  command(applier: Applier, conn: Conn | null, command: Command): void | Error {
    const known = byName.get(command.name);
    if (known === undefined) return ErrUnknownCommand;
    const count = command.argCount;
    const arity = known.spec.arity;
    if (arity >= 0 ? count !== arity : count < -arity) return ErrWrongNumberOfArguments;
    return known.run(this.db, applier, conn, command);
  }

  /**
   * Writes every key as of now. The keyspace is captured synchronously (keys, values and their
   * sequence numbers; aggregates are then copied on write while the snapshot runs), and written
   * asynchronously in msgpack records (see snapshot.ts).
   */
  snapshot(writer: SnapshotWriter): Promise<void> {
    return writeSnapshot(this.db.capture(), writer);
  }

  async restore(reader: SnapshotReader): Promise<void> {
    this.db = await readSnapshot(reader);
  }
}
