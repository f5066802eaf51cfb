/**
 * The capture role: tcpdump's packets (or a saved file's), each one labelled, and a summary per
 * connection, all reported as events (lib/events.ts) through the same reporters as every role.
 */
import { RuntimeError } from "../errors.ts";
import { type AnalysisResult, CaptureAnalyzer } from "../capture/analyzer.ts";
import { PacketEvents } from "../capture/packet_events.ts";
import { startTcpdump } from "../capture/tcpdump.ts";
import type { FlowSummary } from "../flow/summary.ts";
import type { LabeledPacket } from "../flow/tracker.ts";
import { flushOutput, writeError } from "../report/output.ts";
import type { Reporter } from "../report/reporter.ts";

export interface CaptureConfig {
  iface: string;
  filter: string;
  port: number;
  /** Only with --read: keep packets with this port on either side (null = all). */
  readPort: number | null;
  raw: boolean;
  durationMs: number;
  count: number | null;
  write: string | null;
  read: string | null;
  json: boolean;
  quiet: boolean;
}

async function runRaw(config: CaptureConfig, signal: AbortSignal): Promise<number> {
  const tcpdump = startTcpdump({
    iface: config.iface,
    filter: config.filter,
    raw: true,
    count: config.count ?? undefined,
  });
  const stop = () => tcpdump.stop();
  signal.addEventListener("abort", stop, { once: true });
  const timer = config.durationMs > 0 ? setTimeout(stop, config.durationMs) : 0;
  try {
    await tcpdump.stdout.pipeTo(Deno.stdout.writable, { preventClose: true });
    await tcpdump.ready;
    await tcpdump.child.status;
    // tcpdump's own stderr ("listening on …", packet counts) is part of its view.
    const text = tcpdump.stderr();
    if (text) writeError(text);
    return 0;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
}

async function openWrite(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { write: true, create: true, truncate: true });
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such directory"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : err instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (err as Error).message;
    throw new RuntimeError(`cannot write ${path}: ${why}`);
  }
}

async function openRead(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new RuntimeError(`cannot read ${path}: no such file`);
    }
    throw new RuntimeError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Filters packets for --read --port, and stops after --count. */
function sink(
  config: CaptureConfig,
  show: (lp: LabeledPacket) => void,
  onCountReached: () => void,
) {
  let shown = 0;
  return (lp: LabeledPacket) => {
    const p = lp.packet;
    if (
      config.readPort !== null && p.srcPort !== config.readPort && p.dstPort !== config.readPort
    ) {
      return;
    }
    if (config.count !== null && shown >= config.count) return;
    show(lp);
    if (config.count !== null && ++shown === config.count) onCountReached();
  };
}

/**
 * Runs the capture, reporting each packet (unless `quiet`) and each connection's summary as events:
 * a summary as soon as its connection has ended, so that neither a long capture's memory nor the
 * wait for its verdict grows with the connections that came and went; those still open at the end.
 */
export async function runCapture(
  config: CaptureConfig,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<number> {
  if (config.raw) return await runRaw(config, signal);
  const events = new PacketEvents();
  let summaries = 0;
  const summary = (s: FlowSummary) => {
    summaries++;
    reporter.emit(events.summary(s));
  };
  const stopRead = new AbortController();
  signal.addEventListener("abort", () => stopRead.abort(), { once: true });
  // --read --port keeps the summaries of that port's connections only.
  const include = (s: FlowSummary) =>
    config.readPort === null || s.client.port === config.readPort ||
    s.server.port === config.readPort;
  const show = config.quiet ? () => {} : (lp: LabeledPacket) => reporter.emit(events.packet(lp));
  // Live packets should not wait for the event loop to come round: out with each input chunk.
  const analyzer = new CaptureAnalyzer(sink(config, show, () => stopRead.abort()), flushOutput, {
    onSummary: (s) => {
      if (include(s)) summary(s);
    },
    onSummaryAtEnd: true,
  });

  let result: AnalysisResult;
  if (config.read !== null) {
    const file = await openRead(config.read);
    result = await analyzer.consume(file.readable, stopRead.signal);
  } else {
    result = await captureLive(config, analyzer, reporter, signal);
  }
  for (const s of result.summaries) if (include(s)) summary(s);
  reporter.emit({
    type: "end",
    time: Date.now(),
    packets: result.packets,
    skipped: result.skipped,
    connections: summaries,
    error: result.error ? { message: result.error.message, offset: result.error.offset } : null,
    unsupportedLinks: result.unsupportedLinks,
    warnings: result.warnings,
  });
  flushOutput();
  if (result.error) {
    const where = config.read ?? "the capture";
    throw new RuntimeError(
      `${where}: ${result.error.message} (the ${result.packets} packets before it were analysed)`,
    );
  }
  return 0;
}

async function captureLive(
  config: CaptureConfig,
  analyzer: CaptureAnalyzer,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<AnalysisResult> {
  // Before tcpdump starts: a file that cannot be written is the user's to fix, and nothing runs.
  const file = config.write ? await openWrite(config.write) : null;
  let tcpdump;
  try {
    tcpdump = startTcpdump({
      iface: config.iface,
      filter: config.filter,
      count: config.count ?? undefined,
    });
  } catch (err) {
    file?.close();
    throw err;
  }
  // Stopping tcpdump (rather than cancelling the stream) lets it flush what it has captured.
  const stop = () => tcpdump.stop();
  signal.addEventListener("abort", stop, { once: true });
  const timer = config.durationMs > 0 ? setTimeout(stop, config.durationMs) : 0;
  try {
    const readyOrFailed = tcpdump.ready.then(() => {
      reporter.emit({
        type: "capturing",
        time: Date.now(),
        interface: config.iface,
        filter: config.filter,
      });
      // People are told on stderr (the event has no human line), so stdout keeps only packets.
      if (!config.json) {
        writeError(`capturing on ${config.iface}: ${config.filter} (Ctrl-C to stop)\n`);
      }
      flushOutput();
    });
    const stream = file
      ? tcpdump.stdout.pipeThrough(
        new TransformStream({
          transform(chunk, controller) {
            try {
              file.writeSync(chunk);
            } catch (err) {
              throw new RuntimeError(`cannot write ${config.write}: ${(err as Error).message}`);
            }
            controller.enqueue(chunk);
          },
        }),
      )
      : tcpdump.stdout;
    const [result] = await Promise.all([analyzer.consume(stream), readyOrFailed]);
    return result;
  } catch (err) {
    tcpdump.stop();
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
    file?.close();
  }
}
