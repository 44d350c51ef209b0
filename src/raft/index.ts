/**
 * The Raft core: a pure, deterministic consensus state machine. See docs/raft.md for the driver
 * contract (what must be durable before which message leaves), leases and the simulator.
 */
export * from "./types.ts";
export * from "./config-change.ts";
export * from "./options.ts";
export * from "./random.ts";
export * from "./storage.ts";
export { Raft, type ProposeResult, type RaftStatus, type ReadMode, type ReadResult } from "./raft.ts";
export { Progress, Inflights, type ProgressState } from "./progress.ts";
