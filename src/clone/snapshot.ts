/**
 * The clone's snapshot format: msgpack records written one after the other.
 *
 * Format 6 (written now): as format 5, except that a stream's node is `[live, slots, last id, first id]`
 * (its first id is its key in Redis's radix tree, which XINFO STREAM describes), and its data has a
 * fourth element, null but
 * in the stream's last item, where it is `[entries added, max deleted id, groups]`: Redis 7.0's
 * counters for consumer groups, and the groups, each
 * `[name, last id, entries read, [[consumer name, seen time]...], [[id, consumer index, delivery time, delivery count]...]]`
 * (the pending entries in id order, each naming its consumer by its index in the list before).
 * A stream of an older format has added as many entries as it holds, deleted none, and no groups.
 *
 * Format 5 (still read): as format 4, except that a stream's data carries the layout of its
 * radix-tree nodes, which approximate trimming depends on (see stream.ts):
 * `[last id, [[id, [field, value...]]...], [[live, slots, last id]...]]`, each item the nodes whose
 * entries start among its own (a node emptied by MINID, at the end, in the last item). A stream
 * of an older format gets the layout appending its entries would make.
 *
 * Format 4 (still read): as format 3, except that a list's data is one byte string, its elements
 * packed: the count, each element's length, then the elements' bytes one after the other (count
 * and lengths as unsigned LEB128 varints). Writing and reading a list then costs a copy per
 * element rather than a msgpack item each.
 *
 * Format 3 (still read): as format 2, except that the items of a key with a TTL carry its expiry
 * time (ms since the epoch) as a fifth element, `[key, type, seq, data, expiresAt]`. Keys that
 * have expired but were not reclaimed yet are written too (they are part of the replicated state;
 * see keyspace.ts); restoring rebuilds the expiry heap.
 *
 * Format 2 (still read): a header `{ format: 2, keys, nextSeq }`, then records that are arrays of
 * items `[key, type, seq, data]`, about `recordElements` elements per record. A big aggregate is
 * split over several items with the same key, type and seq, which are appended to each other on
 * restore, so no record grows with the size of one value (a single string is one item).
 *
 *   type 0 string  data: bytes
 *   type 1 list    data: [element bytes...] in order
 *   type 2 set     data: [member bytes...] in the set's order
 *   type 3 hash    data: [field, value, field, value...]
 *   type 4 zset    data: [[member bytes...], scores as little-endian float64s (8 bytes each)]
 *   type 5 stream  data: [last id, [[id, [field, value...]]...]] (ids as "ms-seq" text)
 *
 * `seq` is the key's SCAN sequence number and `nextSeq` the next one to give (see keyspace.ts),
 * so a restored node continues the cursors of the node it came from.
 *
 * Format 1 (still read): a header `{ format: 1, keys }`, then records `[key, value, key, value...]`
 * of strings only.
 */
import { Packr, Unpackr } from "msgpackr";
import type { SnapshotReader, SnapshotWriter } from "../api.ts";
import { assert } from "../assert.ts";
import { latin1 } from "../resp/reader.ts";
import { bytesOf } from "./command.ts";
import { HashValue } from "./hash.ts";
import { type Captured, Keyspace, type Value } from "./keyspace.ts";
import { ListValue } from "./list.ts";
import { SetValue } from "./set.ts";
import { parseStreamId, type RestoredNode, type StreamId, type StreamNode, StreamValue } from "./stream.ts";
import { type Consumer, ConsumerGroup } from "./stream-groups.ts";
import { ZSetValue } from "./zset.ts";

export const snapshotFormat = 6;
/** Elements per record: big enough to be cheap, small enough to stream. */
const recordElements = 1024;
/**
 * An item whose data is bytes at least this long is a record of its own, its msgpack made by hand
 * around the data (`rawItemRecord`), which is written as it is: msgpackr would copy it into its
 * buffer, growing that buffer (with copies of its whole length) for every large value.
 */
const rawDataBytesMin = 64 * 1024;

const enum Type {
  String = 0,
  List = 1,
  Set = 2,
  Hash = 3,
  ZSet = 4,
  Stream = 5,
}

type Item = [Uint8Array, Type, number, unknown] | [Uint8Array, Type, number, unknown, number];

