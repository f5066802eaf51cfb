/** The events every held connection produces, the same for the client and the server. */
import type { KeepAliveController, KeepAliveRequest } from "../keepalive/mod.ts";
import type { Reporter } from "../report/reporter.ts";
import type { SessionEnd } from "./session.ts";
import { formatEndpoint } from "../ip.ts";

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
