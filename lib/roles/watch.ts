/**
 * The watch role: the keep-alive timers and probes of every connection on a port, of any process,
 * from the kernel's socket table (`ss`), printed as they change.
 */
import { RuntimeError } from "../errors.ts";
import { observeKeepAlive } from "../observe/keepalive_observer.ts";
import { announceWatching, createObservationPrinter } from "../report/observations.ts";

export interface WatchConfig {
  port: number;
  pollMs: number;
  /** 0 = until Ctrl-C. */
  durationMs: number;
  json: boolean;
}

export async function runWatch(config: WatchConfig, signal: AbortSignal): Promise<number> {
  if (Deno.build.os !== "linux") {
    throw new RuntimeError(
      "watch reads the Linux socket table (ss); use 'tcpka capture' elsewhere",
    );
  }
  const stop = new AbortController();
  signal.addEventListener("abort", () => stop.abort(), { once: true });
  const timer = config.durationMs > 0 ? setTimeout(() => stop.abort(), config.durationMs) : 0;
  const print = createObservationPrinter(config.json);
  // At once, so that an empty screen means "nothing yet", not "is it working?".
  announceWatching(config.json, config.port, config.pollMs);
  try {
    for await (
      const o of observeKeepAlive({ port: config.port, pollMs: config.pollMs, signal: stop.signal })
    ) {
      print(o);
    }
  } catch (err) {
    throw new RuntimeError((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
  return 0;
}
