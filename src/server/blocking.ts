/**
 * Clients blocked by a blocking command (BLPOP and the like: see `Blocked` in api.ts).
 *
 * A blocking command goes through the log like any write. Applied where nothing is ready, its
 * `mutate` changes nothing and returns `Blocked`: every replica did the same nothing. On the node
 * that holds the client (the leader) its reply then waits here, and the client's input with it
 * (Redis reads nothing more from a blocked client). It is proposed again, the same bytes (or the
 * command `block`'s `retryArgs` make: see api.ts), as a new entry: right behind each write to one
 * of its keys that this node proposes (a command the machine's specs describe, its keys found by
 * position or by the spec's `keys`), once the command that proposed it is dispatched
 * (`serveProposed`: nothing another client sends can come between them, so a plain LPOP sent
 * after an LPUSH cannot take what a waiting BLPOP is owed, as in Redis); and when a write to one
 * of its keys is applied (a write whose spec names the key, or whose keys are not known) while
 * no retry for that key is in flight (`wake`). Applied on every replica in log order, a retry
 * takes what is there if it still is, so the replicas agree on who got what with no other
 * coordination. The longest-waiting client first; a retry that is served is itself a write to the
 * key, and so wakes the next client if more is there; a retry that finds nothing (another client
 * took it first) waits again in its place, without a wake-up of its own. A blocking command whose
 * spec has the `readonly` flag too (XREAD) takes nothing: serving one leaves everything for the
 * next, and writes nothing that would wake it, so every such client waiting on a written key is
 * retried at once (as Redis serves every XREAD blocked on a stream from one XADD).
 *
 * The deadline is kept here: at its timeout a waiting client is answered with the `Blocked` value
 * (the command's `respond` writes the timeout's reply), or, with a retry in flight, with whatever
 * that retry returns. A node that is no longer the leader answers its waiting clients with a
 * redirect: nothing of theirs was applied. A client that disconnects is forgotten; a retry
 * already proposed for it still applies (as every write a client sent before leaving does).
 */
import { Blocked } from "../api.ts";
import { redirect, RespError } from "../errors.ts";
import type { Replicator } from "../node/replicator.ts";
import { isBlockingRead, keysWritten } from "../node/write-tracker.ts";
import { Command } from "../resp/reader.ts";
import type { CommandSpec } from "./command-spec.ts";
import type { Slot } from "./connection.ts";

/** How often waiting clients are checked for their deadline, their connection and the node's leadership. */
const checkMilliseconds = 10;
/**
 * A node that lost its leadership sends its waiting clients to the new leader; while none is known
 * (an election), it waits this long for one before answering CLUSTERDOWN.
 */
const leaderlessMilliseconds = 1_000;
/** The most clients waiting on one node; more answer as if at once timed out (every queue has a limit). */
export const blockedClientsMax = 100_000;

interface Waiter {
  readonly slot: Slot;
  /** What each retry proposes: the client's command, or the one its first `Blocked.retryArgs` make. */
  readonly command: Command;
  readonly blocked: Blocked;
  readonly keys: readonly string[];
  /** Its command takes what it is served (BLPOP), so waiters of a key are retried one at a time; false for XREAD. */
  readonly consumes: boolean;
  readonly deadline: number;
  /** The command is proposed again and not applied yet. */
  retrying: boolean;
  /** The key whose write woke it for that retry. */
  wokenBy: string;
  /** The deadline passed while a retry was in flight: what it returns is the answer, even `Blocked`. */
  expired: boolean;
  /** CLIENT UNBLOCK ... ERROR came while a retry was in flight: a `Blocked` result answers with the error. */
  unblockedWithError: boolean;
}

function unblockedError(): RespError {
  return new RespError("UNBLOCKED client unblocked via CLIENT UNBLOCK");
}

/** What a command that waited until its timeout answers with. */
function timedOut(blocked: Blocked): Blocked {
  return new Blocked(blocked.keys, blocked.timeoutMilliseconds, true, blocked.retryArgs);
}

