/**
 * Child of the keep-alive part: opens N connections to a server and applies keep-alive as the
 * client does (descriptor lookup, setsockopt, getsockopt read-back) as each connect completes,
 * timing each call. One connection is set up first and not counted, so that #1 is not also the
 * first call of the code (compilation, FFI warm-up): #1 and #N then differ only in what is open.
 *
 *   keepalive_driver.ts PORT N IDLE_S INTERVAL_S COUNT     prints one JSON line (KaTiming)
 */
import { KeepAliveController, type KeepAliveRequest } from "../../lib/keepalive/mod.ts";
import { median } from "./stats.ts";

export interface KaTiming {
  firstMicros: number;
  lastMicros: number;
  /** Medians of the first and the last 100, less noisy than single calls. */
  firstMedianMicros: number;
  lastMedianMicros: number;
  totalMs: number;
  /** From the first connect to the last connection set up, keep-alive included. */
  openMs: number;
  checksFirst: number;
  checksLast: number;
}

async function drive(port: number, n: number, request: KeepAliveRequest): Promise<KaTiming> {
  const controller = await KeepAliveController.create();
  if (!controller.sockets) throw new Error(controller.fallbackReason ?? "no FFI backend");
  const warm = await Deno.connect({ hostname: "127.0.0.1", port });
  controller.apply(warm, request);
  const micros: number[] = [];
  const checks: number[] = [];
  const started = performance.now();
  const conns = await Promise.all(Array.from({ length: n }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const t = performance.now();
    const report = controller.apply(conn, request);
    micros.push((performance.now() - t) * 1000);
    if (report.source !== "socket") throw new Error(`not applied: ${report.notes.join("; ")}`);
    checks.push(report.lookup?.checks ?? NaN);
    return conn;
  }));
  const openMs = performance.now() - started;
  for (const c of [warm, ...conns]) c.close();
  return {
    firstMicros: micros[0],
    lastMicros: micros[n - 1],
    firstMedianMicros: median(micros.slice(0, 100)),
    lastMedianMicros: median(micros.slice(-100)),
    totalMs: micros.reduce((a, b) => a + b, 0) / 1000,
    openMs,
    checksFirst: checks[0],
    checksLast: checks[n - 1],
  };
}

if (import.meta.main) {
  const [port, n, idleS, intervalS, count] = Deno.args.map(Number);
  const request = { enabled: true, idleMs: idleS * 1000, intervalMs: intervalS * 1000, count };
  console.log(JSON.stringify(await drive(port, n, request)));
}
