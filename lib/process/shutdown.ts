/**
 * The one way tcpka ends, whatever ends it: the command returning, an error, SIGINT/SIGTERM at any
 * moment from start-up on, the reader of stdout going away (`| head`), or an error nobody caught.
 *
 * - Every child process is started through `spawnChild` and so is known here; every namespace,
 *   rule or file that must not outlive the run registers its removal with `onCleanup`.
 * - A stop request (signal, closed stdout) aborts `shutdownSignal`, which every command's roles
 *   watch. The command then has GRACE_MS to wind down by itself (print its summary, return its
 *   code); if it has not, or on a second Ctrl-C, the exit is forced.
 * - `exitProcess` flushes stdout, sends the children SIGTERM, runs the cleanups (bounded by
 *   CLEANUP_MS), SIGKILLs any child still there and exits: within about a second of the request.
 *   (A signal that arrives before main.ts installs this is the default's: the process just ends,
 *   having made nothing yet.)
 */
import { flushOutput, onStdoutClosed } from "../report/output.ts";

/** What asked us to stop. */
export type StopCause = Deno.Signal | "broken-pipe";

/** How long a command may take to wind down after a stop request before the exit is forced. */
export const GRACE_MS = 800;
/**
 * Upper bound for the cleanups once the exit has begun. Removing a scenario's namespaces takes tens
 * of milliseconds; the bound only matters if `ip` itself hangs.
 */
const CLEANUP_MS = 1500;
/** Between SIGTERM and SIGKILL for a child that ignores SIGTERM. */
const KILL_AFTER_MS = 150;

const SIGNAL_NUMBER: Partial<Record<Deno.Signal, number>> = {
  SIGINT: 2,
  SIGTERM: 15,
  SIGBREAK: 21,
};

/**
 * The documented exit code for an exit forced by `cause` (the README's exit-status table):
 * 128 + the signal's number, as shells report it; 0 when the reader of our output went away, since
 * it has what it wanted (`tcpka demo | head -3`).
 */
export function exitCodeFor(cause: StopCause): number {
  if (cause === "broken-pipe") return 0;
  return 128 + (SIGNAL_NUMBER[cause] ?? 15);
}

type Cleanup = () => void | Promise<void>;

const controller = new AbortController();
const cleanups = new Set<Cleanup>();
const children = new Set<Deno.ChildProcess>();
let stopCause: StopCause | null = null;
let exiting: Promise<never> | null = null;
let installed = false;

/** Aborted when the run is asked to stop; its reason is the StopCause. */
export const shutdownSignal: AbortSignal = controller.signal;

/** Why the run was asked to stop, or null. */
export function stopRequested(): StopCause | null {
  return stopCause;
}

/**
 * Starts listening for signals, closed stdout and uncaught errors. Called first thing by main.ts,
 * so that a Ctrl-C during start-up is handled like any other.
 */
export function installShutdown(onUncaught: (err: unknown) => number): void {
  if (installed) return;
  installed = true;
  // Windows delivers only SIGINT and SIGBREAK to Deno.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, () => requestStop(sig));
  onStdoutClosed(() => requestStop("broken-pipe"));
  const uncaught = (err: unknown) => {
    if (err instanceof Deno.errors.BrokenPipe) return requestStop("broken-pipe");
    void exitProcess(onUncaught(err));
  };
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    uncaught(e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    uncaught(e.error);
  });
}

/** Asks the run to stop; a second request (a second Ctrl-C) forces the exit at once. */
export function requestStop(cause: StopCause): void {
  if (stopCause !== null) {
    if (cause !== "broken-pipe") void exitProcess(exitCodeFor(cause));
    return;
  }
  stopCause = cause;
  controller.abort(cause);
  const timer = setTimeout(() => void exitProcess(exitCodeFor(cause)), GRACE_MS);
  Deno.unrefTimer(timer);
}

/** Registers something to undo before exiting; returns a function that unregisters it. */
export function onCleanup(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/**
 * Starts a child process that is stopped when tcpka exits, however it exits. (The cleanups
 * themselves run `ip netns del`, so spawning stays possible during the exit.)
 */
export function spawnChild(argv: string[], options: Deno.CommandOptions = {}): Deno.ChildProcess {
  const child = new Deno.Command(argv[0], { ...options, args: argv.slice(1) }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
}

function within(ms: number, work: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work.catch(() => {}),
    new Promise((r) => timer = setTimeout(r, ms)),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The only exit: flushes stdout, stops every child, runs every cleanup (newest first, bounded),
 * then exits with `code`. Calling it again while it runs returns the same exit.
 */
export function exitProcess(code: number): Promise<never> {
  exiting ??= (async (): Promise<never> => {
    try {
      flushOutput();
    } catch { /* the reader is gone: nothing more can be said */ }
    for (const child of children) kill(child, "SIGTERM");
    await within(
      CLEANUP_MS,
      (async () => {
        // Until none is left: work that was under way when the exit began may register more.
        while (cleanups.size > 0) {
          const undo = [...cleanups].reverse();
          cleanups.clear();
          for (const cleanup of undo) {
            try {
              await cleanup();
            } catch { /* best effort: the others must still run */ }
          }
          await new Promise((r) => setTimeout(r, 0));
        }
      })(),
    );
    if (children.size > 0) {
      await within(KILL_AFTER_MS, Promise.all([...children].map((c) => c.status)));
      for (const child of children) kill(child, "SIGKILL");
    }
    Deno.exit(code);
  })();
  return exiting;
}
