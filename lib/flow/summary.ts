/**
 * Per-connection keep-alive summary, computed from a tracker's Flow when the connection ends or
 * the capture does. Plain data only, so a renderer can print it or JSON.stringify it. Keep-alive
 * figures are per prober: when both sides probe, each has its own timing.
 */
import {
  type DirectionState,
  elapsedMs,
  type Endpoint,
  type Flow,
  type Label,
  type Side,
} from "./tracker.ts";
import { quantile, type Spread } from "./stats.ts";

export type { Spread } from "./stats.ts";

/** Which sides sent keep-alive probes. */
export type ProbingSides = Side | "both" | "none";

export interface FlowEnd {
  /** "fin"/"rst": the first such segment seen, a RST winning over a FIN; "open": neither. */
  kind: "fin" | "rst" | "open";
  by: Side | null;
  /** Milliseconds from the flow's first packet. */
  atMs: number | null;
}

/**
 * One side's keep-alive probes, measured the way Linux times them (lib/keepalive/timing.ts).
 * Count, min, max, mean and stdev of each spread are exact; median, p10 and p90 are exact up to
 * SAMPLE_SIZE (256) values and estimated from a uniform sample of that many beyond (stats.ts).
 */
export interface ProberFigures {
  sent: number;
  answered: number;
  unanswered: number;
  /**
   * The idle before each probe that was not a retry, from the last segment that reset this
   * side's clock (one it received, or data it sent): the configured idle time, if all is well.
   */
  idleBeforeProbe: Spread | null;
  /** From an unanswered probe to the next: the configured interval. */
  retryInterval: Spread | null;
  /** From a probe to the peer's answer. */
  answerDelay: Spread | null;
}

export interface FlowSummary {
  flowId: number;
  ipVersion: 4 | 6;
  client: Endpoint;
  server: Endpoint;
  /** False when the handshake was not captured and "client" is just who spoke first. */
  rolesFromHandshake: boolean;
  packets: number;
  packetsC2S: number;
  packetsS2C: number;
  /** New payload bytes each way (retransmissions and probe bytes excluded). */
  dataBytesC2S: number;
  dataBytesS2C: number;
  /** Microseconds since the epoch of the earliest and latest packet. */
  startMicros: number;
  endMicros: number;
  /** Never negative, even when the capture's times go backwards. */
  lifetimeMs: number;
  probingSides: ProbingSides;
  /** Totals over both sides. */
  probesSent: number;
  probesAnswered: number;
  probesUnanswered: number;
  /** Each side's keep-alive probes; null for a side that sent none. */
  probesBy: { client: ProberFigures | null; server: ProberFigures | null };
  /** Zero-window (persist) probes each side sent: not keep-alive, never counted as it. */
  zeroWindowProbesBy: { client: number; server: number };
  end: FlowEnd;
  labels: Record<Label, number>;
}

/** The exact spread of values held in full (the tracker's own are RunningSpread). */
export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  const variance = sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / sorted.length;
  return {
    count: sorted.length,
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    medianMs: quantile(sorted, 0.5),
    meanMs: mean,
    stdevMs: Math.sqrt(variance),
    p10Ms: quantile(sorted, 0.1),
    p90Ms: quantile(sorted, 0.9),
  };
}

function flowEnd(flow: Flow): FlowEnd {
  const event = flow.firstRst ?? flow.firstFin;
  if (event === null) return { kind: "open", by: null, atMs: null };
  return {
    kind: flow.firstRst !== null ? "rst" : "fin",
    by: event.by,
    atMs: Math.max(0, elapsedMs(event, flow.first)),
  };
}

function figures(d: DirectionState): ProberFigures | null {
  if (d.probes === 0) return null;
  return {
    sent: d.probes,
    answered: d.probesAnswered,
    unanswered: d.probes - d.probesAnswered,
    idleBeforeProbe: d.idleBeforeProbe?.spread() ?? null,
    retryInterval: d.retryIntervals?.spread() ?? null,
    answerDelay: d.answerDelays?.spread() ?? null,
  };
}

export function summarizeFlow(flow: Flow): FlowSummary {
  const client = figures(flow.c2s);
  const server = figures(flow.s2c);
  const sent = flow.c2s.probes + flow.s2c.probes;
  const answered = flow.c2s.probesAnswered + flow.s2c.probesAnswered;
  return {
    flowId: flow.id,
    ipVersion: flow.ipVersion,
    client: { ...flow.client },
    server: { ...flow.server },
    rolesFromHandshake: flow.rolesFromHandshake,
    packets: flow.packets,
    packetsC2S: flow.c2s.packets,
    packetsS2C: flow.s2c.packets,
    dataBytesC2S: flow.c2s.dataBytes,
    dataBytesS2C: flow.s2c.dataBytes,
    startMicros: flow.first.tsMicros,
    endMicros: flow.last.tsMicros,
    lifetimeMs: Math.max(0, elapsedMs(flow.last, flow.first)),
    probingSides: client && server ? "both" : client ? "client" : server ? "server" : "none",
    probesSent: sent,
    probesAnswered: answered,
    probesUnanswered: sent - answered,
    probesBy: { client, server },
    zeroWindowProbesBy: { client: flow.c2s.zeroWindowProbes, server: flow.s2c.zeroWindowProbes },
    end: flowEnd(flow),
    labels: { ...flow.labelCounts },
  };
}

/** Summaries in flow-id order. */
export function summarizeFlows(flows: Iterable<Flow>): FlowSummary[] {
  return [...flows].map(summarizeFlow);
}
