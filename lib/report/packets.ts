/** The human view of capture's events: one aligned line per packet, a block per connection. */
import type { ConnectionSummaryEvent, PacketEvent } from "../events.ts";
import type { Label } from "../flow/tracker.ts";
import type { Spread } from "../flow/summary.ts";
import { formatEndpoint } from "../ip.ts";
import { formatClock, formatDuration } from "../duration.ts";
import type { Styler } from "./style.ts";

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

function detail(e: PacketEvent): string {
  if (e.label === "keepalive") {
    if (e.sincePrevProbeMs !== null) {
      return `${formatDuration(e.sincePrevProbeMs)} after the previous probe`;
    }
    if (e.idleMs !== null) return `after ${formatDuration(e.idleMs)} idle`;
    return "";
  }
  const parts: string[] = [];
  if (e.label === "data" || (e.label === "retransmission" && e.bytes > 0)) {
    parts.push(`${e.bytes} B`);
  }
  if (e.deltaMs !== null) parts.push(`+${formatDuration(e.deltaMs)}`);
  return parts.join("  ");
}

/**
 * One aligned line per packet: connection, endpoints with an arrow, flags, label, timing; with
 * `clock`, the capture time to the microsecond first. It remembers what repeats (a connection's
 * endpoint column, the clock down to the second), since formatting is most of the cost of reading
 * a large capture; `forget` drops a connection that has ended.
 */
export class PacketLines {
  readonly #style: Styler;
  /** Per connection and direction: "#N src → dst" padded. */
  readonly #endpoints = new Map<number, string>();
  #second = -1;
  #clock = "";

  constructor(style: Styler) {
    this.#style = style;
  }

  format(e: PacketEvent, clock: boolean): string {
    const slot = e.flow * 2 + (e.direction === "c2s" ? 0 : 1);
    let endpoints = this.#endpoints.get(slot);
    if (endpoints === undefined) {
      endpoints = `#${e.flow} ${`${e.src} → ${e.dst}`.padEnd(33)}`;
      this.#endpoints.set(slot, endpoints);
    }
    const label = LABEL_TEXT[e.label].padEnd(16);
    const labelStyle = LABEL_STYLE[e.label];
    const time = clock ? `${this.#style("dim", this.#clockOf(e.time))}  ` : "";
    const extra = detail(e);
    return `${time}${endpoints} ${e.flags.padEnd(3)} ${
      labelStyle ? this.#style(labelStyle, label) : label
    }${extra ? " " + this.#style("dim", extra) : ""}`.trimEnd();
  }

  forget(flow: number): void {
    this.#endpoints.delete(flow * 2);
    this.#endpoints.delete(flow * 2 + 1);
  }

  #clockOf(epochMs: number): string {
    const second = Math.floor(epochMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#clock = formatClock(second * 1000, true).slice(0, 9);
    }
    return this.#clock + String(Math.round(epochMs * 1000) % 1_000_000).padStart(6, "0");
  }
}

function spreadText(s: Spread): string {
  return s.count === 1
    ? formatDuration(s.medianMs)
    : `median ${formatDuration(s.medianMs)} (${formatDuration(s.minMs)}–${
      formatDuration(s.maxMs)
    }, σ ${formatDuration(s.stdevMs)})`;
}

export function formatConnectionSummary(s: ConnectionSummaryEvent, style: Styler): string[] {
  const client = formatEndpoint(s.client.addr, s.client.port);
  const server = formatEndpoint(s.server.addr, s.server.port);
  const roles = s.rolesFromHandshake
    ? "client → server"
    : "first speaker → peer (no handshake seen)";
  const lines = [
    style("bold", `Connection #${s.flow}: ${client} → ${server}`) +
    ` (${roles}, ${s.packets} packets, lifetime ${formatDuration(s.lifetimeMs)})`,
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
        ? `first probe after ${formatDuration(s.idleBeforeFirstProbeMs)} idle`
        : null,
      s.probeInterval ? `interval ${spreadText(s.probeInterval)}` : null,
    ].filter(Boolean).join("; ");
    if (timing) row("timing", timing);
  }
  const end = s.end.kind === "open"
    ? "still open when the capture ended"
    : `${s.end.kind.toUpperCase()} from the ${s.end.by} at ${formatDuration(s.end.atMs ?? 0)}`;
  row("ended", s.end.kind === "rst" ? style("red", end) : end);
  row("data", `${s.dataBytesC2S} B client → server, ${s.dataBytesS2C} B server → client`);
  return lines;
}
