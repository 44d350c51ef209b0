/**
 * The applier handed to the machine for client commands. A read (`mutate === null`) answers at
 * once when nothing is queued on the connection, else it waits its turn, so a connection always
 * reads its own writes. A write is proposed to the log and answered once it has been applied.
 */
import type { Applier, Conn } from "../api.ts";
import { redirect } from "../errors.ts";
import type { Replicator } from "../node/local-node.ts";
import type { Command } from "../resp/reader.ts";
import { Connection, Slot, SlotKind } from "./connection.ts";

export class ClientApplier implements Applier {
  constructor(private readonly node: Replicator) {}

  apply<T>(conn: Conn | null, command: Command, mutate: (() => T) | null, respond: ((value: T) => void) | null): void {
    if (conn !== null && !(conn instanceof Connection)) {
      throw new TypeError("apply: conn must be the connection the command came from");
    }
    // The slot keeps `respond` untyped; it is only ever called with this mutate's own result.
    const reply = respond as ((value: unknown) => void) | null;
    if (mutate === null) {
      if (conn === null || reply === null) return;
      this.read(conn, command, reply);
      return;
    }
    if (!this.node.isLeader) throw redirect(this.node.leaderAddress());
    if (conn === null) {
      this.node.propose(command, null);
      return;
    }
    const slot = new Slot(SlotKind.Write, command.name, null, reply, conn);
    conn.enqueue(slot);
    conn.proposeInOrder(command, slot);
  }

  /** A read: at once when the node allows and nothing is queued, else in its turn. */
  private read(conn: Connection, command: Command, reply: (value: unknown) => void): void {
    const slot = new Slot(SlotKind.Read, command.name, null, reply, conn, true);
    const verdict = this.node.read(slot);
    if (verdict instanceof Error) throw verdict;
    if (verdict === "now") {
      if (conn.queued === 0) conn.server.runRespond(conn, command.name, reply, undefined);
      else conn.enqueue(new Slot(SlotKind.Read, command.name, null, reply, conn));
      return;
    }
    conn.enqueue(slot);
  }
}
