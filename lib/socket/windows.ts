/**
 * The socket layer on Windows: Winsock (ws2_32.dll) calls on SOCKET handles, keep-alive above all.
 *
 * Finding the SOCKET: Deno does not expose it, but SOCKET handles are small multiples of 4, so the
 * shared HandleFinder checks 4, 8, 12, … with getsockname/getpeername, classifying failures with
 * WSAGetLastError (WSAENOTSOCK: no socket there; anything else: a socket that is not ours).
 *
 * Setting the timings, two ways:
 * - setsockopt TCP_KEEPIDLE / TCP_KEEPINTVL (Windows 10 1709+) and TCP_KEEPCNT (1703+) at
 *   IPPROTO_TCP, in whole seconds, read back with getsockopt: preferred, because it can be read back.
 * - WSAIoctl SIO_KEEPALIVE_VALS (every Windows since 2000): idle and interval in milliseconds, set
 *   together. Windows cannot read them back, and the probe count is fixed by Windows at 10. Used
 *   when the setsockopt options are refused (older Windows; Wine 8.0, which lacks them) and when a
 *   time is not whole seconds, so that a millisecond value is honoured rather than rounded.
 * The read-back reports each value from the socket where getsockopt can read it and otherwise "as
 * set" (KeepAliveReport.source "as-set"), with a note naming which values those are.
 *
 * Reset: SO_LINGER {l_onoff 1, l_linger 0} makes closesocket abort with an RST. Deno shuts down the
 * write side (a FIN) before it closes the socket, and Windows has no equivalent of Linux's
 * connect(AF_UNSPEC) disconnect, so on Windows the peer may see a FIN just before the RST.
 */
import type { PlatformTable } from "./platform.ts";
import type {
  AppliedOptions,
  KeepAliveReading,
  KeepAliveRequest,
  KeepAliveValues,
  ProcessDescriptors,
  RaisedBacklog,
  Readiness,
  ReadinessOwner,
  Sockets,
  TcpInfo,
  ValuesSource,
} from "./types.ts";
import { HandleCheck, HandleFinder } from "./handle_finder.ts";
import { SOCKADDR_BUFFER_BYTES } from "./sockaddr.ts";
import { HandleLocator } from "./locator.ts";
import { ProcessAccessError } from "./process_access.ts";
import { type Winsock, winsock } from "./winsock.ts";
import { formatDuration } from "../duration.ts";

export const WSAEINVAL = 10022;
export const WSAENOTSOCK = 10038;
export const WSAENOPROTOOPT = 10042;
export const WSAENOTCONN = 10057;

/** Idle and interval Windows uses when a socket does not set them (documented defaults). */
const WINDOWS_DEFAULT_IDLE_MS = 7_200_000;
const WINDOWS_DEFAULT_INTERVAL_MS = 1000;

/** `struct tcp_keepalive { u_long onoff, keepalivetime, keepaliveinterval; }`: 12 bytes, LE. */
export function encodeTcpKeepalive(on: boolean, idleMs: number, intervalMs: number): Uint8Array {
  for (const [name, ms] of [["idle", idleMs], ["interval", intervalMs]] as const) {
    if (!Number.isInteger(ms) || ms < 0 || ms > 0xffff_ffff) {
      throw new RangeError(`SIO_KEEPALIVE_VALS ${name} ${ms}ms is not a u_long`);
    }
  }
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, on ? 1 : 0, true);
  view.setUint32(4, idleMs, true);
  view.setUint32(8, intervalMs, true);
  return bytes;
}

/** Windows `struct linger { u_short l_onoff; u_short l_linger; }`: 4 bytes, LE. */
export function encodeLinger(on: boolean, seconds: number): Uint8Array {
  const bytes = new Uint8Array(4);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, on ? 1 : 0, true);
  view.setUint16(2, seconds, true);
  return bytes;
}

/** What a failed getsockname at a handle value means for the search. */
export function checkFromError(wsaError: number): HandleCheck {
  // WSAENOTCONN, WSAEINVAL (not bound yet): a socket, but never our connection.
  // WSAENOTSOCK (nothing there, or a file/event/thread handle) and anything unexpected count toward
  // the run of free values that ends the search, so it always ends.
  return wsaError === WSAENOTCONN || wsaError === WSAEINVAL
    ? HandleCheck.NotConnected
    : HandleCheck.Free;
}

