/** The human view of the event stream: one timestamped line per event. */
import { type EndReason, type EventOf, FAILED_REASONS, type TcpkaEvent } from "../events.ts";
import type { KeepAliveReport, KeepAliveValues } from "../keepalive/mod.ts";
import { detectionTimeMs } from "../keepalive/settings.ts";
import { formatDuration } from "../duration.ts";

type Styler = (style: "red" | "green" | "yellow" | "dim" | "bold" | "cyan", text: string) => string;

export const END_REASON_TEXT: Record<EndReason, string> = {
  "hold-expired": "closed by us after the hold time",
  "peer-closed": "closed by the peer (FIN)",
  "peer-reset": "reset by the peer (RST)",
  "timed-out": "timed out: the peer stopped answering (ETIMEDOUT)",
  "shutdown": "closed on shutdown",
  "echoed": "closed by us after the echo came back",
  "unexpected-reply": "closed by us after a reply that was not the echo",
  "error": "failed",
};

export function clockTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    pad(d.getMilliseconds(), 3)
  }`;
}

/** Formats an event as lines (without the trailing newline); empty for events with no human view. */
export function formatEvent(event: TcpkaEvent, style: Styler, label?: string): string[] {
  const tag = label ? style("cyan", label.padEnd(LABEL_WIDTH)) + " " : "";
  const prefix = style("dim", clockTime(event.time)) + "  " + tag;
  const indent = " ".repeat(14 + (label ? LABEL_WIDTH + 1 : 0));
  const lines = formatBody(event, style);
  return lines.map((line, i) => (i === 0 ? prefix : indent) + line);
}

/** Width of the source column in shared timelines ("client", "server", "wire", "kernel"). */
export const LABEL_WIDTH = 6;

function formatBody(event: TcpkaEvent, style: Styler): string[] {
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
        `#${event.id} sent ${event.bytes} bytes after ${formatSeconds(event.afterIdleMs)} idle`,
      ];
    case "echo":
      return [
        style(
          "green",
          `#${event.id} echo received (${event.bytes} bytes, round trip ${
            event.rttMs.toFixed(1)
          }ms)`,
        ),
      ];
    case "unexpected-reply":
      return [
        style(
          "red",
          `#${event.id} unexpected reply (${event.bytes} bytes, round trip ${
            event.rttMs.toFixed(1)
          }ms): ${JSON.stringify(event.text)}`,
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
      } (open ${formatSeconds(event.durationMs)})`;
      const failed = FAILED_REASONS.has(event.reason);
      return [failed ? style("red", text) : text];
    }
    case "summary":
      return [formatSummary(event, style)];
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

export function formatValues(values: KeepAliveValues): string {
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

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}
