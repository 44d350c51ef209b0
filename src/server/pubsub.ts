/**
 * Publish/subscribe. Subscriptions are connection state, kept by each node for its own clients.
 * PUBLISH goes through the Raft log like a write (a framework command: the machine never sees
 * it), so every node applies it in log order and delivers it to its own subscribers: a client
 * subscribed on any member hears every message, in the same order on every member, as Redis
 * Cluster broadcasts PUBLISH to every node. PUBLISH answers the number of clients of the node that
 * applied it for its client (the leader) that received it, as Redis Cluster counts a node's own.
 *
 * A message is pushed to a subscriber at once, unless replies to its earlier commands are still
 * queued: then it waits behind them (a RESP2 client reads replies and messages in one stream).
 * A subscriber that does not read is bounded as every client is (`outputBytesMax`).
 */
import { globMatch } from "../glob.ts";
import { Slot, SlotKind, type Connection } from "./connection.ts";
import type { Server } from "./server.ts";

const encoder = new TextEncoder();

function header(protocol: 2 | 3, count: number): string {
  return `${protocol === 3 ? ">" : "*"}${count}\r\n`;
}

function bulkHeader(length: number): string {
  return `$${length}\r\n`;
}

/** Whether `channel` matches the glob `pattern` (both binary-safe, one character per byte). */
function matches(pattern: string, channel: string): boolean {
  return globMatch(Buffer.from(pattern, "latin1"), Buffer.from(channel, "latin1"));
}

/** The bytes of a pushed message: `message channel payload`, or `pmessage pattern channel payload`. */
function messageFrame(protocol: 2 | 3, pattern: string | null, channel: string, payload: Uint8Array): Uint8Array {
  const head =
    pattern === null
      ? `${header(protocol, 3)}$7\r\nmessage\r\n${bulkHeader(channel.length)}`
      : `${header(protocol, 4)}$8\r\npmessage\r\n${bulkHeader(pattern.length)}`;
  const parts: Uint8Array[] = [Buffer.from(head, "latin1")];
  if (pattern !== null) parts.push(Buffer.from(`${pattern}\r\n${bulkHeader(channel.length)}`, "latin1"));
  parts.push(Buffer.from(`${channel}\r\n${bulkHeader(payload.length)}`, "latin1"), payload, encoder.encode("\r\n"));
  return Buffer.concat(parts);
}

export class PubSub {
  private readonly channels = new Map<string, Set<Connection>>();
  private readonly patterns = new Map<string, Set<Connection>>();

  constructor(private readonly server: Server) {}

  /** Subscribes `connection` to `channel`; false when it already was. */
  subscribe(connection: Connection, channel: string, pattern: boolean): boolean {
    const own = pattern ? (connection.patternSubscriptions ??= new Set()) : (connection.channelSubscriptions ??= new Set());
    if (own.has(channel)) return false;
    own.add(channel);
    const all = pattern ? this.patterns : this.channels;
    let subscribers = all.get(channel);
    if (subscribers === undefined) all.set(channel, (subscribers = new Set()));
    subscribers.add(connection);
    return true;
  }

  /** Unsubscribes `connection` from `channel`; false when it was not subscribed. */
  unsubscribe(connection: Connection, channel: string, pattern: boolean): boolean {
    const own = pattern ? connection.patternSubscriptions : connection.channelSubscriptions;
    if (own === null || !own.delete(channel)) return false;
    const all = pattern ? this.patterns : this.channels;
    const subscribers = all.get(channel);
    subscribers?.delete(connection);
    if (subscribers?.size === 0) all.delete(channel);
    return true;
  }

  /** Forgets a connection that closed. */
  forget(connection: Connection): void {
    for (const channel of [...(connection.channelSubscriptions ?? [])]) this.unsubscribe(connection, channel, false);
    for (const pattern of [...(connection.patternSubscriptions ?? [])]) this.unsubscribe(connection, pattern, true);
  }

  /** Delivers `payload` on `channel` to this node's subscribers; returns how many received it. */
  publish(channel: string, payload: Uint8Array): number {
    let count = 0;
    const frames: (Uint8Array | undefined)[] = [undefined, undefined];
    for (const connection of this.channels.get(channel) ?? []) {
      const protocol = connection.protocol;
      let frame = frames[protocol - 2];
      if (frame === undefined) frame = frames[protocol - 2] = messageFrame(protocol, null, channel, payload);
      if (this.deliver(connection, frame)) count++;
    }
    for (const [pattern, subscribers] of this.patterns) {
      if (!matches(pattern, channel)) continue;
      for (const connection of subscribers) {
        if (this.deliver(connection, messageFrame(connection.protocol, pattern, channel, payload))) count++;
      }
    }
    return count;
  }

  private deliver(connection: Connection, frame: Uint8Array): boolean {
    if (connection.closed) return false;
    // Behind the replies still queued for its earlier commands; else at once.
    if (connection.queued > 0) connection.enqueue(new Slot(SlotKind.Reply, "", frame, null, connection));
    else connection.writeRaw(frame);
    this.server.markReady(connection);
    return true;
  }

  /** Channels with at least one subscriber here, matching `pattern` if given (PUBSUB CHANNELS). */
  activeChannels(pattern: string | null): string[] {
    const names = [...this.channels.keys()];
    return pattern === null ? names : names.filter((name) => matches(pattern, name));
  }

  /** Subscribers here of `channel` (PUBSUB NUMSUB). */
  subscribers(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** Patterns subscribed here (PUBSUB NUMPAT). */
  get patternCount(): number {
    return this.patterns.size;
  }
}
