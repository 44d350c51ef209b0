/**
 * Group commit for stores that sync explicitly: every write since the last sync started shares
 * one promise, resolved by the next sync. One sync runs at a time; writes that arrive while it
 * runs join the next one. Memory stays constant however many writes wait (one shared promise),
 * which matters at Low durability, where nothing syncs until someone calls `flush()`.
 */
import { assert } from "../assert.ts";

interface Waiters {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function makeWaiters(): Waiters {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  return { promise, resolve, reject };
}

export class GroupSync {
  /** Writes made since the last sync started; they wait for the next one. */
  private pending: Waiters | null = null;
  /** The sync in progress, if any. */
  private running: Promise<void> | null = null;
  /** A sync is queued for the end of this event-loop turn. */
  private scheduled = false;
  /**
   * Someone asked for a sync while one was running: start the next one as soon as it ends. Writes
   * alone never chain syncs (at Medium and Low they wait for the timer or an explicit flush).
   */
  private wanted = false;
  /** Syncs performed (for tests and the benchmark). */
  syncCount = 0;
  private closed = false;

  constructor(
    /** Makes everything written so far durable (fsync, or commit then env sync). */
    private readonly sync: () => Promise<void>,
  ) {}

  /** Registers a write; the promise resolves after a sync that started after this call. */
  written(): Promise<void> {
    assert(!this.closed, "write after close");
    this.pending ??= makeWaiters();
    return this.pending.promise;
  }

  /** Resolves when everything written so far is durable, without starting a sync. */
  settled(): Promise<void> {
    return this.pending?.promise ?? this.running ?? Promise.resolve();
  }

  /** Whether a sync is in progress. */
  isRunning(): boolean {
    return this.running !== null;
  }

  /** Whether writes wait for a sync. */
  hasPending(): boolean {
    return this.pending !== null;
  }

  /**
   * Syncs at the end of this event-loop turn, so that every write of the turn shares it
   * (High durability's group commit).
   */
  syncSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Resolves when everything written so far is durable, starting a sync if one is needed. */
  flush(): Promise<void> {
    const waiters = this.pending;
    if (waiters === null) return this.running ?? Promise.resolve();
    if (this.running === null) this.start();
    else this.wanted = true;
    return waiters.promise;
  }

  /** Flushes, then refuses further writes. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private start(): void {
    assert(this.running === null, "one sync at a time");
    const waiters = this.pending;
    assert(waiters !== null, "a sync needs waiters");
    this.pending = null;
    this.syncCount++;
    this.running = this.sync().then(
      () => {
        this.running = null;
        waiters.resolve();
        const wanted = this.wanted;
        this.wanted = false;
        if (wanted && this.pending !== null) this.start();
      },
      (error: unknown) => {
        this.running = null;
        this.wanted = false;
        waiters.reject(error);
        // Later writes are not known to be durable either: fail them too rather than retry an
        // fsync whose failure may have dropped dirty pages (the "fsyncgate" lesson).
        const later = this.pending;
        this.pending = null;
        if (later !== null) later.reject(error);
      },
    );
  }
}
