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
import type { Command } from "../resp/reader.ts";

/** Told what became of a proposed command. */
export interface Ticket {
  settle(value: unknown, error: unknown): void;
}

/** Entries larger than this are split (one command larger than it gets an entry of its own). */
const entryBytesMax = 1024 * 1024;

/** The consensus state, as INFO and the RAFT* commands report it. */
export interface NodeStatus {
  readonly state: "Leader" | "Follower" | "Candidate" | "Shutdown";
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly lastSnapshotIndex: number;
  readonly lastSnapshotTerm: number;
  readonly pendingProposals: number;
}

/** What the server needs from whatever decides the order of writes. */
export interface Replicator {
  /** Appends one command's RESP frame to the log; `ticket` hears when it has been applied. */
  propose(frame: Uint8Array, ticket: Ticket | null): void;
  /** True when this node may accept writes now. */
  readonly isLeader: boolean;
  status(): NodeStatus;
  close(): void;
}

export class LocalNode implements Replicator {
  private frames: Uint8Array[] = [];
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
  ) {}

  get isLeader(): boolean {
    return !this.closed;
  }

  propose(frame: Uint8Array, ticket: Ticket | null): void {
    assert(!this.closed, "no proposals after close");
    this.frames.push(frame);
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
    const frames = this.frames;
    const tickets = this.tickets;
    this.frames = [];
    this.tickets = [];
    let first = 0;
    while (first < frames.length) {
      let last = first;
      let bytes = frames[first]?.length ?? 0;
      while (last + 1 < frames.length && bytes + (frames[last + 1]?.length ?? 0) <= entryBytesMax) {
        last++;
        bytes += frames[last]?.length ?? 0;
      }
      this.appendAndApply(concat(frames, first, last + 1, bytes), tickets.slice(first, last + 1));
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
      pendingProposals: this.frames.length,
    };
  }

  close(): void {
    this.closed = true;
    for (const ticket of this.tickets) ticket?.settle(undefined, new Error("node is shutting down"));
    this.frames = [];
    this.tickets = [];
  }
}

function concat(frames: readonly Uint8Array[], from: number, to: number, bytes: number): Uint8Array {
  if (to - from === 1) {
    // One frame: copy it, since it is a view of a client's buffer that the log must not share.
    return (frames[from] ?? new Uint8Array(0)).slice();
  }
  const out = new Uint8Array(bytes);
  let at = 0;
  for (let i = from; i < to; i++) {
    const frame = frames[i];
    assert(frame !== undefined, "frame in range");
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}
