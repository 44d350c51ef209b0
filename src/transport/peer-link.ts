/**
 * One outgoing link to a peer: a persistent TCP connection over which this node sends Raft
 * messages, pipelined (nothing waits for a reply), many messages coalesced into one `RAFTMSG`
 * frame and one socket write per turn. Bounded: at most `queuedMessagesMax` messages wait while
 * the link is down or slow, and at most `unsentBytesMax` bytes wait in the socket's place; beyond
 * that new messages are dropped, which Raft tolerates (the leader resends what a follower lacks).
 * A lost connection is retried with bounded exponential backoff and jitter.
 */
import { connectTls, type TlsConfig, whenReady } from "../tls.ts";
import type { Socket } from "bun";
import { splitAddress } from "../address.ts";
import { assert } from "../assert.ts";
import type { Logger } from "../log.ts";
import type { Message } from "../raft/types.ts";
import { type Command, type CommandSink, encodeCommand, RespReader } from "../resp/reader.ts";
import { type EncodedBatch, encodeBatch, encodeMessages, messageBytesEstimate } from "./codec.ts";
import { nonce, openerProof, peerProof, peerProtocolVersion, proofMatches } from "./handshake.ts";

/** Limits of one link; see `defaultLinkLimits`. */
export interface LinkLimits {
  /** Messages waiting to be sent; more are dropped. */
  readonly queuedMessagesMax: number;
  /** Bytes the socket has not taken yet; while past it, new messages are dropped. */
  readonly unsentBytesMax: number;
  /** Largest payload of one RAFTMSG frame; a bigger batch is split. */
  readonly frameBytesMax: number;
  /** Snapshot data larger than this is streamed in chunks of this size (`RAFTSNAP`). */
  readonly snapshotChunkBytes: number;
  /** Bytes of snapshot chunks allowed in the socket's place at once, so heartbeats never wait long. */
  readonly snapshotWindowBytes: number;
  /** First and longest wait before reconnecting. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** A handshake that has not finished by then is abandoned. */
  readonly handshakeTimeoutMs: number;
}

/** A peer link's refused handshake is logged as a warning at most this often (per link and reason). */
const refusalWarningIntervalMs = 60_000;
/** The first byte of an error reply. */
const minus = 45;

export const defaultLinkLimits: LinkLimits = {
  queuedMessagesMax: 4096,
  unsentBytesMax: 64 * 1024 * 1024,
  frameBytesMax: 16 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  snapshotWindowBytes: 4 * 1024 * 1024,
  backoffMinMs: 50,
  backoffMaxMs: 2000,
  handshakeTimeoutMs: 5000,
};

/** Who this node is, for the handshake. */
export interface LinkIdentity {
  readonly id: string;
  /** The address this node advertises, where peers answer it. */
  readonly address: string;
  readonly cluster: string;
  /**
   * This node's cluster's id ("" while it has none: see handshake.ts); set once, when a node with
   * no Raft state is adopted by a cluster.
   */
  clusterId: string;
  readonly secret: string;
}

type LinkState = "idle" | "connecting" | "hello" | "auth" | "ready" | "closed";

const encoder = new TextEncoder();
const raftmsg = encoder.encode("RAFTMSG");
const raftsnap = encoder.encode("RAFTSNAP");
const lineEnd = encoder.encode("\r\n");
/** Parts of a frame at least this long are written without being copied into it. */
const separateWriteBytesMin = 64 * 1024;

/** The bytes of a batch's payload and separate data. */
function batchBytes(batch: EncodedBatch): number {
  let bytes = batch.payload.length;
  for (const part of batch.data) bytes += part.length;
  return bytes;
}

/** A snapshot being streamed to the peer in chunks. */
interface SnapshotTransfer {
  readonly id: string;
  readonly data: Uint8Array;
  offset: number;
}

let nextTransferId = 1;

export class PeerLink implements CommandSink {
  private state: LinkState = "idle";
  private socket: Socket<undefined> | null = null;
  private readonly queue: Message[] = [];
  private unsent: Uint8Array[] = [];
  private unsentBytes = 0;
  private flushScheduled = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private handshakeTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private reader = new RespReader();
  private transfer: SnapshotTransfer | null = null;
  private openerNonce = "";
  /** The cluster id this link's RAFTHELLO sent (which the proofs bind). */
  private sentClusterId = "";
  /** Counters, for INFO and tests. */
  readonly stats = { sentMessages: 0, droppedMessages: 0, connects: 0, handshakeFailures: 0 };

