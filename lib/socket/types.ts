/**
 * The OS socket layer's one interface. Each OS implements it (posix.ts for Linux and macOS,
 * windows.ts), and callers use it without knowing which: a platform difference is a row in
 * platform.ts or a method that says "not supported here", never an `if (os)` above this folder.
 *
 * Handles are plain numbers (a POSIX descriptor, a Windows SOCKET), so every option call also works
 * on a descriptor that did not come from a Deno connection (e.g. one duplicated from another
 * process with pidfd_getfd).
 */
import type { PlatformTable } from "./platform.ts";
import type { FoundHandle } from "./handle_finder.ts";

/** What to set: keep-alive on or off, and the timings; unset fields keep the system default. */
export interface KeepAliveRequest {
  enabled: boolean;
  idleMs?: number;
  intervalMs?: number;
  count?: number;
  /**
   * TCP_USER_TIMEOUT: give up when sent data stays unacknowledged this long (Linux). Independent
   * of keep-alive; with keep-alive on, Linux also uses it to decide that a silent peer is dead.
   */
  userTimeoutMs?: number;
}

export interface KeepAliveValues {
  idleMs: number | null;
  intervalMs: number | null;
  count: number | null;
}

/**
 * `socket`: read back from this connection with getsockopt (the truth).
 * `system-defaults`: options could not be set; these are the system-wide values that then apply.
 * `as-set`: set on this socket but not all readable back (Windows SIO_KEEPALIVE_VALS): what was set,
 *   with notes naming the values that could not be read.
 * `unknown`: neither could be read.
 */
export type ValuesSource = "socket" | "as-set" | "system-defaults" | "unknown";
export type ApplyMethod = "setsockopt" | "sio_keepalive_vals" | "on-off" | "off";

export interface AppliedOptions {
  method: ApplyMethod;
  notes: string[];
}

/** Keep-alive as the kernel reports it on one socket. */
export interface KeepAliveReading {
  enabled: boolean;
  values: KeepAliveValues;
  notes: string[];
  /** Where `values` came from; "socket" unless the platform could not read them all back. */
  source?: ValuesSource;
  /** TCP_USER_TIMEOUT in force, where the platform has it. */
  userTimeoutMs?: number;
}

/** What `raiseBacklog` did: the listener's descriptor and the limit the kernel reports back. */
export interface RaisedBacklog {
  handle: number;
  /** The accept-queue limit now in force (null where the kernel cannot say: not Linux). */
  backlog: number | null;
}

/** A connection's TCP state from the kernel (Linux TCP_INFO). Times are ms ago, as the kernel has them. */
export interface TcpInfo {
  /** `tcpi_state` as a number and as its kernel name ("ESTABLISHED", "CLOSE_WAIT", …). */
  state: number;
  stateName: string;
  /** Retransmissions of the current segment (or unanswered zero-window probes). */
  retransmits: number;
  /** Unanswered keep-alive (or zero-window) probes sent so far. */
  probes: number;
  backoff: number;
  rtoMicros: number;
  rttMicros: number;
  unacked: number;
  /** On a listener: the accept-queue limit in force. */
  sacked: number;
  lastDataSentMs: number;
  lastDataRecvMs: number;
  lastAckRecvMs: number;
  totalRetrans: number;
  /** Segments received so far, anything the peer sent (its keep-alive probes too); 0 if unknown. */
  segsIn: number;
}

/** A socket's two ends, read from the kernel (getsockname/getpeername). */
export interface SocketAddresses {
  local: { hostname: string; port: number };
  /** null: not connected (a listener, or not yet connected). */
  remote: { hostname: string; port: number } | null;
}

/** Whoever registers sockets with a Readiness: told which is readable, asked whether to go on. */
export interface ReadinessOwner {
  /** The socket registered under `slot` with `generation` is readable (or has ended). */
  ready(slot: number, generation: number): void;
  /** Readiness itself failed (never expected): every registration is void; read directly. */
  broken(): void;
  /** Whether anything is still registered: the wait stops when not. */
  readonly active: boolean;
}

