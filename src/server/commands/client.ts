/** CLIENT and its subcommands, answered as Redis does for the ones clients send. */
import { RespError } from "../../errors.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec } from "../command-spec.ts";
import type { Connection } from "../connection.ts";

/** Redis refuses names and library strings with spaces or control characters. */
function checkName(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 33 || code > 126) throw new RespError(`ERR ${what} cannot contain spaces, newlines or special characters.`);
  }
}

/** One line of CLIENT LIST / CLIENT INFO. */
function describe(connection: Connection, now: number): string {
  const age = Math.floor((now - connection.createdAt) / 1000);
  const idle = Math.floor((now - connection.lastCommandAt) / 1000);
  return (
    `id=${connection.id} addr=${connection.remoteAddress} laddr=${connection.socket.localAddress}:${connection.socket.localPort} ` +
    `fd=-1 name=${connection.name} age=${age} idle=${idle} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 ` +
    `qbuf=${connection.reader.bufferedBytes} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=${connection.queued} ` +
    `omem=${connection.unsentBytes} tot-mem=0 events=r cmd=${connection.lastCommand} user=default redir=-1 ` +
    `resp=${connection.protocol} lib-name=${connection.libraryName} lib-ver=${connection.libraryVersion}\n`
  );
}

function kill(context: BuiltinContext, connection: Connection, args: readonly Uint8Array[]): void {
  const matches = (target: Connection, filter: string, value: string): boolean => {
    switch (filter) {
      case "id":
        return String(target.id) === value;
      case "addr":
        return target.remoteAddress === value;
      case "skipme":
        return true;
      default:
        throw new RespError("ERR syntax error");
    }
  };
  if (args.length === 3) {
    // Old form: CLIENT KILL addr:port
    const address = text(args[2]);
    for (const target of context.server.connections) {
      if (target.remoteAddress === address) {
        target.close();
        connection.writeString("OK");
        return;
      }
    }
    throw new RespError("ERR No such client");
  }
  if (args.length % 2 !== 0) throw new RespError("ERR syntax error");
  let skipMe = true;
  const filters: [string, string][] = [];
  for (let i = 2; i < args.length; i += 2) {
    const filter = keyword(args[i]);
    const value = text(args[i + 1]);
    if (filter === "skipme") skipMe = value.toLowerCase() !== "no";
    else filters.push([filter, value]);
  }
  let killed = 0;
  for (const target of context.server.connections) {
    if (skipMe && target === connection) continue;
    if (filters.every(([filter, value]) => matches(target, filter, value))) {
      target.close();
      killed++;
    }
  }
  connection.writeInt(killed);
}

export const client: Builtin = {
  spec: spec("client", -2, "admin noscript loading stale", [0, 0, 0], "connection", "A container for client connection commands.", "ID|SETNAME|GETNAME|SETINFO|INFO|LIST|KILL [args ...]"),
  run(context, connection, command) {
    const args = command.args;
    const sub = keyword(args[1]);
    switch (sub) {
      case "id":
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
        connection.writeBulk(describe(connection, Date.now()));
        return;
      case "list": {
        const now = Date.now();
        let lines = "";
        for (const other of context.server.connections) lines += describe(other, now);
        connection.writeBulk(lines);
        return;
      }
      case "kill":
        kill(context, connection, args);
        return;
      case "no-evict":
      case "no-touch":
      case "reply":
        // Accepted for compatibility; replies are never suppressed.
        if (sub === "reply" && keyword(args[2]) !== "on") throw new RespError("ERR CLIENT REPLY OFF|SKIP is not supported");
        connection.writeString("OK");
        return;
      case "getredir":
        connection.writeInt(-1);
        return;
      case "help":
        connection.writeArray(4);
        connection.writeString("CLIENT <subcommand> [<arg> ...]. Subcommands are:");
        connection.writeString("ID, SETNAME <name>, GETNAME, SETINFO <LIB-NAME|LIB-VER> <value>,");
        connection.writeString("INFO, LIST, KILL <ID id|ADDR ip:port|SKIPME yes/no>,");
        connection.writeString("NO-EVICT, NO-TOUCH, REPLY ON (accepted, no effect).");
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(args[1])}'. Try CLIENT HELP.`);
    }
  },
};
