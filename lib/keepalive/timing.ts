/**
 * Linux's keep-alive timing, written once (tcp_keepalive_timer in net/ipv4/tcp_timer.c), for
 * everything that predicts or checks it: the demo's verdict, the capture summary, watch, the
 * dead-peer detection time and the README.
 *
 * - The clock: the last segment received that the kernel accepted (an ACK, data, the answer to a
 *   probe), or data sent. The peer's own keep-alive probes do not count: they sit below the
 *   receive window and are answered, not accepted.
 * - The first probe goes out one *idle* after the clock was last reset.
 * - An answered probe resets the clock (its answer is a segment received), so the next probe
 *   comes one *idle* after the answer: answered probes are spaced *idle* apart, whatever the
 *   interval. In effect every max(idle, interval), since the timer also never fires sooner than
 *   the interval after a probe.
 * - *interval* separates unanswered probes only: a probe that gets no answer is followed by the
 *   next one an interval later.
 * - After *count* unanswered probes, one interval after the last, the kernel resets the connection
 *   and the application's read fails with ETIMEDOUT.
 * - TCP_USER_TIMEOUT, when set, replaces the count: the kernel gives up at the first probe timer
 *   after the user timeout has passed with a probe unanswered.
 * - A zero-window (persist) probe looks the same on the wire (no data, seq = snd_una − 1) but is
 *   sent by the persist timer to a peer advertising window 0; it is not keep-alive at all.
 */
import type { KeepAliveValues } from "./settings.ts";

/** Why the kernel sent a probe when it did. */
export type ProbeGap =
  /** The first probe, or the first after data: one idle after the last segment received. */
  | "idle"
  /**
   * After an answered probe: one idle after the answer, but never sooner than one interval
   * after the probe (the timer re-arms for the interval after each probe): max(idle, interval).
   */
  | "answered"
  /** After an unanswered probe: one interval after it. */
  | "retry";

/** The gap before a probe, from what preceded it: no probe (or data since), an answered one, an unanswered one. */
export function gapKind(previous: "none" | "answered" | "unanswered"): ProbeGap {
  return previous === "none" ? "idle" : previous === "answered" ? "answered" : "retry";
}

/** How long the kernel waits for a gap of `kind`. */
export function expectedGapMs(kind: ProbeGap, values: KeepAliveValues): number | null {
  switch (kind) {
    case "idle":
      return values.idleMs;
    case "answered":
      return values.idleMs === null ? null : Math.max(values.idleMs, values.intervalMs ?? 0);
    case "retry":
      return values.intervalMs;
  }
}

/**
 * How late the kernel may fire a timer of `timeoutMs`: its timer wheel files a timeout in a level
 * whose granularity is at most an eighth of it (LVL_CLK_SHIFT = 3 in kernel/time/timer.c), and
 * rounds the expiry up to that. At HZ=250 a 3 s keep-alive timer can fire up to 256 ms late, a
 * 120 s one up to 15 s; never early.
 */
export function timerSlackMs(timeoutMs: number): number {
  return timeoutMs / 8;
}

/** Whether `observedMs` is what the kernel may produce for a timer of `expectedMs`. */
export function withinTimerSlack(
  observedMs: number,
  expectedMs: number,
  toleranceMs: number,
): boolean {
  const late = observedMs - expectedMs;
  return late >= -toleranceMs && late <= Math.max(toleranceMs, timerSlackMs(expectedMs));
}

/**
 * When a silent peer is declared dead, from the last segment received: the first probe after
 * idle, then count probes an interval apart, the last of them unanswered for one more interval:
 * idle + interval × count. With TCP_USER_TIMEOUT set, Linux instead gives up at the first probe
 * timer after the user timeout has passed with a probe unanswered, so
 * idle + interval × ceil((timeout − idle) / interval), at least one probe.
 */
export function detectionTimeMs(values: KeepAliveValues, userTimeoutMs?: number): number | null {
  if (values.idleMs === null || values.intervalMs === null || values.count === null) return null;
  if (userTimeoutMs) {
    const probes = Math.max(1, Math.ceil((userTimeoutMs - values.idleMs) / values.intervalMs));
    return values.idleMs + values.intervalMs * probes;
  }
  return values.idleMs + values.intervalMs * values.count;
}

/** A probe seen, with when it went out (ms) and whether the peer answered it. */
export interface TimedProbe {
  time: number;
  answered: boolean;
}

/** A probe with the gap the model says the kernel left before it, and the gap measured. */
export interface ClassifiedProbe extends TimedProbe {
  kind: ProbeGap;
  /** From the clock's last reset ("idle", "answered") or the unanswered probe before ("retry"). */
  gapMs: number | null;
}

/**
 * Classifies the probes of one prober on a connection where nothing but probes and their answers
 * passed after `clockResetAt` (the handshake, or the last data): the first waits one idle from
 * it; each after an answered probe max(idle, interval) from that probe's answer (taken as the
 * probe's time: answers come within a round trip); each after an unanswered probe one interval.
 */
export function classifyProbes(
  probes: readonly TimedProbe[],
  clockResetAt: number | null,
): ClassifiedProbe[] {
  return probes.map((p, i) => {
    const prev = i > 0 ? probes[i - 1] : null;
    const kind = gapKind(prev === null ? "none" : prev.answered ? "answered" : "unanswered");
    const from = prev === null ? clockResetAt : prev.time;
    return { ...p, kind, gapMs: from === null ? null : p.time - from };
  });
}

/**
 * How many probes a prober whose peer answers sends in `holdMs` from the clock's last reset: the
 * first at idle, then one every max(idle, interval). One due exactly at the end races the close,
 * hence a range.
 */
export function answeredProbesWithin(
  values: KeepAliveValues,
  holdMs: number,
): { low: number; high: number } {
  const first = expectedGapMs("idle", values);
  const spacing = expectedGapMs("answered", values);
  if (first === null || spacing === null || spacing <= 0) return { low: 0, high: Infinity };
  if (holdMs < first) return { low: 0, high: 0 };
  const rest = holdMs - first;
  const whole = 1 + Math.floor(rest / spacing);
  return { low: rest % spacing === 0 ? whole - 1 : whole, high: whole };
}
