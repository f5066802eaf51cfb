/** The socket layer on Linux and macOS: libc calls on descriptors (setsockopt, getsockopt, …). */
import type { PlatformTable, TcpInfoLayout } from "./platform.ts";
import type {
  AppliedOptions,
  KeepAliveReading,
  KeepAliveRequest,
  RaisedBacklog,
  ReadableWait,
  SocketAddresses,
  Sockets,
  TcpInfo,
} from "./types.ts";
import { connectionKey, type FoundHandle, HandleCheck, HandleFinder } from "./handle_finder.ts";
import {
  type AddressKey,
  addressKeyOf,
  decodeSockaddr,
  SOCKADDR_BUFFER_BYTES,
  sockaddrMatches,
  sockaddrPort,
} from "./sockaddr.ts";
import { type Libc, libc, type LibcSymbols } from "./libc.ts";
import { sharedWatcher } from "./epoll.ts";

export class PosixSockets implements Sockets {
  readonly platform: PlatformTable;
  readonly finder: HandleFinder;
  readonly #c: LibcSymbols;
  readonly #errno: () => number;
  readonly #ebadf: number;
  /** Every connection's descriptor found so far (handleOf). */
  readonly #located = new WeakMap<Deno.TcpConn, number>();
  // Scratch buffers reused by every call: the lookup loop must not allocate.
  readonly #addr = new Uint8Array(SOCKADDR_BUFFER_BYTES);
  readonly #len = new Uint32Array(1);
  readonly #int = new Int32Array(1);
  readonly #intBytes = new Uint8Array(this.#int.buffer);
  readonly #addresses = new Map<string, Uint8Array>();

  /** `c`: the C library; the process's one (libc.ts) unless a test passes another. */
  constructor(platform: PlatformTable, c: Libc = libc(platform)) {
    if (!platform.errno) throw new Error(`${platform.os} is not POSIX`);
    this.platform = platform;
    this.finder = new HandleFinder(platform.firstHandle, platform.handleStep);
    this.#c = c.symbols;
    this.#errno = c.errno;
    this.#ebadf = platform.errno.ebadf;
  }

  locate(conn: Deno.TcpConn): FoundHandle | null {
    const local = this.#addressKey(conn.localAddr);
    const remote = this.#addressKey(conn.remoteAddr);
    const p = this.platform;
    const addr = this.#addr, len = this.#len, c = this.#c, errno = this.#errno;
    const ebadf = this.#ebadf;
    const checker = {
      lastKey: 0,
      check(fd: number): HandleCheck {
        len[0] = SOCKADDR_BUFFER_BYTES;
        if (c.getsockname(fd, addr, len) !== 0) {
          return errno() === ebadf ? HandleCheck.Free : HandleCheck.NotConnected;
        }
        const localMatches = sockaddrMatches(addr, p, local);
        const localPort = sockaddrPort(addr);
        len[0] = SOCKADDR_BUFFER_BYTES;
        if (c.getpeername(fd, addr, len) !== 0) return HandleCheck.NotConnected;
        if (localMatches && sockaddrMatches(addr, p, remote)) return HandleCheck.Match;
        this.lastKey = connectionKey(localPort, sockaddrPort(addr));
        return HandleCheck.Other;
      },
    };
    const found = this.finder.find(connectionKey(local.port, remote.port), checker);
    if (found) this.#located.set(conn, found.handle);
    return found;
  }

  handleOf(conn: Deno.TcpConn): number | undefined {
    return this.#located.get(conn);
  }

  release(conn: Deno.TcpConn): void {
    const handle = this.#located.get(conn);
    if (handle === undefined) return;
    this.#located.delete(conn);
    this.finder.release(handle);
  }

