/** Configured versus observed: the demo's pass/fail, one row per claim about keep-alive. */
import type { KeepAliveValues } from "../keepalive/mod.ts";
import type { CloseKind, ConnectionEvidence } from "./evidence.ts";
import { formatDuration } from "../duration.ts";

/** A row's values as numbers (ms, counts) and kinds, for the JSON view (docs/json.md). */
export type VerdictValues = Record<string, number | string | null>;

export interface VerdictRow {
  check: string;
  /** The human view's text. */
  configured: string;
  observed: string;
  pass: boolean;
  values: { configured: VerdictValues; observed: VerdictValues };
}

export interface Verdict {
  source: ConnectionEvidence["source"];
  toleranceMs: number;
  rows: VerdictRow[];
  pass: boolean;
}

/**
 * Kernel timers fire on jiffies plus slack (probes 2 s apart arrive 2.012–2.024 s apart on this
 * project's machines) and the kernel-table evidence is only as exact as its polling, so timings
 * pass within this much.
 */
export const TOLERANCE_MS = 250;

export interface Expectation {
  /** What the kernel reported in force (read back), or null if keep-alive is off. */
  keepalive: KeepAliveValues | null;
  /** The client's hold time; 0 = until the peer closes. */
  holdMs: number;
  /** How the connection is expected to end. */
  close: CloseKind;
  /** For a dead peer: when the kernel should give up, from the moment the peer vanished. */
  detectMs?: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function timingRow(
  check: string,
  configuredMs: number | null,
  observedMs: number | null,
): VerdictRow {
  return {
    check,
    values: { configured: { ms: configuredMs }, observed: { ms: observedMs } },
    configured: configuredMs === null ? "?" : formatDuration(configuredMs),
    observed: observedMs === null ? "none seen" : formatDuration(observedMs),
    pass: configuredMs !== null && observedMs !== null &&
      Math.abs(observedMs - configuredMs) <= TOLERANCE_MS,
  };
}

const CLOSE_TEXT: Record<CloseKind, string> = {
  "fin-by-client": "FIN from the client",
  "fin-by-server": "FIN from the server",
  "rst-by-client": "RST from the client",
  "rst-by-server": "RST from the server",
  "timed-out": "client gives up: timed out",
};

export function judge(expect: Expectation, evidence: ConnectionEvidence): Verdict {
  const rows: VerdictRow[] = [];
  const start = evidence.establishedAt;
  const probes = evidence.probes;
  const ka = expect.keepalive;
  if (!ka) {
    rows.push({
      check: "keep-alive probes",
      values: { configured: { count: 0 }, observed: { count: probes.length } },
      configured: "none (keep-alive off)",
      observed: `${probes.length}`,
      pass: probes.length === 0,
    });
  } else {
    const idle = timingRow(
      "idle before the first probe",
      ka.idleMs,
      probes.length > 0 && start !== null ? probes[0].time - start : null,
    );
    if (expectedProbes(expect, ka).high === 0) {
      idle.configured += " (longer than the hold: no probe due)";
      idle.pass = probes.length === 0;
    }
    rows.push(idle);
    const gaps = probes.slice(1).map((p, i) => p.time - probes[i].time);
    const interval = timingRow("probe interval", ka.intervalMs, gaps.length ? median(gaps) : null);
    if (gaps.length === 0 && expectedProbes(expect, ka).low < 2) {
      interval.observed = "not measurable: fewer than 2 probes fit";
      interval.pass = true;
    }
    if (gaps.length > 0) {
      interval.values.observed = {
        ms: median(gaps),
        minMs: Math.min(...gaps),
        maxMs: Math.max(...gaps),
        count: gaps.length,
      };
    }
    if (gaps.length > 1) {
      interval.observed += ` median (${formatDuration(Math.min(...gaps))}–${
        formatDuration(Math.max(...gaps))
      })`;
      interval.pass &&= gaps.every((g) => Math.abs(g - ka.intervalMs!) <= TOLERANCE_MS);
    }
    rows.push(interval);
    rows.push(probeCountRow(expect, ka, probes.filter((p) => p.answered).length, probes.length));
  }
  const close = evidence.close;
  const closeAt = close && start !== null ? ` at ${formatDuration(close.time - start)}` : "";
  const expectedCloseAt = expect.close === "timed-out" && expect.detectMs !== undefined
    ? ` after ${formatDuration(expect.detectMs)}`
    : expect.holdMs > 0 && expect.close === "fin-by-client"
    ? ` after ${formatDuration(expect.holdMs)}`
    : "";
  let closePass = close?.kind === expect.close;
  if (closePass && start !== null && close) {
    const target = expect.close === "timed-out" ? expect.detectMs : expect.holdMs || undefined;
    if (target !== undefined) closePass = Math.abs(close.time - start - target) <= TOLERANCE_MS * 2;
  }
  rows.push({
    check: "how it ended",
    values: {
      configured: {
        close: expect.close,
        ms: expect.close === "timed-out" ? expect.detectMs ?? null : expect.holdMs || null,
      },
      observed: {
        close: close?.kind ?? null,
        ms: close && start !== null ? close.time - start : null,
      },
    },
    configured: CLOSE_TEXT[expect.close] + expectedCloseAt,
    observed: close ? CLOSE_TEXT[close.kind] + closeAt : "still open",
    pass: closePass,
  });
  return {
    source: evidence.source,
    toleranceMs: TOLERANCE_MS,
    rows,
    pass: rows.every((r) => r.pass),
  };
}

function probeCountRow(
  expect: Expectation,
  ka: KeepAliveValues,
  answered: number,
  sent: number,
): VerdictRow {
  if (expect.close === "timed-out") {
    const count = ka.count ?? 0;
    return {
      check: "probes unanswered before giving up",
      values: {
        configured: { count },
        observed: { unanswered: sent - answered, sent },
      },
      configured: `${count}`,
      observed: `${sent - answered} of ${sent}`,
      pass: sent - answered === count,
    };
  }
  const { low, high } = expectedProbes(expect, ka);
  const range = low === high ? `${low}` : high === Infinity ? `${low}+` : `${low}–${high}`;
  return {
    check: "probes answered",
    values: {
      configured: { min: low, max: high === Infinity ? null : high },
      observed: { answered, sent },
    },
    configured: `${range}, all answered`,
    observed: `${answered} of ${sent}`,
    pass: answered === sent && sent >= low && sent <= high,
  };
}

/**
 * How many probes the client should send: `count` before giving up on a dead peer; otherwise one
 * at idle, then one per interval until the hold ends (one due exactly at the hold time races the
 * close, hence a range).
 */
export function expectedProbes(
  expect: Expectation,
  ka: KeepAliveValues,
): { low: number; high: number } {
  if (expect.close === "timed-out") return { low: ka.count ?? 0, high: ka.count ?? 0 };
  const window = expect.holdMs - (ka.idleMs ?? 0);
  if (expect.holdMs === 0) return { low: 0, high: Infinity };
  if (window < 0) return { low: 0, high: 0 };
  const interval = ka.intervalMs ?? 1;
  const whole = Math.floor(window / interval);
  return { low: whole + (window % interval === 0 ? 0 : 1), high: whole + 1 };
}