/** Elements `[from, to)` of `list`, packed as format 4 writes a list's data. */
function packList(list: ListValue, from: number, to: number): Uint8Array {
  let lengthsEnd = varintBytes(to - from);
  let total = 0;
  for (let i = from; i < to; i++) {
    const length = list.at(i).byteLength;
    lengthsEnd += varintBytes(length);
    total += length;
  }
  const packed = new Uint8Array(lengthsEnd + total);
  // One pass writes each element's length among the lengths and its bytes after them.
  let lengthAt = writeVarint(packed, 0, to - from);
  let at = lengthsEnd;
  for (let i = from; i < to; i++) {
    const element = list.at(i);
    lengthAt = writeVarint(packed, lengthAt, element.byteLength);
    if (element.byteLength <= shortElementBytes) {
      // Short elements are copied by hand: cheaper than a native call each.
      for (let j = 0; j < element.byteLength; j++) packed[at + j] = element[j]!;
    } else {
      packed.set(element, at);
    }
    at += element.byteLength;
  }
  return packed;
}

const shortElementBytes = 16;

/** Appends the elements of a packed list's data (`packList`) to `list`, each a copy of its own. */
function unpackList(list: ListValue, data: Uint8Array): void {
  const cut = (): never => {
    throw new Malformed("a packed list is cut short");
  };
  const [count, first] = readVarint(data, 0) ?? cut();
  const lengths: number[] = [];
  let at = first;
  for (let i = 0; i < count; i++) {
    const [length, next] = readVarint(data, at) ?? cut();
    lengths.push(length);
    at = next;
  }
  for (const length of lengths) {
    if (at + length > data.byteLength) cut();
    list.pushBack(data.slice(at, at + length));
    at += length;
  }
  if (at !== data.byteLength) throw new Malformed("a packed list has bytes past its elements");
}

/** Bytes of `value` (a non-negative safe integer) as an unsigned LEB128 varint. */
function varintBytes(value: number): number {
  let bytes = 1;
  for (let rest = value; rest >= 128; rest = Math.floor(rest / 128)) bytes++;
  return bytes;
}

/** Writes `value` as an unsigned LEB128 varint at `at`; returns the offset after it. */
function writeVarint(target: Uint8Array, at: number, value: number): number {
  let rest = value;
  while (rest >= 128) {
    target[at++] = (rest % 128) | 128;
    rest = Math.floor(rest / 128);
  }
  target[at++] = rest;
  return at;
}

/** The varint at `at` and the offset after it; null when it runs past the end or past 2^53. */
function readVarint(source: Uint8Array, at: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = at; i < source.byteLength; i++) {
    const byte = source[i]!;
    value += (byte & 127) * scale;
    if (byte < 128) return Number.isSafeInteger(value) ? [value, i + 1] : null;
    scale *= 128;
    if (scale > 2 ** 53) return null;
  }
  return null;
}

