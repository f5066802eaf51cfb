/** The socket layer on Linux and macOS: libc calls on descriptors (setsockopt, getsockopt, …). */
import type { PlatformTable, TcpInfoLayout } from "./platform.ts";
import type {
  AppliedOptions,
  KeepAliveReading,
  KeepAliveRequest,
  ProcessDescriptors,
  RaisedBacklog,
  Readiness,
  ReadinessOwner,
  Sockets,
  TcpInfo,
} from "./types.ts";
import { HandleCheck, HandleFinder } from "./handle_finder.ts";
import { addressKeyOf, SOCKADDR_BUFFER_BYTES, sockaddrMatches } from "./sockaddr.ts";
import { HandleLocator } from "./locator.ts";
import { type Libc, libc, type LibcSymbols } from "./libc.ts";
import { epollFor } from "./epoll.ts";
import { ProcessAccessError, type ProcessFailure } from "./process_access.ts";

export class PosixSockets extends HandleLocator implements Sockets {
  readonly #c: LibcSymbols;
  readonly #errno: () => number;
  readonly #ebadf: number;
  readonly #errnos: NonNullable<PlatformTable["errno"]>;
  // Scratch buffers reused by every call: the lookup loop must not allocate.
  readonly #len = new Uint32Array(1);
  readonly #int = new Int32Array(1);
  readonly #intBytes = new Uint8Array(this.#int.buffer);
  #tcpInfoBuffer: Uint8Array | null = null;
  readonly #link = new Uint8Array(64);
  /** A pid's or descriptor's name: at most 10 digits and the NUL (d_name is 256 bytes). */
  readonly #direntName = new Uint8Array(12);
  readonly #cookie = new BigUint64Array(1);
  readonly #cookieBytes = new Uint8Array(this.#cookie.buffer);

  /** `c`: the C library; the process's one (libc.ts) unless a test passes another. */
  constructor(platform: PlatformTable, c: Libc = libc(platform)) {
    if (!platform.errno) throw new Error(`${platform.os} is not POSIX`);
    super(platform, new HandleFinder(platform.firstHandle, platform.handleStep));
    this.#c = c.symbols;
    this.#errno = c.errno;
    this.#ebadf = platform.errno.ebadf;
    this.#errnos = platform.errno;
  }

