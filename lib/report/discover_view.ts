/** The human view of `tcpka discover`'s events (the JSON view is the events themselves). */
import type { DiscoverEvent, EventOf } from "../events.ts";

import type { Styler } from "./style.ts";

/** Seconds with two decimals under a minute, then minutes and seconds: measured, not configured. */
export function formatIdle(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s === 0 ? `${m}m` : `${m}m${String(s).padStart(2, "0")}s`;
}

/** A duration said before it happens: whole seconds, or whole minutes from a minute on. */
export function formatEstimate(ms: number): string {
  return ms < 60_000 ? `${Math.ceil(ms / 1000)}s` : `${Math.ceil(ms / 60_000)} min`;
}

export function formatRange(lowMs: number, highMs: number | null): string {
  return highMs === null
    ? `kept ≥ ${formatIdle(lowMs)}`
    : `${formatIdle(lowMs)} – ${formatIdle(highMs)}`;
}

const EDGE_TEXT = {
  "silent-drop": "silent drop: the probe vanished, nothing answered",
  reset: "reset: the probe was answered with an RST",
  "server-close": "the server closed the connection (FIN)",
  none: "nothing closed it",
} as const;

export function formatDiscoverEvent(event: DiscoverEvent, style: Styler): string[] {
  switch (event.type) {
    case "discovering": {
      const rungs = event.ladderMs;
      const ratio = rungs.length < 2 ? 1 : (rungs.at(-1)! / rungs[0]) ** (1 / (rungs.length - 1));
      return [
        `discovering how long ${style("bold", event.address)} keeps an idle connection: ` +
        `${rungs.length} idle times from ${formatIdle(rungs[0])} to ${formatIdle(rungs.at(-1)!)} ` +
        `(×${
          ratio.toFixed(2)
        } each), one connection each, at most ${event.connections} open at a time`,
        `each connection probes once (a bare ACK; no data is ever sent), then the range is ` +
        `refined to within ${Math.round(event.precision * 100)}%`,
        style(
          "dim",
          `this takes about 1.1× the first idle time the path does not survive, plus a little to ` +
            `refine it; at most about ${
              formatEstimate(event.worstMs)
            } (when nothing forgets the connections)`,
        ),
      ];
    }
    case "probe": {
      const range = `→ ${formatRange(event.lowMs, event.highMs)}`;
      if (event.outcome === "answered") {
        return [
          `#${event.id} probe after ${formatIdle(event.idleMs)} idle: ${
            style("green", "answered")
          }` + " " + style("dim", range),
        ];
      }
      const how = event.outcome === "reset"
        ? "answered with an RST"
        : event.by === "kernel"
        ? "no answer (the kernel gave up: ETIMEDOUT)"
        : "no answer";
      return [
        `#${event.id} probe after ${formatIdle(event.idleMs)} idle: ${style("red", how)} ` +
        style("dim", range),
      ];
    }
    case "ended":
      return [
        `#${event.id} ${
          event.edge === "server-close"
            ? "closed by the server (FIN)"
            : "reset (RST) before its probe"
        } after ${formatIdle(event.ageMs)} idle`,
      ];
    case "result":
      return formatResult(event, style);
  }
}

function formatResult(r: EventOf<"result">, style: Styler): string[] {
  const lines: string[] = [];
  const prefix = r.interrupted ? "Interrupted; so far" : "Result";
  if (r.edge === "none" && r.lowMs === 0) {
    lines.push(style("bold", `${prefix}: nothing known yet (no probe had been answered)`));
  } else if (r.edge === "none") {
    lines.push(
      style(
        "bold",
        `${prefix}: ${r.address} kept idle connections for at least ${formatIdle(r.lowMs)}`,
      ) +
        (r.interrupted ? "" : " (--max): nothing on the path or at the server forgot them"),
    );
  } else if (r.edge === "server-close") {
    lines.push(
      style(
        "bold",
        `${prefix}: the server closes connections idle for ${formatRange(r.lowMs, r.highMs)}`,
      ) +
        " — the server's own idle timeout, not the path's; keep-alive probes do not reset it " +
        "(send application data, or reconnect)",
    );
  } else {
    lines.push(
      style(
        "bold",
        `${prefix}: the path forgets an idle connection after ${formatRange(r.lowMs, r.highMs)}`,
      ),
    );
    lines.push(`  at the edge: ${EDGE_TEXT[r.edge]}`);
    if (r.rstHint) lines.push(`  who reset it: ${r.rstHint}`);
  }
  if (r.recommendation) {
    lines.push(
      `  keep connections alive across it (idle and interval ≤ half of ${formatIdle(r.lowMs)}):`,
      `    ${style("cyan", r.recommendation.client)}`,
      `    ${style("cyan", r.recommendation.sysctl)}`,
    );
  }
  lines.push(
    style(
      "dim",
      `  measured in ${formatIdle(r.elapsedMs)} (the longest idle waited for: ` +
        `${formatIdle(r.longestIdleMs)}), ${r.connectionsUsed} connections, precision ` +
        `${Math.round(r.precision * 100)}%`,
    ),
  );
  return lines;
}
