/**
 * When each idle connection should send its one probe. Pure: given what is known (the bracket),
 * the probes in flight and the ages of the connections not yet used, it says which to fire now,
 * when to fire the others, which are useless, and how many to open.
 *
 * The trick that keeps a run close to its theoretical minimum: a connection that has idled for
 * `a` can test any idle time ≥ a, decided at any moment before (discover sets TCP_KEEPIDLE to 1 s
 * then, and the kernel probes at once, because the connection has already idled longer). The
 * connections opened when earlier rungs of the ladder were answered have been idling since, so
 * when a rung is forgotten they can test points inside the bracket right away, or soon, instead
 * of a second round starting from zero. Refinement therefore overlaps the ladder; "rounds" are
 * pipelined rather than sequential.
 */

export interface IdleConnection {
  id: number;
  /** How long it has been idle now (since the last segment it received). */
  ageMs: number;
  /** Its ladder rung, while that rung still means something; null for a spare. */
  rungMs: number | null;
}

export interface PlanInput {
  lowMs: number;
  highMs: number | null;
  /** Idle times of probes sent whose answer is not in yet. */
  pendingMs: number[];
  idle: IdleConnection[];
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
  /** Connections that cannot answer anything useful any more (older than the bracket's top). */
  close: number[];
  /** New connections to open now. */
  open: number;
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
  if (highMs === null && lowMs < maxMs && !points.has(maxMs)) {
    const oldest = spares.filter((c) => c.ageMs <= maxMs).sort((a, b) => b.ageMs - a.ageMs)[0];
    if (oldest) {
      fireAt.set(oldest.id, maxMs);
      points.add(maxMs);
      spares.splice(spares.indexOf(oldest), 1);
    }
  }

  // Oldest spares first: they can reach the widest choice of points soonest.
  spares.sort((a, b) => b.ageMs - a.ageMs);
  for (const spare of spares) {
    const sorted = [...points].filter((p) => p >= lowMs && p <= top).sort((a, b) => a - b);
    let best: { at: number; cost: number; width: number } | null = null;
    for (let i = 0; i + 1 < sorted.length; i++) {
      const u = sorted[i], v = sorted[i + 1];
      if (!tooWide(u, v, precision, minTestMs)) continue;
      const g = splitPoint(u, v, minTestMs);
      let at: number, cost: number;
      if (spare.ageMs <= g) {
        at = g;
        cost = g - spare.ageMs;
      } else if (spare.ageMs * Math.sqrt(1 + precision) < v) {
        at = spare.ageMs; // past the middle but still a real split: test now
        cost = 0;
      } else continue;
      const width = u === 0 ? Infinity : v / u;
      if (best === null || cost < best.cost || (cost === best.cost && width > best.width)) {
        best = { at, cost, width };
      }
    }
    if (best) {
      fireAt.set(spare.id, best.at);
      points.add(best.at);
    }
  }

  return { fireAt, close, open: Math.max(0, input.capacity - input.live + close.length) };
}

/**
 * How long a run will take, said before it starts: about the idle timeout being measured plus
 * the refinement (within ~30% of it); when nothing forgets the connections, --max.
 */
export function estimate(maxMs: number): { typicalFactor: number; worstMs: number } {
  return { typicalFactor: 1.3, worstMs: Math.round(maxMs * 1.3) };
}
