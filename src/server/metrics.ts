/**
 * Redis's instantaneous metrics (INFO's `instantaneous_ops_per_sec` and the like): a counter's rate
 * per second over its last 16 samples, one taken every 100 ms (`trackInstantaneousMetric`).
 */
const samplesKept = 16;

export class InstantaneousMetric {
  private readonly rates = new Float64Array(samplesKept);
  private next = 0;
  private lastValue = 0;
  private lastTime = -1;

  /** Takes a sample: the counter's value now, at `now` (ms, monotonic). */
  track(value: number, now: number): void {
    if (this.lastTime >= 0 && now > this.lastTime) {
      this.rates[this.next] = ((value - this.lastValue) * 1000) / (now - this.lastTime);
      this.next = (this.next + 1) % samplesKept;
    }
    this.lastValue = value;
    this.lastTime = now;
  }

  /** The mean rate per second over the samples kept. */
  get perSecond(): number {
    let sum = 0;
    for (const rate of this.rates) sum += rate;
    return sum / samplesKept;
  }

  /** CONFIG RESETSTAT: the rates start again (the counter, reset too, is sampled afresh). */
  reset(): void {
    this.rates.fill(0);
    this.next = 0;
    this.lastTime = -1;
  }
}
