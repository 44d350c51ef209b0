/**
 * SORT and SORT_RO, as Redis 7.0's `sortCommandGeneric`: the elements of a list, a set or a sorted
 * set, sorted by their own value or by weights found through a BY pattern (`weight_*`, or
 * `h_*->field` for a hash field), numerically (a double each, "One or more scores can't be
 * converted into double" otherwise) or with ALPHA in byte order, with LIMIT, GET patterns (`#` for
 * the element itself) and, for SORT, STORE into a list.
 *
 * The order matches redis-server's even where the comparison ties (ALPHA weights that are equal or
 * missing): Redis sorts with glibc's qsort (a stable merge sort), or with its pqsort when a BY
 * pattern meets a LIMIT, and c-sort.ts ports both. Without STORE, ALPHA compares as strcoll does in
 * the C locale: up to the first zero byte; with STORE, whole strings (memcmp then length).
 *
 * A constant BY pattern (no `*`, as `BY nosort`) means "do not sort": a list keeps its order and a
 * sorted set its rank order (DESC reverses both, LIMIT takes a range), a set its own order, which
 * is the clone's, not Redis's. A set with STORE is sorted ALPHA instead, as Redis does so that
 * replicas agree. The work is bounded by the collection's size times the number of GET patterns.
 */
import { RespError } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { type CommandSpec, spec } from "../server/command-spec.ts";
import { errSyntax, errWrongType, hasNonZeroDigit, option, parseOffsetCount, strtodWhole } from "./arguments.ts";
import { mergeSort, partialQuickSort } from "./c-sort.ts";
import type { CloneCommand } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";
import { ListValue } from "./list.ts";
import type { SetValue } from "./set.ts";
import type { ZSetValue } from "./zset.ts";

const errNotDouble = new RespError("ERR One or more scores can't be converted into double");

const star = 42;
const hashSign = 35;

/**
 * A BY or GET pattern, as `lookupKeyByPattern` reads it (a C string: a zero byte ends the search
 * for `*` and `->`): the element itself (`#`), nothing (no `*`: a constant), or a key made of
 * prefix, element and postfix, with an optional hash field after the first `->` past the `*`.
 */
type Pattern =
  | { readonly kind: "element" }
  | { readonly kind: "constant" }
  | { readonly kind: "key"; readonly prefix: string; readonly postfix: string; readonly field: string | null };

/** Where the C string in `bytes` ends: the first zero byte, or the end. */
function cLength(bytes: Uint8Array): number {
  const zero = bytes.indexOf(0);
  return zero < 0 ? bytes.length : zero;
}

function parsePattern(bytes: Uint8Array): Pattern {
  if (bytes[0] === hashSign && (bytes.length === 1 || bytes[1] === 0)) return { kind: "element" };
  const end = cLength(bytes);
  const at = bytes.subarray(0, end).indexOf(star);
  if (at < 0) return { kind: "constant" };
  // strstr(p + 1, "->") and a field that does not end the C string at once.
  let arrow = -1;
  for (let i = at + 1; i + 1 < end; i++) {
    if (bytes[i] === 45 && bytes[i + 1] === 62) {
      arrow = i;
      break;
    }
  }
  const hasField = arrow >= 0 && arrow + 2 < end;
  const fieldLength = hasField ? bytes.length - arrow - 2 : 0;
  const postfixLength = bytes.length - (at + 1) - (hasField ? fieldLength + 2 : 0);
  return {
    kind: "key",
    prefix: latin1(bytes.subarray(0, at)),
    postfix: latin1(bytes.subarray(at + 1, at + 1 + postfixLength)),
    field: hasField ? latin1(bytes.subarray(arrow + 2)) : null,
  };
}

/** What `pattern` finds for `element`: a string value or a hash field's value, or null (missing, another type, a constant). */
function lookupByPattern(db: Keyspace, pattern: Pattern, element: Uint8Array): Uint8Array | null {
  if (pattern.kind === "element") return element;
  if (pattern.kind === "constant") return null;
  const value = db.get(pattern.prefix + latin1(element) + pattern.postfix);
  if (value === undefined) return null;
  if (pattern.field === null) return value instanceof Uint8Array ? value : null;
  if (value instanceof Uint8Array || value.type !== "hash") return null;
  return value.fields.get(pattern.field) ?? null;
}

/** SORT's options, read as Redis reads them (the last of a repeated option wins; GETs add up). */
interface SortOptions {
  readonly desc: boolean;
  readonly alpha: boolean;
  readonly limitStart: number;
  readonly limitCount: number;
  /** The BY pattern when it has a `*`; null otherwise. */
  readonly by: Pattern | null;
  /** A constant BY pattern: nothing to sort. */
  readonly dontSort: boolean;
  readonly gets: readonly Pattern[];
  readonly store: string | null;
}

