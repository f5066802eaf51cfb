/**
 * `tcpka server`: its help, its flags and their validation. The role itself (accept, keep-alive,
 * echo, report each end) is lib/roles/server.ts; Ctrl-C or SIGTERM stops it with a summary.
 */
import type { Command } from "./lib/cli/command.ts";
import { UsageError } from "./lib/errors.ts";
import {
  durationFlag,
  noPositionals,
  parseCommandLine,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import { KEEPALIVE_FLAGS, KEEPALIVE_HELP, keepAliveFromFlags } from "./lib/cli/keepalive_flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { runServer, type ServerConfig } from "./lib/roles/server.ts";
import { createReporter } from "./lib/report/reporter.ts";
import { DEFAULT_PORT } from "./lib/defaults.ts";

const DEFAULT_HOLD_MS = 10_000;

const HELP = `Usage: tcpka server [flags]

Accepts TCP connections, holds each one (echoing anything it receives) and logs how each ended.
Keep-alive is off unless a keep-alive flag is given; then the values the kernel reports back are
printed for every connection. (Go servers enable a 15s keep-alive on accepted connections by
default; Deno, Node and most others leave it off.)

Flags:
  --host HOST           address to listen on (default 127.0.0.1; use 0.0.0.0 or :: to expose it)
  --port N              port to listen on (default ${DEFAULT_PORT}; 0 = any free port)
  --hold DURATION       close each connection after this long (default 10s; 0 = until the peer
                        closes)
  --reset               end connections after --hold with RST instead of FIN (SO_LINGER 0),
                        to see how clients cope with an abortive close
  --json                one JSON event per line instead of text
  -h, --help            show this help

${KEEPALIVE_HELP}
  Server default: keep-alive off.

Examples:
  tcpka server                               # the Go example's server on 127.0.0.1:12345
  tcpka server --hold 0 --period 15s         # like a Go server: 15s keep-alive, hold forever

Ctrl-C or SIGTERM stops accepting, closes every connection and prints a summary (exit 0).`;

export function parseServerArgs(args: string[]): ServerConfig {
  const parsed = parseCommandLine("server", args, {
    host: { type: "string" },
    port: { type: "string" },
    hold: { type: "string" },
    reset: { type: "boolean" },
    json: { type: "boolean" },
    ...KEEPALIVE_FLAGS,
  });
  noPositionals("server", parsed);
  const { values } = parsed;
  const host = stringFlag(values, "host") ?? "127.0.0.1";
  if (host === "") throw new UsageError("server: --host must not be empty");
  const keepalive = keepAliveFromFlags("server", values, null);
  const config: ServerConfig = {
    host,
    port: portFlag("server", values, DEFAULT_PORT, 0),
    keepalive: keepalive.enabled ? keepalive : null,
    holdMs: durationFlag("server", values, "hold") ?? DEFAULT_HOLD_MS,
    reset: values.reset === true,
    json: values.json === true,
  };
  if (config.reset && config.holdMs === 0) {
    throw new UsageError(
      "server: --reset ends connections when --hold expires; with --hold 0 it never does",
    );
  }
  return config;
}

export const serverCommand: Command = {
  name: "server",
  summary: "accept connections, optionally with keep-alive, and log how each one ends",
  help: HELP,
  runsUntilStopped: true,
  async run(args) {
    const config = parseServerArgs(args);
    return await withShutdown((signal) =>
      runServer(config, createReporter({ json: config.json }), signal)
    );
  },
};
