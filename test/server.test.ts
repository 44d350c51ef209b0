/**
 * The server in process, driven over real sockets with raw RESP: reply order under pipelining,
 * reads behind writes, protocol errors, RESP3, and the limits that keep one client from hurting
 * the others.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { Clone } from "../src/clone/machine.ts";
import { type FinnNode, open } from "../src/finn.ts";

/** A raw connection that collects every byte the server sends. */
class RawClient {
  private received = "";
  private closed = false;
  private waiters: (() => void)[] = [];
  private socket: Socket<undefined> | null = null;

  static async connect(port: number, options: { read?: boolean } = {}): Promise<RawClient> {
    const client = new RawClient();
    client.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_socket, data) => {
          client.received += Buffer.from(data).toString("latin1");
          client.wake();
        },
        drain: () => client.drain(),
        close: () => {
          client.closed = true;
          client.wake();
        },
        error: () => {
          client.closed = true;
          client.wake();
        },
      },
    });
    if (options.read === false) client.socket.pause();
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private unsent: Uint8Array[] = [];

  /** Writes bytes, keeping what the socket does not take for its next `drain`; returns the bytes taken now. */
  send(bytes: string | Uint8Array): number {
    if (this.socket === null) throw new Error("not connected");
    const data = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
    if (this.unsent.length > 0) {
      this.unsent.push(data);
      return 0;
    }
    const written = Math.max(0, this.socket.write(data));
    if (written < data.length) this.unsent.push(data.subarray(written));
    return written;
  }

  private drain(): void {
    while (this.socket !== null && this.unsent.length > 0) {
      const data = this.unsent[0];
      if (data === undefined) return;
      const written = Math.max(0, this.socket.write(data));
      if (written < data.length) {
        this.unsent[0] = data.subarray(written);
        return;
      }
      this.unsent.shift();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get text(): string {
    return this.received;
  }

  /** Waits until `predicate` holds for what was received (or the connection closes). */
  async until(predicate: (received: string, closed: boolean) => boolean, what: string, timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received, this.closed)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received.slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.received;
  }

  /** Waits for exactly `expected` (and fails on anything else). */
  async expectReply(expected: string): Promise<void> {
    await this.until((received, closed) => received.length >= expected.length || closed, JSON.stringify(expected));
    expect(this.received).toBe(expected);
  }

  close(): void {
    this.socket?.end();
  }

  /** Starts reading (a client connected with `read: false`). */
  resume(): void {
    this.socket?.resume();
  }

  /** Closes with a reset rather than a FIN: the server's next write to it fails. */
  reset(): void {
    this.socket?.terminate();
  }
}

function multibulk(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
}

let node: FinnNode;
let dir: string;
const clients: RawClient[] = [];

