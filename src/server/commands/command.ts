/** COMMAND, COMMAND COUNT, COMMAND INFO, COMMAND DOCS, COMMAND LIST: what redis-cli asks for its hints. */
import { RespError } from "../../errors.ts";
import type { RespWriter } from "../../resp/writer.ts";
import { type Builtin, keyword, text } from "../builtin.ts";
import { type ArgumentDoc, type CommandSpec, spec, writeHelp } from "../command-spec.ts";

/** Redis 7's ten-element command description. */
function writeInfo(writer: RespWriter, command: CommandSpec): void {
  writer.array(10);
  writer.bulk(command.name);
  writer.integer(command.arity);
  writer.set(command.flags.length);
  for (const flag of command.flags) writer.simple(flag);
  writer.integer(command.firstKey);
  writer.integer(command.lastKey);
  writer.integer(command.step);
  writer.set(0); // ACL categories
  writer.set(0); // tips
  writer.array(0); // key specs
  writer.array(0); // subcommands
}

function writeArgument(writer: RespWriter, argument: ArgumentDoc): void {
  const flags = [...(argument.optional === true ? ["optional"] : []), ...(argument.multiple === true ? ["multiple"] : [])];
  const fields = 2 + (argument.token === undefined ? 0 : 1) + (flags.length > 0 ? 1 : 0) + (argument.arguments === undefined ? 0 : 1);
  writer.map(fields);
  writer.bulk("name");
  writer.bulk(argument.name);
  writer.bulk("type");
  writer.bulk(argument.type);
  if (argument.token !== undefined) {
    writer.bulk("token");
    writer.bulk(argument.token);
  }
  if (flags.length > 0) {
    writer.bulk("flags");
    writer.set(flags.length);
    for (const flag of flags) writer.simple(flag);
  }
  if (argument.arguments !== undefined) {
    writer.bulk("arguments");
    writer.array(argument.arguments.length);
    for (const inner of argument.arguments) writeArgument(writer, inner);
  }
}

function writeDocs(writer: RespWriter, command: CommandSpec): void {
  writer.bulk(command.name);
  writer.map(command.arguments.length > 0 ? 4 : 3);
  writer.bulk("summary");
  writer.bulk(command.summary);
  writer.bulk("since");
  writer.bulk("1.0.0");
  writer.bulk("group");
  writer.bulk(command.group);
  if (command.arguments.length > 0) {
    writer.bulk("arguments");
    writer.array(command.arguments.length);
    for (const argument of command.arguments) writeArgument(writer, argument);
  }
}

export const command: Builtin = {
  spec: spec("command", -1, "loading stale", [0, 0, 0], "server", "Returns detailed information about all commands."),
  run(context, connection, request) {
    const specs = context.commandSpecs();
    const writer = context.server.writerFor(connection);
    const args = request.args;
    if (args.length === 1) {
      writer.array(specs.length);
      for (const one of specs) writeInfo(writer, one);
      return;
    }
    const byName = new Map(specs.map((one) => [one.name, one]));
    const names = args.slice(2).map((argument) => text(argument).toLowerCase());
    switch (keyword(args[1])) {
      case "count":
        if (args.length !== 2) throw new RespError("ERR wrong number of arguments for 'command|count' command");
        writer.integer(specs.length);
        return;
      case "list":
        writer.array(specs.length);
        for (const one of specs) writer.bulk(one.name);
        return;
      case "info": {
        const chosen = names.length === 0 ? specs : names.map((name) => byName.get(name));
        writer.array(chosen.length);
        for (const one of chosen) {
          if (one === undefined) writer.nullArray();
          else writeInfo(writer, one);
        }
        return;
      }
      case "docs": {
        const chosen = (names.length === 0 ? specs : names.map((name) => byName.get(name))).filter(
          (one): one is CommandSpec => one !== undefined,
        );
        writer.map(chosen.length);
        for (const one of chosen) writeDocs(writer, one);
        return;
      }
      case "getkeys":
        throw new RespError("ERR COMMAND GETKEYS is not supported");
      case "help":
        writeHelp(connection, "command", [
          "(no subcommand)",
          "    Return details about every command.",
          "COUNT",
          "    Return the number of commands.",
          "LIST",
          "    Return the names of every command.",
          "INFO [<command-name> ...]",
          "    Return details about the named commands, or all of them.",
          "DOCS [<command-name> ...]",
          "    Return documentation about the named commands, or all of them.",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(args[1])}'. Try COMMAND HELP.`);
    }
  },
};
