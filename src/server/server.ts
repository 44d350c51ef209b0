/**
 * The RESP server: `Bun.listen` with one set of handlers shared by every socket, one output buffer
 * shared by every connection, one `socket.write` per connection per batch of replies.
 *
 * Output: replies are encoded into the shared writer, which is aimed at one connection at a time
 * (`writerFor`). Aiming it elsewhere, or the end of a batch, sends what was written with a single
 * `socket.write`; what the socket does not take is copied into the connection's `unsent` list and
 * sent on `drain`. Past `outputSoftBytesMax` unsent bytes the connection stops being read (TCP
 * backpressure reaches the client); past `outputBytesMax` it is closed, with a log line.
 */
import type { Socket, TCPSocketListener } from "bun";
import { assert } from "../assert.ts";
import { errorReplyText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type Command, defaultReaderLimits, latin1, type ReaderLimits, unauthenticatedReaderLimits } from "../resp/reader.ts";
import { RespWriter } from "../resp/writer.ts";
import { listenTls, type TlsConfig } from "../tls.ts";
import type { RedirectMode } from "./applier.ts";
import { Connection, Slot, SlotKind } from "./connection.ts";
import { subscribed } from "./dispatch.ts";
import { InstantaneousMetric } from "./metrics.ts";
import { Monitors } from "./monitor.ts";
import { PubSub } from "./pubsub.ts";
import type { SlowLog } from "./slowlog.ts";
import type { PeerSession } from "../transport/transport.ts";

/** Limits on each client, beyond the request reader's. */
export interface ServerLimits extends ReaderLimits {
  /** Unsent output past which a client stops being read until it catches up. */
  readonly outputSoftBytesMax: number;
  /** Unsent output past which a client is disconnected (it is not reading its replies). */
  readonly outputBytesMax: number;
  /** Replies queued on one connection past which its requests are no longer parsed until some leave. */
  readonly queuedRepliesMax: number;
  /** Most connected clients; more are refused with `-ERR max number of clients reached`. */
  readonly clientsMax: number;
  /**
   * Seconds without a command after which a client is disconnected (Redis's `timeout`); 0, the
   * default, never. Peer links, clients waiting for replies and subscribers are not idle.
   */
  readonly idleTimeoutSeconds: number;
  /** SLOWLOG logs commands that take at least this long (µs; Redis's `slowlog-log-slower-than`): negative, none; 0, all. */
  readonly slowlogSlowerThanMicros: number;
  /** SLOWLOG keeps this many entries, the newest (Redis's `slowlog-max-len`). */
  readonly slowlogMaxLen: number;
}

export const defaultServerLimits: ServerLimits = {
  ...defaultReaderLimits,
  // A few MB is enough to keep a fast client busy; more only buffers for a slow one.
  outputSoftBytesMax: 4 * 1024 * 1024,
  // Redis has no limit for normal clients; one that never reads could take all memory.
  outputBytesMax: 64 * 1024 * 1024,
  // Deep enough for any real pipeline; bounds the memory a flood of queued writes can hold.
  queuedRepliesMax: 64 * 1024,
  // Redis's default maxclients.
  clientsMax: 10000,
  // Redis's default timeout.
  idleTimeoutSeconds: 0,
  // Redis's defaults.
  slowlogSlowerThanMicros: 10_000,
  slowlogMaxLen: 128,
};

/** Who may do what on the server's connections. */
export interface Access {
  /** Clients must AUTH first. */
  readonly passwordRequired: boolean;
  /** Cluster administration needs the admin user. */
  readonly adminPasswordSet: boolean;
  /**
   * Protected mode is in force (on, and no client password): only loopback clients are served;
   * connections from elsewhere are refused with `-DENIED`, except peers when `peersProveSecret`.
   */
  readonly protectedMode: boolean;
  /** A cluster secret is set, so a remote peer proves it in the handshake before anything else. */
  readonly peersProveSecret: boolean;
}

/** True for an address of the loopback interface (127.0.0.0/8, ::1, and 127.x mapped into IPv6). */
export function isLoopbackAddress(address: string): boolean {
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  return plain === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain);
}

/** How often the server's clock is read. */
const clockMilliseconds = 100;
/** How often clients are checked against the idle timeout. */
const idleCheckMilliseconds = 1000;

