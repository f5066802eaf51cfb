/**
 * The human view of the event stream: one timestamped line per event; capture's packets one
 * aligned line each and its connection summaries a block each (packets.ts).
 */
import { type EndReason, type EventOf, FAILED_REASONS, type TcpkaEvent } from "../events.ts";
import type { KeepAliveReport, KeepAliveValues } from "../keepalive/mod.ts";
import { detectionTimeMs } from "../keepalive/settings.ts";
import { formatClock, formatDuration } from "../duration.ts";
import type { Styler } from "./style.ts";
import { formatConnectionSummary, PacketLines, readNotes } from "./packets.ts";
import { formatDiscoverEvent } from "./discover_view.ts";

const END_REASON_TEXT: Record<EndReason, string> = {
  "hold-expired": "closed by us after the hold time",
  "peer-closed": "closed by the peer (FIN)",
  "peer-reset": "reset by the peer (RST)",
  "timed-out": "timed out: the peer stopped answering (ETIMEDOUT)",
  "shutdown": "closed on shutdown",
  "echoed": "closed by us after the echo came back",
  "unexpected-reply": "closed by us after a reply that was not the echo",
  "error": "failed",
};

/**
 * Formats events as lines (without the trailing newline); none for events with no human view.
 * Stateful: it remembers repeated packet text, and sets connection summaries apart from packets
 * with a blank line.
 */
export class HumanView {
  readonly #style: Styler;
  readonly #label: string | undefined;
  readonly #packets: PacketLines;
  /** The last lines written were a connection summary. */
  #inSummaries = false;

  /** `label` names the source when several share one timeline (the demo's "client", "wire"). */
  constructor(style: Styler, label?: string) {
    this.#style = style;
    this.#label = label;
    this.#packets = new PacketLines(style);
  }

