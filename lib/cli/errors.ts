import { flushOutput } from "../report/output.ts";

/**
 * The one path by which problems reach the user: a single line on stderr, a meaningful exit code,
 * never a stack trace. Code deep in the tool throws these; `main.ts` turns them into exits.
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

/** Prints `tcpka: message` and exits. The only place the tool writes an error and leaves. */
export function exitWithError(err: unknown): never {
  // What was printed before the error belongs before it (and the error may be a closed pipe).
  try {
    flushOutput();
  } catch { /* the pipe is gone: nothing more can be said */ }
  // The reader went away (`tcpka capture --read big.pcap | head`): nothing left to say to anyone.
  if (err instanceof Deno.errors.BrokenPipe) Deno.exit(0);
  if (isUserFacing(err)) {
    console.error(`tcpka: ${err.message}`);
    Deno.exit(err.exitCode);
  }
  // A bug, not a user mistake: still one line, but say so, so it gets reported rather than retried.
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  console.error(`tcpka: unexpected error (please report it): ${message}`);
  Deno.exit(1);
}
