/**
 * Opening a client connection, bounded by a connect timeout and by the run's stop signal, with the
 * ways it can fail told apart: a SYN answered by RST (nothing listening) is not the same as a
 * connection the peer reset right after accepting it, nor as running out of file descriptors.
 */
import { formatDuration } from "../duration.ts";
import { describeConnectError } from "../errors.ts";
import { formatEndpoint } from "../ip.ts";

/** What to do when nobody listens: the client is usually run against `tcpka server`. */
const REFUSED_HINT = "; start the server first ('tcpka server')";

export type ConnectFailureKind =
  | "refused" // RST in answer to the SYN: nothing listens there
  | "timed-out" // no answer within --connect-timeout
  | "reset-after-handshake" // established, then reset before we could use it
  | "fd-limit" // EMFILE/ENFILE: our own limit, not the peer's doing
  | "stopped" // Ctrl-C or SIGTERM while connecting
  | "other";

export class ConnectFailure extends Error {
  override name = "ConnectFailure";
  constructor(readonly kind: ConnectFailureKind, message: string) {
    super(message);
  }
}

/** EMFILE (24) and ENFILE (23): too many open files for the process or the system. */
export function isFdLimit(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /os error 2[34]\b|too many open files/i.test(message);
}

/** ECONNRESET (104), ENOTCONN (107), ECONNABORTED (103): the peer reset an established connection. */
export function isResetByPeer(err: unknown): boolean {
  if (err instanceof Deno.errors.ConnectionReset) return true;
  if (err instanceof Deno.errors.NotConnected) return true;
  if (err instanceof Deno.errors.ConnectionAborted) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /os error (103|104|107)\b/.test(message);
}

/** The hint for a file-descriptor limit, with the current soft limit when it can be read. */
export function fdLimitHint(): string {
  return "raise the open-file limit with 'ulimit -n' (e.g. 'ulimit -n 65536') and run it again";
}

export async function connectWithin(
  host: string,
  port: number,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<Deno.TcpConn> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = stop ? AbortSignal.any([stop, timeout]) : timeout;
  const target = formatEndpoint(host, port);
  try {
    return await Deno.connect({ hostname: host, port, signal });
  } catch (err) {
    if (stop?.aborted) throw new ConnectFailure("stopped", `stopped while connecting to ${target}`);
    if (timeout.aborted || err instanceof Deno.errors.TimedOut) {
      throw new ConnectFailure(
        "timed-out",
        `no answer from ${target} within ${formatDuration(timeoutMs)} (--connect-timeout)`,
      );
    }
    if (err instanceof Deno.errors.ConnectionRefused) {
      throw new ConnectFailure("refused", describeConnectError(err, target, REFUSED_HINT));
    }
    // A SYN answered by RST is ECONNREFUSED; a reset seen by connect() came after the handshake.
    if (isResetByPeer(err)) {
      throw new ConnectFailure(
        "reset-after-handshake",
        `reset by the peer right after the handshake (${target} accepted, then sent RST)`,
      );
    }
    if (isFdLimit(err)) {
      throw new ConnectFailure("fd-limit", `too many open files; ${fdLimitHint()}`);
    }
    throw new ConnectFailure("other", describeConnectError(err, target, ""));
  }
}
