/**
 * A tiny raw RESP client for tests: send any bytes (well-formed or hostile), read replies as
 * typed RESP2/RESP3 values, with a timeout on everything. It is deliberately independent of
 * `src/resp/` so that it can judge the server's output instead of agreeing with it.
 *
 *   const connection = await RespConnection.connect(port);
 *   expect(await connection.call("SET", "k", "v")).toEqual({ type: "simple", value: "OK" });
 *   connection.send("*1\r\n$4\r\nPING\r\n");      // raw bytes
 *   expect(plain(await connection.read())).toBe("PONG");
 *   connection.close();
 */
import { Socket } from "node:net";

/** One RESP reply. Integers and big numbers are bigint so that 64-bit values stay exact. */
export type RespValue =
  | { type: "simple"; value: string }
  | { type: "error"; value: string }
  | { type: "integer"; value: bigint }
  /** `$-1` (RESP2 null bulk) has value null. */
  | { type: "bulk"; value: Buffer | null }
  /** `*-1` (RESP2 null array) has value null. */
  | { type: "array"; value: RespValue[] | null }
  /** RESP3 `_`. */
  | { type: "null" }
  | { type: "boolean"; value: boolean }
  /** RESP3 `,`: `text` keeps the exact digits the server sent. */
  | { type: "double"; value: number; text: string }
  | { type: "bignumber"; value: bigint }
  | { type: "blob-error"; value: string }
  | { type: "verbatim"; format: string; value: Buffer }
  | { type: "map"; value: Array<[RespValue, RespValue]> }
  | { type: "set"; value: RespValue[] }
  | { type: "push"; value: RespValue[] }
  /** RESP3 `|`: attributes, returned as a frame of their own before the reply they annotate. */
  | { type: "attribute"; value: Array<[RespValue, RespValue]> };

/** A plain JavaScript view of a reply, convenient in assertions. */
export type PlainValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | { error: string }
  | PlainValue[]
  | Map<PlainValue, PlainValue>;

/** Nesting deeper than this from a server is a bug worth a clear error, not a stack overflow. */
const nestingDepthMax = 64;
/** Larger bulk replies than this are not expected in tests; treat as a protocol error. */
const bulkBytesMax = 512 * 1024 * 1024;
/** Aggregates longer than this are not expected in tests either. */
const aggregateLengthMax = 16 * 1024 * 1024;
const readTimeoutMillisecondsDefault = 10_000;
const connectTimeoutMillisecondsDefault = 5_000;

/** Thrown (internally) when the buffer ends before a complete value. */
const incomplete = Symbol("incomplete");

/** The server sent bytes that are not valid RESP. */
export class RespProtocolError extends Error {}

/**
 * An incremental RESP2/RESP3 parser: `push` bytes, then call `next` until it returns undefined.
 * Throws RespProtocolError on malformed input.
 */
export class RespParser {
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;

  push(chunk: Uint8Array): void {
    const rest = this.buffer.subarray(this.offset);
    this.buffer = rest.length === 0 ? Buffer.from(chunk) : Buffer.concat([rest, chunk]);
    this.offset = 0;
  }

  /** Bytes received and not yet parsed into a complete value. */
  get pendingBytes(): number {
    return this.buffer.length - this.offset;
  }

  /** The next complete value, or undefined if more bytes are needed. */
  next(): RespValue | undefined {
    if (this.offset >= this.buffer.length) return undefined;
    const start = this.offset;
    try {
      return this.parseValue(0);
    } catch (error) {
      this.offset = start;
      if (error === incomplete) return undefined;
      throw error;
    }
  }

  private line(): string {
    const end = this.buffer.indexOf("\r\n", this.offset, "latin1");
    if (end < 0) throw incomplete;
    const text = this.buffer.toString("utf8", this.offset, end);
    this.offset = end + 2;
    return text;
  }

  private integerLine(kind: string): number {
    const text = this.line();
    if (!/^-?\d+$/.test(text)) throw new RespProtocolError(`bad ${kind} length ${JSON.stringify(text)}`);
    return Number(text);
  }

  private blob(length: number): Buffer {
    if (length < 0 || length > bulkBytesMax) throw new RespProtocolError(`bad blob length ${length}`);
    if (this.buffer.length - this.offset < length + 2) throw incomplete;
    const bytes = Buffer.from(this.buffer.subarray(this.offset, this.offset + length));
    if (this.buffer[this.offset + length] !== 13 || this.buffer[this.offset + length + 1] !== 10) {
      throw new RespProtocolError(`blob of ${length} bytes not followed by CRLF`);
    }
    this.offset += length + 2;
    return bytes;
  }

