/**
 * `tcpka capture`: tcpdump's packets, each one labelled (handshake, keep-alive probe, probe ACK,
 * data, FIN, RST, …) with timings, and a verdict per connection when the capture ends. `--read`
 * analyses a saved pcap/pcapng without tcpdump or root.
 */
import type { Command } from "./lib/cli/command.ts";
import { RuntimeError, UsageError } from "./lib/cli/errors.ts";
import {
  durationFlag,
  integerFlag,
  noPositionals,
  parseFlags,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { DEFAULT_PORT } from "./lib/defaults.ts";
import { isLoopback } from "./lib/net/ip.ts";
import { type AnalysisResult, CaptureAnalyzer } from "./lib/capture/analyzer.ts";
import { startTcpdump } from "./lib/capture/tcpdump.ts";
import { formatSummary, PacketFormatter, packetJson, summaryJson } from "./lib/capture/render.ts";
import type { FlowSummary } from "./lib/flow/summary.ts";
import { makeStyler, stdoutWantsColor } from "./lib/report/style.ts";
import { flushOutput, writeError, writeLine } from "./lib/report/output.ts";
import { jsonLine } from "./lib/report/json_view.ts";
import type { LabeledPacket } from "./lib/flow/tracker.ts";

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

const HELP = `Usage: tcpka capture [flags]

Captures TCP packets with tcpdump and says what each one is: SYN, SYN-ACK, handshake ACK, data,
keep-alive probe, keep-alive ACK, FIN, RST, retransmission, duplicate ACK, window update, ACK;
with the idle time before each probe and the spacing between probes. Each connection gets a
summary (who probed, probes sent/answered/unanswered, idle before the first probe, probe interval,
how it ended, lifetime) once it has closed: right after the last ACK of its FINs, or 2 s (capture
time) after an RST. Those still open get theirs when the capture ends (Ctrl-C, --duration,
--count, end of file).

Live capture needs tcpdump and root (sudo), or tcpdump with cap_net_raw,cap_net_admin.

Flags:
  --port N              capture 'tcp port N' (default ${DEFAULT_PORT})
  --host HOST           only packets to or from HOST ('tcp port N and host HOST'); a
                        loopback host also means the loopback interface (default: any host
                        on lo)
  -i, --interface NAME  interface (default: lo on Linux, lo0 on macOS for a loopback host;
                        'any' otherwise)
  --filter EXPR         a tcpdump filter expression instead of 'tcp port N', passed as one
                        argument, e.g. the Go example's:
                        'tcp and port 12345 and tcp[13] & 16 != 0 and tcp[12] & 15 = 0'
  --raw                 show tcpdump's own text output unchanged (the Go example's view)
  --duration DURATION   stop after this long
  --count N             stop after N packets
  --write FILE          also save the raw pcap, for Wireshark
  --read FILE           analyse a saved pcap or pcapng file instead (no tcpdump, no root)
  --quiet               only the per-connection summaries
  --json                NDJSON: one object per packet, then one per connection summary
  -h, --help            show this help

Examples:
  sudo tcpka capture                        # beside 'tcpka server' and 'tcpka client'
  sudo tcpka capture --write run.pcap --duration 15s
  tcpka capture --read run.pcap --quiet
  sudo tcpka capture --raw --filter 'tcp and port 12345 and tcp[13] & 16 != 0 and tcp[12] & 15 = 0'`;

export function parseCaptureArgs(args: string[]): CaptureConfig {
  const parsed = parseFlags("capture", args, {
    port: { type: "string" },
    host: { type: "string" },
    interface: { type: "string", short: "i" },
    filter: { type: "string" },
    raw: { type: "boolean" },
    duration: { type: "string" },
    count: { type: "string" },
    write: { type: "string" },
    read: { type: "string" },
    quiet: { type: "boolean" },
    json: { type: "boolean" },
  });
  noPositionals("capture", parsed);
  const { values } = parsed;
  const read = stringFlag(values, "read") ?? null;
  const write = stringFlag(values, "write") ?? null;
  const port = portFlag("capture", values, DEFAULT_PORT);
  const host = stringFlag(values, "host") ?? "127.0.0.1";
  const filter = stringFlag(values, "filter");
  if (filter === "") throw new UsageError("capture: --filter must not be empty");
  const config: CaptureConfig = {
    iface: stringFlag(values, "interface") ?? defaultInterface(host),
    filter: filter ?? defaultFilter(port, stringFlag(values, "host")),
    port,
    readPort: read !== null && values.port !== undefined ? port : null,
    raw: values.raw === true,
    durationMs: durationFlag("capture", values, "duration") ?? 0,
    count: integerFlag("capture", values, "count", 1, Number.MAX_SAFE_INTEGER) ?? null,
    write,
    read,
    json: values.json === true,
    quiet: values.quiet === true,
  };
  if (read !== null) {
    for (const flag of ["interface", "filter", "raw", "write", "duration", "host"]) {
      if (values[flag] !== undefined) {
        throw new UsageError(`capture: --${flag} applies to live capture, not to --read`);
      }
    }
    if (read === "") throw new UsageError("capture: --read needs a file name");
  }
  if (config.raw && (config.json || config.write || config.quiet)) {
    throw new UsageError(
      "capture: --raw shows tcpdump's text; it cannot be combined with --json, --write or --quiet",
    );
  }
  return config;
}

/** 'tcp port N', narrowed to the host when one was given (--host picks the interface too). */
export function defaultFilter(port: number, host: string | undefined): string {
  return host === undefined ? `tcp port ${port}` : `tcp port ${port} and host ${host}`;
}

export function defaultInterface(host: string, os: string = Deno.build.os): string {
  if (!isLoopback(host)) return "any";
  return os === "darwin" ? "lo0" : "lo";
}

/** Closed connections after which CaptureOutput starts a new PacketFormatter. */
const FORMATTER_LIFE = 4096;

class CaptureOutput {
  readonly #json: boolean;
  readonly #quiet: boolean;
  readonly #style = makeStyler(stdoutWantsColor());
  /**
   * The formatter remembers each connection's endpoint text for good: measured, over 1 KB a
   * connection (130 MB more after 83,000 short ones). A fresh one after every FORMATTER_LIFE
   * closed connections keeps that to about the connections still open, at the cost of formatting
   * theirs once more.
   */
  #packets = new PacketFormatter(this.#style);
  #closedSinceNewFormatter = 0;

  constructor(json: boolean, quiet: boolean) {
    this.#json = json;
    this.#quiet = quiet;
  }

  #write(text: string) {
    writeLine(text);
  }

  /** Live packets should not wait for the event loop to come round: out with each input chunk. */
  flush() {
    flushOutput();
  }

  /** Says that tcpdump is listening: on stderr for people, as an event for programs. */
  capturing(iface: string, filter: string) {
    if (this.#json) {
      this.#write(
        jsonLine({ type: "capturing", time: Date.now(), interface: iface, filter }),
      );
      this.flush();
    } else {
      writeError(`capturing on ${iface}: ${filter} (Ctrl-C to stop)\n`);
    }
  }

  /** Summaries written so far. */
  #summaries = 0;
  /** Human output: the last thing written was a summary, so packet lines need a blank line. */
  #inSummaries = false;

  packet(lp: LabeledPacket) {
    if (this.#quiet) return;
    if (this.#json) {
      this.#write(jsonLine(packetJson(lp)));
      return;
    }
    if (this.#inSummaries) {
      this.#write("");
      this.#inSummaries = false;
    }
    this.#write(this.#packets.format(lp));
  }

  /**
   * One connection's summary: as soon as it has ended, so that neither a long capture's memory nor
   * the wait for its verdict grows with the connections that came and went; the ones still open
   * come at the end.
   */
  summary(s: FlowSummary) {
    this.#summaries++;
    if (++this.#closedSinceNewFormatter === FORMATTER_LIFE) {
      this.#packets = new PacketFormatter(this.#style);
      this.#closedSinceNewFormatter = 0;
    }
    if (this.#json) {
      this.#write(jsonLine(summaryJson(s)));
      return;
    }
    if (!this.#inSummaries) {
      this.#write("");
      this.#inSummaries = true;
    }
    for (const line of formatSummary(s, this.#style)) this.#write(line);
  }

  end(result: AnalysisResult, include: (s: FlowSummary) => boolean) {
    for (const s of result.summaries) if (include(s)) this.summary(s);
    if (this.#json) {
      this.#write(jsonLine({
        type: "end",
        time: Date.now(),
        packets: result.packets,
        skipped: result.skipped,
        connections: this.#summaries,
        error: result.error ? { message: result.error.message, offset: result.error.offset } : null,
      }));
    } else if (this.#summaries === 0) {
      this.#write("");
      this.#write(`No TCP connections seen (${result.packets} TCP packets).`);
    }
    this.flush();
  }
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

