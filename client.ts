/**
 * `tcpka client`: opens connections, turns keep-alive on with the requested timings, prints what
 * the kernel reports back, holds the connections idle and says how each one ended.
 */
import type { Command } from "./lib/cli/command.ts";
import { RuntimeError, UsageError } from "./lib/cli/errors.ts";
import {
  durationFlag,
  type FlagSpecs,
  type FlagValues,
  integerFlag,
  noPositionals,
  parseFlags,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import { KEEPALIVE_FLAGS, KEEPALIVE_HELP, keepAliveFromFlags } from "./lib/cli/keepalive_flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { type EndReason, FAILED_REASONS, type TcpkaEvent } from "./lib/events.ts";
import { KeepAliveController, type KeepAliveRequest } from "./lib/keepalive/mod.ts";
import { platformFor } from "./lib/keepalive/constants.ts";
import { validateRequest } from "./lib/keepalive/settings.ts";
import { holdSession } from "./lib/net/session.ts";
import { type ConnectFailure, connectWithin } from "./lib/net/connect.ts";
import {
  announceConnection,
  announceEnd,
  refuseUnappliedTimings,
} from "./lib/net/connection_events.ts";
import { formatEndpoint } from "./lib/net/ip.ts";
import { formatDuration } from "./lib/duration.ts";
import { createReporter, type Reporter } from "./lib/report/reporter.ts";

export interface ClientConfig {
  host: string;
  port: number;
  keepalive: KeepAliveRequest;
  /** 0 = until the peer closes. */
  holdMs: number;
  connections: number;
  /** Idle this long, then send `message` and wait for the echo (null = never send). */
  sendAfterMs: number | null;
  message: string;
  /** Give up on a connect that gets no answer within this long. */
  connectTimeoutMs: number;
  /** Keep-alive on with the system's timings, accepted knowingly (no FFI needed). */
  systemTimings: boolean;
  json: boolean;
}

import { DEFAULT_PORT } from "./lib/defaults.ts";
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
  const parsed = parseFlags("client", args, CLIENT_FLAGS);
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
  if (values.message !== undefined && sendAfterMs === null) {
    refuse("--message is sent only with --send-after; add --send-after D");
  }
  if (config.connectTimeoutMs === 0) refuse("--connect-timeout must be longer than 0");
  if (config.systemTimings) {
    const timing = ["period", "idle", "interval", "count", "no-keepalive", "user-timeout"]
      .find((f) => values[f] !== undefined);
    if (timing) refuse(`--system-timings keeps the system's timings; it cannot take --${timing}`);
  }
}

function withUserTimeout(
  command: string,
  request: KeepAliveRequest,
  userTimeoutMs: number | undefined,
): KeepAliveRequest {
  if (userTimeoutMs === undefined) return request;
  const withTimeout = { ...request, userTimeoutMs };
  const platform = platformFor(Deno.build.os);
  const problem = platform ? validateRequest(withTimeout, platform) : null;
  if (problem) throw new UsageError(`${command}: ${problem}`);
  return withTimeout;
}

/** Runs the client; returns the exit code. Refused connections throw when none could be opened. */
export async function runClient(
  config: ClientConfig,
  reporter: Reporter,
  signal?: AbortSignal,
): Promise<number> {
  const controller = await KeepAliveController.create();
  refuseUnappliedTimings(controller, config.keepalive, "--system-timings");
  const target = formatEndpoint(config.host, config.port);
  const now = Date.now;
  reporter.emit({
    type: "connecting",
    time: now(),
    address: target,
    connections: config.connections,
    holdMs: config.holdMs,
  });

  const ended: Partial<Record<EndReason, number>> = {};
  let failedToConnect = 0;
  let firstConnectError: unknown = null;
  let open = 0;
  const startedAt = performance.now();

  // Encoded once: a buffer per connection would show at thousands of connections.
  const message = new TextEncoder().encode(config.message);
  const exchangeFor = (id: number) =>
    config.sendAfterMs === null ? undefined : {
      afterMs: config.sendAfterMs,
      message,
      onSent: () =>
        reporter.emit({
          type: "sent",
          time: now(),
          id,
          bytes: message.length,
          afterIdleMs: config.sendAfterMs!,
        }),
      onEcho: (rttMs: number) =>
        reporter.emit({ type: "echo", time: now(), id, bytes: message.length, rttMs }),
      onUnexpectedReply: (reply: Uint8Array, rttMs: number) =>
        reporter.emit({
          type: "unexpected-reply",
          time: now(),
          id,
          bytes: reply.length,
          rttMs,
          text: new TextDecoder().decode(reply),
        }),
    };

  const hold = (conn: Deno.TcpConn, id: number): Promise<void> => {
    const connectedAt = performance.now();
    open++;
    announceConnection(reporter, controller, conn, id, config.keepalive);
    return holdSession(conn, {
      holdMs: config.holdMs,
      echo: false,
      signal,
      exchange: exchangeFor(id),
    })
      .then((end) => {
        controller.release(conn);
        open--;
        ended[end.reason] = (ended[end.reason] ?? 0) + 1;
        announceEnd(reporter, id, end, connectedAt);
      });
  };

  // Continuations rather than an async function per connection: a suspended async function keeps a
  // generator alive for the connection's whole life.
  let fdLimitReported = false;
  const runOne = (id: number): Promise<void> =>
    connectWithin(config.host, config.port, config.connectTimeoutMs, signal).then(
      (conn) => hold(conn, id),
      (err: ConnectFailure) => {
        if (err.kind === "reset-after-handshake") {
          // Established, then reset: a connection that ended, not one that failed to open.
          ended["peer-reset"] = (ended["peer-reset"] ?? 0) + 1;
          announceEnd(
            reporter,
            id,
            { reason: "peer-reset", error: err.message },
            performance.now(),
          );
          return;
        }
        failedToConnect++;
        firstConnectError ??= err;
        if (err.kind === "stopped") return;
        // Thousands of connections can hit the limit: said once, counted in the summary.
        if (err.kind === "fd-limit") {
          if (fdLimitReported) return;
          fdLimitReported = true;
        }
        reporter.emit({
          type: "connect-failed",
          time: now(),
          id,
          remote: target,
          error: err.message,
        });
      },
    );

  const ticker = setInterval(() => {
    const elapsed = performance.now() - startedAt;
    const hold = config.holdMs === 0 ? "until the peer closes" : formatDuration(config.holdMs);
    reporter.progress(
      `holding ${open} connection${open === 1 ? "" : "s"}: ${
        (elapsed / 1000).toFixed(1)
      }s / ${hold}`,
    );
  }, 250);
  try {
    await Promise.all(Array.from({ length: config.connections }, (_, i) => runOne(i + 1)));
  } finally {
    clearInterval(ticker);
    reporter.progress(null);
  }

  if (failedToConnect === config.connections && !signal?.aborted) {
    throw new RuntimeError((firstConnectError as Error).message);
  }
  const summary: TcpkaEvent = {
    type: "summary",
    time: now(),
    role: "client",
    connections: config.connections - failedToConnect,
    failedToConnect,
    ended,
  };
  reporter.emit(summary);
  const failed = failedToConnect > 0 ||
    Object.keys(ended).some((r) => FAILED_REASONS.has(r as EndReason));
  return failed ? 1 : 0;
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
