/** The human view of a SetReport: before → after per socket, and a summary. */
import { formatDuration } from "../duration.ts";
import { formatEndpoint } from "../ip.ts";
import type { OptionChange, SocketOptionsRead } from "./socket_copy.ts";
import { keepAliveText } from "./human.ts";
import type { SetReport } from "./set_live.ts";

type Style = (style: "bold" | "dim" | "red" | "yellow" | "green", text: string) => string;

export function describeChange(c: OptionChange): string {
  const parts: string[] = [];
  if (c.enabled === false) parts.push("keep-alive off");
  if (c.enabled === true) parts.push("keep-alive on");
  if (c.idleMs !== undefined) parts.push(`idle ${formatDuration(c.idleMs)}`);
  if (c.intervalMs !== undefined) parts.push(`interval ${formatDuration(c.intervalMs)}`);
  if (c.count !== undefined) parts.push(`count ${c.count}`);
  if (c.userTimeoutMs !== undefined) {
    parts.push(`user timeout ${formatDuration(c.userTimeoutMs)}`);
  }
  return parts.join(", ");
}

function optionsText(read: SocketOptionsRead | null): string {
  if (!read) return "-";
  return keepAliveText({ source: "socket", ...read });
}

export function renderSet(report: SetReport, style: Style): string[] {
  const who = `${report.command ?? "process"} (pid ${report.pid})`;
  const ns = report.namespace.pid === null
    ? "tcpka's own network namespace"
    : `its network namespace${report.namespace.name ? ` (${report.namespace.name})` : ""}`;
  const lines = [
    style(
      "bold",
      `» ${report.dryRun ? "dry run: would set" : "setting"} ${describeChange(report.change)} ` +
        `on ${who}'s sockets, in ${ns}`,
    ),
  ];
  if (report.namespace.fallback) lines.push(style("yellow", `» ${report.namespace.fallback}`));
  if (report.results.length === 0) {
    lines.push(`no matching TCP sockets of pid ${report.pid}`);
    return lines;
  }
  const head = ["fd", "connection", "state", "before", "after", "result"];
  const rows = report.results.map((r) => [
    String(r.fd),
    `${formatEndpoint(r.socket.local, r.socket.localPort)} → ${
      r.socket.state === "LISTEN" ? "*" : formatEndpoint(r.socket.peer, r.socket.peerPort)
    }`,
    r.socket.state,
    optionsText(r.before),
    optionsText(report.dryRun ? null : r.after),
    r.outcome + (r.why ? `: ${r.why}` : ""),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((row) => row[i].length)));
  const fmt = (row: string[]) =>
    "  " + row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(style("dim", fmt(head)));
  report.results.forEach((r, i) => {
    const text = fmt(rows[i]);
    lines.push(
      r.outcome === "skipped" || r.outcome === "failed" || (!r.holds && !report.dryRun)
        ? style("red", text)
        : text,
    );
  });
  const count = (o: string) => report.results.filter((r) => r.outcome === o).length;
  const skipped = report.results.filter((r) => r.outcome === "skipped");
  lines.push(
    report.dryRun
      ? `summary: ${count("would-change")} would change, ${count("unchanged")} already hold it, ` +
        `${skipped.length} skipped (dry run: nothing was changed)`
      : `summary: ${count("changed")} changed, ${count("unchanged")} unchanged, ` +
        `${skipped.length} skipped, ${count("failed")} failed`,
  );
  for (const r of skipped) lines.push(style("yellow", `  skipped fd ${r.fd}: ${r.why}`));
  return lines;
}
