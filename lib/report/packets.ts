/** The human view of capture's events: one aligned line per packet, a block per connection. */
import type { ConnectionSummaryEvent, PacketEvent } from "../events.ts";
import type { Label } from "../flow/tracker.ts";
import type { Spread } from "../flow/summary.ts";
import { formatEndpoint } from "../ip.ts";
import { formatClock, formatDuration } from "../duration.ts";
import type { Styler } from "./style.ts";
import type { ReadWarnings, UnsupportedLink } from "../pcap/decoder.ts";

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

function detail(e: PacketEvent): string {
  const parts: string[] = [];
  if (e.label === "keepalive") {
    if (e.retryAfterMs !== null) {
      parts.push(`retry, ${formatDuration(e.retryAfterMs)} after the unanswered probe`);
    } else if (e.idleMs !== null) parts.push(`after ${formatDuration(e.idleMs)} idle`);
  } else {
    if (e.relabel !== null) {
      parts.push(`proves packet ${e.relabel.packet} was a ${LABEL_TEXT[e.relabel.to]}`);
    }
    if (e.label === "data" || (e.label === "retransmission" && e.bytes > 0)) {
      parts.push(`${e.bytes} B`);
    }
    if (e.deltaMs !== null) parts.push(`+${formatDuration(e.deltaMs)}`);
  }
  if (e.encap !== null) parts.push(`via ${e.encap}`);
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
  if (s.probesSent === 0) row("keep-alive", "no probes seen");
  // Per prober: when both sides probe, each has its own timing (lib/keepalive/timing.ts).
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
    : `${s.end.kind.toUpperCase()} from the ${s.end.by} at ${formatDuration(s.end.atMs ?? 0)}`;
  row("ended", s.end.kind === "rst" ? style("red", end) : end);
  row("data", `${s.dataBytesC2S} B client → server, ${s.dataBytesS2C} B server → client`);
  return lines;
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
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const notes = unsupportedLinks.map((l) =>
    `${count(l.packets, "packet", "packets")} of link type ${l.name} (${l.linkType}) ${
      l.packets === 1 ? "was" : "were"
    } not decoded`
  );
  if (warnings.truncatedToSnaplen > 0) {
    notes.push(
      `${count(warnings.truncatedToSnaplen, "record was", "records were")} longer than the ` +
        "snap length and read truncated to it, as libpcap does",
    );
  }
  if (warnings.timeWentBack > 0) {
    notes.push(
      `${count(warnings.timeWentBack, "packet", "packets")} stamped earlier than the packet ` +
        "before it: times are as recorded, lifetimes never negative",
    );
  }
  if (warnings.invalidSubsecond > 0) {
    notes.push(
      `${count(warnings.invalidSubsecond, "packet has", "packets have")} an invalid ` +
        `sub-second time (tcpdump prints "invalid"): kept within its second`,
    );
  }
  return notes;
}
