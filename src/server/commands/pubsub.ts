/**
 * SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB (src/server/pubsub.ts has
 * the design: PUBLISH goes through the log and every node delivers it to its own subscribers).
 */
import { RespError } from "../../errors.ts";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import { spec, writeHelp } from "../command-spec.ts";
import type { Connection } from "../connection.ts";
import type { PubSub } from "../pubsub.ts";

const noKeys = [0, 0, 0] as const;

function registry(context: BuiltinContext): PubSub {
  if (context.pubsub === undefined) throw new RespError("ERR publish/subscribe is not available on this node");
  return context.pubsub;
}

/** The number of channels and patterns `connection` is subscribed to (in each reply of these commands). */
export function subscriptionCount(connection: Connection): number {
  return (connection.channelSubscriptions?.size ?? 0) + (connection.patternSubscriptions?.size ?? 0);
}

/**
 * Runs `change` (a change of subscriptions) once the connection's own writes sent before it are
 * applied (`Connection.whenIdle`), as WATCH does: a PUBLISH pipelined before SUBSCRIBE reaches
 * subscribers as they were when it was sent, as in Redis, where it runs at once.
 */
function afterOwnWrites(connection: Connection, change: () => void): void {
  if (connection.hasWritesInFlight) connection.whenIdle = change;
  else change();
}

/** One `[kind, channel, count]` push (an array in RESP2), or `[kind, null, count]`. */
function confirm(context: BuiltinContext, connection: Connection, kind: string, channel: string | null): void {
  const writer = context.server.writerFor(connection);
  writer.push(3);
  writer.bulk(kind);
  if (channel === null) writer.null();
  else writer.bulk(Buffer.from(channel, "latin1"));
  writer.integer(subscriptionCount(connection));
}

function subscribeCommand(name: string, pattern: boolean): Builtin {
  return {
    spec: spec(
      name,
      -2,
      "pubsub noscript loading stale",
      noKeys,
      "pubsub",
      pattern ? "Listens for messages published to channels that match one or more patterns." : "Listens for messages published to channels.",
      pattern ? "pattern:pattern..." : "channel:string...",
    ),
    run(context, connection, command) {
      const pubsub = registry(context);
      afterOwnWrites(connection, () => {
        for (let i = 1; i < command.argCount; i++) {
          const channel = command.key(i);
          pubsub.subscribe(connection, channel, pattern);
          confirm(context, connection, name, channel);
        }
      });
    },
  };
}

function unsubscribeCommand(name: string, pattern: boolean): Builtin {
  return {
    spec: spec(
      name,
      -1,
      "pubsub noscript loading stale",
      noKeys,
      "pubsub",
      pattern ? "Stops listening to messages published to channels that match one or more patterns." : "Stops listening to messages posted to channels.",
      pattern ? "[pattern:pattern...]" : "[channel:string...]",
    ),
    run(context, connection, command) {
      const pubsub = registry(context);
      afterOwnWrites(connection, () => {
        const own = pattern ? connection.patternSubscriptions : connection.channelSubscriptions;
        const channels = command.argCount > 1 ? Array.from({ length: command.argCount - 1 }, (_, i) => command.key(i + 1)) : [...(own ?? [])];
        if (channels.length === 0) {
          // Nothing to leave: one reply all the same, as Redis sends.
          confirm(context, connection, name, null);
          return;
        }
        for (const channel of channels) {
          pubsub.unsubscribe(connection, channel, pattern);
          confirm(context, connection, name, channel);
        }
      });
    },
  };
}

export const subscribe = subscribeCommand("subscribe", false);
export const psubscribe = subscribeCommand("psubscribe", true);
export const unsubscribe = unsubscribeCommand("unsubscribe", false);
export const punsubscribe = unsubscribeCommand("punsubscribe", true);

export const publish: Builtin = {
  spec: spec("publish", 3, "pubsub loading stale fast", noKeys, "pubsub", "Posts a message to a channel.", "channel:string message:string"),
  run(context, connection, command) {
    registry(context);
    const applier = context.applier;
    if (applier === undefined) throw new RespError("ERR publish/subscribe is not available on this node");
    // Through the log (the applier proposes it, or sends it to the leader): every node delivers it
    // when it applies it (`publishApplied`), and the leader's count is the reply.
    applier.apply(connection, command, publishMarker, (count) => connection.writeInt(count as number));
  },
};

/** `mutate` of PUBLISH at the node that proposes it: never run, since PUBLISH is applied by the framework. */
function publishMarker(): number {
  return 0;
}

/** What applying PUBLISH does on every node: delivers to that node's subscribers, answers how many. */
export function publishApplied(pubsub: PubSub, channel: string, message: Uint8Array): number {
  return pubsub.publish(channel, message);
}

export const pubsubCommand: Builtin = {
  spec: spec("pubsub", -2, "loading stale", noKeys, "pubsub", "A container for Pub/Sub commands.", "CHANNELS|NUMSUB|NUMPAT|HELP [args ...]"),
  run(context, connection, command) {
    const pubsub = registry(context);
    const sub = keyword(command.arg(1));
    const given = text(command.arg(1));
    switch (sub) {
      case "channels": {
        if (command.argCount > 3) throw new RespError(`ERR unknown subcommand or wrong number of arguments for '${given}'. Try PUBSUB HELP.`);
        const channels = pubsub.activeChannels(command.argCount === 3 ? command.key(2) : null);
        connection.writeArray(channels.length);
        for (const channel of channels) connection.writeBulk(Buffer.from(channel, "latin1"));
        return;
      }
      case "numsub": {
        connection.writeArray(2 * (command.argCount - 2));
        for (let i = 2; i < command.argCount; i++) {
          connection.writeBulk(command.arg(i));
          connection.writeInt(pubsub.subscribers(command.key(i)));
        }
        return;
      }
      case "numpat":
        if (command.argCount !== 2) throw new RespError("ERR wrong number of arguments for 'pubsub|numpat' command");
        connection.writeInt(pubsub.patternCount);
        return;
      case "help":
        writeHelp(connection, "pubsub", [
          "CHANNELS [<pattern>]",
          "    Return the currently active channels matching a <pattern> (default: '*').",
          "NUMPAT",
          "    Return number of subscriptions to patterns.",
          "NUMSUB [<channel> ...]",
          "    Return the number of subscribers for the specified channels, excluding",
          "    pattern subscriptions(default: no channels).",
        ]);
        return;
      default:
        throw new RespError(`ERR unknown subcommand '${given}'. Try PUBSUB HELP.`);
    }
  },
};