/** Filters packets for --read --port, and stops after --count. */
function sink(config: CaptureConfig, out: CaptureOutput, onCountReached: () => void) {
  let shown = 0;
  return (lp: LabeledPacket) => {
    const p = lp.packet;
    if (
      config.readPort !== null && p.srcPort !== config.readPort && p.dstPort !== config.readPort
    ) {
      return;
    }
    if (config.count !== null && shown >= config.count) return;
    out.packet(lp);
    if (config.count !== null && ++shown === config.count) onCountReached();
  };
}

export async function runCapture(config: CaptureConfig, signal: AbortSignal): Promise<number> {
  if (config.raw) return await runRaw(config, signal);
  const out = new CaptureOutput(config.json, config.quiet);
  const stopRead = new AbortController();
  signal.addEventListener("abort", () => stopRead.abort(), { once: true });
  // --read --port keeps the summaries of that port's connections only.
  const include = (s: FlowSummary) =>
    config.readPort === null || s.client.port === config.readPort ||
    s.server.port === config.readPort;
  const analyzer = new CaptureAnalyzer(
    sink(config, out, () => stopRead.abort()),
    () => out.flush(),
    {
      onSummary: (s) => {
        if (include(s)) out.summary(s);
      },
    },
  );

  let result: AnalysisResult;
  if (config.read !== null) {
    const file = await openRead(config.read);
    result = await analyzer.consume(file.readable, stopRead.signal);
  } else {
    result = await captureLive(config, analyzer, out, signal);
  }
  out.end(result, include);
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
  out: CaptureOutput,
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
    const readyOrFailed = tcpdump.ready.then(() => out.capturing(config.iface, config.filter));
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

export const captureCommand: Command = {
  name: "capture",
  summary: "label every packet (probe, probe ACK, FIN, …) live with tcpdump, or from a pcap file",
  help: HELP,
  runsUntilStopped: true,
  async run(args) {
    const config = parseCaptureArgs(args);
    return await withShutdown((signal) => runCapture(config, signal));
  },
};
