/**
 * A recording TCP proxy for tests: clients connect to the proxy, which forwards every byte to
 * the server and back, and keeps both directions of every connection. A test can then parse
 * exactly what a real client sent (e.g. its handshake) and what the server answered, and assert
 * that no error replies were hidden by a client that swallows them.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { parseAll, type RespValue } from "./resp-client.ts";

/** Recording more than this per direction means the test misuses the proxy; stop recording. */
const recordedBytesMax = 64 * 1024 * 1024;

/** Both directions of one proxied connection. */
export class RecordedConnection {
  private readonly fromClient: Buffer[] = [];
  private readonly fromServer: Buffer[] = [];
  private fromClientBytes = 0;
  private fromServerBytes = 0;

  /** @internal */
  recordClient(chunk: Buffer): void {
    if (this.fromClientBytes + chunk.length > recordedBytesMax) throw new Error("proxy: client recording too large");
    this.fromClientBytes += chunk.length;
    this.fromClient.push(chunk);
  }

  /** @internal */
  recordServer(chunk: Buffer): void {
    if (this.fromServerBytes + chunk.length > recordedBytesMax) throw new Error("proxy: server recording too large");
    this.fromServerBytes += chunk.length;
    this.fromServer.push(chunk);
  }

  clientBytes(): Buffer {
    return Buffer.concat(this.fromClient);
  }

  serverBytes(): Buffer {
    return Buffer.concat(this.fromServer);
  }

  /** The commands the client sent, as arrays of UTF-8 strings (RESP arrays of bulk strings only). */
  commands(): string[][] {
    return parseAll(this.clientBytes()).map((value) => {
      if (value.type !== "array" || value.value === null) throw new Error(`proxy: client sent ${value.type}, not a command`);
      return value.value.map((argument) => {
        if (argument.type !== "bulk" || argument.value === null) throw new Error("proxy: command argument not a bulk");
        return argument.value.toString("utf8");
      });
    });
  }

  /** Every reply the server sent, parsed; throws if the stream is not valid RESP. */
  replies(): RespValue[] {
    return parseAll(this.serverBytes());
  }
}

/** Every error reply nested anywhere inside `value` (e.g. inside an array of pipeline replies). */
export function errorsIn(value: RespValue): string[] {
  switch (value.type) {
    case "error":
    case "blob-error":
      return [value.value];
    case "array":
      return value.value === null ? [] : value.value.flatMap(errorsIn);
    case "set":
    case "push":
      return value.value.flatMap(errorsIn);
    case "map":
    case "attribute":
      return value.value.flatMap(([key, item]) => [...errorsIn(key), ...errorsIn(item)]);
    default:
      return [];
  }
}

export class RecordingProxy {
  readonly connections: RecordedConnection[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on a free 127.0.0.1 port that forwards to targetHost:targetPort. */
  static start(targetPort: number, targetHost = "127.0.0.1"): Promise<RecordingProxy> {
    return new Promise((resolveProxy, reject) => {
      let proxy: RecordingProxy | undefined;
      const server = createServer((client) => {
        if (proxy === undefined) {
          client.destroy();
          return;
        }
        proxy.forward(client, targetPort, targetHost);
      });
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (address === null || typeof address === "string") {
          reject(new Error("proxy: no port"));
          return;
        }
        proxy = new RecordingProxy(server, address.port);
        resolveProxy(proxy);
      });
    });
  }

  private forward(client: Socket, targetPort: number, targetHost: string): void {
    const recording = new RecordedConnection();
    this.connections.push(recording);
    const upstream = createConnection(targetPort, targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (chunk: Buffer) => {
      recording.recordClient(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      recording.recordServer(chunk);
      client.write(chunk);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    // Errors on either side end both; the recording keeps what passed before.
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => this.sockets.delete(client));
    upstream.on("close", () => this.sockets.delete(upstream));
  }

  /** Closes the listener and every proxied connection. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolveClose) => this.server.close(() => resolveClose()));
  }
}
