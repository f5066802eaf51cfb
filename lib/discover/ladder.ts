/**
 * The rungs of `discover`: idle times on a geometric ladder from --min to --max. Geometric because
 * the question is "which order of magnitude": 10 s, 30 s, 2 min, 6 min, 30 min are equally
 * plausible answers, and a ratio keeps the refinement's work the same whichever rung the edge
 * falls behind.
 *
 * The ladder rolls: the connection for rung x opens at OPEN_LEAD × x (a tenth of its idle in) and
 * probes at (1 + OPEN_LEAD) × x, so only the rungs whose idle is between t/1.1 and 10·t are open
 * at time t. With C connections that allows a ratio of 11^(1/C) (1.27 for 10), and the rungs above
 * the edge, opened a little later each, are then idle for 97%, 93%, 88%, 81%… of the edge: just
 * what the refinement needs, ready at once.
 */

/** When the connection for a rung opens, as a fraction of the rung's idle time. */
export const OPEN_LEAD = 0.1;

/** The largest ratio between rungs that `connections` rolling connections can keep up with. */
export function targetRatio(connections: number): number {
  return ((1 + OPEN_LEAD) / OPEN_LEAD) ** (1 / Math.max(1, connections));
}

/** Rungs from `minMs` to `maxMs` (both included), whole milliseconds, ascending. */
export function ladder(minMs: number, maxMs: number, connections: number): number[] {
  if (maxMs <= minMs) return [maxMs];
  const steps = Math.max(
    1,
    Math.ceil(Math.log(maxMs / minMs) / Math.log(targetRatio(connections))),
  );
  const ratio = (maxMs / minMs) ** (1 / steps);
  const out: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const value = i === steps ? maxMs : Math.round(minMs * ratio ** i);
    if (out.at(-1) !== value) out.push(value);
  }
  return out;
}

/** The factor between neighbouring rungs. */
export function ladderRatio(rungs: number[]): number {
  return rungs.length < 2 ? 1 : (rungs.at(-1)! / rungs[0]) ** (1 / (rungs.length - 1));
}

/**
 * Opening times beyond the top rung: connections opened as if for rungs above --max, which never
 * test above it but give the refinement near --max the same spread of idle connections as
 * anywhere else. Enough to reach one rung below the edge: (1 + lead) − lead × ratio^k ≤ 1/ratio.
 */
export function shadowRungs(rungs: number[]): number[] {
  const ratio = ladderRatio(rungs);
  if (ratio <= 1) return [];
  const needed = (1 + OPEN_LEAD - 1 / ratio) / OPEN_LEAD;
  const count = Math.ceil(Math.log(needed) / Math.log(ratio));
  return Array.from({ length: count }, (_, i) => Math.round(rungs.at(-1)! * ratio ** (i + 1)));
}
