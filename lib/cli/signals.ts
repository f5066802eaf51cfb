/**
 * Ctrl-C, `kill` and a closed stdout as one AbortSignal, so every role winds down through the same
 * path. The signal is the process's one shutdown signal (lib/process/shutdown.ts), which main.ts
 * starts listening for before anything else runs.
 */
import { shutdownSignal } from "../process/shutdown.ts";

/** Runs `fn` with the signal that aborts when the run is asked to stop. */
export async function withShutdown<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return await fn(shutdownSignal);
}