/** The shared writer's buffer is shrunk back after a batch that grew it past this. */
const writerBytesKept = 4 * 1024 * 1024;

/** Handles one command; the server has already dealt with the queue and the protocol. */
export type Dispatcher = (connection: Connection, command: Command) => void;

export interface ServerOptions {
  readonly hostname: string;
  readonly port: number;
  /** Serve TLS only, with this certificate (null: plain TCP). */
  readonly tls?: TlsConfig | null;
  readonly limits: ServerLimits;
  readonly logger: Logger;
  /** How a node that is not the leader sends clients on (`try`: `-MOVED 0 a` replies become `-TRY a`). */
  readonly redirect?: RedirectMode;
}

/** How long a TLS connection past `-maxclients` may take to finish its handshake and be told so. */
const refusedHandshakeMilliseconds = 5000;
/**
 * A client that reads as fast as its held-back input makes replies (a deep pipeline of large
 * GETs) gets this long at a time; then the loop serves the other clients and the node's timers
 * before it goes on. Without the bound it kept the loop for as long as the client kept reading:
 * other clients waited up to a second, and a leader lost its leadership.
 */
const resumeSliceMilliseconds = 2;

/** A read of at least this many commands has its replies written at the end of the turn (`sendLater`). */
const batchedReadCommands = 4;
/** Replies larger than this are written at once: copying them would cost more than the wake-up. */
const laterBytesMax = 16 * 1024;

/** Answers a connection past `-maxclients` as Redis does, and closes it. */
function refuseFull(socket: Socket<Connection>): void {
  socket.write("-ERR max number of clients reached\r\n");
  socket.end();
}

export class Server {
  readonly limits: ServerLimits;
  readonly readerLimits: ReaderLimits;
  readonly logger: Logger;
  private listener: TCPSocketListener<Connection> | null = null;
  private readonly writer = new RespWriter();
  /** The connection the shared writer's bytes belong to. */
  private target: Connection | null = null;
  /** Connections whose queue has slots that became ready, to drain at the end of the turn. */
  private readonly ready = new Set<Connection>();
  private readyScheduled = false;
  /** Connections whose replies wait for the end of the turn (`sendLater`). */
  private readonly later = new Set<Connection>();
  private laterScheduled = false;
  private nextId = 1;
  readonly connections = new Set<Connection>();
  /** Counters for INFO (bytes: from and to clients, and from and to peers, `repl`). */
  readonly stats = {
    connectionsReceived: 0,
    commandsProcessed: 0,
    rejectedConnections: 0,
    outputLimitDisconnections: 0,
    idleDisconnections: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    netReplInputBytes: 0,
    netReplOutputBytes: 0,
  };
  /** INFO's instantaneous rates, sampled by the clock's timer. */
  readonly rates = { commands: new InstantaneousMetric(), input: new InstantaneousMetric(), output: new InstantaneousMetric() };
  /** The most JavaScript heap in use seen (INFO's used_memory_peak), sampled by the clock's timer. */
  memoryPeak = 0;

  /** CONFIG RESETSTAT: the counters INFO reports start again from zero. */
  resetStats(): void {
    for (const name of Object.keys(this.stats) as (keyof typeof this.stats)[]) this.stats[name] = 0;
    for (const rate of Object.values(this.rates)) rate.reset();
    this.memoryPeak = 0;
  }

  /** Samples the instantaneous rates and the memory peak (every `clockMilliseconds`). */
  private sampleMetrics(): void {
    const now = performance.now();
    this.rates.commands.track(this.stats.commandsProcessed, now);
    this.rates.input.track(this.stats.netInputBytes, now);
    this.rates.output.track(this.stats.netOutputBytes, now);
    this.memoryPeak = Math.max(this.memoryPeak, process.memoryUsage().heapUsed);
  }
  dispatcher: Dispatcher = () => {};
  /**
   * Runs after each command is dispatched, and after writes held behind a read are proposed: the
   * node serves its blocked clients behind the writes just proposed (`BlockedClients.serveProposed`).
   */
  afterCommand: () => void = () => {};
  /** Runs after each read from a peer's link (its frames may be long in coming: `RaftNode.heardFrom`). */
  onPeerInput: (session: PeerSession) => void = () => {};
  /**
   * Wall-clock time (ms), read by a timer every `clockMilliseconds` rather than per request:
   * CLIENT LIST's idle time needs no more, and a clock reading per chunk is measurable.
   */
  private now = Date.now();
  private clock: ReturnType<typeof setInterval> | null = null;
  private nextIdleCheckAt = 0;
  /** Whether clients must authenticate, and whether administration needs the admin user. */
  access: Access = { passwordRequired: false, adminPasswordSet: false, protectedMode: false, peersProveSecret: false };
  /** Appends a write to the log (set by the node that owns this server). */
  propose: (command: Command, ticket: Slot) => void = () => {
    throw new Error("no log to propose to");
  };

