/**
 * The bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) against
 * the real redis-server, reply for reply (`helpers/redis-diff.ts`): offsets at and past the 2^32
 * bit limit, bit values other than 0 and 1, WRONGTYPE, negative and clamped ranges in BYTE and BIT
 * units (within one byte, across bytes, over runs long enough to be read a word at a time), Redis
 * 7.0's order of answering (the key before the range arguments), BITPOS of 0 on all ones with and
 * without an end, BITOP over strings of different lengths and an empty result that deletes the
 * destination, BITFIELD's types, `#` offsets (an int64 product that wraps included), overflow
 * under WRAP, SAT and FAIL for every width class, BITFIELD_RO, the TTL kept or dropped; and, as
 * SETBIT changes bitmaps in place, that what else holds one never sees a later SETBIT: a reply kept
 * for EXEC's answer (GETEX, SET GET), a COPY, a RENAME.
 *
 * Then, in process: BITCOUNT and BITPOS against a bit-by-bit reference on strings placed at every
 * alignment (the word-at-a-time paths); a snapshot captured while SETBITs change a large bitmap in
 * place holds exactly the bytes of the capture, and with no snapshot running nothing is copied;
 * SETBIT past the end grows into spare room; argument errors never reach the log; and a 3-node
 * cluster applies a mix of these writes alike.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { Clone } from "../src/clone/machine.ts";
import { CloneHarness } from "./helpers/clone-harness.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, y2100 } from "./helpers/redis-diff.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const setAndGetBit: Case[] = [
  // SETBIT answers the old bit, creates the key, and pads with zero bytes
  c("SETBIT", "b", "7", "1"), c("GET", "b"), c("SETBIT", "b", "7", "1"), c("SETBIT", "b", "7", "0"), c("GET", "b"), c("STRLEN", "b"),
  c("SETBIT", "b", "0", "1"), c("SETBIT", "b", "100", "1"), c("STRLEN", "b"), c("GET", "b"), c("SETBIT", "b", "100", "0"), c("STRLEN", "b"),
  c("SETBIT", "zero", "0", "0"), c("EXISTS", "zero"), c("GET", "zero"), c("SETBIT", "zero", "23", "0"), c("STRLEN", "zero"),
  c("GETBIT", "b", "0"), c("GETBIT", "b", "1"), c("GETBIT", "b", "7"), c("GETBIT", "b", "100"), c("GETBIT", "b", "101"), c("GETBIT", "b", "99999"),
  c("GETBIT", "b", "4294967295"), c("GETBIT", "nope", "0"), c("GETBIT", "nope", "4294967295"), c("EXISTS", "nope"),
  // on strings set otherwise (digits Redis keeps as integers read as their text)
  c("SET", "s", "foobar"), c("GETBIT", "s", "1"), c("GETBIT", "s", "2"), c("SETBIT", "s", "7", "1"), c("GET", "s"), c("SET", "n", "12345"),
  c("SETBIT", "n", "6", "0"), c("GET", "n"), c("GETBIT", "n", "2"), c("INCR", "n"), c("SETBIT", "n", "6", "1"), c("INCR", "n"), c("GET", "n"),
  c("SET", "e", ""), c("GETBIT", "e", "0"), c("SETBIT", "e", "3", "1"), c("GET", "e"), c("APPEND", "e", "x"), c("SETBIT", "e", "15", "1"), c("GET", "e"),
  // the TTL stays
  c("SET", "t", "a", "EXAT", y2100), c("SETBIT", "t", "30", "1"), c("EXPIRETIME", "t"), c("GET", "t"), c("SETBIT", "t", "1", "0"), c("EXPIRETIME", "t"),
  // offsets: integers from 0 to 2^32-1
  c("SETBIT", "b", "-1", "1"), c("SETBIT", "b", "4294967296", "1"), c("SETBIT", "b", "9223372036854775807", "1"), c("SETBIT", "b", "9223372036854775808", "1"),
  c("SETBIT", "b", "x", "1"), c("SETBIT", "b", "1.0", "1"), c("SETBIT", "b", "", "1"), c("SETBIT", "b", " 1", "1"), c("SETBIT", "b", "+1", "1"),
  c("SETBIT", "b", "01", "1"), c("SETBIT", "b", "#1", "1"), c("GETBIT", "b", "-1"), c("GETBIT", "b", "4294967296"), c("GETBIT", "b", "x"),
  c("GETBIT", "b", "#3"), c("GETBIT", "nope", "-5"),
  // bit values: 0 or 1 only; the offset is checked first
  c("SETBIT", "b", "1", "2"), c("SETBIT", "b", "1", "-1"), c("SETBIT", "b", "1", "x"), c("SETBIT", "b", "1", ""), c("SETBIT", "b", "1", "01"),
  c("SETBIT", "b", "1", "-0"), c("SETBIT", "b", "1", "1.0"), c("SETBIT", "b", "1", "9223372036854775808"), c("SETBIT", "b", "x", "2"),
  c("SETBIT", "b", "4294967296", "x"), c("SETBIT", "b", "4294967295", "x"), c("EXISTS", "nope"),
  // other types
  c("RPUSH", "list", "a"), c("SETBIT", "list", "0", "1"), c("GETBIT", "list", "0"), c("SETBIT", "list", "x", "1"), c("GETBIT", "list", "x"),
  c("SETBIT", "list", "0", "5"), c("LRANGE", "list", "0", "-1"),
  // arity
  c("SETBIT", "b", "1"), c("SETBIT", "b", "1", "1", "1"), c("GETBIT", "b"), c("GETBIT", "b", "1", "2"), c("SETBIT"), c("GETBIT"),
];

/** A string of `bytes` bytes, all ones: NOT over zeros (the test client sends text as UTF-8). */
function allOnes(key: string, bytes: number): Case[] {
  return [c("SETBIT", `${key}:zeros`, String(bytes * 8 - 1), "0"), c("BITOP", "NOT", key, `${key}:zeros`), c("DEL", `${key}:zeros`)];
}

