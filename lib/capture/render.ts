/** Human and JSON views of labelled packets and per-connection summaries. */
import type { Label, LabeledPacket } from "../flow/tracker.ts";
import type { FlowSummary, Spread } from "../flow/summary.ts";
import { formatFlags } from "../pcap/packet.ts";
import type { ReadWarnings, UnsupportedLink } from "../pcap/decoder.ts";
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
  "zero-window-probe": "zero-window probe",
  "zero-window-probe-ack": "zero-window ACK",
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
  "zero-window-probe": "blue",
  "zero-window-probe-ack": "blue",
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
  // Only a capture whose times go backwards gives a negative span: shown, not hidden.
  if (ms < 0) return `−${seconds(-ms)}`;
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`;
  return `${(ms / 1000).toFixed(3)}s`;
}

function detail(lp: LabeledPacket): string {
  if (lp.label === "keepalive") {
    if (lp.retryAfterMs !== null) {
      return `retry, ${seconds(lp.retryAfterMs)} after the unanswered probe`;
    }
    if (lp.idleMs !== null) return `after ${seconds(lp.idleMs)} idle`;
    return "";
  }
  const parts: string[] = [];
  if (lp.relabel !== null) {
    parts.push(`proves packet ${lp.relabel.index + 1} was a ${LABEL_TEXT[lp.relabel.to]}`);
  }
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
    const extra = p.encap === null ? detail(lp) : `${detail(lp)}  via ${p.encap}`.trimStart();
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
    /** Wireshark's frame number: the record's position in the file, from 1. */
    frame: p.index + 1,
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
    idleMs: lp.idleMs,
    retryAfterMs: lp.retryAfterMs,
    encap: p.encap,
    // Wireshark's frame number of the earlier packet this one proved to be something else.
    relabel: lp.relabel === null
      ? null
      : { packet: lp.relabel.index + 1, from: lp.relabel.from, to: lp.relabel.to },
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
  if (s.probesSent === 0) row("keep-alive", "no probes seen");
  for (const side of ["client", "server"] as const) {
    const f = s.probesBy[side];
    if (f === null) continue;
    const unanswered = f.unanswered > 0
      ? style("red", `${f.unanswered} unanswered`)
      : "0 unanswered";
    row(
      "keep-alive",
      `probes by the ${side}: ${f.sent} sent, ${f.answered} answered, ${unanswered}`,
    );
    const timing = [
      f.idleBeforeProbe ? `idle before each probe ${spreadText(f.idleBeforeProbe)}` : null,
      f.retryInterval ? `unanswered, retried every ${spreadText(f.retryInterval)}` : null,
    ].filter(Boolean).join("; ");
    if (timing) row("timing", s.probingSides === "both" ? `${side}: ${timing}` : timing);
  }
  for (const side of ["client", "server"] as const) {
    const n = s.zeroWindowProbesBy[side];
    if (n === 0) continue;
    const peer = side === "client" ? "server" : "client";
    row(
      "zero window",
      `${n} zero-window probe${n === 1 ? "" : "s"} by the ${side} (the ${peer} advertised ` +
        "window 0): not keep-alive",
    );
  }
  const end = s.end.kind === "open"
    ? "still open when the capture ended"
    : `${s.end.kind.toUpperCase()} from the ${s.end.by} at ${seconds(s.end.atMs ?? 0)}`;
  row("ended", s.end.kind === "rst" ? style("red", end) : end);
  row("data", `${s.dataBytesC2S} B client → server, ${s.dataBytesS2C} B server → client`);
  return lines;
}

export function summaryJson(s: FlowSummary): Record<string, unknown> {
  return { type: "summary", ...s, flow: s.flowId + 1 };
}

/**
 * What the reader read through or could not decode, one line each: packets of link types it does
 * not decode (named: a silent "no TCP connections" would hide them), records cut to the snap
 * length, timestamps out of order or out of range.
 */
export function readNotes(
  unsupportedLinks: readonly UnsupportedLink[],
  warnings: Readonly<ReadWarnings>,
): string[] {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const notes = unsupportedLinks.map((l) =>
    `${plural(l.packets, "packet", "packets")} of link type ${l.name} (${l.linkType}) ${
      l.packets === 1 ? "was" : "were"
    } not decoded`
  );
  if (warnings.truncatedToSnaplen > 0) {
    notes.push(
      `${
        plural(warnings.truncatedToSnaplen, "record was", "records were")
      } longer than the snap length and read truncated to it, as libpcap does`,
    );
  }
  if (warnings.timeWentBack > 0) {
    notes.push(
      `${
        plural(warnings.timeWentBack, "packet", "packets")
      } stamped earlier than the packet before it: times around ${
        warnings.timeWentBack === 1 ? "it" : "them"
      } are as recorded, lifetimes never negative`,
    );
  }
  if (warnings.invalidSubsecond > 0) {
    notes.push(
      `${
        plural(warnings.invalidSubsecond, "packet has", "packets have")
      } an invalid sub-second time (tcpdump prints "invalid"): kept within its second`,
    );
  }
  return notes;
}
