/**
 * Groups TCP segments into connections and labels each one the way Wireshark's
 * SEQ/ACK analysis would (tcp.analysis.keep_alive, keep_alive_ack, duplicate_ack,
 * window_update, retransmission), with the handshake and teardown named too.
 *
 * Deviations from Wireshark, each because keep-alive is what this tool is about:
 * - A SYN's window is never compared with later ones: SYN windows are unscaled,
 *   and comparing them with later, scaled ones would turn the first keep-alive
 *   ACK after a Linux handshake (65483 in the SYN-ACK, 512 << 7 afterwards)
 *   into a "window update".
 * - A probe is also recognised from the peer's ACK (seq == peer's last ack - 1)
 *   when nothing is in flight, so a capture started on an idle connection
 *   labels probes from the second one on instead of calling them dup ACKs.
 * - Out-of-order and spurious/fast retransmissions are all "retransmission".
 *
 * Memory: by default every connection and every probe is kept until the end, for callers that
 * look back at them (the demo reads one connection's probes). A long capture instead asks the
 * tracker to forget each connection once it has ended (FlowTrackerOptions.onEnded) and not to keep
 * probe lists (keepProbes: false); what the summaries need is kept as running statistics, so the
 * memory then depends on how many connections are open at once, not on how long the capture is.
 */

