/**
 * A single-node log: every proposal commits as soon as it is appended, but it goes through the
 * same asynchronous path that replication uses (propose, batch, commit, apply, settle), so nothing
 * above it changes when the Raft node takes its place.
 *
 * Proposals made during one event-loop turn become one batch: their RESP frames are concatenated
 * into log entries of up to `entryBytesMax`, applied in order, and each proposer's ticket is
 * settled with its command's result.
 */
import { assert } from "../assert.ts";
import type { ApplyResult, Executor } from "./executor.ts";
import type { Logger } from "../log.ts";
import type { Message } from "../raft/types.ts";
import type { Command } from "../resp/reader.ts";
import { entryBytesMax, type NodeStatus, type Replicator, type Ticket } from "./replicator.ts";

export type { NodeStatus, Replicator, Ticket } from "./replicator.ts";

export class LocalNode implements Replicator {
  private commands: Command[] = [];
  private tickets: (Ticket | null)[] = [];
  private scheduled = false;
  private closed = false;
  private readonly term = 1;
  private lastIndex = 0;
  private commitIndex = 0;
  private appliedIndex = 0;
  /** Tickets of the entry being applied, in command order. */
  private applying: (Ticket | null)[] = [];
  private applyingAt = 0;

  constructor(
    private readonly executor: Executor,
    private readonly address: () => string,
    private readonly logger: Logger,
  ) {}

  /** A single node belongs to no cluster: Raft traffic for it is noted and ignored. */
  receive(messages: readonly Message[]): void {
    this.logger.verbose(`Ignored ${messages.length} Raft messages: this node runs alone`);
  }

  get isLeader(): boolean {
    return !this.closed;
  }

  /** A single node is always current: reads go ahead at once. */
  read(): "now" {
    return "now";
  }

  leaderAddress(): string | null {
    return this.closed ? null : this.address();
  }

  propose(command: Command, ticket: Ticket | null): void {
    assert(!this.closed, "no proposals after close");
    this.commands.push(command);
    this.tickets.push(ticket);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
  }

  /** Commits and applies everything proposed during the last turn. */
  private run(): void {
    this.scheduled = false;
    if (this.closed) return;
    const commands = this.commands;
    const tickets = this.tickets;
    this.commands = [];
    this.tickets = [];
    let first = 0;
    while (first < commands.length) {
      let last = first;
      let bytes = commands[first]?.frameLength ?? 0;
      while (last + 1 < commands.length && bytes + (commands[last + 1]?.frameLength ?? 0) <= entryBytesMax) {
        last++;
        bytes += commands[last]?.frameLength ?? 0;
      }
      this.appendAndApply(concat(commands, first, last + 1, bytes), tickets.slice(first, last + 1));
      first = last + 1;
    }
  }

  private appendAndApply(data: Uint8Array, tickets: (Ticket | null)[]): void {
    this.lastIndex++;
    this.commitIndex = this.lastIndex;
    this.applying = tickets;
    this.applyingAt = 0;
    this.executor.applyEntry(data, this.onApplied);
    assert(this.applyingAt === tickets.length, "every command of an entry is applied");
    this.appliedIndex = this.commitIndex;
  }

  private readonly onApplied = (_command: Command, result: ApplyResult): void => {
    const ticket = this.applying[this.applyingAt++];
    ticket?.settle(result.value, result.error);
  };

  status(): NodeStatus {
    return {
      state: this.closed ? "Shutdown" : "Leader",
      term: this.term,
      leader: this.closed ? null : this.address(),
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      lastLogIndex: this.lastIndex,
      lastLogTerm: this.lastIndex > 0 ? this.term : 0,
      lastSnapshotIndex: 0,
      lastSnapshotTerm: 0,
      pendingProposals: this.commands.length,
    };
  }

  close(): void {
    this.closed = true;
    for (const ticket of this.tickets) ticket?.settle(undefined, new Error("node is shutting down"));
    this.commands = [];
    this.tickets = [];
  }
}

/** The frames of `commands[from, to)` copied into one entry (the log never shares a client's buffer). */
function concat(commands: readonly Command[], from: number, to: number, bytes: number): Uint8Array {
  // A Buffer, so that readers of the entry never need its `.buffer` (slow to materialise).
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < to; i++) {
    const command = commands[i];
    assert(command !== undefined, "command in range");
    command.copyFrameInto(out, at);
    at += command.frameLength;
  }
  assert(at === bytes, "entry size matches its frames");
  return out;
}
