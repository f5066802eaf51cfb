/**
 * Keep-alive seen from the kernel's socket table instead of the wire: polls `ss -tnoi` and turns
 * changes between two looks into events. A prober's keep-alive timer restarts and its segment
 * counter rises without data when it sends a probe; the answer raises its received-segment counter
 * and resets `lastack`, which dates the answer to the millisecond. No root, no capture.
 */
import { querySockets, type SocketState } from "./ss.ts";

interface Base {
  time: number;
  /** `local → peer`, stable for the connection's life. */
  conn: string;
  state: string;
}

export type Observation =
  | Base & { type: "socket"; keepaliveTimerMs: number | null }
  | Base & {
    type: "probe";
    /** Probes this observer has seen this socket send. */
    seen: number;
    /** Sent and not answered, as the kernel counts them (icsk_probes_out). */
    unanswered: number;
    answered: boolean;
    keepaliveTimerMs: number | null;
  }
  | Base & { type: "probe-ack"; seen: number }
  | Base & { type: "data" }
  | Base & { type: "state"; from: string }
  | Base & { type: "gone"; unanswered: number };

export interface ObserverOptions {
  port: number;
  pollMs: number;
  /** Command prefix to run ss elsewhere (a network namespace). */
  prefix?: string[];
  signal?: AbortSignal;
  /** Called after every look at the table (the first one means the observer is running). */
  onPoll?: () => void;
}

interface Tracked {
  last: SocketState;
  probes: number;
  acks: number;
  /**
   * Unanswered probes at the last look that showed the keep-alive timer: in its final moments a
   * dying socket may show another timer, or none.
   */
  unanswered: number;
}

const key = (s: SocketState) => `${s.local}:${s.localPort} → ${s.peer}:${s.peerPort}`;

/** Compares two looks at one socket. Exported for tests. */
export function diffSocket(
  tracked: Tracked,
  now: SocketState,
  time: number,
): Observation[] {
  const prev = tracked.last;
  const conn = key(now);
  const out: Observation[] = [];
  if (prev.state !== now.state) {
    out.push({ type: "state", time, conn, state: now.state, from: prev.state });
  }
  const dataMoved = now.dataSegsOut !== prev.dataSegsOut || now.dataSegsIn !== prev.dataSegsIn;
  const sent = now.segsOut - prev.segsOut;
  const received = now.segsIn - prev.segsIn;
  if (dataMoved) {
    out.push({ type: "data", time, conn, state: now.state });
  } else if (now.state === "ESTAB" && sent > 0) {
    const timer = now.timer?.name === "keepalive" ? now.timer : null;
    const prevTimer = prev.timer?.name === "keepalive" ? prev.timer : null;
    const restarted = timer !== null &&
      (prevTimer === null || timer.ms > prevTimer.ms || timer.count > prevTimer.count);
    if (restarted) {
      const answered = received > 0;
      for (let i = 0; i < sent; i++) {
        tracked.probes++;
        out.push({
          type: "probe",
          time: answered && now.lastAckMs !== null ? time - now.lastAckMs : time,
          conn,
          state: now.state,
          seen: tracked.probes,
          unanswered: timer.count,
          answered,
          keepaliveTimerMs: timer.ms,
        });
      }
    } else if (received > 0) {
      tracked.acks += sent;
      out.push({ type: "probe-ack", time, conn, state: now.state, seen: tracked.acks });
    }
  }
  tracked.last = now;
  if (now.timer?.name === "keepalive") tracked.unanswered = now.timer.count;
  return out;
}

/** Polls until `signal` aborts, yielding observations as they happen. */
export async function* observeKeepAlive(options: ObserverOptions): AsyncGenerator<Observation> {
  const tracked = new Map<string, Tracked>();
  while (!options.signal?.aborted) {
    const time = Date.now();
    const sockets = (await querySockets(options.port, options.prefix))
      .filter((s) => s.state !== "LISTEN");
    const present = new Set<string>();
    for (const s of sockets) {
      const k = key(s);
      present.add(k);
      const t = tracked.get(k);
      if (!t) {
        tracked.set(k, {
          last: s,
          probes: 0,
          acks: 0,
          unanswered: s.timer?.name === "keepalive" ? s.timer.count : 0,
        });
        yield {
          type: "socket",
          time,
          conn: k,
          state: s.state,
          keepaliveTimerMs: s.timer?.name === "keepalive" ? s.timer.ms : null,
        };
        continue;
      }
      yield* diffSocket(t, s, time);
    }
    for (const [k, t] of tracked) {
      if (present.has(k)) continue;
      tracked.delete(k);
      yield {
        type: "gone",
        time,
        conn: k,
        state: t.last.state,
        unanswered: t.unanswered,
      };
    }
    options.onPoll?.();
    await sleep(options.pollMs, options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