  /** This node's publish/subscribe: its clients' subscriptions (`PubSub`). */
  readonly pubsub: PubSub = new PubSub(this);
  /** The connections that sent MONITOR (`Monitors`). */
  readonly monitors: Monitors;
  /** SLOWLOG's entries and what it times (set by the node that owns this server; null: none kept). */
  slowlog: SlowLog | null = null;

  constructor(private readonly options: ServerOptions) {
    this.limits = options.limits;
    this.monitors = new Monitors(
      options.limits,
      (connection, bytes) => this.disconnectOverLimit(connection, bytes),
      (connection) => this.markReady(connection),
      (connection) => this.outputBacklog(connection),
    );
    this.writer.bytesLimit = options.limits.outputBytesMax;
    this.writer.overLimit = () => this.writerOverLimit();
    this.readerLimits = options.limits;
    this.logger = options.logger;
  }

  /** The port the server listens on (useful with port 0). */
  get port(): number {
    assert(this.listener !== null, "the server is listening");
    return this.listener.port;
  }

  /** Starts listening; throws an error that names the address and the reason when it cannot. */
  listen(): void {
    assert(this.listener === null, "listen once");
    try {
      this.listener = this.bind();
      this.clock = setInterval(() => {
        this.now = Date.now();
        this.sampleMetrics();
        if (this.limits.idleTimeoutSeconds > 0 && this.now >= this.nextIdleCheckAt) {
          this.nextIdleCheckAt = this.now + idleCheckMilliseconds;
          this.closeIdleClients();
        }
      }, clockMilliseconds);
      this.clock.unref();
    } catch (error) {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
      const reason = code === "EADDRINUSE" ? "the address is already in use" : code === "EACCES" ? "permission denied" : String(error);
      throw new Error(`cannot listen on ${this.options.hostname}:${this.options.port}: ${reason}`);
    }
  }

  private bind(): TCPSocketListener<Connection> {
    const tls = this.options.tls ?? null;
    return Bun.listen<Connection>({
      hostname: this.options.hostname,
      port: this.options.port,
      ...(tls === null ? {} : { tls: listenTls(tls) }),
      // With TLS, a socket can fail or close before `open` ran (a failed handshake: a plain-text
      // client, one that does not trust the certificate), when it has no connection yet: every
      // handler checks, since an exception here would take the whole node down.
      socket: {
        open: (socket) => this.onOpen(socket),
        data: (socket, chunk) => {
          if (socket.data !== undefined) this.onData(socket, chunk);
        },
        drain: (socket) => {
          if (socket.data !== undefined) this.onDrain(socket);
        },
        close: (socket) => {
          if (socket.data !== undefined) this.onClose(socket);
        },
        end: (socket) => {
          const connection = socket.data;
          if (connection === undefined) return;
          connection.inputEnded = true;
          // Blocked at the leader through a link of its own: as Redis frees a blocked client that
          // leaves, the link goes (the leader then takes nothing for it), and so does the client.
          if (connection.blockedLink !== null && connection.queued > 0) {
            connection.blockedLink.close("its client left");
            socket.terminate();
          }
        },
        error: (socket, error) => {
          const address = (socket.data as Connection | undefined)?.remoteAddress ?? socket.remoteAddress;
          this.logger.verbose(`Client ${address} socket error: ${error.message}`);
        },
        handshake: (socket, success, authorizationError) => {
          if (!success) this.logger.verbose(`Client ${socket.remoteAddress} failed the TLS handshake: ${authorizationError?.message ?? "refused"}`);
          else if (socket.data?.closed === true) refuseFull(socket);
        },
      },
    });
  }

