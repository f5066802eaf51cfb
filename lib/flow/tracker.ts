/**
 * Groups TCP segments into connections and labels each one (classify.ts), keeping each side's
 * keep-alive figures the way Linux's timing works (lib/keepalive/timing.ts): the idle before each
 * probe from the last segment that reset the prober's clock, and apart from it the retries of
 * unanswered probes.
 *
 * Deviations from Wireshark, each because keep-alive is what this tool is about:
 * - A SYN's window is never compared with later ones: SYN windows are unscaled,
 *   and comparing them with later, scaled ones would turn the first keep-alive
 *   ACK after a Linux handshake (65483 in the SYN-ACK, 512 << 7 afterwards)
 *   into a "window update".
 * - A probe sent to a peer advertising window 0 is a zero-window probe, even when it looks like a
 *   keep-alive probe (Linux's persist timer sends seq = snd_una - 1 with no data); Wireshark
 *   calls those keep-alive.
 * - A probe is also recognised from the peer's ACK (seq == peer's last ack - 1)
 *   when nothing is in flight, and a capture started on an idle connection has its first probe
 *   re-labelled once the peer's ACK of seq + 1 proves it (LabeledPacket.relabel).
 * - Out-of-order and spurious/fast retransmissions are all "retransmission".
 *
 * Memory: by default every connection and every probe is kept until the end, for callers that
 * look back at them (the demo reads one connection's probes). A long capture instead asks the
 * tracker to forget each connection once it has ended (FlowTrackerOptions.onEnded) and not to keep
 * probe lists (keepProbes: false); what the summaries need is kept as running statistics, so the
 * memory then depends on how many connections are open at once, not on how long the capture is.
 */