async function connect(options: { read?: boolean } = {}): Promise<RawClient> {
  const client = await RawClient.connect(node.port, options);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "finn-server-test-"));
  node = await open(dir, "127.0.0.1:0", "", new Clone(), {
    logLevel: "quiet",
    limits: { outputBytesMax: 4 * 1024 * 1024, outputSoftBytesMax: 256 * 1024, bulkBytesMax: 1024 * 1024 },
  });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("reply order", () => {
  test("pipelined writes and reads answer in request order, reads see the writes before them", async () => {
    const client = await connect();
    client.send(
      multibulk("SET", "order:k", "1") +
        multibulk("PING") +
        multibulk("GET", "order:k") +
        multibulk("SET", "order:k", "2") +
        multibulk("ECHO", "between") +
        multibulk("GET", "order:k") +
        multibulk("INCR", "order:n") +
        multibulk("INCR", "order:n") +
        multibulk("GET", "order:n"),
    );
    await client.expectReply("+OK\r\n+PONG\r\n$1\r\n1\r\n+OK\r\n$7\r\nbetween\r\n$1\r\n2\r\n:1\r\n:2\r\n$1\r\n2\r\n");
  });

  test("an error in the middle of a pipeline keeps its place", async () => {
    const client = await connect();
    client.send(multibulk("SET", "order:e", "x") + multibulk("NOSUCH", "a") + multibulk("INCR", "order:e") + multibulk("GET", "order:e"));
    await client.expectReply(
      "+OK\r\n-ERR unknown command 'NOSUCH'\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n",
    );
  });

  test("a thousand pipelined writes from many clients each come back in order", async () => {
    const count = 1000;
    const writers = await Promise.all(Array.from({ length: 8 }, () => connect()));
    let index = 0;
    for (const writer of writers) {
      const id = index++;
      let request = "";
      for (let i = 0; i < count; i++) request += multibulk("SET", `order:many:${id}`, String(i)) + multibulk("GET", `order:many:${id}`);
      writer.send(request);
    }
    index = 0;
    for (const writer of writers) {
      index++;
      let expected = "";
      for (let i = 0; i < count; i++) expected += `+OK\r\n$${String(i).length}\r\n${i}\r\n`;
      await writer.expectReply(expected);
    }
  });

  test("a request split across many tiny writes is answered once, whole", async () => {
    const client = await connect();
    const request = multibulk("SET", "split:k", "hello world") + multibulk("GET", "split:k");
    for (const byte of request) {
      client.send(byte);
      await Bun.sleep(1);
    }
    await client.expectReply("+OK\r\n$11\r\nhello world\r\n");
  });
});