  /** Stops listening and closes every connection. */
  stop(): void {
    this.listener?.stop(true);
    this.listener = null;
    if (this.clock !== null) clearInterval(this.clock);
    this.clock = null;
    for (const connection of this.connections) connection.socket.terminate();
    this.connections.clear();
  }

  /** Disconnects clients idle for longer than the idle timeout, with a log line each. */
  private closeIdleClients(): void {
    const limitMilliseconds = this.limits.idleTimeoutSeconds * 1000;
    for (const connection of this.connections) {
      // Subscribers wait for messages, not commands: Redis exempts them too.
      if (connection.closed || connection.peerSession !== null || connection.queued > 0 || subscribed(connection)) continue;
      if (this.now - connection.lastCommandAt <= limitMilliseconds) continue;
      this.logger.verbose(`Closing idle client id=${connection.id} addr=${connection.remoteAddress} (no command for ${this.limits.idleTimeoutSeconds} s)`);
      this.stats.idleDisconnections++;
      connection.closed = true;
      this.connections.delete(connection);
      connection.socket.end();
    }
  }

  /** What a new client may do before AUTH (and again after RESET). */
  grantInitialAccess(connection: Connection): void {
    connection.authenticated = !this.access.passwordRequired;
    connection.reader.setLimits(connection.authenticated ? this.readerLimits : unauthenticatedReaderLimits);
    connection.admin = !this.access.adminPasswordSet;
  }

  private onOpen(socket: Socket<Connection>): void {
    const connection = new Connection(this, socket, this.nextId++);
    this.grantInitialAccess(connection);
    // A socket reset before it was accepted has no address any more: it counts as remote.
    connection.local = isLoopbackAddress(socket.remoteAddress ?? "");
    socket.data = connection;
    this.stats.connectionsReceived++;
    if (this.connections.size >= this.limits.clientsMax) {
      this.stats.rejectedConnections++;
      connection.closed = true;
      // Over TLS nothing can be written before the handshake: the refusal waits for it (and for
      // at most a few seconds, so that connections past the limit cannot pile up unanswered).
      if (this.options.tls === undefined || this.options.tls === null) refuseFull(socket);
      else setTimeout(() => socket.terminate(), refusedHandshakeMilliseconds).unref();
      return;
    }
    this.connections.add(connection);
  }

  private onData(socket: Socket<Connection>, chunk: Uint8Array): void {
    const connection = socket.data;
    if (connection.closed) return;
    if (connection.peerSession === null) this.stats.netInputBytes += chunk.length;
    else this.stats.netReplInputBytes += chunk.length;
    const before = this.stats.commandsProcessed;
    // A command waiting for the replies before it (`whenIdle`): what follows is kept, not parsed.
    const status = connection.whenIdle !== null ? connection.reader.hold(chunk) : connection.reader.feed(chunk, connection);
    const batched = this.stats.commandsProcessed - before >= batchedReadCommands;
    this.afterRead(connection, status.kind === "error" ? status.message : null, batched);
    if (connection.peerSession !== null) this.onPeerInput(connection.peerSession);
    // Parsing may have stopped on output that the socket has taken already: go on at once.
    if (connection.inputStopped) this.maybeResume(connection);
  }

  /** After parsing: answer a protocol error, apply input backpressure, send the batch. */
  private afterRead(connection: Connection, protocolError: string | null, batched = false): void {
    if (protocolError !== null) {
      this.logger.verbose(`Protocol error (${protocolError}) from client: id=${connection.id} addr=${connection.remoteAddress}`);
      if (connection.queued === 0) connection.writeError(`ERR ${protocolError}`);
      else connection.enqueue(new Slot(SlotKind.Reply, "", encodeError(`ERR ${protocolError}`), null, connection));
      this.logger.verbose(`Closing client id=${connection.id} after a protocol error`);
      connection.closeAfterReply = true;
    }
    if (connection.inputStopped && !connection.inputPaused && !connection.readsWhileBlocked) {
      connection.inputPaused = true;
      connection.socket.pause();
    }
    this.flush(batched && protocolError === null);
    this.maybeClose(connection);
  }

