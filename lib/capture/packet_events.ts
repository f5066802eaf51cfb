/**
 * Labelled packets and connection summaries as events (lib/events.ts), for the one output path:
 * the same human and JSON reporters as every other event.
 */
import type { ConnectionSummaryEvent, PacketEvent } from "../events.ts";
import type { LabeledPacket } from "../flow/tracker.ts";
import type { FlowSummary } from "../flow/summary.ts";
import { formatFlags } from "../pcap/packet.ts";
import { formatEndpoint } from "../ip.ts";

export class PacketEvents {
  /**
   * Endpoint text per connection and direction (flowId × 2 + direction), made once: formatting
   * addresses is much of the cost of reading a large capture. Dropped with the connection's
   * summary, so this follows the connections open, not all those seen.
   */
  readonly #endpoints = new Map<number, [string, string]>();

  packet(lp: LabeledPacket): PacketEvent {
    const p = lp.packet;
    const slot = lp.flowId * 2 + (lp.direction === "c2s" ? 0 : 1);
    let ends = this.#endpoints.get(slot);
    if (ends === undefined) {
      ends = [formatEndpoint(p.src, p.srcPort), formatEndpoint(p.dst, p.dstPort)];
      this.#endpoints.set(slot, ends);
    }
    return {
      type: "packet",
      time: p.tsMicros / 1000,
      flow: lp.flowId + 1,
      src: ends[0],
      dst: ends[1],
      direction: lp.direction,
      flags: formatFlags(p.flags),
      label: lp.label,
      bytes: lp.bytes,
      seq: p.seq,
      ack: p.ack,
      frame: p.index + 1,
      deltaMs: lp.deltaMs,
      idleMs: lp.idleMs,
      retryAfterMs: lp.retryAfterMs,
      encap: p.encap,
      relabel: lp.relabel === null
        ? null
        : { packet: lp.relabel.index + 1, from: lp.relabel.from, to: lp.relabel.to },
    };
  }

  summary(s: FlowSummary): ConnectionSummaryEvent {
    this.#endpoints.delete(s.flowId * 2);
    this.#endpoints.delete(s.flowId * 2 + 1);
    return { type: "connection-summary", time: s.endMicros / 1000, ...s, flow: s.flowId + 1 };
  }
}
