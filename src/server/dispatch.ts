/**
 * Routes a command: the framework's built-ins first (checked against their arity), then the
 * user's machine. An error the machine returns or throws becomes the reply.
 */
import type { Applier, Machine } from "../api.ts";
import { ErrUnknownCommand, errorReplyText } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import type { Builtin, BuiltinContext } from "./builtin.ts";
import { memorySubcommands } from "./commands/memory.ts";
import { arityAllows, type CommandSpec } from "./command-spec.ts";
import type { Connection } from "./connection.ts";
import type { Access, Dispatcher } from "./server.ts";

/** Commands queued in one MULTI: a bound on what one client can make the node hold (with their bytes: see `dispatch`). */
const transactionCommandsMax = 100_000;

/**
 * What a client may send before it authenticates: the handshake, and the peer commands (peers
 * prove the cluster secret in their own handshake).
 */
const beforeAuthentication: ReadonlySet<string> = new Set(["auth", "hello", "quit", "reset", "rafthello", "raftauth", "raftmsg", "raftsnap", "raftnodeid"]);

/** The commands of a peer connection: its handshake proves the cluster secret before any other. */
const peerHandshake: ReadonlySet<string> = new Set(["rafthello", "raftauth", "raftmsg", "raftsnap"]);

/** Redis's DENIED reply, with this server's flags. */
export const protectedModeDenial =
  "DENIED Finn is running in protected mode because protected mode is enabled and no password is set for clients. " +
  "In this mode connections are only accepted from the loopback interface. If you want to connect from other computers, " +
  "either 1) set a password with -auth PASSWORD (the open() option `password`), or " +
  "2) if the node is not reachable from the internet, disable protected mode with -protected-mode no (the open() option `protectedMode: false`). " +
  "In protected mode, peers on other hosts are accepted when the cluster has a secret (-secret), " +
  "and nodes on other hosts join by authenticating as the admin user (-admin-auth).";

/**
 * What protected mode lets a connection from another host do: a peer's handshake when the cluster
 * has a secret (the handshake proves it), and, when an admin password is set, authenticating as
 * the admin user and then anything (that is how a node on another host joins).
 */
function remoteAllowed(access: Access, connection: Connection, name: string): boolean {
  if (access.peersProveSecret && peerHandshake.has(name)) return true;
  if (!access.adminPasswordSet) return false;
  return connection.admin || name === "auth" || name === "hello" || name === "quit";
}

/** What a RESP2 client may send while it is subscribed to a channel or a pattern. */
const allowedWhileSubscribed: ReadonlySet<string> = new Set(["subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ping", "quit", "reset"]);

/** Commands that are containers of subcommands, whose full name Redis writes `name|sub`. */
const containers: ReadonlySet<string> = new Set(["pubsub", "client", "config", "command", "cluster", "object", "memory", "xinfo"]);

/** The command's name as Redis's `fullname` gives it: `pubsub|numpat` for a subcommand. */
function fullName(command: Command): string {
  const name = command.name;
  return containers.has(name) && command.argCount > 1 ? `${name}|${latin1(command.arg(1)).toLowerCase()}` : name;
}

/** Whether `connection` is subscribed to any channel or pattern. */
export function subscribed(connection: Connection): boolean {
  return (connection.channelSubscriptions?.size ?? 0) + (connection.patternSubscriptions?.size ?? 0) > 0;
}

/** Commands that act on a transaction instead of being queued in it (UNWATCH is queued, as in Redis). */
const transactionControl: ReadonlySet<string> = new Set(["multi", "exec", "discard", "watch", "quit", "reset"]);