  private onDrain(socket: Socket<Connection>): void {
    const connection = socket.data;
    if (connection.closed) return;
    this.drained(connection);
  }

  /** Sends what a connection has unsent, and goes on with what waited for its output to drain. */
  private drained(connection: Connection): void {
    this.sendUnsent(connection);
    if (connection.unsentBytes <= this.limits.outputSoftBytesMax / 2 && connection.queued > 0) {
      // Replies held back while the client was not reading run now that it reads again.
      this.drainQueue(connection);
      this.flush();
    }
    this.maybeResume(connection);
    this.maybeClose(connection);
  }

  private onClose(socket: Socket<Connection>): void {
    const connection = socket.data;
    connection.closed = true;
    connection.forgetWatch();
    this.pubsub.forget(connection);
    this.monitors.remove(connection);
    connection.blockedLink?.close("its client left");
    connection.blockedLink = null;
    this.connections.delete(connection);
    this.ready.delete(connection);
    if (this.target === connection) {
      this.writer.reset();
      this.target = null;
    }
    connection.unsent.length = 0;
    connection.unsentBytes = 0;
    connection.unsentLargest = 0;
  }

  /** Runs one command for a connection, keeping its replies in order. */
  dispatch(connection: Connection, command: Command): void {
    // Set again by the dispatcher for a command MONITOR shows (not left over from one that threw).
    connection.shownToMonitors = false;
    this.stats.commandsProcessed++;
    connection.commandsProcessed++;
    connection.lastCommandAt = this.now;
    connection.lastCommand = command.name;
    connection.dispatching = true;
    // With replies already queued, whatever this command writes at once must wait behind them.
    connection.captureMark = connection.queued > 0 ? this.outputMark(connection) : -1;
    try {
      this.runCommand(connection, command);
    } finally {
      // After the whole command (EXEC's queued commands run inside it): blocked clients are
      // served behind the writes it proposed.
      this.afterCommand();
    }
    this.cutCaptured(connection);
    connection.captureMark = -1;
    connection.dispatching = false;
    if (connection.shownToMonitors) {
      connection.shownToMonitors = false;
      this.monitors.feed(connection, command);
    }
  }

  /**
   * Runs one command (on its own, or inside EXEC), so that it answers exactly once: what it wrote
   * before it threw is taken back and the error is the reply; but once it has handed the applier
   * its work (a slot is queued), the reply is that work's, and the error is only logged (applying
   * the command meets the same error, and answers with it).
   */
  runCommand(connection: Connection, command: Command): void {
    const slowlog = this.slowlog;
    if (slowlog === null || !slowlog.times(command.name)) {
      this.runUntimed(connection, command);
      return;
    }
    const start = performance.now();
    const queuedBefore = connection.queued;
    try {
      this.runUntimed(connection, command);
    } finally {
      // Answered now (a read, or a write answered without the log); a write in the log is timed
      // where it is applied, and a read that waits is not timed (src/server/slowlog.ts).
      if (connection.queued === queuedBefore) slowlog.note(command, (performance.now() - start) * 1000, connection);
    }
  }

  private runUntimed(connection: Connection, command: Command): void {
    connection.appliesInDispatch = 0;
    const start = this.outputMark(connection);
    const queuedBefore = connection.queued;
    try {
      this.dispatcher(connection, command);
    } catch (error) {
      this.takeBack(connection, start);
      if (connection.queued > queuedBefore) {
        this.logger.warning(`Command '${command.name}' threw after apply(): ${String(error)}`);
        return;
      }
      this.writeError(connection, errorReplyText(error, command.name, latin1(command.args[0] ?? new Uint8Array(0))));
      if (!(error instanceof Error) || error.name === "AssertionError") {
        this.logger.warning(`Command '${command.name}' failed: ${String(error)}`);
      }
    }
  }

  /** Whether nothing was written for `connection` since `start` (a mark from `outputMark`). */
  wroteNothingSince(connection: Connection, start: number): boolean {
    return this.target === connection && this.writer.size === start;
  }

