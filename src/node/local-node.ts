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
import type { ApplyListener, ApplyResult, Executor } from "./executor.ts";
import type { Logger } from "../log.ts";
import type { Message } from "../raft/types.ts";
import type { Command } from "../resp/reader.ts";
import { batchEntries } from "./batch.ts";
import type { NodeStatus, Replicator, Ticket } from "./replicator.ts";

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

  stopped(): Error | null {
    return null;
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
    const batch = batchEntries(commands, tickets);
    for (let i = 0; i < batch.entries.length; i++) this.appendAndApply(batch.entries[i] ?? new Uint8Array(0), batch.tickets[i] ?? []);
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

  private readonly onApplied: ApplyListener = {
    before: () => this.applying[this.applyingAt]?.beforeApply?.(),
    after: (_command: Command, result: ApplyResult) => {
      const ticket = this.applying[this.applyingAt++];
      ticket?.settle(result.value, result.error);
    },
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
