/**
 * Everything tcpka reports is one of these events: the roles' connections, capture's packets and
 * per-connection summaries. The human view and `--json` (NDJSON) are two renderings of the same
 * stream (lib/report/), so they cannot disagree.
 */
import type { KeepAliveReport, KeepAliveRequest } from "./keepalive/mod.ts";
import type { FlowSummary } from "./flow/summary.ts";
import type { ReadWarnings, UnsupportedLink } from "./pcap/decoder.ts";
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
  | DiscoverEvent
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
  /** Wireshark's frame number: the record's position in the file, from 1. */
  frame: number;
  /** Since the previous packet of this connection (null for its first). */
  deltaMs: number | null;
  /**
   * For a keep-alive probe that is not a retry: the idle before it, from the last segment that
   * restarted the prober's clock (lib/keepalive/timing.ts); null otherwise.
   */
  idleMs: number | null;
  /** For the retry of an unanswered probe: the time since that probe (null otherwise). */
  retryAfterMs: number | null;
  /** The tunnels it came through ("vxlan", "gre/mpls", …), or null. */
  encap: string | null;
  /** An earlier packet (by frame number) this one proved to be something else. */
  relabel: { packet: number; from: Label; to: Label } | null;
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
    /** Link types not decoded, with the packets of each. */
    unsupportedLinks: UnsupportedLink[];
    /** What was read through rather than refused (snap length, odd timestamps). */
    warnings: ReadWarnings;
  };

/** What `tcpka discover` reports (lib/discover/). */
export type DiscoverEvent =
  | Base & {
    type: "discovering";
    address: string;
    connections: number;
    ladderMs: number[];
    precision: number;
    /** About how long the answer takes when nothing forgets the connections: --max and refining. */
    worstMs: number;
    intervalMs: number;
    count: number;
  }
  | Base & {
    type: "probe";
    id: number;
    /** How long the connection had been idle when its probe went out (the kernel's clock). */
    idleMs: number;
    outcome: "answered" | "silent-drop" | "reset";
    /** Forgotten: how that was decided (no answer within the wait, the kernel's ETIMEDOUT, an RST). */
    by?: "no-answer" | "kernel" | "rst";
    lowMs: number;
    highMs: number | null;
  }
  | Base & {
    type: "ended";
    id: number;
    ageMs: number;
    edge: "server-close" | "reset";
    lowMs: number;
    highMs: number | null;
  }
  | Base & {
    type: "result";
    address: string;
    /** The idle timeout lies in [lowMs, highMs]; for "none", highMs is null (kept ≥ lowMs). */
    lowMs: number;
    highMs: number | null;
    edge: "silent-drop" | "reset" | "server-close" | "none";
    /** Who sent the RST at the edge, when a capture could tell (TTL against the SYN-ACK's). */
    rstSource: "server" | "middlebox" | "unknown" | null;
    rstHint: string | null;
    recommendation: Recommendation | null;
    /** Ctrl-C: the bracket so far, not a finished measurement. */
    interrupted: boolean;
    elapsedMs: number;
    /** The longest idle the run had to wait for: no run can be shorter. */
    longestIdleMs: number;
    connectionsUsed: number;
    precision: number;
  };

export interface Recommendation {
  idleMs: number;
  intervalMs: number;
  client: string;
  sysctl: string;
}

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
