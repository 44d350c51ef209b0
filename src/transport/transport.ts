/**
 * Raft traffic between nodes, on the same port as clients, in RESP. Outgoing: one `PeerLink` per
 * peer. Incoming: the server hands the peer commands (`RAFTHELLO`, `RAFTAUTH`, `RAFTMSG`) of a
 * connection to `accept*` here; only a connection that completed the handshake may deliver
 * messages, and only messages from the node it authenticated as, addressed to this node.
 */
import type { TlsConfig } from "../tls.ts";
import type { Logger } from "../log.ts";
import { isLeaderMessage, type Message } from "../raft/types.ts";
import type { Command } from "../resp/reader.ts";
import { decodeMessages } from "./codec.ts";
import { nonce, openerProof, peerProof, peerProtocolVersion, proofMatches } from "./handshake.ts";
import { defaultLinkLimits, type LinkIdentity, type LinkLimits, PeerLink } from "./peer-link.ts";

/** Most messages one RAFTMSG frame may carry; a peer sending more is misbehaving. */
const frameMessagesMax = 100_000;
/** The data after a batch that has none (never added to). */
const noSeparateData: Uint8Array[] = [];

/** The state of an incoming peer connection, kept on the server's connection. */
export interface PeerSession {
  state: "hello" | "ready";
  readonly openerId: string;
  /** The opener's cluster id ("" when it has none). */
  readonly openerClusterId: string;
  readonly openerNonce: string;
  /** The address the opener advertises; this node answers it there. */
  readonly openerAddress: string;
  readonly peerNonce: string;
  /** A snapshot being streamed in by this peer (`RAFTSNAP`). */
  transfer?: IncomingSnapshot | null;
  /**
   * Whether the last message this link delivered was a leader's (an append, a heartbeat, a
   * snapshot): only then do more bytes on it count as the leader's word (`RaftNode.heardFrom`).
   * A leader killed and restarted opens a new link and asks for votes on it; counted, its bytes
   * kept the followers that still took it for their leader from ever standing for election.
   */
  leaderTraffic?: boolean;
}

interface IncomingSnapshot {
  readonly id: string;
  readonly header: Message & { readonly type: "snapshot" };
  readonly data: Uint8Array;
  received: number;
}

/** What an incoming peer command produced: a reply to write, or nothing, or a reason to close. */
export type PeerReply =
  | { readonly kind: "reply"; readonly values: readonly string[] | string }
  | { readonly kind: "none" }
  | { readonly kind: "refuse"; readonly error: string; readonly close: boolean };

/** The largest snapshot a peer may stream to this node (it is assembled in memory to be restored). */
const snapshotBytesMax = 2 * 1024 * 1024 * 1024 - 1;

/** Addresses learned from peers' handshakes, kept for at most this many peers. */
const learnedAddressesMax = 256;

export class Transport {
  private readonly links = new Map<string, PeerLink>();
  /** The members' addresses, as the membership gives them. */
  private peers: ReadonlyMap<string, string> = new Map();
  /**
   * Addresses of peers that opened authenticated links to this node, as they advertised them. A
   * node that joined and has no membership yet answers its leader through these.
   */
  private readonly learned = new Map<string, string>();
  /** Counters, for INFO and tests. */
  readonly stats = { receivedMessages: 0, refusedFrames: 0 };
  /** Runs when a peer takes more of a frame that did not fit its socket at once (`PeerLink`). */
  onPeerReading: (id: string) => void = () => {};

  constructor(
    private readonly identity: LinkIdentity,
    private readonly logger: Logger,
    /** Receives every authenticated message addressed to this node. */
    private readonly deliver: (messages: readonly Message[]) => void,
    private readonly limits: LinkLimits = defaultLinkLimits,
    /** TLS for the links this node opens, or null. */
    private readonly tls: TlsConfig | null = null,
    /**
     * Records `clusterId` as this node's own, durably, when the node may take one (it has no id
     * and no Raft state yet); false when it may not. Null: this node never takes one.
     */
    private readonly adoptCluster: ((clusterId: string) => boolean) | null = null,
  ) {}

  /** Sets the members (id to address); links to nodes no longer known are closed. */
  setPeers(peers: ReadonlyMap<string, string>): void {
    // A member that leaves the membership is forgotten, its address learned from a handshake too:
    // its link closes (a member replaced at its address by a new id was dialled, and warned
    // about, for ever).
    for (const id of this.peers.keys()) if (!peers.has(id)) this.learned.delete(id);
    this.peers = peers;
    for (const [id, link] of this.links) {
      const address = this.addressOf(id);
      if (address === undefined) {
        link.close();
        this.links.delete(id);
      } else {
        link.retarget(address);
      }
    }
  }

  private addressOf(id: string): string | undefined {
    return this.peers.get(id) ?? this.learned.get(id);
  }