  private aggregateLength(kind: string): number {
    const length = this.integerLine(kind);
    if (length < -1 || length > aggregateLengthMax) throw new RespProtocolError(`bad ${kind} length ${length}`);
    return length;
  }

  private values(count: number, depth: number): RespValue[] {
    const items: RespValue[] = [];
    for (let i = 0; i < count; i++) items.push(this.parseValue(depth + 1));
    return items;
  }

  private pairs(count: number, depth: number): Array<[RespValue, RespValue]> {
    const items: Array<[RespValue, RespValue]> = [];
    for (let i = 0; i < count; i++) items.push([this.parseValue(depth + 1), this.parseValue(depth + 1)]);
    return items;
  }

  private parseValue(depth: number): RespValue {
    if (depth > nestingDepthMax) throw new RespProtocolError(`nesting deeper than ${nestingDepthMax}`);
    if (this.offset >= this.buffer.length) throw incomplete;
    const marker = String.fromCharCode(this.buffer[this.offset] ?? 0);
    this.offset += 1;
    switch (marker) {
      case "+":
        return { type: "simple", value: this.line() };
      case "-":
        return { type: "error", value: this.line() };
      case ":": {
        const text = this.line();
        if (!/^[-+]?\d+$/.test(text)) throw new RespProtocolError(`bad integer ${JSON.stringify(text)}`);
        return { type: "integer", value: BigInt(text) };
      }
      case "$": {
        const length = this.integerLine("bulk");
        if (length === -1) return { type: "bulk", value: null };
        return { type: "bulk", value: this.blob(length) };
      }
      case "*": {
        const length = this.aggregateLength("array");
        if (length === -1) return { type: "array", value: null };
        return { type: "array", value: this.values(length, depth) };
      }
      case "_":
        if (this.line() !== "") throw new RespProtocolError("bad null");
        return { type: "null" };
      case "#": {
        const text = this.line();
        if (text !== "t" && text !== "f") throw new RespProtocolError(`bad boolean ${JSON.stringify(text)}`);
        return { type: "boolean", value: text === "t" };
      }
      case ",": {
        const text = this.line();
        const value = text === "inf" ? Infinity : text === "-inf" ? -Infinity : Number(text);
        if (Number.isNaN(value) && text.toLowerCase() !== "nan") throw new RespProtocolError(`bad double ${text}`);
        return { type: "double", value, text };
      }
      case "(": {
        const text = this.line();
        if (!/^[-+]?\d+$/.test(text)) throw new RespProtocolError(`bad big number ${JSON.stringify(text)}`);
        return { type: "bignumber", value: BigInt(text) };
      }
      case "!":
        return { type: "blob-error", value: this.blob(this.integerLine("blob error")).toString("utf8") };
      case "=": {
        const bytes = this.blob(this.integerLine("verbatim"));
        if (bytes.length < 4 || bytes[3] !== 0x3a) throw new RespProtocolError("verbatim string without format");
        return { type: "verbatim", format: bytes.toString("latin1", 0, 3), value: bytes.subarray(4) };
      }
      case "%":
        return { type: "map", value: this.pairs(this.nonNullLength("map"), depth) };
      case "|":
        return { type: "attribute", value: this.pairs(this.nonNullLength("attribute"), depth) };
      case "~":
        return { type: "set", value: this.values(this.nonNullLength("set"), depth) };
      case ">":
        return { type: "push", value: this.values(this.nonNullLength("push"), depth) };
      default:
        throw new RespProtocolError(
          `unknown type byte 0x${(this.buffer[this.offset - 1] ?? 0).toString(16)} at offset ${this.offset - 1}`,
        );
    }
  }

  private nonNullLength(kind: string): number {
    const length = this.aggregateLength(kind);
    if (length < 0) throw new RespProtocolError(`negative ${kind} length`);
    return length;
  }
}

/** Parses a complete byte string into every reply it holds; throws if bytes are left over. */
export function parseAll(bytes: Uint8Array): RespValue[] {
  const parser = new RespParser();
  parser.push(bytes);
  const values: RespValue[] = [];
  for (let value = parser.next(); value !== undefined; value = parser.next()) values.push(value);
  if (parser.pendingBytes !== 0) throw new RespProtocolError(`${parser.pendingBytes} bytes left after the last reply`);
  return values;
}