const counts: Case[] = [
  c("SET", "s", "foobar"), c("BITCOUNT", "s"), c("BITCOUNT", "s", "0", "0"), c("BITCOUNT", "s", "1", "1"), c("BITCOUNT", "s", "0", "-1"),
  c("BITCOUNT", "s", "-2", "-1"), c("BITCOUNT", "s", "-1", "-2"), c("BITCOUNT", "s", "-100", "-200"), c("BITCOUNT", "s", "-200", "-100"),
  c("BITCOUNT", "s", "-100", "100"), c("BITCOUNT", "s", "3", "1"), c("BITCOUNT", "s", "6", "10"), c("BITCOUNT", "s", "5", "5"), c("BITCOUNT", "s", "2", "-3"),
  c("BITCOUNT", "s", "-9223372036854775808", "9223372036854775807"), c("BITCOUNT", "s", "9223372036854775807", "-9223372036854775808"),
  c("BITCOUNT", "s", "-9223372036854775807", "-9223372036854775808"), c("BITCOUNT", "s", "-9223372036854775808", "-9223372036854775807"),
  c("BITCOUNT", "s", "9223372036854775807", "9223372036854775806"),
  // BIT and BYTE units, any case
  c("BITCOUNT", "s", "5", "30", "BIT"), c("BITCOUNT", "s", "0", "-1", "bit"), c("BITCOUNT", "s", "0", "-1", "BYTE"), c("BITCOUNT", "s", "1", "1", "byte"),
  c("BITCOUNT", "s", "1", "1", "Bit"), c("BITCOUNT", "s", "1", "6", "BIT"), c("BITCOUNT", "s", "3", "3", "BIT"), c("BITCOUNT", "s", "9", "14", "BIT"),
  c("BITCOUNT", "s", "-5", "-1", "BIT"), c("BITCOUNT", "s", "-1", "-5", "BIT"), c("BITCOUNT", "s", "-100", "-200", "BIT"), c("BITCOUNT", "s", "-200", "-100", "BIT"),
  c("BITCOUNT", "s", "40", "1000", "BIT"), c("BITCOUNT", "s", "47", "47", "BIT"), c("BITCOUNT", "s", "48", "100", "BIT"), c("BITCOUNT", "s", "7", "8", "BIT"),
  // argument errors: after the key's lookup in Redis 7.0 (a missing key answers 0, another type WRONGTYPE)
  c("BITCOUNT", "s", "0"), c("BITCOUNT", "s", "0", "1", "BITS"), c("BITCOUNT", "s", "0", "1", "BIT", "x"), c("BITCOUNT", "s", "x", "1"),
  c("BITCOUNT", "s", "0", "x"), c("BITCOUNT", "s", "x", "1", "FOO"), c("BITCOUNT", "s", "0", "x", "FOO"), c("BITCOUNT", "s", "1.5", "2"),
  c("BITCOUNT", "s", "0", "9223372036854775808"), c("BITCOUNT", "nope"), c("BITCOUNT", "nope", "0"), c("BITCOUNT", "nope", "x", "y"),
  c("BITCOUNT", "nope", "0", "1", "FOO"), c("BITCOUNT", "nope", "1", "2", "3", "4"), c("RPUSH", "list", "a"), c("BITCOUNT", "list"),
  c("BITCOUNT", "list", "x"), c("BITCOUNT", "list", "0", "1", "FOO"), c("BITCOUNT"),
  // empty and long strings (long runs are counted a word at a time)
  c("SET", "e", ""), c("BITCOUNT", "e"), c("BITCOUNT", "e", "0", "-1"), c("BITCOUNT", "e", "0", "0", "BIT"), c("BITCOUNT", "e", "-1", "0"),
  ...allOnes("ones", 300), c("BITCOUNT", "ones"), c("BITCOUNT", "ones", "1", "298"), c("BITCOUNT", "ones", "3", "2397", "BIT"),
  c("BITCOUNT", "ones", "-77", "-3"), c("BITCOUNT", "ones", "13", "1000", "BIT"), c("SETBIT", "sparse", "4001", "1"), c("SETBIT", "sparse", "17", "1"),
  c("SETBIT", "sparse", "2222", "1"), c("BITCOUNT", "sparse"), c("BITCOUNT", "sparse", "3", "-1"), c("BITCOUNT", "sparse", "18", "4001", "BIT"),
  c("BITCOUNT", "sparse", "17", "4000", "BIT"), c("BITCOUNT", "sparse", "2", "277"), c("BITCOUNT", "sparse", "2", "278"), c("SET", "text", "The quick brown fox jumps over the lazy dog, again and again and again, until it tires."),
  c("BITCOUNT", "text"), c("BITCOUNT", "text", "1", "-2"), c("BITCOUNT", "text", "5", "700", "BIT"), c("BITCOUNT", "text", "9", "85"),
];

