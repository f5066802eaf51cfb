/**
 * The one path by which problems reach the user: a single line on stderr, a meaningful exit code,
 * never a stack trace. Code deep in the tool throws UsageError/RuntimeError (lib/errors.ts);
 * `main.ts` turns them into exits here.
 */
import { isUserFacing } from "../errors.ts";
import { flushOutput } from "../report/output.ts";

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