export function createDispatcher(
  builtins: ReadonlyMap<string, Builtin>,
  context: BuiltinContext,
  machine: Machine & { readonly commands?: readonly CommandSpec[] },
  applier: Applier,
): Dispatcher {
  const machineSpecs = new Map((machine.commands ?? []).map((spec) => [spec.name, spec]));
  const server = context.server;
  return (connection: Connection, command: Command): void => {
    const name = command.name;
    const access = server.access;
    if (!connection.local && access.protectedMode && !remoteAllowed(access, connection, name)) {
      connection.writeError(protectedModeDenial);
      connection.closeAfterReply = true;
      return;
    }
    if (!connection.authenticated && !beforeAuthentication.has(name)) {
      connection.writeError("NOAUTH Authentication required.");
      return;
    }
    if (connection.protocol === 2 && subscribed(connection) && !allowedWhileSubscribed.has(name)) {
      // RESP2 carries messages and replies in one stream: a subscribed client may only manage its
      // subscriptions (RESP3 clients get messages as pushes, and may send anything).
      connection.writeError(`ERR Can't execute '${fullName(command)}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
      return;
    }
    // MEMORY STATS, DOCTOR, PURGE and MALLOC-STATS are the node's; MEMORY's others are the machine's.
    const builtin = builtins.get(name) ?? (name === "memory" && command.argCount > 1 ? memorySubcommands.get(latin1(command.arg(1)).toLowerCase()) : undefined);
    if (builtin !== undefined && !connection.admin && builtin.adminOnly === true) {
      connection.writeError("NOPERM this command needs the admin user: AUTH admin <password>");
      return;
    }
    // MONITOR shows what runs (or is queued in a transaction) once it has run, as Redis does, but
    // not administration, nor peers' handshake and traffic (`Server.dispatch` feeds it).
    if (server.monitors.size > 0 && !connection.inExec) {
      connection.shownToMonitors =
        connection.peerSession === null && !peerHandshake.has(name) && (builtin?.spec ?? machineSpecs.get(name))?.flags.includes("admin") !== true;
    }
    const transaction = connection.transaction;
    if (transaction !== null && !transactionControl.has(name)) {
      // Inside MULTI: check what can be checked now (Redis answers these errors at once and
      // aborts the transaction at EXEC), and queue the rest.
      const spec = builtin?.spec ?? machineSpecs.get(name);
      if (spec === undefined && machineSpecs.size > 0) {
        transaction.failed = true;
        connection.writeError(errorReplyText(ErrUnknownCommand, name, givenName(command)));
        return;
      }
      if (spec?.flags.includes("no_multi") === true) {
        transaction.failed = true;
        connection.writeError("ERR Command not allowed inside a transaction");
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
      // Queued commands are requests held: together they answer to the query buffer's limit.
      const bytesMax = connection.server.limits.queryBufferBytesMax;
      if (transaction.bytes + command.frameLength > bytesMax) {
        transaction.failed = true;
        connection.writeError(`ERR a transaction holds at most ${bytesMax} bytes of commands (client-query-buffer-limit)`);
        return;
      }
      transaction.bytes += command.frameLength;
      transaction.commands.push(command);
      connection.writeString("QUEUED");
      return;
    }
    if (builtin !== undefined) {
      if (!arityAllows(builtin.spec.arity, command.argCount)) {
        const error = `wrong number of arguments for '${builtin.spec.name}' command`;
        if (transaction !== null && name === "exec") {
          // As Redis: EXEC refused ends the transaction, discarded with the reason.
          connection.transaction = null;
          connection.forgetWatch();
          connection.writeError(`EXECABORT Transaction discarded because of: ${error}`);
          return;
        }
        // A transaction command refused inside MULTI (WATCH with no key) aborts EXEC, as an unknown command does.
        if (transaction !== null) transaction.failed = true;
        connection.writeError(`ERR ${error}`);
        return;
      }
      builtin.run(context, connection, command);
      return;
    }
    const start = server.outputMark(connection);
    const queuedBefore = connection.queued;
    const returned = machine.command(applier, connection, command);
    // A returned error is answered as a thrown one is (`Server.runCommand`).
    if (returned instanceof Error) throw returned;
    if (connection.queued === queuedBefore && !connection.closed && !connection.closeAfterReply && server.wroteNothingSince(connection, start)) {
      // Every command answers once: a command that wrote nothing (no apply, or a respond that
      // wrote nothing) answers +OK rather than leave its client, and every reply after, waiting.
      connection.writeString("OK");
    }
  };
}

/** The command name as the client spelled it. */
export function givenName(command: Command): string {
  return latin1(command.args[0] ?? new Uint8Array(0));
}
