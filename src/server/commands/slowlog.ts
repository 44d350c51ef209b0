/** SLOWLOG GET|LEN|RESET|HELP: this node's slow commands (src/server/slowlog.ts). */
import { RespError } from "../../errors.ts";
import { parseLong } from "../../resp/integers.ts";
import { type Builtin, keyword, text } from "../builtin.ts";
import { spec, writeHelp } from "../command-spec.ts";

const getDefault = 10;

export const slowlog: Builtin = {
  // Its entries show clients' commands and arguments: with an admin password set, the admin user's.
  adminOnly: true,
  spec: spec("slowlog", -2, "admin loading stale", [0, 0, 0], "server", "A container for slow log commands.", "GET|LEN|RESET|HELP [count:integer]"),
  run(context, connection, command) {
    const log = context.server.slowlog;
    const sub = keyword(command.arg(1));
    const arity = (wanted: boolean): void => {
      if (!wanted) throw new RespError(`ERR wrong number of arguments for 'slowlog|${sub}' command`);
    };
    switch (sub) {
      case "get": {
        arity(command.argCount <= 3);
        let count = getDefault;
        if (command.argCount === 3) {
          const given = parseLong(command.arg(2));
          if (given === null) throw new RespError("ERR value is not an integer or out of range");
          if (given < -1) throw new RespError("ERR count should be greater than or equal to -1");
          count = Number(given);
        }
        const entries = log?.newest(count) ?? [];
        connection.writeArray(entries.length);
        for (const entry of entries) {
          connection.writeArray(6);
          connection.writeInt(entry.id);
          connection.writeInt(entry.time);
          connection.writeInt(entry.micros);
          connection.writeArray(entry.args.length);
          for (const arg of entry.args) connection.writeBulk(arg);
          connection.writeBulk(entry.address);
          connection.writeBulk(entry.name);
        }
        return;
      }
      case "len":
        arity(command.argCount === 2);
        connection.writeInt(log?.length ?? 0);
        return;
      case "reset":
        arity(command.argCount === 2);
        log?.reset();
        connection.writeString("OK");
        return;
      case "help":
        arity(command.argCount === 2);
        writeHelp(connection, "slowlog", [
          "GET [<count>]",
          "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
          "    Entries are made of:",
          "    id, timestamp, time in microseconds, arguments array, client IP and port,",
          "    client name",
          "LEN",
          "    Return the length of the slowlog.",
          "RESET",
          "    Reset the slowlog.",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(command.arg(1))}'. Try SLOWLOG HELP.`);
    }
  },
};
