/**
 * Every platform number the keep-alive code needs, in one table, so a platform difference is a
 * row here rather than an `if` somewhere else (cf. Go's tcpsockopt_{linux,darwin,windows}.go).
 */

export type SupportedOs = "linux" | "darwin" | "windows";

/** How a platform lays out `struct sockaddr`: BSDs put a length byte before a one-byte family. */
export type SockaddrLayout = "u16-family" | "len-u8-family";

export interface PlatformTable {
  os: SupportedOs;
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
  /** SO_LINGER, and the size of its `struct linger` (two ints; two u_shorts on Windows). */
  soLinger: number;
  lingerBytes: 8 | 4;
  afInet: number;
  afInet6: number;
  sockaddrLayout: SockaddrLayout;
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
    library: "libc.so.6",
    solSocket: 1,
    soKeepalive: 9,
    ipprotoTcp: 6,
    tcpKeepIdle: 4,
    tcpKeepIntvl: 5,
    tcpKeepCnt: 6,
    tcpUserTimeout: 18,
    soLinger: 13,
    lingerBytes: 8,
    afInet: 2,
    afInet6: 10,
    sockaddrLayout: "u16-family",
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
    library: "/usr/lib/libSystem.B.dylib",
    solSocket: 0xffff,
    soKeepalive: 0x0008,
    ipprotoTcp: 6,
    tcpKeepIdle: 0x10, // TCP_KEEPALIVE
    tcpKeepIntvl: 0x101,
    tcpKeepCnt: 0x102,
    tcpUserTimeout: null,
    soLinger: 0x0080,
    lingerBytes: 8,
    afInet: 2,
    afInet6: 30,
    sockaddrLayout: "len-u8-family",
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
    library: "ws2_32.dll",
    solSocket: 0xffff,
    soKeepalive: 0x0008,
    ipprotoTcp: 6,
    tcpKeepIdle: 3, // Windows 10 1709+
    tcpKeepIntvl: 17, // Windows 10 1709+
    tcpKeepCnt: 16, // Windows 10 1703+
    tcpUserTimeout: null,
    soLinger: 0x0080,
    lingerBytes: 4,
    afInet: 2,
    afInet6: 23,
    sockaddrLayout: "u16-family",
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
