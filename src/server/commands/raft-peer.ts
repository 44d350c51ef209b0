/**
 * The peer commands: RAFTHELLO and RAFTAUTH (the handshake) and RAFTMSG (a batch of Raft
 * messages, never answered). See src/transport/handshake.ts for the protocol.
 */
import type { PeerReply } from "../../transport/transport.ts";
import { type Builtin } from "../builtin.ts";
import type { ReaderLimits } from "../../resp/reader.ts";
import { spec } from "../command-spec.ts";
import type { Connection } from "../connection.ts";

const noKeys = [0, 0, 0] as const;

function answer(connection: Connection, reply: PeerReply): void {
  switch (reply.kind) {
    case "none":
      return;
    case "reply":
      if (typeof reply.values === "string") connection.writeString(reply.values);
      else {
        connection.writeArray(reply.values.length);
        for (const value of reply.values) connection.writeBulk(value);
      }
      return;
    case "refuse":
      connection.writeError(reply.error);
      if (reply.close) connection.closeAfterReply = true;
      return;
  }
}

function transportMissing(connection: Connection): void {
  connection.writeError("ERR this node does not accept peers");
}

export const raftHello: Builtin = {
  spec: spec("rafthello", 7, "noscript loading stale fast", noKeys, "cluster", "Opens a peer link (internal).", "version cluster clusterid id nonce address"),
  run(context, connection, command) {
    if (context.transport === null) return transportMissing(connection);
    const { reply, session } = context.transport.acceptHello(connection.peerSession, command);
    connection.peerSession = session;
    answer(connection, reply);
  },
};

export const raftAuth: Builtin = {
  spec: spec("raftauth", 2, "noscript loading stale fast", noKeys, "cluster", "Authenticates a peer link (internal).", "proof"),
  run(context, connection, command) {
    if (context.transport === null) return transportMissing(connection);
    answer(connection, context.transport.acceptAuth(connection.peerSession, command));
    if (connection.peerSession?.state === "ready") connection.reader.setLimits(peerReaderLimits(context.server.readerLimits));
  },
};

/** Room for the framing around the largest entry in one RAFTMSG: msgpack, the message's fields. */
const peerFrameOverheadBytes = 64 * 1024 * 1024;

/**
 * What an authenticated peer may send in one frame. One log entry holds at most one client command
 * larger than the batching size, and a client command is at most the query buffer limit, so a
 * RAFTMSG carrying it is larger than any client bulk: with the client limits, a follower would
 * refuse the leader's frame and a single large SET would stall replication for good.
 */
export function peerReaderLimits(client: ReaderLimits): ReaderLimits {
  const frameBytesMax = client.queryBufferBytesMax + peerFrameOverheadBytes;
  return { ...client, bulkBytesMax: frameBytesMax, queryBufferBytesMax: frameBytesMax + peerFrameOverheadBytes };
}

export const raftMessage: Builtin = {
  spec: spec("raftmsg", -2, "noscript loading stale fast", noKeys, "cluster", "Delivers Raft messages from a peer (internal).", "batch [data ...]"),
  run(context, connection, command) {
    if (context.transport === null) return transportMissing(connection);
    answer(connection, context.transport.acceptMessages(connection.peerSession, command));
  },
};

export const raftSnapshotChunk: Builtin = {
  spec: spec("raftsnap", 5, "noscript loading stale", noKeys, "cluster", "Streams a snapshot from a peer (internal).", "id part number bytes"),
  run(context, connection, command) {
    if (context.transport === null) return transportMissing(connection);
    answer(connection, context.transport.acceptSnapshotChunk(connection.peerSession, command));
  },
};
