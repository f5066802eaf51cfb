/**
 * Holds one established connection until it ends, and says why it ended, with a read kept pending:
 * reading is what notices the end (FIN, RST, or a keep-alive timeout surfacing as ETIMEDOUT). This
 * is how connections are held where there is no epoll (Windows, macOS) or their descriptor is
 * unknown; on Linux held.ts holds them for much less memory. Buffers are small because idle
 * connections are the point and there may be thousands.
 */
import { type EndReason, endReasonOf } from "../events.ts";

export interface SessionOptions {
  /** Close after this long; 0 = until the peer closes. */
  holdMs: number;
  /** Write whatever arrives back to the peer (the server's behaviour). */
  echo: boolean;
  signal?: AbortSignal;
  onData?: (direction: "in" | "out", bytes: number) => void;
  /** Runs just before we close the connection ourselves (e.g. to arm an RST). */
  beforeClose?: () => void;
  /** After `afterMs` of idling, send `message` and close once it has come back (the client). */
  exchange?: {
    afterMs: number;
    message: Uint8Array;
    onSent: () => void;
    onEcho: (rttMs: number) => void;
    /** The reply differs from what was sent (a server that answers rather than echoes). */
    onUnexpectedReply: (reply: Uint8Array, rttMs: number) => void;
  };
}

export interface SessionEnd {
  reason: EndReason;
  error?: string;
}

export const READ_BUFFER_BYTES = 512;
/** Of a reply that is not the echo, this much is kept to show. */
export const REPLY_KEPT_BYTES = 200;

/**
 * One "abort" listener per signal, closing every session that shares it. Deno's EventTarget scans
 * its whole listener list on every add and remove, so a listener per session costs O(n) each,
 * O(n²) for n connections: 0.5 s of CPU to set up 10,000.
 */
const sessionsBySignal = new WeakMap<AbortSignal, Set<(reason: EndReason) => void>>();

function sessionsOf(signal: AbortSignal): Set<(reason: EndReason) => void> {
  let closers = sessionsBySignal.get(signal);
  if (!closers) {
    const all = new Set<(reason: EndReason) => void>();
    signal.addEventListener("abort", () => all.forEach((close) => close("shutdown")), {
      once: true,
    });
    sessionsBySignal.set(signal, all);
    closers = all;
  }
  return closers;
}

export async function holdSession(
  conn: Deno.TcpConn,
  options: SessionOptions,
): Promise<SessionEnd> {
  let closedByUs: EndReason | null = null;
  const closeAs = (reason: EndReason) => {
    if (closedByUs) return;
    closedByUs = reason;
    if (reason === "hold-expired") options.beforeClose?.();
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timer = options.holdMs > 0 ? setTimeout(() => closeAs("hold-expired"), options.holdMs) : 0;
  if (options.signal?.aborted) closeAs("shutdown");
  const onShutdown = options.signal ? sessionsOf(options.signal) : null;
  onShutdown?.add(closeAs);
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  const exchange = options.exchange;
  let sentAt = 0;
  // What came back after the message, compared with it byte for byte.
  let reply: Uint8Array | null = null;
  let replied = 0;
  const unexpected = () => {
    exchange!.onUnexpectedReply(reply!.subarray(0, replied), performance.now() - sentAt);
    closeAs("unexpected-reply");
    return { reason: "unexpected-reply" as const };
  };
  let writeFailure: unknown = null;
  const sendTimer = exchange
    ? setTimeout(() => {
      sentAt = performance.now();
      writeAll(conn, exchange.message).then(exchange.onSent, (err) => {
        // The read reports the connection's fate; a write error alone may come first.
        writeFailure = err;
      });
    }, exchange.afterMs)
    : 0;
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) {
        if (replied > 0) return unexpected(); // part of a reply, then FIN
        closeAs("peer-closed");
        return { reason: "peer-closed" };
      }
      options.onData?.("in", n);
      if (exchange && sentAt > 0) {
        const expected = exchange.message;
        // Room for the message and then some, so that a different reply can be shown.
        reply ??= new Uint8Array(Math.max(expected.length, REPLY_KEPT_BYTES));
        const take = Math.min(n, reply.length - replied);
        reply.set(buf.subarray(0, take), replied);
        replied += take;
        const same = replied <= expected.length &&
          reply.subarray(0, replied).every((b, i) => b === expected[i]);
        if (!same) return unexpected();
        if (replied === expected.length) {
          exchange.onEcho(performance.now() - sentAt);
          closeAs("echoed");
          return { reason: "echoed" };
        }
      }
      if (options.echo) {
        await writeAll(conn, buf.subarray(0, n));
        options.onData?.("out", n);
      }
    }
  } catch (readError) {
    if (closedByUs) return { reason: closedByUs };
    const err = writeFailure ?? readError;
    const reason = endReasonOf(err);
    closeAs(reason);
    return { reason, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
    clearTimeout(sendTimer);
    onShutdown?.delete(closeAs);
  }
}

export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}