/** Items for one value, each with at most `recordElements` elements. */
function* itemsOf(key: Uint8Array, value: Value, seq: number): Generator<{ item: Item; elements: number }> {
  if (value instanceof Uint8Array) {
    yield { item: [key, Type.String, seq, value], elements: 1 };
    return;
  }
  switch (value.type) {
    case "list":
      for (let at = 0; at < value.size || at === 0; at += recordElements) {
        const to = Math.min(value.size, at + recordElements);
        yield { item: [key, Type.List, seq, packList(value, at, to)], elements: to - at };
      }
      return;
    case "set":
      for (let at = 0; at < value.size || at === 0; at += recordElements) {
        const members = value.members.slice(at, at + recordElements).map(bytesOf);
        yield { item: [key, Type.Set, seq, members], elements: members.length };
      }
      return;
    case "hash": {
      let flat: Uint8Array[] = [];
      for (const [field, fieldValue] of value.fields) {
        flat.push(bytesOf(field), fieldValue);
        if (flat.length >= 2 * recordElements) {
          yield { item: [key, Type.Hash, seq, flat], elements: flat.length / 2 };
          flat = [];
        }
      }
      if (flat.length > 0 || value.size === 0) yield { item: [key, Type.Hash, seq, flat], elements: flat.length / 2 };
      return;
    }
    case "zset": {
      let members: Uint8Array[] = [];
      let scores: number[] = [];
      const flush = (): { item: Item; elements: number } => {
        const packed = Buffer.alloc(scores.length * 8);
        scores.forEach((score, i) => packed.writeDoubleLE(score, i * 8));
        const item: Item = [key, Type.ZSet, seq, [members, packed]];
        const elements = members.length;
        members = [];
        scores = [];
        return { item, elements };
      };
      for (const [member, score] of value.entries()) {
        members.push(bytesOf(member));
        scores.push(score);
        if (members.length >= recordElements) yield flush();
      }
      if (members.length > 0 || value.size === 0) yield flush();
      return;
    }
    case "stream": {
      const lastId = `${value.lastId.ms}-${value.lastId.seq}`;
      const layout = value.layout();
      let node = 0;
      // Where the entries of `layout[node]` start.
      let nodeAt = 0;
      for (let at = 0; at < value.size || at === 0; at += recordElements) {
        const entries: Array<[string, Uint8Array[]]> = [];
        for (let i = at; i < Math.min(value.size, at + recordElements); i++) {
          const entry = value.at(i);
          entries.push([`${entry.id.ms}-${entry.id.seq}`, entry.fields.slice()]);
        }
        const last = at + recordElements >= value.size;
        const nodes: Array<[number, number, string, string]> = [];
        for (; node < layout.length && (nodeAt < at + recordElements || last); node++) {
          const { live, slots, lastId: nodeLastId, firstId } = layout[node] as StreamNode;
          nodes.push([live, slots, idText(nodeLastId), idText(firstId)]);
          nodeAt += live;
        }
        const meta = last ? streamMeta(value) : null;
        yield { item: [key, Type.Stream, seq, [lastId, entries, nodes, meta]], elements: Math.max(1, entries.length) };
        if (last) break;
      }
      return;
    }
  }
}

const idText = (id: StreamId): string => `${id.ms}-${id.seq}`;

/** A stream's group counters and groups, as format 6 writes them. */
function streamMeta(value: StreamValue): unknown[] {
  const groups: unknown[] = [];
  for (const [name, group] of value.groups ?? []) {
    const consumers = [...group.consumers.values()];
    const index = new Map(consumers.map((consumer, i) => [consumer, i]));
    groups.push([
      bytesOf(name),
      idText(group.lastId),
      group.entriesRead,
      consumers.map((consumer) => [bytesOf(consumer.name), consumer.seenTime]),
      group.pending.values().map((entry) => [idText(entry.id), index.get(entry.consumer), entry.deliveryTime, entry.deliveryCount]),
    ]);
  }
  return [value.entriesAdded, idText(value.maxDeletedId), groups];
}

/** Reads a stream's group counters and groups (format 6) into `value`. */
function fillStreamMeta(value: StreamValue, meta: unknown): void {
  if (!Array.isArray(meta) || meta.length !== 3 || !Number.isSafeInteger(meta[0]) || !Array.isArray(meta[2])) throw new Malformed("a stream's groups are not [entries added, max deleted id, groups]");
  value.entriesAdded = meta[0] as number;
  value.maxDeletedId = streamId(meta[1]);
  for (const data of meta[2] as unknown[]) {
    if (!Array.isArray(data) || data.length !== 5 || !(data[0] instanceof Uint8Array) || !Number.isSafeInteger(data[2]) || !Array.isArray(data[3]) || !Array.isArray(data[4])) {
      throw new Malformed("a consumer group is not [name, last id, entries read, consumers, pending]");
    }
    const group = new ConsumerGroup(streamId(data[1]), data[2] as number);
    const consumers: Consumer[] = [];
    for (const one of data[3] as unknown[]) {
      if (!Array.isArray(one) || one.length !== 2 || !(one[0] instanceof Uint8Array) || typeof one[1] !== "number") throw new Malformed("a consumer is not [name, seen time]");
      const name = latin1(one[0]);
      if (group.consumers.has(name)) throw new Malformed("a consumer repeats");
      consumers.push(group.consumer(name, one[1]));
    }
    for (const one of data[4] as unknown[]) {
      const consumer = Array.isArray(one) && one.length === 4 ? consumers[one[1] as number] : undefined;
      if (!Array.isArray(one) || consumer === undefined || typeof one[2] !== "number" || !Number.isSafeInteger(one[3])) throw new Malformed("a pending entry is not [id, consumer, time, count]");
      const id = streamId(one[0]);
      if (group.pending.find(id) !== undefined) throw new Malformed("a pending entry repeats");
      const entry = { id, consumer, deliveryTime: one[2] as number, deliveryCount: one[3] as number };
      group.pending.insert(entry);
      consumer.pending.insert(entry);
    }
    value.groups ??= new Map();
    const name = latin1(data[0]);
    if (value.groups.has(name)) throw new Malformed("a consumer group repeats");
    value.groups.set(name, group);
  }
}