  constructor(
    private readonly identity: LinkIdentity,
    /** The peer's id: the handshake fails if someone else answers at the address. */
    readonly peerId: string,
    private address: string,
    private readonly logger: Logger,
    private readonly limits: LinkLimits = defaultLinkLimits,
    private readonly tls: TlsConfig | null = null,
    /** Runs when the peer took more of what did not fit its socket at once: it reads. */
    private readonly reading: () => void = () => {},
  ) {}

  get isReady(): boolean {
    return this.state === "ready";
  }

  /** Points the link at a new address (the peer moved); reconnects. */
  retarget(address: string): void {
    if (address === this.address) return;
    this.address = address;
    this.drop("the peer's address changed");
  }

  /** Queues a message; it leaves with the next flush. */
  send(message: Message): void {
    if (this.state === "closed") return;
    if (this.queue.length >= this.limits.queuedMessagesMax || this.unsentBytes > this.limits.unsentBytesMax) {
      this.stats.droppedMessages++;
      return;
    }
    this.queue.push(message);
    // Idle with a retry pending: the message waits for it. Connecting now would skip the backoff,
    // and a peer that refuses every handshake (another secret) was dialled hundreds of times a second.
    if (this.state === "idle" && this.retryTimer === null) this.connect();
    else if (this.state === "ready") this.scheduleFlush();
  }

  close(): void {
    this.state = "closed";
    this.clearTimers();
    this.queue.length = 0;
    this.socket?.terminate();
    this.socket = null;
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.retryTimer = null;
    this.handshakeTimer = null;
  }

