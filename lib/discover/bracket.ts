/**
 * What the probes have established so far: the path kept an idle connection for `lowMs` (the
 * longest idle a probe was answered after) and forgot it by `highMs` (the shortest idle after
 * which a probe went unanswered or was reset, or after which the server closed or reset the
 * connection itself). Pure bookkeeping, no sockets.
 */

/** What happened at the edge: how a connection idle for longer than the timeout ends. */
export type Edge = "silent-drop" | "reset" | "server-close" | "none";

export type Observation =
  /** Our keep-alive probe after `idleMs` of idle was answered: the path still knew the connection. */
  | { kind: "answered"; idleMs: number }
  /** The probe after `idleMs` vanished (silent-drop) or was answered with an RST (reset). */
  | { kind: "forgotten"; idleMs: number; edge: "silent-drop" | "reset" }
  /**
   * The connection ended by itself after `ageMs` of idle, before its probe: a FIN (the server
   * closes idle connections) or an RST (something resets them). Measured directly, not bracketed,
   * once a second connection ends at the same age (see Bracket.#confirmedEnd).
   */
  | { kind: "ended"; ageMs: number; edge: "server-close" | "reset"; atMs: number };

/** Two ends agree when their ages are this close (relative, or absolute for short ones)… */
const AGREE_RATIO = 0.05;
const AGREE_MIN_MS = 200;

/**
 * An end seen directly happened at most this long before it reached us (the server's timer, the
 * trip): the low side of its range.
 */
export const ENDED_TOLERANCE_MS = 50;

export interface BracketState {
  lowMs: number;
  /** null: nothing has been forgotten yet. */
  highMs: number | null;
  edge: Edge | null;
}

export class Bracket {
  #answered = 0;
  readonly #forgotten: { idleMs: number; edge: Edge }[] = [];
  readonly #ended: { ageMs: number; edge: Edge; atMs: number }[] = [];
  /** Answers that contradicted an earlier "forgotten" (a lost probe or a timeout that varies). */
  contradictions = 0;

  record(o: Observation): void {
    switch (o.kind) {
      case "answered": {
        const before = this.highMs;
        this.#answered = Math.max(this.#answered, o.idleMs);
        if (before !== null && o.idleMs >= before) this.contradictions++;
        break;
      }
      case "forgotten":
        this.#forgotten.push({ idleMs: o.idleMs, edge: o.edge });
        break;
      case "ended":
        this.#ended.push({ ageMs: o.ageMs, edge: o.edge, atMs: o.atMs });
        break;
    }
  }

  /** The shortest idle that was forgotten, ignoring any an answered probe has since contradicted. */
  #edgeObservation(): { atMs: number; edge: Edge; direct: boolean } | null {
    let best: { atMs: number; edge: Edge; direct: boolean } | null = null;
    for (const f of this.#forgotten) {
      if (f.idleMs <= this.#answered) continue;
      if (best === null || f.idleMs < best.atMs) {
        best = { atMs: f.idleMs, edge: f.edge, direct: false };
      }
    }
    const e = this.#confirmedEnd();
    if (e && (best === null || e.ageMs <= best.atMs)) {
      best = { atMs: e.ageMs, edge: e.edge, direct: true };
    }
    return best;
  }

  /**
   * The shortest age at which two connections ended alike (a FIN, or an RST, before their probe).
   * One alone proves nothing: a server that restarts ends every connection at the same moment,
   * whatever its age; one that closes idle connections ends each at the same age, at different
   * moments. So two ends agree when their ages are closer than the moments they happened.
   */
  #confirmedEnd(): { ageMs: number; edge: Edge } | null {
    const ends = [...this.#ended].sort((a, b) => a.ageMs - b.ageMs);
    let best: { ageMs: number; edge: Edge } | null = null;
    for (let i = 0; i < ends.length; i++) {
      for (let j = i + 1; j < ends.length; j++) {
        const a = ends[i], b = ends[j];
        const apart = Math.abs(b.atMs - a.atMs);
        const differ = b.ageMs - a.ageMs;
        if (differ > Math.max(AGREE_MIN_MS, a.ageMs * AGREE_RATIO)) break;
        if (a.edge === b.edge && differ * 2 < apart && (best === null || a.ageMs < best.ageMs)) {
          best = a;
        }
      }
    }
    return best;
  }

  get lowMs(): number {
    const edge = this.#edgeObservation();
    if (edge?.direct) {
      return Math.min(edge.atMs, Math.max(this.#answered, edge.atMs - ENDED_TOLERANCE_MS));
    }
    return this.#answered;
  }

  get highMs(): number | null {
    return this.#edgeObservation()?.atMs ?? null;
  }

  get state(): BracketState {
    const edge = this.#edgeObservation();
    return { lowMs: this.lowMs, highMs: edge?.atMs ?? null, edge: edge?.edge ?? null };
  }

  /** An end seen directly (FIN, RST before the probe) is the answer itself. */
  get measuredDirectly(): boolean {
    return this.#edgeObservation()?.direct ?? false;
  }

  /**
   * Done when the range is within `precision` (high ≤ low × (1 + precision)), or `resolutionMs`
   * wide at most, or seen directly, or when an idle of `maxMs` was survived.
   */
  done(precision: number, maxMs: number, resolutionMs: number): boolean {
    if (this.measuredDirectly) return true;
    const high = this.highMs;
    if (high === null) return this.#answered >= maxMs - resolutionMs;
    const low = this.lowMs;
    return high <= low * (1 + precision) || high - low <= resolutionMs;
  }

  /** The final answer; `none` when nothing was forgotten (lowMs is then the longest survived). */
  result(): BracketState & { edge: Edge } {
    const s = this.state;
    return { ...s, edge: s.edge ?? "none" };
  }
}
