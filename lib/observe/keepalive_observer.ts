/**
 * Keep-alive seen from the kernel's socket table instead of the wire: polls `ss -tnoi` and turns
 * changes between two looks into events, counting for each socket only what it sent itself.
 *
 * - Its own keep-alive probe: the keep-alive timer restarts and a segment goes out without data;
 *   unanswered, the kernel's probe counter (the timer's third field) rises; answered, `lastack`
 *   is reset (an acceptable segment came in), which dates the answer to the millisecond.
 * - Its answer to the peer's probe: a segment in and one out without data, and no `lastack` reset:
 *   a probe sits below the receive window, so the kernel answers it without accepting it.
 * - A zero-window (persist) probe: the timer is `persist`, not `keepalive`. Its answer comes from
 *   a socket whose peer is persist-probing (seen in the same table) or whose receive queue is full.
 *   Neither is keep-alive, and neither is counted as such.
 * No root, no capture.
 */
import { querySockets, type SocketState } from "./ss.ts";
import type { ProbeGap } from "../keepalive/timing.ts";

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
    /**
     * Why the kernel sent it when it did (lib/keepalive/timing.ts), and the gap measured: from the
     * last segment the socket accepted (`lastack`) or data, or from the unanswered probe before.
     * Null when the socket was first seen too late to tell.
     */
    kind: ProbeGap;
    gapMs: number | null;
  }
  | Base & { type: "probe-ack"; seen: number }
  | Base & {
    type: "zero-window-probe";
    /** Zero-window probes this observer has seen this socket send. */
    seen: number;
    persistTimerMs: number;
  }
  | Base & { type: "zero-window-ack"; seen: number }
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

export interface Tracked {
  last: SocketState;
  /** When `last` was taken (ms since the epoch). */
  lastTime: number;
  probes: number;
  acks: number;
  zeroWindowProbes: number;
  zeroWindowAcks: number;
  /**
   * Unanswered probes at the last look that showed the keep-alive timer: in its final moments a
   * dying socket may show another timer, or none.
   */
  unanswered: number;
  /** When this socket's keep-alive clock was last reset (ms), as far as the looks tell. */
  clockReset: number | null;
  clockResetByAnswer: boolean;
  lastProbeTime: number | null;
  lastProbeUnanswered: boolean;
  /** Segments received at earlier looks that nothing sent has answered yet. */
  unmatchedIn: number;
}

/** What a socket first seen at `time` is tracked with. */
export function startTracking(s: SocketState, time: number): Tracked {
  return {
    last: s,
    lastTime: time,
    probes: 0,
    acks: 0,
    zeroWindowProbes: 0,
    zeroWindowAcks: 0,
    unanswered: s.timer?.name === "keepalive" ? s.timer.count : 0,
    clockReset: s.lastAckMs === null ? null : time - s.lastAckMs,
    clockResetByAnswer: false,
    lastProbeTime: null,
    lastProbeUnanswered: false,
    unmatchedIn: 0,
  };
}

/** ss reports `lastack` from jiffies (4 ms at HZ=250). */
const JIFFY_SLACK_MS = 10;

const key = (s: SocketState) => `${s.local}:${s.localPort} → ${s.peer}:${s.peerPort}`;
/** The key the other end of the connection has, were it in the same table. */
const peerKey = (s: SocketState) => `${s.peer}:${s.peerPort} → ${s.local}:${s.localPort}`;

/**
 * Compares two looks at one socket. `peer` is the other end of the same connection when it is in
 * the table too (loopback, or both ends in one namespace). Exported for tests.
 */
