/**
 * What can make a discover run's evidence mislead, each said once as a warning: a server that
 * restarted (every connection ended at one moment, whatever its age), an answer that contradicts an
 * earlier "forgotten" (a lost packet), a server that sends keep-alive probes of its own. Pure.
 */

/** Ends this close together in time, on connections whose ages differ by more, look like a restart. */
const SAME_MOMENT_MS = 100;
const DIFFERENT_AGES_MS = 500;

export class Anomalies {
  readonly #ends: { atMs: number; ageMs: number }[] = [];
  readonly #said = new Set<string>();

  /** A connection ended by itself (FIN or RST) at `atMs`, idle for `ageMs`. */
  ended(atMs: number, ageMs: number): string | null {
    const together = this.#ends.filter((e) => Math.abs(atMs - e.atMs) < SAME_MOMENT_MS);
    this.#ends.push({ atMs, ageMs });
    if (!together.some((e) => Math.abs(e.ageMs - ageMs) > DIFFERENT_AGES_MS)) return null;
    return this.#once(
      "restart",
      "the server ended connections of different ages at the same moment (did it restart?): " +
        "those ends say nothing about idle time; measuring on with new connections",
    );
  }

  /** An answer after `idleMs` on #id came when a shorter idle had already been counted forgotten. */
  contradicted(id: number, idleMs: number): string | null {
    return this.#once(
      "contradiction",
      `#${id}'s probe after ${idleMs}ms was answered, longer than an idle already counted as ` +
        "forgotten: that one was probably a lost packet; the answer wins",
    );
  }

  /** The server sent `segments` on #id while it idled, before its probe. */
  peerSent(id: number, segments: number): string | null {
    if (segments <= 0) return null;
    return this.#once(
      "peer-probes",
      `the server sent ${segments} segment(s) on #${id} while it idled (its own keep-alive ` +
        "probes?): they refresh the path's state from the server's side, so the path may look " +
        "more patient than it is for a connection nobody probes",
    );
  }

  #once(key: string, message: string): string | null {
    if (this.#said.has(key)) return null;
    this.#said.add(key);
    return message;
  }
}
