/** Keep-alive through libc on Linux and macOS: setsockopt/getsockopt on the connection's descriptor. */
import type { PlatformTable } from "./constants.ts";
import type { AppliedOptions, ReadBack, SocketOptionsBackend } from "./backend.ts";
import type { KeepAliveRequest } from "./settings.ts";
import { connectionKey, type FoundHandle, HandleFinder, Probe } from "./handle_finder.ts";
import {
  type Endpoint,
  endpointOf,
  SOCKADDR_BUFFER_BYTES,
  sockaddrMatches,
  sockaddrPort,
} from "./sockaddr.ts";

const EBADF = 9;

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** SO_ACCEPTCONN (is this socket listening?), which the keep-alive table has no use for. */
const SO_ACCEPTCONN: Record<string, number> = { linux: 30, darwin: 0x0002 };
/** Linux TCP_INFO; on a listener `tcpi_sacked` holds the accept-queue limit in force. */
const TCP_INFO = 11;
const TCPI_SACKED_OFFSET = 28;
const TCP_INFO_BYTES = 232;

/** What `raiseBacklog` did: the listener's descriptor and the limit the kernel reports back. */
export interface RaisedBacklog {
  handle: number;
  /** The accept-queue limit now in force (null where the kernel cannot say: not Linux). */
  backlog: number | null;
}

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

export class PosixBackend implements SocketOptionsBackend {
  readonly platform: PlatformTable;
  readonly finder: HandleFinder;
  readonly #libc: Libc;
  readonly #errno: () => number;
  // Scratch buffers reused by every call: the probe loop must not allocate.
  readonly #addr = new Uint8Array(SOCKADDR_BUFFER_BYTES);
  readonly #len = new Uint32Array(1);
  readonly #int = new Int32Array(1);
  readonly #intBytes = new Uint8Array(this.#int.buffer);
  readonly #addresses = new Map<string, Uint8Array>();

