/**
 * The errors the user sees, thrown by any layer: one line each, with an exit code. main.ts turns
 * them into a message and an exit (lib/cli/exit.ts); nothing else prints an error and leaves.
 */

/** Bad flags, values or subcommands: the user must change the command line (exit 2). */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = 2;
}

/** The command was valid but the world said no: port in use, nothing listening, … (exit 1). */
export class RuntimeError extends Error {
  override name = "RuntimeError";
  readonly exitCode = 1;
}

export type UserFacingError = UsageError | RuntimeError;

export function isUserFacing(err: unknown): err is UserFacingError {
  return err instanceof UsageError || err instanceof RuntimeError;
}

/**
 * A failed connect in the user's words: refused (with `whenRefused` appended: what to do about it),
 * unreachable, timed out, or the OS's message.
 */
export function describeConnectError(err: unknown, target: string, whenRefused: string): string {
  if (err instanceof Deno.errors.ConnectionRefused) {
    return `nothing is listening on ${target}${whenRefused}`;
  }
  if (err instanceof Deno.errors.TimedOut) return `connecting to ${target} timed out`;
  const message = err instanceof Error ? err.message : String(err);
  if (/os error (101|113)\b|unreachable/i.test(message)) {
    return `${target} is unreachable (${message})`;
  }
  return `cannot connect to ${target}: ${message}`;
}
