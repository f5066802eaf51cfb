/**
 * Everything tcpka reports is one of these events: the roles' connections, capture's packets and
 * per-connection summaries. The human view and `--json` (NDJSON) are two renderings of the same
 * stream (lib/report/), so they cannot disagree.
 */
import type { KeepAliveReport, KeepAliveRequest } from "./keepalive/mod.ts";
import type { FlowSummary } from "./flow/summary.ts";
import type { Direction, Label } from "./flow/tracker.ts";

/** How a connection ended, from the point of view of the side reporting it. */
export type EndReason =
  | "hold-expired" // we closed it after --hold
  | "peer-closed" // the peer sent FIN
  | "peer-reset" // the peer sent RST
  | "timed-out" // keep-alive (or retransmission) gave up: ETIMEDOUT
  | "shutdown" // we were asked to stop (SIGINT/SIGTERM)
  | "echoed" // we closed it after our message came back (client --send-after)
  | "unexpected-reply" // the answer to our message was not our message (client --send-after)
  | "error"; // anything else, with the OS's message

export const FAILED_REASONS: ReadonlySet<EndReason> = new Set([
  "peer-reset",
  "timed-out",
  "unexpected-reply",
  "error",
]);

export type Role = "server" | "client";

interface Base {
  /** Milliseconds since the Unix epoch. */
  time: number;
}

export type TcpkaEvent =
  | Base & { type: "listening"; address: string; port: number; keepalive: KeepAliveRequest | null }
  | Base & { type: "connecting"; address: string; connections: number; holdMs: number }
  | Base & { type: "connected"; id: number; local: string; remote: string }
  | Base & { type: "connect-failed"; id: number; remote: string; error: string }
  | Base & { type: "keepalive"; id: number; report: KeepAliveReport }
  | Base & { type: "warning"; message: string }
  | Base & { type: "data"; id: number; direction: "in" | "out"; bytes: number }
  | Base & { type: "sent"; id: number; bytes: number; afterIdleMs: number }
  | Base & { type: "echo"; id: number; bytes: number; rttMs: number }
  | Base & { type: "unexpected-reply"; id: number; bytes: number; rttMs: number; text: string }
  | Base & {
    type: "closed";
    id: number;
    reason: EndReason;
    durationMs: number;
    error?: string;
  }
  | Base & {
    type: "summary";
    role: Role;
    connections: number;
    failedToConnect: number;
    /** Server: connections their peer reset while they waited to be accepted. */
    resetBeforeAccept?: number;
    ended: Partial<Record<EndReason, number>>;
  }
  | CaptureEvent;

/** One captured packet, labelled; `time` is its capture time (ms since the epoch, µs precision). */
export interface PacketEvent extends Base {
  type: "packet";
  /** 1-based connection number, in order of first appearance. */
  flow: number;
  src: string;
  dst: string;
  direction: Direction;
  /** tcpdump's letters: S, F, R, P, "." for ACK. */
  flags: string;
  label: Label;
  /** TCP payload bytes. */
  bytes: number;
  seq: number;
  ack: number;
  /** Since the previous packet of this connection (null for its first). */
  deltaMs: number | null;
  /** For a keep-alive probe: the idle time before it (null otherwise). */
  idleMs: number | null;
  /** For a probe: since the previous probe from the same side (null otherwise). */
  sincePrevProbeMs: number | null;
}

/** A connection's summary once it ended (or the capture did); `time` is its last packet's. */
export type ConnectionSummaryEvent =
  & Base
  & { type: "connection-summary"; flow: number }
  & FlowSummary;

export type CaptureEvent =
  | Base & { type: "capturing"; interface: string; filter: string }
  | PacketEvent
  | ConnectionSummaryEvent
  | Base & {
    type: "end";
    packets: number;
    /** Records that were not TCP. */
    skipped: number;
    /** Connection summaries reported. */
    connections: number;
    /** Where the input was damaged; everything before it was reported. */
    error: { message: string; offset: number } | null;
  };

export type EventOf<T extends TcpkaEvent["type"]> = Extract<TcpkaEvent, { type: T }>;

/** Maps an error from a read or write on an established connection to why the connection ended. */
export function endReasonOf(err: unknown): EndReason {
  if (err instanceof Deno.errors.ConnectionReset) return "peer-reset";
  if (err instanceof Deno.errors.TimedOut) return "timed-out";
  const message = err instanceof Error ? err.message : "";
  if (/os error 110\b|timed out/i.test(message)) return "timed-out";
  if (/os error 104\b|reset/i.test(message)) return "peer-reset";
  return "error";
}