/** setsockopt/getsockopt refusals meaning "this Windows does not have that option". */
export function isUnsupportedOption(wsaError: number): boolean {
  return wsaError === WSAENOPROTOOPT || wsaError === WSAEINVAL;
}

type WindowsMethod = "setsockopt" | "sio_keepalive_vals";

/**
 * Which call sets `request`'s times: setsockopt (whole seconds, readable) unless it is known to be
 * refused here or a time has a millisecond part, which only SIO_KEEPALIVE_VALS can express.
 */
export function chooseMethod(request: KeepAliveRequest, timesSupported: boolean): WindowsMethod {
  const times = [request.idleMs, request.intervalMs].filter((ms) => ms !== undefined);
  if (times.length === 0) return "setsockopt";
  if (!timesSupported) return "sio_keepalive_vals";
  return times.every((ms) => ms % 1000 === 0) ? "setsockopt" : "sio_keepalive_vals";
}

/** A read-back that also says where its values came from (the socket, or what was set). */
interface WindowsReading extends KeepAliveReading {
  source: ValuesSource; // always set: "as-set" after SIO_KEEPALIVE_VALS
}

class WinsockError extends Error {
  constructor(readonly call: string, readonly code: number) {
    super(`${call} failed (WSA error ${code}${code === WSAENOPROTOOPT ? ", WSAENOPROTOOPT" : ""})`);
  }
}

export class WindowsSockets extends HandleLocator implements Sockets {
  readonly #ws: Winsock;
  /** Idle/interval set with SIO_KEEPALIVE_VALS per handle: Windows cannot read them back. */
  readonly #asSet = new Map<number, { idleMs: number; intervalMs: number }>();
  /** Why TCP_KEEPIDLE/TCP_KEEPINTVL cannot be used (null: usable); learnt on first use. */
  #timesRefused: string | null = null;
  /** Whether TCP_KEEPCNT is accepted; learnt on first use. */
  #countSupported = true;
  readonly #len = new Int32Array(1);
  readonly #int = new Int32Array(1);
  readonly #intBytes = new Uint8Array(this.#int.buffer);
  readonly #returned = new Uint32Array(1);

  /** `ws`: Winsock; the process's one (winsock.ts) unless a test passes a fake. */
  constructor(platform: PlatformTable, ws?: Winsock) {
    if (platform.sioKeepaliveVals === null || platform.fixedCount === null) {
      throw new Error(`${platform.os} is not Windows`);
    }
    // Windows hands out handles for files, events and threads from the same table, so sockets sit
    // further apart than POSIX descriptors: allow a longer run of non-sockets before giving up.
    super(platform, new HandleFinder(platform.firstHandle, platform.handleStep, 256));
    this.#ws = ws ?? winsock(platform.library);
  }

