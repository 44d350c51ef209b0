/**
 * The seed budget: `SIM_SEEDS=<n>` runs n seeds (CI runs the default), `SIM_SEED_FIRST=<k>`
 * starts at seed k, `SIM_SEED=<n>` replays exactly one. A failing seed's error names the command
 * that replays it.
 */

/** Seeds CI runs per simulator test when `SIM_SEEDS` is not set. */
export const ciSeedsDefault = 1000;

/**
 * The seeds to run: the replayed one (`SIM_SEED`), or `SIM_SEEDS` seeds (default `ciSeedsDefault`)
 * starting at `SIM_SEED_FIRST` (default 1), so that long runs can be split into shards.
 */
export function seedsToRun(): number[] {
  const replay = process.env["SIM_SEED"];
  if (replay !== undefined && replay !== "") return [Number.parseInt(replay, 10)];
  const first = Number.parseInt(process.env["SIM_SEED_FIRST"] ?? "1", 10);
  const count = Number.parseInt(process.env["SIM_SEEDS"] ?? String(ciSeedsDefault), 10);
  return Array.from({ length: count }, (_, position) => first + position);
}

/** The one command that replays `seed` of the test file `file`. */
export function replayCommand(seed: number, file: string, testName?: string): string {
  const filter = testName === undefined ? "" : ` -t '${testName}'`;
  return `SIM_SEED=${seed} bun test ${file}${filter}`;
}
