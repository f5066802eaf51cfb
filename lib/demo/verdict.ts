/** Configured versus observed: the demo's pass/fail, one row per claim about keep-alive. */
import type { KeepAliveValues } from "../keepalive/mod.ts";
import type { CloseKind, ConnectionEvidence, ProbeEvidence } from "./evidence.ts";
import {
  answeredProbesWithin,
  classifyProbes,
  expectedGapMs,
  type ProbeGap,
  withinTimerSlack,
} from "../keepalive/timing.ts";
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
 * pass within this much; later still by up to an eighth of a long timer (timing.ts, timerSlackMs).
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
      withinTimerSlack(observedMs, configuredMs, TOLERANCE_MS),
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
    rows.push(...gapRows(expect, ka, probes, start));
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

/**
 * The timing rows, from Linux's model (timing.ts), each probe checked against its own expected
 * gap: the first (or first after data) one idle after the last segment received, each after an
 * answered probe max(idle, interval) after the answer, each retry of an unanswered probe one
 * interval after it.
 */
function gapRows(
  expect: Expectation,
  ka: KeepAliveValues,
  probes: readonly ProbeEvidence[],
  start: number | null,
): VerdictRow[] {
  const measured = probes.every((p) => p.kind !== undefined);
  const classified = measured
    ? probes.map((p) => ({ kind: p.kind!, gapMs: p.gapMs ?? null }))
    : classifyProbes(probes, start);
  const gapsOf = (kinds: ProbeGap[]) =>
    classified.filter((p) => kinds.includes(p.kind) && p.gapMs !== null).map((p) => ({
      gapMs: p.gapMs!,
      expectedMs: expectedGapMs(p.kind, ka),
    }));

  const idleMs = ka.idleMs;
  const answeredMs = expectedGapMs("answered", ka);
  const idle = gapsRow("idle before each probe", idleMs, gapsOf(["idle", "answered"]));
  idle.configured = idleMs === null
    ? "?"
    : answeredMs !== idleMs
    ? `${formatDuration(idleMs)}, then ${
      formatDuration(answeredMs!)
    } (the interval) after an answer`
    : `${formatDuration(idleMs)} after the last packet received`;
  if (expectedProbes(expect, ka).high === 0) {
    idle.configured = `${formatDuration(idleMs ?? 0)} (longer than the hold: no probe due)`;
    idle.observed = probes.length === 0 ? "none seen" : idle.observed;
    idle.pass = probes.length === 0;
  }

  const retries = gapsOf(["retry"]);
  const retry = gapsRow("retry of an unanswered probe", ka.intervalMs, retries);
  if (expect.close !== "timed-out") {
    // A peer that answers leaves nothing to retry: the interval never shows.
    retry.configured = `${formatDuration(ka.intervalMs ?? 0)}; none due (the peer answers)`;
    retry.observed = retries.length === 0 ? "none" : retry.observed;
    retry.pass = retries.length === 0;
  } else if (retries.length === 0 && (ka.count ?? 0) < 2) {
    retry.observed = "not measurable: fewer than 2 probes";
    retry.pass = true;
  }
  return [idle, retry];
}

function gapsRow(
  check: string,
  configuredMs: number | null,
  gaps: { gapMs: number; expectedMs: number | null }[],
): VerdictRow {
  const values = gaps.map((g) => g.gapMs);
  const row = timingRow(check, configuredMs, values.length ? median(values) : null);
  if (values.length > 0) {
    row.values.observed = {
      ms: median(values),
      minMs: Math.min(...values),
      maxMs: Math.max(...values),
      count: values.length,
    };
  }
  row.pass = configuredMs !== null && gaps.length > 0 &&
    gaps.every((g) =>
      g.expectedMs !== null && withinTimerSlack(g.gapMs, g.expectedMs, TOLERANCE_MS)
    );
  if (values.length > 1) {
    row.observed += ` median (${formatDuration(Math.min(...values))}–${
      formatDuration(Math.max(...values))
    })`;
  }
  return row;
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
 * How many probes the client should send: `count` before giving up on a dead peer; otherwise, the
 * peer answering, one every max(idle, interval) until the hold ends (timing.ts).
 */
export function expectedProbes(
  expect: Expectation,
  ka: KeepAliveValues,
): { low: number; high: number } {
  if (expect.close === "timed-out") return { low: ka.count ?? 0, high: ka.count ?? 0 };
  if (expect.holdMs === 0) return { low: 0, high: Infinity };
  return answeredProbesWithin(ka, expect.holdMs);
}