import { type DecodedPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../pcap/packet.ts";
import { RunningSpread } from "./stats.ts";

export type Label =
  | "syn"
  | "syn-ack"
  | "handshake-ack"
  | "data"
  | "keepalive"
  | "keepalive-ack"
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

export interface LabeledPacket {
  packet: DecodedPacket;
  /** 0-based, in order of first appearance; a reused 4-tuple gets a new id. */
  flowId: number;
  direction: Direction;
  label: Label;
  /** TCP payload bytes of this segment. */
  bytes: number;
  /** Time since the flow's last packet that was not a keep-alive probe or probe ACK:
   * for a probe, the idle time that triggered it. Null for a flow's first packet. */
  sinceFlowLastActivityMs: number | null;
  /** For probes: time since the previous probe from the same side (null otherwise). */
  sincePrevProbeMs: number | null;
  /** Time since the previous packet of this flow (null for its first packet). */
  deltaMs: number | null;
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

export interface ProbeRecord extends Stamp {
  /** The decoder's packet index of the probe. */
  index: number;
  by: Side;
  payloadLength: number;
  idleBeforeMs: number | null;
  sincePrevProbeMs: number | null;
  /** The peer sent something other than a probe or RST before this side's next probe. */
  answered: boolean;
  answerDelayMs: number | null;
}

export interface FlowEvent extends Stamp {
  by: Side;
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
  lastProbeSeq = 0;
  /** This side's latest probe; overwritten in place. */
  lastProbe: Stamp | null = null;
  /** The peer has not answered that latest probe yet. */
  probePending = false;
  /** Its record, when the tracker keeps them. */
  pendingProbe: ProbeRecord | null = null;
  /** Sequence number just past this side's first FIN; -1 until one is seen. */
  finEnd = -1;
  /** The peer has acknowledged that FIN. */
  finAcked = false;
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
   * keep them (the summary does not need them: see the running statistics below).
   */
  readonly probes: ProbeRecord[] = [];
  /** Running probe statistics, kept whether or not `probes` is: what the summary reads. */
  probesByClient = 0;
  probesByServer = 0;
  probesAnswered = 0;
  /** The first probe's idle time before it (null if it was the flow's first packet). */
  idleBeforeFirstProbeMs: number | null = null;
  /** Intervals between consecutive probes from the same side. */
  readonly probeIntervals = new RunningSpread();
  /** Time from a probe to the peer's answer. */
  readonly answerDelays = new RunningSpread();
  readonly labelCounts: Record<Label, number> = Object.fromEntries(
    LABELS.map((l) => [l, 0]),
  ) as Record<Label, number>;
  packets = 0;
  readonly first: Stamp;
  /** Overwritten in place as packets come (never hold on to it: copy it). */
  readonly last: Stamp;
  /** The last packet that was not keep-alive traffic; null until there is one. In place too. */
  lastActivity: Stamp | null = null;
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
}

/**
 * A copy of a stamp. Made from a real time, never from zeros overwritten later: V8 gives a field
 * the representation of its first value, and µs since the epoch are no small integer, so starting
 * from 0 would make it reshape every stamp made so far, and drop the code that uses them, the first
 * time one is overwritten.
 */
function newStamp(from: Stamp): Stamp {
  return { tsMicros: from.tsMicros, tsSubMicroNanos: from.tsSubMicroNanos };
}

function event(by: Side, at: Stamp): FlowEvent {
  return { by, tsMicros: at.tsMicros, tsSubMicroNanos: at.tsSubMicroNanos };
}

function setStamp(stamp: Stamp, from: Stamp): void {
  stamp.tsMicros = from.tsMicros;
  stamp.tsSubMicroNanos = from.tsSubMicroNanos;
}

/** a < b in 32-bit sequence space (RFC 1982 style: within 2^31 of each other). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

function flowKey(p: DecodedPacket): string {
  const forward = p.src < p.dst || (p.src === p.dst && p.srcPort <= p.dstPort);
  return forward
    ? `${p.src} ${p.srcPort} ${p.dst} ${p.dstPort}`
    : `${p.dst} ${p.dstPort} ${p.src} ${p.srcPort}`;
}

/**
 * How long, in capture time, a connection that ended without a clean close (an RST, or FINs both
 * ways without the last ACK seen) is kept before it is forgotten: segments that crossed the RST on
 * the wire, the RSTs answering them, a FIN retransmitted because its ACK was lost, all still belong
 * to it rather than opening a connection of their own. Retransmission timers start at 200 ms
 * (Linux) to 1 s, so 2 s covers the first retry or two.
 */
export const LINGER_MS = 2000;

export interface FlowTrackerOptions {
  /**
   * Keep every probe on Flow.probes (the default). Off, `probes` stays empty and a connection's
   * memory no longer grows with its probes; summaries are the same either way.
   */
  keepProbes?: boolean;
  /**
   * Forget each connection once it has ended, handing it here first: at once after the segment
   * that completes a clean close (FIN both ways, both acknowledged), LINGER_MS of capture time
   * after an RST or an unacknowledged FIN exchange, and at once when a SYN with a new ISN reuses
   * its 4-tuple. A later segment on a forgotten 4-tuple opens a new connection with a new id.
   * Without it every connection is kept and `flows[id]` is connection `id`.
   */
  onEnded?: (flow: Flow) => void;
}

export class FlowTracker {
  /** Without onEnded: every flow, index = id. With it: unused. */
  readonly #all: Flow[] = [];
  /** With onEnded: the flows not yet handed over, by id (a Map keeps insertion, i.e. id, order). */
  readonly #held = new Map<number, Flow>();
  readonly #byKey = new Map<string, Flow>();
  readonly #keepProbes: boolean;
  readonly #onEnded: ((flow: Flow) => void) | null;
  /**
   * Flows waiting out LINGER_MS, in the order they ended: a queue whose deadlines are in order as
   * long as the capture's timestamps are (one that goes back only delays a flow's turn).
   */
  #lingering: Flow[] = [];
  #lingerHead = 0;
  #nextId = 0;

  constructor(options: FlowTrackerOptions = {}) {
    this.#keepProbes = options.keepProbes ?? true;
    this.#onEnded = options.onEnded ?? null;
  }

  /**
   * The connections held, in order of first appearance. Without onEnded that is every connection
   * seen (index = flowId); with it, the ones not yet handed to onEnded (still open, or lingering).
   */
  get flows(): readonly Flow[] {
    return this.#onEnded === null ? this.#all : [...this.#held.values()];
  }

  /** How many connections the tracker holds right now. */
  get heldCount(): number {
    return this.#onEnded === null ? this.#all.length : this.#held.size;
  }

  /** How many connections it has seen: the next flow id. */
  get seenCount(): number {
    return this.#nextId;
  }

  /** Labels one segment; call in capture order. */
  track(p: DecodedPacket): LabeledPacket {
    if (this.#lingerHead < this.#lingering.length) this.#expireLingering(p.tsMicros);
    const key = flowKey(p);
    let flow = this.#byKey.get(key);
    let fromClient = flow !== undefined && this.#fromClient(flow, p);
    if (flow !== undefined && (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      // A SYN with a new ISN on a known 4-tuple is a new connection (Wireshark's
      // "port numbers reused"); the same ISN is just the SYN retransmitted.
      const sender = fromClient ? flow.c2s : flow.s2c;
      if (!(sender.sawSyn && sender.isn === p.seq)) {
        // Nothing can reach the old connection any more: it has ended, whatever it last showed.
        if (this.#onEnded !== null) this.#forget(flow);
        flow = undefined;
      }
    }
    if (flow === undefined) {
      flow = this.#open(p, key);
      this.#byKey.set(key, flow);
      fromClient = this.#fromClient(flow, p);
    }

    const fwd = fromClient ? flow.c2s : flow.s2c;
    const rev = fromClient ? flow.s2c : flow.c2s;
    const window = scaledWindow(p, flow, fwd);
    const label = classify(p, fwd, rev, window);
    const first = flow.packets === 0;

    const deltaMs = first ? null : elapsedMs(p, flow.last);
    const sinceFlowLastActivityMs = flow.lastActivity === null
      ? null
      : elapsedMs(p, flow.lastActivity);
    const isProbe = label === "keepalive";
    const sincePrevProbeMs = isProbe && fwd.lastProbe !== null ? elapsedMs(p, fwd.lastProbe) : null;

    // The flow's stamps are its own objects, overwritten in place: a new one per packet would live
    // until the flow's next packet, long enough to be promoted to V8's old space, whose garbage
    // then grows the heap with the length of the capture.
    flow.packets++;
    setStamp(flow.last, p);
    if (!isProbe && label !== "keepalive-ack") {
      if (flow.lastActivity === null) flow.lastActivity = newStamp(p);
      else setStamp(flow.lastActivity, p);
    }
    flow.labelCounts[label]++;

    const side: Side = fromClient ? "client" : "server";
    if (isProbe) {
      if (fromClient) flow.probesByClient++;
      else flow.probesByServer++;
      if (flow.probesByClient + flow.probesByServer === 1) {
        flow.idleBeforeFirstProbeMs = sinceFlowLastActivityMs;
      }
      if (sincePrevProbeMs !== null) flow.probeIntervals.add(sincePrevProbeMs);
      // No record at all unless they are kept: one per probe lives until the answer, long enough
      // that V8 took to allocating them straight in its old space (--trace-pretenuring): garbage.
      if (this.#keepProbes) {
        const probe: ProbeRecord = {
          index: p.index,
          tsMicros: p.tsMicros,
          tsSubMicroNanos: p.tsSubMicroNanos,
          by: side,
          payloadLength: p.payloadLength,
          idleBeforeMs: sinceFlowLastActivityMs,
          sincePrevProbeMs,
          answered: false,
          answerDelayMs: null,
        };
        flow.probes.push(probe);
        fwd.pendingProbe = probe;
      }
      fwd.probePending = true; // an earlier probe still pending stays unanswered
      if (fwd.lastProbe === null) fwd.lastProbe = newStamp(p);
      else setStamp(fwd.lastProbe, p);
      fwd.lastProbeSeq = p.seq;
    } else if (rev.probePending && label !== "rst") {
      const delay = elapsedMs(p, rev.lastProbe!);
      rev.probePending = false;
      if (rev.pendingProbe !== null) {
        rev.pendingProbe.answered = true;
        rev.pendingProbe.answerDelayMs = delay;
        rev.pendingProbe = null;
      }
      flow.probesAnswered++;
      flow.answerDelays.add(delay);
    }
    if (p.flags & TCP_FIN && flow.firstFin === null) flow.firstFin = event(side, p);
    if (p.flags & TCP_RST && flow.firstRst === null) flow.firstRst = event(side, p);
    if (label === "data" || label === "fin") fwd.dataBytes += p.payloadLength;

    advance(p, fwd, label, window);
    noteClose(p, fwd, rev);
    if (this.#onEnded !== null) this.#maybeEnded(flow, p);

    return {
      packet: p,
      flowId: flow.id,
      direction: fromClient ? "c2s" : "s2c",
      label,
      bytes: p.payloadLength,
      sinceFlowLastActivityMs,
      sincePrevProbeMs,
      deltaMs,
    };
  }

  #fromClient(flow: Flow, p: DecodedPacket): boolean {
    return p.srcPort === flow.client.port && p.src === flow.client.addr;
  }

  #open(p: DecodedPacket, key: string): Flow {
    const src = { addr: p.src, port: p.srcPort };
    const dst = { addr: p.dst, port: p.dstPort };
    const syn = (p.flags & TCP_SYN) !== 0;
    // Whoever sends the SYN-ACK is the server even if the SYN itself was missed.
    const srcIsServer = syn && (p.flags & TCP_ACK) !== 0;
    const flow = new Flow(
      this.#nextId++,
      p.ipVersion,
      srcIsServer ? dst : src,
      srcIsServer ? src : dst,
      syn,
      key,
      p,
    );
    if (this.#onEnded === null) this.#all.push(flow);
    else this.#held.set(flow.id, flow);
    return flow;
  }

  /** After `p` was tracked on `flow`: forgets it now, or later, if the connection has ended. */
  #maybeEnded(flow: Flow, p: DecodedPacket): void {
    if (flow.c2s.finAcked && flow.s2c.finAcked) {
      this.#forget(flow);
    } else if (
      flow.phase === "open" &&
      (flow.firstRst !== null || (flow.c2s.finEnd >= 0 && flow.s2c.finEnd >= 0))
    ) {
      flow.phase = "lingering";
      flow.lingerUntilMicros = p.tsMicros + LINGER_MS * 1000;
      this.#lingering.push(flow);
    }
  }

  /** Forgets the lingering flows whose time is up at capture time `nowMicros`. */
  #expireLingering(nowMicros: number): void {
    const queue = this.#lingering;
    let head = this.#lingerHead;
    while (head < queue.length && queue[head].lingerUntilMicros <= nowMicros) {
      const flow = queue[head++];
      if (flow.phase === "lingering") this.#forget(flow); // not if a clean close came first
    }
    if (head === queue.length) {
      this.#lingering = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.#lingering = queue.slice(head);
      head = 0;
    }
    this.#lingerHead = head;
  }

  #forget(flow: Flow): void {
    if (flow.phase === "gone") return;
    flow.phase = "gone";
    if (this.#byKey.get(flow.key) === flow) this.#byKey.delete(flow.key);
    this.#held.delete(flow.id);
    this.#onEnded!(flow);
  }
}

/** Records FINs and their acknowledgement, which is how a clean close is recognised. */
function noteClose(p: DecodedPacket, fwd: DirectionState, rev: DirectionState): void {
  if (p.flags & TCP_FIN && fwd.finEnd < 0) {
    const syn = p.flags & TCP_SYN ? 1 : 0;
    fwd.finEnd = (p.seq + syn + p.payloadLength + 1) >>> 0;
  }
  if (p.flags & TCP_ACK && rev.finEnd >= 0 && !rev.finAcked && !seqLt(p.ack, rev.finEnd)) {
    rev.finAcked = true;
  }
}

function scaledWindow(p: DecodedPacket, flow: Flow, fwd: DirectionState): number {
  // Scaling applies only once both SYNs announced it, and never to SYNs.
  if (p.flags & TCP_SYN || flow.c2s.wscale < 0 || flow.s2c.wscale < 0) return p.window;
  return p.window * 2 ** Math.min(fwd.wscale, 14);
}

/** The label of `p`, from the state before it; `fwd` is its sender's direction. */
function classify(
  p: DecodedPacket,
  fwd: DirectionState,
  rev: DirectionState,
  window: number,
): Label {
  const flags = p.flags;
  const len = p.payloadLength;
  const seq = p.seq;
  if (flags & TCP_RST) return "rst";
  if (flags & TCP_SYN) {
    if (fwd.sawSyn && seq === fwd.isn) return "retransmission";
    return flags & TCP_ACK ? "syn-ack" : "syn";
  }
  const fin = (flags & TCP_FIN) !== 0;
  if (len <= 1 && !fin && isProbe(seq, fwd, rev)) return "keepalive";
  if ((len > 0 || fin) && fwd.seqKnown && seqLt(seq, fwd.nextSeq)) return "retransmission";
  if (fin) return "fin";
  if (len > 0) return "data";
  if ((flags & TCP_ACK) === 0) return "ack"; // a bare segment with no flags: nothing to compare

  const ack = p.ack;
  if (
    rev.sawSyn && rev.synWasAck && !fwd.sentAfterSyn && ack === ((rev.isn + 1) >>> 0)
  ) {
    return "handshake-ack";
  }
  const seqAsExpected = !fwd.seqKnown || seq === fwd.nextSeq;
  if (
    rev.lastWasProbe && seqAsExpected && (fwd.window < 0 || window === fwd.window) &&
    ack === (fwd.ackKnown ? fwd.lastAck : (rev.lastProbeSeq + 1) >>> 0)
  ) {
    return "keepalive-ack";
  }
  // Wireshark's window update and duplicate ACK: same seq and ack as this side's
  // previous segment, non-zero window, changed or unchanged respectively.
  if (fwd.seqKnown && fwd.ackKnown && seq === fwd.nextSeq && ack === fwd.lastAck && window !== 0) {
    if (fwd.window >= 0 && window !== fwd.window) return "window-update";
    if (window === fwd.window) return "dup-ack";
  }
  return "ack";
}

/**
 * Wireshark's rule: at most one byte, one below the next expected sequence number.
 * Linux probes with seq = snd_una - 1 and no data, Windows and BSD resend the last
 * acknowledged byte. Either way the peer has acknowledged up to seq + 1, which also
 * identifies a probe when our own earlier segments were not captured.
 */
function isProbe(seq: number, fwd: DirectionState, rev: DirectionState): boolean {
  if (fwd.seqKnown && seq === ((fwd.nextSeq - 1) >>> 0)) return true;
  return rev.ackKnown && seq === ((rev.lastAck - 1) >>> 0) &&
    (!fwd.seqKnown || !seqLt(rev.lastAck, fwd.nextSeq));
}

/** Updates the sender's direction state after `p` was labeled. */
function advance(p: DecodedPacket, fwd: DirectionState, label: Label, window: number): void {
  const flags = p.flags;
  const syn = (flags & TCP_SYN) !== 0;
  fwd.packets++;
  if (syn) {
    if (!fwd.sawSyn || label !== "retransmission") {
      fwd.sawSyn = true;
      fwd.isn = p.seq;
      fwd.synWasAck = (flags & TCP_ACK) !== 0;
      fwd.wscale = p.options.wscale ?? -1;
    }
  } else {
    fwd.sentAfterSyn = true;
  }
  if ((flags & TCP_RST) === 0) {
    if (label === "keepalive") {
      // The probe proves the peer acknowledged up to seq + 1.
      const acked = (p.seq + 1) >>> 0;
      if (!fwd.seqKnown || seqLt(fwd.nextSeq, acked)) fwd.nextSeq = acked;
    } else {
      const end = (p.seq + p.payloadLength + (syn ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
      if (!fwd.seqKnown || seqLt(fwd.nextSeq, end)) fwd.nextSeq = end;
    }
    fwd.seqKnown = true;
  }
  if (flags & TCP_ACK) {
    fwd.lastAck = p.ack;
    fwd.ackKnown = true;
  }
  // A SYN announcing a scale factor has an unscaled window that later ones cannot be compared with.
  fwd.window = syn && p.options.wscale !== undefined ? -1 : window;
  fwd.lastWasProbe = label === "keepalive";
}
