/**
 * Puts the demo's lines in time order. They come from several sources that learn of things late
 * by different amounts: a packet reaches us from tcpdump after the kernel stamped it, an event from
 * a role in a namespace after a pipe and a parse, a kernel observation at the next poll. Each line
 * waits here HOLD_MS, long enough for a line stamped earlier to catch up, and lines go out sorted
 * by their time (ties in arrival order).
 */

/** How long a line waits for earlier-stamped ones to arrive. */
export const HOLD_MS = 400;
const TICK_MS = 100;

/**
 * A line, or how to make it when it is written: the JSON view puts `version` on the first line
 * written, which after sorting need not be the first one made.
 */
export type Line = string | (() => string);

interface Pending {
  time: number;
  seq: number;
  line: Line;
}

export class TimeOrder {
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  #pending: Pending[] = [];
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(write: (line: string) => void, now: () => number = Date.now) {
    this.#write = write;
    this.#now = now;
  }

  /** Queues `line`, stamped `time` (ms since the epoch). */
  add(time: number, line: Line): void {
    this.#pending.push({ time, seq: this.#seq++, line });
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#release(this.#now() - HOLD_MS), TICK_MS);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
  }

  /** Writes everything queued, in order (before a verdict, at the end of the run). */
  flush(): void {
    this.#release(Infinity);
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #release(upTo: number): void {
    if (this.#pending.length === 0) return;
    this.#pending.sort((a, b) => a.time - b.time || a.seq - b.seq);
    let n = 0;
    while (n < this.#pending.length && this.#pending[n].time <= upTo) n++;
    // A line later than the hold allows still goes out (never lost), just not in its place.
    for (const p of this.#pending.slice(0, n)) {
      this.#write(typeof p.line === "string" ? p.line : p.line());
    }
    this.#pending = this.#pending.slice(n);
  }
}
