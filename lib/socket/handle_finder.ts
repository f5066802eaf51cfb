/**
 * Finds the OS handle (POSIX descriptor, Windows SOCKET) behind a Deno connection, which Deno does
 * not expose. Each candidate is checked with a caller-supplied check (getsockname/getpeername), so a
 * wrong guess costs one check, never a wrong answer. (A "check" here is a look at a candidate handle;
 * it has nothing to do with keep-alive probes.)
 *
 * Cheap at scale: scanning every open handle per connection would cost O(n) each, O(n²) to set up
 * n connections. Instead it remembers where a connection's handle is likely to be:
 * - every connected socket it has checked on the way, by its ports: concurrent connects finish out
 *   of order, and the sockets passed over now are the connections looked up next;
 * - handles our own closed connections gave back: POSIX reuses the lowest free descriptor;
 * - fresh handles just above the highest one seen so far.
 * Only when all of those miss does it scan downward from the high-water mark (recording what it
 * sees), so the amortised cost per connection stays O(1).
 */

/** What a check found at a handle value. */
export const HandleCheck = {
  /** Nothing open there. */
  Free: 0,
  /** Open, but never a match: not a socket, or not a connected one (a listener, a pipe, epoll). */
  NotConnected: 1,
  /** A connected socket, but another connection's; its key is in `HandleChecker.lastKey`. */
  Other: 2,
  Match: 3,
} as const;
export type HandleCheck = typeof HandleCheck[keyof typeof HandleCheck];

export interface HandleChecker {
  check(handle: number): HandleCheck;
  /** The key (see `connectionKey`) of the socket behind the last `Other` answer. */
  readonly lastKey: number;
}

/** Local and remote port in one number: unique enough to find a handle, verified by the check. */
export function connectionKey(localPort: number, remotePort: number): number {
  return localPort * 65536 + remotePort;
}

export interface FoundHandle {
  handle: number;
  /** Handles checked to find it. */
  checks: number;
}

export class HandleFinder {
  readonly #first: number;
  readonly #step: number;
  /** Consecutive free handle values after which the region above is taken to be empty. */
  readonly #gap: number;
  #highWater: number;
  #released: number[] = [];
  #seen = new Map<number, number>();
  totalChecks = 0;
  fullScans = 0;

  constructor(first: number, step: number, gap = 64) {
    this.#first = first;
    this.#step = step;
    this.#gap = gap;
    this.#highWater = first - step;
  }

  find(key: number, checker: HandleChecker): FoundHandle | null {
    let checks = 0;
    const seen = this.#seen;
    const check = (handle: number): HandleCheck => {
      checks++;
      const result = checker.check(handle);
      if (result === HandleCheck.Other) seen.set(checker.lastKey, handle);
      return result;
    };
    const found = (handle: number): FoundHandle => {
      if (handle > this.#highWater) this.#highWater = handle;
      this.totalChecks += checks;
      return { handle, checks };
    };

    const remembered = seen.get(key);
    if (remembered !== undefined) {
      seen.delete(key);
      if (check(remembered) === HandleCheck.Match) return found(remembered);
    }

    while (this.#released.length > 0) {
      const handle = this.#released[0];
      const result = check(handle);
      // Still free: the kernel would have handed it out first, so our connection is not above it
      // in this list.
      if (result === HandleCheck.Free) break;
      this.#released.shift();
      if (result === HandleCheck.Match) return found(handle);
    }

    for (
      let handle = this.#highWater + this.#step, run = 0;
      run < this.#gap;
      handle += this.#step
    ) {
      const result = check(handle);
      if (result === HandleCheck.Free) {
        run++;
        continue;
      }
      run = 0;
      if (result === HandleCheck.Match) return found(handle);
      this.#highWater = handle;
    }

    this.fullScans++;
    for (let handle = this.#highWater; handle >= this.#first; handle -= this.#step) {
      if (check(handle) === HandleCheck.Match) return found(handle);
    }
    this.totalChecks += checks;
    return null;
  }

  /** Records that a connection we found was closed, so its handle is the likely next one. */
  release(handle: number): void {
    const list = this.#released;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid] < handle) lo = mid + 1;
      else hi = mid;
    }
    if (list[lo] !== handle) list.splice(lo, 0, handle);
  }
}
