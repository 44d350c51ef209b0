/**
 * Routes a command: the framework's built-ins first (checked against their arity), then the
 * user's machine. An error the machine returns or throws becomes the reply.
 */
import type { Applier, Machine } from "../api.ts";
import { ErrUnknownCommand, errorReplyText } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import type { Builtin, BuiltinContext } from "./builtin.ts";
import { arityAllows, type CommandSpec } from "./command-spec.ts";
import type { Connection } from "./connection.ts";
import type { Dispatcher } from "./server.ts";

/** Commands queued in one MULTI: a bound on what one client can make the node hold. */
const transactionCommandsMax = 100_000;

/**
 * What a client may send before it authenticates: the handshake, and the peer commands (peers
 * prove the cluster secret in their own handshake).
 */
const beforeAuthentication: ReadonlySet<string> = new Set(["auth", "hello", "quit", "rafthello", "raftauth", "raftmsg", "raftsnap", "raftnodeid"]);

/** Commands that act on a transaction instead of being queued in it. */
const transactionControl: ReadonlySet<string> = new Set(["multi", "exec", "discard", "watch", "unwatch", "quit", "reset"]);

export function createDispatcher(
  builtins: ReadonlyMap<string, Builtin>,
  context: BuiltinContext,
  machine: Machine & { readonly commands?: readonly CommandSpec[] },
  applier: Applier,
): Dispatcher {
  const machineSpecs = new Map((machine.commands ?? []).map((spec) => [spec.name, spec]));
  return (connection: Connection, command: Command): void => {
    const name = command.name;
    if (!connection.authenticated && !beforeAuthentication.has(name)) {
      connection.writeError("NOAUTH Authentication required.");
      return;
    }
    const builtin = builtins.get(name);
    if (builtin !== undefined && !connection.admin && builtin.adminOnly === true) {
      connection.writeError("NOPERM this command needs the admin user: AUTH admin <password>");
      return;
    }
    const transaction = connection.transaction;
    if (transaction !== null && !transactionControl.has(name)) {
      // Inside MULTI: check what can be checked now (Redis answers these errors at once and
      // aborts the transaction at EXEC), and queue the rest.
      const spec = builtins.get(name)?.spec ?? machineSpecs.get(name);
      if (spec === undefined && machineSpecs.size > 0) {
        transaction.failed = true;
        connection.writeError(errorReplyText(ErrUnknownCommand, name, givenName(command)));
        return;
      }
      if (spec !== undefined && !arityAllows(spec.arity, command.argCount)) {
        transaction.failed = true;
        connection.writeError(`ERR wrong number of arguments for '${name}' command`);
        return;
      }
      if (transaction.commands.length >= transactionCommandsMax) {
        transaction.failed = true;
        connection.writeError(`ERR a transaction holds at most ${transactionCommandsMax} commands`);
        return;
      }
      transaction.commands.push(command);
      connection.writeString("QUEUED");
      return;
    }
    if (builtin !== undefined) {
      if (!arityAllows(builtin.spec.arity, command.argCount)) {
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
