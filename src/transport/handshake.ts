/**
 * The peer handshake. A node that opens a link to a peer proves it knows the cluster secret, and
 * the peer proves it back, before any Raft traffic is accepted; the secret itself never crosses
 * the wire. With no secret configured the proofs use an empty key: the handshake still has to be
 * completed, so an ordinary client that just sends `RAFTMSG` is refused.
 *
 *   opener → `RAFTHELLO <version> <cluster> <openerId> <openerNonce>`
 *   peer   → `*3 <peerId> <peerNonce> <peerProof>`     peerProof = HMAC(secret, "peer"|…)
 *   opener → `RAFTAUTH <openerProof>`                    openerProof = HMAC(secret, "opener"|…)
 *   peer   → `+OK`, and from then on the connection carries `RAFTMSG <batch>`, never answered.
 *
 * Both proofs bind both nonces and both ids, so neither can be replayed on another connection or
 * reflected back to its sender.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The version of the peer protocol; a peer speaking another one is refused. */
export const peerProtocolVersion = "1";

/** Fresh random bytes for a nonce, as hex. */
export function nonce(): string {
  return randomBytes(16).toString("hex");
}

function proof(secret: string, role: "peer" | "opener", cluster: string, openerId: string, openerNonce: string, peerId: string, peerNonce: string): string {
  return createHmac("sha256", secret)
    .update([role, cluster, openerId, openerNonce, peerId, peerNonce].join("\n"))
    .digest("hex");
}

export interface HandshakeParties {
  readonly secret: string;
  readonly cluster: string;
  readonly openerId: string;
  readonly openerNonce: string;
  readonly peerId: string;
  readonly peerNonce: string;
}

/** The proof the accepting peer sends. */
export function peerProof(parties: HandshakeParties): string {
  return proof(parties.secret, "peer", parties.cluster, parties.openerId, parties.openerNonce, parties.peerId, parties.peerNonce);
}

/** The proof the opener sends. */
export function openerProof(parties: HandshakeParties): string {
  return proof(parties.secret, "opener", parties.cluster, parties.openerId, parties.openerNonce, parties.peerId, parties.peerNonce);
}

/** Compares a received proof with the expected one in constant time. */
export function proofMatches(received: string, expected: string): boolean {
  const a = Buffer.from(received, "latin1");
  const b = Buffer.from(expected, "latin1");
  return a.length === b.length && timingSafeEqual(a, b);
}
