import type { Command } from "../resp/reader.ts";

/**
 * What `COMMAND`, `COMMAND INFO`, `COMMAND DOCS` and `COMMAND COUNT` report about a command, in the
 * shape Redis 7 uses. A machine may describe its own commands through `Machine.commands`.
 */
export interface CommandSpec {
  /** Lower-case name. */
  readonly name: string;
  /** Redis arity: the exact argument count including the name, or -N for "at least N". */
  readonly arity: number;
  /** Redis flags such as `write`, `readonly`, `fast`, `denyoom`, `admin`, `loading`, `stale`. */
  readonly flags: readonly string[];
  /** Position of the first key argument (0 for none), of the last (-1 for the end), and the step. */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  /** One line for `COMMAND DOCS` and redis-cli's `HELP`. */
  readonly summary: string;
  /** `COMMAND DOCS` group: `string`, `generic`, `connection`, `server`, `cluster`... */
  readonly group: string;
  /** The arguments after the name, for `COMMAND DOCS` (redis-cli shows them as hints while typing). */
  readonly arguments: readonly ArgumentDoc[];
  /**
   * For a write whose keys have no fixed positions (the `movablekeys` flag: LMPOP's follow its
   * numkeys, SORT's and GEORADIUS's STORE destination follows an option), the keys a given command
   * writes; null for none found (a malformed command: it then counts as writing every key). WATCH
   * and blocked clients go by them, where without it such a write counts as touching every key.
   * (Redis's getkeys functions also list keys only read, as SORT's source: those are left out.)
   */
  readonly keys?: (command: Command) => string[] | null;
}

/** One argument in `COMMAND DOCS`, as Redis 7 describes it. */
export interface ArgumentDoc {
  readonly name: string;
  readonly type: "key" | "string" | "integer" | "double" | "pattern" | "pure-token" | "block" | "oneof";
  readonly token?: string;
  readonly optional?: boolean;
  readonly multiple?: boolean;
  readonly arguments?: readonly ArgumentDoc[];
}

/** The types of a named argument in COMMAND DOCS (redis-cli warns of any other). */
const valueTypes: ReadonlySet<string> = new Set(["key", "string", "integer", "double", "pattern"]);

/**
 * Parses a compact argument syntax into `ArgumentDoc`s: `key` (a key), `name:type`, `[...]` for
 * optional, a trailing `...` for multiple, `(a b)` for a block, `A|B` for a choice of tokens.
 * For example `key (key:key value:string)...` or `[pattern:pattern]`.
 */
export function parseArguments(syntax: string): ArgumentDoc[] {
  // A trailing `...` glued to its argument (`weight:integer...`) is a token of its own.
  const tokens = (syntax.match(/\[|\]|\(|\)|\.\.\.|[^\s[\]()]+/g) ?? []).flatMap((token) =>
    token.length > 3 && token.endsWith("...") ? [token.slice(0, -3), "..."] : [token],
  );
  let at = 0;
  const parseList = (closing: string | null): ArgumentDoc[] => {
    const list: ArgumentDoc[] = [];
    while (at < tokens.length) {
      const token = tokens[at++] ?? "";
      if (token === closing) return list;
      let doc: ArgumentDoc;
      if (token === "[") {
        const inner = parseList("]");
        const only = inner[0];
        doc = inner.length === 1 && only !== undefined ? { ...only, optional: true } : { name: "args", type: "block", optional: true, arguments: inner };
      } else if (token === "(") {
        doc = { name: "data", type: "block", arguments: parseList(")") };
      } else if (token.includes("|")) {
        doc = {
          name: token.toLowerCase().replace(/\|/g, "_"),
          type: "oneof",
          arguments: token.split("|").map((choice) => ({ name: choice.toLowerCase(), type: "pure-token", token: choice })),
        };
      } else {
        const [name = token, type = name === "key" ? "key" : "string"] = token.split(":");
        if (!valueTypes.has(type)) throw new Error(`argument syntax '${syntax}': '${token}' has no type COMMAND DOCS knows`);
        doc = { name, type: type as ArgumentDoc["type"] };
      }
      if (tokens[at] === "...") {
        at++;
        doc = { ...doc, multiple: true };
      }
      list.push(doc);
    }
    return list;
  };
  return parseList(null);
}

/** A compact way to write a spec. */
export function spec(
  name: string,
  arity: number,
  flags: string,
  keys: readonly [number, number, number],
  group: string,
  summary: string,
  syntax = "",
): CommandSpec {
  return {
    arguments: parseArguments(syntax),
    name,
    arity,
    flags: flags === "" ? [] : flags.split(" "),
    firstKey: keys[0],
    lastKey: keys[1],
    step: keys[2],
    summary,
    group,
  };
}

/** True when `count` arguments (name included) satisfy a Redis arity. */
export function arityAllows(arity: number, count: number): boolean {
  return arity >= 0 ? count === arity : count >= -arity;
}

/** What writes a reply: a client connection, or a machine's `Conn`. */
interface HelpWriter {
  writeArray(count: number): void;
  writeString(text: string): void;
}

/**
 * Answers `<NAME> HELP` as Redis does: a status line per line of text, the subcommands first and
 * HELP itself last. `subcommands` alternate a usage line and its description.
 */
export function writeHelp(conn: HelpWriter, name: string, subcommands: readonly string[]): void {
  const lines = [`${name.toUpperCase()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`, ...subcommands, "HELP", "    Print this help."];
  conn.writeArray(lines.length);
  for (const line of lines) conn.writeString(line);
}