/** One shared wait for many sockets (epoll on Linux), reporting to its owner by slot. */
export interface Readiness {
  /**
   * Registers `handle` under `slot`/`generation` (`rearm`: re-arms a registration an event
   * disarmed; each event disarms it); false if the OS refuses, and then the owner reads directly.
   */
  arm(handle: number, slot: number, generation: number, rearm: boolean): boolean;
  /** Wakes the wait to see that the owner is no longer active. */
  poke(): void;
}

/**
 * Another process's descriptors, copied into this one (Linux pidfd_open + pidfd_getfd, ≥ 5.6; root
 * or CAP_SYS_PTRACE over the process). A copy shares the socket: options set on it are the
 * socket's. Failures throw ProcessAccessError (process_access.ts).
 */
export interface ProcessDescriptors {
  readonly pid: number;
  /** A copy of the process's descriptor `fd`, owned by this process: closeHandle() it. */
  copy(fd: number): number;
  /** Throws when this process may not copy the target's descriptors ("denied"), copying none. */
  checkAccess(): void;
  /**
   * The process's socket descriptors and their inodes (ss's "ino:"), from /proc/PID/fd's links:
   * what ss -p reads. Needs less than a copy (ptrace read, not attach); empty when refused.
   */
  socketInodes(): [fd: number, inode: number][];
  close(): void;
}

export interface Sockets {
  readonly platform: PlatformTable;
  /** The OS handle behind a connection (remembered for handleOf), or null if it was not found. */
  locate(conn: Deno.TcpConn): FoundHandle | null;
  /** The handle `locate` found for `conn`; valid only while `conn` is open (numbers are reused). */
  handleOf(conn: Deno.TcpConn): number | undefined;
  /** `conn` is closed: forget its handle, which is then the likeliest home of the next one. */
  release(conn: Deno.TcpConn): void;
  /** Turns keep-alive on (or off) with the requested timings; throws with the OS's reason. */
  setKeepAlive(handle: number, request: KeepAliveRequest): AppliedOptions;
  /** What the kernel says is in force; `withUserTimeout` also reads TCP_USER_TIMEOUT. */
  readKeepAlive(handle: number, withUserTimeout?: boolean): KeepAliveReading;
  /** Aborts the connection with an RST now, instead of the FIN a close would send. */
  reset(handle: number): void;
  /**
   * Calls listen() again on `listener`'s descriptor with a larger backlog (the kernel caps it at
   * net.core.somaxconn). Throws where that is not possible.
   */
  raiseBacklog(listener: Deno.TcpListener, backlog: number): RaisedBacklog;
  /** The kernel's TCP state of a socket; throws where the platform has no TCP_INFO reader. */
  readTcpInfo(handle: number): TcpInfo;
  /** The socket's local and remote address; null when `handle` is not a socket. */
  addressesOf(handle: number): SocketAddresses | null;
  /**
   * True when `handle` is a TCP socket bound to `local` and connected to `remote` (null: connected
   * to nothing, as a listener). Cheap enough to run on every one of 20,000 copied descriptors.
   */
  isConnection(
    handle: number,
    local: { hostname: string; port: number },
    remote: { hostname: string; port: number } | null,
  ): boolean;
  /** A handle on another process's descriptors; throws ProcessAccessError ("unsupported" off Linux). */
  openProcess(pid: number): ProcessDescriptors;
  /** Every process's pid (/proc), for a scan of their descriptors; empty off Linux. */
  processIds(): number[];
  /** The process's command name (/proc/PID/comm, as ss -p shows it), or null. */
  processCommand(pid: number): string | null;
  /** The socket's unique id (SO_COOKIE, ss's "sk:"), or null: not a socket, or not offered. */
  socketCookie(handle: number): number | null;
  /** Closes a descriptor this process owns (a copy from openProcess), never anyone else's. */
  closeHandle(handle: number): void;
  /**
   * A readiness wait of its own for `owner`'s sockets (epoll on Linux), or null where the caller
   * must keep a read pending on each connection instead (another OS).
   */
  readiness(owner: ReadinessOwner): Readiness | null;
}