  /** Sends messages to their peers (messages to nodes of unknown address are dropped). */
  /**
   * Queues `messages` to their peers; each link writes its queue at the end of the current task,
   * coalescing every message sent until then into one write. `sendNow` writes at once instead.
   */
  send(messages: readonly Message[]): void {
    for (const message of messages) {
      let link = this.links.get(message.to);
      if (link === undefined) {
        const address = this.addressOf(message.to);
        if (address === undefined || message.to === this.identity.id) continue;
        const to = message.to;
        link = new PeerLink(this.identity, to, address, this.logger, this.limits, this.tls, () => this.onPeerReading(to));
        this.links.set(message.to, link);
      }
      link.send(message);
    }
  }

  /**
   * Sends `messages` and writes every link's queue now: for a node that is about to block its
   * loop (a synchronous disk commit), so that the messages are on the wire meanwhile.
   */
  sendNow(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    this.send(messages);
    for (const link of this.links.values()) link.flushNow();
  }

  /** A link's counters (connections opened, handshakes refused, ...), or null when there is none. */
  linkStats(id: string): Readonly<PeerLink["stats"]> | null {
    return this.links.get(id)?.stats ?? null;
  }

  /** Link state by peer, for RAFTPEERS and INFO. */
  linkReady(id: string): boolean {
    return this.links.get(id)?.isReady ?? false;
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /**
   * Why a peer of cluster id `openerClusterId` may not link to this node, or null when it may:
   * both have ids and they differ (two clusters, whatever their names).
   */
  private otherCluster(openerClusterId: string): string | null {
    const own = this.identity.clusterId;
    if (own === "" || openerClusterId === "" || own === openerClusterId) return null;
    return `ERR this node belongs to another cluster (id ${own.slice(0, 12)}, not ${openerClusterId.slice(0, 12)}): its log must not meet that cluster's`;
  }

  /** `RAFTHELLO <version> <cluster> <clusterId> <openerId> <openerNonce> <openerAddress>` on a new connection. */
  acceptHello(session: PeerSession | null, command: Command): { reply: PeerReply; session: PeerSession | null } {
    if (session !== null) return { reply: refuse("ERR peer handshake already started", true), session };
    if (command.argCount !== 7) return { reply: refuse("ERR wrong number of arguments for 'rafthello' command", false), session: null };
    if (command.key(1) !== peerProtocolVersion) {
      return { reply: refuse(`ERR peer protocol version ${command.key(1)} is not ${peerProtocolVersion}`, true), session: null };
    }
    if (command.key(2) !== this.identity.cluster) {
      return { reply: refuse(`ERR this node belongs to cluster '${this.identity.cluster}', not '${command.key(2)}'`, true), session: null };
    }
    const other = this.otherCluster(command.key(3));
    if (other !== null) return { reply: refuse(other, true), session: null };
    if (command.key(4) === this.identity.id) {
      // No node opens a link to itself; messages "from" this node would reach the core's assertions.
      return { reply: refuse("ERR a peer cannot claim this node's own id", true), session: null };
    }
    const next: PeerSession = {
      state: "hello",
      openerId: command.key(4),
      openerClusterId: command.key(3),
      openerNonce: command.key(5),
      openerAddress: command.key(6),
      peerNonce: nonce(),
    };
    const proof = peerProof(this.parties(next));
    return { reply: { kind: "reply", values: [this.identity.id, next.peerNonce, proof] }, session: next };
  }

  /** `RAFTAUTH <openerProof>` after RAFTHELLO. */
  acceptAuth(session: PeerSession | null, command: Command): PeerReply {
    if (session === null || session.state !== "hello") return refuse("ERR RAFTAUTH before RAFTHELLO", true);
    if (!proofMatches(command.key(1), openerProof(this.parties(session)))) {
      this.logger.warning(`Refused a peer claiming to be ${session.openerId.slice(0, 12)}: wrong proof (different cluster secret?)`);
      return refuse("ERR peer authentication failed", true);
    }
    // Again: this node may have taken a cluster id since this peer's RAFTHELLO (two clusters
    // adding the same new node at once: the first to finish the handshake has it).
    const other = this.otherCluster(session.openerClusterId);
    if (other !== null) return refuse(other, true);
    if (this.identity.clusterId === "" && session.openerClusterId !== "" && this.adoptCluster?.(session.openerClusterId) === true) {
      this.identity.clusterId = session.openerClusterId;
      this.logger.notice(`This node now belongs to cluster ${session.openerClusterId.slice(0, 12)} (its first peer, ${session.openerId.slice(0, 12)}, is of it)`);
    }
    session.state = "ready";
    if (!this.learned.has(session.openerId) && this.learned.size >= learnedAddressesMax) {
      const oldest = this.learned.keys().next().value;
      if (oldest !== undefined) this.learned.delete(oldest);
    }
    this.learned.set(session.openerId, session.openerAddress);
    return { kind: "reply", values: "OK" };
  }

  /**
   * `RAFTMSG <batch> [<data> ...]` from an authenticated peer (large entries' data after the
   * batch, see codec.ts): decoded, checked and delivered; never answered.
   */
  acceptMessages(session: PeerSession | null, command: Command): PeerReply {
    if (session === null || session.state !== "ready") {
      return refuse("NOAUTH Raft traffic is accepted only after the peer handshake", false);
    }
    const separate: Uint8Array[] = command.argCount > 2 ? [] : noSeparateData;
    for (let i = 2; i < command.argCount; i++) separate.push(command.arg(i));
    const decoded = decodeMessages(command.arg(1), frameMessagesMax, separate);
    if (typeof decoded === "string") {
      this.stats.refusedFrames++;
      this.logger.warning(`Closing the link from peer ${session.openerId.slice(0, 12)}: ${decoded}`);
      return refuse(`ERR bad Raft frame: ${decoded}`, true);
    }
    const accepted = decoded.filter((message) => message.from === session.openerId && message.to === this.identity.id);
    if (accepted.length < decoded.length) {
      this.logger.warning(`Dropped ${decoded.length - accepted.length} messages from peer ${session.openerId.slice(0, 12)} not sent by it or not for this node`);
    }
    this.stats.receivedMessages += accepted.length;
    const last = accepted.at(-1);
    if (last !== undefined) session.leaderTraffic = isLeaderMessage(last);
    if (accepted.length > 0) this.deliver(accepted);
    return { kind: "none" };
  }

  /**
   * `RAFTSNAP <id> begin <bytes> <message>`, `... chunk <offset> <bytes>`, `... end <crc32> ""`: a
   * snapshot streamed in chunks. Chunks must arrive in order and fill it exactly, and the whole
   * must match its CRC32; anything else refuses the transfer and closes the link.
   */
  acceptSnapshotChunk(session: PeerSession | null, command: Command): PeerReply {
    if (session === null || session.state !== "ready") {
      return refuse("NOAUTH Raft traffic is accepted only after the peer handshake", false);
    }
    if (command.argCount !== 5) return refuse("ERR wrong number of arguments for 'raftsnap' command", true);
    const id = command.key(1);
    const kind = command.key(2);
    const number = Number(command.key(3));
    const payload = command.arg(4);
    const bad = (why: string): PeerReply => {
      session.transfer = null;
      this.stats.refusedFrames++;
      this.logger.warning(`Closing the link from peer ${session.openerId.slice(0, 12)}: bad snapshot stream: ${why}`);
      return refuse(`ERR bad snapshot stream: ${why}`, true);
    };
    if (!Number.isSafeInteger(number) || number < 0) return bad("a length or offset is not a natural number");
    switch (kind) {
      case "begin": {
        if (number > snapshotBytesMax) return bad(`a snapshot of ${number} bytes is larger than ${snapshotBytesMax}`);
        const decoded = decodeMessages(payload, 1);
        const header = typeof decoded === "string" ? undefined : decoded[0];
        if (header === undefined || header.type !== "snapshot") return bad("the header is not a snapshot message");
        if (header.from !== session.openerId || header.to !== this.identity.id) return bad("the snapshot is not from this peer for this node");
        session.transfer = { id, header, data: new Uint8Array(number), received: 0 };
        return { kind: "none" };
      }
      case "chunk": {
        const transfer = session.transfer;
        if (transfer === null || transfer === undefined || transfer.id !== id) return bad("a chunk of an unknown transfer");
        if (number !== transfer.received || number + payload.byteLength > transfer.data.byteLength) {
          return bad("a chunk out of order or past the end");
        }
        transfer.data.set(payload, number);
        transfer.received += payload.byteLength;
        return { kind: "none" };
      }
      case "end": {
        const transfer = session.transfer;
        if (transfer === null || transfer === undefined || transfer.id !== id) return bad("the end of an unknown transfer");
        if (transfer.received !== transfer.data.byteLength) return bad("the snapshot ended short");
        if ((Bun.hash.crc32(transfer.data) >>> 0) !== number) return bad("the snapshot fails its checksum");
        session.transfer = null;
        const message = { ...transfer.header, snapshot: { ...transfer.header.snapshot, data: transfer.data } };
        this.stats.receivedMessages++;
        this.deliver([message]);
        return { kind: "none" };
      }
      default:
        return bad(`unknown part '${kind}'`);
    }
  }

  private parties(session: PeerSession) {
    return {
      secret: this.identity.secret,
      cluster: this.identity.cluster,
      clusterId: session.openerClusterId,
      openerId: session.openerId,
      openerNonce: session.openerNonce,
      openerAddress: session.openerAddress,
      peerId: this.identity.id,
      peerNonce: session.peerNonce,
    };
  }
}

function refuse(error: string, close: boolean): PeerReply {
  return { kind: "refuse", error, close };
}
