/**
 * What the pops over several keys share (BLPOP, BRPOP, LMPOP, BLMPOP; BZPOPMIN, BZPOPMAX, ZMPOP,
 * BZMPOP): Redis's argument checks for `numkeys key... <where> [COUNT n]`, and taking from the
 * first key that holds something.
 */
import type { CommandSpec } from "../server/command-spec.ts";
import { RespError } from "../errors.ts";
import type { Command } from "../resp/reader.ts";
import { errSyntax, option, parseLong } from "./arguments.ts";
import type { Aggregate, Keyspace } from "./keyspace.ts";

const errNumkeys = new RespError("ERR numkeys should be greater than 0");
const errCountNotPositive = new RespError("ERR count should be greater than 0");

/**
 * `numkeys key... <where> [COUNT n]` with numkeys at `at`: where the `<where>` word is (the keys
 * lie between), and COUNT (1 when not given). The caller reads `<where>` itself.
 */
export function parseMultiPop(command: Command, at: number): { readonly whereAt: number; readonly count: number } | RespError {
  const numkeys = parseLong(command.arg(at));
  if (numkeys === null || numkeys < 1) return errNumkeys;
  const whereAt = at + numkeys + 1;
  if (whereAt >= command.argCount) return errSyntax;
  let count: number | null = null;
  for (let j = whereAt + 1; j < command.argCount; j++) {
    if (count !== null || option(command.arg(j)) !== "count" || j + 1 >= command.argCount) return errSyntax;
    const value = parseLong(command.arg(++j));
    if (value === null || value < 1) return errCountNotPositive;
    count = value;
  }
  return { whereAt, count: count ?? 1 };
}

/**
 * The keys of `numkeys key...` with numkeys at `at` (LMPOP, BLMPOP, ZMPOP, BZMPOP), for their
 * specs' `keys` (WATCH and blocked clients); null when numkeys is not a count the command holds.
 */
export function multiPopKeys(command: Command, at: number): string[] | null {
  const numkeys = at < command.argCount ? parseLong(command.arg(at)) : null;
  if (numkeys === null || numkeys < 1 || at + numkeys >= command.argCount) return null;
  const keys: string[] = [];
  for (let i = at + 1; i <= at + numkeys; i++) keys.push(command.key(i));
  return keys;
}

/** `spec` with the keys of `numkeys key...` (numkeys at `at`) found by `multiPopKeys`. */
export function withCountedKeys(spec: CommandSpec, at: number): CommandSpec {
  return { ...spec, keys: (command) => multiPopKeys(command, at) };
}

/**
 * Inside `mutate`: `take` from the first of the keys at positions `[from, to)` that holds a value
 * of `type` (a key of another type before it is WRONGTYPE, as `modify` throws), deleting it when
 * emptied; or, when none does, the keys, to wait on.
 */
export function popFirst<V extends Aggregate, R>(
  db: Keyspace,
  command: Command,
  from: number,
  to: number,
  type: V["type"],
  take: (value: V) => R,
): { readonly key: string; readonly taken: R } | string[] {
  const keys: string[] = [];
  for (let i = from; i < to; i++) {
    const key = command.key(i);
    const value = db.modify<V>(key, type);
    if (value === undefined) {
      keys.push(key);
      continue;
    }
    const taken = take(value);
    db.deleteIfEmpty(key, value);
    return { key, taken };
  }
  return keys;
}
