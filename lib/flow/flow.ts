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

/**
 * A count of 0 per label, in LABELS order, as a literal: V8 keeps a literal's properties inside
 * the object, where Object.fromEntries put them in a separate property array (measured 0.1 KB
 * more per connection).
 */
function zeroLabelCounts(): Record<Label, number> {
  return {
    "syn": 0,
    "syn-ack": 0,
    "handshake-ack": 0,
    "data": 0,
    "keepalive": 0,
    "keepalive-ack": 0,
    "zero-window-probe": 0,
    "zero-window-probe-ack": 0,
    "fin": 0,
    "rst": 0,
    "retransmission": 0,
    "dup-ack": 0,
    "window-update": 0,
    "ack": 0,
  };
}

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

// DirectionState's yes/no facts, one bit each of its #flags.
const SEQ_KNOWN = 1;
const ACK_KNOWN = 2;
const SAW_SYN = 4;
const SYN_WAS_ACK = 8;
const SENT_AFTER_SYN = 16;
const LAST_WAS_PROBE = 32;
const LAST_WAS_ZERO_WINDOW_PROBE = 64;
const PROBE_PENDING = 128;
const CLOCK_RESET_BY_ANSWER = 256;
const FIN_ACKED = 512;

/** What one direction of a connection has shown so far; all sequence numbers are raw 32-bit. */
export class DirectionState {
  /**
   * The yes/no facts below, one bit each: a field each cost 8 bytes (V8 without pointer
   * compression), 144 bytes per connection for the ten of them.
   */
  #flags = 0;
  packets = 0;
  /** New payload bytes: retransmitted and probe bytes are not counted. */
  dataBytes = 0;
  /** Highest sequence number sent so far plus one: what the peer expects next. */
  nextSeq = 0;
  lastAck = 0;
  /** Last window, scaled when scaling is in effect; -1 while not comparable. */
  window = -1;
  isn = 0;
  /** Window scale announced in the SYN; -1 when none. */
  wscale = -1;
  lastProbeSeq = 0;
  /** This side's latest keep-alive probe; overwritten in place. */
  lastProbe: Stamp | null = null;
  /** Its record, when the tracker keeps them. */
  pendingProbe: ProbeRecord | null = null;
  /**
   * When this side's keep-alive clock was last reset (timing.ts): the last segment it received
   * that was not a probe, or the last data it sent. Null until there is one. In place.
   */
  clockReset: Stamp | null = null;
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

  get seqKnown(): boolean {
    return (this.#flags & SEQ_KNOWN) !== 0;
  }
  set seqKnown(on: boolean) {
    this.#flags = on ? this.#flags | SEQ_KNOWN : this.#flags & ~SEQ_KNOWN;
  }

  get ackKnown(): boolean {
    return (this.#flags & ACK_KNOWN) !== 0;
  }
  set ackKnown(on: boolean) {
    this.#flags = on ? this.#flags | ACK_KNOWN : this.#flags & ~ACK_KNOWN;
  }

  get sawSyn(): boolean {
    return (this.#flags & SAW_SYN) !== 0;
  }
  set sawSyn(on: boolean) {
    this.#flags = on ? this.#flags | SAW_SYN : this.#flags & ~SAW_SYN;
  }

  /** This side's SYN carried ACK, i.e. it answered the other side's SYN. */
  get synWasAck(): boolean {
    return (this.#flags & SYN_WAS_ACK) !== 0;
  }
  set synWasAck(on: boolean) {
    this.#flags = on ? this.#flags | SYN_WAS_ACK : this.#flags & ~SYN_WAS_ACK;
  }

  /** A segment without SYN has been sent (ends the handshake for this side). */
  get sentAfterSyn(): boolean {
    return (this.#flags & SENT_AFTER_SYN) !== 0;
  }
  set sentAfterSyn(on: boolean) {
    this.#flags = on ? this.#flags | SENT_AFTER_SYN : this.#flags & ~SENT_AFTER_SYN;
  }

  get lastWasProbe(): boolean {
    return (this.#flags & LAST_WAS_PROBE) !== 0;
  }
  set lastWasProbe(on: boolean) {
    this.#flags = on ? this.#flags | LAST_WAS_PROBE : this.#flags & ~LAST_WAS_PROBE;
  }

  get lastWasZeroWindowProbe(): boolean {
    return (this.#flags & LAST_WAS_ZERO_WINDOW_PROBE) !== 0;
  }
  set lastWasZeroWindowProbe(on: boolean) {
    this.#flags = on
      ? this.#flags | LAST_WAS_ZERO_WINDOW_PROBE
      : this.#flags & ~LAST_WAS_ZERO_WINDOW_PROBE;
  }

  /** The peer has not answered that latest probe yet. */
  get probePending(): boolean {
    return (this.#flags & PROBE_PENDING) !== 0;
  }
  set probePending(on: boolean) {
    this.#flags = on ? this.#flags | PROBE_PENDING : this.#flags & ~PROBE_PENDING;
  }

  /** That reset was the peer's answer to this side's probe. */
  get clockResetByAnswer(): boolean {
    return (this.#flags & CLOCK_RESET_BY_ANSWER) !== 0;
  }
  set clockResetByAnswer(on: boolean) {
    this.#flags = on ? this.#flags | CLOCK_RESET_BY_ANSWER : this.#flags & ~CLOCK_RESET_BY_ANSWER;
  }

  /** The peer has acknowledged that FIN. */
  get finAcked(): boolean {
    return (this.#flags & FIN_ACKED) !== 0;
  }
  set finAcked(on: boolean) {
    this.#flags = on ? this.#flags | FIN_ACKED : this.#flags & ~FIN_ACKED;
  }
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
  readonly labelCounts: Record<Label, number> = zeroLabelCounts();
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
