/**
 * What the server does when accept() fails. A connection reset by its peer while it waited in the
 * accept queue (port scanners, load-balancer health checks: SYN, ACK, RST) fails accept with
 * ECONNABORTED, or, since Deno asks for the peer's address, ENOTCONN or ECONNRESET: that is the
 * peer's business, counted for the summary and never a reason to pause. Only running out of file
 * descriptors (EMFILE, ENFILE) is worth pausing for, said once with the fix.
 */
import type { Reporter } from "../report/reporter.ts";
import { fdLimitHint, isFdLimit, isResetByPeer } from "./connect.ts";

/** Pause after a descriptor-limit failure, so that a full table does not spin the accept loop. */
const FD_LIMIT_PAUSE_MS = 100;
/** Pause after an unknown failure: unknown failures may repeat at once. */
const OTHER_PAUSE_MS = 100;

export class AcceptFailures {
  /** Connections reset by their peer before we accepted them. */
  resetBeforeAccept = 0;
  #fdLimitSaid = false;
  readonly #reporter: Reporter;

  constructor(reporter: Reporter) {
    this.#reporter = reporter;
  }

  /** Records a failed accept; returns how long to pause before the next (0 = at once). */
  record(err: unknown): number {
    if (isResetByPeer(err)) {
      this.resetBeforeAccept++;
      return 0;
    }
    if (isFdLimit(err)) {
      if (!this.#fdLimitSaid) {
        this.#fdLimitSaid = true;
        this.#warn(`accept failed: too many open files; ${fdLimitHint()}`);
      }
      return FD_LIMIT_PAUSE_MS;
    }
    this.#warn(`accept failed: ${(err as Error).message}`);
    return OTHER_PAUSE_MS;
  }

  #warn(message: string): void {
    this.#reporter.emit({ type: "warning", time: Date.now(), message });
  }
}
