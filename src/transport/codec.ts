/**
 * Raft messages on the wire: a batch of messages is one msgpack array, carried as the argument of
 * one `RAFTMSG` command. The data of a large entry (`separateDataBytesMin` or more) travels as an
 * argument of its own after the batch, `RAFTMSG <batch> <data> ...`, and the entry in the batch
 * holds the number of that argument (0 for the first after the batch) instead of its bytes: the
 * sender writes the bytes it holds, without copying them into the batch once per follower, and
 * the receiver gets them as they arrived. Whatever arrives from the network is checked field by
 * field before it reaches the core: a truncated, corrupted or hostile payload is rejected as a
 * value (an error string), never trusted and never able to crash the node.
 */
import { Packr, Unpackr } from "msgpackr";
import {
  asIndex,
  asNodeId,
  asTerm,
  type Entry,
  type EntryType,
  type Membership,
  type Message,
  type Snapshot,
} from "../raft/types.ts";

// Records off: plain maps and arrays, so the format is simple msgpack that any tool can read.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** About how many bytes `message` packs to: its entries' or its snapshot's data, and some more. */
export function messageBytesEstimate(message: Message): number {
  let bytes = 256;
  if (message.type === "append") for (const entry of message.entries) bytes += entry.data.byteLength + 64;
  else if (message.type === "snapshot") bytes += message.snapshot.data.byteLength;
  return bytes;
}

/** A batch estimated at this many bytes or more is packed into a buffer of its own. */
const ownBufferBytesMin = 256 * 1024;
/** The size of the buffer small batches are packed into after such a batch. */
const sharedBufferBytes = 64 * 1024;

/** Entry data at least this long goes as an argument of its own (see above). */
export const separateDataBytesMin = 64 * 1024;

/** A batch ready for `RAFTMSG`: the packed messages, then the data that travels separately. */
export interface EncodedBatch {
  readonly payload: Uint8Array;
  readonly data: readonly Uint8Array[];
}

const noData: readonly Uint8Array[] = [];

/**
 * Encodes a batch for `RAFTMSG`, taking large entries' data out of it (the entries then hold the
 * numbers of their data's arguments). `bytesEstimate` is the sum of `messageBytesEstimate`.
 */
export function encodeBatch(messages: readonly Message[], bytesEstimate = 0): EncodedBatch {
  let packed: Message[] | null = null;
  let data: Uint8Array[] | null = null;
  let estimate = bytesEstimate;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (message.type !== "append" || !message.entries.some((entry) => entry.data.byteLength >= separateDataBytesMin)) continue;
    packed ??= messages.slice();
    const separate = (data ??= []);
    packed[i] = {
      ...message,
      entries: message.entries.map((entry) => {
        if (entry.data.byteLength < separateDataBytesMin) return entry;
        estimate -= entry.data.byteLength;
        separate.push(entry.data);
        // The number of the argument, where the bytes would be (decoded by `entryData`).
        return { ...entry, data: separate.length - 1 } as unknown as Entry;
      }),
    };
  }
  return { payload: encodeMessages(packed ?? messages, estimate), data: data ?? noData };
}

/**
 * Encodes a batch of messages; `bytesEstimate` is the sum of `messageBytesEstimate` over them.
 *
 * msgpackr packs every value into one buffer that it shares between calls (and between Packr
 * instances), and grows it to four times what a large value needs: a 10 MB entry cost a fresh
 * 40 MB buffer per follower, whose pages the kernel faults in one by one, and small batches were
 * then carved out of it and of its successors of the same size. So a large batch is packed into a
 * buffer of its own, sized to fit, and the batches after it into a fresh small one (the old
 * buffers stay with the views packed into them).
 */
export function encodeMessages(messages: readonly Message[], bytesEstimate = 0): Uint8Array {
  if (bytesEstimate < ownBufferBytesMin) return packr.pack(messages);
  packr.useBuffer(Buffer.allocUnsafe(bytesEstimate + 1024));
  const packed = packr.pack(messages);
  packr.useBuffer(Buffer.allocUnsafe(sharedBufferBytes));
  return packed;
}

/** A decoding failure: what was wrong, for the log line that reports the peer. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

type Fields = Record<string, unknown>;

function fail(why: string): never {
  throw new DecodeError(why);
}

function object(value: unknown, what: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) fail(`${what} is not a map`);
  return value as Fields;
}

/**
 * The largest term, index or counter accepted from a peer: 2^52, beyond any real value (an index a
 * million times a second for over a century) and far enough below 2^53 for a node to go on
 * counting from it. Without it, one message with term 2^53 - 1 (a safe integer) made the node
 * adopt that term durably, and its next election overflowed what the log can store: the node
 * stopped, and stopped again after every restart.
 */
const naturalMax = 2 ** 52;

function natural(fields: Fields, name: string): number {
  const value = fields[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > naturalMax) fail(`${name} is not a natural number`);
  return value;
}

function text(fields: Fields, name: string, bytesMax = 4096): string {
  const value = fields[name];
  if (typeof value !== "string" || value.length > bytesMax) fail(`${name} is not a short string`);
  return value;
}

function flag(fields: Fields, name: string): boolean {
  const value = fields[name];
  if (typeof value !== "boolean") fail(`${name} is not a boolean`);
  return value;
}

function bytes(fields: Fields, name: string): Uint8Array {
  const value = fields[name];
  if (!(value instanceof Uint8Array)) fail(`${name} is not binary`);
  return value;
}

const entryTypes: ReadonlySet<string> = new Set<EntryType>(["normal", "noop", "config"]);