  /**
   * Runs a `respond` callback for a connection. Exactly one reply goes out: an error it throws or
   * returns replaces whatever it wrote before, and a `respond` that wrote nothing answers `+OK`.
   */
  runRespond(connection: Connection, name: string, respond: ((value: unknown) => unknown) | null, value: unknown): void {
    const start = this.outputMark(connection);
    let failure: unknown = undefined;
    try {
      const returned = respond === null ? undefined : respond(value);
      if (returned instanceof Error) failure = returned;
    } catch (error) {
      failure = error === undefined ? new Error("respond threw undefined") : error;
    }
    if (failure !== undefined) {
      this.takeBack(connection, start);
      this.writeError(connection, errorReplyText(failure, name));
    } else if (!connection.closed && this.wroteNothingSince(connection, start)) {
      connection.writeString("OK");
    }
  }

  /**
   * Takes back what was written for `connection` since `start` (a mark from `outputMark`), when it
   * is still in the shared writer: a reply cut short by an error must not reach the client.
   */
  takeBack(connection: Connection, start: number): void {
    if (this.target === connection && this.writer.size >= start) this.writer.truncate(start);
  }

  /**
   * Writes an error reply. In `try` mode a redirect is Finn's `-TRY leader` wherever it comes from
   * (a command refused here, a write that lost its leader, EXEC, a removed node), not `-MOVED`.
   */
  writeError(connection: Connection, text: string): void {
    const reply = this.options.redirect === "try" && text.startsWith(movedPrefix) ? `TRY ${text.slice(movedPrefix.length)}` : text;
    this.writerFor(connection).error(reply);
  }

  /** The shared writer, aimed at `connection` (sending what it held for another connection first). */
  writerFor(connection: Connection): RespWriter {
    if (this.target !== connection) this.retarget(connection);
    return this.writer;
  }

  /**
   * The shared writer is about to grow past `outputBytesMax` for one connection: a reply still
   * being built is already too large to send (MGET naming one large key a thousand times). The
   * client goes now, not once the whole reply exists in memory; what the command writes after
   * this is dropped (a closed connection's writes are skipped, and the writer is emptied).
   */
  private writerOverLimit(): void {
    const connection = this.target;
    if (connection !== null && !connection.closed) this.disconnectOverLimit(connection, this.writer.size + connection.unsentBytes);
    this.writer.reset();
  }

  /** The position in the shared writer where the next byte for `connection` will go. */
  outputMark(connection: Connection): number {
    return this.writerFor(connection).size;
  }

  /** Moves bytes written for `connection` since its capture mark into a reply slot of its queue. */
  cutCaptured(connection: Connection): void {
    const mark = connection.captureMark;
    if (mark < 0 || this.target !== connection || this.writer.size <= mark) return;
    const bytes = this.writer.copyFrom(mark);
    this.writer.truncate(mark);
    connection.pushSlot(new Slot(SlotKind.Reply, "", bytes, null, connection));
  }

  private retarget(connection: Connection): void {
    this.flush();
    this.target = connection;
    this.writer.protocol = connection.protocol;
    // A connection in the middle of a dispatch captures from the start of the emptied buffer.
    if (connection.captureMark >= 0) connection.captureMark = 0;
  }

  /**
   * Sends the shared writer's bytes to their connection (captured bytes go to its queue first); with
   * `later`, at the end of this turn of the loop (`sendLater`).
   */
  flush(later = false): void {
    const connection = this.target;
    if (connection !== null) {
      this.cutCaptured(connection);
      const size = this.writer.size;
      if (later && size > 0 && size <= laterBytesMax && !connection.closed) this.sendLater(connection, this.writer.copyFrom(0));
      // The writer's own buffer and a length, not a view of it: a view per reply is an object per
      // request at pipeline 1.
      else if (size > 0) this.send(connection, size);
      if (connection.captureMark >= 0) connection.captureMark = 0;
    }
    this.writer.reset();
    this.writer.shrink(writerBytesKept);
  }

  /**
   * Keeps `bytes` (a copy of the connection's own, which the caller made) for a connection until
   * the socket events of this turn of the loop have all run: then every connection's replies are written in one burst, as Redis writes its replies
   * before it sleeps. After a read of many pipelined commands (each read takes the loop some
   * microseconds), writing at once would wake the client for every connection in turn, and on
   * these machines waking a process on the other core costs the waker more than the replies' own
   * work. After a read of one command or a few, the next read follows too soon for the client to
   * have slept, and large replies cost more to copy than the wake-up.
   */
  private sendLater(connection: Connection, bytes: Uint8Array): void {
    this.countOutput(connection, bytes.length);
    this.keepUnsent(connection, bytes);
    this.later.add(connection);
    if (!this.laterScheduled) {
      this.laterScheduled = true;
      setImmediate(this.writeLater);
    }
  }