const positions: Case[] = [
  c("SET", "s", "\u0000\u00ff\u00f0"), c("BITPOS", "s", "1"), c("BITPOS", "s", "0"), c("BITPOS", "s", "1", "2"), c("BITPOS", "s", "0", "1"),
  c("BITPOS", "s", "1", "1", "-1"), c("BITPOS", "s", "1", "2", "-1"), c("BITPOS", "s", "1", "7", "15", "BIT"), c("BITPOS", "s", "1", "7", "15", "bit"),
  c("BITPOS", "s", "0", "7", "15", "BIT"), c("BITPOS", "s", "1", "0", "-1", "BYTE"), c("BITPOS", "s", "1", "-1", "-3"), c("BITPOS", "s", "1", "-100", "-200"),
  c("BITPOS", "s", "1", "-200", "-100"), c("BITPOS", "s", "0", "-100", "-200"), c("BITPOS", "s", "1", "100"), c("BITPOS", "s", "0", "100"),
  c("BITPOS", "s", "1", "-9223372036854775808"), c("BITPOS", "s", "0", "9223372036854775807"), c("BITPOS", "s", "1", "0", "9223372036854775807"),
  // all ones: a 0 is found just past the end unless an end is given
  ...allOnes("ones", 3), c("BITPOS", "ones", "0"), c("BITPOS", "ones", "0", "0"), c("BITPOS", "ones", "0", "1"), c("BITPOS", "ones", "0", "2"),
  c("BITPOS", "ones", "0", "3"), c("BITPOS", "ones", "0", "-1"), c("BITPOS", "ones", "0", "0", "-1"), c("BITPOS", "ones", "0", "0", "2"),
  c("BITPOS", "ones", "0", "0", "100"), c("BITPOS", "ones", "0", "0", "-1", "BIT"), c("BITPOS", "ones", "0", "0", "23", "BIT"), c("BITPOS", "ones", "0", "5", "100", "BIT"),
  c("BITPOS", "ones", "0", "0", "-1", "BYTE"), c("BITPOS", "ones", "1"), c("BITPOS", "ones", "1", "1"), c("BITPOS", "ones", "1", "5", "9", "BIT"),
  c("SETBIT", "ones", "13", "0"), c("BITPOS", "ones", "0"), c("BITPOS", "ones", "0", "2"), c("BITPOS", "ones", "0", "0", "13", "BIT"),
  c("BITPOS", "ones", "0", "14", "23", "BIT"), c("BITPOS", "ones", "0", "13", "13", "BIT"), c("BITPOS", "ones", "0", "12", "12", "BIT"),
  // all zeros: no 1
  c("SETBIT", "zeros", "23", "0"), c("BITPOS", "zeros", "1"), c("BITPOS", "zeros", "0"), c("BITPOS", "zeros", "1", "0", "-1", "BIT"),
  c("BITPOS", "zeros", "0", "3", "5", "BIT"), c("BITPOS", "zeros", "0", "1"), c("BITPOS", "zeros", "0", "-1", "-1"),
  // bit ranges inside one byte and across bytes, from either end
  c("SET", "m", "AZ"), c("BITPOS", "m", "1", "0", "0", "BIT"), c("BITPOS", "m", "1", "1", "1", "BIT"), c("BITPOS", "m", "1", "2", "6", "BIT"),
  c("BITPOS", "m", "1", "2", "7", "BIT"), c("BITPOS", "m", "0", "1", "7", "BIT"), c("BITPOS", "m", "1", "2", "8", "BIT"), c("BITPOS", "m", "1", "3", "9", "BIT"),
  c("BITPOS", "m", "0", "9", "10", "BIT"), c("BITPOS", "m", "1", "-8", "-1", "BIT"), c("BITPOS", "m", "1", "-1", "-8", "BIT"), c("BITPOS", "m", "0", "-3", "-1", "BIT"),
  c("BITPOS", "m", "1", "15", "15", "BIT"), c("BITPOS", "m", "1", "14", "15", "BIT"), c("BITPOS", "m", "0", "16", "20", "BIT"), c("BITPOS", "m", "1", "-100", "3", "BIT"),
  // long runs (skipped a word at a time), found and not, at every end
  ...allOnes("long", 500), c("SETBIT", "long", "3001", "0"), c("BITPOS", "long", "0"), c("BITPOS", "long", "0", "376"), c("BITPOS", "long", "0", "1", "374"),
  c("BITPOS", "long", "0", "5", "3000", "BIT"), c("BITPOS", "long", "0", "5", "3001", "BIT"), c("BITPOS", "long", "0", "3002", "3999", "BIT"),
  c("BITPOS", "long", "0", "3002"), c("BITPOS", "long", "0", "376", "-1"), c("BITPOS", "long", "1", "77"), c("SETBIT", "far", "3333", "1"),
  c("BITPOS", "far", "1"), c("BITPOS", "far", "1", "3", "-1"), c("BITPOS", "far", "1", "3", "415"), c("BITPOS", "far", "1", "3", "416"),
  c("BITPOS", "far", "1", "9", "3332", "BIT"), c("BITPOS", "far", "1", "9", "3333", "BIT"), c("BITPOS", "far", "0", "0", "-1"), c("BITPOS", "far", "0", "416"),
  // the empty string, a missing key, other types
  c("SET", "e", ""), c("BITPOS", "e", "0"), c("BITPOS", "e", "1"), c("BITPOS", "e", "0", "0", "-1", "BIT"), c("BITPOS", "nope", "0"), c("BITPOS", "nope", "1"),
  c("BITPOS", "nope", "1", "x"), c("BITPOS", "nope", "0", "x", "y", "FOO"), c("BITPOS", "nope", "1", "1", "2", "BIT", "extra"), c("RPUSH", "list", "a"),
  c("BITPOS", "list", "1"), c("BITPOS", "list", "1", "x"), c("BITPOS", "list", "2"),
  // errors: the bit first, then (after the key) the start, the unit, the end
  c("BITPOS", "s", "2"), c("BITPOS", "s", "-1"), c("BITPOS", "s", "x"), c("BITPOS", "s", ""), c("BITPOS", "nope", "2"), c("BITPOS", "nope", "x"),
  c("BITPOS", "s", "1", "x"), c("BITPOS", "s", "1", "0", "x"), c("BITPOS", "s", "1", "0", "1", "FOO"), c("BITPOS", "s", "1", "0", "x", "FOO"),
  c("BITPOS", "s", "1", "x", "1", "FOO"), c("BITPOS", "s", "1", "0", "1", "BIT", "x"), c("BITPOS", "s", "1", "1.5"), c("BITPOS", "s"), c("BITPOS"),
];