/** Converts a reply to plain JavaScript: bulk strings become UTF-8 strings, errors `{ error }`. */
export function plain(value: RespValue): PlainValue {
  switch (value.type) {
    case "simple":
      return value.value;
    case "error":
    case "blob-error":
      return { error: value.value };
    case "integer":
      return Number.isSafeInteger(Number(value.value)) ? Number(value.value) : value.value;
    case "bignumber":
      return value.value;
    case "bulk":
      return value.value === null ? null : value.value.toString("utf8");
    case "verbatim":
      return value.value.toString("utf8");
    case "array":
      return value.value === null ? null : value.value.map(plain);
    case "set":
    case "push":
      return value.value.map(plain);
    case "null":
      return null;
    case "boolean":
    case "double":
      return value.value;
    case "map":
    case "attribute":
      return new Map(value.value.map(([key, item]) => [plain(key), plain(item)]));
  }
}

/** Encodes a command as a RESP array of bulk strings, the way real clients send it. */
export function encodeCommand(args: ReadonlyArray<string | number | Uint8Array>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const argument of args) {
    const bytes = typeof argument === "string" || typeof argument === "number"
      ? Buffer.from(String(argument), "utf8")
      : Buffer.from(argument);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

interface Waiter {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ConnectOptions {
  timeoutMilliseconds?: number;
}

/** A raw connection to a RESP server. Replies are read in order with `read()`. */
export class RespConnection {
  private readonly socket: Socket;
  private readonly parser = new RespParser();
  private readonly replies: RespValue[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: Error | null = null;
  private isClosed = false;
  private readonly closedPromise: Promise<void>;
  /** Raw bytes received, total. */
  bytesReceived = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    let markClosed: () => void = () => {};
    this.closedPromise = new Promise((resolveClosed) => (markClosed = resolveClosed));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => {
      this.isClosed = true;
      this.fail(new Error("connection closed by the server"));
      markClosed();
    });
  }

  /** Connects to host:port, rejecting after the timeout (default 5 s). */
  static connect(port: number, host = "127.0.0.1", options: ConnectOptions = {}): Promise<RespConnection> {
    const timeoutMilliseconds = options.timeoutMilliseconds ?? connectTimeoutMillisecondsDefault;
    return new Promise((resolveConnection, reject) => {
      const socket = new Socket();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMilliseconds} ms`));
      }, timeoutMilliseconds);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      socket.once("error", onError);
      socket.connect(port, host, () => {
        clearTimeout(timer);
        socket.off("error", onError);
        socket.setNoDelay(true);
        resolveConnection(new RespConnection(socket));
      });
    });
  }

  /** True once the server (or `close`) ended the connection. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends raw bytes. */
  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  }

  /** Sends one command encoded as a RESP array of bulk strings. */
  command(...args: Array<string | number | Uint8Array>): void {
    this.send(encodeCommand(args));
  }

  /** Sends one command and reads one reply. */
  async call(...args: Array<string | number | Uint8Array>): Promise<RespValue> {
    this.command(...args);
    return this.read();
  }

  /** The next reply, in order. Rejects on timeout, protocol error, or when the connection ends first. */
  read(timeoutMilliseconds = readTimeoutMillisecondsDefault): Promise<RespValue> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolveReply, reject) => {
      const waiter: Waiter = {
        resolve: resolveReply,
        reject,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(new Error(`no reply within ${timeoutMilliseconds} ms (${this.parser.pendingBytes} bytes pending)`));
        }, timeoutMilliseconds),
      };
      this.waiters.push(waiter);
    });
  }

  /** Reads `count` replies in order. */
  async readMany(count: number, timeoutMilliseconds = readTimeoutMillisecondsDefault): Promise<RespValue[]> {
    const values: RespValue[] = [];
    for (let i = 0; i < count; i++) values.push(await this.read(timeoutMilliseconds));
    return values;
  }

  /**
   * Resolves when the server closes the connection; rejects if it stays open past the timeout.
   * Replies that arrive before the close are kept for `read`.
   */
  async waitClosed(timeoutMilliseconds = readTimeoutMillisecondsDefault): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMilliseconds} ms`)), timeoutMilliseconds);
    });
    try {
      await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection from our side (FIN; a reset if `destroy` is true). */
  close(destroy = false): void {
    if (destroy) this.socket.destroy();
    else this.socket.end();
    this.socket.unref();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.parser.push(chunk);
    try {
      for (let value = this.parser.next(); value !== undefined; value = this.parser.next()) this.deliver(value);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      this.socket.destroy();
    }
  }

  private deliver(value: RespValue): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      this.replies.push(value);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(value);
  }

  private fail(error: Error): void {
    if (this.failure === null) this.failure = error;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }
}

/** One command on a fresh connection to `port` (closed after), its reply as a plain value. */
export async function callPort(port: number, ...args: string[]): Promise<unknown> {
  const connection = await RespConnection.connect(port);
  try {
    return plain(await connection.call(...args));
  } finally {
    connection.close();
  }
}