  private readonly writeLater = (): void => {
    this.laterScheduled = false;
    for (const connection of this.later) {
      this.later.delete(connection);
      if (!connection.closed) this.drained(connection);
    }
  };

  /** INFO's output counters: bytes of replies to clients, or of answers to peers. */
  private countOutput(connection: Connection, bytes: number): void {
    if (connection.peerSession === null) this.stats.netOutputBytes += bytes;
    else this.stats.netReplOutputBytes += bytes;
  }

  /** Writes the shared writer's first `length` bytes to a connection's socket, keeping what it leaves. */
  private send(connection: Connection, length: number): void {
    const bytes = this.writer.backing();
    if (connection.closed || length === 0) return;
    this.countOutput(connection, length);
    let written = 0;
    if (connection.unsentBytes === 0) {
      written = connection.socket.write(bytes, 0, length);
      if (written < 0) return; // closed underneath us; onClose cleans up
    }
    if (written === length) return;
    // The rest of a batch past the soft limit (a large value) keeps the shared writer's buffer
    // itself, which would be dropped after this flush anyway (`writerBytesKept`): not a copy of it.
    if (bytes.length > writerBytesKept) this.keepUnsent(connection, this.writer.detach().subarray(written, length));
    else this.keepUnsent(connection, bytes.slice(written, length));
  }

  /** Queues bytes (a copy of the connection's own) behind what it has unsent, within the output limits. */
  private keepUnsent(connection: Connection, bytes: Uint8Array): void {
    connection.unsent.push(bytes);
    connection.unsentBytes += bytes.length;
    if (connection.unsentLargest >= 0 && bytes.length > connection.unsentLargest) connection.unsentLargest = bytes.length;
    this.checkOutput(connection);
  }

  /**
   * Enforces the output limits on a connection with unsent bytes. Its largest unsent chunk does
   * not count against `outputBytesMax`: that is one batch of replies, which the shared writer
   * already bounded (by the limit and one value past it), and it is sent whole however large (a
   * GET of a 100 MB value). Past the soft limit nothing more is read from the client, so only
   * messages to a subscriber can pile up behind it, and they count.
   */
  private checkOutput(connection: Connection): void {
    const unsent = connection.unsentBytes;
    if (unsent > this.limits.outputBytesMax && unsent - this.largestUnsent(connection) > this.limits.outputBytesMax) {
      this.disconnectOverLimit(connection, connection.unsentBytes);
      return;
    }
    if (connection.unsentBytes > this.limits.outputSoftBytesMax && !connection.inputPaused) {
      connection.inputPaused = true;
      connection.socket.pause();
    }
  }

  /** The length of the largest chunk `connection` has unsent (kept, or found again when not known). */
  private largestUnsent(connection: Connection): number {
    if (connection.unsentLargest < 0) {
      let largest = 0;
      for (const chunk of connection.unsent) if (chunk.length > largest) largest = chunk.length;
      connection.unsentLargest = largest;
    }
    return connection.unsentLargest;
  }

  /** Disconnects a client whose output passed `outputBytesMax` (Redis's client-output-buffer-limit). */
  private disconnectOverLimit(connection: Connection, bytes: number): void {
    this.stats.outputLimitDisconnections++;
    this.logger.warning(`Client id=${connection.id} addr=${connection.remoteAddress} closed for overcoming of output buffer limits (${bytes} bytes unsent).`);
    connection.closed = true;
    connection.unsent.length = 0;
    connection.unsentBytes = 0;
    connection.unsentLargest = 0;
    connection.socket.terminate();
  }

