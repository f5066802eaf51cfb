/**
 * Ctrl-C, `kill` and the reader of stdout going away (`| head`) as one AbortSignal, so every role
 * shuts down through the same path.
 */
import { onReaderGone } from "../report/output.ts";

export interface Shutdown {
  signal: AbortSignal;
  /** Stops listening for signals (lets the process exit naturally). */
  dispose(): void;
}

export function listenForShutdown(): Shutdown {
  const controller = new AbortController();
  // Windows delivers only SIGINT and SIGBREAK to Deno.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const handler = () => controller.abort();
  for (const sig of signals) Deno.addSignalListener(sig, handler);
  const stopWatchingStdout = onReaderGone(handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const sig of signals) Deno.removeSignalListener(sig, handler);
      stopWatchingStdout();
    },
  };
}

/** Runs `fn` with a signal that aborts on Ctrl-C or SIGTERM, and stops listening afterwards. */
export async function withShutdown<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const shutdown = listenForShutdown();
  try {
    return await fn(shutdown.signal);
  } finally {
    shutdown.dispose();
  }
}
