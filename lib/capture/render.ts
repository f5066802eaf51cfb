/** Human and JSON views of labelled packets and per-connection summaries. */
import type { Label, LabeledPacket } from "../flow/tracker.ts";
import type { FlowSummary, Spread } from "../flow/summary.ts";
import { formatFlags } from "../pcap/packet.ts";
import { formatEndpoint } from "../net/ip.ts";
import type { makeStyler } from "../report/style.ts";

type Styler = ReturnType<typeof makeStyler>;

const LABEL_TEXT: Record<Label, string> = {
  "syn": "SYN",
  "syn-ack": "SYN-ACK",
  "handshake-ack": "handshake ACK",
  "data": "data",
  "keepalive": "keep-alive probe",
  "keepalive-ack": "keep-alive ACK",
  "fin": "FIN",
  "rst": "RST",
  "retransmission": "retransmission",
  "dup-ack": "duplicate ACK",
  "window-update": "window update",
  "ack": "ACK",
};

const LABEL_STYLE: Partial<Record<Label, Parameters<Styler>[0]>> = {
  "keepalive": "yellow",
  "keepalive-ack": "green",
  "rst": "red",
  "fin": "magenta",
  "syn": "cyan",
  "syn-ack": "cyan",
  "handshake-ack": "cyan",
  "retransmission": "red",
};

/** Wall-clock time with microseconds, local time zone: the precision tcpdump prints. */
export function clockMicros(tsMicros: number): string {
  const d = new Date(Math.floor(tsMicros / 1000));
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    pad(Math.floor(tsMicros % 1_000_000), 6)
  }`;
}

export function seconds(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`;
  return `${(ms / 1000).toFixed(3)}s`;
}

function detail(lp: LabeledPacket): string {
  if (lp.label === "keepalive") {
    if (lp.sincePrevProbeMs !== null) {
      return `${seconds(lp.sincePrevProbeMs)} after the previous probe`;
    }
    if (lp.sinceFlowLastActivityMs !== null) {
      return `after ${seconds(lp.sinceFlowLastActivityMs)} idle`;
    }
    return "";
  }
  const parts: string[] = [];
  if (lp.label === "data" || (lp.label === "retransmission" && lp.bytes > 0)) {
    parts.push(`${lp.bytes} B`);
  }
  if (lp.deltaMs !== null) parts.push(`+${seconds(lp.deltaMs)}`);
  return parts.join("  ");
}

/**
 * One aligned line per packet: time, connection, endpoints with an arrow, flags, label, timing.
 * It remembers what repeats (a connection's endpoint text, the clock down to the second), since
 * formatting is most of the cost of reading a large capture.
 */
export class PacketFormatter {
  readonly #style: Styler;
  readonly #withTime: boolean;
  /** Per connection and direction: "#N src → dst" padded. */
  readonly #endpoints: string[] = [];
  #second = -1;
  #clock = "";

  constructor(style: Styler, withTime = true) {
    this.#style = style;
    this.#withTime = withTime;
  }

  format(lp: LabeledPacket): string {
    const p = lp.packet;
    const slot = lp.flowId * 2 + (lp.direction === "c2s" ? 0 : 1);
    let endpoints = this.#endpoints[slot];
    if (endpoints === undefined) {
      const src = formatEndpoint(p.src, p.srcPort);
      const dst = formatEndpoint(p.dst, p.dstPort);
      endpoints = this.#endpoints[slot] = `#${lp.flowId + 1} ${`${src} → ${dst}`.padEnd(33)}`;
    }
    const label = LABEL_TEXT[lp.label].padEnd(16);
    const labelStyle = LABEL_STYLE[lp.label];
    const time = this.#withTime ? `${this.#style("dim", this.#clockOf(p.tsMicros))}  ` : "";
    const extra = detail(lp);
    return `${time}${endpoints} ${formatFlags(p.flags).padEnd(3)} ${
      labelStyle ? this.#style(labelStyle, label) : label
    }${extra ? " " + this.#style("dim", extra) : ""}`.trimEnd();
  }

  #clockOf(tsMicros: number): string {
    const second = Math.floor(tsMicros / 1_000_000);
    if (second !== this.#second) {
      this.#second = second;
      this.#clock = clockMicros(second * 1_000_000).slice(0, 9);
    }
    return this.#clock + String(Math.floor(tsMicros % 1_000_000)).padStart(6, "0");
  }
}

export function packetJson(lp: LabeledPacket): Record<string, unknown> {
  const p = lp.packet;
  return {
    type: "packet",
    time: p.tsMicros / 1000,
    flow: lp.flowId + 1,
    src: formatEndpoint(p.src, p.srcPort),
    dst: formatEndpoint(p.dst, p.dstPort),
    direction: lp.direction,
    flags: formatFlags(p.flags),
    label: lp.label,
    bytes: lp.bytes,
    seq: p.seq,
    ack: p.ack,
    deltaMs: lp.deltaMs,
    idleMs: lp.label === "keepalive" ? lp.sinceFlowLastActivityMs : null,
    sincePrevProbeMs: lp.sincePrevProbeMs,
  };
}

function spreadText(s: Spread): string {
  return s.count === 1
    ? seconds(s.medianMs)
    : `median ${seconds(s.medianMs)} (${seconds(s.minMs)}–${seconds(s.maxMs)}, σ ${
      seconds(s.stdevMs)
    })`;
}

export function formatSummary(s: FlowSummary, style: Styler): string[] {
  const client = formatEndpoint(s.client.addr, s.client.port);
  const server = formatEndpoint(s.server.addr, s.server.port);
  const roles = s.rolesFromHandshake
    ? "client → server"
    : "first speaker → peer (no handshake seen)";
  const lines = [
    style("bold", `Connection #${s.flowId + 1}: ${client} → ${server}`) +
    ` (${roles}, ${s.packets} packets, lifetime ${seconds(s.lifetimeMs)})`,
  ];
  const row = (name: string, text: string) => lines.push(`  ${name.padEnd(11)} ${text}`);
  if (s.probesSent === 0) {
    row("keep-alive", "no probes seen");
  } else {
    const who = s.prober === "both" ? "both sides" : `the ${s.prober}`;
    const unanswered = s.probesUnanswered > 0
      ? style("red", `${s.probesUnanswered} unanswered`)
      : "0 unanswered";
    row(
      "keep-alive",
      `probes by ${who}: ${s.probesSent} sent, ${s.probesAnswered} answered, ${unanswered}`,
    );
    const timing = [
      s.idleBeforeFirstProbeMs !== null
        ? `first probe after ${seconds(s.idleBeforeFirstProbeMs)} idle`
        : null,
      s.probeInterval ? `interval ${spreadText(s.probeInterval)}` : null,
    ].filter(Boolean).join("; ");
    if (timing) row("timing", timing);
  }
  const end = s.end.kind === "open"
    ? "still open when the capture ended"
    : `${s.end.kind.toUpperCase()} from the ${s.end.by} at ${seconds(s.end.atMs ?? 0)}`;
  row("ended", s.end.kind === "rst" ? style("red", end) : end);
  row("data", `${s.dataBytesC2S} B client → server, ${s.dataBytesS2C} B server → client`);
  return lines;
}

export function summaryJson(s: FlowSummary): Record<string, unknown> {
  return { type: "connection-summary", time: s.endMicros / 1000, ...s, flow: s.flowId + 1 };
}
