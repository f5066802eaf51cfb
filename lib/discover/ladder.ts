/**
 * The first round of `discover`: idle times on a geometric ladder from --min to --max, one per
 * connection. Geometric because the question is "which order of magnitude": 10 s, 30 s, 2 min,
 * 6 min, 30 min are equally plausible answers, and a ratio keeps the refinement's work the same
 * whichever rung the edge falls behind.
 */

/** `rungs` idle times from `minMs` to `maxMs` (both included), whole milliseconds, ascending. */
export function ladder(minMs: number, maxMs: number, rungs: number): number[] {
  if (rungs <= 1 || maxMs <= minMs) return [maxMs];
  const ratio = ladderRatio(minMs, maxMs, rungs);
  const out: number[] = [];
  for (let i = 0; i < rungs; i++) {
    const value = i === rungs - 1 ? maxMs : Math.round(minMs * ratio ** i);
    if (out.at(-1) !== value) out.push(value);
  }
  return out;
}

/** The factor between neighbouring rungs. */
export function ladderRatio(minMs: number, maxMs: number, rungs: number): number {
  if (rungs <= 1 || maxMs <= minMs) return 1;
  return (maxMs / minMs) ** (1 / (rungs - 1));
}