describe("protocol", () => {
  test("inline commands work as in redis-cli-less telnet sessions", async () => {
    const client = await connect();
    client.send('SET inline:k "a b"\r\nGET inline:k\r\nPING\n');
    await client.expectReply("+OK\r\n$3\r\na b\r\n+PONG\r\n");
  });

  test("a protocol error answers the commands before it, then the error, then closes", async () => {
    const client = await connect();
    client.send(multibulk("PING") + "*1\r\n$x\r\n" + multibulk("PING"));
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe("+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
  });

  test("a protocol error behind a pending write still comes after the write's reply", async () => {
    const client = await connect();
    client.send(multibulk("SET", "perr:k", "v") + "*2\r\n$3\r\nGET\r\n!");
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe("+OK\r\n-ERR Protocol error: expected '$', got '!'\r\n");
  });

  test("a declared bulk past the limit is refused at once, without waiting for its bytes", async () => {
    const client = await connect();
    client.send("*2\r\n$3\r\nGET\r\n$2147483648\r\n");
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe("-ERR Protocol error: invalid bulk length\r\n");
  });

  test("garbage bytes get an error and a close, and other clients keep being served", async () => {
    const other = await connect();
    const bad = await connect();
    bad.send(new Uint8Array([42, 255, 0, 13, 10, 1, 2, 3]));
    await bad.until((_received, closed) => closed, "close");
    expect(bad.text).toStartWith("-ERR Protocol error:");
    other.send(multibulk("PING"));
    await other.expectReply("+PONG\r\n");
  });

  test("an inline line past 64 KB without a newline is refused", async () => {
    const client = await connect();
    client.send("A".repeat(70 * 1024));
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe("-ERR Protocol error: too big inline request\r\n");
  });

  test("HELLO 3 switches to RESP3 replies, HELLO 2 back", async () => {
    const client = await connect();
    client.send(multibulk("HELLO", "3"));
    await client.until((received) => received.includes("modules"), "HELLO reply");
    expect(client.text).toStartWith("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
    const before = client.text.length;
    client.send(multibulk("GET", "resp3:none") + multibulk("CONFIG", "GET", "save"));
    await client.until((received) => received.length >= before + 3 + 20, "RESP3 replies");
    expect(client.text.slice(before)).toBe("_\r\n%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
    const again = client.text.length;
    client.send(multibulk("HELLO", "2") + multibulk("GET", "resp3:none"));
    await client.until((received) => received.endsWith("$-1\r\n"), "RESP2 null");
    expect(client.text.slice(again)).toStartWith("*14\r\n");
  });

  test("HELLO with an unsupported version is refused with NOPROTO", async () => {
    const client = await connect();
    client.send(multibulk("HELLO", "4"));
    await client.expectReply("-NOPROTO unsupported protocol version\r\n");
  });

  test("QUIT answers OK and closes", async () => {
    const client = await connect();
    client.send(multibulk("QUIT") + multibulk("PING"));
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe("+OK\r\n");
  });

  // A read of several commands has its replies written at the end of the loop's turn (Server's
  // `sendLater`): they still arrive whole, in order, before a QUIT's close.
  test("QUIT after a read of many pipelined commands closes once all their replies are sent", async () => {
    const client = await connect();
    client.send(multibulk("SET", "burst:k", "v"));
    await client.expectReply("+OK\r\n");
    let request = "";
    let expected = "+OK\r\n";
    for (let i = 0; i < 40; i++) {
      request += multibulk("ECHO", `e${i}`) + multibulk("GET", "burst:k");
      expected += `$${String(`e${i}`).length}\r\ne${i}\r\n$1\r\nv\r\n`;
    }
    client.send(request + multibulk("QUIT") + multibulk("PING"));
    await client.until((_received, closed) => closed, "close");
    expect(client.text).toBe(`${expected}+OK\r\n`);
  });

  test("reads and writes pipelined in one read keep their order", async () => {
    const client = await connect();
    let request = "";
    let expected = "";
    for (let i = 0; i < 30; i++) {
      request += multibulk("GET", "burst:order") + multibulk("SET", "burst:order", `v${i}`) + multibulk("PING");
      expected += (i === 0 ? "$-1\r\n" : `$${`v${i - 1}`.length}\r\nv${i - 1}\r\n`) + "+OK\r\n+PONG\r\n";
    }
    client.send(request);
    await client.expectReply(expected);
  });

  test("a client gone before its pipelined replies are written does not disturb the server", async () => {
    for (let round = 0; round < 20; round++) {
      const leaving = await connect();
      leaving.send(multibulk("PING").repeat(64));
      if (round % 2 === 0) leaving.close();
      else leaving.reset();
    }
    const client = await connect();
    client.send(multibulk("PING"));
    await client.expectReply("+PONG\r\n");
  });

  test("unknown commands echo the name as given, wrong arity uses the lower-case name", async () => {
    const client = await connect();
    client.send(multibulk("FooBar", "x") + multibulk("GET") + multibulk("ping", "a", "b"));
    await client.expectReply(
      "-ERR unknown command 'FooBar'\r\n-ERR wrong number of arguments for 'get' command\r\n-ERR wrong number of arguments for 'ping' command\r\n",
    );
  });

  test("CR and LF in an echoed command name cannot break the reply frame", async () => {
    const client = await connect();
    client.send(multibulk("bad\r\nname"));
    await client.expectReply("-ERR unknown command 'bad  name'\r\n");
  });
});

describe("limits", () => {
  test("the idle timeout disconnects a client that sends nothing, not one that keeps talking nor a subscriber", async () => {
    const idleDir = mkdtempSync(join(tmpdir(), "finn-idle-test-"));
    const idleNode = await open(idleDir, "127.0.0.1:0", "", new Clone(), { logLevel: "quiet", limits: { idleTimeoutSeconds: 1 } });
    try {
      const idle = await RawClient.connect(idleNode.port);
      const busy = await RawClient.connect(idleNode.port);
      // A subscriber waits for messages, not commands: it is not idle (as in Redis).
      const subscriber = await RawClient.connect(idleNode.port);
      clients.push(idle, busy, subscriber);
      subscriber.send(multibulk("SUBSCRIBE", "idle:channel"));
      await subscriber.expectReply("*3\r\n$9\r\nsubscribe\r\n$12\r\nidle:channel\r\n:1\r\n");
      busy.send(multibulk("CONFIG", "GET", "timeout"));
      await busy.expectReply("*2\r\n$7\r\ntimeout\r\n$1\r\n1\r\n");
      // The busy client sends a command every 200 ms while the idle one sends nothing.
      let pings = 0;
      while (!idle.isClosed && pings < 50) {
        busy.send(multibulk("PING"));
        pings++;
        await Bun.sleep(200);
      }
      expect(idle.isClosed).toBe(true);
      expect(busy.isClosed).toBe(false);
      await busy.until((received) => received.split("+PONG").length - 1 === pings, "every PONG");
      // Well past the timeout since it last sent a command, the subscriber still hears messages.
      await Bun.sleep(1200);
      expect(subscriber.isClosed).toBe(false);
      const publisher = await RawClient.connect(idleNode.port);
      clients.push(publisher);
      publisher.send(multibulk("PUBLISH", "idle:channel", "still here"));
      await publisher.expectReply(":1\r\n");
      await subscriber.until((received) => received.includes("still here"), "the message");
    } finally {
      await idleNode.close();
      rmSync(idleDir, { recursive: true, force: true });
    }
  }, 20_000);

  test("a reply of many values past the output limit cuts the client off, with a count in INFO; others are served", async () => {
    const writer = await connect();
    // Appends of 1 MB (the bulk limit of this node) make a 24 MB value: far past its 4 MB output
    // limit, even after the kernel's socket buffers on both ends have taken their share.
    const part = "v".repeat(1024 * 1024);
    writer.send(multibulk("APPEND", "limit:big", part).repeat(24));
    await writer.until((received) => received.split("\r\n").length > 24, "the APPEND replies");
    expect(writer.text).toEndWith(`:${24 * 1024 * 1024}\r\n`);
    const reader = await connect({ read: false });
    // One value may take a reply past the limit (the next test); two of them may not.
    reader.send(multibulk("MGET", "limit:big", "limit:big"));
    const other = await connect();
    other.send(multibulk("PING"));
    await other.expectReply("+PONG\r\n");
    const deadline = Date.now() + 10000;
    let stats = "";
    while (Date.now() < deadline) {
      const probe = await connect();
      probe.send(multibulk("INFO", "stats"));
      stats = await probe.until((received) => received.includes("client_output_buffer_limit_disconnections"), "INFO stats");
      probe.close();
      if (stats.includes("client_output_buffer_limit_disconnections:1")) break;
      await Bun.sleep(50);
    }
    expect(stats).toContain("client_output_buffer_limit_disconnections:1");
  });

  test("a value larger than the output limit is sent whole, to a client that reads and to one that reads late", async () => {
    const writer = await connect();
    const size = 24 * 1024 * 1024;
    writer.send(multibulk("APPEND", "limit:huge", "h".repeat(1024 * 1024)).repeat(24));
    await writer.until((received) => received.endsWith(`:${size}\r\n`), "the APPEND replies");
    const disconnections = async (): Promise<string> => {
      const probe = await connect();
      probe.send(multibulk("INFO", "stats"));
      const stats = await probe.until((received) => received.includes("client_output_buffer_limit_disconnections"), "INFO stats");
      probe.close();
      return /client_output_buffer_limit_disconnections:(\d+)/.exec(stats)?.[1] ?? "";
    };
    const before = await disconnections();
    const expected = `$${size}\r\n${"h".repeat(size)}\r\n`;
    const reader = await connect();
    reader.send(multibulk("GET", "limit:huge"));
    await reader.until((received, closed) => received.length >= expected.length || closed, "the whole value", 30_000);
    expect(reader.isClosed).toBe(false);
    expect(reader.text === expected).toBe(true);
    // A client that reads only later keeps its reply (and is not read meanwhile); others are served.
    const late = await connect({ read: false });
    late.send(multibulk("GET", "limit:huge") + multibulk("PING"));
    await Bun.sleep(300);
    const other = await connect();
    other.send(multibulk("PING"));
    await other.expectReply("+PONG\r\n");
    expect(late.isClosed).toBe(false);
    late.resume();
    await late.until((received, closed) => received.length >= expected.length + 7 || closed, "the value, then PONG", 30_000);
    expect(late.text === `${expected}+PONG\r\n`).toBe(true);
    expect(await disconnections()).toBe(before);
  });

  test("behind a value larger than the output limit, messages to a subscriber count: past the limit it is cut off", async () => {
    const writer = await connect();
    const size = 24 * 1024 * 1024;
    writer.send(multibulk("APPEND", "limit:held", "m".repeat(1024 * 1024)).repeat(24));
    await writer.until((received) => received.endsWith(`:${size}\r\n`), "the APPEND replies");
    // A RESP3 subscriber may GET: its 24 MB reply waits unread, and messages pile up behind it.
    const subscriber = await connect({ read: false });
    subscriber.send(multibulk("HELLO", "3") + multibulk("SUBSCRIBE", "limit:channel") + multibulk("GET", "limit:held"));
    await Bun.sleep(300);
    expect(subscriber.isClosed).toBe(false);
    const publisher = await connect();
    const message = "p".repeat(512 * 1024);
    // 16 messages of 512 KB: 8 MB behind the value, past the 4 MB limit.
    for (let i = 0; i < 16; i++) {
      publisher.send(multibulk("PUBLISH", "limit:channel", message));
      await publisher.until((received) => received.split("\r\n").length > i + 1, "PUBLISH's reply");
    }
    await subscriber.until((_, closed) => closed, "the subscriber cut off", 10_000);
    expect(subscriber.isClosed).toBe(true);
  });

  test("a client that never reads holds back the work of its replies, not their bytes; others are served", async () => {
    const writer = await connect();
    writer.send(multibulk("SET", "limit:half", "h".repeat(512 * 1024)));
    await writer.expectReply("+OK\r\n");
    const reader = await connect({ read: false });
    // 64 replies of 512 KB would be 32 MB, far past the 4 MB limit: they are produced as it reads.
    reader.send(multibulk("GET", "limit:half").repeat(64));
    await Bun.sleep(300);
    const other = await connect();
    other.send(multibulk("CLIENT", "LIST"));
    const list = await other.until((received) => received.endsWith("\n\r\n"), "CLIENT LIST");
    const omem = [...list.matchAll(/omem=(\d+)/g)].map((match) => Number(match[1]));
    expect(omem.length).toBeGreaterThan(1);
    for (const bytes of omem) expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(reader.isClosed).toBe(false);
  });

  test("a client that pipelines without reading is paused, its unsent output stays under the limit", async () => {
    const flooder = await connect({ read: false });
    const value = "w".repeat(8 * 1024);
    const setter = await connect();
    setter.send(multibulk("SET", "limit:w", value));
    await setter.expectReply("+OK\r\n");
    // Small batches that each fit the limit, sent until the socket stops taking them.
    const batch = multibulk("GET", "limit:w").repeat(16);
    for (let i = 0; i < 2000 && !flooder.isClosed; i++) {
      if (flooder.send(batch) < batch.length) break;
      if (i % 100 === 0) await Bun.sleep(1);
    }
    await Bun.sleep(200);
    const probe = await connect();
    probe.send(multibulk("CLIENT", "LIST"));
    const list = await probe.until((received) => received.endsWith("\n\r\n"), "CLIENT LIST");
    const omem = [...list.matchAll(/omem=(\d+)/g)].map((match) => Number(match[1]));
    expect(omem.length).toBeGreaterThan(0);
    for (const bytes of omem) expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(flooder.isClosed).toBe(false);
  });
});
