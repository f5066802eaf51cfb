/**
 * The label of one segment from the state of its connection before it, the way Wireshark's
 * SEQ/ACK analysis would (tcp.analysis.keep_alive, keep_alive_ack, zero_window_probe,
 * zero_window_probe_ack, duplicate_ack, window_update, retransmission), with the handshake and
 * teardown named too, and the state updates that follow it.
 */
import { type DecodedPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../pcap/packet.ts";
import type { DirectionState, Flow, Label } from "./flow.ts";

/** a < b in 32-bit sequence space (RFC 1982 style: within 2^31 of each other). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function scaledWindow(p: DecodedPacket, flow: Flow, fwd: DirectionState): number {
  // Scaling applies only once both SYNs announced it, and never to SYNs.
  if (p.flags & TCP_SYN || flow.c2s.wscale < 0 || flow.s2c.wscale < 0) return p.window;
  return p.window * 2 ** Math.min(fwd.wscale, 14);
}

/** The label of `p`, from the state before it; `fwd` is its sender's direction. */
export function classify(
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
  if (len <= 1 && !fin) {
    // A peer advertising window 0 gets persist-timer probes, which look like keep-alive probes
    // (Linux: no data, seq = snd_una - 1) or carry the next byte (Wireshark's rule), and are not.
    if (rev.window === 0 && (isProbe(seq, fwd, rev) || (len === 1 && seq === fwd.nextSeq))) {
      return "zero-window-probe";
    }
    if (isProbe(seq, fwd, rev)) return "keepalive";
  }
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
  if (rev.lastWasZeroWindowProbe && window === 0) return "zero-window-probe-ack";
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
export function advance(p: DecodedPacket, fwd: DirectionState, label: Label, window: number): void {
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
    if (label === "keepalive" || (label === "zero-window-probe" && p.payloadLength === 0)) {
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
  fwd.lastWasZeroWindowProbe = label === "zero-window-probe";
}

/** Records FINs and their acknowledgement, which is how a clean close is recognised. */
export function noteClose(p: DecodedPacket, fwd: DirectionState, rev: DirectionState): void {
  if (p.flags & TCP_FIN && fwd.finEnd < 0) {
    const syn = p.flags & TCP_SYN ? 1 : 0;
    fwd.finEnd = (p.seq + syn + p.payloadLength + 1) >>> 0;
  }
  if (p.flags & TCP_ACK && rev.finEnd >= 0 && !rev.finAcked && !seqLt(p.ack, rev.finEnd)) {
    rev.finAcked = true;
  }
}