/** msgpack's header of bytes (`bin`) of `length` bytes. */
function binHeader(length: number): number[] {
  if (length < 0x100) return [0xc4, length];
  if (length < 0x10000) return [0xc5, length >>> 8, length & 0xff];
  return [0xc6, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff];
}

/** msgpack of a non-negative integer, as msgpackr writes it (a float64 past 32 bits). */
function unsignedBytes(value: number): number[] {
  if (value < 0x80) return [value];
  if (value < 0x100) return [0xcc, value];
  if (value < 0x10000) return [0xcd, value >>> 8, value & 0xff];
  if (value < 0x100000000) return [0xce, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  const float = new Uint8Array(9);
  float[0] = 0xcb;
  new DataView(float.buffer).setFloat64(1, value);
  return [...float];
}

/**
 * The record `[[key, type, seq, data(, expiresAt)]]` in three parts whose concatenation is its
 * msgpack, byte for byte what `Packr.pack` makes of it: the bytes before the data, the data
 * itself (not copied), and the bytes after it.
 */
export function rawItemRecord(key: Uint8Array, type: number, seq: number, data: Uint8Array, expiresAt: number): [Uint8Array, Uint8Array, Uint8Array] {
  const before = [0x91, expiresAt === 0 ? 0x94 : 0x95, ...binHeader(key.byteLength)];
  const rest = [...unsignedBytes(type), ...unsignedBytes(seq), ...binHeader(data.byteLength)];
  const head = new Uint8Array(before.length + key.byteLength + rest.length);
  head.set(before);
  head.set(key, before.length);
  head.set(rest, before.length + key.byteLength);
  const after = expiresAt === 0 ? new Uint8Array(0) : Uint8Array.from(unsignedBytes(expiresAt));
  return [head, data, after];
}

/** Writes what `captured` holds, then releases it. */
export async function writeSnapshot(captured: Captured, writer: SnapshotWriter): Promise<void> {
  try {
    const packr = new Packr({ useRecords: false });
    await writer.write(packr.pack({ format: snapshotFormat, keys: captured.count, nextSeq: captured.nextSeq }));
    let record: Item[] = [];
    let elements = 0;
    // The keyspace goes on changing while this awaits; `captured` hands out each key as it was.
    let written = 0;
    while (captured.next()) {
      written++;
      const key = bytesOf(captured.key);
      const expiresAt = captured.expiresAt;
      for (const part of itemsOf(key, captured.value, captured.seq)) {
        const data = part.item[3];
        if (data instanceof Uint8Array && data.byteLength >= rawDataBytesMin) {
          // After the record so far (the order of items is kept), a record of its own.
          if (record.length > 0) await writer.write(packr.pack(record));
          record = [];
          elements = 0;
          for (const bytes of rawItemRecord(key, part.item[1], part.item[2], data, expiresAt)) if (bytes.byteLength > 0) await writer.write(bytes);
          continue;
        }
        record.push(expiresAt === 0 ? part.item : [...(part.item as [Uint8Array, Type, number, unknown]), expiresAt]);
        elements += part.elements;
        if (elements >= recordElements) {
          await writer.write(packr.pack(record));
          record = [];
          elements = 0;
        }
      }
    }
    if (record.length > 0) await writer.write(packr.pack(record));
    assert(written === captured.count, `a snapshot read ${written} keys of the ${captured.count} captured`);
  } finally {
    captured.release();
  }
}

class Malformed extends Error {
  constructor(what: string) {
    super(`snapshot is malformed: ${what}`);
  }
}

function bytesList(data: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(data) || !data.every((one) => one instanceof Uint8Array)) throw new Malformed(`${what} is not a list of byte strings`);
  return data as Uint8Array[];
}

function streamId(text: unknown): StreamId {
  const id = typeof text === "string" ? parseStreamId(text, 0n, { minMax: false, autoSeq: false }) : null;
  if (id === null || id.seq === null || !String(text).includes("-")) throw new Malformed(`bad stream id ${String(text)}`);
  return { ms: id.ms, seq: id.seq };
}

