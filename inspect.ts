/**
 * `tcpka inspect`: every TCP connection on the host (or in a process's network namespace), grouped
 * by process, with its keep-alive as the socket holds it, and which ones a middlebox will kill.
 */
import type { Command } from "./lib/cli/command.ts";
import { RuntimeError, UsageError } from "./lib/errors.ts";
import { durationFlag, noPositionals, parseCommandLine, stringFlag } from "./lib/cli/flags.ts";
import { pidAndFilters } from "./lib/cli/socket_filters.ts";
import { openSocketLayer } from "./lib/inspect/socket_layer.ts";
import { inspectConnections } from "./lib/inspect/inspect.ts";
import type { ListingQuery, StateFilter } from "./lib/inspect/listing.ts";
import { renderInspect } from "./lib/inspect/human.ts";
import { renderPrometheus } from "./lib/inspect/prometheus.ts";
import { writeLine } from "./lib/report/output.ts";
import { jsonLine } from "./lib/report/json_view.ts";
import { makeStyler, stdoutWantsColor } from "./lib/report/style.ts";

export type InspectFormat = "text" | "json" | "prometheus";

export interface InspectConfig {
  pid?: number;
  query: ListingQuery;
  pathTimeoutMs: number | null;
  format: InspectFormat;
}

const HELP = `Usage: tcpka inspect [flags]

Lists TCP connections grouped by process (pid, command, descriptor), each with its endpoints,
state, time since the last send and receive, queues, retransmissions, and its keep-alive AS THE
SOCKET HOLDS IT: off, or on with idle/interval/count and TCP_USER_TIMEOUT.

As root (or with CAP_SYS_PTRACE over the process) the values are read from the socket itself: a
copy of the process's descriptor (pidfd_getfd, Linux ≥ 5.6) is checked to be the listed
connection, read with getsockopt and closed. Otherwise they are inferred from ss (a keep-alive
timer running or not) and marked so. Linux only; needs ss (iproute2).

Flags:
  --pid P               only process P's connections, read inside its network namespace
                        (a container or pod seen from the host; needs nsenter and root)
  --port N              only connections with N as either port
  --dst ADDR[:PORT]     only connections to this remote address (and port)
  --state S             established (default) or all (listeners, closing states too)
  --path-timeout D      judge each connection against a middlebox that forgets connections
                        idle for D (e.g. 350s, an AWS NLB; 'tcpka discover' measures it):
                        at risk, tight, or safe, with the time until its next probe
  --json                the whole report as one JSON document
  --format F            text (default), json, or prometheus (node_exporter textfile collector)
  -h, --help            show this help

Examples:
  sudo tcpka inspect --path-timeout 350s
  sudo tcpka inspect --pid 4242 --json
  sudo tcpka inspect --path-timeout 350s --format prometheus > /var/lib/node_exporter/tcpka.prom`;

export function parseInspectArgs(args: string[]): InspectConfig {
  const parsed = parseCommandLine("inspect", args, {
    pid: { type: "string" },
    port: { type: "string" },
    dst: { type: "string" },
    state: { type: "string" },
    "path-timeout": { type: "string" },
    json: { type: "boolean" },
    format: { type: "string" },
  });
  noPositionals("inspect", parsed);
  const { values } = parsed;
  const state = stringFlag(values, "state") ?? "established";
  if (state !== "established" && state !== "all") {
    throw new UsageError(`inspect: --state must be established or all, not "${state}"`);
  }
  const format = stringFlag(values, "format") ?? (values.json ? "json" : "text");
  if (format !== "text" && format !== "json" && format !== "prometheus") {
    throw new UsageError(`inspect: --format must be text, json or prometheus, not "${format}"`);
  }
  if (values.json && format !== "json") {
    throw new UsageError(`inspect: --json and --format ${format} contradict each other`);
  }
  const pathTimeoutMs = durationFlag("inspect", values, "path-timeout") ?? null;
  if (pathTimeoutMs !== null && pathTimeoutMs < 1000) {
    throw new UsageError(`inspect: --path-timeout must be at least 1s`);
  }
  return {
    ...pidAndFilters("inspect", values, state as StateFilter),
    pathTimeoutMs,
    format,
  };
}

export async function runInspect(config: InspectConfig): Promise<number> {
  if (Deno.build.os !== "linux") {
    throw new RuntimeError("inspect reads the Linux socket table; it runs on Linux only");
  }
  const { sockets, why } = openSocketLayer();
  const report = await inspectConnections(
    { query: config.query, pid: config.pid, pathTimeoutMs: config.pathTimeoutMs },
    sockets,
    why,
  );
  if (config.format === "json") writeLine(jsonLine({ type: "inspect", ...report }));
  else if (config.format === "prometheus") renderPrometheus(report).forEach(writeLine);
  else {
    renderInspect(report, makeStyler(stdoutWantsColor())).forEach(writeLine);
    if (config.pid !== undefined && report.groups.length === 0) {
      writeLine(`no TCP connections of pid ${config.pid} (${config.query.states})`);
    }
  }
  return 0;
}

export const inspectCommand: Command = {
  name: "inspect",
  summary: "every connection's real keep-alive, by process, and which ones a middlebox will kill",
  help: HELP,
  async run(args) {
    return await runInspect(parseInspectArgs(args));
  },
};
