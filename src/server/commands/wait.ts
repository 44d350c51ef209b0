/**
 * WAIT numreplicas timeout: how many other members (followers and learners: Redis's replicas) hold
 * every write this connection made before it, waiting up to `timeout` milliseconds (0: as long as
 * it takes) for `numreplicas` of them. The count comes from the leader's knowledge of each member's
 * log (its acknowledgements), as Redis counts replicas' acknowledged offsets. In a cluster a write
 * is acknowledged to its client only once a majority holds it, so WAIT adds nothing to that; it
 * tells when the remaining members have caught up too.
 *
 * Behind the connection's own writes still in flight (pipelined), WAIT starts once they are
 * applied (`Connection.whenIdle`), so they count. Inside MULTI/EXEC it does not wait, as in Redis:
 * it answers the count as it is when EXEC runs it. Only the leader knows what the others hold: on
 * another node WAIT is redirected, as a write is. If leadership is lost while it waits, it answers
 * with the last count it knew.
 */
import { redirect, RespError } from "../../errors.ts";
import { parseLong } from "../../resp/integers.ts";
import { type Builtin, type BuiltinContext } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import { type Connection, Slot, SlotKind } from "../connection.ts";
import type { Replicator } from "../../node/replicator.ts";

/** How often the waiting WAITs of a node look at the members' progress again. */
const pollMilliseconds = 2;

/** A WAIT waiting for `wanted` members to hold the log up to `target`, or for its deadline. */
interface Waiter {
  readonly connection: Connection;
  readonly slot: Slot;
  readonly target: number;
  readonly wanted: number;
  readonly deadline: number;
  /** The last count seen (answered if leadership is lost meanwhile). */
  known: number;
}

/**
 * The WAITs waiting on one node, looked at together by one timer (not one timer each: a client can
 * have many waiting, and so can many clients), the count computed once per distinct target.
 */
class Waiters {
  private readonly waiting = new Set<Waiter>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly node: Replicator) {}

  add(waiter: Waiter): void {
    this.waiting.add(waiter);
    if (this.timer === null) this.timer = setInterval(() => this.check(), pollMilliseconds);
  }

  private check(): void {
    const now = performance.now();
    const counts = new Map<number, number | null>();
    for (const waiter of this.waiting) {
      if (waiter.connection.closed) {
        this.waiting.delete(waiter);
        continue;
      }
      let count = counts.get(waiter.target);
      if (count === undefined) {
        count = this.node.replicasHolding(waiter.target);
        counts.set(waiter.target, count);
      }
      if (count !== null) waiter.known = count;
      if (count === null || count >= waiter.wanted || now >= waiter.deadline) {
        this.waiting.delete(waiter);
        waiter.slot.settle(waiter.known, undefined);
      }
    }
    if (this.waiting.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

const waitersOf = new WeakMap<Replicator, Waiters>();

function startWaiting(context: BuiltinContext, connection: Connection, wanted: number, timeoutMilliseconds: number): void {
  const node = context.node;
  // The connection's writes before WAIT are all applied (or failed) by now: none is above this.
  const target = node.appliedIndex;
  const first = node.replicasHolding(target);
  // Answered, not thrown: this may run after the dispatch (`whenIdle`).
  if (first === null) {
    connection.writeError(redirect(node.leaderAddress()).message);
    return;
  }
  if (first >= wanted) {
    connection.writeInt(first);
    return;
  }
  const slot = new Slot(SlotKind.Write, "wait", null, (count) => connection.writeInt(count as number), connection);
  connection.enqueue(slot);
  const deadline = timeoutMilliseconds === 0 ? Infinity : performance.now() + timeoutMilliseconds;
  let waiters = waitersOf.get(node);
  if (waiters === undefined) {
    waiters = new Waiters(node);
    waitersOf.set(node, waiters);
  }
  waiters.add({ connection, slot, target, wanted, deadline, known: first });
}

export const wait: Builtin = {
  spec: spec(
    "wait",
    3,
    "noscript",
    [0, 0, 0],
    "generic",
    "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
    "numreplicas:integer timeout:integer",
  ),
  run(context, connection, command) {
    const wanted = parseLong(command.arg(1));
    if (wanted === null) throw new RespError("ERR value is not an integer or out of range");
    const timeout = parseLong(command.arg(2));
    if (timeout === null) throw new RespError("ERR timeout is not an integer or out of range");
    if (timeout < 0) throw new RespError("ERR timeout is negative");
    if (connection.inExec) {
      // Inside a transaction nothing blocks (as in Redis): the count as it is now.
      connection.writeInt(context.node.replicasHolding(context.node.appliedIndex) ?? 0);
      return;
    }
    // A follower in proxy mode sends WAIT on to the leader, which holds the client's writes.
    if (context.forwardWaiting?.(connection, command) === true) return;
    if (connection.hasWritesInFlight) connection.whenIdle = () => startWaiting(context, connection, wanted, timeout);
    else startWaiting(context, connection, wanted, timeout);
  },
};
