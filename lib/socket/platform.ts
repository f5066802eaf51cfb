/**
 * Every platform number the socket layer needs, constants and struct layouts, in one table, so a
 * platform difference is a row here rather than an `if` somewhere else (cf. Go's
 * tcpsockopt_{linux,darwin,windows}.go). Nothing outside lib/socket/ needs these numbers except
 * to validate a request against the platform's limits.
 */

export type SupportedOs = "linux" | "darwin" | "windows";
export type Arch = typeof Deno.build.arch;

/** Where a field sits in a struct, and its width in bytes (host byte order). */
export interface Field {
  offset: number;
  bytes: 1 | 4;
}

/** Linux `struct tcp_info` (include/uapi/linux/tcp.h): the fields tcpka reads. */
export interface TcpInfoLayout {
  /** getsockopt(IPPROTO_TCP, TCP_INFO). */
  option: number;
  /** Buffer size asked for; the kernel fills what it has (older kernels: less). */
  bytes: number;
  fields: {
    state: Field;
    retransmits: Field;
    probes: Field;
    backoff: Field;
    rtoMicros: Field;
    unacked: Field;
    /** On a listener: the accept-queue limit in force. */
    sacked: Field;
    lastDataSentMs: Field;
    lastDataRecvMs: Field;
    lastAckRecvMs: Field;
    rttMicros: Field;
    totalRetrans: Field;
    /** Segments received, bare ACKs and the peer's keep-alive probes included (tcpi_segs_in). */
    segsIn: Field;
  };
  /** `tcpi_state` values (include/net/tcp_states.h), index = number. */
  states: readonly string[];
}

/** `struct epoll_event { uint32_t events; epoll_data_t data; }`: its size and where `data` is. */
export interface EpollEventLayout {
  bytes: number;
  dataOffset: number;
}

/** Linux epoll/eventfd numbers (sys/epoll.h, sys/eventfd.h). */
export interface EpollTable {
  in: number;
  rdhup: number;
  oneshot: number;
  ctlAdd: number;
  ctlMod: number;
  /** EPOLL_CLOEXEC = EFD_CLOEXEC = O_CLOEXEC. */
  cloexec: number;
  efdNonblock: number;
  /** Packed on x86-64 (12 bytes, data at 4); naturally aligned on aarch64 (16 bytes, data at 8). */
  event: Record<Arch, EpollEventLayout>;
}

/** How a platform lays out `struct sockaddr`: BSDs put a length byte before a one-byte family. */
export type SockaddrLayout = "u16-family" | "len-u8-family";

export interface PlatformTable {
  os: SupportedOs;
  /** Which implementation speaks to it: posix.ts (a C library) or windows.ts (Winsock). */
  api: "libc" | "winsock";
  library: string;
  solSocket: number;
  soKeepalive: number;
  ipprotoTcp: number;
  /** Idle time before the first probe (`TCP_KEEPIDLE`; macOS calls it `TCP_KEEPALIVE`). */
  tcpKeepIdle: number;
  tcpKeepIntvl: number;
  tcpKeepCnt: number;
  /** TCP_USER_TIMEOUT (ms): how long sent data may stay unacknowledged; null where not offered. */
  tcpUserTimeout: number | null;
  /** SO_ACCEPTCONN: is this socket listening? */
  /** SO_TYPE, which says SOCK_STREAM (1 everywhere) for a TCP socket. */
  soType: number;
  /** SO_COOKIE: the socket's unique 64-bit id, ss's "sk:" (Linux ≥ 4.12); null where not offered. */
  soCookie: number | null;
  soAcceptConn: number;
  /** SO_LINGER, and the size of its `struct linger` (two ints; two u_shorts on Windows). */
  soLinger: number;
  lingerBytes: 8 | 4;
  afInet: number;
  afInet6: number;
  sockaddrLayout: SockaddrLayout;
  /**
   * Whether connect(AF_UNSPEC) disconnects a TCP socket on the spot, sending an RST after
   * SO_LINGER {1, 0} (Linux's tcp_disconnect); elsewhere the close does it, after Deno's FIN.
   */
  unspecConnectResets: boolean;
  /** The function returning errno's address (POSIX C libraries); null on Windows (WSAGetLastError). */
  errnoSymbol: "__errno_location" | "__error" | null;
  /** errno values the layer tells apart (asm-generic/errno-base.h; ENOSYS differs on macOS). */
  errno:
    | {
      ebadf: number;
      eintr: number;
      eexist: number;
      eperm: number;
      esrch: number;
      enosys: number;
    }
    | null;
  tcpInfo: TcpInfoLayout | null;
  epoll: EpollTable | null;
  /** Socket handles are descriptors 0, 1, 2, … on POSIX; Windows SOCKETs are multiples of 4. */
  handleStep: number;
  firstHandle: number;
  /** Smallest unit the idle/interval options accept, in ms (setsockopt takes whole seconds). */
  granularityMs: number;
  maxIdleSeconds: number;
  maxIntervalSeconds: number;
  minCount: number;
  maxCount: number;
  /** `WSAIoctl` control code for the pre-1709 Windows path; null elsewhere. */
  sioKeepaliveVals: number | null;
  /** Probe count Windows uses when only SIO_KEEPALIVE_VALS is available (not settable). */
  fixedCount: number | null;
}

