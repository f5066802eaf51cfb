/**
 * Will a middlebox that forgets connections idle for `pathTimeout` kill this one? Linux sends the
 * first probe one idle after the last segment received; answered probes then come max(idle,
 * interval) apart (an answer restarts the idle clock), and a lost probe is retried one interval
 * later. So: safe when max(idle, interval) < timeout; tight when one lost probe would leave
 * idle + interval of silence; at risk when keep-alive is off or slower than the timeout.
 */
import { formatApprox, formatDuration } from "../duration.ts";
import type { KeepAliveValues } from "../keepalive/settings.ts";
import { type InspectedConnection, minKnown, type Risk, type Verdict } from "./model.ts";

const RANK: Record<Risk, number> = {
  "at-risk": 0,
  tight: 1,
  unknown: 2,
  safe: 3,
  "not-applicable": 4,
};

export function verdictFor(
  c: Omit<InspectedConnection, "verdict">,
  pathTimeoutMs: number,
  systemDefaults: KeepAliveValues,
): Verdict {
  const d = formatDuration(pathTimeoutMs);
  const s = c.socket;
  if (s.state === "LISTEN") {
    return na("listening: connections it accepts inherit its keep-alive");
  }
  if (s.state !== "ESTAB") return na(`not established (${s.state})`);
  const ka = c.keepalive;
  const left = c.idleMs === null ? "" : idleLeft(c.idleMs, pathTimeoutMs);
  if (ka.enabled === false) {
    return {
      risk: "at-risk",
      text: `dies when idle ${d}: keep-alive off${left}`,
      nextProbeMs: null,
    };
  }
  if (ka.enabled === null) {
    return {
      risk: "unknown",
      text: `unknown: a ${timerName(s.timer?.name)} timer hides keep-alive; run as root to read it`,
      nextProbeMs: null,
    };
  }
  const next = nextProbe(c);
  const { idleMs, intervalMs } = ka.values;
  if (idleMs === null || intervalMs === null) {
    const least = ka.idleAtLeastMs;
    if (least !== undefined && least >= pathTimeoutMs) {
      return {
        risk: "at-risk",
        text: `keep-alive too slow: first probe after at least ${
          formatApprox(roundS(least))
        } ≥ ${d} (inferred)${left}`,
        nextProbeMs: next,
      };
    }
    const defaults = systemDefaults.idleMs;
    const ifDefault = defaults === null
      ? ""
      : defaults >= pathTimeoutMs
      ? ` (with the system default, first probe after ${formatDuration(defaults)}: too slow)`
      : ` (the system default, ${formatDuration(defaults)}, would be safe)`;
    return {
      risk: "unknown",
      text: `keep-alive on; its timings need root to read${ifDefault}`,
      nextProbeMs: next,
    };
  }
  const gap = Math.max(idleMs, intervalMs);
  if (idleMs >= pathTimeoutMs) {
    return {
      risk: "at-risk",
      text: `keep-alive too slow: first probe after ${formatDuration(idleMs)} ≥ ${d}${left}`,
      nextProbeMs: next,
    };
  }
  if (gap >= pathTimeoutMs) {
    return {
      risk: "at-risk",
      text: `keep-alive too slow: probes ${formatDuration(gap)} apart ≥ ${d}`,
      nextProbeMs: next,
    };
  }
  if (idleMs + intervalMs >= pathTimeoutMs) {
    return {
      risk: "tight",
      text: `safe while every probe is answered (every ${formatDuration(gap)}); one lost probe ` +
        `leaves ${formatDuration(idleMs + intervalMs)} of silence ≥ ${d}`,
      nextProbeMs: next,
    };
  }
  return { risk: "safe", text: `safe: probes every ${formatDuration(gap)}`, nextProbeMs: next };
}

function na(text: string): Verdict {
  return { risk: "not-applicable", text, nextProbeMs: null };
}

function timerName(name: string | undefined): string {
  if (name === "on") return "retransmission";
  if (name === "persist") return "zero-window probe";
  return name ?? "pending";
}

/** Whole seconds: the inferred bound comes from ms timers and the user thinks in seconds. */
function roundS(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function idleLeft(idleMs: number, timeoutMs: number): string {
  return idleMs >= timeoutMs ? ` (idle ${formatApprox(idleMs)} already: probably forgotten)` : "";
}

/**
 * When the next probe leaves. The kernel arms the keep-alive timer lazily: traffic does not move
 * it, and when it fires on a connection that has not been silent for idle since the last segment
 * received (min of lastrcv, lastack) it re-arms for the rest. So the probe leaves at the later of
 * the timer ss shows and idle after the last segment received; after an answered probe the timer
 * runs one interval, which is the later one when interval > idle.
 */
function nextProbe(c: Omit<InspectedConnection, "verdict">): number | null {
  const t = c.socket.timer;
  const timer = t?.name === "keepalive" ? t.ms : null;
  const idle = c.keepalive.values.idleMs;
  const since = minKnown(c.socket.lastRcvMs, c.socket.lastAckMs);
  if (idle === null || since === null) return timer;
  return Math.max(timer ?? 0, idle - since);
}

/** Most at risk first; among those at risk, the one closest to its timeout first. */
export function compareByRisk(a: InspectedConnection, b: InspectedConnection): number {
  const ra = a.verdict ? RANK[a.verdict.risk] : 5;
  const rb = b.verdict ? RANK[b.verdict.risk] : 5;
  if (ra !== rb) return ra - rb;
  return (b.idleMs ?? 0) - (a.idleMs ?? 0);
}

export function worstRisk(connections: InspectedConnection[]): number {
  let worst = 5;
  for (const c of connections) worst = Math.min(worst, c.verdict ? RANK[c.verdict.risk] : 5);
  return worst;
}

export function isAtRisk(c: InspectedConnection): boolean {
  return c.verdict?.risk === "at-risk";
}
