/** CLIENT and its subcommands, answered as Redis does for the ones clients send. */
import { RespError } from "../../errors.ts";
import { parseLong } from "../../resp/integers.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec, writeHelp } from "../command-spec.ts";
import type { Connection } from "../connection.ts";
import { subscribed } from "../dispatch.ts";

/** Redis refuses names and library strings with spaces or control characters. */
function checkName(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 33 || code > 126) throw new RespError(`ERR ${what} cannot contain spaces, newlines or special characters.`);
  }
}

/** Redis's client type: another node's Raft link is a `replica` (flag S), every other client `normal`. */
function clientType(connection: Connection): "normal" | "replica" | "pubsub" {
  if (connection.peerSession !== null) return "replica";
  // As Redis: a client subscribed to a channel or a pattern is of type pubsub (flag P).
  return subscribed(connection) ? "pubsub" : "normal";
}

/** The user a connection is authenticated as: `admin` once it authenticated as the admin user. */
function userOf(context: BuiltinContext, connection: Connection): string {
  return context.server.access.adminPasswordSet && connection.admin ? "admin" : "default";
}

/** A client type argument (`TYPE` of CLIENT LIST and CLIENT KILL), `slave` read as `replica`. */
function typeArgument(argument: Uint8Array | undefined): string {
  const type = keyword(argument);
  if (!["normal", "master", "replica", "slave", "pubsub"].includes(type)) throw new RespError(`ERR Unknown client type '${text(argument)}'`);
  return type === "slave" ? "replica" : type;
}

/** One line of CLIENT LIST / CLIENT INFO. */
function describe(context: BuiltinContext, connection: Connection, now: number): string {
  const age = Math.floor((now - connection.createdAt) / 1000);
  const idle = Math.floor((now - connection.lastCommandAt) / 1000);
  const type = clientType(connection);
  const flags = type === "replica" ? "S" : type === "pubsub" ? "P" : context.server.monitors.has(connection) ? "O" : "N";
  const channels = connection.channelSubscriptions?.size ?? 0;
  const patterns = connection.patternSubscriptions?.size ?? 0;
  return (
    `id=${connection.id} addr=${connection.remoteAddress} laddr=${localAddress(connection)} ` +
    `fd=-1 name=${connection.name} age=${age} idle=${idle} flags=${flags} db=0 sub=${channels} psub=${patterns} ssub=0 multi=-1 ` +
    `qbuf=${connection.reader.bufferedBytes} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=${connection.queued} ` +
    `omem=${connection.unsentBytes} tot-mem=0 events=r cmd=${connection.lastCommand} user=${userOf(context, connection)} redir=-1 ` +
    `resp=${connection.protocol} lib-name=${connection.libraryName} lib-ver=${connection.libraryVersion}\n`
  );
}

function localAddress(connection: Connection): string {
  return `${connection.socket.localAddress}:${connection.socket.localPort}`;
}

/** A client id argument as Redis reads it (`CLIENT KILL ID`, `CLIENT LIST ID`), or null. */
function clientId(argument: Uint8Array | undefined): number | null {
  const value = text(argument);
  return /^[1-9]\d{0,15}$/.test(value) ? Number(value) : null;
}

function arity(args: readonly Uint8Array[], count: number, sub: string): void {
  if (args.length !== count) throw new RespError(`ERR wrong number of arguments for 'client|${sub}' command`);
}

/**
 * Closes `targets`. Only the admin user may close another node's Raft link (with `-admin-auth`
 * set, a client could otherwise cut the cluster's traffic at will; the link would reconnect).
 */
function closeClients(connection: Connection, targets: readonly Connection[]): void {
  if (!connection.admin && targets.some((target) => target.peerSession !== null)) {
    throw new RespError("NOPERM closing a peer node's link needs the admin user: AUTH admin <password>");
  }
  for (const target of targets) target.close();
}

/** Whether `target` passes one CLIENT KILL filter. */
function killFilter(context: BuiltinContext, target: Connection, filter: string, value: string): boolean {
  switch (filter) {
    case "id":
      return String(target.id) === value;
    case "addr":
      return target.remoteAddress === value;
    case "laddr":
      return localAddress(target) === value;
    case "type":
      return clientType(target) === value;
    case "user":
      return userOf(context, target) === value;
    default:
      return false;
  }
}

function kill(context: BuiltinContext, connection: Connection, args: readonly Uint8Array[]): void {
  if (args.length < 3) throw new RespError("ERR wrong number of arguments for 'client|kill' command");
  if (args.length === 3) {
    // Old form: CLIENT KILL addr:port
    const address = text(args[2]);
    const target = [...context.server.connections].find((candidate) => candidate.remoteAddress === address);
    if (target === undefined) throw new RespError("ERR No such client");
    closeClients(connection, [target]);
    connection.writeString("OK");
    return;
  }
  if (args.length % 2 !== 0) throw new RespError("ERR syntax error");
  let skipMe = true;
  const filters: [string, string][] = [];
  for (let i = 2; i < args.length; i += 2) {
    const filter = keyword(args[i]);
    const value = text(args[i + 1]);
    if (filter === "skipme") {
      const answer = value.toLowerCase();
      if (answer !== "yes" && answer !== "no") throw new RespError("ERR syntax error");
      skipMe = answer === "yes";
    } else if (filter === "id") {
      if (clientId(args[i + 1]) === null) throw new RespError("ERR client-id should be greater than 0");
      filters.push([filter, value]);
    } else if (filter === "type") {
      filters.push([filter, typeArgument(args[i + 1])]);
    } else if (filter === "user") {
      if (value !== "default" && value !== "admin") throw new RespError(`ERR No such user '${value}'`);
      filters.push([filter, value]);
    } else if (filter === "addr" || filter === "laddr") filters.push([filter, value]);
    else throw new RespError("ERR syntax error");
  }
  const targets: Connection[] = [];
  for (const target of context.server.connections) {
    if (skipMe && target === connection) continue;
    if (filters.every(([filter, value]) => killFilter(context, target, filter, value))) targets.push(target);
  }
  closeClients(connection, targets);
  connection.writeInt(targets.length);
}