export const PLATFORMS: Record<SupportedOs, PlatformTable> = {
  linux: {
    os: "linux",
    api: "libc",
    library: "libc.so.6",
    solSocket: 1,
    soKeepalive: 9,
    ipprotoTcp: 6,
    tcpKeepIdle: 4,
    tcpKeepIntvl: 5,
    tcpKeepCnt: 6,
    tcpUserTimeout: 18,
    soType: 3,
    soCookie: 57,
    soAcceptConn: 30,
    soLinger: 13,
    lingerBytes: 8,
    afInet: 2,
    afInet6: 10,
    sockaddrLayout: "u16-family",
    unspecConnectResets: true,
    errnoSymbol: "__errno_location",
    errno: { ebadf: 9, eintr: 4, eexist: 17, eperm: 1, esrch: 3, enosys: 38 },
    tcpInfo: {
      option: 11,
      bytes: 232,
      fields: {
        state: { offset: 0, bytes: 1 },
        retransmits: { offset: 2, bytes: 1 },
        probes: { offset: 3, bytes: 1 },
        backoff: { offset: 4, bytes: 1 },
        rtoMicros: { offset: 8, bytes: 4 },
        unacked: { offset: 24, bytes: 4 },
        sacked: { offset: 28, bytes: 4 },
        lastDataSentMs: { offset: 44, bytes: 4 },
        lastDataRecvMs: { offset: 52, bytes: 4 },
        lastAckRecvMs: { offset: 56, bytes: 4 },
        rttMicros: { offset: 68, bytes: 4 },
        totalRetrans: { offset: 100, bytes: 4 },
        segsIn: { offset: 140, bytes: 4 },
      },
      states: [
        "UNKNOWN",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
      ],
    },
    epoll: {
      in: 0x001,
      rdhup: 0x2000,
      oneshot: 1 << 30,
      ctlAdd: 1,
      ctlMod: 3,
      cloexec: 0o2000000,
      efdNonblock: 0o4000,
      event: { x86_64: { bytes: 12, dataOffset: 4 }, aarch64: { bytes: 16, dataOffset: 8 } },
    },
    handleStep: 1,
    firstHandle: 3,
    granularityMs: 1000,
    // include/net/tcp.h: MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL = 32767, MAX_TCP_KEEPCNT = 127.
    maxIdleSeconds: 32767,
    maxIntervalSeconds: 32767,
    minCount: 1,
    maxCount: 127,
    sioKeepaliveVals: null,
    fixedCount: null,
  },
  darwin: {
    os: "darwin",
    api: "libc",
    library: "/usr/lib/libSystem.B.dylib",
    solSocket: 0xffff,
    soKeepalive: 0x0008,
    ipprotoTcp: 6,
    tcpKeepIdle: 0x10, // TCP_KEEPALIVE
    tcpKeepIntvl: 0x101,
    tcpKeepCnt: 0x102,
    tcpUserTimeout: null,
    soType: 0x1008,
    soCookie: null,
    soAcceptConn: 0x0002,
    soLinger: 0x0080,
    lingerBytes: 8,
    afInet: 2,
    afInet6: 30,
    sockaddrLayout: "len-u8-family",
    unspecConnectResets: false,
    errnoSymbol: "__error",
    errno: { ebadf: 9, eintr: 4, eexist: 17, eperm: 1, esrch: 3, enosys: 78 },
    // macOS has TCP_CONNECTION_INFO, another struct; not read yet.
    tcpInfo: null,
    epoll: null,
    handleStep: 1,
    firstHandle: 3,
    granularityMs: 1000,
    maxIdleSeconds: 2_147_483,
    maxIntervalSeconds: 2_147_483,
    minCount: 1,
    maxCount: 2_147_483_647,
    sioKeepaliveVals: null,
    fixedCount: null,
  },
  windows: {
    os: "windows",
    api: "winsock",
    library: "ws2_32.dll",
    solSocket: 0xffff,
    soKeepalive: 0x0008,
    ipprotoTcp: 6,
    tcpKeepIdle: 3, // Windows 10 1709+
    tcpKeepIntvl: 17, // Windows 10 1709+
    tcpKeepCnt: 16, // Windows 10 1703+
    tcpUserTimeout: null,
    soType: 0x1008,
    soCookie: null,
    soAcceptConn: 0x0002,
    soLinger: 0x0080,
    lingerBytes: 4,
    afInet: 2,
    afInet6: 23,
    sockaddrLayout: "u16-family",
    unspecConnectResets: false,
    errnoSymbol: null,
    errno: null, // Winsock reports WSA error codes instead (windows.ts)
    tcpInfo: null,
    epoll: null,
    handleStep: 4,
    firstHandle: 4,
    // SIO_KEEPALIVE_VALS takes milliseconds; the setsockopt path rounds to seconds (see windows.ts).
    granularityMs: 1,
    maxIdleSeconds: 2_147_483,
    maxIntervalSeconds: 2_147_483,
    minCount: 1,
    maxCount: 255,
    sioKeepaliveVals: 0x98000004,
    fixedCount: 10,
  },
};

export function platformFor(os: string): PlatformTable | null {
  return (PLATFORMS as Record<string, PlatformTable | undefined>)[os] ?? null;
}
