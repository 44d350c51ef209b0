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
}

/** A compact way to write a spec. */
export function spec(
  name: string,
  arity: number,
  flags: string,
  keys: readonly [number, number, number],
  group: string,
  summary: string,
): CommandSpec {
  return {
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
