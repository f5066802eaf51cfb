/**
 * The server role: accepts connections, optionally turns keep-alive on for each, echoes what it
 * receives, and reports how every connection ended; stops with a summary when its signal aborts.
 */
import { RuntimeError } from "../errors.ts";
import type { EndReason } from "../events.ts";
import { KeepAliveController, type KeepAliveRequest } from "../keepalive/mod.ts";
import { raiseBacklog } from "./backlog.ts";
import { HeldConnections } from "./held.ts";
import { announceConnection, announceEnd, refuseUnappliedTimings } from "./connection_events.ts";
import { AcceptFailures } from "./accept_failures.ts";
import { formatEndpoint } from "../ip.ts";
import type { Reporter } from "../report/reporter.ts";

export interface ServerConfig {
  host: string;
  /** 0 = any free port (reported in the `listening` event). */
  port: number;
  /** null = keep-alive left as the OS has it (off). */
  keepalive: KeepAliveRequest | null;
  /** 0 = until the peer closes. */
  holdMs: number;
  /** End held connections with RST instead of FIN. */
  reset: boolean;
  json: boolean;
}

/** Connections served per turn of the event loop while accepted ones are waiting. */
const SERVE_SLICE = 64;

export function listenOrExplain(hostname: string, port: number): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port });
  } catch (err) {
    const where = formatEndpoint(hostname, port);
    if (err instanceof Deno.errors.AddrInUse) {
      throw new RuntimeError(
        `${where} is already in use; stop the other program or choose another --port`,
      );
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new RuntimeError(`not allowed to listen on ${where}; ports below 1024 need root`);
    }
    if (err instanceof Deno.errors.AddrNotAvailable) {
      throw new RuntimeError(`cannot listen on ${where}: no such address on this machine`);
    }
    throw new RuntimeError(`cannot listen on ${where}: ${(err as Error).message}`);
  }
}

/** Serves until `signal` aborts; returns the exit code. */
export async function runServer(
  config: ServerConfig,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const controller = await KeepAliveController.create();
  if (config.keepalive) refuseUnappliedTimings(controller, config.keepalive, "--no-keepalive");
  const listener = listenOrExplain(config.host, config.port);
  // Before announcing the port, so a client that waits for it finds the deeper queue.
  const backlog = raiseBacklog(controller, listener);
  const now = Date.now;
  reporter.emit({
    type: "listening",
    time: now(),
    address: formatEndpoint(listener.addr.hostname, listener.addr.port),
    port: listener.addr.port,
    keepalive: config.keepalive,
  });
  if (!backlog.raised && controller.sockets) {
    reporter.emit({
      type: "warning",
      time: now(),
      message: `accept queue left at Deno's 511 (${backlog.reason}); a burst of more ` +
        "connections than that can be dropped",
    });
  }

  const ended: Partial<Record<EndReason, number>> = {};
  const acceptFailures = new AcceptFailures(reporter);
  let accepted = 0;
  // Connections accepted and not ended yet, the queued ones included (held.open counts only those
  // already handed over).
  let open = 0;
  let allEnded: (() => void) | null = null;
  const stop = () => listener.close();
  signal.addEventListener("abort", stop, { once: true });

  const held = new HeldConnections({ holdMs: config.holdMs, echo: true, signal }, {
    ended(id, end, connectedAt, conn) {
      controller.release(conn);
      ended[end.reason] = (ended[end.reason] ?? 0) + 1;
      announceEnd(reporter, id, end, connectedAt);
      if (--open === 0) allEnded?.();
    },
    data: (id, direction, bytes) =>
      reporter.emit({ type: "data", time: now(), id, direction, bytes }),
    beforeExpiry: config.reset
      ? (conn, id) => {
        if (!controller.reset(conn)) {
          reporter.emit({
            type: "warning",
            time: now(),
            message: `#${id}: cannot send RST (needs --allow-ffi); closing with FIN`,
          });
        }
      }
      : undefined,
  }, controller.sockets);

  const keepalive = config.keepalive ?? { enabled: false };
  const serve = (conn: Deno.TcpConn, id: number) =>
    held.hold(conn, id, announceConnection(reporter, controller, conn, id, keepalive));

  // Accepted connections are queued and served in slices between accepts. Announcing one and
  // setting its keep-alive costs more than accepting it, so in a burst of thousands the rest would
  // wait in the kernel's accept queue, which overflows at net.core.somaxconn and drops them (their
  // SYN is retried a second later). Waiting here, they cost nothing but a slot in this array.
  const waiting: Deno.TcpConn[] = [];
  let next = 0;
  let served = 0;
  let draining = false;
  const drain = () => {
    for (const end = Math.min(waiting.length, next + SERVE_SLICE); next < end; next++) {
      serve(waiting[next], ++served); // FIFO, so ids stay in accept order
    }
    if (next < waiting.length) {
      setTimeout(drain, 0); // let the accept loop in before the next slice
      return;
    }
    waiting.length = next = 0;
    draining = false;
  };

  try {
    while (!signal.aborted) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (signal.aborted || err instanceof Deno.errors.BadResource) break;
        // Per-connection accept failures must not take the server down; only running out of
        // descriptors is worth pausing for (see accept_failures.ts).
        const pauseMs = acceptFailures.record(err);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        continue;
      }
      accepted++;
      open++;
      waiting.push(conn);
      if (!draining) {
        draining = true;
        setTimeout(drain, 0);
      }
    }
  } finally {
    signal.removeEventListener("abort", stop);
    try {
      listener.close();
    } catch { /* closed by the signal */ }
  }
  if (open > 0) await new Promise<void>((resolve) => allEnded = resolve);
  if (held.failure) throw held.failure;
  reporter.emit({
    type: "summary",
    time: now(),
    role: "server",
    connections: accepted,
    failedToConnect: 0,
    resetBeforeAccept: acceptFailures.resetBeforeAccept,
    ended,
  });
  return 0;
}