const operations: Case[] = [
  c("SET", "a", "foobar"), c("SET", "b", "abcdef"), c("SET", "short", "xy"), c("BITOP", "AND", "d", "a", "b"), c("GET", "d"), c("BITOP", "OR", "d", "a", "b"),
  c("GET", "d"), c("BITOP", "XOR", "d", "a", "b"), c("GET", "d"), c("BITOP", "NOT", "d", "a"), c("GET", "d"), c("BITOP", "and", "d", "a", "b", "short"),
  c("GET", "d"), c("BITOP", "or", "d", "short", "a"), c("GET", "d"), c("BITOP", "xor", "d", "short", "a", "b"), c("GET", "d"), c("BITOP", "Not", "d", "short"),
  c("GET", "d"), c("BITOP", "AND", "d", "a"), c("GET", "d"), c("BITOP", "XOR", "d", "a", "a"), c("GET", "d"), c("STRLEN", "d"),
  // missing keys read as empty strings (zero bytes)
  c("BITOP", "AND", "d", "a", "nope"), c("GET", "d"), c("BITOP", "OR", "d", "nope", "short"), c("GET", "d"), c("BITOP", "NOT", "d", "nope"),
  c("EXISTS", "d"), c("SET", "d", "x"), c("BITOP", "AND", "d", "nope", "nope2"), c("EXISTS", "d"), c("SET", "e", ""), c("SET", "d", "x"),
  c("BITOP", "OR", "d", "e"), c("EXISTS", "d"), c("BITOP", "XOR", "d", "e", "short"), c("GET", "d"),
  // the destination is overwritten whatever it held, and its TTL goes; the source may be the destination
  c("RPUSH", "list", "x"), c("BITOP", "OR", "list", "a"), c("TYPE", "list"), c("GET", "list"), c("SET", "ttl", "v", "EXAT", y2100),
  c("BITOP", "OR", "ttl", "a"), c("TTL", "ttl"), c("SET", "ttl", "v", "EXAT", y2100), c("BITOP", "NOT", "ttl", "ttl"), c("GET", "ttl"), c("TTL", "ttl"),
  c("SET", "self", "abc"), c("BITOP", "XOR", "self", "self", "short"), c("GET", "self"), c("RPUSH", "list2", "x"), c("BITOP", "AND", "list2", "nope"),
  c("EXISTS", "list2"),
  // a source of another type: WRONGTYPE, and the destination stays
  c("SET", "d", "keep"), c("RPUSH", "l", "x"), c("BITOP", "AND", "d", "a", "l"), c("BITOP", "NOT", "d", "l"), c("GET", "d"), c("BITOP", "OR", "d", "l", "nope"),
  // long strings, different lengths
  ...allOnes("ones", 200), c("SETBIT", "sparse", "900", "1"), c("BITOP", "AND", "d", "ones", "sparse"), c("BITCOUNT", "d"), c("STRLEN", "d"),
  c("BITOP", "XOR", "d", "ones", "sparse", "a"), c("BITCOUNT", "d"), c("BITPOS", "d", "0"), c("BITOP", "NOT", "d", "ones"), c("BITCOUNT", "d"), c("STRLEN", "d"),
  c("BITOP", "OR", "d", "sparse", "a", "b", "short", "nope"), c("BITCOUNT", "d"), c("GETRANGE", "d", "0", "7"),
  // errors
  c("BITOP", "NOT", "d", "a", "b"), c("BITOP", "NOT", "d", "nope", "nope"), c("BITOP", "NOT", "d", "l", "a"), c("BITOP", "FOO", "d", "a"),
  c("BITOP", "ANDX", "d", "a"), c("BITOP", "", "d", "a"), c("BITOP", "DIFF", "d", "a", "b"), c("BITOP", "ONE", "d", "a", "b"), c("BITOP", "AND", "d"),
  c("BITOP", "NOT", "d"), c("BITOP", "AND"), c("BITOP"), c("GET", "d"),
];

