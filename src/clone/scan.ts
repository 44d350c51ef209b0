/**
 * What the SCAN family shares: the options (MATCH, COUNT, and TYPE for SCAN only), the reply, the
 * handler of SSCAN, HSCAN and ZSCAN (cursor, key, options, in Redis's order), and the step that
 * SSCAN and HSCAN take over a collection in the order of its members' hashes. Each command reads
 * its cursor with `parseCursor` (arguments.ts) and gives the number its own meaning: a key's
 * sequence number (SCAN, see keyspace.ts), a place in the hash space (SSCAN, HSCAN: `scanStep`),
 * a score (ZSCAN, see zsets.ts).
 */
import type { Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { globMatch } from "../glob.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { errInvalidCursor, errNotInteger, errSyntax, option, parseCursor, parseLong } from "./arguments.ts";
import { bytesOf, type Handler } from "./command.ts";
import type { Keyspace } from "./keyspace.ts";

const scanCountDefault = 10;

export interface ScanOptions {
  readonly count: number;
  /** Null for none (or "*", which matches everything). */
  readonly pattern: Uint8Array | null;
  /** SCAN's TYPE, in lower case; null for none. */
  readonly type: string | null;
}

/**
 * A SCAN-family command's options from argument `from` on (Redis's `scanGenericCommand`): COUNT
 * and MATCH, in any order and repeated, and TYPE when `withType` (SCAN's). An error is returned,
 * not thrown: SSCAN, HSCAN and ZSCAN report it only once the key is found to hold their type.
 */
export function parseScanOptions(command: Command, from: number, withType = false): ScanOptions | RespError {
  let count = scanCountDefault;
  let pattern: Uint8Array | null = null;
  let type: string | null = null;
  for (let i = from; i < command.argCount; i += 2) {
    const name = option(command.arg(i));
    if (i + 1 >= command.argCount) return errSyntax;
    if (name === "count") {
      const value = parseLong(command.arg(i + 1));
      if (value === null) return errNotInteger;
      if (value < 1) return errSyntax;
      count = value;
    } else if (name === "match") {
      const value = command.arg(i + 1);
      pattern = value.length === 1 && value[0] === 42 ? null : value;
    } else if (withType && name === "type") {
      type = latin1(command.arg(i + 1)).toLowerCase();
    } else {
      return errSyntax;
    }
  }
  return { count, pattern, type };
}

/** True when MATCH (if any) accepts `name`. */
export function scanMatches(options: ScanOptions, name: string): boolean {
  return options.pattern === null || globMatch(options.pattern, bytesOf(name));
}

/** A SCAN-family reply: the next cursor, then the items (keys, members, or pairs of them). */
export function writeScanReply(conn: Conn, cursor: number | bigint, items: readonly Uint8Array[]): void {
  conn.writeArray(2);
  conn.writeBulk(String(cursor));
  conn.writeArray(items.length);
  for (const item of items) conn.writeBulk(item);
}

/**
 * SSCAN, HSCAN and ZSCAN: the cursor is checked first, then the key (a missing one is an empty
 * iteration, whatever the options), then the options, as in Redis. `step` hands the items of one
 * step to `items` and returns the next cursor (0 at the end).
 */
export function scanCommand<T>(
  lookup: (db: Keyspace, key: string) => T | undefined,
  step: (value: T, cursor: bigint, options: ScanOptions, items: Uint8Array[]) => number | bigint,
): Handler {
  return (db, applier, conn, command) => {
    const cursor = parseCursor(command.arg(2));
    if (cursor === null) return errInvalidCursor;
    const options = parseScanOptions(command, 3);
    return applier.apply(conn, command, null, () => {
      const value = lookup(db, command.key(1));
      if (value === undefined) {
        if (conn !== null) writeScanReply(conn, 0, []);
        return;
      }
      if (options instanceof RespError) throw options;
      if (conn === null) return;
      const items: Uint8Array[] = [];
      const next = step(value, cursor, options, items);
      writeScanReply(conn, next, items);
    });
  };
}

// SSCAN and HSCAN: a step in the order of the members' hashes.

/**
 * The space of `scanHash` values: a place is a hash in [0, 2^32), and this value (any cursor from
 * 2^32 on) is past the end.
 */
const hashSpace = 2 ** 32;
/** A collection this small is returned whole in one step, as Redis returns its small encodings. */
const scanWholeMax = 128;
/**
 * A step's window is sized for at least 1/this of the collection: each step reads the whole
 * collection, so a whole iteration reads it about this many times at most, whatever COUNT says.
 */
const scanStepsMax = 256;

/**
 * A 32-bit hash of a member or field (FNV-1a, then MurmurHash3's finalizer to spread the bits):
 * where it comes in a scan. It depends on the text only, the same on every node.
 */
function scanHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/**
 * One SSCAN or HSCAN step from `cursor` over a collection of `size` members whose names `names`
 * lists: hands `take` each one in the step's window that MATCH accepts, and returns the next
 * cursor (0 at the end).
 *
 * The members are visited in the order of their `scanHash`; a cursor is a place in the hash space
 * (any cursor from 2^32 on is past the end), and a step's window is [cursor, next cursor), sized
 * for COUNT members (and at least a `scanStepsMax`th of the collection, since each step reads all
 * of it), or everything from the cursor on for a collection of at most `scanWholeMax` members.
 * The windows of an iteration follow each other and cover the hash space once, and a member's
 * hash depends on its text only, so a member present for the whole iteration is returned exactly
 * once, whatever is added or removed meanwhile (removing from a set moves its last member, see
 * set.ts; that does not matter here); one added or removed during the iteration may or may not be
 * returned. A cursor means the same on every node, and after a snapshot is restored, so an
 * iteration may go on on another node.
 */
export function scanStep(names: Iterable<string>, size: number, cursor: bigint, options: ScanOptions, take: (name: string) => void): number {
  const from = cursor >= BigInt(hashSpace) ? hashSpace : Number(cursor);
  let end = hashSpace;
  if (size > scanWholeMax && options.count < size) {
    const target = Math.max(options.count, Math.ceil(size / scanStepsMax));
    end = Math.min(hashSpace, from + Math.ceil((hashSpace * target) / size));
  }
  for (const name of names) {
    const hash = scanHash(name);
    if (hash < from || hash >= end) continue;
    if (!scanMatches(options, name)) continue;
    take(name);
  }
  return end >= hashSpace ? 0 : end;
}