  constructor(platform: PlatformTable) {
    this.platform = platform;
    this.finder = new HandleFinder(platform.firstHandle, platform.handleStep);
    const errnoSymbol = platform.os === "darwin" ? "__error" : "__errno_location";
    const lib = Deno.dlopen(
      platform.library,
      {
        ...SYMBOLS,
        [errnoSymbol]: { parameters: [], result: "pointer" },
      } as typeof SYMBOLS & Record<string, Deno.ForeignFunction>,
    );
    this.#libc = lib.symbols;
    const errnoFn =
      (lib.symbols as unknown as Record<string, () => Deno.PointerValue>)[errnoSymbol];
    this.#errno = () => {
      const ptr = errnoFn();
      return ptr ? new Deno.UnsafePointerView(ptr).getInt32() : 0;
    };
  }

  locate(conn: Deno.TcpConn): FoundHandle | null {
    const local = this.#endpoint(conn.localAddr);
    const remote = this.#endpoint(conn.remoteAddr);
    const { afInet, afInet6, sockaddrLayout } = this.platform;
    const addr = this.#addr, len = this.#len, libc = this.#libc, errno = this.#errno;
    const prober = {
      lastKey: 0,
      probe(fd: number): Probe {
        len[0] = SOCKADDR_BUFFER_BYTES;
        if (libc.getsockname(fd, addr, len) !== 0) {
          return errno() === EBADF ? Probe.Free : Probe.NotConnected;
        }
        const localMatches = sockaddrMatches(addr, sockaddrLayout, afInet, afInet6, local);
        const localPort = sockaddrPort(addr);
        len[0] = SOCKADDR_BUFFER_BYTES;
        if (libc.getpeername(fd, addr, len) !== 0) return Probe.NotConnected;
        if (localMatches && sockaddrMatches(addr, sockaddrLayout, afInet, afInet6, remote)) {
          return Probe.Match;
        }
        this.lastKey = connectionKey(localPort, sockaddrPort(addr));
        return Probe.Other;
      },
    };
    const found = this.finder.find(connectionKey(local.port, remote.port), prober);
    return found;
  }

  /**
   * Calls listen() again on `listener`'s descriptor with a larger `backlog`; the kernel caps it at
   * net.core.somaxconn, as it does Go's. Deno listens with 511, and a burst of connects overflows
   * that queue: with SYN cookies on, the final ACK is then dropped and the client believes it is
   * connected to a server that never heard of it. The descriptor is found by probing: bound, not
   * connected, listening, and with the listener's local address. Throws when that fails.
   */
  raiseBacklog(listener: Deno.TcpListener, backlog: number): RaisedBacklog {
    const p = this.platform;
    const acceptConn = SO_ACCEPTCONN[p.os];
    if (acceptConn === undefined) throw new Error(`not supported on ${p.os}`);
    const local = endpointOf(listener.addr);
    const addr = this.#addr, len = this.#len, libc = this.#libc;
    // Listeners are made early, so their descriptors are low: scan up until a long run of free
    // ones (the same rule HandleFinder uses to decide the region above is empty).
    for (let fd = p.firstHandle, free = 0; free < 64; fd += p.handleStep) {
      len[0] = SOCKADDR_BUFFER_BYTES;
      if (libc.getsockname(fd, addr, len) !== 0) {
        free = this.#errno() === EBADF ? free + 1 : 0;
        continue;
      }
      free = 0;
      if (!sockaddrMatches(addr, p.sockaddrLayout, p.afInet, p.afInet6, local)) continue;
      len[0] = SOCKADDR_BUFFER_BYTES;
      if (libc.getpeername(fd, addr, len) === 0) continue; // connected: an accepted connection
      if (this.#get(fd, p.solSocket, acceptConn, "SO_ACCEPTCONN") !== 1) continue;
      if (libc.listen(fd, backlog) !== 0) {
        throw new Error(`listen(${fd}, ${backlog}) failed (errno ${this.#errno()})`);
      }
      return { handle: fd, backlog: p.os === "linux" ? this.#listenLimit(fd) : null };
    }
    throw new Error("could not find the listening socket's descriptor");
  }

  #listenLimit(fd: number): number | null {
    const info = new Uint8Array(TCP_INFO_BYTES);
    const len = new Uint32Array([info.length]);
    if (this.#libc.getsockopt(fd, this.platform.ipprotoTcp, TCP_INFO, info, len) !== 0) return null;
    if (len[0] < TCPI_SACKED_OFFSET + 4) return null;
    return new Uint32Array(info.buffer)[TCPI_SACKED_OFFSET / 4]; // host byte order
  }

  /**
   * endpointOf, remembered by address text: thousands of connections share a handful of
   * addresses, and parsing them was half the cost of a one-probe lookup.
   */
  #endpoint(addr: Deno.NetAddr): Endpoint {
    let address = this.#addresses.get(addr.hostname);
    if (address === undefined) {
      address = endpointOf(addr).address;
      if (this.#addresses.size >= 256) this.#addresses.clear(); // bounded on address scans
      this.#addresses.set(addr.hostname, address);
    }
    return { port: addr.port, address };
  }

  forget(handle: number): void {
    this.finder.release(handle);
  }

  apply(fd: number, request: KeepAliveRequest): AppliedOptions {
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
  read(fd: number, withUserTimeout = false): ReadBack {
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
      this.#libc.setsockopt(fd, p.solSocket, p.soLinger, new Uint8Array(linger.buffer), 8) !== 0
    ) {
      throw new Error(`setsockopt SO_LINGER failed (errno ${this.#errno()})`);
    }
    // Closing alone is not enough: Deno shuts down the write side (FIN) before closing the
    // descriptor, so the peer would see a FIN first. connect(AF_UNSPEC) disconnects the socket on
    // the spot (tcp_disconnect), which sends the RST; Deno's later close then has nothing to send.
    const unspec = new Uint8Array(16); // sa_family = AF_UNSPEC (0)
    if (this.#libc.connect(fd, unspec, unspec.length) !== 0 && p.os === "linux") {
      throw new Error(`disconnect failed (errno ${this.#errno()})`);
    }
  }

  #set(fd: number, level: number, name: number, value: number, label: string): void {
    this.#int[0] = value;
    if (this.#libc.setsockopt(fd, level, name, this.#intBytes, 4) !== 0) {
      throw new Error(`setsockopt ${label}=${value} failed (errno ${this.#errno()})`);
    }
  }

  #get(fd: number, level: number, name: number, label: string): number {
    this.#len[0] = 4;
    if (this.#libc.getsockopt(fd, level, name, this.#intBytes, this.#len) !== 0) {
      throw new Error(`getsockopt ${label} failed (errno ${this.#errno()})`);
    }
    return this.#int[0];
  }
}