/** A client that left, or closed its side: it is not served, and nothing is taken for it. */
function gone(slot: Slot): boolean {
  return slot.connection.closed || slot.connection.inputEnded;
}

export class BlockedClients {
  /** Waiters by key, longest-waiting first. */
  private readonly byKey = new Map<string, Waiter[]>();
  /** How many of a key's waiters take nothing (XREAD), by key: the lists of the others are not scanned for them. */
  private readonly readersOf = new Map<string, number>();
  /**
   * How many waiters (taking ones: BLPOP's) have a retry in flight for a key, by key. A write
   * applied wakes a key's next waiter only when none has (`wake`); a write proposed serves the next
   * one behind it whatever is in flight (`serveProposed`).
   */
  private readonly retriesFor = new Map<string, number>();
  /** Keys written by commands proposed since the last `serveProposed`, whose waiters are served behind them. */
  private readonly proposedKeys = new Set<string>();
  private proposedEverything = false;
  private readonly bySlot = new Map<Slot, Waiter>();
  /** Keys written since the last wake-up pass, and whether every key counts (a write of unknown keys). */
  private readonly written = new Set<string>();
  private everything = false;
  private wakeScheduled = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** When this node found itself not leading with no leader known, or Infinity. */
  private leaderlessSince = Infinity;
  private readonly blocking = new Map<string, boolean>();
  private readonly reads = new Map<string, boolean>();

  constructor(
    private readonly node: Replicator,
    private readonly specOf: (name: string) => CommandSpec | undefined,
  ) {}

  /** Whether commands named `name` may block (their spec has the `blocking` flag). */
  isBlocking(name: string): boolean {
    let known = this.blocking.get(name);
    if (known === undefined) {
      known = this.specOf(name)?.flags.includes("blocking") === true;
      this.blocking.set(name, known);
    }
    return known;
  }

  /** Whether blocking commands named `name` only read (XREAD): served, they take nothing. */
  private isRead(name: string): boolean {
    let known = this.reads.get(name);
    if (known === undefined) {
      const spec = this.specOf(name);
      known = spec !== undefined && isBlockingRead(spec);
      this.reads.set(name, known);
    }
    return known;
  }

  /** The number of clients waiting now. */
  get size(): number {
    return this.bySlot.size;
  }

  /**
   * `slot`'s command was applied and returned `blocked`: null when its reply waits (here), else the
   * value to answer with now (a timed-out `Blocked`: its deadline passed, there is no room, or its
   * client is gone; or CLIENT UNBLOCK's error).
   */
  wait(slot: Slot, command: Command, blocked: Blocked): Blocked | RespError | null {
    const known = this.bySlot.get(slot);
    const now = performance.now();
    if (known === undefined) {
      if (gone(slot) || this.bySlot.size >= blockedClientsMax) return timedOut(blocked);
      const timeout = blocked.timeoutMilliseconds;
      const waiter: Waiter = {
        slot,
        // Built once: every retry proposes the same command.
        command: blocked.retryArgs === undefined ? command : Command.of(blocked.retryArgs),
        blocked,
        keys: [...new Set(blocked.keys)],
        consumes: !this.isRead(command.name),
        deadline: timeout > 0 ? now + timeout : Infinity,
        retrying: false,
        wokenBy: "",
        expired: false,
        unblockedWithError: false,
      };
      this.bySlot.set(slot, waiter);
      for (const key of waiter.keys) {
        const list = this.byKey.get(key);
        if (list === undefined) this.byKey.set(key, [waiter]);
        else list.push(waiter);
        if (!waiter.consumes) this.readersOf.set(key, (this.readersOf.get(key) ?? 0) + 1);
      }
      this.timer ??= setInterval(() => this.check(), checkMilliseconds);
      return null;
    }
    this.retryDone(known);
    if (known.expired || now >= known.deadline || gone(slot)) {
      this.remove(known);
      return known.unblockedWithError ? unblockedError() : timedOut(blocked);
    }
    return null;
  }

