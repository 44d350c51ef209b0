/**
 * The Redis clone's state machine: strings, lists, sets, hashes, sorted sets (and geo sets), a
 * minimal stream and HyperLogLogs, with Redis's replies and errors. Every write goes through
 * `applier.apply`, so it runs on every node in log order; reads answer from local state.
 *
 * The commands live by type in this directory (strings.ts, bits.ts, lists.ts, sets.ts, hashes.ts,
 * zsets.ts, geo.ts, streams.ts, hyperloglog.ts, keys.ts); the keyspace (keyspace.ts) keeps the
 * values, SCAN's order and the copy-on-write that makes snapshots point-in-time; snapshot.ts
 * writes and reads snapshots.
 */
import type { Applier, Conn, Machine, SnapshotReader, SnapshotWriter, Unchanged } from "../api.ts";
import { ErrUnknownCommand, ErrWrongNumberOfArguments } from "../errors.ts";
import type { MachineExtras } from "../finn.ts";
import type { Command } from "../resp/reader.ts";
import type { InfoSections } from "../server/builtin.ts";
import type { CommandSpec } from "../server/command-spec.ts";
import { bitCommands } from "./bits.ts";
import type { CloneCommand } from "./command.ts";
import { expiryCommands } from "./expiry.ts";
import { geoCommands } from "./geo.ts";
import { hashCommands } from "./hashes.ts";
import { hyperLogLogCommands } from "./hyperloglog.ts";
import { keyCommands } from "./keys.ts";
import { Keyspace } from "./keyspace.ts";
import { listCommands } from "./lists.ts";
import { objectCommands } from "./object.ts";
import { setCommands } from "./sets.ts";
import { sortCommands } from "./sort.ts";
import { readSnapshot, writeSnapshot } from "./snapshot.ts";
import { streamGroupAdminCommands } from "./stream-group-admin.ts";
import { streamGroupReadCommands } from "./stream-group-read.ts";
import { streamPendingCommands } from "./stream-pending.ts";
import { streamReadCommands } from "./stream-read.ts";
import { streamCommands } from "./streams.ts";
import { stringCommands } from "./strings.ts";
import { zsetCommands } from "./zsets.ts";

const all: readonly CloneCommand[] = [
  ...stringCommands,
  ...bitCommands,
  ...expiryCommands,
  ...keyCommands,
  ...sortCommands,
  ...listCommands,
  ...setCommands,
  ...hashCommands,
  ...zsetCommands,
  ...geoCommands,
  ...streamCommands,
  ...streamReadCommands,
  ...streamGroupAdminCommands,
  ...streamGroupReadCommands,
  ...streamPendingCommands,
  ...hyperLogLogCommands,
  ...objectCommands,
];
const byName = new Map(all.map((one) => [one.spec.name, one]));
/** The clone's commands, for COMMAND and redis-cli's hints. */
const commands: readonly CommandSpec[] = all.map((one) => one.spec);

/**
 * Passes commands to the framework's applier, with active expiry first in every `mutate` (and a
 * write's `unchanged`, see `Keyspace.readAsWrite`): before a command's own work, the keys whose
 * time has come are reclaimed (deterministically, see keyspace.ts). One per machine, reused
 * (`command` is synchronous).
 */
class ExpiringApplier implements Applier {
  inner: Applier | null = null;
  /** True while a reusable command (`CloneCommand.reusable`) runs for its client: keep its closures. */
  keeping = false;
  constructor(private readonly machine: { readonly keyspace: Keyspace }) {}

  apply<T>(
    conn: Conn | null,
    command: Command,
    mutate: (() => T) | null,
    respond: ((value: T) => void) | null,
    unchanged?: (() => Unchanged<T> | null) | null,
  ): void {
    const inner = this.inner as Applier;
    const machine = this.machine;
    if (this.keeping && mutate !== null) {
      this.keeping = false;
      command.keptMutate = mutate;
      command.keptUnchanged = unchanged ?? null;
      command.keptFor = machine.keyspace;
    }
    const asked = unchanged == null ? null : () => machine.keyspace.readAsWrite(unchanged);
    // With no TTL pending, reclaiming would do nothing: pass `mutate` as it is (no closure per
    // write). The keyspace is the same on every replica at a given log position, so is the choice.
    if (mutate === null || !machine.keyspace.mayReclaim) {
      inner.apply(conn, command, mutate, respond, asked);
      return;
    }
    inner.apply(
      conn,
      command,
      () => {
        machine.keyspace.reclaimExpired();
        return mutate();
      },
      respond,
      asked,
    );
  }
}

export class Clone implements Machine, MachineExtras {
  readonly commands = commands;
  private db = new Keyspace();
  private readonly expiring = new ExpiringApplier(this);

  /** @internal The keyspace (the applier wrapper and tests). */
  get keyspace(): Keyspace {
    return this.db;
  }

  /** The number of keys (for tests and INFO). */
  get size(): number {
    return this.db.size;
  }

  info(): InfoSections {
    const stats = this.db.stats;
    return {
      // Merged into the server's stats section. Nothing is ever evicted (no maxmemory policy).
      stats: { expired_keys: stats.expired, evicted_keys: 0, keyspace_hits: stats.hits, keyspace_misses: stats.misses },
      // avg_ttl is Redis's sampled estimate; the clone does not sample and says 0.
      keyspace: this.db.size > 0 ? { db0: `keys=${this.db.size},expires=${this.db.expiresCount},avg_ttl=0` } : {},
    };
  }

  /** CONFIG RESETSTAT: the counters INFO shows start again from zero. */
  resetStats(): void {
    const stats = this.db.stats;
    stats.hits = 0;
    stats.misses = 0;
    stats.expired = 0;
  }

  command(applier: Applier, conn: Conn | null, command: Command): void | Error {
    const known = byName.get(command.name);
    if (known === undefined) return ErrUnknownCommand;
    const count = command.argCount;
    const arity = known.spec.arity;
    if (arity >= 0 ? count !== arity : count < -arity) return ErrWrongNumberOfArguments;
    const expiring = this.expiring;
    const outer = expiring.inner;
    expiring.inner = applier;
    try {
      if (known.reusable === true) {
        // The closures a reusable command's `run` made for its client, and the keyspace they read
        // and write: a snapshot restored since replaces it, and then they are not used.
        const mutate = command.keptMutate as (() => unknown) | undefined;
        if (conn === null && mutate !== undefined && command.keptFor === this.db) {
          // Applied where its client sent it: what `run` would make again (the flag's contract).
          const unchanged = command.keptUnchanged as (() => Unchanged<unknown> | null) | null;
          command.keptMutate = command.keptUnchanged = command.keptFor = undefined;
          expiring.apply(null, command, mutate, null, unchanged);
          return;
        }
        expiring.keeping = conn !== null;
      }
      return known.run(this.db, expiring, conn, command);
    } finally {
      expiring.inner = outer;
      expiring.keeping = false;
    }
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
