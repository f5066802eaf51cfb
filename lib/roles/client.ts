/**
 * The client role: opens connections, turns keep-alive on with the requested timings, reports what
 * the kernel says is in force, holds the connections idle and says how each one ended.
 */
import { RuntimeError } from "../errors.ts";
import { type EndReason, FAILED_REASONS, type TcpkaEvent } from "../events.ts";
import { KeepAliveController, type KeepAliveRequest } from "../keepalive/mod.ts";
import { holdSession } from "./session.ts";
import { announceConnection, announceEnd, refuseUnappliedTimings } from "./connection_events.ts";
import { type ConnectFailure, connectWithin } from "./connect.ts";
import { formatEndpoint } from "../ip.ts";
import { formatDuration } from "../duration.ts";
import type { Reporter } from "../report/reporter.ts";

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
      readable: controller.sockets?.watchReadable(conn) ?? null,
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
    // Tenths of a second, so the line ticks evenly.
    const elapsed = formatDuration(Math.floor((performance.now() - startedAt) / 100) * 100);
    const hold = config.holdMs === 0 ? "until the peer closes" : formatDuration(config.holdMs);
    reporter.progress(`holding ${open} connection${open === 1 ? "" : "s"}: ${elapsed} / ${hold}`);
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
