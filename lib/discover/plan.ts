/**
 * When each connection should send its one probe, and when to open the next. Pure: given what is
 * known (the bracket), the probes in flight, the ages of the connections not yet used and the
 * rungs not yet opened, it says which to fire now, when to fire the others, which are useless, and
 * what to open.
 *
 * A connection that has idled for `a` can test any idle time ≥ a, chosen at any moment (discover
 * sets TCP_KEEPIDLE to 1 s then, and the kernel probes at once because the connection has already
 * idled longer). So once a rung is forgotten, the connections of the rungs above it, opened a
 * little later each (ladder.ts), are idle for a little less than the edge: they test points inside
 * the range at once, or soon. Refinement rounds thus overlap the ladder instead of starting over
 * from zero.
 */
import { OPEN_LEAD } from "./ladder.ts";

export interface IdleConnection {
  id: number;
  /** How long it has been idle now (since the last segment it received). */
  ageMs: number;
  /** Its ladder rung, while that rung still means something; null for a spare. */
  rungMs: number | null;
}

export interface PlanInput {
  /** Time since the run started. */
  elapsedMs: number;
  lowMs: number;
  highMs: number | null;
  /** Idle times of probes sent whose answer is not in yet. */
  pendingMs: number[];
  idle: IdleConnection[];
  /** Rungs whose connection has not been opened yet; those above maxMs are shadows (spares). */
  unopenedRungs: number[];
  /** Connections open or opening now (idle + probes in flight). */
  live: number;
  capacity: number;
  precision: number;
  maxMs: number;
  /** The shortest idle a probe can test: TCP_KEEPIDLE's 1 s minimum. */
  minTestMs: number;
}

export interface Plan {
  /** Idle time each connection is to be probed at (now, if not above its age). */
  fireAt: Map<number, number>;
  /** Connections that cannot answer anything useful any more (older than the range's top). */
  close: number[];
  /** Rungs to open a connection for now. */
  openRungs: number[];
  /** Spare connections to open now (refinement points no open connection can reach). */
  openSpares: number;
}

/** A gap needs another probe while its ends are more than the precision apart. */
function tooWide(u: number, v: number, precision: number, minTestMs: number): boolean {
  if (v <= minTestMs) return false; // nothing below the minimum can be tested
  return u === 0 || v > u * (1 + precision);
}

/** The point that halves a gap: geometrically (ratios matter), or arithmetically from zero. */
function splitPoint(u: number, v: number, minTestMs: number): number {
  const g = u === 0 ? v / 2 : Math.sqrt(u * v);
  return Math.max(minTestMs, Math.round(g));
}

export function plan(input: PlanInput): Plan {
  const { lowMs, highMs, precision, maxMs, minTestMs } = input;
  const top = highMs ?? maxMs;
  const fireAt = new Map<number, number>();
  const close: number[] = [];
  const spares: IdleConnection[] = [];
  const points = new Set<number>([lowMs, ...input.pendingMs.filter((p) => p > lowMs && p < top)]);
  if (highMs !== null) points.add(highMs);

  for (const c of input.idle) {
    if (c.ageMs >= top && !(highMs === null && c.rungMs === maxMs)) {
      // Idle longer than the path keeps connections (or than --max): it can only be forgotten.
      close.push(c.id);
    } else if (c.rungMs !== null && c.rungMs > lowMs && c.rungMs <= top) {
      fireAt.set(c.id, c.rungMs);
      points.add(c.rungMs);
    } else {
      spares.push(c);
    }
  }

  // With nothing forgotten yet, --max itself must be tested to say "kept for at least --max".
  let maxUncovered = highMs === null && lowMs < maxMs && !points.has(maxMs) &&
    !input.unopenedRungs.includes(maxMs);
  if (maxUncovered) {
    const oldest = spares.filter((c) => c.ageMs <= maxMs).sort((a, b) => b.ageMs - a.ageMs)[0];
    if (oldest) {
      fireAt.set(oldest.id, maxMs);
      points.add(maxMs);
      spares.splice(spares.indexOf(oldest), 1);
      maxUncovered = false;
    }
  }

  // Spares refine the range once it is known; before that they wait (the ladder is the search).
  if (highMs !== null) {
    // Oldest first: they can reach the widest choice of points soonest.
    spares.sort((a, b) => b.ageMs - a.ageMs);
    for (const spare of spares) {
      const at = bestPoint(
        spare.ageMs,
        wideGaps(points, lowMs, top, precision, minTestMs),
        minTestMs,
      );
      if (at !== null) {
        fireAt.set(spare.id, at);
        points.add(at);
      }
    }
  }

  let free = Math.max(0, input.capacity - input.live + close.length);
  // Shadow rungs (above --max) only prepare refinement; once the range is known they are moot.
  const openRungs = input.unopenedRungs
    .filter((x) => x > lowMs && (highMs === null || x < highMs))
    .filter((x) => input.elapsedMs >= OPEN_LEAD * x)
    .slice(0, free);
  free -= openRungs.length;
  // A new connection is the slowest way to test a point (it starts from zero): only for gaps
  // that no connection could take.
  // Below the ladder (even --min was forgotten) nothing is idle short enough to help: search down
  // in parallel, halving towards the 1 s minimum.
  const unserved = highMs === null
    ? (maxUncovered ? 1 : 0) // e.g. after a restart ended every connection
    : wideGaps(points, lowMs, top, precision, minTestMs)
      .reduce((n, [u, v]) => n + (u === 0 ? Math.ceil(Math.log2(v / minTestMs)) : 1), 0);
  return { fireAt, close, openRungs, openSpares: Math.min(free, unserved) };
}

/**
 * Where a spare idle for `ageMs` should test: now, if its age splits a gap; otherwise the middle
 * of the gap it can reach soonest (the widest, on a tie). null: no gap it can help with.
 */
function bestPoint(ageMs: number, gaps: [number, number][], minTestMs: number): number | null {
  let best: { at: number; cost: number; width: number } | null = null;
  for (const [u, v] of gaps) {
    const g = splitPoint(u, v, minTestMs);
    let at: number;
    if (ageMs <= g) at = g; // reach the middle
    else if (ageMs < v) at = ageMs; // past the middle but inside: test now
    else continue;
    const cost = at - ageMs;
    const width = u === 0 ? Infinity : v / u;
    if (best === null || cost < best.cost || (cost === best.cost && width > best.width)) {
      best = { at, cost, width };
    }
  }
  return best?.at ?? null;
}

/** Neighbouring points in [low, top] still further apart than the precision. */
function wideGaps(
  points: Set<number>,
  lowMs: number,
  top: number,
  precision: number,
  minTestMs: number,
): [number, number][] {
  const sorted = [...points].filter((p) => p >= lowMs && p <= top).sort((a, b) => a - b);
  const gaps: [number, number][] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    if (tooWide(sorted[i], sorted[i + 1], precision, minTestMs)) {
      gaps.push([sorted[i], sorted[i + 1]]);
    }
  }
  return gaps;
}

/**
 * How long a run will take, said before it starts: about 1.1× the first rung above the idle
 * timeout being measured; when nothing forgets the connections, 1.1 × --max.
 */
export function estimate(maxMs: number): { worstMs: number } {
  return { worstMs: Math.round(maxMs * (1 + OPEN_LEAD)) + 1000 };
}
