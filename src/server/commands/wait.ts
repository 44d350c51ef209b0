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

/** How often a waiting WAIT looks at the members' progress again. */
const pollMilliseconds = 2;

function startWaiting(context: BuiltinContext, connection: Connection, wanted: number, timeoutMilliseconds: number): void {
  const node = context.node;
  // The connection's writes before WAIT are all applied (or failed) by now: none is above this.
  const target = node.status().appliedIndex;
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
  let known = first;
  const poll = (): void => {
    if (connection.closed) return;
    const count = node.replicasHolding(target);
    if (count !== null) known = count;
    if (count === null || count >= wanted || performance.now() >= deadline) {
      slot.settle(known, undefined);
      return;
    }
    setTimeout(poll, pollMilliseconds);
  };
  setTimeout(poll, pollMilliseconds);
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
      connection.writeInt(context.node.replicasHolding(context.node.status().appliedIndex) ?? 0);
      return;
    }
    if (connection.hasWritesInFlight) connection.whenIdle = () => startWaiting(context, connection, wanted, timeout);
    else startWaiting(context, connection, wanted, timeout);
  },
};