  protected sockName(handle: number): HandleCheck | null {
    this.#len[0] = SOCKADDR_BUFFER_BYTES;
    if (this.#ws.getsockname(BigInt(handle), this.addr, this.#len) === 0) return null;
    return checkFromError(this.#ws.WSAGetLastError());
  }

  protected peerName(handle: number): boolean {
    this.#len[0] = SOCKADDR_BUFFER_BYTES;
    return this.#ws.getpeername(BigInt(handle), this.addr, this.#len) === 0;
  }

  protected socketType(handle: number): number | null {
    this.#len[0] = 4;
    const p = this.platform;
    return this.#ws.getsockopt(BigInt(handle), p.solSocket, p.soType, this.#intBytes, this.#len) ===
        0
      ? this.#int[0]
      : null;
  }

  protected override forgetHandle(handle: number): void {
    this.#asSet.delete(handle);
  }

  raiseBacklog(_listener: Deno.TcpListener, _backlog: number): RaisedBacklog {
    throw new Error("raising the listen backlog is not supported on Windows");
  }

  readTcpInfo(_handle: number): TcpInfo {
    throw new Error("TCP_INFO is not read on Windows");
  }

  /** Windows keeps a read pending per connection (no epoll). */
  readiness(_owner: ReadinessOwner): Readiness | null {
    return null;
  }

  openProcess(_pid: number): ProcessDescriptors {
    throw new ProcessAccessError(
      "unsupported",
      "pidfd_open",
      "another process's sockets are reached on Linux only (pidfd_getfd)",
    );
  }

  processIds(): number[] {
    return [];
  }

  processCommand(_pid: number): string | null {
    return null;
  }

  socketCookie(_handle: number): number | null {
    return null;
  }

  closeHandle(_handle: number): void {
    throw new Error("closeHandle: no copied handles on Windows");
  }

  setKeepAlive(handle: number, request: KeepAliveRequest): AppliedOptions {
    const p = this.platform;
    this.#setInt(handle, p.solSocket, p.soKeepalive, request.enabled ? 1 : 0, "SO_KEEPALIVE");
    this.#asSet.delete(handle);
    if (!request.enabled) return { method: "off", notes: [] };

    const notes: string[] = [];
    let why: string | null = null;
    if (chooseMethod(request, this.#timesRefused === null) === "setsockopt") {
      try {
        if (request.idleMs !== undefined) {
          this.#setInt(handle, p.ipprotoTcp, p.tcpKeepIdle, request.idleMs / 1000, "TCP_KEEPIDLE");
        }
        if (request.intervalMs !== undefined) {
          const seconds = request.intervalMs / 1000;
          this.#setInt(handle, p.ipprotoTcp, p.tcpKeepIntvl, seconds, "TCP_KEEPINTVL");
        }
      } catch (err) {
        if (!(err instanceof WinsockError) || !isUnsupportedOption(err.code)) throw err;
        this.#timesRefused = `${err.message}: this Windows lacks TCP_KEEPIDLE/TCP_KEEPINTVL ` +
          `(Windows 10 1709+ has them)`;
        why = this.#timesRefused;
      }
      if (why === null) {
        this.#applyCount(handle, request, "setsockopt", notes);
        return { method: "setsockopt", notes };
      }
    } else {
      why = this.#timesRefused ??
        "it takes milliseconds (setsockopt TCP_KEEPIDLE/TCP_KEEPINTVL take whole seconds)";
    }

    const idleMs = request.idleMs ?? WINDOWS_DEFAULT_IDLE_MS;
    const intervalMs = request.intervalMs ?? WINDOWS_DEFAULT_INTERVAL_MS;
    const input = encodeTcpKeepalive(true, idleMs, intervalMs);
    this.#returned[0] = 0;
    const ok = this.#ws.WSAIoctl(
      BigInt(handle),
      p.sioKeepaliveVals!,
      input,
      input.length,
      null,
      0,
      this.#returned,
      null,
      null,
    ) === 0;
    if (!ok) throw new WinsockError("WSAIoctl SIO_KEEPALIVE_VALS", this.#ws.WSAGetLastError());
    this.#asSet.set(handle, { idleMs, intervalMs });
    notes.push(`set with SIO_KEEPALIVE_VALS: ${why}`);
    const unasked = [
      request.idleMs === undefined ? `idle ${formatDuration(idleMs)}` : null,
      request.intervalMs === undefined ? `interval ${formatDuration(intervalMs)}` : null,
    ].filter((s) => s !== null);
    if (unasked.length > 0) {
      notes.push(
        `SIO_KEEPALIVE_VALS sets idle and interval together: ${
          unasked.join(" and ")
        } (Windows' default) was set too`,
      );
    }
    this.#applyCount(handle, request, "sio_keepalive_vals", notes);
    return { method: "sio_keepalive_vals", notes };
  }

  #applyCount(
    handle: number,
    request: KeepAliveRequest,
    method: WindowsMethod,
    notes: string[],
  ): void {
    if (request.count === undefined) return;
    const p = this.platform;
    if (this.#countSupported) {
      try {
        this.#setInt(handle, p.ipprotoTcp, p.tcpKeepCnt, request.count, "TCP_KEEPCNT");
        return;
      } catch (err) {
        if (!(err instanceof WinsockError) || !isUnsupportedOption(err.code)) throw err;
        this.#countSupported = false;
      }
    }
    notes.push(
      `count ${request.count} was not applied: TCP_KEEPCNT is not supported here (Windows 10 ` +
        `1703+)${
          method === "sio_keepalive_vals"
            ? `, and SIO_KEEPALIVE_VALS cannot set it: Windows fixes it at ${p.fixedCount}`
            : ""
        }`,
    );
  }

  readKeepAlive(handle: number): WindowsReading {
    const p = this.platform;
    const enabled = this.#getInt(handle, p.solSocket, p.soKeepalive, "SO_KEEPALIVE") !== 0;
    const asSet = this.#asSet.get(handle);
    const notes: string[] = [];
    const tryGet = (name: number, label: string): number | null => {
      try {
        return this.#getInt(handle, p.ipprotoTcp, name, label);
      } catch (err) {
        if (err instanceof WinsockError && isUnsupportedOption(err.code)) return null;
        throw err;
      }
    };
    const idleSeconds = tryGet(p.tcpKeepIdle, "TCP_KEEPIDLE");
    const intervalSeconds = tryGet(p.tcpKeepIntvl, "TCP_KEEPINTVL");
    const count = tryGet(p.tcpKeepCnt, "TCP_KEEPCNT");

    const values: KeepAliveValues = { idleMs: null, intervalMs: null, count };
    const fromSet: string[] = [];
    const fromDefaults: string[] = [];
    const pick = (label: "idle" | "interval", seconds: number | null, set: number | undefined) => {
      // getsockopt answers in whole seconds: a millisecond value set with SIO_KEEPALIVE_VALS is
      // reported as set, where it agrees with the socket's rounding.
      if (seconds !== null && !(set !== undefined && set % 1000 !== 0)) return seconds * 1000;
      if (set !== undefined) {
        fromSet.push(`${label} ${formatDuration(set)}`);
        return set;
      }
      fromDefaults.push(label);
      return label === "idle" ? WINDOWS_DEFAULT_IDLE_MS : WINDOWS_DEFAULT_INTERVAL_MS;
    };
    values.idleMs = pick("idle", idleSeconds, asSet?.idleMs);
    values.intervalMs = pick("interval", intervalSeconds, asSet?.intervalMs);
    let countFixed = false;
    if (values.count === null) {
      values.count = p.fixedCount;
      countFixed = true;
    }

    if (enabled) {
      if (fromSet.length > 0) {
        notes.push(
          `${fromSet.join(" and ")} as set with SIO_KEEPALIVE_VALS, not readable: Windows cannot ` +
            `read them back`,
        );
      }
      if (fromDefaults.length > 0) {
        notes.push(
          `${fromDefaults.join(" and ")} not readable here: Windows' documented default shown ` +
            `(the registry's KeepAliveTime/KeepAliveInterval may differ)`,
        );
      }
      if (countFixed) {
        notes.push(
          `count ${p.fixedCount} is fixed by Windows and cannot be set or read here ` +
            `(TCP_KEEPCNT needs Windows 10 1703+)`,
        );
      }
    }
    // Anything filled from what SIO_KEEPALIVE_VALS set makes the whole report "as set"; values
    // neither read nor set are Windows' defaults.
    const source: ValuesSource = fromSet.length > 0
      ? "as-set"
      : fromDefaults.length > 0 || countFixed
      ? "system-defaults"
      : "socket";
    return { enabled, values, notes, source };
  }

  reset(handle: number): void {
    const p = this.platform;
    const linger = encodeLinger(true, 0);
    if (this.#ws.setsockopt(BigInt(handle), p.solSocket, p.soLinger, linger, linger.length) !== 0) {
      throw new WinsockError("setsockopt SO_LINGER", this.#ws.WSAGetLastError());
    }
    // closesocket (when Deno closes the connection) now aborts with an RST. Deno shuts down the
    // write side first, so the peer may see that FIN before the RST (see the module comment).
  }

  #setInt(handle: number, level: number, name: number, value: number, label: string): void {
    this.#int[0] = value;
    if (this.#ws.setsockopt(BigInt(handle), level, name, this.#intBytes, 4) !== 0) {
      throw new WinsockError(`setsockopt ${label}=${value}`, this.#ws.WSAGetLastError());
    }
  }

  #getInt(handle: number, level: number, name: number, label: string): number {
    // Some options answer with fewer than 4 bytes (a BOOLEAN): zero the rest first.
    this.#int[0] = 0;
    this.#len[0] = 4;
    if (this.#ws.getsockopt(BigInt(handle), level, name, this.#intBytes, this.#len) !== 0) {
      throw new WinsockError(`getsockopt ${label}`, this.#ws.WSAGetLastError());
    }
    return this.#int[0];
  }
}
