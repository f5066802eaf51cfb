/** Keep-alive through libc on Linux and macOS: setsockopt/getsockopt on the connection's descriptor. */
import type { PlatformTable } from "./constants.ts";
import type { AppliedOptions, ReadBack, SocketOptionsBackend } from "./backend.ts";
import type { KeepAliveRequest } from "./settings.ts";
import { connectionKey, type FoundHandle, HandleFinder, Probe } from "./handle_finder.ts";
import { endpointOf, SOCKADDR_BUFFER_BYTES, sockaddrMatches, sockaddrPort } from "./sockaddr.ts";

const EBADF = 9;

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
} as const;

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
    const local = endpointOf(conn.localAddr);
    const remote = endpointOf(conn.remoteAddr);
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
    return this.finder.find(connectionKey(local.port, remote.port), prober);
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
    return { method: request.enabled ? "setsockopt" : "off", notes: [] };
  }

  read(fd: number): ReadBack {
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
