/**
 * A deeper accept queue for the server. Deno.listen has no backlog option and uses 511; Go asks
 * for net.core.somaxconn (4096 on current Linux). When thousands of clients connect at once, 511
 * overflows (nstat: TcpExtListenOverflows) and, with SYN cookies on, the connections dropped then
 * are ones the client already counts as established. Calling listen() again on the listening
 * descriptor raises the limit in place, through the socket layer keep-alive already uses.
 */
import type { KeepAliveController } from "../keepalive/mod.ts";

/** Ask for the most, as Go does, and let the kernel cap it at net.core.somaxconn. */
export const WANTED_BACKLOG = 65535;

export type BacklogOutcome =
  | { raised: true; handle: number; backlog: number | null }
  | { raised: false; reason: string };

export function raiseBacklog(
  controller: KeepAliveController,
  listener: Deno.TcpListener,
  backlog = WANTED_BACKLOG,
): BacklogOutcome {
  const sockets = controller.sockets;
  if (!sockets) return { raised: false, reason: controller.fallbackReason ?? "no socket layer" };
  try {
    return { raised: true, ...sockets.raiseBacklog(listener, backlog) };
  } catch (err) {
    return { raised: false, reason: (err as Error).message };
  }
}