/** The data that came after the batch being decoded, and which of it entries took. */
let separateData: readonly Uint8Array[] = noData;
let separateTaken: boolean[] = [];
/** `separateTaken` with no data after the batch: never written to. */
const noneTaken: boolean[] = [];

/** An entry's data: its bytes, or the number of the argument after the batch that holds them. */
function entryData(fields: Fields): Uint8Array {
  const value = fields["data"];
  if (typeof value !== "number") return bytes(fields, "data");
  if (!Number.isSafeInteger(value) || value < 0 || value >= separateData.length) {
    fail(`entry data is argument ${value} after the batch, which the frame does not have`);
  }
  if (separateTaken[value] === true) fail(`entry data argument ${value} is taken twice`);
  separateTaken[value] = true;
  return separateData[value]!;
}

function entry(value: unknown): Entry {
  const fields = object(value, "entry");
  const type = text(fields, "type");
  if (!entryTypes.has(type)) fail(`entry type '${type}' is unknown`);
  return {
    term: asTerm(natural(fields, "term")),
    index: asIndex(natural(fields, "index")),
    type: type as EntryType,
    data: entryData(fields),
  };
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) fail(`${what} is not a list of strings`);
  return value as string[];
}

function membership(value: unknown): Membership {
  const fields = object(value, "membership");
  const addresses = object(fields["addresses"], "addresses");
  const checked: Record<string, string> = {};
  for (const [id, address] of Object.entries(addresses)) {
    if (typeof address !== "string") fail("an address is not a string");
    checked[id] = address;
  }
  return {
    voters: stringList(fields["voters"], "voters").map(asNodeId),
    learners: stringList(fields["learners"], "learners").map(asNodeId),
    addresses: checked,
  };
}

function snapshot(value: unknown): Snapshot {
  const fields = object(value, "snapshot");
  const metadata = object(fields["metadata"], "snapshot metadata");
  return {
    metadata: {
      index: asIndex(natural(metadata, "index")),
      term: asTerm(natural(metadata, "term")),
      membership: membership(metadata["membership"]),
    },
    data: bytes(fields, "data"),
  };
}

/** Checks one decoded value and returns it as a Message, or throws DecodeError. */
function message(value: unknown): Message {
  const fields = object(value, "message");
  const base = {
    from: asNodeId(text(fields, "from")),
    to: asNodeId(text(fields, "to")),
    term: asTerm(natural(fields, "term")),
  };
  const type = fields["type"];
  switch (type) {
    case "append": {
      const entries = fields["entries"];
      if (!Array.isArray(entries)) fail("entries is not a list");
      return {
        ...base,
        type,
        prevIndex: asIndex(natural(fields, "prevIndex")),
        prevTerm: asTerm(natural(fields, "prevTerm")),
        entries: entries.map(entry),
        commit: asIndex(natural(fields, "commit")),
      };
    }
    case "appendResponse":
      return {
        ...base,
        type,
        reject: flag(fields, "reject"),
        index: asIndex(natural(fields, "index")),
        hintIndex: asIndex(natural(fields, "hintIndex")),
        hintTerm: asTerm(natural(fields, "hintTerm")),
      };
    case "heartbeat":
      return {
        ...base,
        type,
        commit: asIndex(natural(fields, "commit")),
        round: natural(fields, "round"),
        sentIndex: asIndex(natural(fields, "sentIndex")),
        sentTerm: asTerm(natural(fields, "sentTerm")),
      };
    case "heartbeatResponse":
      return {
        ...base,
        type,
        round: natural(fields, "round"),
        sentIndex: asIndex(natural(fields, "sentIndex")),
        holdsSent: flag(fields, "holdsSent"),
      };
    case "vote":
      return {
        ...base,
        type,
        pre: flag(fields, "pre"),
        lastIndex: asIndex(natural(fields, "lastIndex")),
        lastTerm: asTerm(natural(fields, "lastTerm")),
        transfer: flag(fields, "transfer"),
      };
    case "voteResponse": {
      const response = { ...base, type, pre: flag(fields, "pre"), reject: flag(fields, "reject") };
      return fields["notMemberAt"] === undefined ? response : { ...response, notMemberAt: asIndex(natural(fields, "notMemberAt")) };
    }
    case "snapshot":
      return { ...base, type, snapshot: snapshot(fields["snapshot"]) };
    case "timeoutNow":
      return { ...base, type };
    default:
      return fail(`message type '${String(type)}' is unknown`);
  }
}

/**
 * Decodes a batch; returns the messages, or an error string saying what was wrong with the
 * payload (the whole batch is refused then: a peer that sends garbage is not half-believed).
 */
export function decodeMessages(payload: Uint8Array, messagesMax: number, data: readonly Uint8Array[] = noData): Message[] | string {
  let value: unknown;
  try {
    value = unpackr.unpack(payload);
  } catch (error) {
    return `undecodable payload: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!Array.isArray(value)) return "payload is not a list of messages";
  if (value.length > messagesMax) return `payload holds ${value.length} messages, more than ${messagesMax}`;
  separateData = data;
  separateTaken = data.length === 0 ? noneTaken : new Array<boolean>(data.length).fill(false);
  try {
    const messages = value.map(message);
    if (separateTaken.includes(false)) return "the frame has data after the batch that no entry takes";
    return messages;
  } catch (error) {
    if (error instanceof DecodeError) return error.message;
    throw error;
  } finally {
    separateData = noData;
    separateTaken = noneTaken;
  }
}
