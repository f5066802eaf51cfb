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

// Slots of RunningSpread's one array: the running figures, then the sample.
const COUNT = 0;
const MIN = 1;
const MAX = 2;
const MEAN = 3;
/** Sum of squared differences from the current mean (Welford). */
const M2 = 4;
/**
 * xorshift32 state with a fixed seed: the same packets give the same summary on every run, so a
 * live capture and a later --read of its file agree.
 */
const RNG = 5;
/** The sample: grows to SAMPLE_SIZE values, then values replace random slots. */
const SAMPLE = 6;

export class RunningSpread {
  /**
   * Everything in one array of unboxed doubles (its literal holds non-integers, so V8 makes it a
   * double array from the start), sized by hand: separate fields cost a heap number each (16
   * bytes: they are doubles), and push() grows an array to 1.5 n + 16 slots, 0.2 KB for a
   * prober's first probe. A new one has room for 4 values, grown by half when full, up to
   * SAMPLE_SIZE. Slots past SAMPLE + min(count, SAMPLE_SIZE) are room, not values.
   */
  #f: number[] = [0, Infinity, -Infinity, -0, -0, 0x9e3779b9, -0, -0, -0, -0];

  get count(): number {
    return this.#f[COUNT];
  }

  add(value: number): void {
    let f = this.#f;
    const n = ++f[COUNT];
    if (value < f[MIN]) f[MIN] = value;
    if (value > f[MAX]) f[MAX] = value;
    const delta = value - f[MEAN];
    f[MEAN] += delta / n;
    f[M2] += delta * (value - f[MEAN]);
    if (n <= SAMPLE_SIZE) {
      if (SAMPLE + n > f.length) f = this.#f = grown(f, Math.min(SAMPLE_SIZE, (n - 1) * 1.5));
      f[SAMPLE + n - 1] = value;
      return;
    }
    // Algorithm R: the n-th value takes a random slot with probability SAMPLE_SIZE / n, which
    // leaves every value seen so far in the sample with that same probability.
    let x = f[RNG];
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    f[RNG] = x >>> 0;
    const slot = Math.floor((f[RNG] / 4294967296) * n);
    if (slot < SAMPLE_SIZE) f[SAMPLE + slot] = value;
  }

  /** Null before the first value. */
  spread(): Spread | null {
    const f = this.#f;
    const count = f[COUNT];
    if (count === 0) return null;
    const sorted = Float64Array.from(f.slice(SAMPLE, SAMPLE + Math.min(count, SAMPLE_SIZE)))
      .sort();
    return {
      count,
      minMs: f[MIN],
      maxMs: f[MAX],
      medianMs: quantile(sorted, 0.5),
      meanMs: f[MEAN],
      stdevMs: Math.sqrt(f[M2] / count),
      p10Ms: quantile(sorted, 0.1),
      p90Ms: quantile(sorted, 0.9),
    };
  }
}

/**
 * A copy of `f` with room for `room` sample values, exactly that long. (A Float64Array would be
 * exact too, but its storage lies outside V8's heap and cost more RSS, measured.)
 */
function grown(f: number[], room: number): number[] {
  const g = f.slice();
  for (let i = f.length; i < SAMPLE + Math.ceil(room); i++) g.push(-0);
  return g.slice();
}
