/**
 * The connections of a discover run, over the OS socket layer: connect, arm keep-alive so that it
 * will not probe by itself, fire the one probe at the chosen moment, and read TCP_INFO to learn as
 * soon as the kernel knows whether the probe was answered. Never writes a byte.
 */
import { describeConnectError, RuntimeError } from "../errors.ts";
import { KeepAliveController } from "../keepalive/mod.ts";
import type { Sockets, TcpInfo } from "../socket/mod.ts";
import { formatEndpoint } from "../ip.ts";
import { endReasonOf } from "../events.ts";

/** TCP_KEEPIDLE while a connection waits: Linux's maximum, so the kernel never probes first. */
const WAITING_IDLE_MS = 32_767_000;
/** TCP_KEEPIDLE that fires the probe: any connection idle longer than 1 s probes at once. */
const FIRE_IDLE_MS = 1000;
/** Bounds on how long an unanswered probe is waited for (the connection's RTO, in between). */
const MIN_ANSWER_WAIT_MS = 200;
const MAX_ANSWER_WAIT_MS = 3000;
/**
 * TCP_INFO counts in kernel ticks (10 ms at HZ=100, the coarsest), and a fired probe leaves at the
 * next tick: a forgotten probe's idle is stated up to two ticks longer, an answered one's a tick
 * shorter, so the range never excludes the truth for want of a tick.
 */
const TICK_MARGIN_MS = 20;

/** How one connection answered its question. */
export type ProbeOutcome =
  | { kind: "answered"; idleMs: number }
  | {
    kind: "forgotten";
    idleMs: number;
    edge: "silent-drop" | "reset";
    /** no-answer: nothing within the wait; kernel: ETIMEDOUT after every probe; rst: an RST. */
    by: "no-answer" | "kernel" | "rst";
  }
  /** Ended before its probe: FIN (the server closes idle connections) or an RST. */
  | { kind: "ended"; ageMs: number; edge: "server-close" | "reset"; atMs: number }
  /** Ended some other way (an error the kernel reported); it answers nothing. */
  | { kind: "failed"; error: string };

export interface ProberOptions {
  host: string;
  port: number;
  /** Keep-alive interval and count after the probe: the kernel's own verdict, our backstop. */
  intervalMs: number;
  count: number;
  connectTimeoutMs: number;
}

export class Prober {
  readonly #sockets: Sockets;
  readonly #controller: KeepAliveController;
  readonly #options: ProberOptions;

  private constructor(controller: KeepAliveController, sockets: Sockets, options: ProberOptions) {
    this.#controller = controller;
    this.#sockets = sockets;
    this.#options = options;
  }

  static async create(options: ProberOptions): Promise<Prober> {
    const controller = await KeepAliveController.create();
    const sockets = controller.sockets;
    if (!sockets || sockets.platform.os !== "linux") {
      throw new RuntimeError(
        `discover needs Linux's TCP_INFO through FFI (${
          controller.fallbackReason ?? `not available on ${Deno.build.os}`
        })`,
      );
    }
    return new Prober(controller, sockets, options);
  }

  get target(): string {
    return formatEndpoint(this.#options.host, this.#options.port);
  }

  /** Connects and arms keep-alive; a failure is a one-line RuntimeError. */
  async open(
    id: number,
    rungMs: number | null,
    onOutcome: (c: ProbeConnection, o: ProbeOutcome) => void,
  ): Promise<ProbeConnection> {
    const { host, port, connectTimeoutMs } = this.#options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RuntimeError(
              `connecting to ${this.target} timed out after ${connectTimeoutMs / 1000}s`,
            ),
          ),
        connectTimeoutMs,
      );
    });
    const connecting = Deno.connect({ hostname: host, port });
    let conn: Deno.TcpConn;
    try {
      conn = await Promise.race([connecting, timeout]);
    } catch (err) {
      connecting.then((c) => c.close(), () => {});
      throw err instanceof RuntimeError
        ? err
        : new RuntimeError(describeConnectError(err, this.target, " (connection refused)"));
    } finally {
      clearTimeout(timer);
    }
    const report = this.#controller.apply(conn, {
      enabled: true,
      idleMs: WAITING_IDLE_MS,
      intervalMs: this.#options.intervalMs,
      count: this.#options.count,
    });
    const fd = report.lookup?.handle;
    if (fd === undefined || report.effective.idleMs !== WAITING_IDLE_MS) {
      conn.close();
      throw new RuntimeError(
        `could not set keep-alive on the connection: ${
          report.notes.join("; ") || "unknown reason"
        }`,
      );
    }
    return new ProbeConnection(id, rungMs, conn, fd, this.#sockets, this.#controller, onOutcome);
  }
}

