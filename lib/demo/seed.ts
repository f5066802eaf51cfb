/**
 * The Go example's three terminals in one run: server, client and an observer together, then a
 * verdict comparing what keep-alive was configured to do with what was observed.
 */
import { type ClientConfig, runClient } from "../roles/client.ts";
import { listenOrExplain, runServer } from "../roles/server.ts";
import type { TcpkaEvent } from "../events.ts";
import type { KeepAliveReport } from "../keepalive/mod.ts";
import type { Reporter } from "../report/reporter.ts";
import { formatEndpoint } from "../ip.ts";
import type { ClientConnection, EvidenceCollector } from "./collector.ts";
import { judge } from "./verdict.ts";
import { Timeline } from "./timeline.ts";
import { formatDuration } from "../duration.ts";

export type EvidenceChoice = "auto" | "capture" | "kernel";

export interface SeedDemoConfig {
  client: ClientConfig;
  evidence: EvidenceChoice;
  json: boolean;
  /** --port was given: a taken port is then an error rather than a reason to move. */
  portExplicit?: boolean;
}

/** Where to observe: a port, optionally inside a network namespace and on a given interface. */
export interface ObservationTarget {
  port: number;
  /** argv prefix that runs tcpdump/ss where the client is (a network namespace). */
  prefix?: string[];
  /** Interface to capture on; default: loopback. */
  iface?: string;
}

/** Picks the evidence source; says why when it falls back. */
export type CollectorFactory = (
  target: ObservationTarget,
  timeline: Timeline,
) => Promise<{ collector: EvidenceCollector; fallbackReason?: string }>;

/** Passes events on to `inner`, letting the demo watch them go by. */
function tap(inner: Reporter, onEvent: (e: TcpkaEvent) => void): Reporter {
  return {
    emit(e) {
      onEvent(e);
      inner.emit(e);
    },
    progress: inner.progress,
  };
}

/**
 * The requested port; when the default port is taken, a free one (so the demo runs beside a real
 * server). A port given explicitly is honoured or refused, never moved.
 */
function choosePort(
  host: string,
  wanted: number,
  explicit = false,
): { port: number; moved: boolean } {
  const free = () => {
    const trial = listenOrExplain(host, 0);
    const port = trial.addr.port;
    trial.close();
    return port;
  };
  if (wanted === 0) return { port: free(), moved: false };
  try {
    Deno.listen({ hostname: host, port: wanted }).close();
    return { port: wanted, moved: false };
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse) || explicit) {
      listenOrExplain(host, wanted).close(); // throws the one-line explanation
    }
    return { port: free(), moved: true };
  }
}

export async function runSeedDemo(
  config: SeedDemoConfig,
  makeCollector: CollectorFactory,
  signal: AbortSignal,
): Promise<number> {
  const timeline = new Timeline(config.json, "seed");
  const { host } = config.client;
  const { port, moved } = choosePort(host, config.client.port, config.portExplicit);
  if (moved) {
    timeline.note(`port ${config.client.port} is taken; using free port ${port} instead`);
  }
  const { collector, fallbackReason } = await makeCollector({ port }, timeline);
  if (fallbackReason) timeline.note(fallbackReason);
  timeline.note(`observing ${formatEndpoint(host, port)} through ${collector.description}`);
  await collector.start();

  const serverStop = new AbortController();
  const stopAll = () => serverStop.abort();
  signal.addEventListener("abort", stopAll, { once: true });
  const listening = Promise.withResolvers<void>();
  const server = runServer(
    { host, port, keepalive: null, holdMs: 0, reset: false, json: config.json },
    tap(timeline.reporter("server"), (e) => e.type === "listening" && listening.resolve()),
    serverStop.signal,
  );
  server.catch(() => listening.resolve());

  let clientConn: ClientConnection | null = null;
  let report: KeepAliveReport | null = null;
  let clientCode = 1;
  try {
    await listening.promise;
    clientCode = await runClient(
      { ...config.client, host, port },
      tap(timeline.reporter("client"), (e) => {
        if (e.type === "connected" && e.id === 1) {
          clientConn = { local: e.local, remote: e.remote, connectedAt: e.time };
        }
        if (e.type === "keepalive" && e.id === 1) report = e.report;
      }),
      signal,
    );
    // The FIN exchange takes a moment to reach the capture or the socket table.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await collector.stop();
    serverStop.abort();
    signal.removeEventListener("abort", stopAll);
    await server;
  }
  if (signal.aborted || !clientConn) return signal.aborted ? 130 : clientCode;

  const ka = report as KeepAliveReport | null;
  const verdict = judge(
    {
      keepalive: ka?.enabled ? ka.effective : null,
      holdMs: config.client.holdMs,
      close: "fin-by-client",
    },
    collector.evidenceFor(clientConn),
  );
  const settings = ka?.enabled
    ? `idle ${formatDuration(ka.effective.idleMs ?? 0)}, interval ${
      formatDuration(ka.effective.intervalMs ?? 0)
    }, hold ${formatDuration(config.client.holdMs)}`
    : `keep-alive off, hold ${formatDuration(config.client.holdMs)}`;
  timeline.verdict(verdict, `Verdict for connection #1 (${settings})`);
  return verdict.pass && clientCode === 0 ? 0 : 1;
}
