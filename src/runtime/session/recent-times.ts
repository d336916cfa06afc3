/** The last few hundred durations of something, and their median: a figure that one slow run does not move. */
export class RecentTimes {
  private readonly values: Float64Array;
  private count = 0;

  constructor(capacity = 512) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.values[this.count++ % this.values.length] = ms;
  }

  /** The median of the durations kept, or undefined before the first. */
  median(): number | undefined {
    const n = Math.min(this.count, this.values.length);
    if (n === 0) return undefined;
    const sorted = this.values.slice(0, n).sort();
    return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  }
}
