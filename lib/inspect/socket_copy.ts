/**
 * One socket of another process, through a copy of its descriptor (lib/socket's openProcess).
 * Options read or set on the copy are the shared socket's. The copy is checked to be the listed
 * connection before anything is read or set, and closing it leaves the target's own untouched.
 */
import { ProcessAccessError, type ProcessDescriptors, type Sockets } from "../socket/mod.ts";
import type { KeepAliveValues } from "../keepalive/settings.ts";
import type { ListedSocket } from "./listing.ts";

/** What to change on a socket; an absent field is left as it is (a KeepAliveRequest fits). */
export interface OptionChange {
  enabled?: boolean;
  idleMs?: number;
  intervalMs?: number;
  count?: number;
  userTimeoutMs?: number;
}

export interface SocketOptionsRead {
  enabled: boolean;
  values: KeepAliveValues;
  /** TCP_USER_TIMEOUT in ms; 0 = not set. */
  userTimeoutMs: number;
}

export interface SocketCopy {
  readonly fd: number;
  /** True when the copy is a TCP socket with the listed endpoints (the listed connection). */
  isListed(): boolean;
  read(): SocketOptionsRead;
  /** Copies the kernel's idle times and retransmissions (TCP_INFO) into `listed`. */
  readActivity(listed: ListedSocket): void;
  /** Sets the options `change` names, nothing else; throws with the OS's reason on refusal. */
  apply(change: OptionChange): void;
  close(): void;
}

/**
 * A copy of `listed`'s descriptor `fd` in `process`, or null when the process has closed it.
 * Other refusals throw ProcessAccessError.
 */
export function copySocket(
  sockets: Sockets,
  process: ProcessDescriptors,
  fd: number,
  listed: ListedSocket,
): SocketCopy | null {
  let handle: number;
  try {
    handle = process.copy(fd);
  } catch (err) {
    if (err instanceof ProcessAccessError && err.failure === "closed") return null;
    throw err;
  }
  return adoptCopy(sockets, handle, fd, listed);
}

/** A copy already made (`handle`, of the owner's descriptor `fd`) as a SocketCopy. */
export function adoptCopy(
  sockets: Sockets,
  handle: number,
  fd: number,
  listed: ListedSocket,
): SocketCopy {
  const read = (): SocketOptionsRead => {
    const r = sockets.readKeepAlive(handle, true);
    return { enabled: r.enabled, values: r.values, userTimeoutMs: r.userTimeoutMs ?? 0 };
  };
  return {
    fd,
    isListed: () => sockets.isConnection(handle, ...endpointsOf(listed)),
    read,
    readActivity(into) {
      const info = sockets.readTcpInfo(handle);
      into.lastSndMs = info.lastDataSentMs;
      into.lastRcvMs = info.lastDataRecvMs;
      into.lastAckMs = info.lastAckRecvMs;
      into.retransmits = info.retransmits;
      into.totalRetransmits = info.totalRetrans;
    },
    apply(change) {
      // SO_KEEPALIVE is always written: to its current value when the change leaves it alone,
      // which does not restart a running keep-alive timer.
      sockets.setKeepAlive(handle, { ...change, enabled: change.enabled ?? read().enabled });
    },
    close: () => sockets.closeHandle(handle),
  };
}

/** The listed endpoints as Sockets.isConnection takes them (a listener has no peer). */
function endpointsOf(listed: ListedSocket) {
  // ss prints a dual-stack wildcard listener ([::]) as "*".
  const local = { hostname: listed.local === "*" ? "::" : listed.local, port: listed.localPort };
  const remote = listed.state === "LISTEN"
    ? null
    : { hostname: listed.peer, port: listed.peerPort };
  return [local, remote] as const;
}
