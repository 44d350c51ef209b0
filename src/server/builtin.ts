/**
 * Commands the framework answers itself, before the machine sees anything: what every Redis
 * client sends on connecting (HELLO, CLIENT, INFO, COMMAND, CONFIG GET...) and the RAFT* commands.
 */
import type { Command } from "../resp/reader.ts";
import type { Replicator } from "../node/replicator.ts";
import type { ClusterControl } from "../node/cluster.ts";
import type { Transport } from "../transport/transport.ts";
import type { CommandSpec } from "./command-spec.ts";
import type { Connection } from "./connection.ts";
import type { Server } from "./server.ts";
import type { Applier } from "../api.ts";
import type { PubSub } from "./pubsub.ts";

/** What a node was started with, as INFO and CONFIG GET report it. */
export interface NodeSettings {
  readonly port: number;
  readonly bind: string;
  readonly advertise: string;
  readonly dir: string;
  readonly durability: string;
  readonly consistency: string;
  readonly backend: string;
  readonly version: string;
  readonly nodeId: string;
  /** The cluster's name (`-cluster`): peers and joining nodes of another are refused. */
  readonly cluster: string;
  /** The client password (`AUTH`) and the admin password (`AUTH admin ...`); "" when not set. */
  readonly passwords: { readonly client: string; readonly admin: string };
}

/** INFO sections a machine adds: section name to field name to value. */
export type InfoSections = Readonly<Record<string, Readonly<Record<string, string | number>>>>;

export interface BuiltinContext {
  readonly server: Server;
  readonly node: Replicator;
  /** Raft traffic to and from peers, or null when this node takes no peers. */
  readonly transport: Transport | null;
  /** Cluster administration, or null when this node does not run Raft. */
  readonly cluster: ClusterControl | null;
  readonly settings: NodeSettings;
  readonly startedAt: number;
  /** The JavaScript heap in use and the process's resident memory when the node started, before it loaded any state (MEMORY STATS). */
  readonly startupMemory: { readonly heapUsed: number; readonly rss: number };
  /** Every command the node knows: built-ins and the machine's. */
  readonly commandSpecs: () => readonly CommandSpec[];
  /** Sections the machine adds to INFO (such as keyspace). */
  readonly machineInfo: () => InfoSections;
  /** CONFIG RESETSTAT's share of the machine (its counters in INFO). */
  readonly resetMachineStats?: () => void;
  /** Sends a transaction to the leader as one unit (proxy mode); see `ClientApplier.forwardTransaction`. */
  readonly forwardTransaction?: (connection: Connection, commands: readonly Command[]) => boolean;
  /** Sends a command only the leader may run to the leader (proxy mode); see `ClientApplier.forwardCommand`. */
  readonly forwardCommand?: (connection: Connection, command: Command) => boolean;
  /** Sends WAIT to the leader on a link of its own (proxy mode); see `ClientApplier.forwardWaiting`. */
  readonly forwardWaiting?: (connection: Connection, command: Command) => boolean;
  /** The applier of the machine's commands, for built-ins that go through the log as writes do (PUBLISH). */
  readonly applier?: Applier;
  /** This node's publish/subscribe. */
  readonly pubsub?: PubSub;
  /** How many clients wait in a blocking command now (INFO's blocked_clients). */
  readonly blockedClients?: () => number;
  /**
   * CLIENT UNBLOCK: answers the blocked command of the client with this id as timed out, or with
   * an error; false when that client is not blocked.
   */
  readonly unblock?: (id: number, error: boolean) => boolean;
  /** Closes the node for a client's SHUTDOWN and hands over to the program; null when it did not ask for that. */
  readonly shutdown: ((reason: string) => void) | null;
}

export interface Builtin {
  readonly spec: CommandSpec;
  /** Cluster administration: with an admin password set, only the admin user may run it. */
  readonly adminOnly?: boolean;
  run(context: BuiltinContext, connection: Connection, command: Command): void;
}

const decoder = new TextDecoder();

/** An argument as text (UTF-8). */
export function text(argument: Uint8Array | undefined): string {
  return argument === undefined ? "" : decoder.decode(argument);
}

/** An argument as lower-case text, for subcommands and options. */
export function keyword(argument: Uint8Array | undefined): string {
  return text(argument).toLowerCase();
}