import { type DecodedPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../pcap/packet.ts";
import { advance, classify, noteClose, scaledWindow } from "./classify.ts";
import { RunningSpread } from "./stats.ts";
import {
  type Direction,
  type DirectionState,
  elapsedMs,
  Flow,
  type FlowEvent,
  isAfter,
  type Label,
  newStamp,
  type ProbeRecord,
  setStamp,
  type Side,
  type Stamp,
} from "./flow.ts";

import type { ProbeGap } from "../keepalive/timing.ts";

export * from "./flow.ts";
export { seqLt } from "./classify.ts";

/** An earlier packet whose label a later one proved wrong. */
export interface Relabel {
  /** The decoder's index of that packet (Wireshark's frame number − 1). */
  index: number;
  from: Label;
  to: Label;
}

export interface LabeledPacket {
  packet: DecodedPacket;
  /** 0-based, in order of first appearance; a reused 4-tuple gets a new id. */
  flowId: number;
  direction: Direction;
  label: Label;
  /** TCP payload bytes of this segment. */
  bytes: number;
  /**
   * For a keep-alive probe sent one idle after the prober's clock was reset (not a retry): the
   * time since that reset, i.e. since the last segment it received or the last data it sent.
   */
  idleMs: number | null;
  /** For a keep-alive probe resent because the previous one went unanswered: the time since it. */
  retryAfterMs: number | null;
  /** Time since the previous packet of this flow (null for its first packet). */
  deltaMs: number | null;
  /** Set when this packet proved an earlier one to be something else (mid-connection captures). */
  relabel: Relabel | null;
}

/** `p` reset `d`'s keep-alive clock (timing.ts); `byAnswer`: by answering its probe. */
function resetClock(d: DirectionState, p: Stamp, byAnswer: boolean): void {
  if (d.clockReset === null) d.clockReset = newStamp(p);
  else setStamp(d.clockReset, p);
  d.clockResetByAnswer = byAnswer;
}

function event(by: Side, at: Stamp): FlowEvent {
  return { by, tsMicros: at.tsMicros, tsSubMicroNanos: at.tsSubMicroNanos };
}

function flowKey(p: DecodedPacket): string {
  const forward = p.src < p.dst || (p.src === p.dst && p.srcPort <= p.dstPort);
  return forward
    ? `${p.src} ${p.srcPort} ${p.dst} ${p.dstPort}`
    : `${p.dst} ${p.dstPort} ${p.src} ${p.srcPort}`;
}

/**
 * How long, in capture time, a connection that has ended (FINs both ways, or an RST) is kept
 * before it is forgotten: a late duplicate ACK, a FIN retransmitted because its ACK was lost, the
 * RST answering a segment that crossed the close, all still belong to it rather than opening a
 * "connection" of their own. Retransmission timers start at 200 ms (Linux) to 1 s, so 2 s covers
 * the first retry or two.
 */
export const LINGER_MS = 2000;
/**
 * At most this many ended connections linger at once; beyond it the oldest is let go early, so a
 * burst of short connections cannot grow memory with the linger.
 */
export const MAX_LINGERING = 4096;

export interface FlowTrackerOptions {
  /**
   * Keep every probe on Flow.probes (the default). Off, `probes` stays empty and a connection's
   * memory no longer grows with its probes; summaries are the same either way.
   */
  keepProbes?: boolean;
  /**
   * Forget each connection once it has ended, handing it here first: LINGER_MS of capture time
   * after the close (FINs both ways, or an RST; sooner when MAX_LINGERING are lingering), and at
   * once when a SYN with a new ISN reuses its 4-tuple. A later segment on a forgotten 4-tuple
   * opens a new connection with a new id. Without it every connection is kept and `flows[id]` is
   * connection `id`.
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
  #lingerCount = 0;
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
    const side: Side = fromClient ? "client" : "server";
    const window = scaledWindow(p, flow, fwd);
    let label = classify(p, fwd, rev, window);
    const first = flow.packets === 0;
    const deltaMs = first ? null : elapsedMs(p, flow.last);

    // The flow's stamps are its own objects, overwritten in place: a new one per packet would live
    // until the flow's next packet, long enough to be promoted to V8's old space, whose garbage
    // then grows the heap with the length of the capture.
    flow.packets++;
    if (isAfter(p, flow.last)) setStamp(flow.last, p);
    else if (isAfter(flow.first, p)) setStamp(flow.first, p);

    let relabel: Relabel | null = null;
    if (
      rev.unprovenIndex >= 0 && p.ack === ((rev.unprovenSeq + 1) >>> 0) &&
      (label === "ack" || label === "dup-ack" || label === "window-update")
    ) {
      // An answer advertising window 0 proves a zero-window probe instead.
      const zeroWindow = window === 0;
      relabel = this.#proveProbe(flow, rev, fromClient ? "server" : "client", zeroWindow);
      label = zeroWindow ? "zero-window-probe-ack" : "keepalive-ack";
    }
    fwd.unprovenIndex = -1;
    if (
      !fwd.seqKnown && !rev.ackKnown && p.payloadLength === 0 &&
      (p.flags & (TCP_SYN | TCP_FIN | TCP_RST)) === 0 && (label === "ack" || label === "dup-ack")
    ) {
      // Nothing yet says what this side's first segment is: a probe, if the peer acks seq + 1.
      fwd.unprovenIndex = p.index;
      fwd.unprovenSeq = p.seq;
      fwd.unprovenLabel = label;
      if (fwd.unprovenAt === null) fwd.unprovenAt = newStamp(p);
      else setStamp(fwd.unprovenAt, p);
    }
    flow.labelCounts[label]++;

    let idleMs: number | null = null;
    let retryAfterMs: number | null = null;
    if (label === "keepalive") {
      // Linux's rule: after an unanswered probe, with nothing received since, the next one is a
      // retry one interval on; otherwise it comes one idle after the clock's last reset.
      const retry = fwd.probePending && fwd.lastProbe !== null &&
        (fwd.clockReset === null || !isAfter(fwd.clockReset, fwd.lastProbe));
      if (retry) retryAfterMs = elapsedMs(p, fwd.lastProbe!);
      else if (fwd.clockReset !== null) idleMs = elapsedMs(p, fwd.clockReset);
      const kind = retry ? "retry" : fwd.clockResetByAnswer ? "answered" : "idle";
      this.#probe(flow, fwd, side, p, kind, idleMs, retryAfterMs, false);
    } else if (label === "zero-window-probe") {
      fwd.zeroWindowProbes++;
    } else {
      const answering = rev.probePending && label !== "rst";
      if (answering) this.#answer(rev, p);
      // Whatever the peer accepted resets its keep-alive clock; data sent resets ours.
      resetClock(rev, p, answering);
      if (p.payloadLength > 0) resetClock(fwd, p, false);
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
      idleMs,
      retryAfterMs,
      deltaMs,
      relabel,
    };
  }

  /** Counts a keep-alive probe from `fwd`'s side. */
  #probe(
    flow: Flow,
    fwd: DirectionState,
    side: Side,
    p: DecodedPacket | (Stamp & { index: number; seq: number; payloadLength: number }),
    kind: ProbeGap,
    idleMs: number | null,
    retryAfterMs: number | null,
    relabeled: boolean,
  ): void {
    fwd.probes++;
    if (retryAfterMs !== null) (fwd.retryIntervals ??= new RunningSpread()).add(retryAfterMs);
    else if (idleMs !== null) (fwd.idleBeforeProbe ??= new RunningSpread()).add(idleMs);
    // No record at all unless they are kept: one per probe lives until the answer, long enough
    // that V8 took to allocating them straight in its old space (--trace-pretenuring): garbage.
    if (this.#keepProbes) {
      const probe: ProbeRecord = {
        index: p.index,
        tsMicros: p.tsMicros,
        tsSubMicroNanos: p.tsSubMicroNanos,
        by: side,
        payloadLength: p.payloadLength,
        kind,
        idleBeforeMs: idleMs,
        retryAfterMs,
        answered: false,
        answerDelayMs: null,
        relabeled,
      };
      if (relabeled) {
        const at = flow.probes.findIndex((q) => q.index > p.index);
        flow.probes.splice(at < 0 ? flow.probes.length : at, 0, probe);
      } else {
        flow.probes.push(probe);
      }
      fwd.pendingProbe = probe;
    }
    fwd.probePending = true; // an earlier probe still pending stays unanswered
    if (fwd.lastProbe === null) fwd.lastProbe = newStamp(p);
    else setStamp(fwd.lastProbe, p);
    fwd.lastProbeSeq = p.seq;
  }

  /** The peer's segment `p` answers `prober`'s pending probe. */
  #answer(prober: DirectionState, p: Stamp): void {
    const delay = elapsedMs(p, prober.lastProbe!);
    prober.probePending = false;
    if (prober.pendingProbe !== null) {
      prober.pendingProbe.answered = true;
      prober.pendingProbe.answerDelayMs = delay;
      prober.pendingProbe = null;
    }
    prober.probesAnswered++;
    (prober.answerDelays ??= new RunningSpread()).add(delay);
  }

  /**
   * The peer acknowledged seq + 1 of `prober`'s unproven first segment: it was a probe, a
   * keep-alive one unless the peer's window is 0.
   */
  #proveProbe(flow: Flow, prober: DirectionState, side: Side, zeroWindow: boolean): Relabel {
    const to: Label = zeroWindow ? "zero-window-probe" : "keepalive";
    const relabel: Relabel = { index: prober.unprovenIndex, from: prober.unprovenLabel, to };
    flow.labelCounts[prober.unprovenLabel]--;
    flow.labelCounts[to]++;
    prober.nextSeq = (prober.unprovenSeq + 1) >>> 0;
    prober.unprovenIndex = -1;
    if (zeroWindow) {
      prober.zeroWindowProbes++;
      prober.lastWasZeroWindowProbe = true;
      return relabel;
    }
    const at = prober.unprovenAt!;
    this.#probe(
      flow,
      prober,
      side,
      {
        index: prober.unprovenIndex,
        seq: prober.unprovenSeq,
        payloadLength: 0,
        tsMicros: at.tsMicros,
        tsSubMicroNanos: at.tsSubMicroNanos,
      },
      "idle",
      null,
      null,
      true,
    );
    prober.lastWasProbe = true;
    return relabel;
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

  /** After `p` was tracked on `flow`: lets it linger if the connection has just ended. */
  #maybeEnded(flow: Flow, p: DecodedPacket): void {
    if (
      flow.phase === "open" &&
      (flow.firstRst !== null || (flow.c2s.finEnd >= 0 && flow.s2c.finEnd >= 0))
    ) {
      flow.phase = "lingering";
      flow.lingerUntilMicros = p.tsMicros + LINGER_MS * 1000;
      this.#lingering.push(flow);
      if (++this.#lingerCount > MAX_LINGERING) this.#expireLingering(Infinity, 1);
    }
  }

  /**
   * Forgets the lingering flows whose time is up at capture time `nowMicros`, or (with `atMost`)
   * that many of the oldest whatever their time.
   */
  #expireLingering(nowMicros: number, atMost = Infinity): void {
    const queue = this.#lingering;
    let head = this.#lingerHead;
    let forgotten = 0;
    while (
      head < queue.length && forgotten < atMost && queue[head].lingerUntilMicros <= nowMicros
    ) {
      const flow = queue[head++];
      if (flow.phase === "lingering") {
        this.#forget(flow); // not if a new SYN on its 4-tuple came first
        forgotten++;
      }
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
    if (flow.phase === "lingering") this.#lingerCount--;
    flow.phase = "gone";
    if (this.#byKey.get(flow.key) === flow) this.#byKey.delete(flow.key);
    this.#held.delete(flow.id);
    this.#onEnded!(flow);
  }
}
