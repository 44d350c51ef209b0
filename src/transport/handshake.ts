/**
 * The peer handshake. A node that opens a link to a peer proves it knows the cluster secret, and
 * the peer proves it back, before any Raft traffic is accepted; the secret itself never crosses
 * the wire. With no secret configured the proofs use an empty key: the handshake still has to be
 * completed, so an ordinary client that just sends `RAFTMSG` is refused.
 *
 *   opener → `RAFTHELLO <version> <cluster> <clusterId> <openerId> <openerNonce> <openerAddress>`
 *   peer   → `*3 <peerId> <peerNonce> <peerProof>`     peerProof = HMAC(secret, "peer"|…)
 *   opener → `RAFTAUTH <openerProof>`                    openerProof = HMAC(secret, "opener"|…)
 *   peer   → `+OK`, and from then on the connection carries `RAFTMSG <batch>`, never answered.
 *
 * Both proofs bind both nonces, both ids, the opener's cluster id and its address, so neither can
 * be replayed on another connection or reflected back to its sender. The peer answers the opener
 * at that address (a node that just joined knows no members yet, only who is talking to it).
 *
 * `<clusterId>` is the opener's cluster's own id, made at random when the cluster was started, or
 * empty for a node that has none yet (one waiting to join, or a data directory from before cluster
 * ids). A node of another cluster id is refused, whatever its `-cluster` name: two clusters' logs
 * must never meet. A node that has no Raft state takes the cluster id of the first peer that
 * completes the handshake with one, and keeps it (see `Transport.acceptAuth`).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The version of the peer protocol; a peer speaking another one is refused. */
export const peerProtocolVersion = "2";

/** Fresh random bytes for a nonce, as hex. */
export function nonce(): string {
  return randomBytes(16).toString("hex");
}

function proof(role: "peer" | "opener", parties: HandshakeParties): string {
  return createHmac("sha256", parties.secret)
    .update([role, parties.cluster, parties.clusterId, parties.openerId, parties.openerNonce, parties.openerAddress, parties.peerId, parties.peerNonce].join("\n"))
    .digest("hex");
}

export interface HandshakeParties {
  readonly secret: string;
  readonly cluster: string;
  /** The opener's cluster id ("" when it has none). */
  readonly clusterId: string;
  readonly openerId: string;
  readonly openerNonce: string;
  readonly openerAddress: string;
  readonly peerId: string;
  readonly peerNonce: string;
}

/** The proof the accepting peer sends. */
export function peerProof(parties: HandshakeParties): string {
  return proof("peer", parties);
}

/** The proof the opener sends. */
export function openerProof(parties: HandshakeParties): string {
  return proof("opener", parties);
}

/** Compares a received proof with the expected one in constant time. */
export function proofMatches(received: string, expected: string): boolean {
  const a = Buffer.from(received, "latin1");
  const b = Buffer.from(expected, "latin1");
  return a.length === b.length && timingSafeEqual(a, b);
}