  /**
   * Calls listen() again on `listener`'s descriptor with a larger `backlog`; the kernel caps it at
   * net.core.somaxconn, as it does Go's. Deno listens with 511, and a burst of connects overflows
   * that queue: with SYN cookies on, the final ACK is then dropped and the client believes it is
   * connected to a server that never heard of it. The descriptor is found by checking candidates:
   * bound, not connected, listening, and with the listener's local address. Throws when that fails.
   */
  raiseBacklog(listener: Deno.TcpListener, backlog: number): RaisedBacklog {
    const p = this.platform;
    const local = addressKeyOf(listener.addr);
    const addr = this.#addr, len = this.#len, c = this.#c;
    // Listeners are made early, so their descriptors are low: scan up until a long run of free
    // ones (the same rule HandleFinder uses to decide the region above is empty).
    for (let fd = p.firstHandle, free = 0; free < 64; fd += p.handleStep) {
      len[0] = SOCKADDR_BUFFER_BYTES;
      if (c.getsockname(fd, addr, len) !== 0) {
        free = this.#errno() === this.#ebadf ? free + 1 : 0;
        continue;
      }
      free = 0;
      if (!sockaddrMatches(addr, p, local)) continue;
      len[0] = SOCKADDR_BUFFER_BYTES;
      if (c.getpeername(fd, addr, len) === 0) continue; // connected: an accepted connection
      if (this.#get(fd, p.solSocket, p.soAcceptConn, "SO_ACCEPTCONN") !== 1) continue;
      if (c.listen(fd, backlog) !== 0) {
        throw new Error(`listen(${fd}, ${backlog}) failed (errno ${this.#errno()})`);
      }
      return { handle: fd, backlog: p.tcpInfo ? this.#tcpInfoOrNull(fd)?.sacked ?? null : null };
    }
    throw new Error("could not find the listening socket's descriptor");
  }

  readTcpInfo(fd: number): TcpInfo {
    const layout = this.platform.tcpInfo;
    if (!layout) throw new Error(`TCP_INFO is not read on ${this.platform.os}`);
    const info = this.#tcpInfoOrNull(fd);
    if (!info) throw new Error(`getsockopt TCP_INFO failed (errno ${this.#errno()})`);
    return info;
  }

  #tcpInfoOrNull(fd: number): TcpInfo | null {
    const layout = this.platform.tcpInfo!;
    const buf = new Uint8Array(layout.bytes);
    const len = new Uint32Array([buf.length]);
    if (this.#c.getsockopt(fd, this.platform.ipprotoTcp, layout.option, buf, len) !== 0) {
      return null;
    }
    return decodeTcpInfo(buf.subarray(0, len[0]), layout);
  }

  addressesOf(fd: number): SocketAddresses | null {
    const addr = this.#addr, len = this.#len, c = this.#c;
    len[0] = SOCKADDR_BUFFER_BYTES;
    if (c.getsockname(fd, addr, len) !== 0) return null;
    const local = decodeSockaddr(addr, this.platform);
    if (!local) return null;
    len[0] = SOCKADDR_BUFFER_BYTES;
    const remote = c.getpeername(fd, addr, len) === 0 ? decodeSockaddr(addr, this.platform) : null;
    return { local, remote };
  }

  watchReadable(conn: Deno.TcpConn): ReadableWait | null {
    const fd = this.#located.get(conn);
    if (fd === undefined) return null;
    return sharedWatcher(this.platform)?.watch(fd) ?? null;
  }

  /**
   * addressKeyOf, remembered by address text: thousands of connections share a handful of
   * addresses, and parsing them was half the cost of a one-check lookup.
   */
  #addressKey(addr: Deno.NetAddr): AddressKey {
    let address = this.#addresses.get(addr.hostname);
    if (address === undefined) {
      address = addressKeyOf(addr).address;
      if (this.#addresses.size >= 256) this.#addresses.clear(); // bounded on address scans
      this.#addresses.set(addr.hostname, address);
    }
    return { port: addr.port, address };
  }

  setKeepAlive(fd: number, request: KeepAliveRequest): AppliedOptions {
    const p = this.platform;
    this.#set(fd, p.solSocket, p.soKeepalive, request.enabled ? 1 : 0, "SO_KEEPALIVE");
    if (request.enabled) {
      if (request.idleMs !== undefined) {
        this.#set(fd, p.ipprotoTcp, p.tcpKeepIdle, request.idleMs / 1000, "TCP_KEEPIDLE");
      }
      if (request.intervalMs !== undefined) {
        this.#set(fd, p.ipprotoTcp, p.tcpKeepIntvl, request.intervalMs / 1000, "TCP_KEEPINTVL");
      }
      if (request.count !== undefined) {
        this.#set(fd, p.ipprotoTcp, p.tcpKeepCnt, request.count, "TCP_KEEPCNT");
      }
    }
    if (request.userTimeoutMs !== undefined && p.tcpUserTimeout !== null) {
      this.#set(fd, p.ipprotoTcp, p.tcpUserTimeout, request.userTimeoutMs, "TCP_USER_TIMEOUT");
    }
    return { method: request.enabled ? "setsockopt" : "off", notes: [] };
  }

  /** `withUserTimeout`: also read TCP_USER_TIMEOUT (one more syscall, only when it was set). */
  readKeepAlive(fd: number, withUserTimeout = false): KeepAliveReading {
    const p = this.platform;
    const seconds = (name: number, label: string) =>
      this.#get(fd, p.ipprotoTcp, name, label) * 1000;
    return {
      enabled: this.#get(fd, p.solSocket, p.soKeepalive, "SO_KEEPALIVE") !== 0,
      values: {
        idleMs: seconds(p.tcpKeepIdle, "TCP_KEEPIDLE"),
        intervalMs: seconds(p.tcpKeepIntvl, "TCP_KEEPINTVL"),
        count: this.#get(fd, p.ipprotoTcp, p.tcpKeepCnt, "TCP_KEEPCNT"),
      },
      notes: [],
      ...(p.tcpUserTimeout === null || !withUserTimeout ? {} : {
        userTimeoutMs: this.#get(fd, p.ipprotoTcp, p.tcpUserTimeout, "TCP_USER_TIMEOUT"),
      }),
    };
  }

  reset(fd: number): void {
    const p = this.platform;
    const linger = new Int32Array([1, 0]); // l_onoff = 1, l_linger = 0
    if (
      this.#c.setsockopt(fd, p.solSocket, p.soLinger, new Uint8Array(linger.buffer), 8) !== 0
    ) {
      throw new Error(`setsockopt SO_LINGER failed (errno ${this.#errno()})`);
    }
    // Closing alone is not enough: Deno shuts down the write side (FIN) before closing the
    // descriptor, so the peer would see a FIN first. connect(AF_UNSPEC) disconnects the socket on
    // the spot (tcp_disconnect), which sends the RST; Deno's later close then has nothing to send.
    const unspec = new Uint8Array(16); // sa_family = AF_UNSPEC (0)
    if (this.#c.connect(fd, unspec, unspec.length) !== 0 && p.unspecConnectResets) {
      throw new Error(`disconnect failed (errno ${this.#errno()})`);
    }
  }

  #set(fd: number, level: number, name: number, value: number, label: string): void {
    this.#int[0] = value;
    if (this.#c.setsockopt(fd, level, name, this.#intBytes, 4) !== 0) {
      throw new Error(`setsockopt ${label}=${value} failed (errno ${this.#errno()})`);
    }
  }

