/**
 * Membership changes, one server at a time (Raft thesis §4.1 and §4.2.1): a new server joins as a
 * learner, is promoted to voter once caught up, and any member may be removed. A change takes
 * effect on every server when it applies the committed config entry, so every server walks through
 * the same sequence of memberships at the same log indexes.
 *
 * Config entries carry JSON in UTF-8: small, rare, and easy to read in a hex dump.
 */
import { AssertionError, assert, unreachable } from "../assert.ts";
import { asIndex, asNodeId, asTerm, type Entry, type Membership, type NodeId } from "./types.ts";

/** One change to the membership. `bootstrap` sets the first membership of a new cluster. */
export type ConfigChange =
  | { readonly kind: "bootstrap"; readonly membership: Membership }
  | { readonly kind: "addLearner"; readonly node: NodeId; readonly address: string }
  | { readonly kind: "promote"; readonly node: NodeId }
  | { readonly kind: "remove"; readonly node: NodeId };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a change as the data of a config entry. */
export function encodeConfigChange(change: ConfigChange): Uint8Array {
  return encoder.encode(JSON.stringify(change));
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function decodeMembership(value: unknown): Membership {
  assert(typeof value === "object" && value !== null, "membership must be an object");
  const record = value as Record<string, unknown>;
  const voters = record["voters"];
  const learners = record["learners"];
  const addresses = record["addresses"];
  assert(isStringArray(voters) && isStringArray(learners), "membership lists must be strings");
  assert(typeof addresses === "object" && addresses !== null, "addresses must be an object");
  const checked: Record<string, string> = {};
  for (const [id, address] of Object.entries(addresses)) {
    assert(typeof address === "string", "address must be a string");
    checked[id] = address;
  }
  return { voters: voters.map(asNodeId), learners: learners.map(asNodeId), addresses: checked };
}

/** Decodes the data of a config entry; a malformed entry is a programmer error. */
export function decodeConfigChange(data: Uint8Array): ConfigChange {
  const value: unknown = JSON.parse(decoder.decode(data));
  assert(typeof value === "object" && value !== null, "config change must be an object");
  const record = value as Record<string, unknown>;
  const kind = record["kind"];
  const node = record["node"];
  switch (kind) {
    case "bootstrap":
      return { kind, membership: decodeMembership(record["membership"]) };
    case "addLearner": {
      const address = record["address"];
      assert(typeof node === "string" && typeof address === "string", "bad addLearner");
      return { kind, node: asNodeId(node), address };
    }
    case "promote":
    case "remove":
      if (!(typeof node === "string")) assert(false, `bad ${kind}`);
      return { kind, node: asNodeId(node) };
    default:
      throw new AssertionError(`unknown config change kind ${String(kind)}`);
  }
}

/** Whether `node` is a voter or learner of `membership`. */
export function isMember(membership: Membership, node: NodeId): boolean {
  return membership.voters.includes(node) || membership.learners.includes(node);
}

/**
 * The membership after `change`, or null when the change does not apply to `membership` (adding
 * a member twice, promoting a non-learner, removing a stranger or the last voter). Every server
 * decides this the same way from the same inputs, so an invalid change is a no-op everywhere.
 */
export function applyConfigChange(membership: Membership, change: ConfigChange): Membership | null {
  switch (change.kind) {
    case "bootstrap":
      if (membership.voters.length > 0 || membership.learners.length > 0) return null;
      if (change.membership.voters.length === 0) return null;
      return change.membership;
    case "addLearner":
      if (isMember(membership, change.node)) return null;
      return {
        voters: membership.voters,
        learners: [...membership.learners, change.node],
        addresses: { ...membership.addresses, [change.node]: change.address },
      };
    case "promote":
      if (!membership.learners.includes(change.node)) return null;
      return {
        voters: [...membership.voters, change.node],
        learners: membership.learners.filter((id) => id !== change.node),
        addresses: membership.addresses,
      };
    case "remove": {
      if (!isMember(membership, change.node)) return null;
      const voters = membership.voters.filter((id) => id !== change.node);
      // Raft thesis §4.2.2: a cluster without voters can never elect a leader again.
      if (voters.length === 0) return null;
      const addresses: Record<string, string> = { ...membership.addresses };
      delete addresses[change.node];
      return {
        voters,
        learners: membership.learners.filter((id) => id !== change.node),
        addresses,
      };
    }
    default:
      return unreachable(change);
  }
}

/** A canonical string for comparing memberships (order of ids does not matter). */
export function membershipKey(membership: Membership): string {
  const voters = [...membership.voters].sort().join(",");
  const learners = [...membership.learners].sort().join(",");
  return `voters=(${voters}) learners=(${learners})`;
}

/**
 * The first entry of a new cluster's log (index 1, term 1): a bootstrap config entry naming the
 * founding voters, so that servers joining later replay the same membership history.
 */
export function bootstrapEntry(voters: readonly NodeId[], addresses: Readonly<Record<string, string>> = {}): Entry {
  assert(voters.length > 0, "a cluster needs at least one voter");
  const membership: Membership = { voters: [...voters], learners: [], addresses: { ...addresses } };
  return {
    term: asTerm(1),
    index: asIndex(1),
    type: "config",
    data: encodeConfigChange({ kind: "bootstrap", membership }),
  };
}
