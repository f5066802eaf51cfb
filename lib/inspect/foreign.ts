/**
 * Another process's sockets, reached through copies of its descriptors (pidfd_open + pidfd_getfd,
 * Linux ≥ 5.6; root or CAP_SYS_PTRACE over the process). Options read or set on a copy are the
 * shared socket's. The copy is always checked to be the listed connection before anything else.
 */
import type { KeepAliveValues } from "../keepalive/settings.ts";

/** Why a process or descriptor could not be reached. */
export type ForeignFailure =
  | "denied" // EPERM: not root / no CAP_SYS_PTRACE / Yama
  | "exited" // ESRCH: the process is gone
  | "unsupported" // ENOSYS: kernel before 5.6
  | "closed" // EBADF: the descriptor is no longer open
  | "other";

export class ForeignError extends Error {
  override name = "ForeignError";
  constructor(readonly failure: ForeignFailure, readonly call: string, message: string) {
    super(message);
  }
}

export interface ForeignEndpoint {
  address: string;
  port: number;
}

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
  userTimeoutMs: number;
}

/** A descriptor copied into this process; closing it leaves the target's own untouched. */
export interface SocketCopy {
  readonly fd: number;
  /**
   * True when the copy is a TCP socket bound to `local` and connected to `peer` (null: a listener,
   * which has no peer).
   */
  is(local: ForeignEndpoint, peer: ForeignEndpoint | null): boolean;
  read(): SocketOptionsRead;
  /** Sets the options `change` names, nothing else; throws with the OS's reason on refusal. */
  apply(change: OptionChange): void;
  close(): void;
}

export interface ForeignProcess {
  readonly pid: number;
  /** Throws ForeignError ("closed", "denied", "exited"). */
  copy(fd: number): SocketCopy;
  /** Throws ForeignError "denied" when this process may not copy the target's descriptors. */
  checkAccess(): void;
  close(): void;
}

export interface ForeignSockets {
  /** Throws ForeignError ("exited", "unsupported"). */
  open(pid: number): ForeignProcess;
}
