/**
 * What the tracker knows of one connection and of each of its directions: sequence state for the
 * labels, and each side's keep-alive figures as running statistics (constant memory however long
 * the connection probes).
 */
import { RunningSpread } from "./stats.ts";
import type { ProbeGap } from "../keepalive/timing.ts";

export type Label =
  | "syn"
  | "syn-ack"
  | "handshake-ack"
  | "data"
  | "keepalive"
  | "keepalive-ack"
  | "zero-window-probe"
  | "zero-window-probe-ack"
  | "fin"
  | "rst"
  | "retransmission"
  | "dup-ack"
  | "window-update"
  | "ack";

export const LABELS: readonly Label[] = [
  "syn",
  "syn-ack",
  "handshake-ack",
  "data",
  "keepalive",
  "keepalive-ack",
  "zero-window-probe",
  "zero-window-probe-ack",
  "fin",
  "rst",
  "retransmission",
  "dup-ack",
  "window-update",
  "ack",
];

export type Direction = "c2s" | "s2c";
export type Side = "client" | "server";

export interface Endpoint {
  addr: string;
  port: number;
}

/** A capture time: what DecodedPacket carries, so a packet is a Stamp too. */
export interface Stamp {
  tsMicros: number;
  tsSubMicroNanos: number;
}

/**
 * Milliseconds from `earlier` to `later`. The integer microseconds are subtracted
 * first: epoch milliseconds as a float would blur everything below ~0.2 µs.
 */
export function elapsedMs(later: Stamp, earlier: Stamp): number {
  return (later.tsMicros - earlier.tsMicros) / 1000 +
    (later.tsSubMicroNanos - earlier.tsSubMicroNanos) / 1e6;
}

/** `later` is after `earlier` (equal is not after). */
export function isAfter(later: Stamp, earlier: Stamp): boolean {
  return later.tsMicros > earlier.tsMicros ||
    (later.tsMicros === earlier.tsMicros && later.tsSubMicroNanos > earlier.tsSubMicroNanos);
}

export interface ProbeRecord extends Stamp {
  /** The decoder's packet index of the probe. */
  index: number;
  by: Side;
  payloadLength: number;
  /**
   * Why it went out when it did (timing.ts): "idle" one idle after the last segment received,
   * "answered" after the answer to the previous probe (both: idleBeforeMs says how long), "retry"
   * because the previous probe went unanswered (retryAfterMs says how long after it).
   */
  kind: ProbeGap;
  idleBeforeMs: number | null;
  retryAfterMs: number | null;
  /** The peer sent something other than a probe or RST before this side's next probe. */
  answered: boolean;
  answerDelayMs: number | null;
  /** Recognised only later, from the peer's ACK (a capture that started mid-connection). */
  relabeled: boolean;
}

export interface FlowEvent extends Stamp {
  by: Side;
}

/** A copy of a stamp, made from a real time (see Flow.first for why). */
export function newStamp(from: Stamp): Stamp {
  return { tsMicros: from.tsMicros, tsSubMicroNanos: from.tsSubMicroNanos };
}

export function setStamp(stamp: Stamp, from: Stamp): void {
  stamp.tsMicros = from.tsMicros;
  stamp.tsSubMicroNanos = from.tsSubMicroNanos;
}

