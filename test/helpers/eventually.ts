/** Polling for a condition in tests, with a deadline and the last value seen in the failure. */

/** Polls `probe` until `accept` likes its value; fails after `timeoutMilliseconds` with the last value seen. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  timeoutMilliseconds = 20_000,
  pollMilliseconds = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMilliseconds;
  let last: T | string = "nothing yet";
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      last = value;
      if (accept(value)) return value;
    } catch (error) {
      last = String(error);
    }
    await Bun.sleep(pollMilliseconds);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}
