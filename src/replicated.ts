/**
 * Deterministic inputs for `mutate`. Every replica applies the same command at the same position
 * of the log, so anything derived from that position is the same everywhere: a machine that needs
 * randomness (SPOP, RANDOMKEY) inside `mutate` takes it from `replicatedRandom()`, never from
 * `Math.random()`, and every replica makes the same choice.
 *
 *   applier.apply(conn, command, () => {
 *     const random = replicatedRandom();
 *     const pick = members[Math.floor(random() * members.length)];
 *     ...
 *   }, respond);
 */

/** Where the executor is in the log: the entry's index and the command's place in the entry. */
const position = { applying: false, index: 0, command: 0, time: 0, random: null as (() => number) | null };
/** The latest entry time this process has applied (the executor reports it). */
let lastAppliedTime = 0;

/** @internal The executor is about to apply the command at `command` of the entry at `index`. */
export function enterLogPosition(index: number, command: number, time = 0): void {
  position.applying = true;
  position.index = index;
  position.command = command;
  position.time = time;
  position.random = null;
}

/** @internal The executor is done with that command. */
export function leaveLogPosition(): void {
  position.applying = false;
  position.random = null;
}

/**
 * A generator of numbers in [0, 1), seeded from the log position of the command being applied:
 * the same sequence on every replica. Only inside `mutate` (it throws elsewhere: a read or a
 * reply has no log position, and randomness there would differ between nodes harmlessly but
 * silently). Calls within one command share one sequence.
 */
export function replicatedRandom(): () => number {
  if (!position.applying) throw new Error("replicatedRandom() is available only inside mutate, while a command is applied");
  if (position.random === null) position.random = splitMix32(seedOf(position.index, position.command));
  return position.random;
}

/** @internal The executor applied an entry stamped `time`. */
export function noteAppliedTime(time: number): void {
  if (time > lastAppliedTime) lastAppliedTime = time;
}

/**
 * Milliseconds since the epoch. Inside `mutate`: the time the leader stamped on the command's log
 * entry, the same on every replica, so a decision such as "this key has expired" is the same
 * everywhere at the same log position. Elsewhere (a read, a reply): this node's clock, but never
 * earlier than the latest time it has applied, so a read never sees as alive what applying has
 * already treated as expired.
 */
export function replicatedTime(): number {
  if (position.applying) return position.time;
  return Math.max(Date.now(), lastAppliedTime);
}

/** Whether a command is being applied (inside `mutate`): `logPosition() !== null`, with nothing made. */
export function isApplying(): boolean {
  return position.applying;
}

/** The log position of the command being applied, or null outside `mutate`. */
export function logPosition(): { readonly index: number; readonly command: number } | null {
  return position.applying ? { index: position.index, command: position.command } : null;
}

function seedOf(index: number, command: number): number {
  // Mix the two halves of the index and the command's place into 32 bits.
  let hash = Math.imul((index % 0x100000000) ^ 0x9e3779b9, 0x85ebca6b);
  hash = Math.imul(hash ^ Math.floor(index / 0x100000000) ^ (hash >>> 13), 0xc2b2ae35);
  hash = Math.imul(hash ^ command ^ (hash >>> 16), 0x27d4eb2d);
  return (hash ^ (hash >>> 15)) >>> 0;
}

/** SplitMix32: small, fast, and good enough to pick members. */
function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 0x100000000;
  };
}
