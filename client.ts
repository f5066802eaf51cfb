/**
 * `tcpka client`: its help, its flags and their validation. The role itself (open, set keep-alive,
 * read back, hold, report the end) is lib/roles/client.ts.
 */
import type { Command } from "./lib/cli/command.ts";
import { UsageError } from "./lib/errors.ts";
import {
  durationFlag,
  type FlagSpecs,
  type FlagValues,
  integerFlag,
  noPositionals,
  parseCommandLine,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import {
  KEEPALIVE_FLAGS,
  KEEPALIVE_HELP,
  keepAliveFromFlags,
  withUserTimeout,
} from "./lib/cli/keepalive_flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { type ClientConfig, runClient } from "./lib/roles/client.ts";
import { createReporter } from "./lib/report/reporter.ts";
import { DEFAULT_PORT } from "./lib/defaults.ts";
import { formatDuration } from "./lib/duration.ts";

const DEFAULT_PERIOD_MS = 2000;
const DEFAULT_HOLD_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const HELP = `Usage: tcpka client [flags]

Connects to a server, turns on TCP keep-alive with the given timings, prints the values read back
from the kernel, holds the connection idle and reports how it ended: closed by us after --hold,
closed by the peer (FIN), reset by the peer (RST), or timed out because keep-alive probes went
unanswered (ETIMEDOUT).

Flags:
  --host HOST           server address (default 127.0.0.1)
  --port N              server port (default ${DEFAULT_PORT})
  --hold DURATION       how long to hold each connection (default 10s; 0 = until the peer closes)
  --connections N       connections to open at once (default 1)
  --send-after DURATION after idling this long, send --message and wait for the server's echo;
                        the connection then ends "echoed", or with the error the kernel reports
  --message TEXT        what --send-after sends (default "ping"); a reply that differs from it
                        ends the connection "unexpected reply" (shown, exit 1)
  --connect-timeout D   give up on a connect that gets no answer within D (default 10s)
  --system-timings      keep-alive on with the system's own timings (for a run without FFI,
                        where the requested ones cannot be set)
  --user-timeout D      give up when sent data stays unacknowledged for D (TCP_USER_TIMEOUT,
                        Linux); with keep-alive on, Linux also uses it for a silent peer
  --json                one JSON event per line instead of text
  -h, --help            show this help

${KEEPALIVE_HELP}
  Client default: --period 2s (the Go example's SetKeepAlivePeriod(2 * time.Second)).

Examples:
  tcpka client                               # the Go example: probes every 2s, close after 10s
  tcpka client --idle 5s --interval 1s --count 3
  tcpka client --connections 1000 --hold 0 --period 30s
  tcpka client --no-keepalive --hold 1m      # watch an idle connection get no probes at all

Exit status: 0 all connections ended as expected, 1 a connection failed (refused, reset, timed
out, unexpected reply) or the keep-alive timings could not be applied, 2 bad usage, 130/143
stopped by Ctrl-C/SIGTERM.`;

export const CLIENT_FLAGS: FlagSpecs = {
  host: { type: "string" },
  port: { type: "string" },
  hold: { type: "string" },
  connections: { type: "string" },
  "send-after": { type: "string" },
  "user-timeout": { type: "string" },
  message: { type: "string" },
  "connect-timeout": { type: "string" },
  "system-timings": { type: "boolean" },
  json: { type: "boolean" },
  ...KEEPALIVE_FLAGS,
};

export function parseClientArgs(args: string[]): ClientConfig {
  const parsed = parseCommandLine("client", args, CLIENT_FLAGS);
  noPositionals("client", parsed);
  return clientConfigFrom("client", parsed.values);
}

/** Validates client flags; shared with `demo`, which accepts every client flag. */
export function clientConfigFrom(command: string, values: FlagValues, minPort = 1): ClientConfig {
  const host = stringFlag(values, "host") ?? "127.0.0.1";
  if (host === "") throw new UsageError(`${command}: --host must not be empty`);
  const message = stringFlag(values, "message") ?? "ping";
  if (message === "") throw new UsageError(`${command}: --message must not be empty`);
  const systemTimings = values["system-timings"] === true;
  const config: ClientConfig = {
    host,
    port: portFlag(command, values, DEFAULT_PORT, minPort),
    keepalive: systemTimings ? { enabled: true } : withUserTimeout(
      command,
      keepAliveFromFlags(command, values, DEFAULT_PERIOD_MS),
      durationFlag(command, values, "user-timeout"),
    ),
    holdMs: durationFlag(command, values, "hold") ?? DEFAULT_HOLD_MS,
    connections: integerFlag(command, values, "connections", 1, 100_000) ?? 1,
    sendAfterMs: durationFlag(command, values, "send-after") ?? null,
    message,
    connectTimeoutMs: durationFlag(command, values, "connect-timeout") ??
      DEFAULT_CONNECT_TIMEOUT_MS,
    systemTimings,
    json: values.json === true,
  };
  refusePointless(command, values, config);
  return config;
}

/** Combinations that cannot do anything: one line each rather than a run that silently doesn't. */
function refusePointless(command: string, values: FlagValues, config: ClientConfig): void {
  const refuse = (why: string) => {
    throw new UsageError(`${command}: ${why}`);
  };
  const { holdMs, sendAfterMs } = config;
  if (sendAfterMs !== null && holdMs > 0 && sendAfterMs >= holdMs) {
    refuse(
      `--send-after ${formatDuration(sendAfterMs)} never comes: --hold ${
        formatDuration(holdMs)
      } closes the connection first (use a longer --hold, or --hold 0)`,
    );
  }
  // (demo firewall-idle sends --message after --idle-for: the demo checks its own combinations.)
  if (command === "client" && values.message !== undefined && sendAfterMs === null) {
    refuse("--message is sent only with --send-after; add --send-after D");
  }
  if (config.connectTimeoutMs === 0) refuse("--connect-timeout must be longer than 0");
  if (config.systemTimings) {
    const timing = ["period", "idle", "interval", "count", "no-keepalive", "user-timeout"]
      .find((f) => values[f] !== undefined);
    if (timing) refuse(`--system-timings keeps the system's timings; it cannot take --${timing}`);
  }
}

export const clientCommand: Command = {
  name: "client",
  summary: "connect with keep-alive on (default: 2s period, hold 10s) and report how it ends",
  help: HELP,
  async run(args) {
    const config = parseClientArgs(args);
    return await withShutdown((signal) =>
      runClient(config, createReporter({ json: config.json }), signal)
    );
  },
};