/** SORT's options from argument 2 on, or the first error Redis would answer; `readonly`: SORT_RO (no STORE). */
function parseOptions(command: Command, readonly: boolean): SortOptions | RespError {
  let desc = false;
  let alpha = false;
  let limitStart = 0;
  let limitCount = -1;
  let by: Pattern | null = null;
  let dontSort = false;
  const gets: Pattern[] = [];
  let store: string | null = null;
  for (let j = 2; j < command.argCount; j++) {
    const left = command.argCount - j - 1;
    const name = option(command.arg(j));
    if (name === "asc") desc = false;
    else if (name === "desc") desc = true;
    else if (name === "alpha") alpha = true;
    else if (name === "limit" && left >= 2) {
      const pair = parseOffsetCount(command, j);
      if (pair instanceof RespError) return pair;
      [limitStart, limitCount] = pair;
      j += 2;
    } else if (!readonly && name === "store" && left >= 1) {
      store = command.key(++j);
    } else if (name === "by" && left >= 1) {
      const pattern = parsePattern(command.arg(++j));
      // A pattern without `*` is constant (Redis looks for it in the whole C string, "#" included).
      dontSort = pattern.kind !== "key";
      by = pattern.kind === "key" ? pattern : null;
    } else if (name === "get" && left >= 1) {
      gets.push(parsePattern(command.arg(++j)));
    } else return errSyntax;
  }
  return { desc, alpha, limitStart, limitCount, by, dontSort, gets, store };
}

/** One element to sort: its bytes, and what it sorts by (a score, or the bytes a BY pattern found). */
interface Item {
  readonly element: Uint8Array;
  score: number;
  weight: Uint8Array | null;
}

const item = (element: Uint8Array): Item => ({ element, score: 0, weight: null });

/** C's isspace. */
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

const smallestNormal = 2.2250738585072014e-308;

/**
 * A weight as SORT reads it: `strtod` over the C string (leading spaces skipped, all the rest
 * taken, an empty string is 0), refused for NaN and for ERANGE (overflow, and underflow to zero
 * or to a decimal subnormal, as glibc reports it). Null when refused.
 */
export function sortScore(bytes: Uint8Array): number | null {
  const text = latin1(bytes.subarray(0, cLength(bytes)));
  if (text === "") return 0;
  let start = 0;
  while (start < text.length && isSpace(text.charCodeAt(start))) start++;
  const rest = text.slice(start);
  const value = strtodWhole(rest);
  if (value === null || Number.isNaN(value)) return null;
  if (value === Infinity || value === -Infinity) return infinity.test(rest) ? value : null;
  // glibc's ERANGE for a subnormal comes with an inexact result: a decimal one, not an exact hexadecimal one.
  if (value !== 0 && Math.abs(value) < smallestNormal && !/^[+-]?0[xX]/.test(rest)) return null;
  if (value === 0 && hasNonZeroDigit(rest)) return null;
  return value;
}

const infinity = /^[+-]?(?:inf|infinity)$/i;

/** memcmp over the shorter length, then the longer is greater (`compareStringObjects`). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** strcoll in the C locale: strcmp, which stops at a zero byte. */
function compareCStrings(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a.subarray(0, cLength(a)), b.subarray(0, cLength(b)));
}

/** `sortCompare`: numeric (ties by the elements' bytes) or ALPHA, by the elements or their weights; DESC negates. */
function comparator(alpha: boolean, byPattern: boolean, storing: boolean, desc: boolean): (a: Item, b: Item) => number {
  const strings = storing ? compareBytes : compareCStrings;
  let compare: (a: Item, b: Item) => number;
  if (!alpha) compare = (a, b) => (a.score > b.score ? 1 : a.score < b.score ? -1 : compareBytes(a.element, b.element));
  else if (byPattern) {
    compare = (a, b) => {
      if (a.weight === null || b.weight === null) return a.weight === b.weight ? 0 : a.weight === null ? -1 : 1;
      return strings(a.weight, b.weight);
    };
  } else compare = (a, b) => strings(a.element, b.element);
  return desc ? (a, b) => -compare(a, b) : compare;
}

type Sortable = ListValue | SetValue | ZSetValue;

/** The value at `key` to sort: a list, set or sorted set (an empty list when absent); WRONGTYPE otherwise. */
function sortable(db: Keyspace, key: string): Sortable {
  const value = db.get(key);
  if (value === undefined) return new ListValue(0);
  if (value instanceof Uint8Array || (value.type !== "list" && value.type !== "set" && value.type !== "zset")) throw errWrongType;
  return value;
}

/** `count` members of a sorted set from rank `start` (0-based), from the top when `desc`. */
function zsetRange(zset: ZSetValue, start: number, count: number, desc: boolean): Item[] {
  const items: Item[] = [];
  let node = zset.list.byRank(desc ? zset.size - start : start + 1);
  while (items.length < count && node !== null) {
    items.push(item(Buffer.from(node.member, "latin1")));
    node = desc ? node.previous : (node.next[0] ?? null);
  }
  return items;
}

