/** Medians, spreads and the units the table prints. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** How far the runs are apart: (max − min) / median; 0 for a single run. */
export function spread(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / Math.abs(m);
}

/**
 * Beyond this spread between runs of the same program the machine was too busy to trust a ratio:
 * the difference the ratio shows may be the neighbours, not the programs.
 */
export const NOISY = 0.2;

export const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const ms = (v: number) =>
  v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
export const us = (v: number) => `${v.toFixed(1)} µs`;
export const ratio = (a: number, b: number) => b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
export const count = (n: number) => n.toLocaleString("en-US");
export const percent = (f: number) => `${Math.round(f * 100)}%`;
