/** The events every held connection produces, the same for the client and the server. */
import type { KeepAliveController, KeepAliveRequest } from "../keepalive/mod.ts";
import type { Reporter } from "../report/reporter.ts";
import type { SessionEnd } from "./session.ts";
import { formatEndpoint } from "../ip.ts";
import { RuntimeError } from "../errors.ts";

/**
 * Reports the connection, applies keep-alive and reports what the kernel says is in force. Returns
 * the connection's descriptor where the keep-alive lookup found it (for held.ts to watch).
 */
export function announceConnection(
  reporter: Reporter,
  controller: KeepAliveController,
  conn: Deno.TcpConn,
  id: number,
  request: KeepAliveRequest,
): number | undefined {
  reporter.emit({
    type: "connected",
    time: Date.now(),
    id,
    local: formatEndpoint(conn.localAddr.hostname, conn.localAddr.port),
    remote: formatEndpoint(conn.remoteAddr.hostname, conn.remoteAddr.port),
  });
  const report = controller.apply(conn, request);
  reporter.emit({ type: "keepalive", time: Date.now(), id, report });
  return report.lookup?.handle;
}

/**
 * Without a way to set them (no FFI, an OS without the options), requested keep-alive timings would
 * silently be the system's (Linux: first probe after 2 hours): that is a failure to say, not a
 * note. `acceptFlag` names the flag that accepts the system's timings instead.
 */
export function refuseUnappliedTimings(
  controller: KeepAliveController,
  request: KeepAliveRequest,
  acceptFlag: string,
): void {
  const timings = request.idleMs !== undefined || request.intervalMs !== undefined ||
    request.count !== undefined || request.userTimeoutMs !== undefined;
  if (!request.enabled || !timings || controller.sockets) return;
  throw new RuntimeError(
    `the keep-alive timings asked for cannot be applied: ${controller.fallbackReason}; ` +
      `run with that, or pass ${acceptFlag} to use the system's own`,
  );
}

/** Reports how the connection ended; `connectedAt` is a performance.now() reading. */
export function announceEnd(reporter: Reporter, id: number, end: SessionEnd, connectedAt: number) {
  reporter.emit({
    type: "closed",
    time: Date.now(),
    id,
    reason: end.reason,
    durationMs: Math.round(performance.now() - connectedAt),
    ...(end.error ? { error: end.error } : {}),
  });
}