  /**
   * CLIENT UNBLOCK: the client `id`'s waiting command answers now, as timed out or with an error
   * (with a retry in flight, once that retry is applied, if it takes nothing). False when the
   * client is not blocked.
   */
  unblock(id: number, error: boolean): boolean {
    for (const waiter of this.bySlot.values()) {
      if (waiter.slot.connection.id !== id || waiter.expired) continue;
      if (waiter.retrying) {
        waiter.expired = true;
        waiter.unblockedWithError = error;
      } else if (error) this.answer(waiter, undefined, unblockedError());
      else this.answer(waiter, timedOut(waiter.blocked), undefined);
      return true;
    }
    return false;
  }

  /** `slot` is answered (served, or failed): it waits no more. */
  done(slot: Slot): void {
    const waiter = this.bySlot.get(slot);
    if (waiter !== undefined) this.remove(waiter);
  }

  /** A write was applied on this node (`value`: what its `mutate` returned). */
  onWrite(command: Command, value: unknown): void {
    if (this.bySlot.size === 0 || value instanceof Blocked) return;
    const keys = keysWritten(this.specOf(command.name), command);
    if (keys === null) this.everything = true;
    else for (const key of keys) if (this.byKey.has(key)) this.written.add(key);
    if ((this.everything || this.written.size > 0) && !this.wakeScheduled) {
      this.wakeScheduled = true;
      // After the entries being applied now: a retry is a proposal of its own.
      queueMicrotask(() => this.wake());
    }
  }

  private wake(): void {
    this.wakeScheduled = false;
    const keys = this.everything ? [...this.byKey.keys()] : [...this.written];
    this.everything = false;
    this.written.clear();
    this.retryWaiters(keys, false);
  }

  /**
   * Retries, for each of `keys`, every reader and one waiter that takes: behind a proposed write,
   * the longest-waiting one not being retried; after an applied one, the longest-waiting one,
   * only if no retry of the key is in flight and it is not being retried for another key (it
   * keeps its place there too).
   */
  private retryWaiters(keys: readonly string[], behindProposal: boolean): void {
    if (!this.node.isLeader) return;
    for (const key of keys) {
      const list = this.byKey.get(key);
      if (list === undefined) continue;
      if (this.readersOf.has(key)) this.wakeReaders(key, list);
      if (!behindProposal && this.retriesFor.has(key)) continue;
      // Clients gone are dropped by the next check: the first is almost always the one.
      const next = list.find((waiter) => waiter.consumes && !gone(waiter.slot) && (!behindProposal || !waiter.retrying));
      if (next !== undefined && !next.retrying) this.retry(next, key);
    }
  }

  /**
   * A command was proposed on this node (queued for the log, right now): the waiters of the keys
   * it writes are served right behind it, at the next `serveProposed`. Left out: blocking commands
   * (a retry, or a new one, that takes something wakes the next waiter once applied: `onWrite`),
   * and commands the machine does not describe (the framework's own, PUBLISH; a write of a machine
   * without specs wakes its waiters once applied).
   */
  proposed(command: Command): void {
    if (this.bySlot.size === 0) return;
    const spec = this.specOf(command.name);
    if (spec === undefined || this.isBlocking(command.name)) return;
    const keys = keysWritten(spec, command);
    if (keys === null) this.proposedEverything = true;
    else for (const key of keys) if (this.byKey.has(key)) this.proposedKeys.add(key);
  }

  /**
   * After a command was dispatched (or writes held behind a read were proposed): for each key its
   * writes touch, the first waiter that takes (BLPOP) and is not being retried, and every reader
   * (XREAD), get their retries proposed now, right behind those writes in the log, before every
   * other client's command. So a waiter is served what the write brings before a plain LPOP sent
   * after it can take it, as Redis serves its blocked clients right after the command that fed
   * them. A write that brings nothing costs its waiter a retry that finds nothing and waits again,
   * in its place.
   */
  serveProposed(): void {
    if (!this.proposedEverything && this.proposedKeys.size === 0) return;
    const keys = this.proposedEverything ? [...this.byKey.keys()] : [...this.proposedKeys];
    this.proposedEverything = false;
    this.proposedKeys.clear();
    this.retryWaiters(keys, true);
  }

