/**
 * SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], with Redis's syntax: closes the node as a SIGTERM
 * does (the log keeps what its durability level keeps; nothing else is written first, so SAVE and
 * NOSAVE mean the same), then hands over to the program that opened it (`onShutdown`: the clone
 * exits). A program that passed no `onShutdown` keeps its node, and SHUTDOWN is refused. Like the
 * other administration commands it needs the admin user when an admin password is set.
 */
import { RespError } from "../../errors.ts";
import { type Builtin, keyword } from "../builtin.ts";
import { spec } from "../command-spec.ts";

const errSyntax = new RespError("ERR syntax error");

export const shutdown: Builtin = {
  adminOnly: true,
  spec: spec(
    "shutdown",
    -1,
    "admin noscript loading stale no_multi",
    [0, 0, 0],
    "server",
    "Closes the node; the program that runs it then ends (the clone exits).",
    "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
  ),
  run(context, connection, command) {
    let save = false;
    let noSave = false;
    let abort = false;
    let other = false;
    for (let i = 1; i < command.argCount; i++) {
      const option = keyword(command.args[i]);
      if (option === "save") save = true;
      else if (option === "nosave") noSave = true;
      else if (option === "now" || option === "force") other = true;
      else if (option === "abort") abort = true;
      else throw errSyntax;
    }
    if ((save && noSave) || (abort && (save || noSave || other))) throw errSyntax;
    // A shutdown here is never left in progress: there is nothing to abort.
    if (abort) throw new RespError("ERR No shutdown in progress.");
    if (context.shutdown === null) throw new RespError("ERR SHUTDOWN is not enabled: the program running this node did not ask for it (onShutdown)");
    context.shutdown(`Received SHUTDOWN from ${connection.remoteAddress}, shutting down`);
  },
};