export function diffSocket(
  tracked: Tracked,
  now: SocketState,
  time: number,
  peer: SocketState | null = null,
  /** When the ss run that produced `now` had finished (≥ time). */
  lookEnd: number = time,
): Observation[] {
  const prev = tracked.last;
  const sinceLastLook = time - tracked.lastTime;
  tracked.last = now;
  tracked.lastTime = time;
  const conn = key(now);
  const out: Observation[] = [];
  if (prev.state !== now.state) {
    out.push({ type: "state", time, conn, state: now.state, from: prev.state });
  }
  const dataMoved = now.dataSegsOut !== prev.dataSegsOut || now.dataSegsIn !== prev.dataSegsIn;
  let sent = now.segsOut - prev.segsOut;
  let received = now.segsIn - prev.segsIn;
  if (now.timer?.name === "keepalive") tracked.unanswered = now.timer.count;
  if (now.state !== "ESTAB" || sent <= 0) {
    if (dataMoved) out.push({ type: "data", time, conn, state: now.state });
    // A segment in whose answer goes out after this look is matched at the next one.
    else if (now.state === "ESTAB") tracked.unmatchedIn += Math.max(0, received);
    return out;
  }
  if (now.timer?.name === "persist") {
    tracked.zeroWindowProbes++;
    out.push({
      type: "zero-window-probe",
      time,
      conn,
      state: now.state,
      seen: tracked.zeroWindowProbes,
      persistTimerMs: now.timer.ms,
    });
    return out;
  }
  if (dataMoved) {
    out.push({ type: "data", time, conn, state: now.state });
    tracked.clockReset = time;
    tracked.clockResetByAnswer = false;
    tracked.lastProbeUnanswered = false;
    return out;
  }
  const timer = now.timer?.name === "keepalive" ? now.timer : null;
  const prevTimer = prev.timer?.name === "keepalive" ? prev.timer : null;
  // An acceptable segment arrived since the last look: the answer to our probe, not the peer's
  // probe (which the kernel answers without accepting, leaving `lastack` at the last real answer,
  // an idle ago). `lastack` is counted from when ss read the socket, at most `lookEnd`.
  const ackedSinceLook = now.lastAckMs !== null &&
    now.lastAckMs <= sinceLastLook + (lookEnd - time) + JIFFY_SLACK_MS;
  // A probe went out when the kernel's count of unanswered probes rose, or when an accepted
  // segment without data came in while one went out (its answer). Whether the timer shows a
  // restart is no test: two looks an interval apart on a busy machine can show it lower.
  const unansweredRose = timer !== null && timer.count > (prevTimer?.count ?? 0);
  if (timer !== null && (unansweredRose || ackedSinceLook)) {
    // One probe per firing of the timer, which cannot fire twice between two looks.
    const answered = timer.count === 0 && ackedSinceLook;
    tracked.probes++;
    sent--;
    if (answered) received--;
    const probeTime = answered && now.lastAckMs !== null ? time - now.lastAckMs : time;
    const kind = tracked.lastProbeUnanswered
      ? "retry"
      : tracked.clockResetByAnswer
      ? "answered"
      : "idle";
    const from = kind === "retry" ? tracked.lastProbeTime : tracked.clockReset;
    out.push({
      type: "probe",
      time: probeTime,
      conn,
      state: now.state,
      seen: tracked.probes,
      unanswered: timer.count,
      answered,
      keepaliveTimerMs: timer.ms,
      kind,
      gapMs: from === null ? null : probeTime - from,
    });
    tracked.lastProbeTime = probeTime;
    tracked.lastProbeUnanswered = !answered;
    if (answered) {
      tracked.clockReset = probeTime;
      tracked.clockResetByAnswer = true;
    }
  }
  received += tracked.unmatchedIn;
  tracked.unmatchedIn = 0;
  if (sent > 0 && received > 0) {
    // What this socket sent in answer to the peer's probe (one answer per probe received).
    const answers = Math.min(sent, received);
    if (peer?.timer?.name === "persist" || (peer === null && now.recvQ > 0)) {
      tracked.zeroWindowAcks += answers;
      out.push({
        type: "zero-window-ack",
        time,
        conn,
        state: now.state,
        seen: tracked.zeroWindowAcks,
      });
    } else {
      tracked.acks += answers;
      out.push({ type: "probe-ack", time, conn, state: now.state, seen: tracked.acks });
    }
  }
  return out;
}

/** Polls until `signal` aborts, yielding observations as they happen. */
export async function* observeKeepAlive(options: ObserverOptions): AsyncGenerator<Observation> {
  const tracked = new Map<string, Tracked>();
  while (!options.signal?.aborted) {
    const time = Date.now();
    const sockets = (await querySockets(options.port, options.prefix))
      .filter((s) => s.state !== "LISTEN");
    const lookEnd = Date.now();
    const present = new Set<string>();
    const byKey = new Map(sockets.map((s) => [key(s), s]));
    for (const s of sockets) {
      const k = key(s);
      present.add(k);
      const t = tracked.get(k);
      if (!t) {
        tracked.set(k, startTracking(s, time));
        yield {
          type: "socket",
          time,
          conn: k,
          state: s.state,
          keepaliveTimerMs: s.timer?.name === "keepalive" ? s.timer.ms : null,
        };
        continue;
      }
      yield* diffSocket(t, s, time, byKey.get(peerKey(s)) ?? null, lookEnd);
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