  /** Proposes `waiter`'s command again, woken by a write to `key`. */
  private retry(waiter: Waiter, key: string): void {
    waiter.retrying = true;
    waiter.wokenBy = key;
    this.retriesFor.set(key, (this.retriesFor.get(key) ?? 0) + 1);
    waiter.slot.connection.proposeInOrder(waiter.command, waiter.slot);
  }

  /**
   * Retries every waiter of `key` whose command takes nothing (XREAD) and is not being retried:
   * served, it leaves the data to the next one, and writes nothing that would wake it.
   */
  private wakeReaders(key: string, list: readonly Waiter[]): void {
    // A copy: a proposal refused at once answers its waiter, which leaves the list.
    for (const waiter of list.slice()) {
      if (waiter.consumes || waiter.retrying || gone(waiter.slot) || !this.bySlot.has(waiter.slot)) continue;
      waiter.retrying = true;
      waiter.wokenBy = key;
      waiter.slot.connection.proposeInOrder(waiter.command, waiter.slot);
    }
  }

  /** Deadlines, clients gone, and leadership lost. */
  private check(): void {
    const now = performance.now();
    const leading = this.node.isLeader && this.node.stopped() === null;
    const leader = leading ? null : this.node.leaderAddress();
    if (leading || leader !== null) this.leaderlessSince = Infinity;
    else if (this.leaderlessSince === Infinity) this.leaderlessSince = now;
    // Redirected to the next leader once there is one (CLUSTERDOWN if none comes soon).
    const redirecting = !leading && (leader !== null || now - this.leaderlessSince >= leaderlessMilliseconds);
    for (const waiter of [...this.bySlot.values()]) {
      if (waiter.retrying) {
        // Its retry answers it (or fails it, if leadership went meanwhile).
        if (now >= waiter.deadline) waiter.expired = true;
        continue;
      }
      if (gone(waiter.slot)) {
        // As Redis frees a blocked client that closed its side: nothing will be taken for it.
        this.remove(waiter);
        if (!waiter.slot.connection.closed) waiter.slot.connection.socket.terminate();
      } else if (redirecting) this.answer(waiter, undefined, redirect(leader));
      else if (now >= waiter.deadline) this.answer(waiter, timedOut(waiter.blocked), undefined);
    }
    if (this.bySlot.size === 0) this.stopTimer();
  }

  private answer(waiter: Waiter, value: unknown, error: unknown): void {
    this.remove(waiter);
    waiter.slot.blocker = null;
    waiter.slot.settle(value, error);
  }

  /** `waiter`'s retry is applied (or failed): its key may be retried again. */
  private retryDone(waiter: Waiter): void {
    if (!waiter.retrying) return;
    waiter.retrying = false;
    // Readers' retries (`wakeReaders`) are not counted.
    if (!waiter.consumes) return;
    const count = (this.retriesFor.get(waiter.wokenBy) ?? 1) - 1;
    if (count > 0) this.retriesFor.set(waiter.wokenBy, count);
    else this.retriesFor.delete(waiter.wokenBy);
  }

  private remove(waiter: Waiter): void {
    if (!this.bySlot.delete(waiter.slot)) return;
    this.retryDone(waiter);
    for (const key of waiter.keys) {
      const list = this.byKey.get(key);
      if (list === undefined) continue;
      const at = list.indexOf(waiter);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.byKey.delete(key);
      if (!waiter.consumes) {
        const readers = (this.readersOf.get(key) ?? 0) - 1;
        if (readers > 0) this.readersOf.set(key, readers);
        else this.readersOf.delete(key);
      }
    }
    if (this.bySlot.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops the timer (the node is closing); waiting clients are closed with the server. */
  close(): void {
    this.stopTimer();
  }
}
