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
 */

import { type DecodedPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../pcap/packet.ts";

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
  lastProbe: Stamp | null = null;
  pendingProbe: ProbeRecord | null = null;
}

export class Flow {
  readonly client: Endpoint;
  readonly server: Endpoint;
  /** True when the roles come from a SYN or SYN-ACK, false when "client" just spoke first. */
  readonly rolesFromHandshake: boolean;
  readonly c2s = new DirectionState();
  readonly s2c = new DirectionState();
  /** Every keep-alive probe, both sides, in capture order. */
  readonly probes: ProbeRecord[] = [];
  readonly labelCounts: Record<Label, number> = Object.fromEntries(
    LABELS.map((l) => [l, 0]),
  ) as Record<Label, number>;
  packets = 0;
  first: Stamp = { tsMicros: 0, tsSubMicroNanos: 0 };
  last: Stamp = { tsMicros: 0, tsSubMicroNanos: 0 };
  /** The last packet that was not keep-alive traffic; null until there is one. */
  lastActivity: Stamp | null = null;
  firstFin: FlowEvent | null = null;
  firstRst: FlowEvent | null = null;

  constructor(
    readonly id: number,
    readonly ipVersion: 4 | 6,
    client: Endpoint,
    server: Endpoint,
    rolesFromHandshake: boolean,
  ) {
    this.client = client;
    this.server = server;
    this.rolesFromHandshake = rolesFromHandshake;
  }
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

export class FlowTracker {
  #flows: Flow[] = [];
  #byKey = new Map<string, Flow>();

  /** Every connection seen, in order of first appearance (index = flowId). */
  get flows(): readonly Flow[] {
    return this.#flows;
  }

  /** Labels one segment; call in capture order. */
  track(p: DecodedPacket): LabeledPacket {
    const key = flowKey(p);
    let flow = this.#byKey.get(key);
    let fromClient = flow !== undefined && this.#fromClient(flow, p);
    if (flow !== undefined && (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      // A SYN with a new ISN on a known 4-tuple is a new connection (Wireshark's
      // "port numbers reused"); the same ISN is just the SYN retransmitted.
      const sender = fromClient ? flow.c2s : flow.s2c;
      if (!(sender.sawSyn && sender.isn === p.seq)) flow = undefined;
    }
    if (flow === undefined) {
      flow = this.#open(p);
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

    const stamp: Stamp = { tsMicros: p.tsMicros, tsSubMicroNanos: p.tsSubMicroNanos };
    flow.packets++;
    if (first) flow.first = stamp;
    flow.last = stamp;
    if (!isProbe && label !== "keepalive-ack") flow.lastActivity = stamp;
    flow.labelCounts[label]++;

    const side: Side = fromClient ? "client" : "server";
    if (isProbe) {
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
      fwd.pendingProbe = probe; // an earlier probe still pending stays unanswered
      fwd.lastProbe = stamp;
      fwd.lastProbeSeq = p.seq;
    } else if (rev.pendingProbe !== null && label !== "rst") {
      rev.pendingProbe.answered = true;
      rev.pendingProbe.answerDelayMs = elapsedMs(p, rev.pendingProbe);
      rev.pendingProbe = null;
    }
    if (p.flags & TCP_FIN && flow.firstFin === null) flow.firstFin = { by: side, ...stamp };
    if (p.flags & TCP_RST && flow.firstRst === null) flow.firstRst = { by: side, ...stamp };
    if (label === "data" || label === "fin") fwd.dataBytes += p.payloadLength;

    advance(p, fwd, label, window);

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

  #open(p: DecodedPacket): Flow {
    const src = { addr: p.src, port: p.srcPort };
    const dst = { addr: p.dst, port: p.dstPort };
    const syn = (p.flags & TCP_SYN) !== 0;
    // Whoever sends the SYN-ACK is the server even if the SYN itself was missed.
    const srcIsServer = syn && (p.flags & TCP_ACK) !== 0;
    const flow = new Flow(
      this.#flows.length,
      p.ipVersion,
      srcIsServer ? dst : src,
      srcIsServer ? src : dst,
      syn,
    );
    this.#flows.push(flow);
    return flow;
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
