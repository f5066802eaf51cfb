/** How the client paces opening many connections. */

/** Connects in flight at first. */
export const CONNECT_WINDOW = 256;

/**
 * Opens connections 1..n through `open` with at most a window of connects in flight. All n at once
 * would hold n pending connect ops, their promises and half-open sockets together, which V8 and
 * the allocator keep as RSS long after (measured at 10,000: 2.4 KB per connection) and which also
 * slows the opening (10–20%). The window doubles whenever a tick (250 ms) passes with no connect
 * finishing, so a path that swallows SYNs cannot queue the rest behind its connect timeouts.
 */
export class ConnectWindow {
  readonly done: Promise<void>;
  #window = CONNECT_WINDOW;
  #inFlight = 0;
  #next = 1;
  #settled = 0;
  #progressed = false;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;

  constructor(readonly n: number, readonly open: (id: number) => Promise<void>) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#startMore();
  }

  /** Call every 250 ms: widens the window if nothing finished since the last call. */
  tick(): void {
    if (!this.#progressed && this.#next <= this.n) {
      this.#window *= 2;
      this.#startMore();
    }
    this.#progressed = false;
  }

  /** Connects started and not finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  #startMore(): void {
    while (this.#inFlight < this.#window && this.#next <= this.n) {
      this.#inFlight++;
      this.open(this.#next++).then(() => this.#finished(), this.#reject);
    }
  }

  #finished(): void {
    this.#inFlight--;
    this.#progressed = true;
    if (++this.#settled === this.n) this.#resolve();
    else this.#startMore();
  }
}