  private connect(): void {
    assert(this.state === "idle", "connect from idle");
    this.state = "connecting";
    this.stats.connects++;
    const parsed = splitAddress(this.address);
    if (parsed === null || parsed.port === 0) {
      // A membership can name an address no socket can reach (one written before addresses were
      // checked): the link retries with backoff as for a peer that cannot be reached, and the
      // node goes on with the others.
      queueMicrotask(() => this.drop(`the address '${this.address}' is not host:port`));
      return;
    }
    const { host: hostname, port } = parsed;
    // Events of a connection this link has already dropped are ignored: the close of the last
    // attempt's socket used to arrive during the next attempt's handshake and drop that one too.
    const attempt = ++this.attempt;
    const current = (): boolean => attempt === this.attempt;
    this.handshakeTimer = setTimeout(() => this.drop("the handshake timed out"), this.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
    Bun.connect({
      hostname,
      port,
      ...(this.tls === null ? {} : { tls: connectTls(this.tls) }),
      socket: {
        ...whenReady(
          this.tls,
          (socket) => (current() ? this.opened(socket) : socket.terminate()),
          (why) => {
            if (current()) this.drop(why);
          },
        ),
        data: (_socket, chunk) => {
          if (!current()) return;
          // A refusal is an error line, whose text (quotes and all) is not a request to parse.
          if (this.state !== "ready" && chunk[0] === minus) {
            this.stats.handshakeFailures++;
            this.refused(`the peer refused the handshake: ${Buffer.from(chunk).toString("latin1").split("\r\n")[0]?.slice(1) ?? ""}`);
            return;
          }
          const status = this.reader.feed(chunk, this);
          if (status.kind === "error") this.drop(`unreadable reply from the peer: ${status.message}`);
        },
        drain: () => {
          if (current() && this.sendUnsent()) this.reading();
        },
        close: () => {
          if (current()) this.drop("the connection closed");
        },
        error: (_socket, error) => {
          if (current()) this.drop(`socket error: ${error.message}`);
        },
      },
    }).catch((error: unknown) => {
      if (current()) this.drop(`cannot connect: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  /** The connection can carry data: start the handshake. */
  private opened(socket: Socket<undefined>): void {
    if (this.state !== "connecting") {
      socket.terminate();
      return;
    }
    this.socket = socket;
    this.state = "hello";
    this.reader = new RespReader();
    this.openerNonce = nonce();
    const identity = this.identity;
    this.sentClusterId = identity.clusterId;
    const hello = ["RAFTHELLO", peerProtocolVersion, identity.cluster, this.sentClusterId, identity.id, this.openerNonce, identity.address];
    this.writeNow(encodeCommand(hello.map((part) => encoder.encode(part))));
  }

  /** Replies from the peer during the handshake (parsed with the request reader: arrays of bulks or `+OK` lines). */
  onCommand(command: Command): boolean {
    const first = command.key(0);
    if (first.startsWith("-")) {
      this.stats.handshakeFailures++;
      this.refused(`the peer refused the handshake: ${command.args.map((arg) => Buffer.from(arg).toString("latin1")).join(" ")}`);
      return false;
    }
    if (this.state === "hello" && command.argCount === 3) {
      const peerId = command.key(0);
      const parties = {
        secret: this.identity.secret,
        cluster: this.identity.cluster,
        clusterId: this.sentClusterId,
        openerId: this.identity.id,
        openerNonce: this.openerNonce,
        openerAddress: this.identity.address,
        peerId,
        peerNonce: command.key(1),
      };
      if (peerId !== this.peerId) {
        this.stats.handshakeFailures++;
        this.refused(`${this.address} is node ${peerId.slice(0, 12)}, not the expected ${this.peerId.slice(0, 12)}`);
        return false;
      }
      if (!proofMatches(command.key(2), peerProof(parties))) {
        this.stats.handshakeFailures++;
        this.refused("the peer's proof is wrong (is the cluster secret the same on every node?)");
        return false;
      }
      this.state = "auth";
      this.writeNow(encodeCommand([encoder.encode("RAFTAUTH"), encoder.encode(openerProof(parties))]));
      return true;
    }
    if (this.state === "auth" && first === "+OK") {
      this.state = "ready";
      this.failures = 0;
      if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
      this.logger.verbose(`Peer link to ${this.peerId.slice(0, 12)} at ${this.address} is up`);
      this.scheduleFlush();
      return true;
    }
    this.drop(`unexpected reply from the peer in state ${this.state}`);
    return false;
  }

  /**
   * A handshake that failed for a reason retrying will not cure (another secret, another cluster,
   * another node at the address): a warning, once a minute for as long as it lasts, then `drop`.
   */
  private refused(why: string): void {
    const now = Date.now();
    if (why !== this.lastRefusal || now - this.lastRefusalWarnedAt >= refusalWarningIntervalMs) {
      this.lastRefusal = why;
      this.lastRefusalWarnedAt = now;
      this.logger.warning(`Peer link to ${this.peerId.slice(0, 12)} at ${this.address}: ${why}`);
    }
    this.drop(why);
  }

  private lastRefusal = "";
  /** Numbers connection attempts; a dropped attempt's late events are ignored. */
  private attempt = 0;
  private lastRefusalWarnedAt = 0;

  /** Abandons the connection and schedules a reconnect with backoff (messages queued are kept). */
  private drop(why: string): void {
    if (this.state === "closed" || this.state === "idle") return;
    this.attempt++;
    const wasReady = this.state === "ready";
    this.logger.verbose(`Peer link to ${this.peerId.slice(0, 12)} at ${this.address} down: ${why}`);
    this.clearTimers();
    this.socket?.terminate();
    this.socket = null;
    this.unsent = [];
    this.unsentBytes = 0;
    this.transfer = null;
    this.state = "idle";
    if (!wasReady) this.failures++;
    // Messages queued for a link that is down go stale quickly; Raft resends what matters.
    this.queue.length = 0;
    const backoff = Math.min(this.limits.backoffMaxMs, this.limits.backoffMinMs * 2 ** Math.min(this.failures, 10));
    const delay = backoff / 2 + Math.random() * (backoff / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === "idle") this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes what is queued now rather than at the end of the task (see `Transport.sendNow`). */
  flushNow(): void {
    this.flush();
  }

  /** Encodes everything queued into RAFTMSG frames and writes them. */
  private flush(): void {
    if (this.state !== "ready" || this.queue.length === 0) return;
    const messages: Message[] = [];
    const snapshots: (Message & { type: "snapshot" })[] = [];
    for (const message of this.queue.splice(0)) {
      if (message.type === "snapshot" && message.snapshot.data.byteLength > this.limits.snapshotChunkBytes) snapshots.push(message);
      else messages.push(message);
    }
    let from = 0;
    while (from < messages.length) {
      // As many messages as fit a frame by their estimated size (a single huge one goes alone),
      // packed once; should the estimate fall short, the batch is halved until it fits.
      let to = from + 1;
      let bytes = messageBytesEstimate(messages[from]!);
      while (to < messages.length) {
        const next = messageBytesEstimate(messages[to]!);
        if (bytes + next > this.limits.frameBytesMax) break;
        bytes += next;
        to++;
      }
      let batch = encodeBatch(messages.slice(from, to), bytes);
      while (batchBytes(batch) > this.limits.frameBytesMax && to - from > 1) {
        to = from + Math.ceil((to - from) / 2);
        batch = encodeBatch(messages.slice(from, to));
      }
      this.writeFrame(batch);
      this.stats.sentMessages += to - from;
      from = to;
    }
    // Small messages first; a snapshot then streams, a window per turn.
    const newest = snapshots[snapshots.length - 1];
    if (newest !== undefined) this.startTransfer(newest);
  }

  /**
   * Starts streaming a snapshot: its message without the data goes first, then the data in
   * chunks, never more than `snapshotWindowBytes` ahead of what the socket took, so the messages
   * queued meanwhile (heartbeats) wait behind a few chunks at most. A newer snapshot replaces one
   * still being sent.
   */
  private startTransfer(message: Message & { type: "snapshot" }): void {
    const id = `${this.identity.id.slice(0, 8)}-${nextTransferId++}`;
    const data = message.snapshot.data;
    const header = { ...message, snapshot: { ...message.snapshot, data: new Uint8Array(0) } };
    this.transfer = { id, data, offset: 0 };
    this.writeNow(encodeCommand([raftsnap, encoder.encode(id), encoder.encode("begin"), encoder.encode(String(data.byteLength)), encodeMessages([header])]));
    this.stats.sentMessages++;
    this.pumpTransfer();
  }

  /**
   * Sends the next window of the snapshot in flight, if the socket has taken what was sent before;
   * the rest follows on a later turn (or on `drain`), so the messages of each turn get between.
   */
  private pumpTransfer(): void {
    const transfer = this.transfer;
    if (transfer === null || this.state !== "ready" || this.unsentBytes > 0) return;
    const id = encoder.encode(transfer.id);
    const windowEnd = Math.min(transfer.data.byteLength, transfer.offset + this.limits.snapshotWindowBytes);
    while (transfer.offset < windowEnd) {
      const end = Math.min(windowEnd, transfer.offset + this.limits.snapshotChunkBytes);
      const chunk = transfer.data.subarray(transfer.offset, end);
      this.writeNow(encodeCommand([raftsnap, id, encoder.encode("chunk"), encoder.encode(String(transfer.offset)), chunk]));
      transfer.offset = end;
    }
    if (transfer.offset < transfer.data.byteLength) {
      setImmediate(() => {
        if (this.transfer === transfer) this.pumpTransfer();
      });
      return;
    }
    const crc = String(Bun.hash.crc32(transfer.data) >>> 0);
    this.writeNow(encodeCommand([raftsnap, id, encoder.encode("end"), encoder.encode(crc), new Uint8Array(0)]));
    this.transfer = null;
  }

  /**
   * Writes `RAFTMSG <payload> <data>...`. Large parts (the payload, each large entry's data) are
   * written as they are, not copied into one frame; the small ones between them go together.
   */
  private writeFrame(batch: EncodedBatch): void {
    const { payload, data } = batch;
    if (data.length === 0 && payload.length < separateWriteBytesMin) {
      this.writeNow(encodeCommand([raftmsg, payload]));
      return;
    }
    let text = `*${2 + data.length}\r\n$7\r\nRAFTMSG\r\n`;
    const parts = [payload, ...data];
    for (const part of parts) {
      text += `$${part.length}\r\n`;
      if (part.length < separateWriteBytesMin) {
        this.writeNow(Buffer.concat([encoder.encode(text), part, lineEnd]));
        text = "";
      } else {
        this.writeNow(encoder.encode(text));
        this.writeNow(part);
        text = "\r\n";
      }
    }
    if (text !== "") this.writeNow(encoder.encode(text));
  }

  private writeNow(frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === null) return;
    if (this.unsentBytes > 0) {
      this.unsent.push(frame);
      this.unsentBytes += frame.length;
      return;
    }
    const written = socket.write(frame);
    if (written < 0) return;
    if (written < frame.length) {
      const rest = frame.subarray(written);
      this.unsent.push(rest);
      this.unsentBytes += rest.length;
    }
  }

  /** Writes what waited for the socket; returns whether some of it left (the peer reads). */
  private sendUnsent(): boolean {
    const socket = this.socket;
    let sent = false;
    while (socket !== null && this.unsent.length > 0) {
      const frame = this.unsent[0];
      assert(frame !== undefined, "unsent is not empty");
      const written = socket.write(frame);
      if (written < 0) return sent;
      sent ||= written > 0;
      this.unsentBytes -= Math.max(0, written);
      if (written < frame.length) {
        this.unsent[0] = frame.subarray(written);
        return sent;
      }
      this.unsent.shift();
    }
    this.pumpTransfer();
    return sent;
  }
}
