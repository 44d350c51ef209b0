/**
 * Raft traffic between nodes, on the same port as clients, in RESP. Outgoing: one `PeerLink` per
 * peer. Incoming: the server hands the peer commands (`RAFTHELLO`, `RAFTAUTH`, `RAFTMSG`) of a
 * connection to `accept*` here; only a connection that completed the handshake may deliver
 * messages, and only messages from the node it authenticated as, addressed to this node.
 */
import type { Logger } from "../log.ts";
import type { Message } from "../raft/types.ts";
import type { Command } from "../resp/reader.ts";
import { decodeMessages } from "./codec.ts";
import { nonce, openerProof, peerProof, peerProtocolVersion, proofMatches } from "./handshake.ts";
import { defaultLinkLimits, type LinkIdentity, type LinkLimits, PeerLink } from "./peer-link.ts";

/** Most messages one RAFTMSG frame may carry; a peer sending more is misbehaving. */
const frameMessagesMax = 100_000;

/** The state of an incoming peer connection, kept on the server's connection. */
export interface PeerSession {
  state: "hello" | "ready";
  readonly openerId: string;
  readonly openerNonce: string;
  readonly peerNonce: string;
}

/** What an incoming peer command produced: a reply to write, or nothing, or a reason to close. */
export type PeerReply =
  | { readonly kind: "reply"; readonly values: readonly string[] | string }
  | { readonly kind: "none" }
  | { readonly kind: "refuse"; readonly error: string; readonly close: boolean };

export class Transport {
  private readonly links = new Map<string, PeerLink>();
  /** Counters, for INFO and tests. */
  readonly stats = { receivedMessages: 0, refusedFrames: 0 };

  constructor(
    private readonly identity: LinkIdentity,
    private readonly logger: Logger,
    /** Receives every authenticated message addressed to this node. */
    private readonly deliver: (messages: readonly Message[]) => void,
    private readonly limits: LinkLimits = defaultLinkLimits,
  ) {}

  /** Sets the peers (id to address); links to peers no longer listed are closed. */
  setPeers(peers: ReadonlyMap<string, string>): void {
    for (const [id, link] of this.links) {
      if (!peers.has(id)) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, address] of peers) {
      if (id === this.identity.id) continue;
      const link = this.links.get(id);
      if (link === undefined) this.links.set(id, new PeerLink(this.identity, id, address, this.logger, this.limits));
      else link.retarget(address);
    }
  }

  /** Sends messages to their peers (messages to unknown peers are dropped). */
  send(messages: readonly Message[]): void {
    for (const message of messages) this.links.get(message.to)?.send(message);
  }

  /** Link state by peer, for RAFTPEERS and INFO. */
  linkReady(id: string): boolean {
    return this.links.get(id)?.isReady ?? false;
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** `RAFTHELLO <version> <cluster> <openerId> <openerNonce>` on a new connection. */
  acceptHello(session: PeerSession | null, command: Command): { reply: PeerReply; session: PeerSession | null } {
    if (session !== null) return { reply: refuse("ERR peer handshake already started", true), session };
    if (command.argCount !== 5) return { reply: refuse("ERR wrong number of arguments for 'rafthello' command", false), session: null };
    if (command.key(1) !== peerProtocolVersion) {
      return { reply: refuse(`ERR peer protocol version ${command.key(1)} is not ${peerProtocolVersion}`, true), session: null };
    }
    if (command.key(2) !== this.identity.cluster) {
      return { reply: refuse(`ERR this node belongs to cluster '${this.identity.cluster}', not '${command.key(2)}'`, true), session: null };
    }
    const next: PeerSession = { state: "hello", openerId: command.key(3), openerNonce: command.key(4), peerNonce: nonce() };
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
    session.state = "ready";
    return { kind: "reply", values: "OK" };
  }

  /** `RAFTMSG <batch>` from an authenticated peer: decoded, checked and delivered; never answered. */
  acceptMessages(session: PeerSession | null, command: Command): PeerReply {
    if (session === null || session.state !== "ready") {
      return refuse("NOAUTH Raft traffic is accepted only after the peer handshake", false);
    }
    const decoded = decodeMessages(command.arg(1), frameMessagesMax);
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
    if (accepted.length > 0) this.deliver(accepted);
    return { kind: "none" };
  }

  private parties(session: PeerSession) {
    return {
      secret: this.identity.secret,
      cluster: this.identity.cluster,
      openerId: session.openerId,
      openerNonce: session.openerNonce,
      peerId: this.identity.id,
      peerNonce: session.peerNonce,
    };
  }
}

function refuse(error: string, close: boolean): PeerReply {
  return { kind: "refuse", error, close };
}
