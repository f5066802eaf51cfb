/**
 * What the demo saw happen to the client's connection, from either source of truth: a packet
 * capture (exact, needs tcpdump and root) or the kernel's socket table (no root). The verdict is
 * computed from this alone, never from our own log lines.
 */

import type { ProbeGap } from "../keepalive/timing.ts";

export type EvidenceSource = "capture" | "kernel";

export interface ProbeEvidence {
  /** ms since epoch. */
  time: number;
  answered: boolean;
  /**
   * The gap the kernel left before it, as measured where the evidence can (a capture sees every
   * segment that reset the clock): "idle" from the clock's last reset, "retry" from the unanswered
   * probe before. Without it the verdict applies the model to the probe list (timing.ts).
   */
  kind?: ProbeGap;
  gapMs?: number | null;
}

export type CloseKind =
  | "fin-by-client"
  | "fin-by-server"
  | "rst-by-client"
  | "rst-by-server"
  /** The client's kernel gave up after unanswered probes: the socket vanished without FIN/RST. */
  | "timed-out";

export interface ConnectionEvidence {
  source: EvidenceSource;
  /** When the connection was established (handshake done, or first seen). */
  establishedAt: number | null;
  probes: ProbeEvidence[];
  close: { kind: CloseKind; time: number } | null;
}

export function emptyEvidence(source: EvidenceSource): ConnectionEvidence {
  return { source, establishedAt: null, probes: [], close: null };
}