  #get(fd: number, level: number, name: number, label: string): number {
    this.#len[0] = 4;
    if (this.#c.getsockopt(fd, level, name, this.#intBytes, this.#len) !== 0) {
      throw new Error(`getsockopt ${label} failed (errno ${this.#errno()})`);
    }
    return this.#int[0];
  }
}

/** Reads the table's `struct tcp_info` fields from what the kernel filled in (host byte order). */
export function decodeTcpInfo(buf: Uint8Array, layout: TcpInfoLayout): TcpInfo {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const f = layout.fields;
  const read = (field: { offset: number; bytes: 1 | 4 }): number => {
    if (field.offset + field.bytes > buf.length) return 0; // an older kernel's shorter struct
    return field.bytes === 1 ? view.getUint8(field.offset) : view.getUint32(field.offset, little);
  };
  const state = read(f.state);
  return {
    state,
    stateName: layout.states[state] ?? `state ${state}`,
    retransmits: read(f.retransmits),
    probes: read(f.probes),
    backoff: read(f.backoff),
    rtoMicros: read(f.rtoMicros),
    rttMicros: read(f.rttMicros),
    unacked: read(f.unacked),
    sacked: read(f.sacked),
    lastDataSentMs: read(f.lastDataSentMs),
    lastDataRecvMs: read(f.lastDataRecvMs),
    lastAckRecvMs: read(f.lastAckRecvMs),
    totalRetrans: read(f.totalRetrans),
    segsIn: read(f.segsIn),
  };
}