export class ProbeConnection {
  readonly openedAt = performance.now();
  /** When it last received something (performance.now() clock): its idle starts there. */
  #freshAt = this.openedAt;
  firedAt: number | null = null;
  /** Its idle when the probe was fired, from the kernel's clock. */
  firedIdleMs = 0;
  #closed = false;
  readonly answerWaitMs: number;
  #segsInAtOpen = 0;
  /**
   * Segments the peer sent while the connection idled, up to its probe: none, unless the server
   * sends keep-alive probes of its own (Go servers do, every 15 s), which keep the path's state
   * fresh from the other side.
   */
  peerSegmentsWhileIdle = 0;

  constructor(
    readonly id: number,
    readonly rungMs: number | null,
    readonly conn: Deno.TcpConn,
    readonly fd: number,
    readonly sockets: Sockets,
    readonly controller: KeepAliveController,
    readonly onOutcome: (c: ProbeConnection, o: ProbeOutcome) => void,
  ) {
    const info = this.#info();
    const rto = (info?.rtoMicros ?? 0) / 1000;
    this.#segsInAtOpen = info?.segsIn ?? 0;
    this.answerWaitMs = Math.min(MAX_ANSWER_WAIT_MS, Math.max(MIN_ANSWER_WAIT_MS, rto));
    this.#readUntilEnd();
  }

  get closed(): boolean {
    return this.#closed;
  }

  ageMs(now = performance.now()): number {
    return now - this.#freshAt;
  }

  #info(): TcpInfo | null {
    try {
      return this.sockets.readTcpInfo(this.fd);
    } catch {
      return null; // closed meanwhile: the pending read reports how
    }
  }

  /** Sends the probe now: TCP_KEEPIDLE 1 s on a connection idle longer than that probes at once. */
  fire(): void {
    const info = this.#info();
    this.firedAt = performance.now();
    if (info && this.#segsInAtOpen > 0) {
      this.peerSegmentsWhileIdle = info.segsIn - this.#segsInAtOpen;
    }
    this.firedIdleMs = info
      ? Math.min(info.lastAckRecvMs, info.lastDataRecvMs)
      : Math.round(this.ageMs(this.firedAt));
    this.sockets.setKeepAlive(this.fd, { enabled: true, idleMs: FIRE_IDLE_MS });
  }

  /**
   * After fire(): has the kernel's answer arrived? An ACK received after the probe means answered;
   * a probe still outstanding (tcpi_probes) after the wait means forgotten. null: not yet known.
   */
  check(now = performance.now()): ProbeOutcome | null {
    if (this.firedAt === null || this.#closed) return null;
    const info = this.#info();
    if (!info || info.stateName !== "ESTABLISHED") return null; // the read reports it
    const sinceFire = now - this.firedAt;
    // Before the probe the last ACK was firedIdleMs old; one newer than half that is the answer.
    if (info.lastAckRecvMs < sinceFire + this.firedIdleMs / 2) {
      return { kind: "answered", idleMs: Math.max(0, this.firedIdleMs - TICK_MARGIN_MS / 2) };
    }
    if (sinceFire >= this.answerWaitMs && info.probes >= 1) {
      return {
        kind: "forgotten",
        idleMs: this.#probeIdleAtMost(),
        edge: "silent-drop",
        by: "no-answer",
      };
    }
    return null;
  }

  /**
   * The probe leaves at the kernel's next timer tick after fire(), and TCP_INFO counts in ticks:
   * a forgotten probe's idle is stated as at most this, so the range never excludes the truth.
   */
  #probeIdleAtMost(): number {
    return this.firedIdleMs + TICK_MARGIN_MS;
  }

  /** Closes it: a FIN while the path still knows it, an RST (nothing lingering) once it does not. */
  close(forgotten: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (forgotten) this.controller.reset(this.conn);
    this.controller.release(this.conn);
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  #ended(edge: "server-close" | "reset"): ProbeOutcome {
    const atMs = performance.now();
    return { kind: "ended", ageMs: Math.round(this.ageMs(atMs)), edge, atMs };
  }

  /** A read kept pending tells of a FIN, an RST or ETIMEDOUT; data only restarts the idle clock. */
  async #readUntilEnd(): Promise<void> {
    const buf = new Uint8Array(512);
    let outcome: ProbeOutcome;
    try {
      while (true) {
        const n = await this.conn.read(buf);
        if (n === null) {
          outcome = this.#ended("server-close");
          break;
        }
        this.#freshAt = performance.now();
      }
    } catch (err) {
      if (this.#closed) return;
      const reason = endReasonOf(err);
      if (reason === "peer-reset") {
        outcome = this.firedAt === null
          ? this.#ended("reset")
          : { kind: "forgotten", idleMs: this.#probeIdleAtMost(), edge: "reset", by: "rst" };
      } else if (reason === "timed-out" && this.firedAt !== null) {
        outcome = {
          kind: "forgotten",
          idleMs: this.#probeIdleAtMost(),
          edge: "silent-drop",
          by: "kernel",
        };
      } else {
        outcome = { kind: "failed", error: (err as Error).message };
      }
    }
    if (this.#closed) return;
    this.onOutcome(this, outcome);
  }
}
