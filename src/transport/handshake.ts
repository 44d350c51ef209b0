/**
 * The peer handshake. A node that opens a link to a peer proves it knows the cluster secret, and
 * the peer proves it back, before any Raft traffic is accepted; the secret itself never crosses
 * the wire. With no secret configured the proofs use an empty key: the handshake still has to be
 * completed, so an ordinary client that just sends `RAFTMSG` is refused.
 *
 *   opener → `RAFTHELLO <version> <cluster> <openerId> <openerNonce> <openerAddress>`
 *   peer   → `*3 <peerId> <peerNonce> <peerProof>`     peerProof = HMAC(secret, "peer"|…)
 *   opener → `RAFTAUTH <openerProof>`                    openerProof = HMAC(secret, "opener"|…)
 *   peer   → `+OK`, and from then on the connection carries `RAFTMSG <batch>`, never answered.
 *
 * Both proofs bind both nonces, both ids and the opener's address, so neither can be replayed on
 * another connection or reflected back to its sender. The peer answers the opener at that address
 * (a node that just joined knows no members yet, only who is talking to it).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The version of the peer protocol; a peer speaking another one is refused. */
export const peerProtocolVersion = "1";

/** Fresh random bytes for a nonce, as hex. */
export function nonce(): string {
  return randomBytes(16).toString("hex");
}

function proof(role: "peer" | "opener", parties: HandshakeParties): string {
  return createHmac("sha256", parties.secret)
    .update([role, parties.cluster, parties.openerId, parties.openerNonce, parties.openerAddress, parties.peerId, parties.peerNonce].join("\n"))
    .digest("hex");
}

export interface HandshakeParties {
  readonly secret: string;
  readonly cluster: string;
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