  format(event: TcpkaEvent): string[] {
    const style = this.#style;
    const label = this.#label;
    switch (event.type) {
      case "packet": {
        // Alone, a packet line carries the capture time to the microsecond, as tcpdump does.
        const line = label === undefined
          ? this.#packets.format(event, true)
          : this.#prefix(event.time) + this.#packets.format(event, false);
        if (!this.#inSummaries) return [line];
        this.#inSummaries = false;
        return ["", line];
      }
      case "connection-summary": {
        this.#packets.forget(event.flow);
        const lines = formatConnectionSummary(event, style);
        if (this.#inSummaries) return lines;
        this.#inSummaries = true;
        return ["", ...lines];
      }
      case "end": {
        const lines = event.connections === 0
          ? ["", `No TCP connections seen (${event.packets} TCP packets).`]
          : [];
        const notes = readNotes(event.unsupportedLinks, event.warnings);
        if (notes.length > 0) lines.push("", ...notes.map((n) => style("yellow", `note: ${n}`)));
        return lines;
      }
      case "capturing": // said on stderr by the capture role, so stdout keeps only packets
        return [];
    }
    const indent = " ".repeat(14 + (label ? LABEL_WIDTH + 1 : 0));
    const prefix = this.#prefix(event.time);
    return formatBody(event, style).map((line, i) => (i === 0 ? prefix : indent) + line);
  }

  #prefix(time: number): string {
    const label = this.#label;
    const tag = label ? this.#style("cyan", label.padEnd(LABEL_WIDTH)) + " " : "";
    return this.#style("dim", formatClock(time)) + "  " + tag;
  }
}

/** Width of the source column in shared timelines ("client", "server", "wire", "kernel"). */
export const LABEL_WIDTH = 6;

type RoleEvent = Exclude<
  TcpkaEvent,
  { type: "packet" | "connection-summary" | "end" | "capturing" }
>;

function formatBody(event: RoleEvent, style: Styler): string[] {
  switch (event.type) {
    case "listening":
      return [
        `listening on ${style("bold", event.address)} (keep-alive ${
          event.keepalive ? "on for accepted connections" : "off; pass --period to turn it on"
        })`,
      ];
    case "connecting":
      return [
        `connecting to ${style("bold", event.address)}: ${event.connections} connection${
          event.connections === 1 ? "" : "s"
        }, hold ${event.holdMs === 0 ? "until the peer closes" : formatDuration(event.holdMs)}`,
      ];
    case "connected":
      return [`#${event.id} connected ${event.local} → ${event.remote}`];
    case "connect-failed":
      return [style("red", `#${event.id} could not connect to ${event.remote}: ${event.error}`)];
    case "keepalive":
      return formatKeepAlive(event.id, event.report, style);
    case "sent":
      return [
        `#${event.id} sent ${event.bytes} bytes after ${formatDuration(event.afterIdleMs)} idle`,
      ];
    case "echo":
      return [
        style(
          "green",
          `#${event.id} echo received (${event.bytes} bytes, round trip ${
            formatDuration(event.rttMs)
          })`,
        ),
      ];
    case "unexpected-reply":
      return [
        style(
          "red",
          `#${event.id} unexpected reply (${event.bytes} bytes, round trip ${
            formatDuration(event.rttMs)
          }): ${JSON.stringify(event.text)}`,
        ),
      ];
    case "warning":
      return [style("yellow", `warning: ${event.message}`)];
    case "data":
      return [
        `#${event.id} ${event.direction === "in" ? "received" : "sent"} ${event.bytes} bytes`,
      ];
    case "closed": {
      const text = `#${event.id} ${END_REASON_TEXT[event.reason]}${
        event.error && event.reason === "error" ? `: ${event.error}` : ""
      } (open ${formatDuration(event.durationMs)})`;
      const failed = FAILED_REASONS.has(event.reason);
      return [failed ? style("red", text) : text];
    }
    case "summary":
      return [formatSummary(event, style)];
    case "discovering":
    case "probe":
    case "ended":
    case "result":
      return formatDiscoverEvent(event, style);
  }
}

function formatKeepAlive(id: number, report: KeepAliveReport, style: Styler): string[] {
  const lines: string[] = [];
  if (!report.enabled) {
    lines.push(`#${id} keep-alive ${style("yellow", "off")}${sourceText(report)}`);
  } else {
    const values = formatValues(report.effective);
    const detect = detectionTimeMs(report.effective, report.userTimeoutMs);
    lines.push(
      `#${id} keep-alive ${style("green", "on")}${sourceText(report)}: ${style("bold", values)}` +
        (detect === null
          ? ""
          : ` → a silent peer is declared dead after ${formatDuration(detect)}`),
    );
  }
  if (report.userTimeoutMs !== undefined) {
    lines.push(
      `#${id} unacknowledged data is given up after ${
        formatDuration(report.userTimeoutMs)
      } (TCP_USER_TIMEOUT, read back)`,
    );
  }
  for (const note of report.notes) lines.push(style("yellow", `note: ${note}`));
  return lines;
}

function sourceText(report: KeepAliveReport): string {
  switch (report.source) {
    case "socket":
      return " (read back from the socket)";
    case "as-set":
      return " (as set; not all readable back from the socket)";
    case "system-defaults":
      return " (system defaults)";
    case "unknown":
      return "";
  }
}

function formatValues(values: KeepAliveValues): string {
  const t = (ms: number | null) => (ms === null ? "?" : formatDuration(ms));
  return `idle ${t(values.idleMs)}, interval ${t(values.intervalMs)}, count ${values.count ?? "?"}`;
}

function formatSummary(event: EventOf<"summary">, style: Styler): string {
  const ended = Object.entries(event.ended)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(", ");
  const failed = event.failedToConnect > 0
    ? style("red", `, ${event.failedToConnect} failed to connect`)
    : "";
  const noun = event.role === "server" ? "accepted" : "opened";
  const reset = event.resetBeforeAccept ? `, ${event.resetBeforeAccept} reset before accept` : "";
  return style("bold", "summary: ") +
    `${event.connections} connection${event.connections === 1 ? "" : "s"} ${noun}${failed}` +
    reset + (ended ? `; ended: ${ended}` : "");
}
