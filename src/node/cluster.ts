/**
 * Cluster administration on top of the Raft node: adding and removing members by address (as
 * Finn's RAFTADDPEER and RAFTREMOVEPEER do), listing them, handing leadership over, and joining an
 * existing cluster at start.
 *
 * A member is known by its stable node id (kept in its data directory) and reached at its
 * advertised address. Adding by address asks the server there for its id first (`RAFTNODEID`),
 * so a node that lost its data and came back at the same address is a new member with a new id,
 * never mistaken for the old one.
 */
import { connectTls, type TlsConfig, whenReady } from "../tls.ts";
import { parseNodeAddress } from "../address.ts";
import { RespError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { asNodeId, type NodeId } from "../raft/types.ts";
import { encodeCommand } from "../resp/reader.ts";
import { scanReply } from "../resp/reply-scanner.ts";
import { nonce, openerProof, peerProof, peerProtocolVersion, proofMatches } from "../transport/handshake.ts";
import type { LinkIdentity } from "../transport/peer-link.ts";
import { nodeIdPattern } from "./identity.ts";
import type { RaftNode } from "./raft-node.ts";

/** One exchange with another node must finish within this long. */
const requestTimeoutMilliseconds = 5000;
/** How often a removed node asks its old cluster who leads it (`followLeaderWhileRemoved`). */
const removedLeaderPollMilliseconds = 5000;
/** Redirects a join follows before giving up on this attempt. */
const redirectsMax = 5;

/**
 * The leader's address in a reply to RAFTLEADER (as `requestReply` renders it), or null: none
 * known (a null bulk, `$-1`, which was taken for the address "-1" and sent clients to `MOVED 0 -1`
 * while the cluster had no leader), an error, or what is not an address.
 */
export function leaderInReply(reply: string): string | null {
  const lineEnd = reply.indexOf("\r\n");
  if (!reply.startsWith("$") || lineEnd < 0) return null;
  const address = reply.slice(lineEnd + 2);
  try {
    parseNodeAddress(address);
    return address;
  } catch {
    return null;
  }
}

/**
 * Sends commands to `address` and returns the reply to the last one as text: a status or error
 * line without its CRLF (errors start with `-`), any other reply as its raw bytes. The replies to
 * the ones before it (such as AUTH) must be `+OK`.
 */
export function requestReply(address: string, tls: TlsConfig | null, ...commands: readonly (readonly string[])[]): Promise<string> {
  let sent = 0;
  return converse(address, tls, (reply) => (sent === 0 || (reply === "+OK" && sent < commands.length) ? (commands[sent++] ?? null) : null));
}

/**
 * One conversation with the node at `address`: `next` gives the first command (called with null),
 * then the command that follows each reply (as `requestReply` renders it), or null to end it there;
 * resolves with the last reply.
 */
export async function converse(address: string, tls: TlsConfig | null, next: (reply: string | null) => readonly string[] | null): Promise<string> {
  const { host: hostname, port } = parseNodeAddress(address);
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let received: Uint8Array = new Uint8Array(0);
  const timer = setTimeout(() => reject(new RespError(`ERR ${address} did not answer in time`)), requestTimeoutMilliseconds);
  const send = (socket: { write(bytes: Uint8Array): number }, args: readonly string[]): void => {
    socket.write(encodeCommand(args.map((arg) => Buffer.from(arg))));
  };
  try {
    const socket = await Bun.connect({
      hostname,
      port,
      ...(tls === null ? {} : { tls: connectTls(tls) }),
      socket: {
        ...whenReady(
          tls,
          (ready) => {
            const first = next(null);
            if (first === null) resolve("");
            else send(ready, first);
          },
          (why) => reject(new RespError(`ERR ${address}: ${why}`)),
        ),
        data: (socket, chunk) => {
          received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
          let start = 0;
          for (;;) {
            const end = scanReply(received, start, received.length);
            if (end === "incomplete") break;
            if (typeof end !== "number") {
              reject(new RespError(`ERR unreadable reply from ${address}: ${end.error}`));
              return;
            }
            const text = Buffer.from(received.subarray(start, end - 2)).toString("latin1");
            start = end;
            const following = next(text);
            if (following === null) {
              resolve(text);
              return;
            }
            send(socket, following);
          }
          // What is left waits for the next chunk: a copy (the socket may reuse the chunk's memory).
          received = start < received.length ? Uint8Array.from(received.subarray(start)) : new Uint8Array(0);
        },
        close: () => reject(new RespError(`ERR ${address} closed the connection`)),
        error: (_socket, error) => reject(new RespError(`ERR ${address}: ${error.message}`)),
      },
    });
    try {
      return await promise;
    } finally {
      socket.end();
    }
  } catch (error) {
    if (error instanceof RespError) throw error;
    throw new RespError(`ERR cannot reach ${address}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a node that joined waits for its leader's first message before it warns. */
const leaderSilenceWarningMilliseconds = 5_000;

/** What a joining node's operator can do about a refusal that retrying alone will not cure. */
function joinAdvice(reply: string): string {
  if (reply.startsWith("-NOAUTH")) return " (the cluster has a password: start this node with the cluster's -admin-auth, or its -auth when it has no admin password)";
  if (reply.startsWith("-NOPERM")) return " (joining needs the admin user: start this node with the cluster's -admin-auth)";
  if (reply.startsWith("-WRONGPASS")) return " (the password this node sends is not the cluster's: give every node the same -auth and -admin-auth)";
  return "";
}

export class ClusterControl {
  constructor(
    private readonly node: RaftNode,
    private readonly logger: Logger,
    /** What this node sends to authenticate to another member before administering: AUTH's arguments, or none. */
    private readonly credentials: readonly string[],
    /** TLS for connections to other members, or null. */
    private readonly tls: TlsConfig | null,
    /** Who this node is to its peers: a joining node is checked with the peers' own handshake. */
    private readonly identity: LinkIdentity,
  ) {}

  /** This node's id. */
  get selfId(): string {
    return this.node.id;
  }

  /** Every member with its address and role, the leader first. */
  members(): { readonly id: string; readonly address: string; readonly role: "leader" | "voter" | "learner" }[] {
    const membership = this.node.membershipNow();
    const leader = this.node.status().leader;
    const rows = [
      ...membership.voters.map((id) => ({ id, address: membership.addresses[id] ?? "", role: "voter" as const })),
      ...membership.learners.map((id) => ({ id, address: membership.addresses[id] ?? "", role: "learner" as const })),
    ].map((row) => (row.address === leader && row.role === "voter" ? { ...row, role: "leader" as const } : row));
    return rows.sort((a, b) => (a.role === "leader" ? -1 : b.role === "leader" ? 1 : 0));
  }

  /**
   * The members as Redis Cluster's commands show them (one shard): its master is the leader, or,
   * while none is known (an election, or no quorum), the last leader this node knew, or else its
   * first voter, so that clients still find the slots served and send their commands there (to
   * hear CLUSTERDOWN or MOVED), where no slots at all left node-redis unable to route for good.
   * `reachable`: this node can tell the member is up: itself, a master that leads now, a member
   * its peer link reaches (a leader has links to all; a follower only to its leader).
   */
  shard(linkReady: (id: string) => boolean): { readonly id: string; readonly address: string; readonly master: boolean; readonly reachable: boolean }[] {
    const rows = this.members().filter((member) => member.role !== "learner");
    const current = rows.find((member) => member.role === "leader");
    const masterAddress = current?.address ?? this.node.lastKnownLeaderAddress();
    const master = rows.find((member) => member.address === masterAddress) ?? rows.find((member) => member.id === this.node.id) ?? rows[0];
    const shard = rows.map((member) => ({
      id: member.id,
      address: member.address,
      master: member === master,
      reachable: member.id === this.node.id || (member === master ? current !== undefined : linkReady(member.id)),
    }));
    return shard.sort((a, b) => (a.master ? -1 : b.master ? 1 : 0));
  }

  /** Members as `[address, state]`, sorted by address (RAFTPEERS). */
  peers(): [string, string][] {
    const membership = this.node.membershipNow();
    const leader = this.node.status().leader;
    const rows: [string, string][] = [];
    for (const id of membership.voters) {
      const address = membership.addresses[id] ?? id;
      rows.push([address, address === leader ? "Leader" : "Voter"]);
    }
    for (const id of membership.learners) rows.push([membership.addresses[id] ?? id, "Learner"]);
    return rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Sends `command` to the node at `address`, authenticated as this node is configured to. */
  private ask(address: string, command: readonly string[]): Promise<string> {
    return this.credentials.length > 0 ? requestReply(address, this.tls, ["AUTH", ...this.credentials], command) : requestReply(address, this.tls, command);
  }

  /**
   * While this node runs removed from its cluster, asks the members it knew who leads now
   * (RAFTLEADER) every few seconds, for the redirects it answers clients with: the leader it last
   * knew may be gone (a removed leader hands over to one voter, and another may win), and nothing
   * else tells a removed node. A member that names itself is believed over the others.
   */
  followLeaderWhileRemoved(stillRunning: () => boolean): void {
    const poll = async (): Promise<void> => {
      if (!stillRunning()) return;
      if (this.node.removed) {
        const membership = this.node.membershipNow();
        let heard: string | null = null;
        for (const id of membership.voters) {
          const address = membership.addresses[id];
          if (id === this.node.id || address === undefined) continue;
          const leader = leaderInReply(await this.ask(address, ["RAFTLEADER"]).catch(() => ""));
          if (leader === null) continue;
          heard = leader;
          if (leader === address) break;
        }
        if (heard !== null) this.node.removedLeaderHint = heard;
      }
      setTimeout(() => void poll(), removedLeaderPollMilliseconds).unref();
    };
    setTimeout(() => void poll(), removedLeaderPollMilliseconds).unref();
  }

  /** The member at `address`, if any. */
  private memberAt(address: string): NodeId | null {
    const membership = this.node.membershipNow();
    for (const id of [...membership.voters, ...membership.learners]) if (membership.addresses[id] === address) return id;
    return null;
  }

  private requireLeader(): void {
    if (!this.node.isLeader) {
      const leader = this.node.leaderAddress();
      throw new RespError(leader === null ? "CLUSTERDOWN No leader is known right now" : `MOVED 0 ${leader}`);
    }
  }

  /** Adds the node at `address` as a learner (promoted once it has caught up). */
  async addPeer(address: string, knownId: string | null, joining = false): Promise<void> {
    this.requireLeader();
    // Checked before anything is proposed: a membership change commits for good, and a member
    // whose address no socket can reach, or whose id is not one, cannot be taken back by a restart.
    parseNodeAddress(address);
    if (knownId !== null && !nodeIdPattern.test(knownId)) {
      throw new RespError(`ERR invalid node id '${knownId.slice(0, 80)}': expected 16 to 64 hexadecimal digits`);
    }
    const existing = this.memberAt(address);
    if (existing !== null && (knownId === null || knownId === existing)) throw new RespError(`ERR ${address} is already a member`);
    if (existing === this.node.id) throw new RespError(`ERR ${address} is this node, the leader`);
    let id = knownId;
    if (id === null) {
      // Only a node waiting to join may be added: one with Raft state of its own (a cluster of
      // one, started without -join) has a log whose indexes and terms collide with this
      // cluster's, and would disrupt it.
      const reply = await requestReply(address, this.tls, ["RAFTNODEID", "JOINABLE"]);
      if (reply.startsWith("-") && reply.includes("already belongs to a cluster")) {
        throw new RespError(
          `ERR ${address} already belongs to a cluster (its data directory holds Raft state): start it with an empty data directory and -join to add it`,
        );
      }
      const found = reply.startsWith("+") && nodeIdPattern.test(reply.slice(1)) ? reply.slice(1) : undefined;
      if (found === undefined) throw new RespError(`ERR ${address} did not tell its node id: ${reply}`);
      id = found;
    }
    // A node dialled anyway (it asked to join, or it told its id) is checked as a peer would be.
    const checked = joining || knownId === null;
    if (checked) await this.checkNewMember(id, address);
    if (existing !== null) await this.replaceLostMember(existing, id, address, checked);
    const membership = this.node.membershipNow();
    if (membership.voters.includes(asNodeId(id)) || membership.learners.includes(asNodeId(id))) {
      throw new RespError(`ERR node ${id.slice(0, 12)} is already a member`);
    }
    this.logger.notice(`Adding node ${id.slice(0, 12)} at ${address} as a learner`);
    await this.node.changeMembership({ kind: "addLearner", node: asNodeId(id), address });
  }

  /**
   * A node asking to join (RAFTJOIN), or added by address (RAFTADDPEER), is added at that address:
   * before that commits for good, this node opens the peers' handshake to it there (`RAFTHELLO`,
   * transport/handshake.ts), checks the answer and completes it (`RAFTAUTH`, which binds a node
   * with no cluster id yet to this cluster: see the comment in the body). An address
   * nobody answers at (a wrong `-advertise`, or one only the joiner's own host can reach) would
   * make a learner that never catches up, dialled for ever; one where another node answers would
   * take that node's place; a node with another `-secret` would be a learner every link to which
   * is refused; so would a node in protected mode that denies this host (`-DENIED`: with no
   * secret, protected mode lets no peer on another host in).
   */
  private async checkNewMember(id: string, address: string): Promise<void> {
    const identity = this.identity;
    const openerNonce = nonce();
    const hello = ["RAFTHELLO", peerProtocolVersion, identity.cluster, identity.clusterId, identity.id, openerNonce, identity.address];
    // The node's refusal of this cluster's id, at RAFTHELLO or (another cluster took it since) at RAFTAUTH.
    const otherCluster = (reply: string): RespError | null =>
      reply.startsWith("-ERR this node belongs to another cluster")
        ? new RespError(`ERR the node at ${address} belongs to another cluster: start it with an empty data directory and -join to add it`)
        : null;
    // What is wrong with the node's answer to RAFTHELLO, or null when the handshake may go on.
    let problem: RespError | null = null;
    const check = (reply: string): readonly string[] | null => {
      problem = otherCluster(reply);
      if (problem !== null) return null;
      if (reply.startsWith("-DENIED")) {
        problem = new RespError(
          `ERR the node at ${address} refuses the leader's host (protected mode): give every node the same -secret, which lets peers on other hosts in`,
        );
        return null;
      }
      // `*3 <peerId> <peerNonce> <peerProof>`: ids, nonces and proofs are hexadecimal, one line each.
      const [, , peerId = "", , peerNonce = "", , proof = ""] = reply.startsWith("*3\r\n") ? reply.split("\r\n") : [];
      if (peerId === "") problem = new RespError(`ERR the node at ${address} did not answer as a node: ${reply.slice(0, 80)}`);
      else if (peerId !== id) {
        problem = new RespError(`ERR ${address} answers as node ${peerId.slice(0, 12)}, not as node ${id.slice(0, 12)}: is its -advertise this node's address?`);
      }
      if (problem !== null) return null;
      const parties = { secret: identity.secret, cluster: identity.cluster, clusterId: identity.clusterId, openerId: identity.id, openerNonce, openerAddress: identity.address, peerId, peerNonce };
      if (!proofMatches(proof, peerProof(parties))) {
        problem = new RespError(`ERR the node at ${address} does not know the cluster secret: start it with the same -secret as the cluster's nodes`);
        return null;
      }
      // The handshake is completed (RAFTAUTH), not only checked: a node with no cluster id yet
      // takes this cluster's now, so that another cluster adding it at the same moment is refused
      // here, before either membership change commits, rather than left with a learner it can
      // never reach.
      return ["RAFTAUTH", openerProof(parties)];
    };
    let reply: string;
    try {
      // RAFTHELLO, then RAFTAUTH once its answer is checked; the reply to RAFTAUTH ends it.
      let step = 0;
      reply = await converse(address, this.tls, (last) => {
        step++;
        return step === 1 ? hello : step === 2 ? check(last ?? "") : null;
      });
    } catch (error) {
      const why = error instanceof Error ? error.message.replace(/^ERR /, "") : String(error);
      throw new RespError(
        `ERR the leader cannot reach the node at ${address} (${why}): start it with an -advertise address that the cluster's nodes can reach`,
      );
    }
    if (problem !== null) throw problem;
    const refused = otherCluster(reply);
    if (refused !== null) throw refused;
    if (reply !== "+OK") throw new RespError(`ERR the node at ${address} refused the peer handshake: ${reply.slice(0, 120)}`);
  }

  /**
   * A node that lost its data directory comes back at its old address with a new id (RAFTJOIN):
   * once the address answers with that new id, the old member, which can never answer there again,
   * is removed, and the new one is then added like every other. (Refused otherwise: an id sent by
   * someone else must not remove a member that is alive.)
   */
  private async replaceLostMember(old: NodeId, id: string, address: string, answersAsId: boolean): Promise<void> {
    // `answersAsId`: the join's check (`checkNewMember`) has just seen the address answer with `id`.
    if (!answersAsId) {
      const reply = await requestReply(address, this.tls, ["RAFTNODEID"]);
      if (reply !== `+${id}`) {
        throw new RespError(`ERR ${address} is already a member (node ${old.slice(0, 12)}), and answers as ${reply.slice(1, 41)}, not as ${id.slice(0, 12)}`);
      }
    }
    this.logger.notice(`Node ${old.slice(0, 12)} at ${address} came back as ${id.slice(0, 12)} with an empty data directory: removing ${old.slice(0, 12)}`);
    await this.node.changeMembership({ kind: "remove", node: old });
  }

  /** Removes the member at `address` (the leader too: it hands over and steps down). */
  async removePeer(address: string): Promise<void> {
    this.requireLeader();
    const id = this.memberAt(address);
    if (id === null) throw new RespError(`ERR ${address} is not a member`);
    const voters = this.node.membershipNow().voters;
    if (voters.length === 1 && voters[0] === id) throw new RespError(`ERR ${address} is the last voter: a cluster cannot go on without one`);
    this.logger.notice(`Removing node ${id.slice(0, 12)} at ${address}`);
    await this.node.changeMembership({ kind: "remove", node: id });
  }

  /** Takes a snapshot now and compacts the log behind it (RAFTSNAPSHOT). */
  snapshot(): Promise<void> {
    return this.node.snapshot();
  }

  /** Hands leadership to the voter at `address`, or to any caught-up voter when `address` is null. */
  transfer(address: string | null): void {
    this.requireLeader();
    if (address !== null) parseNodeAddress(address);
    const membership = this.node.membershipNow();
    if (address !== null && membership.addresses[this.node.id] === address) throw new RespError(`ERR ${address} is this node, the leader already`);
    const candidates = membership.voters.filter((id) => id !== this.node.id && (address === null || membership.addresses[id] === address));
    const target = candidates[0];
    if (target === undefined) throw new RespError(address === null ? "ERR there is no other voter to hand over to" : `ERR ${address} is not a voter`);
    if (!this.node.transferLeadership(target)) throw new RespError("ERR leadership transfer could not start");
  }

  /**
   * After a join: the leader's first message normally comes within a heartbeat. When none has come
   * for a while, the leader cannot get through (the join's check passed, but the leader's links do
   * not: a network that changed since, a leader elected since that cannot reach this node; the
   * leader's log says why), and this node would otherwise only answer `-CLUSTERDOWN` without a
   * word: it says so, once a minute, until a leader gets through.
   */
  private async awaitLeaderContact(stillRunning: () => boolean): Promise<void> {
    let waitedSince = performance.now();
    let warnAfter = leaderSilenceWarningMilliseconds;
    let lastLook = waitedSince;
    while (stillRunning() && this.node.status().lastContactMilliseconds === null) {
      await Bun.sleep(100);
      // A process that stood still (SIGSTOP, as npm run bench does to the servers it is not
      // measuring) has not read what came meanwhile: it looks again after reading it.
      const now = performance.now();
      const stoodStill = now - lastLook > 1000;
      lastLook = now;
      if (stoodStill || now - waitedSince < warnAfter) continue;
      this.logger.warning(
        `Joined, but no leader has reached this node in ${Math.round((performance.now() - waitedSince) / 1000)} s: ` +
          "check that the leader can reach this node's -advertise address; the leader's log says why it cannot get through",
      );
      waitedSince = performance.now();
      warnAfter = 60_000;
    }
  }

  /**
   * Asks the cluster at `address` to add this node, following MOVED redirects to the leader, and
   * retrying with backoff until it is accepted or this node is closed.
   */
  async join(address: string, stillRunning: () => boolean): Promise<void> {
    const { address: selfAddress, cluster } = this.identity;
    let delay = 200;
    while (stillRunning()) {
      let target = address;
      for (let hop = 0; hop <= redirectsMax && stillRunning(); hop++) {
        let reply: string;
        try {
          const join = ["RAFTJOIN", this.node.id, selfAddress, cluster];
          reply = await this.ask(target, join);
        } catch (error) {
          reply = `-${error instanceof Error ? error.message : String(error)}`;
        }
        // "... is already a member": this node (its id, at its address) joined before.
        if (reply === "+OK" || reply.endsWith(" is already a member")) {
          this.logger.notice(`Joined the cluster through ${target}`);
          await this.awaitLeaderContact(stillRunning);
          return;
        }
        const moved = /^-MOVED \d+ (\S+)/.exec(reply);
        if (moved?.[1] !== undefined) {
          target = moved[1];
          continue;
        }
        const line = `Joining through ${target} failed: ${reply.slice(1)}${joinAdvice(reply)}; retrying`;
        // Another node joining at the same time is no fault: the retry follows it.
        if (reply.includes("another membership change is in progress")) this.logger.notice(line);
        else this.logger.warning(line);
        break;
      }
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
