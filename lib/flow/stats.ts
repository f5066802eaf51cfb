/**
 * Statistics of a stream of durations in constant space, so that a connection probing for weeks
 * costs no more memory than one probing for a minute.
 *
 * Count, min, max, mean and standard deviation are exact, to floating-point rounding (mean and
 * variance by Welford's method, which stays accurate where a running sum of squares would cancel).
 * The median, p10 and p90 come from a sample of at most SAMPLE_SIZE values: exact up to that many
 * values; beyond it the sample is a uniform random one (reservoir sampling, Vitter's algorithm R),
 * so a quantile is a value whose rank among all of them is off by about 3 percentile points at the
 * median (one standard deviation, sqrt(0.5 * 0.5 / 256); 2 at p10 and p90). Keep-alive intervals
 * are nearly all the same, so in practice the value is off by little or nothing.
 */

/** Distribution of a set of durations, in milliseconds. */
export interface Spread {
  count: number;
  minMs: number;
  maxMs: number;
  medianMs: number;
  meanMs: number;
  /** Population standard deviation. */
  stdevMs: number;
  p10Ms: number;
  p90Ms: number;
}

/** Values kept per stream for the quantiles: 2 KiB of doubles at most; a connection has two. */
export const SAMPLE_SIZE = 256;

/** Linear-interpolated quantile of sorted values, q in [0, 1]. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export class RunningSpread {
  count = 0;
  #min = Infinity;
  #max = -Infinity;
  // -0 rather than 0 for these two: V8 gives a field the representation of its first value, and a
  // small integer later turned fractional makes it reshape every instance made so far, mid-capture
  // (measured: 0.1 s more to read 250,000 packets).
  #mean = -0;
  /** Sum of squared differences from the current mean (Welford). */
  #m2 = -0;
  /** Grows to SAMPLE_SIZE, then values replace random slots. */
  #sample: number[] = [];
  /**
   * xorshift32 state with a fixed seed: the same packets give the same summary on every run, so a
   * live capture and a later --read of its file agree.
   */
  #rng = 0x9e3779b9;

  add(value: number): void {
    const n = ++this.count;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    const delta = value - this.#mean;
    this.#mean += delta / n;
    this.#m2 += delta * (value - this.#mean);
    if (n <= SAMPLE_SIZE) {
      this.#sample.push(value);
      // A grown array keeps a third more room than it uses; a copy has none. (A Float64Array
      // would be exact too, but its storage lies outside V8's heap and cost more RSS, measured.)
      if (n === SAMPLE_SIZE) this.#sample = this.#sample.slice();
      return;
    }
    // Algorithm R: the n-th value takes a random slot with probability SAMPLE_SIZE / n, which
    // leaves every value seen so far in the sample with that same probability.
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x >>> 0;
    const slot = Math.floor((this.#rng / 4294967296) * n);
    if (slot < SAMPLE_SIZE) this.#sample[slot] = value;
  }

  /** Null before the first value. */
  spread(): Spread | null {
    if (this.count === 0) return null;
    const sorted = Float64Array.from(this.#sample).sort();
    return {
      count: this.count,
      minMs: this.#min,
      maxMs: this.#max,
      medianMs: quantile(sorted, 0.5),
      meanMs: this.#mean,
      stdevMs: Math.sqrt(this.#m2 / this.count),
      p10Ms: quantile(sorted, 0.1),
      p90Ms: quantile(sorted, 0.9),
    };
  }
}