const fields: Case[] = [
  // GET, SET and INCRBY of signed and unsigned fields, replies as Redis gives them
  c("BITFIELD", "f", "SET", "u8", "0", "255", "GET", "u8", "0", "GET", "i8", "0", "GET", "u4", "0", "GET", "i4", "4", "GET", "u1", "7"), c("GET", "f"),
  c("BITFIELD", "f", "SET", "i5", "3", "-7", "GET", "i5", "3", "GET", "u16", "0", "GET", "i16", "0", "GET", "u3", "13"), c("GET", "f"),
  c("BITFIELD", "f", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1"), c("STRLEN", "f"),
  c("BITFIELD", "f", "incrby", "i8", "8", "100", "incrby", "i8", "8", "100", "get", "i8", "8", "set", "i8", "8", "-128", "incrby", "i8", "8", "-1"),
  c("BITFIELD", "g", "SET", "i64", "0", "-9223372036854775808", "GET", "i64", "0", "GET", "u63", "0", "GET", "u63", "1", "INCRBY", "i64", "0", "-1"),
  c("BITFIELD", "g", "SET", "i64", "3", "9223372036854775807", "GET", "i64", "3", "INCRBY", "i64", "3", "1", "GET", "u63", "4", "GET", "i63", "4"),
  c("BITFIELD", "g", "SET", "u63", "0", "9223372036854775807", "GET", "u63", "0", "INCRBY", "u63", "0", "1", "INCRBY", "u63", "0", "-1"), c("GET", "g"),
  c("BITFIELD", "g", "GET", "i64", "60", "GET", "u32", "100", "GET", "i1", "0", "GET", "u1", "0", "GET", "i1", "1", "GET", "i64", "129"),
  // overflow: WRAP (the default), SAT, FAIL (a null, nothing written), for each op after it
  c("BITFIELD", "o", "SET", "u8", "0", "300", "GET", "u8", "0", "SET", "i8", "8", "200", "GET", "i8", "8", "SET", "u8", "16", "-1", "GET", "u8", "16"),
  c("BITFIELD", "o", "OVERFLOW", "SAT", "SET", "u8", "0", "300", "GET", "u8", "0", "SET", "i8", "8", "200", "GET", "i8", "8", "SET", "i8", "8", "-200", "GET", "i8", "8"),
  c("BITFIELD", "o", "OVERFLOW", "sat", "SET", "u8", "16", "-1", "GET", "u8", "16", "SET", "u8", "16", "-9223372036854775808", "GET", "u8", "16"),
  c("BITFIELD", "o", "OVERFLOW", "FAIL", "SET", "u8", "0", "300", "GET", "u8", "0", "SET", "u8", "0", "7", "SET", "i8", "8", "-129", "SET", "u8", "16", "-1", "GET", "u8", "16"),
  c("BITFIELD", "o", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "249", "INCRBY", "u8", "0", "249", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "249", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "249"),
  c("BITFIELD", "o", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "-1000", "INCRBY", "i8", "8", "-1000", "INCRBY", "i8", "8", "1000", "OVERFLOW", "FAIL", "INCRBY", "i8", "8", "1", "INCRBY", "i8", "8", "-1"),
  c("BITFIELD", "o", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "-1000", "INCRBY", "i8", "8", "-1000", "INCRBY", "i8", "8", "1000", "INCRBY", "u8", "0", "9223372036854775807"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "SET", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "1", "INCRBY", "i64", "0", "-1", "INCRBY", "i64", "0", "-9223372036854775808"),
  c("BITFIELD", "w", "OVERFLOW", "SAT", "SET", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "1", "SET", "i64", "0", "-2", "INCRBY", "i64", "0", "-9223372036854775808", "INCRBY", "i64", "0", "-9223372036854775808"),
  c("BITFIELD", "w", "OVERFLOW", "FAIL", "SET", "i64", "0", "1", "INCRBY", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "9223372036854775806", "INCRBY", "i64", "0", "1"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "SET", "u63", "0", "-1", "GET", "u63", "0", "INCRBY", "u63", "0", "5", "OVERFLOW", "SAT", "INCRBY", "u63", "0", "-9223372036854775808", "SET", "u63", "0", "-1"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "SET", "i63", "0", "9223372036854775807", "GET", "i63", "0", "SET", "i63", "0", "-4611686018427387905", "GET", "i63", "0"),
  c("BITFIELD", "w", "OVERFLOW", "SAT", "SET", "i63", "0", "9223372036854775807", "GET", "i63", "0", "INCRBY", "i63", "0", "-9223372036854775808", "GET", "i32", "0"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "SET", "i1", "0", "1", "GET", "i1", "0", "SET", "i1", "0", "-1", "INCRBY", "i1", "0", "1", "INCRBY", "u1", "0", "3"),
  c("BITFIELD", "w", "OVERFLOW", "SAT", "SET", "i1", "0", "1", "INCRBY", "i1", "0", "-5", "INCRBY", "u1", "0", "3", "OVERFLOW", "FAIL", "INCRBY", "u1", "0", "1"),
  c("BITFIELD", "w", "INCRBY", "u33", "7", "8589934591", "INCRBY", "u33", "7", "2", "INCRBY", "i33", "7", "-4294967297", "INCRBY", "i48", "3", "140737488355327"),
  c("BITFIELD", "w", "INCRBY", "i48", "3", "1", "OVERFLOW", "SAT", "INCRBY", "i53", "0", "9007199254740993", "INCRBY", "u53", "0", "9007199254740993", "GET", "u56", "0"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "281474976710657", "SET", "i16", "8", "9007199254740993", "GET", "i16", "8", "INCRBY", "i32", "0", "4503599627370497"),
  c("BITFIELD", "w", "OVERFLOW", "WRAP", "INCRBY", "i32", "0", "-281474976710655", "INCRBY", "u32", "0", "-281474976710656", "SET", "u16", "0", "-281474976710657", "GET", "u16", "0"),
  c("BITFIELD", "w", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "281474976710657", "SET", "i16", "8", "-9007199254740993", "GET", "i16", "8", "SET", "u32", "0", "-281474976710656"),
  c("BITFIELD", "w", "SET", "u8", "#35184372088832", "1", "SET", "u8", "#35184372088833", "1", "GET", "i64", "#70368744177665", "GET", "u8", "#4611686018427387904"),
  c("GET", "w"),
  // a key created by writes that all fail still exists, grown to the farthest bit written
  c("BITFIELD", "made", "OVERFLOW", "FAIL", "SET", "i8", "0", "300"), c("GET", "made"), c("BITFIELD", "made2", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "300", "GET", "u8", "0"),
  c("STRLEN", "made2"), c("BITFIELD", "made2", "SET", "u1", "200", "0"), c("STRLEN", "made2"),
  // `#n` offsets: n times the width, the int64 product wrapping as Redis's does
  c("BITFIELD", "h", "SET", "u8", "#1", "65", "SET", "u8", "#2", "66", "GET", "u8", "#1", "GET", "u16", "#0", "GET", "i4", "#3"), c("GET", "h"),
  c("BITFIELD", "h", "SET", "i8", "#2305843009213693953", "67"), c("GET", "h"), c("BITFIELD", "h", "GET", "i8", "#2305843009213693952"),
  c("BITFIELD", "h", "GET", "i8", "#1152921504606846976"), c("BITFIELD", "h", "GET", "u8", "#536870911"), c("BITFIELD", "h", "GET", "u8", "#536870912"),
  c("BITFIELD", "h", "GET", "i64", "#67108863"), c("BITFIELD", "h", "GET", "i64", "#67108864"), c("BITFIELD", "h", "GET", "u8", "#"), c("BITFIELD", "h", "GET", "u8", "#-1"),
  c("BITFIELD", "h", "GET", "u8", "##1"), c("BITFIELD", "h", "GET", "u8", "#01"), c("BITFIELD", "h", "GET", "u8", "#9223372036854775808"),
  c("BITFIELD", "h", "GET", "u8", "4294967295"), c("BITFIELD", "h", "GET", "i64", "4294967295"), c("BITFIELD", "h", "GET", "u8", "4294967296"), c("BITFIELD", "h", "GET", "u8", "-1"),
  // types
  c("BITFIELD", "h", "GET", "u64", "0"), c("BITFIELD", "h", "GET", "i65", "0"), c("BITFIELD", "h", "GET", "i0", "0"), c("BITFIELD", "h", "GET", "u0", "0"),
  c("BITFIELD", "h", "GET", "I8", "0"), c("BITFIELD", "h", "GET", "U8", "0"), c("BITFIELD", "h", "GET", "i08", "0"), c("BITFIELD", "h", "GET", "i+8", "0"),
  c("BITFIELD", "h", "GET", "i-8", "0"), c("BITFIELD", "h", "GET", "i", "0"), c("BITFIELD", "h", "GET", "8", "0"), c("BITFIELD", "h", "GET", "x8", "0"),
  c("BITFIELD", "h", "GET", "", "0"), c("BITFIELD", "h", "GET", "i64", "0", "GET", "u63", "0"),
  // syntax and argument errors, the first met answering, before anything is written
  c("BITFIELD", "h", "GET", "u8"), c("BITFIELD", "h", "SET", "u8", "0"), c("BITFIELD", "h", "INCRBY", "u8", "0"), c("BITFIELD", "h", "FOO", "u8", "0"),
  c("BITFIELD", "h", "OVERFLOW"), c("BITFIELD", "h", "OVERFLOW", "FOO"), c("BITFIELD", "h", "OVERFLOW", "FOO", "GET", "u99", "0"), c("BITFIELD", "h", "OVERFLOW", "wraps"),
  c("BITFIELD", "h", "SET", "u8", "0", "x"), c("BITFIELD", "h", "SET", "u8", "0", "1.5"), c("BITFIELD", "h", "INCRBY", "u8", "0", "9223372036854775808"),
  c("BITFIELD", "h", "SET", "u8", "0", "1", "GET", "u99", "0"), c("BITFIELD", "h", "SET", "u8", "0", "1", "GET", "u8", "x"), c("BITFIELD", "h", "SET", "u8", "0", "1", "GET"),
  c("BITFIELD", "h", "GET", "u99", "x"), c("BITFIELD", "h", "SET", "u8", "x", "y"), c("GET", "h"), c("BITFIELD", "h", "GET", "u8", "0", "extra"),
  c("BITFIELD", "h"), c("BITFIELD", "nope"), c("BITFIELD", "nope", "GET", "u8", "0", "GET", "i64", "100"), c("EXISTS", "nope"), c("BITFIELD"),
  c("BITFIELD", "h", "OVERFLOW", "SAT"), c("BITFIELD", "h", "overflow", "fail", "overflow", "wrap"), c("BITFIELD", "nope", "OVERFLOW", "FAIL"), c("EXISTS", "nope"),
  // other types; the TTL stays
  c("RPUSH", "list", "a"), c("BITFIELD", "list"), c("BITFIELD", "list", "GET", "u8", "0"), c("BITFIELD", "list", "SET", "u8", "0", "1"),
  c("BITFIELD", "list", "GET", "u99", "0"), c("BITFIELD", "list", "OVERFLOW", "FAIL", "SET", "u8", "0", "1000"), c("TYPE", "list"),
  c("SET", "t", "abc", "EXAT", y2100), c("BITFIELD", "t", "SET", "u8", "40", "1"), c("EXPIRETIME", "t"), c("GET", "t"), c("BITFIELD", "t", "INCRBY", "u8", "0", "1"),
  c("EXPIRETIME", "t"), c("GET", "t"),
  // BITFIELD_RO: GETs only
  c("BITFIELD_RO", "h", "GET", "u8", "0", "GET", "i16", "#1"), c("BITFIELD_RO", "h"), c("BITFIELD_RO", "nope", "GET", "u8", "0"), c("BITFIELD_RO", "h", "SET", "u8", "0", "1"),
  c("BITFIELD_RO", "h", "INCRBY", "u8", "0", "1"), c("BITFIELD_RO", "h", "GET", "u8", "0", "SET", "u8", "0", "1"), c("BITFIELD_RO", "nope", "SET", "u8", "0", "1"),
  c("EXISTS", "nope"), c("BITFIELD_RO", "h", "SET", "u8", "x", "1"), c("BITFIELD_RO", "h", "GET", "u64", "0"), c("BITFIELD_RO", "h", "OVERFLOW", "SAT"),
  c("BITFIELD_RO", "h", "OVERFLOW", "BAD", "GET", "u8", "0"), c("BITFIELD_RO", "h", "OVERFLOW", "SAT", "GET", "u8", "0"), c("BITFIELD_RO", "list", "GET", "u8", "0"),
  c("BITFIELD_RO", "list", "SET", "u8", "0", "1"), c("BITFIELD_RO", "list"), c("BITFIELD_RO", "h", "GET"), c("BITFIELD_RO", "h", "FOO"), c("BITFIELD_RO"),
  c("GET", "h"),
];

/** Every width, signed and unsigned, at an offset that straddles bytes, with values at and past its limits, under each overflow. */
function widths(): Case[] {
  const cases: Case[] = [];
  for (const bits of [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 52, 53, 54, 62, 63, 64]) {
    for (const signed of [true, false]) {
      if (!signed && bits === 64) continue;
      const type = `${signed ? "i" : "u"}${bits}`;
      const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
      const min = signed ? -max - 1n : 0n;
      const values = [max, max + 1n, min, min - 1n, -1n, 3n, -(1n << 63n), (1n << 63n) - 1n].filter((value) => value <= (1n << 63n) - 1n && value >= -(1n << 63n));
      const key = `w${type}`;
      for (const overflow of ["WRAP", "SAT", "FAIL"]) {
        const ops = values.flatMap((value) => ["SET", type, "5", String(value), "GET", type, "5", "INCRBY", type, "5", String(value), "GET", type, "5"]);
        cases.push(c("BITFIELD", key, "OVERFLOW", overflow, ...ops));
      }
      cases.push(c("GET", key));
    }
  }
  return cases;
}

/**
 * What else may hold a bitmap's bytes when SETBIT changes them in place: a reply that waits (EXEC
 * answers after all its commands), a second key (COPY shares a string, RENAME moves it).
 */
const holders: Case[] = [
  c("SETBIT", "k", "7", "1"), c("MULTI"), c("GETEX", "k"), c("SETBIT", "k", "6", "1"), c("GET", "k"), c("SETBIT", "k", "30", "1"), c("GETEX", "k", "PERSIST"),
  c("SETBIT", "k", "5", "1"), c("SET", "k", "x", "NX", "GET"), c("BITFIELD", "k", "SET", "u8", "0", "255"), c("GETRANGE", "k", "0", "0"), c("EXEC"), c("GET", "k"),
  c("SETBIT", "k", "100", "1"), c("COPY", "k", "copy"), c("SETBIT", "k", "0", "0"), c("SETBIT", "copy", "1", "0"), c("GET", "k"), c("GET", "copy"),
  c("SETBIT", "copy", "200", "1"), c("GET", "k"), c("STRLEN", "copy"), c("RENAME", "copy", "moved"), c("SETBIT", "moved", "2", "0"), c("GET", "moved"),
  c("GET", "k"), c("MULTI"), c("GETDEL", "moved"), c("SETBIT", "moved", "0", "1"), c("GETSET", "moved", "y"), c("EXEC"), c("GET", "moved"),
  c("MULTI"), c("BITOP", "OR", "k2", "k", "k"), c("SETBIT", "k", "3", "1"), c("GET", "k2"), c("APPEND", "k", "z"), c("SETBIT", "k", "4", "1"), c("EXEC"),
];

describe("the bitmap commands answer as redis-server does", () => {
  diffTests(servers, "SETBIT, GETBIT", setAndGetBit);
  diffTests(servers, "BITCOUNT", counts);
  diffTests(servers, "BITPOS", positions);
  diffTests(servers, "BITOP", operations);
  diffTests(servers, "BITFIELD, BITFIELD_RO", fields);
  diffTests(servers, "BITFIELD widths and overflow", widths());
  diffTests(servers, "bitmaps changed in place while a reply or another key holds them", holders);
});

// ---------------------------------------------------------------------------------------------
// In process

/** The bits of `bytes`, most significant first (bit 0 is the top bit of the first byte). */
function bitsOf(bytes: Uint8Array): number[] {
  return Array.from({ length: bytes.length * 8 }, (_, i) => ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1);
}

/** Redis's range rule, for the reference: negative from the end, clamped; null when empty. */
function referenceRange(start: number, end: number, total: number): [number, number] | null {
  if (start < 0) start += total;
  if (end < 0) end += total;
  start = Math.max(0, start);
  end = Math.min(Math.max(0, end), total - 1);
  return start > end ? null : [start, end];
}

/** BITCOUNT key start end unit, bit by bit. */
function referenceCount(bytes: Uint8Array, start: number, end: number, inBits: boolean): number {
  if (start < 0 && end < 0 && start > end) return 0;
  const range = referenceRange(start, end, inBits ? bytes.length * 8 : bytes.length);
  if (range === null) return 0;
  const [from, to] = inBits ? range : [range[0] * 8, range[1] * 8 + 7];
  return bitsOf(bytes).slice(from, to + 1).filter((one) => one === 1).length;
}

/** BITPOS key bit start [end [unit]], bit by bit. */
function referencePosition(bytes: Uint8Array, bit: number, start: number, end: number | null, inBits: boolean): number {
  const range = referenceRange(start, end ?? -1, inBits ? bytes.length * 8 : bytes.length);
  if (range === null) return -1;
  const [from, to] = inBits ? range : [range[0] * 8, range[1] * 8 + 7];
  const found = bitsOf(bytes).findIndex((one, i) => i >= from && i <= to && one === bit);
  if (found >= 0) return found;
  return bit === 0 && end === null ? to + 1 : -1;
}

/** Bytes mostly in long runs of 0x00 or 0xff (so whole words are skipped), with a few others. */
const runs = fc
  .array(fc.record({ byte: fc.constantFrom(0x00, 0xff, 0x01, 0x80, 0xfe, 0x7f, 0x5a), length: fc.integer({ min: 1, max: 90 }) }), { maxLength: 6 })
  .map((parts) => Uint8Array.from(parts.flatMap(({ byte, length }) => Array.from({ length }, () => byte))));

describe("in process", () => {
  test("BITCOUNT and BITPOS agree with a bit-by-bit reference on strings at every alignment", () => {
    const h = new CloneHarness();
    fc.assert(
      fc.property(runs, fc.integer({ min: 0, max: 7 }), fc.integer({ min: -900, max: 900 }), fc.integer({ min: -900, max: 900 }), fc.boolean(), fc.boolean(), (bytes, shift, start, end, inBits, withEnd) => {
        // The string starts `shift` bytes into its buffer: the word-at-a-time paths meet every alignment.
        const placed = new Uint8Array(bytes.length + shift);
        placed.set(bytes, shift);
        h.leader.keyspace.set("k", placed.subarray(shift));
        const unit = inBits ? "BIT" : "BYTE";
        expect(h.run("BITCOUNT", "k", String(start), String(end), unit)).toBe(referenceCount(bytes, start, end, inBits));
        for (const bit of [0, 1]) {
          const args = withEnd ? [String(start), String(end), unit] : [String(start)];
          expect(h.run("BITPOS", "k", String(bit), ...args)).toBe(referencePosition(bytes, bit, start, withEnd ? end : null, withEnd && inBits));
        }
      }),
      { numRuns: 400 },
    );
  });

  test("a snapshot captured while SETBITs change a large bitmap in place holds exactly the bytes of the capture", () => {
    const h = new CloneHarness();
    const db = h.leader.keyspace;
    const bitmapBits = 8 * 1024 * 1024;
    // A 1 MB bitmap, made and changed by SETBIT (so in place): the model follows every write.
    const model = new Uint8Array(2 * 1024 * 1024);
    const setBit = (offset: number, bit: number): void => {
      h.run("SETBIT", "big", String(offset), String(bit));
      if (bit === 1) model[offset >> 3] = (model[offset >> 3] as number) | (0x80 >> (offset & 7));
      else model[offset >> 3] = (model[offset >> 3] as number) & ~(0x80 >> (offset & 7));
    };
    setBit(bitmapBits - 1, 1);
    for (let i = 0; i < 1000; i++) setBit((i * 7919) % bitmapBits, 1);
    h.run("SET", "other", "v");
    const before = db.get("big") as Uint8Array;
    const atCapture = Buffer.from(before);

    const captured = db.capture();
    // The first write after the capture copies; the next ones change that copy in place.
    setBit(12345, 1);
    const copy = db.get("big") as Uint8Array;
    expect(copy).not.toBe(before);
    for (let i = 0; i < 2000; i++) setBit((i * 104729) % bitmapBits, i % 2);
    expect(db.get("big")).toBe(copy);
    // Past the end: the bitmap grows (into spare room, or a bigger buffer), still not seen by the capture.
    setBit(bitmapBits + 100, 1);
    h.run("BITFIELD", "big", "SET", "u32", String(bitmapBits + 4096), "4294967295", "INCRBY", "i8", "0", "-3");
    model.set([0xff, 0xff, 0xff, 0xff], (bitmapBits + 4096) / 8);
    model[0] = ((model[0] as number) - 3) & 0xff;

    const seen = new Map<string, Buffer>();
    while (captured.next()) seen.set(captured.key, Buffer.from(captured.value as Uint8Array));
    captured.release();
    expect(seen.get("other")?.toString()).toBe("v");
    expect(seen.get("big")?.equals(atCapture)).toBe(true);
    const now = db.get("big") as Uint8Array;
    expect(now.length).toBe((bitmapBits + 4096) / 8 + 4);
    expect(Buffer.from(now).equals(Buffer.from(model.subarray(0, now.length)))).toBe(true);
    // With no capture running, a write changes the bytes in place again.
    setBit(1, 1);
    expect(db.get("big")).toBe(now);
    const [leader, replica] = h.digests();
    expect(leader).toBe(replica);
  });

  test("SETBIT past the end grows into spare room: a few buffers for thousands of bytes", () => {
    const h = new CloneHarness();
    const buffers = new Set<ArrayBufferLike>();
    for (let offset = 0; offset < 8 * 20_000; offset += 8) {
      h.run("SETBIT", "grow", String(offset), "1");
      buffers.add((h.leader.keyspace.get("grow") as Uint8Array).buffer);
    }
    expect(h.run("STRLEN", "grow")).toBe(20_000);
    expect(h.run("BITCOUNT", "grow")).toBe(20_000);
    // Doubling from 16 bytes: 16, 32, ... 32768.
    expect(buffers.size).toBeLessThanOrEqual(12);
  });

  test("argument errors never reach the log; BITFIELD with only GETs is a read", () => {
    const h = new CloneHarness();
    h.run("SETBIT", "b", "3", "1");
    const before = h.log.length;
    expect(h.run("SETBIT", "b", "4294967296", "1")).toEqual({ error: "ERR bit offset is not an integer or out of range" });
    expect(h.run("SETBIT", "b", "1", "2")).toEqual({ error: "ERR bit is not an integer or out of range" });
    expect(h.run("BITOP", "NOT", "d", "b", "b")).toEqual({ error: "ERR BITOP NOT must be called with a single source key." });
    expect(h.run("BITFIELD", "b", "GET", "u64", "0")).toEqual({
      error: "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    });
    expect(h.run("BITFIELD", "b", "GET", "u8", "0", "GET", "i4", "#1")).toEqual([16, 0]);
    expect(h.run("BITFIELD_RO", "b", "SET", "u8", "0", "1")).toEqual({ error: "ERR BITFIELD_RO only supports the GET subcommand" });
    expect(h.run("GETBIT", "b", "3")).toBe(1);
    expect(h.log.length).toBe(before);
    expect(h.run("BITFIELD", "b", "OVERFLOW", "FAIL", "INCRBY", "u4", "0", "100")).toEqual([null]);
    expect(h.log.length).toBe(before + 1);
  });
});

describe("a 3-node cluster", () => {
  const cluster = new InProcessNodes("bits");

  test("applies a mix of bitmap writes alike on every node (DEBUG DIGEST)", async () => {
    const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });
    const writes: string[][] = [];
    for (let i = 0; i < 30; i++) {
      writes.push(["SETBIT", `b${i % 3}`, String((i * 7717) % 200_000), String(i % 2 === 0 ? 1 : 0)]);
      writes.push(["BITFIELD", `b${(i + 1) % 3}`, "OVERFLOW", i % 2 === 0 ? "SAT" : "WRAP", "INCRBY", "i12", `#${i * 3}`, String(i * 301 - 4000), "SET", "u7", String(i * 13), String(i * 9)]);
      writes.push(["BITOP", ["AND", "OR", "XOR"][i % 3] as string, `op${i % 2}`, `b${i % 3}`, `b${(i + 2) % 3}`]);
      if (i % 5 === 0) writes.push(["BITOP", "NOT", "not", `op${i % 2}`], ["COPY", `b${i % 3}`, "copied", "REPLACE"], ["SETBIT", "copied", String(i), "1"]);
      if (i % 7 === 0) writes.push(["PEXPIRE", `b${i % 3}`, "3600000"], ["SETBIT", `b${i % 3}`, "5", "1"]);
    }
    await writeEach(first.port, writes);
    const ports = cluster.nodes.map((node) => node.port);
    await awaitSameDigest(ports);
    for (const port of ports) expect(await callPort(port, "DBSIZE")).toBe(7);
  });
});
