/**
 * The reads every log store answers the same way: from its `LogState` (the held entries and
 * metadata in memory), with the snapshot's data supplied by the node.
 */
import type { LogStorage } from "../raft/storage.ts";
import type { Entry, HardState, Index, Snapshot, SnapshotMetadata, Term } from "../raft/types.ts";
import type { LogState } from "./log-state.ts";

export abstract class StateBackedStore implements LogStorage {
  constructor(
    protected readonly state: LogState,
    protected readonly snapshotData: (metadata: SnapshotMetadata) => Uint8Array,
  ) {}

  hardState(): HardState {
    return this.state.hardState();
  }
  snapshotMetadata(): SnapshotMetadata {
    return this.state.snapshotMetadata();
  }
  snapshot(): Snapshot {
    const metadata = this.state.snapshotMetadata();
    return { metadata, data: this.snapshotData(metadata) };
  }
  firstIndex(): Index {
    return this.state.firstIndex();
  }
  lastIndex(): Index {
    return this.state.lastIndex();
  }
  term(index: Index): Term {
    return this.state.term(index);
  }
  entries(low: Index, high: Index, maxBytes: number): Entry[] {
    return this.state.entries(low, high, maxBytes);
  }
}
