/**
 * Routes a command: the framework's built-ins first (checked against their arity), then the
 * user's machine. An error the machine returns or throws becomes the reply.
 */
import type { Applier, Machine } from "../api.ts";
import { errorReplyText } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import type { Builtin, BuiltinContext } from "./builtin.ts";
import { arityAllows } from "./command-spec.ts";
import type { Connection } from "./connection.ts";
import type { Dispatcher } from "./server.ts";

export function createDispatcher(
  builtins: ReadonlyMap<string, Builtin>,
  context: BuiltinContext,
  machine: Machine,
  applier: Applier,
): Dispatcher {
  return (connection: Connection, command: Command): void => {
    const name = command.name;
    const builtin = builtins.get(name);
    if (builtin !== undefined) {
      if (!arityAllows(builtin.spec.arity, command.args.length)) {
        connection.writeError(`ERR wrong number of arguments for '${name}' command`);
        return;
      }
      builtin.run(context, connection, command);
      return;
    }
    const returned = machine.command(applier, connection, command);
    if (returned instanceof Error) connection.writeError(errorReplyText(returned, name, givenName(command)));
  };
}

/** The command name as the client spelled it. */
export function givenName(command: Command): string {
  return latin1(command.args[0] ?? new Uint8Array(0));
}