/**
 * Adds the data of one item to `value` (a fresh value of the item's type, or one being continued),
 * as snapshot format `format` writes it.
 */
function fill(value: Value, data: unknown, format: number): Value {
  if (value instanceof Uint8Array) {
    if (!(data instanceof Uint8Array)) throw new Malformed("a string is not bytes");
    return Uint8Array.from(data);
  }
  switch (value.type) {
    case "list":
      if (format >= 4) {
        if (!(data instanceof Uint8Array)) throw new Malformed("a list is not packed bytes");
        unpackList(value, data);
      } else {
        for (const element of bytesList(data, "a list")) value.pushBack(Uint8Array.from(element));
      }
      return value;
    case "set":
      for (const member of bytesList(data, "a set")) if (!value.add(latin1(member))) throw new Malformed("a set member repeats");
      return value;
    case "hash": {
      const flat = bytesList(data, "a hash");
      if (flat.length % 2 !== 0) throw new Malformed("a hash has a field without a value");
      for (let i = 0; i < flat.length; i += 2) {
        const field = latin1(flat[i] as Uint8Array);
        if (value.fields.has(field)) throw new Malformed("a hash field repeats");
        value.fields.set(field, Uint8Array.from(flat[i + 1] as Uint8Array));
      }
      return value;
    }
    case "zset": {
      if (!Array.isArray(data) || data.length !== 2 || !(data[1] instanceof Uint8Array)) throw new Malformed("a sorted set is not [members, scores]");
      const members = bytesList(data[0], "sorted set members");
      const scores = Buffer.from(data[1].buffer, data[1].byteOffset, data[1].byteLength);
      if (scores.length !== members.length * 8) throw new Malformed("a sorted set has not one score per member");
      members.forEach((member, i) => {
        const name = latin1(member);
        const score = scores.readDoubleLE(i * 8);
        if (value.scores.has(name) || Number.isNaN(score)) throw new Malformed("a sorted set member repeats or has no score");
        value.set(name, score);
      });
      return value;
    }
    case "stream": {
      const withLayout = format >= 5;
      const withGroups = format >= 6;
      if (!Array.isArray(data) || data.length !== (withGroups ? 4 : withLayout ? 3 : 2) || !Array.isArray(data[1]) || (withLayout && !Array.isArray(data[2]))) {
        throw new Malformed(withGroups ? "a stream is not [last id, entries, nodes, groups]" : withLayout ? "a stream is not [last id, entries, nodes]" : "a stream is not [last id, entries]");
      }
      for (const entry of data[1] as unknown[]) {
        if (!Array.isArray(entry) || entry.length !== 2) throw new Malformed("a stream entry is not [id, fields]");
        const id = streamId(entry[0]);
        const fields = bytesList(entry[1], "stream fields").map((field) => Uint8Array.from(field));
        if (value.size > 0 && compare(value.at(value.size - 1).id, id) >= 0) throw new Malformed("stream ids are not increasing");
        value.append({ id, fields });
      }
      value.lastId = streamId(data[0]);
      if (withGroups && data[3] !== null) fillStreamMeta(value, data[3]);
      if (withLayout) {
        const nodes = layouts.get(value) ?? [];
        layouts.set(value, nodes);
        for (const node of data[2] as unknown[]) {
          if (!Array.isArray(node) || node.length !== (withGroups ? 4 : 3) || !Number.isSafeInteger(node[0]) || !Number.isSafeInteger(node[1])) {
            throw new Malformed(withGroups ? "a stream node is not [live, slots, last id, first id]" : "a stream node is not [live, slots, last id]");
          }
          const lastId = streamId(node[2]);
          nodes.push(withGroups ? { live: node[0] as number, slots: node[1] as number, lastId, firstId: streamId(node[3]) } : { live: node[0] as number, slots: node[1] as number, lastId });
        }
      }
      return value;
    }
  }
}

/** The node layouts of the streams being read (format 5), set in place once each stream is whole. */
const layouts = new WeakMap<StreamValue, RestoredNode[]>();

function compare(a: StreamId, b: StreamId): number {
  return a.ms === b.ms ? (a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1) : a.ms < b.ms ? -1 : 1;
}

