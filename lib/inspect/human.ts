/** The human view of an InspectReport: one table per process, most at-risk first. */
import { formatApprox, formatDuration } from "../duration.ts";
import { formatEndpoint } from "../ip.ts";
import type {
  InspectedConnection,
  InspectReport,
  KeepAliveReading,
  ProcessGroup,
} from "./model.ts";
import { isAtRisk } from "./verdict.ts";

type Style = (style: "bold" | "dim" | "red" | "yellow" | "green", text: string) => string;

export function renderInspect(report: InspectReport, style: Style): string[] {
  const lines: string[] = [];
  const total = report.groups.reduce((n, g) => n + g.connections.length, 0);
  const processes = report.groups.filter((g) => g.pid !== null).length;
  const hidden = report.groups.find((g) => g.pid === null)?.connections.length ?? 0;
  const timeout = report.pathTimeoutMs;
  lines.push(style("bold", `» ${namespaceText(report)}; ${accessText(report)}`));
  if (report.namespace.fallback) lines.push(style("yellow", `» ${report.namespace.fallback}`));
  if (report.access.note && report.access.source !== "socket") {
    lines.push(style("yellow", `» inferred because: ${report.access.note}`));
  }
  for (const group of report.groups) {
    lines.push("");
    lines.push(style("bold", groupTitle(group, timeout)));
    if (group.note) lines.push(style("dim", `  values inferred: ${group.note}`));
    lines.push(...table(group.connections, timeout, style));
  }
  const atRisk = report.groups.reduce((n, g) => n + g.connections.filter(isAtRisk).length, 0);
  lines.push("");
  lines.push(
    `${total} connection${total === 1 ? "" : "s"} in ${processes} process${
      processes === 1 ? "" : "es"
    }${hidden ? ` and ${hidden} without a visible process` : ""}` +
      (timeout === null
        ? " (add --path-timeout D for a verdict per connection)"
        : `, ${atRisk} at risk behind a ${formatDuration(timeout)} idle timeout`),
  );
  return lines;
}

function namespaceText(r: InspectReport): string {
  const ns = r.namespace;
  if (ns.pid === null) return "tcpka's own network namespace";
  return `pid ${ns.pid}'s network namespace` + (ns.name ? ` (${ns.name})` : "");
}

function accessText(r: InspectReport): string {
  switch (r.access.source) {
    case "socket":
      return "keep-alive read from each socket (pidfd_getfd + getsockopt)";
    case "inferred":
      return "keep-alive INFERRED from ss (timer running or not); run as root to read each socket";
    default:
      return "keep-alive read from each socket where permitted, inferred elsewhere (marked)";
  }
}

function groupTitle(g: ProcessGroup, timeout: number | null): string {
  const n = g.connections.length;
  const who = g.pid === null ? g.command : `${g.command} (pid ${g.pid})`;
  const risk = timeout === null ? "" : `, ${g.connections.filter(isAtRisk).length} at risk`;
  return `${who}: ${n} connection${n === 1 ? "" : "s"}${risk}`;
}

function table(
  connections: InspectedConnection[],
  timeout: number | null,
  style: Style,
): string[] {
  const head = [
    "fd",
    "connection",
    "state",
    "idle snd/rcv",
    "queue r/s",
    "retrans",
    "keep-alive idle/intvl/count",
  ];
  if (timeout !== null) head.push("next probe", "verdict");
  const rows = connections.map((c) => {
    const s = c.socket;
    const row = [
      c.owner ? String(c.owner.fd) : "-",
      `${formatEndpoint(s.local, s.localPort)} → ${
        s.state === "LISTEN" ? "*" : formatEndpoint(s.peer, s.peerPort)
      }`,
      s.state,
      s.state === "LISTEN" ? "-" : `${approx(s.lastSndMs)} / ${approx(s.lastRcvMs)}`,
      `${s.recvQ} / ${s.sendQ}`,
      s.totalRetransmits ? `${s.retransmits}/${s.totalRetransmits}` : "0",
      keepAliveText(c.keepalive),
    ];
    if (timeout !== null) {
      row.push(c.verdict?.nextProbeMs == null ? "-" : formatApprox(c.verdict.nextProbeMs));
      row.push(c.verdict?.text ?? "");
    }
    return row;
  });
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    "  " + r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
  return [
    style("dim", fmt(head)),
    ...rows.map((r, i) => {
      const risk = connections[i].verdict?.risk;
      const text = fmt(r);
      return risk === "at-risk"
        ? style("red", text)
        : risk === "tight"
        ? style("yellow", text)
        : text;
    }),
  ];
}

export function keepAliveText(k: KeepAliveReading): string {
  if (k.source === "inferred") {
    if (k.enabled === false) return "off (inferred: no timer)";
    if (k.enabled === null) return "unknown (inferred)";
    return k.idleAtLeastMs === undefined
      ? "on (inferred: timer running)"
      : `on, idle ≥ ${formatApprox(k.idleAtLeastMs)} (inferred)`;
  }
  const ut = k.userTimeoutMs ? `, user timeout ${formatDuration(k.userTimeoutMs)}` : "";
  if (!k.enabled) return `off${ut}`;
  const v = k.values;
  return `on ${formatDuration(v.idleMs!)}/${formatDuration(v.intervalMs!)}/${v.count}${ut}`;
}

function approx(ms: number | null): string {
  return ms === null ? "?" : formatApprox(ms);
}
