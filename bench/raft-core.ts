/**
 * Micro-benchmark of the Raft core alone: a 3-node cluster in one process, no IO, in-memory
 * storage, replicating small entries in batches with pipelining. Reports committed-and-applied
 * entries per second (every entry applied on all three nodes). Target: 1M entries/s on one core.
 *
 *   bun run bench/raft-core.ts [seconds=3] [batch=1024] [entryBytes=16]
 */
import {
  asNodeId,
  bootstrapEntry,
  MemoryStorage,
  Raft,
  SeededRandom,
  type Message,
  type NodeId,
} from "../src/raft/index.ts";

const seconds = Number(process.argv[2] ?? "3");
const batch = Number(process.argv[3] ?? "1024");
const entryBytes = Number(process.argv[4] ?? "16");

const ids: NodeId[] = ["n1", "n2", "n3"].map(asNodeId);
const storages = new Map<NodeId, MemoryStorage>();
const nodes = new Map<NodeId, Raft>();
for (const id of ids) {
  const storage = MemoryStorage.bootstrap(bootstrapEntry(ids));
  storages.set(id, storage);
  nodes.set(
    id,
    new Raft({
      id,
      storage,
      random: new SeededRandom(ids.indexOf(id) + 1),
      messageBytesMax: 1 << 20,
      inflightMessagesMax: 64,
      inflightBytesMax: 64 << 20,
      uncommittedBytesMax: 256 << 20,
      voteGuardAfterStart: false,
    }),
  );
}

let inbox: Message[] = [];
let applied = 0;
const leaderId = ids[0]!;

/** Handles every node's Ready: persist in memory, queue messages, count applied entries. */
function pump(): void {
  for (const id of ids) {
    const raft = nodes.get(id)!;
    const storage = storages.get(id)!;
    while (raft.hasReady()) {
      const ready = raft.ready();
      for (const message of ready.messages) inbox.push(message);
      if (ready.snapshot !== null) storage.applySnapshot(ready.snapshot);
      if (ready.entries.length > 0) storage.append(ready.entries);
      if (ready.hardState !== null) storage.setHardState(ready.hardState);
      for (const message of ready.messagesAfterPersist) inbox.push(message);
      if (id === leaderId) applied += ready.committedEntries.length;
      raft.advance();
    }
  }
}

function deliver(): void {
  const messages = inbox;
  inbox = [];
  for (const message of messages) nodes.get(message.to)!.step(message);
}

// Elect n1.
pump();
nodes.get(leaderId)!.campaign();
for (let round = 0; round < 20; round++) {
  pump();
  deliver();
}
if (nodes.get(leaderId)!.status().role !== "leader") throw new Error("n1 did not become leader");

const data = new Uint8Array(entryBytes);
const payload: Uint8Array[] = Array.from({ length: batch }, () => data);
const leader = nodes.get(leaderId)!;
const startApplied = applied;
const start = performance.now();
let proposed = 0;
let turns = 0;
while (performance.now() - start < seconds * 1000) {
  // One event-loop turn: whatever clients sent is proposed as one batch, then every node handles
  // its Ready and the messages go out. Replication is pipelined: proposals do not wait for commits.
  const result = leader.propose(payload);
  if (result.ok) proposed += batch;
  pump();
  deliver();
  turns++;
  // Every few turns, compact the log so that memory stays flat.
  if (turns % 64 === 0) {
    for (const id of ids) {
      const raft = nodes.get(id)!;
      const storage = storages.get(id)!;
      const status = raft.status();
      if (status.applied > storage.snapshotMetadata().index) {
        storage.createSnapshot(status.applied, status.membership, new Uint8Array(0));
        storage.compact(status.applied);
      }
    }
  }
}
for (let round = 0; round < 10; round++) {
  pump();
  deliver();
}
const elapsed = (performance.now() - start) / 1000;
const entries = applied - startApplied;
const rate = entries / elapsed;
console.log(
  `raft-core: 3 nodes in-process, batch ${batch} x ${entryBytes} B: ${entries} entries committed and applied in ${elapsed.toFixed(2)} s = ${Math.round(rate).toLocaleString("en-US")} entries/s (proposed ${proposed}, ${turns} turns)`,
);
for (const id of ids) {
  const status = nodes.get(id)!.status();
  if (status.applied !== nodes.get(leaderId)!.status().applied) console.log(`note: ${id} applied ${status.applied}`);
}
