/**
 * `tcpka capture`: its help, its flags and their validation. The role itself (tcpdump or a saved
 * pcap/pcapng, every packet labelled, a summary per connection) is lib/roles/capture.ts.
 */
import type { Command } from "./lib/cli/command.ts";
import { UsageError } from "./lib/errors.ts";
import {
  durationFlag,
  integerFlag,
  noPositionals,
  parseCommandLine,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { DEFAULT_PORT } from "./lib/defaults.ts";
import { defaultFilter, defaultInterface } from "./lib/capture/interface.ts";
import { type CaptureConfig, runCapture } from "./lib/roles/capture.ts";
import { createReporter } from "./lib/report/reporter.ts";

const HELP = `Usage: tcpka capture [flags]

Captures TCP packets with tcpdump and says what each one is: SYN, SYN-ACK, handshake ACK, data,
keep-alive probe, keep-alive ACK, zero-window probe, zero-window ACK, FIN, RST, retransmission,
duplicate ACK, window update, ACK; with the idle before each probe (from the last segment that
restarted the prober's clock, as Linux counts it) or, for a retry of an unanswered probe, the time
since it. Tunnelled TCP (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP, MPLS, PPPoE) is decoded and named.
Each connection gets a summary (per prober: probes sent/answered/unanswered, idle before each
probe, retries; zero-window probes apart; how it ended, lifetime) 2 s (capture time) after it
closed, so late stragglers still belong to it. Those still open get theirs when the capture ends
(Ctrl-C, --duration, --count, end of file).

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
  const parsed = parseCommandLine("capture", args, {
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

export const captureCommand: Command = {
  name: "capture",
  summary: "label every packet (probe, probe ACK, FIN, …) live with tcpdump, or from a pcap file",
  help: HELP,
  runsUntilStopped: true,
  async run(args) {
    const config = parseCaptureArgs(args);
    // Not interactive: capture has no progress line, and its lines come faster than a TTY's.
    const reporter = createReporter({ json: config.json, interactive: false });
    return await withShutdown((signal) => runCapture(config, reporter, signal));
  },
};