/**
 * SORT's result: the elements (or, with GET patterns, what each pattern finds for each, null when
 * nothing) in order, after LIMIT. Throws WRONGTYPE, or the score error when a weight is no double.
 */
export function sortResult(db: Keyspace, key: string, options: SortOptions): Array<Uint8Array | null> {
  const value = sortable(db, key);
  let { dontSort, alpha, by } = options;
  const storing = options.store !== null;
  if (dontSort && value.type === "set" && storing) {
    // Redis sorts a set ALPHA rather than store its own order, so that replicas agree.
    dontSort = false;
    alpha = true;
    by = null;
  }
  let length = value.size;
  // LIMIT as Redis 7.0 clamps it.
  let start = Math.min(Math.max(options.limitStart, 0), length);
  const limitCount = Math.min(Math.max(options.limitCount, -1), length);
  let end = limitCount < 0 ? length - 1 : start + limitCount - 1;
  if (start >= length) {
    start = length - 1;
    end = length - 2;
  }
  if (end >= length) end = length - 1;
  if (value.type !== "set" && dontSort && (start !== 0 || end !== length - 1)) length = end - start + 1;

  let items: Item[];
  if (value.type === "list" && dontSort) {
    items = [];
    if (end >= start) {
      for (let i = 0; i < length; i++) items.push(item(value.at(options.desc ? value.size - start - 1 - i : start + i)));
      end -= start;
      start = 0;
    }
  } else if (value.type === "list") {
    items = value.slice(0, value.size).map(item);
  } else if (value.type === "set") {
    items = value.members.map((member) => item(Buffer.from(member, "latin1")));
  } else if (dontSort) {
    items = zsetRange(value, start, length, options.desc);
    end -= start;
    start = 0;
  } else {
    items = zsetRange(value, 0, value.size, false);
  }

  if (!dontSort) {
    let refused = false;
    for (const one of items) {
      const weight = by === null ? one.element : lookupByPattern(db, by, one.element);
      if (weight === null) continue;
      if (alpha) {
        if (by !== null) one.weight = weight;
      } else {
        const score = sortScore(weight);
        if (score === null) refused = true;
        else one.score = score;
      }
    }
    const compare = comparator(alpha, by !== null, storing, options.desc);
    if (by !== null && (start !== 0 || end !== items.length - 1)) partialQuickSort(items, compare, start, end);
    else mergeSort(items, compare);
    if (refused) throw errNotDouble;
  }

  const out: Array<Uint8Array | null> = [];
  for (let j = start; j <= end; j++) {
    const one = items[j] as Item;
    if (options.gets.length === 0) out.push(one.element);
    for (const pattern of options.gets) out.push(lookupByPattern(db, pattern, one.element));
  }
  return out;
}

/**
 * The key SORT writes: the last STORE destination, found by reading the options as the command
 * does (for valid commands, where Redis's `sortGetKeys` finds it too); none without STORE. The
 * sorted key is only read, so a WATCH on it is not aborted, as in Redis. For WATCH and blocked
 * clients (a BLPOP on the destination is served).
 */
function sortKeys(command: Command): string[] {
  const options = parseOptions(command, false);
  return options instanceof RespError || options.store === null ? [] : [options.store];
}

const syntax = "key [BY pattern:pattern] [LIMIT offset:integer count:integer] [GET pattern:pattern]... [ASC|DESC] [ALPHA]";

function sortCommand(readonly: boolean): CloneCommand {
  const described: CommandSpec = readonly
    ? spec("sort_ro", -2, "readonly movablekeys", [1, 1, 1], "generic", "Returns the sorted elements of a list, a set, or a sorted set.", syntax)
    : spec(
        "sort",
        -2,
        "write denyoom movablekeys",
        [1, 1, 1],
        "generic",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        `${syntax} [STORE destination:key]`,
      );
  return {
    spec: readonly ? described : { ...described, keys: sortKeys },
    run(db, applier, conn, command) {
      const options = parseOptions(command, readonly);
      if (options instanceof RespError) return options;
      const key = command.key(1);
      const destination = options.store;
      if (destination === null) {
        return applier.apply(conn, command, null, () => {
          const out = sortResult(db, key, options);
          if (conn === null) return;
          conn.writeArray(out.length);
          for (const one of out) {
            if (one === null) conn.writeNull();
            else conn.writeBulk(one);
          }
        });
      }
      return applier.apply(
        conn,
        command,
        () => {
          const out = sortResult(db, key, options);
          if (out.length === 0) {
            db.delete(destination);
            return 0;
          }
          const list = new ListValue(db.epoch, out.length);
          for (const one of out) list.pushBack(one ?? new Uint8Array(0));
          db.set(destination, list);
          return out.length;
        },
        (count) => conn?.writeInt(count),
      );
    },
  };
}

export const sortCommands: readonly CloneCommand[] = [sortCommand(false), sortCommand(true)];
