/**
 * Proxy mode (`-redirect proxy`): a follower forwards the commands only the leader may serve and
 * relays the leader's replies, byte for byte, into each client's ordered reply queue. One
 * pipelined connection per leader address and protocol version (2, or 3 after `HELLO 3`), shared
 * by every client of this node; replies come back in the order the commands were sent, so each is
 * matched to its slot by a FIFO.
 *
 * If the connection to the leader fails, the commands in flight may or may not have been applied:
 * they are answered with the distinct "outcome unknown" error, never with a plain failure. If it
 * never opened, nothing was sent, and they are answered `TRYAGAIN` (not applied).
 */
import type { Socket } from "bun";
import { splitAddress } from "../address.ts";
import { assert } from "../assert.ts";
import { RespError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { encodeCommand } from "../resp/reader.ts";
import { ReplyScanner } from "../resp/reply-scanner.ts";
import { connectTls, type TlsConfig, whenReady } from "../tls.ts";
import type { Slot } from "./connection.ts";

/** The encoding of `MULTI` and `EXEC`, which frame a transaction forwarded as one unit. */
export const multiFrame: Uint8Array = Buffer.from("*1\r\n$5\r\nMULTI\r\n", "latin1");
export const execFrame: Uint8Array = Buffer.from("*1\r\n$4\r\nEXEC\r\n", "latin1");

/**
 * How long a link to a leader that is no longer the leader keeps its commands in flight: one that
 * stepped down answers them (or redirects them) within it; one that stopped (paused, cut off)
 * would hold them until it comes back, with no bound (a 40 s pause held SETs 40 s).
 */
const deposedGraceMilliseconds = 1000;

/** Commands in flight on one proxy link; more are refused (the leader is not keeping up). */
export const inflightCommandsMax = 65_536;
/** A reply larger than this from the leader closes the link (the bulk limit plus headroom). */
const replyBytesMax = 600 * 1024 * 1024;

const uncertain = (): RespError =>
  new RespError("UNCERTAIN The connection to the leader was lost: the command may or may not have been applied");

const notForwarded = (why: string): RespError => new RespError(`TRYAGAIN ${why}; the command was not forwarded`);

/** A read has nothing to be uncertain about: it changed nothing, and may simply be sent again. */
const readLost = (): RespError => new RespError("TRYAGAIN The connection to the leader was lost before the read was answered; it changed nothing");

type LinkState = "connecting" | "hello" | "ready" | "closed";

class ProxyLink {
  private state: LinkState = "connecting";
  private socket: Socket<undefined> | null = null;
  /** Replies awaited, in order: a slot to settle, or null for a reply to skip (`forward`'s `skip`). */
  private readonly inflight: (Slot | null)[] = [];
  /** Frames waiting for the connection to open, or for the socket to take them. */
  private waiting: Uint8Array[] = [];
  private waitingBytes = 0;
  private buffer: Buffer = Buffer.alloc(0);
  private bufferEnd = 0;
  /** Finds where each reply ends, going on from where it stopped in one that is incomplete. */
  private readonly scanner = new ReplyScanner();

  /** Replies to skip before the relayed ones (AUTH, HELLO 3). */
  private handshakeReplies = 0;

  constructor(
    readonly address: string,
    private readonly protocol: 2 | 3,
    private readonly password: string,
    private readonly logger: Logger,
    private readonly onClosed: (link: ProxyLink) => void,
    tls: TlsConfig | null,
    /** A link of one command (a blocking one): it closes once that command is answered. */
    private readonly once = false,
  ) {
    const parsed = splitAddress(address);
    if (parsed === null || parsed.port === 0) {
      queueMicrotask(() => this.close(`the leader's address '${address}' is not host:port`));
      return;
    }
    const { host: hostname, port } = parsed;
    Bun.connect({
      hostname,
      port,
      ...(tls === null ? {} : { tls: connectTls(tls) }),
      socket: {
        ...whenReady(
          tls,
          (socket) => this.opened(socket),
          (why) => this.close(why),
        ),
        data: (_socket, chunk) => this.received(chunk),
        drain: () => this.writeWaiting(),
        close: () => this.close("the leader closed the connection"),
        error: (_socket, error) => this.close(error.message),
      },
    }).catch((error: unknown) => this.close(error instanceof Error ? error.message : String(error)));
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /** Whether replies are still awaited. */
  get waitingForReplies(): boolean {
    return this.inflight.length > 0;
  }

  /**
   * Sends a command's frame (or several commands' frames, one unit); `slot` is settled with the
   * leader's reply bytes to the last of them, the `skip` replies before it are dropped.
   */
  forward(frame: Uint8Array, slot: Slot, skip = 0): void {
    if (this.state === "closed") {
      slot.settle(undefined, uncertain());
      return;
    }
    if (skip + 1 > inflightCommandsMax) {
      slot.settle(undefined, notForwarded(`The transaction has more commands than a proxy link holds in flight (${inflightCommandsMax})`));
      return;
    }
    if (this.inflight.length + skip >= inflightCommandsMax) {
      slot.settle(undefined, notForwarded("The leader is not keeping up"));
      return;
    }
    for (let i = 0; i < skip; i++) this.inflight.push(null);
    this.inflight.push(slot);
    this.write(frame.slice());
  }

  private opened(socket: Socket<undefined>): void {
    this.socket = socket;
    // The leader wants the same password, and must answer in RESP3 for RESP3 clients: the
    // replies to AUTH and HELLO are skipped.
    if (this.password !== "") {
      socket.write(encodeCommand([Buffer.from("AUTH"), Buffer.from(this.password)]));
      this.handshakeReplies++;
    }
    if (this.protocol === 3) {
      socket.write("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
      this.handshakeReplies++;
    }
    this.state = this.handshakeReplies > 0 ? "hello" : "ready";
    this.writeWaiting();
  }

  private write(frame: Uint8Array): void {
    if (this.socket === null || this.waiting.length > 0) {
      this.waiting.push(frame);
      this.waitingBytes += frame.length;
      return;
    }
    const written = Math.max(0, this.socket.write(frame));
    if (written < frame.length) {
      this.waiting.push(frame.subarray(written));
      this.waitingBytes += frame.length - written;
    }
  }

  private writeWaiting(): void {
    const socket = this.socket;
    while (socket !== null && this.waiting.length > 0) {
      const frame = this.waiting[0];
      assert(frame !== undefined, "waiting is not empty");
      const written = Math.max(0, socket.write(frame));
      this.waitingBytes -= written;
      if (written < frame.length) {
        this.waiting[0] = frame.subarray(written);
        return;
      }
      this.waiting.shift();
    }
  }

  private received(chunk: Uint8Array): void {
    if (this.bufferEnd + chunk.length > this.buffer.length) {
      const next = Buffer.allocUnsafe(Math.max(16 * 1024, 2 * (this.bufferEnd + chunk.length)));
      this.buffer.copy(next, 0, 0, this.bufferEnd);
      this.buffer = next;
    }
    this.buffer.set(chunk, this.bufferEnd);
    this.bufferEnd += chunk.length;
    let start = 0;
    for (;;) {
      const end = this.scanner.scan(this.buffer, start, this.bufferEnd);
      if (end === "incomplete") break;
      if (typeof end !== "number") {
        this.close(`unreadable reply from the leader: ${end.error}`);
        return;
      }
      const reply = this.buffer.subarray(start, end);
      start = end;
      if (this.state === "hello") {
        this.handshakeReplies--;
        if (reply[0] === 45) {
          this.close(`the leader refused the proxy's handshake: ${Buffer.from(reply).toString("latin1").trim()}`);
          return;
        }
        if (this.handshakeReplies === 0) this.state = "ready";
        continue;
      }
      const slot = this.inflight.shift();
      if (slot === undefined) {
        this.close("the leader sent a reply nobody asked for");
        return;
      }
      if (slot === null) continue;
      // Copied (one memcpy): the buffer is reused for the replies that follow.
      const copy = new Uint8Array(reply.length);
      copy.set(reply);
      slot.settle(copy, undefined);
      if (this.once && this.inflight.length === 0) {
        this.close("its one command was answered");
        return;
      }
    }
    if (start > 0) {
      this.buffer.copy(this.buffer, 0, start, this.bufferEnd);
      this.bufferEnd -= start;
      this.scanner.shift(start);
    }
    if (this.bufferEnd > replyBytesMax) this.close("a reply from the leader is too large");
  }

  close(why: string): void {
    if (this.state === "closed") return;
    // A link that never opened sent nothing: its commands were certainly not applied.
    const neverOpened = this.state === "connecting";
    this.state = "closed";
    this.logger.verbose(`Proxy link to the leader at ${this.address} closed: ${why}`);
    this.socket?.terminate();
    this.socket = null;
    this.waiting = [];
    this.waitingBytes = 0;
    const error = neverOpened ? notForwarded(`The leader at ${this.address} could not be reached (${why})`) : uncertain();
    for (const slot of this.inflight.splice(0)) slot?.settle(undefined, slot.forwardedRead && !neverOpened ? readLost() : error);
    this.onClosed(this);
  }
}

export class LeaderProxy {
  private readonly links = new Map<string, ProxyLink>();
  /** Links of one blocking command each (`forwardAlone`). */
  private readonly lone = new Set<ProxyLink>();

  constructor(
    private readonly logger: Logger,
    /** The client password the leader wants (the same on every node), or "". */
    private readonly password = "",
    /** TLS for connections to the leader, or null. */
    private readonly tls: TlsConfig | null = null,
  ) {}

  /** Forwards a command's frame to the leader at `address`; `slot` gets the reply bytes (see `ProxyLink.forward`). */
  forward(address: string, protocol: 2 | 3, frame: Uint8Array, slot: Slot, skip = 0): void {
    const key = `${protocol}|${address}`;
    let link = this.links.get(key);
    if (link === undefined || link.closed) {
      link = new ProxyLink(
        address,
        protocol,
        this.password,
        this.logger,
        (closed) => {
          if (this.links.get(key) === closed) this.links.delete(key);
        },
        this.tls,
      );
      this.links.set(key, link);
    }
    link.forward(frame, slot, skip);
  }

  /**
   * Forwards one blocking command on a link of its own, closed once it is answered: on the shared
   * link a blocked command would hold every other client's replies behind it. Closing the returned
   * link (its client left) makes the leader drop the waiting command, with nothing taken for it.
   */
  forwardAlone(address: string, protocol: 2 | 3, frame: Uint8Array, slot: Slot): { close(why: string): void } {
    const link = new ProxyLink(address, protocol, this.password, this.logger, (closed) => this.lone.delete(closed), this.tls, true);
    if (!link.closed) this.lone.add(link);
    link.forward(frame, slot);
    return link;
  }

  /**
   * A leader is known at `address` (this node's own when it leads now): the links to another
   * address that still wait for replies after `deposedGraceMilliseconds` are closed, and their
   * commands answered (UNCERTAIN, or TRYAGAIN for a read) rather than held until that node
   * comes back.
   */
  leaderMoved(address: string): void {
    const stale = [...this.links.values(), ...this.lone].filter((link) => link.address !== address && link.waitingForReplies);
    if (stale.length === 0) return;
    setTimeout(() => {
      for (const link of stale) if (link.waitingForReplies) link.close(`the leader is now at ${address}, and ${link.address} did not answer`);
    }, deposedGraceMilliseconds).unref();
  }

  close(): void {
    for (const link of this.links.values()) link.close("the node is closing");
    this.links.clear();
    for (const link of [...this.lone]) link.close("the node is closing");
  }
}
