/**
 * The one path by which problems reach the user: a single line on stderr, a meaningful exit code,
 * never a stack trace. Code deep in the tool throws UsageError/RuntimeError (lib/errors.ts);
 * `main.ts` turns them into exits here.
 */
import { isUserFacing } from "../errors.ts";
import { flushOutput, writeError } from "../report/output.ts";

/**
 * Says what went wrong in one line on stderr and returns the exit code: the user's mistake (2), the
 * world's refusal (1), or a bug (1, and the line asks for a report). The caller exits through the
 * shutdown path, so children and namespaces are cleaned up either way.
 */
export function reportError(err: unknown): number {
  // What was printed before the error belongs before it.
  flushOutput();
  // The reader went away (`tcpka capture --raw | head`): it has what it wanted.
  if (err instanceof Deno.errors.BrokenPipe) return 0;
  if (isUserFacing(err)) {
    writeError(`tcpka: ${err.message}\n`);
    return err.exitCode;
  }
  // Foreseeable conditions the code did not translate still get a plain line, not a bug report.
  const plain = plainOsError(err);
  if (plain) {
    writeError(`tcpka: ${plain}\n`);
    return 1;
  }
  // A bug, not a user mistake: still one line, but say so, so it gets reported rather than retried.
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  writeError(`tcpka: unexpected error (please report it): ${message}\n`);
  return 1;
}

/** Errors the operating system raises for reasons outside the tool: said as they are. */
function plainOsError(err: unknown): string | null {
  const e = Deno.errors;
  const foreseeable = [
    e.NotFound,
    e.PermissionDenied,
    e.NotCapable,
    e.AlreadyExists,
    e.AddrInUse,
    e.AddrNotAvailable,
    e.ConnectionRefused,
    e.ConnectionReset,
    e.TimedOut,
    e.IsADirectory,
    e.NotADirectory,
    e.FilesystemLoop,
    e.WriteZero,
    e.UnexpectedEof,
  ];
  if (!foreseeable.some((cls) => err instanceof cls)) return null;
  return (err as Error).message;
}