  private sendUnsent(connection: Connection): void {
    while (connection.unsent.length > 0) {
      const bytes = connection.unsent[0];
      assert(bytes !== undefined, "unsent is not empty");
      const written = connection.socket.write(bytes);
      if (written < 0) return;
      connection.unsentBytes -= Math.max(0, written);
      // The largest chunk shrinks or goes: which one is largest now is found when it matters.
      if (written > 0 && bytes.length === connection.unsentLargest) connection.unsentLargest = -1;
      if (written < bytes.length) {
        connection.unsent[0] = bytes.subarray(written);
        return;
      }
      connection.unsent.shift();
    }
  }

  /** Resumes reading once output has drained and the queue has room again. */
  private maybeResume(connection: Connection): void {
    // Parse what was held back while the client keeps up (each round's replies are sent before the
    // next is parsed); the loop ends when the reader is empty, the client lags again, or this
    // connection had its slice of the loop (it goes on in a later turn).
    const deadline = performance.now() + resumeSliceMilliseconds;
    let rounds = 0;
    while (!connection.closed && !connection.closeAfterReply) {
      // A command that waits for the replies before it runs once they are all written.
      const idle = connection.whenIdle;
      if (idle !== null) {
        if (connection.queued > 0) return;
        connection.whenIdle = null;
        idle();
      }
      if (connection.unsentBytes > this.limits.outputSoftBytesMax / 2) return;
      if (connection.queued > this.limits.queuedRepliesMax / 2) return;
      if (!connection.inputStopped) break;
      if (rounds++ > 0 && performance.now() >= deadline) {
        this.resumeLater(connection);
        return;
      }
      connection.inputStopped = false;
      const status = connection.reader.resume(connection);
      this.afterRead(connection, status.kind === "error" ? status.message : null);
    }
    if (connection.inputPaused && !connection.inputStopped && !connection.closed) {
      connection.inputPaused = false;
      connection.socket.resume();
    }
  }

  /** Goes on with `maybeResume` in a later turn of the loop, after the other sockets' events. */
  private resumeLater(connection: Connection): void {
    if (connection.resumeScheduled) return;
    connection.resumeScheduled = true;
    setImmediate(() => {
      connection.resumeScheduled = false;
      if (connection.closed) return;
      this.maybeResume(connection);
      this.maybeClose(connection);
    });
  }

  private maybeClose(connection: Connection): void {
    if (!connection.closeAfterReply || connection.closed) return;
    if (connection.queued > 0 || connection.unsentBytes > 0) return;
    if (this.target === connection && this.writer.size > 0) return;
    connection.closed = true;
    connection.socket.end();
  }

  /** Notes that a connection's queue may be able to move; drained at the end of this turn. */
  markReady(connection: Connection): void {
    this.ready.add(connection);
    if (!this.readyScheduled) {
      this.readyScheduled = true;
      queueMicrotask(() => this.drainReady());
    }
  }

  /** Writes every reply that reached the head of its queue, one socket write per connection. */
  drainReady(): void {
    this.readyScheduled = false;
    for (const connection of this.ready) {
      this.ready.delete(connection);
      if (connection.closed) continue;
      this.drainQueue(connection);
      this.flush();
      this.maybeResume(connection);
      this.maybeClose(connection);
    }
  }

  /**
   * Runs the slots at the head of a connection's queue that are ready, until the client's unsent
   * output passes the soft limit: the rest run as the client reads (on `drain`), so a client that
   * pipelines without reading holds its replies' work back instead of its replies' bytes. (Before a
   * later write of the connection applies, `force` runs the reads ahead of it regardless, so that
   * none of them can see it.)
   */
  drainQueue(connection: Connection, force = false): void {
    for (;;) {
      const slot = connection.head();
      if (slot === undefined || !slot.done) return;
      if (!force && this.outputBacklog(connection) > this.limits.outputSoftBytesMax) {
        this.flush();
        if (connection.unsentBytes > this.limits.outputSoftBytesMax) return;
      }
      connection.shift();
      connection.runSlot(slot);
    }
  }

  /** Bytes produced for a connection and not yet taken by its socket. */
  outputBacklog(connection: Connection): number {
    return connection.unsentBytes + (this.target === connection ? this.writer.size : 0);
  }
}

const encoder = new TextEncoder();
const movedPrefix = "MOVED 0 ";

function encodeError(message: string): Uint8Array {
  return encoder.encode(`-${message.replace(/[\r\n]/g, " ")}\r\n`);
}
