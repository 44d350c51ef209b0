/** MONITOR: this node's clients' commands as they arrive (src/server/monitor.ts). */
import type { Builtin } from "../builtin.ts";
import { spec } from "../command-spec.ts";

export const monitor: Builtin = {
  // It shows every client's commands and values: with an admin password set, the admin user's.
  adminOnly: true,
  spec: spec("monitor", 1, "admin noscript loading stale no_multi", [0, 0, 0], "server", "Listens for all requests received by the server in real-time."),
  run(context, connection) {
    context.server.monitors.add(connection);
    connection.writeString("OK");
  },
};