/** What one direction of a connection has shown so far; all sequence numbers are raw 32-bit. */
export class DirectionState {
  packets = 0;
  /** New payload bytes: retransmitted and probe bytes are not counted. */
  dataBytes = 0;
  seqKnown = false;
  /** Highest sequence number sent so far plus one: what the peer expects next. */
  nextSeq = 0;
  ackKnown = false;
  lastAck = 0;
  /** Last window, scaled when scaling is in effect; -1 while not comparable. */
  window = -1;
  sawSyn = false;
  /** This side's SYN carried ACK, i.e. it answered the other side's SYN. */
  synWasAck = false;
  isn = 0;
  /** Window scale announced in the SYN; -1 when none. */
  wscale = -1;
  /** A segment without SYN has been sent (ends the handshake for this side). */
  sentAfterSyn = false;
  lastWasProbe = false;
  lastWasZeroWindowProbe = false;
  lastProbeSeq = 0;
  /** This side's latest keep-alive probe; overwritten in place. */
  lastProbe: Stamp | null = null;
  /** The peer has not answered that latest probe yet. */
  probePending = false;
  /** Its record, when the tracker keeps them. */
  pendingProbe: ProbeRecord | null = null;
  /**
   * When this side's keep-alive clock was last reset (timing.ts): the last segment it received
   * that was not a probe, or the last data it sent. Null until there is one. In place.
   */
  clockReset: Stamp | null = null;
  /** That reset was the peer's answer to this side's probe. */
  clockResetByAnswer = false;
  /**
   * This side's first segment, while nothing showed what it was: a bare ACK that the peer's ACK
   * of seq + 1 would prove to have been a keep-alive probe. -1 when there is none.
   */
  unprovenIndex = -1;
  unprovenSeq = 0;
  unprovenLabel: Label = "ack";
  unprovenAt: Stamp | null = null;
  /** Sequence number just past this side's first FIN; -1 until one is seen. */
  finEnd = -1;
  /** The peer has acknowledged that FIN. */
  finAcked = false;

  // This side's keep-alive probes, as the prober: running figures for the summary, made on first
  // use (most sides never probe, most probers never retry: 5,000 connections × 6 empty ones
  // measured 3 MB).
  probes = 0;
  probesAnswered = 0;
  /** Idle before each probe that was not a retry, from the last reset of the clock. */
  idleBeforeProbe: RunningSpread | null = null;
  /** Time from an unanswered probe to the next one. */
  retryIntervals: RunningSpread | null = null;
  /** Time from a probe to the peer's answer. */
  answerDelays: RunningSpread | null = null;
  /** Zero-window (persist) probes: not keep-alive, counted apart. */
  zeroWindowProbes = 0;
}

/** Where a connection is in being forgotten by a tracker that forgets ended ones. */
export type FlowPhase = "open" | "lingering" | "gone";

export class Flow {
  readonly client: Endpoint;
  readonly server: Endpoint;
  /** True when the roles come from a SYN or SYN-ACK, false when "client" just spoke first. */
  readonly rolesFromHandshake: boolean;
  readonly c2s = new DirectionState();
  readonly s2c = new DirectionState();
  /**
   * Every keep-alive probe, both sides, in capture order; empty when the tracker was told not to
   * keep them (the summary does not need them: it reads the directions' running figures).
   */
  readonly probes: ProbeRecord[] = [];
  readonly labelCounts: Record<Label, number> = Object.fromEntries(
    LABELS.map((l) => [l, 0]),
  ) as Record<Label, number>;
  packets = 0;
  /**
   * The earliest and latest capture times of its packets (a file whose times go backwards cannot
   * make a lifetime negative). Stamps are made from a real time, never from zeros overwritten
   * later: V8 gives a field the representation of its first value, and µs since the epoch are no
   * small integer, so starting from 0 would make it reshape every stamp made so far.
   */
  readonly first: Stamp;
  /** Overwritten in place as packets come (never hold on to it: copy it). */
  readonly last: Stamp;
  firstFin: FlowEvent | null = null;
  firstRst: FlowEvent | null = null;
  phase: FlowPhase = "open";
  /** The capture time (µs) after which the tracker forgets the connection: only once lingering. */
  lingerUntilMicros = Infinity;

  constructor(
    readonly id: number,
    readonly ipVersion: 4 | 6,
    client: Endpoint,
    server: Endpoint,
    rolesFromHandshake: boolean,
    /** The tracker's key for its 4-tuple. */
    readonly key: string,
    /** The time of its first packet. */
    start: Stamp,
  ) {
    this.client = client;
    this.server = server;
    this.rolesFromHandshake = rolesFromHandshake;
    this.first = newStamp(start);
    this.last = newStamp(start);
  }

  /** The direction state of `side` as a sender. */
  sender(side: Side): DirectionState {
    return side === "client" ? this.c2s : this.s2c;
  }
}
