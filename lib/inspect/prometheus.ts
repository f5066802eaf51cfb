/**
 * The Prometheus text exposition format (0.0.4) of an InspectReport, for node_exporter's textfile
 * collector: a fleet is then watched by the monitoring it already runs. Gauges only, aggregated by
 * process name (pids change on every restart and would churn series).
 */
import type { InspectReport } from "./model.ts";
import { isAtRisk } from "./verdict.ts";

interface Series {
  labels: Record<string, string>;
  value: number;
}

export function renderPrometheus(report: InspectReport): string[] {
  const connections = new Map<string, Series>();
  const atRisk = new Map<string, Series>();
  const inferred = new Map<string, Series>();
  const idleMax = new Map<string, Series>();
  const timeout = report.pathTimeoutMs === null ? null : String(report.pathTimeoutMs / 1000);
  for (const group of report.groups) {
    const process = group.pid === null ? "unknown" : group.command;
    for (const c of group.connections) {
      const keepalive = c.keepalive.enabled === null
        ? "unknown"
        : c.keepalive.enabled
        ? "on"
        : "off";
      add(connections, { process, state: stateLabel(c.socket.state), keepalive }, 1);
      if (c.keepalive.source === "inferred") add(inferred, { process }, 1);
      if (timeout !== null) add(atRisk, { process, path_timeout: timeout }, isAtRisk(c) ? 1 : 0);
      if (c.socket.state === "ESTAB" && c.idleMs !== null) {
        const s = series(idleMax, { process });
        s.value = Math.max(s.value, c.idleMs / 1000);
      }
    }
  }
  return [
    ...family(
      "tcpka_connections",
      "TCP sockets by process, state and keep-alive (on, off, unknown).",
      connections,
    ),
    ...family(
      "tcpka_connections_keepalive_inferred",
      "TCP sockets whose keep-alive was inferred from ss, not read from the socket (no privilege).",
      inferred,
    ),
    ...(timeout === null ? [] : family(
      "tcpka_connections_at_risk",
      "Established connections a middlebox forgetting idle connections after path_timeout " +
        "seconds would kill: keep-alive off or slower than the timeout.",
      atRisk,
    )),
    ...family(
      "tcpka_connection_idle_seconds_max",
      "Longest time since any segment was sent or received, over a process's established " +
        "connections.",
      idleMax,
    ),
  ];
}

function stateLabel(ssState: string): string {
  if (ssState === "ESTAB") return "established";
  return ssState.toLowerCase().replaceAll("-", "_");
}

function key(labels: Record<string, string>): string {
  return JSON.stringify(labels);
}

function series(map: Map<string, Series>, labels: Record<string, string>): Series {
  const k = key(labels);
  let s = map.get(k);
  if (!s) {
    s = { labels, value: 0 };
    map.set(k, s);
  }
  return s;
}

function add(map: Map<string, Series>, labels: Record<string, string>, n: number): void {
  series(map, labels).value += n;
}

function family(name: string, help: string, map: Map<string, Series>): string[] {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} gauge`];
  for (const s of map.values()) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
    lines.push(`${name}{${labels}} ${formatValue(s.value)}`);
  }
  return lines;
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabel(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