  protected sockName(fd: number): HandleCheck | null {
    this.#len[0] = SOCKADDR_BUFFER_BYTES;
    if (this.#c.getsockname(fd, this.addr, this.#len) === 0) return null;
    return this.#errno() === this.#ebadf ? HandleCheck.Free : HandleCheck.NotConnected;
  }

  protected peerName(fd: number): boolean {
    this.#len[0] = SOCKADDR_BUFFER_BYTES;
    return this.#c.getpeername(fd, this.addr, this.#len) === 0;
  }

  protected socketType(fd: number): number | null {
    this.#len[0] = 4;
    const p = this.platform;
    return this.#c.getsockopt(fd, p.solSocket, p.soType, this.#intBytes, this.#len) === 0
      ? this.#int[0]
      : null;
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
    // Listeners are made early, so their descriptors are low: scan up until a long run of free
    // ones (the same rule HandleFinder uses to decide the region above is empty).
    for (let fd = p.firstHandle, free = 0; free < 64; fd += p.handleStep) {
      const failed = this.sockName(fd);
      if (failed !== null) {
        free = failed === HandleCheck.Free ? free + 1 : 0;
        continue;
      }
      free = 0;
      if (!sockaddrMatches(this.addr, p, local)) continue;
      if (this.peerName(fd)) continue; // connected: an accepted connection
      if (this.#get(fd, p.solSocket, p.soAcceptConn, "SO_ACCEPTCONN") !== 1) continue;
      if (this.#c.listen(fd, backlog) !== 0) {
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
    // One scratch buffer: inspect reads TCP_INFO on tens of thousands of sockets in a row.
    const buf = this.#tcpInfoBuffer ??= new Uint8Array(layout.bytes);
    const len = this.#len;
    len[0] = buf.length;
    if (this.#c.getsockopt(fd, this.platform.ipprotoTcp, layout.option, buf, len) !== 0) {
      return null;
    }
    return decodeTcpInfo(buf.subarray(0, len[0]), layout);
  }

  openProcess(pid: number): ProcessDescriptors {
    const { pidfd_open, pidfd_getfd } = this.#c;
    if (!pidfd_open || !pidfd_getfd) {
      throw new ProcessAccessError(
        "unsupported",
        "pidfd_open",
        `pidfd_open: not in ${this.platform.library}`,
      );
    }
    const pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) throw this.#processError("pidfd_open");
    let open = true;
    return {
      pid,
      copy: (fd: number) => {
        const copy = pidfd_getfd(pidfd, fd, 0);
        if (copy < 0) throw this.#processError("pidfd_getfd");
        return copy;
      },
      checkAccess: () => {
        // The kernel checks ptrace access before it looks the descriptor up, so a number no
        // process can have answers EPERM (refused) or EBADF (allowed) and copies nothing.
        const copy = pidfd_getfd(pidfd, 0x7fffffff, 0);
        if (copy >= 0) {
          this.closeHandle(copy);
          return;
        }
        const error = this.#processError("pidfd_getfd");
        if (error.failure !== "closed") throw error;
      },
      socketInodes: () => this.#socketInodes(pid),
      close: () => {
        if (open) this.#c.close(pidfd);
        open = false;
      },
    };
  }

  processIds(): number[] {
    return this.platform.os === "linux" ? this.#numberedEntries("/proc") : [];
  }

  processCommand(pid: number): string | null {
    if (this.platform.os !== "linux") return null;
    const fd = this.#c.open(cString(`/proc/${pid}/comm`), 0 /* O_RDONLY */);
    if (fd < 0) return null;
    try {
      const buf = new Uint8Array(64);
      const n = Number(this.#c.read(fd, buf, BigInt(buf.length)));
      return n > 0 ? new TextDecoder().decode(buf.subarray(0, n)).replace(/\n$/, "") : null;
    } finally {
      this.#c.close(fd);
    }
  }

  socketCookie(handle: number): number | null {
    const option = this.platform.soCookie;
    if (option === null) return null;
    this.#len[0] = 8;
    if (this.#c.getsockopt(handle, this.platform.solSocket, option, this.#cookieBytes, this.#len)) {
      return null;
    }
    return Number(this.#cookie[0]);
  }

  /**
   * readlink of each /proc/PID/fd/N, keeping "socket:[inode]": what ss -p does. The path and the
   * link are bytes in reused buffers; tens of thousands of descriptors go through here.
   */
  #socketInodes(pid: number): [number, number][] {
    const out: [number, number][] = [];
    const base = new TextEncoder().encode(`/proc/${pid}/fd/`);
    const path = new Uint8Array(base.length + 12);
    path.set(base);
    const link = this.#link;
    for (const fd of this.#numberedEntries(`/proc/${pid}/fd`)) {
      let end = base.length;
      for (const digit of String(fd)) path[end++] = digit.charCodeAt(0);
      path[end] = 0;
      const n = Number(this.#c.readlink(path, link, BigInt(link.length)));
      // "socket:[" then the inode's digits and "]"
      if (n < 10 || link[0] !== 115 || link[6] !== 58 || link[7] !== 91 || link[n - 1] !== 93) {
        continue;
      }
      let inode = 0;
      for (let i = 8; i < n - 1; i++) inode = inode * 10 + (link[i] - 48);
      out.push([fd, inode]);
    }
    return out;
  }

  /**
   * The names of `dir` that are numbers (pids in /proc, descriptors in /proc/PID/fd), through
   * libc's readdir. glibc's and musl's 64-bit `struct dirent`: d_ino, d_off (8 bytes each),
   * d_reclen (2), d_type (1), then d_name at 19.
   */
  #numberedEntries(dir: string): number[] {
    const { opendir, readdir, closedir } = this.#c;
    const handle = opendir(cString(dir));
    if (!handle) return [];
    const out: number[] = [];
    try {
      // One copy of the name's first bytes per entry: a view and a call per byte cost more.
      const name = this.#direntName;
      for (let entry = readdir(handle); entry; entry = readdir(handle)) {
        Deno.UnsafePointerView.copyInto(entry, name, 19);
        let n = 0, i = 0;
        for (let c = name[0]; c >= 48 && c <= 57 && i < name.length; c = name[++i]) {
          n = n * 10 + (c - 48);
        }
        if (i > 0 && i < name.length && name[i] === 0) out.push(n);
      }
    } finally {
      closedir(handle);
    }
    return out;
  }

  closeHandle(fd: number): void {
    this.#c.close(fd);
  }

  #processError(call: string): ProcessAccessError {
    const errno = this.#errno(), e = this.#errnos;
    const [failure, text]: [ProcessFailure, string] = errno === e.eperm
      ? ["denied", "Operation not permitted"]
      : errno === e.esrch
      ? ["exited", "No such process"]
      : errno === e.ebadf
      ? ["closed", "Bad file descriptor"]
      : errno === e.enosys
      ? ["unsupported", "Function not implemented"]
      : ["other", `errno ${errno}`];
    return new ProcessAccessError(failure, call, `${call}: ${text}`);
  }

  readiness(owner: ReadinessOwner): Readiness | null {
    return epollFor(this.platform, owner);
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

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads the table's `struct tcp_info` fields from what the kernel filled in (host byte order). */
export function decodeTcpInfo(buf: Uint8Array, layout: TcpInfoLayout): TcpInfo {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const little = LITTLE_ENDIAN;
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
