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

const DEFAULT_PERIOD_MS = 2000;
const DEFAULT_HOLD_MS = 10_000;

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
  --message TEXT        what --send-after sends (default "ping")
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
out), 2 bad usage.`;

export const CLIENT_FLAGS: FlagSpecs = {
  host: { type: "string" },
  port: { type: "string" },
  hold: { type: "string" },
  connections: { type: "string" },
  "send-after": { type: "string" },
  "user-timeout": { type: "string" },
  message: { type: "string" },
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
  return {
    host,
    port: portFlag(command, values, DEFAULT_PORT, minPort),
    keepalive: withUserTimeout(
      command,
      keepAliveFromFlags(command, values, DEFAULT_PERIOD_MS),
      durationFlag(command, values, "user-timeout"),
    ),
    holdMs: durationFlag(command, values, "hold") ?? DEFAULT_HOLD_MS,
    connections: integerFlag(command, values, "connections", 1, 100_000) ?? 1,
    sendAfterMs: durationFlag(command, values, "send-after") ?? null,
    message,
    json: values.json === true,
  };
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
