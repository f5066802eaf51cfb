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
