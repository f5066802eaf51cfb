/**
 * What the demo saw happen to the client's connection, from either source of truth: a packet
 * capture (exact, needs tcpdump and root) or the kernel's socket table (no root). The verdict is
 * computed from this alone, never from our own log lines.
 */

export type EvidenceSource = "capture" | "kernel";

export interface ProbeEvidence {
  /** ms since epoch. */
  time: number;
  answered: boolean;
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
