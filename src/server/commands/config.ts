/** CONFIG GET (what redis-benchmark and clients ask), CONFIG SET refused, CONFIG RESETSTAT. */
import { globMatchText } from "../../glob.ts";
import { RespError } from "../../errors.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec, writeHelp } from "../command-spec.ts";

/** The parameters CONFIG GET knows, with this node's values. */
function parameters(context: BuiltinContext): [string, string][] {
  const limits = context.server.limits;
  const settings = context.settings;
  // Redis's classes of client; here one limit for all: the hard one, the soft one (reading stops
  // there), and no time on the soft one.
  const outputLimits = `${limits.outputBytesMax} ${limits.outputSoftBytesMax} 0`;
  return [
    // Every write reaches an append-only log on disk, whichever the backend: the Raft log. How
    // often it is flushed is the durability level, in Redis's terms.
    ["appendonly", "yes"],
    ["appendfsync", settings.durability === "high" ? "always" : settings.durability === "medium" ? "everysec" : "no"],
    ["bind", settings.bind],
    ["client-query-buffer-limit", String(limits.queryBufferBytesMax)],
    ["client-output-buffer-limit", `normal ${outputLimits} slave ${outputLimits} pubsub ${outputLimits}`],
    ["cluster-enabled", "yes"],
    ["databases", "1"],
    ["dir", settings.dir],
    ["maxclients", String(limits.clientsMax)],
    ["maxmemory", "0"],
    ["maxmemory-policy", "noeviction"],
    ["port", String(settings.port)],
    ["proto-max-bulk-len", String(limits.bulkBytesMax)],
    ["protected-mode", context.server.access.protectedMode ? "yes" : "no"],
    ["save", ""],
    ["slowlog-log-slower-than", String(limits.slowlogSlowerThanMicros)],
    ["slowlog-max-len", String(limits.slowlogMaxLen)],
    ["timeout", String(limits.idleTimeoutSeconds)],
  ];
}

export const config: Builtin = {
  spec: spec("config", -2, "admin noscript loading stale", [0, 0, 0], "server", "A container for server configuration commands.", "GET|SET|RESETSTAT parameter:pattern ..."),
  run(context, connection, command) {
    const args = command.args;
    switch (keyword(args[1])) {
      case "get": {
        if (args.length < 3) throw new RespError("ERR wrong number of arguments for 'config|get' command");
        const patterns = args.slice(2).map((argument) => text(argument).toLowerCase());
        const found = parameters(context).filter(([name]) => patterns.some((pattern) => globMatchText(pattern, name)));
        connection.writeMap(found.length);
        for (const [name, value] of found) {
          connection.writeBulk(name);
          connection.writeBulk(value);
        }
        return;
      }
      case "set":
        throw new RespError("ERR CONFIG SET is not supported: set options on the command line");
      case "resetstat":
        context.server.resetStats();
        context.resetMachineStats?.();
        connection.writeString("OK");
        return;
      case "rewrite":
        throw new RespError("ERR CONFIG REWRITE is not supported: there is no config file");
      case "help":
        writeHelp(connection, "config", [
          "GET <pattern> [<pattern> ...]",
          "    Return the parameters that match one of the glob-style patterns, with their values.",
          "SET <parameter> <value>",
          "    Not supported: options are set on the command line.",
          "RESETSTAT",
          "    Reset the statistics INFO reports.",
          "REWRITE",
          "    Not supported: there is no configuration file.",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${text(args[1])}'. Try CONFIG HELP.`);
    }
  },
};
