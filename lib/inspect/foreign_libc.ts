/**
 * ForeignSockets through libc (TEMPORARY home: moves into lib/socket, the one libc binding, when
 * that layer lands).
 */
import { PLATFORMS } from "../keepalive/constants.ts";
import { endpointOf, SOCKADDR_BUFFER_BYTES, sockaddrMatches } from "../keepalive/sockaddr.ts";
import {
  type ForeignEndpoint,
  ForeignError,
  type ForeignFailure,
  type ForeignProcess,
  type ForeignSockets,
  type OptionChange,
  type SocketCopy,
  type SocketOptionsRead,
} from "./foreign.ts";

const SYMBOLS = {
  pidfd_open: { parameters: ["i32", "u32"], result: "i32", optional: true },
  pidfd_getfd: { parameters: ["i32", "i32", "u32"], result: "i32", optional: true },
  close: { parameters: ["i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const EPERM = 1, ESRCH = 3, EBADF = 9, ENOSYS = 38;
const SO_TYPE = 3, SOCK_STREAM = 1, SO_DOMAIN = 39;
const P = PLATFORMS.linux;

function failureOf(errno: number): ForeignFailure {
  switch (errno) {
    case EPERM:
      return "denied";
    case ESRCH:
      return "exited";
    case EBADF:
      return "closed";
    case ENOSYS:
      return "unsupported";
    default:
      return "other";
  }
}

export function openLibcForeign(): ForeignSockets {
  const lib = Deno.dlopen(P.library, SYMBOLS).symbols;
  const errno = () => {
    const ptr = lib.__errno_location();
    return ptr ? new Deno.UnsafePointerView(ptr).getInt32() : 0;
  };
  const fail = (call: string): never => {
    const e = errno();
    throw new ForeignError(failureOf(e), call, `${call}: ${strerror(e)}`);
  };
  const addr = new Uint8Array(SOCKADDR_BUFFER_BYTES);
  const len = new Uint32Array(1);
  const int = new Int32Array(1);
  const intBytes = new Uint8Array(int.buffer);
  const get = (fd: number, level: number, name: number, label: string) => {
    len[0] = 4;
    if (lib.getsockopt(fd, level, name, intBytes, len) !== 0) fail(`getsockopt ${label}`);
    return int[0];
  };
  const set = (fd: number, level: number, name: number, value: number, label: string) => {
    int[0] = value;
    if (lib.setsockopt(fd, level, name, intBytes, 4) !== 0) fail(`setsockopt ${label}=${value}`);
  };
  const matches = (
    call: typeof lib.getsockname,
    fd: number,
    want: ForeignEndpoint,
  ): boolean => {
    len[0] = SOCKADDR_BUFFER_BYTES;
    if (call(fd, addr, len) !== 0) return false;
    const expected = endpointOf({ transport: "tcp", hostname: want.address, port: want.port });
    return sockaddrMatches(addr, P.sockaddrLayout, P.afInet, P.afInet6, expected);
  };

  const copyOf = (fd: number): SocketCopy => {
    let open = true;
    return {
      fd,
      is(local, peer) {
        len[0] = 4;
        if (lib.getsockopt(fd, P.solSocket, SO_TYPE, intBytes, len) !== 0) return false;
        if (int[0] !== SOCK_STREAM) return false;
        const domain = get(fd, P.solSocket, SO_DOMAIN, "SO_DOMAIN");
        if (domain !== P.afInet && domain !== P.afInet6) return false;
        if (!matches(lib.getsockname, fd, local)) return false;
        if (peer === null) {
          len[0] = SOCKADDR_BUFFER_BYTES;
          return lib.getpeername(fd, addr, len) !== 0; // a listener has no peer
        }
        return matches(lib.getpeername, fd, peer);
      },
      read(): SocketOptionsRead {
        return {
          enabled: get(fd, P.solSocket, P.soKeepalive, "SO_KEEPALIVE") !== 0,
          values: {
            idleMs: get(fd, P.ipprotoTcp, P.tcpKeepIdle, "TCP_KEEPIDLE") * 1000,
            intervalMs: get(fd, P.ipprotoTcp, P.tcpKeepIntvl, "TCP_KEEPINTVL") * 1000,
            count: get(fd, P.ipprotoTcp, P.tcpKeepCnt, "TCP_KEEPCNT"),
          },
          userTimeoutMs: get(fd, P.ipprotoTcp, P.tcpUserTimeout!, "TCP_USER_TIMEOUT"),
        };
      },
      apply(r: OptionChange) {
        // SO_KEEPALIVE first: with it on, setting TCP_KEEPIDLE re-arms the timer counting the
        // idle time already elapsed, so a connection idle longer than the new idle is probed at
        // once (turning SO_KEEPALIVE on last would wait a whole idle from now).
        if (r.enabled !== undefined) {
          set(fd, P.solSocket, P.soKeepalive, r.enabled ? 1 : 0, "SO_KEEPALIVE");
        }
        if (r.idleMs !== undefined) {
          set(fd, P.ipprotoTcp, P.tcpKeepIdle, r.idleMs / 1000, "TCP_KEEPIDLE");
        }
        if (r.intervalMs !== undefined) {
          set(fd, P.ipprotoTcp, P.tcpKeepIntvl, r.intervalMs / 1000, "TCP_KEEPINTVL");
        }
        if (r.count !== undefined) {
          set(fd, P.ipprotoTcp, P.tcpKeepCnt, r.count, "TCP_KEEPCNT");
        }
        if (r.userTimeoutMs !== undefined) {
          set(fd, P.ipprotoTcp, P.tcpUserTimeout!, r.userTimeoutMs, "TCP_USER_TIMEOUT");
        }
      },
      close() {
        if (open) lib.close(fd);
        open = false;
      },
    };
  };

  return {
    open(pid: number): ForeignProcess {
      if (!lib.pidfd_open || !lib.pidfd_getfd) {
        throw new ForeignError("unsupported", "pidfd_open", "pidfd_open: not in this libc");
      }
      const pidfd = lib.pidfd_open(pid, 0);
      if (pidfd < 0) fail("pidfd_open");
      const getfd = lib.pidfd_getfd;
      return {
        pid,
        copy(fd: number): SocketCopy {
          const copy = getfd(pidfd, fd, 0);
          if (copy < 0) fail("pidfd_getfd");
          return copyOf(copy);
        },
        checkAccess() {
          // The kernel checks ptrace access before it looks the descriptor up, so a number no
          // process can have answers EPERM or EBADF without copying anything.
          if (getfd(pidfd, 0x7fffffff, 0) >= 0) return;
          const e = errno();
          if (e !== EBADF) {
            throw new ForeignError(failureOf(e), "pidfd_getfd", `pidfd_getfd: ${strerror(e)}`);
          }
        },
        close() {
          lib.close(pidfd);
        },
      };
    },
  };
}

const MESSAGES: Record<number, string> = {
  [EPERM]: "Operation not permitted",
  [ESRCH]: "No such process",
  [EBADF]: "Bad file descriptor",
  [ENOSYS]: "Function not implemented",
};

function strerror(errno: number): string {
  return MESSAGES[errno] ?? `errno ${errno}`;
}
