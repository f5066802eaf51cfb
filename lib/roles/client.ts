/**
 * The client role: opens connections, turns keep-alive on with the requested timings, reports what
 * the kernel says is in force, holds the connections idle and says how each one ended.
 */
import { RuntimeError } from "../errors.ts";
import { type EndReason, FAILED_REASONS, type TcpkaEvent } from "../events.ts";
import { KeepAliveController, type KeepAliveRequest } from "../keepalive/mod.ts";
import { HeldConnections } from "./held.ts";
import { ConnectWindow } from "./connect_window.ts";
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
  const startedAt = performance.now();

  // Encoded once: a buffer per connection would show at thousands of connections.
  const message = new TextEncoder().encode(config.message);
  const sendAfterMs = config.sendAfterMs;
  const held = new HeldConnections({
    holdMs: config.holdMs,
    echo: false,
    signal,
    exchange: sendAfterMs === null ? undefined : { afterMs: sendAfterMs, message },
  }, {
    ended(id, end, connectedAt, conn) {
      controller.release(conn);
      ended[end.reason] = (ended[end.reason] ?? 0) + 1;
      announceEnd(reporter, id, end, connectedAt);
    },
    sent: (id) =>
      reporter.emit({
        type: "sent",
        time: now(),
        id,
        bytes: message.length,
        afterIdleMs: sendAfterMs!,
      }),
    echo: (id, rttMs) =>
      reporter.emit({ type: "echo", time: now(), id, bytes: message.length, rttMs }),
    unexpectedReply: (id, reply, rttMs) =>
      reporter.emit({
        type: "unexpected-reply",
        time: now(),
        id,
        bytes: reply.length,
        rttMs,
        text: new TextDecoder().decode(reply),
      }),
  }, controller.sockets);

  // Settles once the connection is held (or failed): what it costs while it idles is held's.
  let fdLimitReported = false;
  const runOne = (id: number): Promise<void> =>
    connectWithin(config.host, config.port, config.connectTimeoutMs, signal).then(
      (conn) =>
        held.hold(conn, id, announceConnection(reporter, controller, conn, id, config.keepalive)),
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

  const opening = new ConnectWindow(config.connections, runOne);
  const ticker = setInterval(() => {
    opening.tick();
    // Tenths of a second, so the line ticks evenly.
    const elapsed = formatDuration(Math.floor((performance.now() - startedAt) / 100) * 100);
    const hold = config.holdMs === 0 ? "until the peer closes" : formatDuration(config.holdMs);
    const open = held.open;
    reporter.progress(`holding ${open} connection${open === 1 ? "" : "s"}: ${elapsed} / ${hold}`);
  }, 250);
  try {
    await opening.done;
    await held.idle();
    if (held.failure) throw held.failure;
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