function fresh(type: unknown, epoch: number): Value {
  switch (type) {
    case Type.String:
      return new Uint8Array(0);
    case Type.List:
      return new ListValue(epoch);
    case Type.Set:
      return new SetValue(epoch);
    case Type.Hash:
      return new HashValue(epoch);
    case Type.ZSet:
      return new ZSetValue(epoch);
    case Type.Stream:
      return new StreamValue(epoch);
    default:
      throw new Malformed(`unknown type ${String(type)}`);
  }
}

/** Reads a snapshot of format 1 to 6 into a new keyspace. */
export async function readSnapshot(reader: SnapshotReader): Promise<Keyspace> {
  const bytes = await reader.readAll();
  const records = new Unpackr({ useRecords: false }).unpackMultiple(bytes) as unknown[];
  const header = records[0] as { format?: unknown; keys?: unknown; nextSeq?: unknown } | undefined;
  if (header === undefined || typeof header !== "object" || typeof header.keys !== "number") {
    throw new Error("snapshot is not a clone snapshot of a known format");
  }
  const db = new Keyspace();
  if (header.format === 1) {
    let seq = 1;
    for (const record of records.slice(1)) {
      if (!Array.isArray(record) || record.length % 2 !== 0) throw new Malformed("a record is not key/value pairs");
      for (let i = 0; i < record.length; i += 2) {
        const key: unknown = record[i];
        const value: unknown = record[i + 1];
        if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) throw new Malformed("an entry is not bytes");
        if (!db.restoreEntry(latin1(key), Uint8Array.from(value), seq++)) throw new Malformed("a key repeats");
      }
    }
  } else if (header.format === 2 || header.format === 3 || header.format === 4 || header.format === 5 || header.format === snapshotFormat) {
    const format = header.format;
    if (typeof header.nextSeq !== "number") throw new Malformed("no nextSeq in the header");
    const withExpiry = format >= 3;
    let currentKey: string | null = null;
    let current: { value: Value; type: unknown; seq: number; expiresAt: number } | null = null;
    const finish = (): void => {
      if (currentKey === null || current === null) return;
      const value = current.value;
      if (value instanceof StreamValue) {
        // Without a layout (an older format), the one appending the entries made stays.
        const layout = layouts.get(value);
        if (layout !== undefined && !value.restoreLayout(layout)) throw new Malformed("a stream's nodes do not hold its entries");
        layouts.delete(value);
      }
      if (!db.restoreEntry(currentKey, current.value, current.seq, current.expiresAt)) throw new Malformed("keys repeat or are out of order");
    };
    for (const record of records.slice(1)) {
      if (!Array.isArray(record)) throw new Malformed("a record is not a list of items");
      for (const item of record as unknown[]) {
        if (
          !Array.isArray(item) ||
          !(item.length === 4 || (withExpiry && item.length === 5)) ||
          !(item[0] instanceof Uint8Array) ||
          typeof item[2] !== "number"
        ) {
          throw new Malformed("an item is not [key, type, seq, data] or [key, type, seq, data, expiresAt]");
        }
        const expiresAt: unknown = item.length === 5 ? item[4] : 0;
        if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt) || expiresAt < 0) throw new Malformed("an expiry time is not a number");
        const key = latin1(item[0]);
        if (current !== null && key === currentKey) {
          if (item[1] !== current.type || item[2] !== current.seq || item[1] === Type.String) throw new Malformed("a continued value changes type");
          if (expiresAt !== current.expiresAt) throw new Malformed("a continued value changes its expiry time");
          current.value = fill(current.value, item[3], format);
          continue;
        }
        finish();
        currentKey = key;
        current = { value: fill(fresh(item[1], db.epoch), item[3], format), type: item[1], seq: item[2], expiresAt };
      }
    }
    finish();
    db.restoreNextSeq(header.nextSeq);
  } else {
    throw new Error(`snapshot format ${String(header.format)} is not one this clone knows (1 to ${snapshotFormat})`);
  }
  if (db.size !== header.keys) throw new Error(`snapshot holds ${db.size} keys, its header says ${String(header.keys)}`);
  for (const { value } of db.held()) {
    if (!(value instanceof Uint8Array) && value.type !== "stream" && value.size === 0) throw new Malformed(`key holds an empty ${value.type}`);
  }
  return db;
}
