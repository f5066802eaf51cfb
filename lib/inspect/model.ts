/**
 * What `inspect` knows about one connection: the kernel's listing, its owner, and its keep-alive
 * as the socket holds it (read through a duplicated descriptor) or as inferred from ss's timer.
 */
import type { KeepAliveValues } from "../keepalive/settings.ts";
import type { ListedSocket, Owner } from "./listing.ts";

/**
 * `socket`: read with getsockopt on a copy of the process's descriptor (the truth).
 * `inferred`: from what ss shows (a keep-alive timer running or not) and the system defaults.
 */
export type ReadingSource = "socket" | "inferred";

export interface KeepAliveReading {
  source: ReadingSource;
  /** null: cannot be told (another timer hides the keep-alive one, or a listener, without root). */
  enabled: boolean | null;
  /** As the socket holds them; null when inferred. */
  values: KeepAliveValues;
  /** TCP_USER_TIMEOUT in ms (0 = not set); null when inferred. */
  userTimeoutMs: number | null;
  /**
   * Inferred only: a running keep-alive timer with no probe out fires at most `idle` after the
   * last segment received, so the socket's idle time is at least this.
   */
  idleAtLeastMs?: number;
  /** Why the values are inferred (no privilege, descriptor gone or reused, owner not visible). */
  why?: string;
}

export type Risk = "at-risk" | "tight" | "unknown" | "safe" | "not-applicable";

export interface Verdict {
  risk: Risk;
  text: string;
  /** ms until the next keep-alive probe is due, when keep-alive is on and that can be told. */
  nextProbeMs: number | null;
}

export interface InspectedConnection {
  socket: ListedSocket;
  /** The process and descriptor it is listed under; null when no owner is visible. */
  owner: Owner | null;
  keepalive: KeepAliveReading;
  /** ms since anything was last sent or received on it (data or ACK), per the kernel. */
  idleMs: number | null;
  verdict: Verdict | null;
}

export interface ProcessGroup {
  /** null: connections whose owner this user cannot see. */
  pid: number | null;
  command: string;
  connections: InspectedConnection[];
  /** Why this process's values are inferred, once for the whole group. */
  note?: string;
}

export interface InspectReport {
  time: number;
  namespace: { pid: number | null; name: string | null; fallback?: string };
  /** How keep-alive values were obtained overall, for the header line. */
  access: { source: ReadingSource | "mixed"; note?: string };
  pathTimeoutMs: number | null;
  groups: ProcessGroup[];
  systemDefaults: KeepAliveValues;
}

/** Time since the last segment either way: what a middlebox's idle timer counts. */
export function idleOf(s: ListedSocket): number | null {
  if (s.state === "LISTEN") return null; // a listener carries no traffic of its own
  return minKnown(minKnown(s.lastSndMs, s.lastRcvMs), s.lastAckMs);
}

/** What ss alone says about keep-alive (no privilege needed). */
export function inferReading(s: ListedSocket, why: string): KeepAliveReading {
  const none = { idleMs: null, intervalMs: null, count: null };
  const base = { source: "inferred" as const, values: none, userTimeoutMs: null, why };
  if (s.timer?.name === "keepalive") {
    const sinceReceived = minKnown(s.lastRcvMs, s.lastAckMs);
    return {
      ...base,
      enabled: true,
      ...(s.timer.count === 0 && sinceReceived !== null
        ? { idleAtLeastMs: s.timer.ms + sinceReceived }
        : {}),
    };
  }
  // The kernel arms the keep-alive timer for as long as SO_KEEPALIVE is on in ESTABLISHED; ss
  // shows one timer, and a retransmission or zero-window timer takes precedence over it.
  if (s.state === "ESTAB" && s.timer === null) return { ...base, enabled: false };
  return { ...base, enabled: null };
}

/** The smaller of two values, either of which may be unknown. */
export function minKnown(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