export const client: Builtin = {
  spec: spec("client", -2, "admin noscript loading stale", [0, 0, 0], "connection", "A container for client connection commands.", "ID|SETNAME|GETNAME|SETINFO|INFO|LIST|KILL|UNBLOCK [args ...]"),
  run(context, connection, command) {
    const args = command.args;
    const sub = keyword(args[1]);
    switch (sub) {
      case "id":
        arity(args, 2, sub);
        connection.writeInt(connection.id);
        return;
      case "setname": {
        if (args.length !== 3) throw new RespError("ERR wrong number of arguments for 'client|setname' command");
        const name = text(args[2]);
        checkName(name, "Client names");
        connection.name = name;
        connection.writeString("OK");
        return;
      }
      case "getname":
        arity(args, 2, sub);
        if (connection.name === "") connection.writeNull();
        else connection.writeBulk(connection.name);
        return;
      case "setinfo": {
        if (args.length !== 4) throw new RespError("ERR wrong number of arguments for 'client|setinfo' command");
        const attribute = keyword(args[2]);
        const value = text(args[3]);
        checkName(value, `${attribute} values`);
        if (attribute === "lib-name") connection.libraryName = value;
        else if (attribute === "lib-ver") connection.libraryVersion = value;
        else throw new RespError(`ERR Unrecognized option '${text(args[2])}'`);
        connection.writeString("OK");
        return;
      }
      case "info":
        arity(args, 2, sub);
        context.server.writerFor(connection).verbatim(describe(context, connection, Date.now()));
        return;
      case "list": {
        // CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]
        let ids: Set<number> | null = null;
        let type: string | null = null;
        if (args.length > 2) {
          const filter = keyword(args[2]);
          if (filter === "type" && args.length === 4) {
            type = typeArgument(args[3]);
          } else if (filter === "id" && args.length > 3) {
            ids = new Set();
            for (const argument of args.slice(3)) {
              const id = clientId(argument);
              if (id === null) throw new RespError("ERR Invalid client ID");
              ids.add(id);
            }
          } else throw new RespError("ERR syntax error");
        }
        const now = Date.now();
        let lines = "";
        for (const other of context.server.connections) {
          if ((type === null || clientType(other) === type) && (ids === null || ids.has(other.id))) lines += describe(context, other, now);
        }
        // A verbatim string in RESP3, as Redis answers (a bulk in RESP2).
        context.server.writerFor(connection).verbatim(lines);
        return;
      }
      case "kill":
        kill(context, connection, args);
        return;
      case "no-evict":
      case "no-touch":
      case "reply": {
        // Accepted for compatibility; replies are never suppressed.
        arity(args, 3, sub);
        const value = keyword(args[2]);
        if (sub === "reply") {
          if (value === "off" || value === "skip") throw new RespError("ERR CLIENT REPLY OFF|SKIP is not supported");
          if (value !== "on") throw new RespError("ERR syntax error");
        } else if (value !== "on" && value !== "off") throw new RespError("ERR syntax error");
        connection.writeString("OK");
        return;
      }
      case "getredir":
        arity(args, 2, sub);
        connection.writeInt(-1);
        return;
      case "unblock": {
        // CLIENT UNBLOCK id [TIMEOUT|ERROR]
        if (args.length < 3) arity(args, 3, sub);
        // Past its arguments Redis 7.0 answers as for a subcommand it does not know.
        if (args.length > 4) throw new RespError(`ERR unknown subcommand or wrong number of arguments for '${text(args[1])}'. Try CLIENT HELP.`);
        const id = parseLong(args[2] ?? new Uint8Array(0));
        if (id === null) throw new RespError("ERR value is not an integer or out of range");
        const reason = args.length === 4 ? keyword(args[3]) : "timeout";
        if (reason !== "timeout" && reason !== "error") throw new RespError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        connection.writeInt(context.unblock?.(id, reason === "error") === true ? 1 : 0);
        return;
      }
      case "help":
        writeHelp(connection, "client", [
          "ID",
          "    Return the id of this connection.",
          "SETNAME <name>",
          "    Name this connection.",
          "GETNAME",
          "    Return the name of this connection.",
          "SETINFO <LIB-NAME|LIB-VER> <value>",
          "    Record the client library's name or version.",
          "INFO",
          "    Return information about this connection.",
          "LIST [TYPE <normal|master|replica|pubsub> | ID <id> [<id> ...]]",
          "    Return information about connections.",
          "KILL <ip:port> | KILL <option> <value> [<option> <value> ...]",
          "    Close the matching connections. Options: ID <id>, ADDR <ip:port>, LADDR <ip:port>,",
          "    TYPE <normal|replica|master|pubsub> (another node's Raft link is a replica),",
          "    USER <default|admin>, SKIPME <yes|no>.",
          "GETREDIR",
          "    Return -1 (no client tracking).",
          "UNBLOCK <clientid> [TIMEOUT|ERROR]",
          "    Unblock the specified blocked client.",
          "NO-EVICT <ON|OFF>, NO-TOUCH <ON|OFF>, REPLY ON",
          "    Accepted; no effect.",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(args[1])}'. Try CLIENT HELP.`);
    }
  },
};
