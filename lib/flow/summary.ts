/**
 * Per-connection keep-alive summary, computed from a tracker's Flow when the connection ends or
 * the capture does. Plain data only, so a renderer can print it or JSON.stringify it.
 */

import { elapsedMs, type Endpoint, type Flow, type Label, type Side } from "./tracker.ts";
import { quantile, type Spread } from "./stats.ts";

export type { Spread } from "./stats.ts";

export type Prober = Side | "both" | "none";

export interface FlowEnd {
  /** "fin"/"rst": the first such segment seen, a RST winning over a FIN; "open": neither. */
  kind: "fin" | "rst" | "open";
  by: Side | null;
  /** Milliseconds from the flow's first packet. */
  atMs: number | null;
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
  /** Microseconds since the epoch of the first and last packet. */
  startMicros: number;
  endMicros: number;
  lifetimeMs: number;
  prober: Prober;
  probesSent: number;
  probesByClient: number;
  probesByServer: number;
  probesAnswered: number;
  probesUnanswered: number;
  /** Idle time (no traffic but keep-alives) before the first probe. */
  idleBeforeFirstProbeMs: number | null;
  /**
   * Intervals between consecutive probes from the same side. Count, min, max, mean and stdev are
   * exact; median, p10 and p90 are exact up to SAMPLE_SIZE (256) intervals and estimated from a
   * uniform sample of that many beyond (see stats.ts).
   */
  probeInterval: Spread | null;
  /** Time from a probe to the peer's answer; exact and estimated as probeInterval is. */
  probeAnswerDelay: Spread | null;
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
    atMs: elapsedMs(event, flow.first),
  };
}

export function summarizeFlow(flow: Flow): FlowSummary {
  const byClient = flow.probesByClient;
  const byServer = flow.probesByServer;
  const sent = byClient + byServer;
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
    lifetimeMs: elapsedMs(flow.last, flow.first),
    prober: byClient && byServer ? "both" : byClient ? "client" : byServer ? "server" : "none",
    probesSent: sent,
    probesByClient: byClient,
    probesByServer: byServer,
    probesAnswered: flow.probesAnswered,
    probesUnanswered: sent - flow.probesAnswered,
    idleBeforeFirstProbeMs: flow.idleBeforeFirstProbeMs,
    probeInterval: flow.probeIntervals.spread(),
    probeAnswerDelay: flow.answerDelays.spread(),
    end: flowEnd(flow),
    labels: { ...flow.labelCounts },
  };
}

/** Summaries in flow-id order. */
export function summarizeFlows(flows: Iterable<Flow>): FlowSummary[] {
  return [...flows].map(summarizeFlow);
}
