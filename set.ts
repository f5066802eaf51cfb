/**
 * `tcpka set --pid P`: give a running process's connections keep-alive (or change or remove it)
 * without restarting it.
 */
import type { Command } from "./lib/cli/command.ts";
import { RuntimeError, UsageError } from "./lib/errors.ts";
import { durationFlag, noPositionals, parseCommandLine } from "./lib/cli/flags.ts";
import { KEEPALIVE_HELP, keepAliveFromFlags, withUserTimeout } from "./lib/cli/keepalive_flags.ts";
import { pidAndFilters } from "./lib/cli/socket_filters.ts";
import type { OptionChange } from "./lib/inspect/socket_copy.ts";
import type { ListingQuery } from "./lib/inspect/listing.ts";
import { openSocketLayer } from "./lib/inspect/socket_layer.ts";
import { setExitCode, setKeepAlive } from "./lib/inspect/set_live.ts";
import { renderSet } from "./lib/inspect/set_human.ts";
import { writeLine } from "./lib/report/output.ts";
import { jsonLine } from "./lib/report/json_view.ts";
import { makeStyler, stdoutWantsColor } from "./lib/report/style.ts";

export interface SetConfig {
  pid: number;
  query: ListingQuery;
  change: OptionChange;
  dryRun: boolean;
  json: boolean;
}

const HELP = `Usage: tcpka set --pid P [flags]

Changes keep-alive on the live TCP connections of a running process, without restarting it. For
each of P's sockets (as 'tcpka inspect --pid P' lists them) it copies the descriptor
(pidfd_getfd, Linux ≥ 5.6; root or CAP_SYS_PTRACE over P), checks the copy is the listed
connection (getsockname/getpeername; a reused descriptor is skipped and reported, never touched),
sets the options, reads them back and closes the copy. It never closes, shuts down or writes to
P's sockets and changes nothing but the options asked for.

Flags:
  --pid P               the process (required)
  --off                 turn keep-alive off
  --user-timeout D      TCP_USER_TIMEOUT: give up when sent data or probes stay unanswered for D
  --port N              only connections with N as either port
  --dst ADDR[:PORT]     only connections to this remote address (and port)
  --listeners           also set P's listening sockets: connections accepted later inherit it
  --dry-run             show what would change; change nothing
  --json                the report as one JSON document
  -h, --help            show this help

${
  KEEPALIVE_HELP.replace(/\n {2}--no-keepalive[^\n]*\n/, "\n").replace(
    /\(default: the system's; Linux 9\)/,
    "(default: left as it is)",
  )
}

Exit status: 0 when every matching socket holds the requested values, 1 otherwise (skipped,
refused, none matching), 2 for bad flags or missing privileges.

Examples:
  sudo tcpka set --pid 4242 --idle 60s --interval 10s --count 5
  sudo tcpka set --pid 4242 --period 30s --listeners --dry-run`;

export function parseSetArgs(args: string[]): SetConfig {
  const parsed = parseCommandLine("set", args, {
    pid: { type: "string" },
    period: { type: "string" },
    idle: { type: "string" },
    interval: { type: "string" },
    count: { type: "string" },
    "user-timeout": { type: "string" },
    off: { type: "boolean" },
    port: { type: "string" },
    dst: { type: "string" },
    listeners: { type: "boolean" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
  });
  noPositionals("set", parsed);
  const { values } = parsed;
  const listeners = values.listeners === true;
  const { pid, query } = pidAndFilters(
    "set",
    values,
    listeners ? "established+listening" : "established",
  );
  if (pid === undefined) throw new UsageError("set: --pid P is required (see 'tcpka inspect')");
  const timing = ["period", "idle", "interval", "count"].some((f) => values[f] !== undefined);
  const userTimeoutMs = durationFlag("set", values, "user-timeout");
  if (!timing && !values.off && userTimeoutMs === undefined) {
    throw new UsageError(
      "set: nothing to set: give --period, --idle/--interval, --count, --user-timeout or --off",
    );
  }
  if (values.off && timing) {
    throw new UsageError("set: --off cannot be combined with keep-alive timings");
  }
  // The same validation as client: whole seconds on Linux, in range, before touching anything.
  const request = values.off
    ? { enabled: false }
    : timing
    ? keepAliveFromFlags("set", values, null)
    : null;
  const withTimeout = withUserTimeout("set", request ?? { enabled: false }, userTimeoutMs);
  const change: OptionChange = request === null
    ? { userTimeoutMs: withTimeout.userTimeoutMs }
    : withoutUndefined(withTimeout);
  return { pid, query, change, dryRun: values["dry-run"] === true, json: values.json === true };
}

function withoutUndefined(o: OptionChange): OptionChange {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export async function runSet(config: SetConfig): Promise<number> {
  if (Deno.build.os !== "linux") {
    throw new RuntimeError("set works on Linux only (pidfd_getfd)");
  }
  const { sockets, why } = openSocketLayer();
  const report = await setKeepAlive(config, sockets, why);
  if (config.json) writeLine(jsonLine({ type: "set", ...report }));
  else renderSet(report, makeStyler(stdoutWantsColor())).forEach(writeLine);
  return setExitCode(report);
}

export const setCommand: Command = {
  name: "set",
  summary: "change keep-alive on a running process's live connections, without a restart",
  help: HELP,
  async run(args) {
    return await runSet(parseSetArgs(args));
  },
};
