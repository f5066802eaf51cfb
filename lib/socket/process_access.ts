/** Why another process, or one of its descriptors, could not be reached. */

export type ProcessFailure =
  | "denied" // EPERM: not root, no CAP_SYS_PTRACE over it, or Yama's ptrace_scope
  | "exited" // ESRCH: the process is gone
  | "unsupported" // ENOSYS or no pidfd in the C library: Linux before 5.6, or not Linux
  | "closed" // EBADF: no such descriptor (any more) in the process
  | "other";

export class ProcessAccessError extends Error {
  override name = "ProcessAccessError";
  constructor(
    readonly failure: ProcessFailure,
    /** The call that failed: pidfd_open or pidfd_getfd. */
    readonly call: string,
    message: string,
  ) {
    super(message);
  }
}
