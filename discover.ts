/**
 * `tcpka discover HOST:PORT`: measures how long the path to a TCP server (NAT gateway, load
 * balancer, stateful firewall, conntrack, or the server itself) keeps an idle connection. Help,
 * flags and their validation live here; the measurement is lib/discover/.
 */
import type { Command } from "./lib/cli/command.ts";
import { UsageError } from "./lib/errors.ts";
import {
  durationFlag,
  type FlagSpecs,
  integerFlag,
  parseCommandLine,
  portFlag,
  stringFlag,
} from "./lib/cli/flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { formatDuration } from "./lib/duration.ts";
import { type DiscoverConfig, runDiscover } from "./lib/discover/run.ts";
import { CaptureRstWitness } from "./lib/discover/rst_source.ts";
import { createReporter } from "./lib/report/reporter.ts";

const DEFAULTS = {
  minMs: 10_000,
  maxMs: 30 * 60_000,
  connections: 10,
  precision: 0.1,
  intervalMs: 1000,
  count: 2,
  connectTimeoutMs: 10_000,
};
/** Longer idles could not be told apart from the kernel's own first probe (TCP_KEEPIDLE's maximum). */
const MAX_MAX_MS = 32_767_000 - 60_000;

const HELP = `Usage: tcpka discover HOST:PORT [flags]

Measures how long the path to any TCP server keeps an idle connection: the idle timeout of a NAT
gateway, load balancer, stateful firewall or conntrack on the way, or of the server itself. It
opens a few connections at once, lets each idle for a different time from a geometric ladder
between --min and --max, and then sends one keep-alive probe on it (a bare ACK; no data is ever
sent, and the server program is not involved: its kernel answers). An answered probe means the path
still knew the connection; an unanswered one (silent drop) or an RST (reset) means it had forgotten
it; a FIN before the probe means the server itself closes idle connections. The connections of the
rungs above the edge, idle almost as long, then refine the range until it is within --precision.

Flags:
  HOST:PORT             the server ([v6addr]:port for IPv6); or --host and --port
  --min DURATION        shortest idle on the ladder (default 10s)
  --max DURATION        longest idle tested (default 30m): "kept for at least --max" beyond it
  --connections N       at most N open at once (default 10); more give a finer ladder
  --precision P         stop when the range's high end is within P of its low end (default 10%)
  --interval DURATION   keep-alive interval after the probe (default 1s) and
  --count N             probes (default 2): the kernel's own verdict, if ours has not come first
  --connect-timeout D   give up connecting after D (default 10s)
  --no-capture          do not capture packets (as root, a capture tells who sent an RST)
  --json                one JSON event per line; the last is {"type":"result",...}
  -h, --help            show this help

It prints how long the answer will take before starting, a progress line on a terminal, and at
the end the range, what happened at its edge, and keep-alive settings that keep connections alive
across it (idle and interval at most half the timeout) as 'tcpka client' flags and a sysctl line.
Ctrl-C prints the range known so far.

Examples:
  tcpka discover db.internal:5432
  tcpka discover 10.0.0.5:443 --min 1m --max 1h --precision 5%
  tcpka discover [2001:db8::1]:22 --json

Exit status: 0 measured, 1 the server could not be reached, 2 bad usage, 130 interrupted.`;

const FLAGS: FlagSpecs = {
  host: { type: "string" },
  port: { type: "string" },
  min: { type: "string" },
  max: { type: "string" },
  connections: { type: "string" },
  precision: { type: "string" },
  interval: { type: "string" },
  count: { type: "string" },
  "connect-timeout": { type: "string" },
  "no-capture": { type: "boolean" },
  json: { type: "boolean" },
};

export interface DiscoverArgs {
  config: DiscoverConfig;
  capture: boolean;
}

export function parseDiscoverArgs(args: string[]): DiscoverArgs {
  const c = "discover";
  const { values, positionals } = parseCommandLine(c, args, FLAGS);
  if (positionals.length > 1) {
    throw new UsageError(
      `${c}: unexpected argument '${positionals[1]}'; see 'tcpka discover --help'`,
    );
  }
  let host = stringFlag(values, "host");
  let port: number | undefined = values.port === undefined ? undefined : portFlag(c, values, 0);
  if (positionals[0] !== undefined) {
    if (host !== undefined || port !== undefined) {
      throw new UsageError(`${c}: give the target as HOST:PORT or with --host/--port, not both`);
    }
    ({ host, port } = splitTarget(positionals[0]));
  }
  if (host === undefined || host === "" || port === undefined) {
    throw new UsageError(`${c}: which server? give HOST:PORT (e.g. tcpka discover 10.0.0.5:443)`);
  }
  const minMs = durationFlag(c, values, "min") ?? DEFAULTS.minMs;
  const maxMs = durationFlag(c, values, "max") ?? DEFAULTS.maxMs;
  if (minMs < 1000) {
    throw new UsageError(
      `${c}: --min ${formatDuration(minMs)} is too short: keep-alive probes need at least 1s`,
    );
  }
  if (maxMs <= minMs) {
    throw new UsageError(
      `${c}: --max ${formatDuration(maxMs)} must be longer than --min ${formatDuration(minMs)}`,
    );
  }
  if (maxMs > MAX_MAX_MS) {
    throw new UsageError(`${c}: --max ${formatDuration(maxMs)} is too long: at most 9h`);
  }
  const intervalMs = durationFlag(c, values, "interval") ?? DEFAULTS.intervalMs;
  if (intervalMs < 1000 || intervalMs % 1000 !== 0 || intervalMs > 32_767_000) {
    throw new UsageError(`${c}: --interval must be whole seconds, 1s to 32767s (Linux)`);
  }
  const connectTimeoutMs = durationFlag(c, values, "connect-timeout") ??
    DEFAULTS.connectTimeoutMs;
  if (connectTimeoutMs < 100) {
    throw new UsageError(`${c}: --connect-timeout must be at least 100ms`);
  }
  return {
    config: {
      host,
      port,
      minMs,
      maxMs,
      connections: integerFlag(c, values, "connections", 1, 100) ?? DEFAULTS.connections,
      precision: precisionFlag(stringFlag(values, "precision")),
      intervalMs,
      count: integerFlag(c, values, "count", 1, 127) ?? DEFAULTS.count,
      connectTimeoutMs,
      json: values.json === true,
    },
    capture: values["no-capture"] !== true,
  };
}

/** `host:port`, `[v6]:port`. */
export function splitTarget(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:\[\]]+):(\d+)$/.exec(text);
  if (!m) {
    throw new UsageError(
      `discover: '${text}' is not HOST:PORT (IPv6: [2001:db8::1]:443)`,
    );
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`discover: port ${m[2]} is not 1 to 65535`);
  return { host: m[1], port };
}

function precisionFlag(text: string | undefined): number {
  if (text === undefined) return DEFAULTS.precision;
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(value >= 0.01 && value <= 1)) {
    throw new UsageError(`discover: --precision "${text}" must be 1% to 100% (or 0.01 to 1)`);
  }
  return value;
}

function canCapture(): boolean {
  return Deno.build.os === "linux" && Deno.uid() === 0;
}

export const discoverCommand: Command = {
  name: "discover",
  summary: "measure how long the path to HOST:PORT keeps an idle connection (NAT, LB, firewall)",
  help: HELP,
  async run(args) {
    const { config, capture } = parseDiscoverArgs(args);
    const witness = capture && canCapture()
      ? new CaptureRstWitness(config.host, config.port)
      : null;
    return await withShutdown((signal) =>
      runDiscover(config, createReporter({ json: config.json }), signal, witness)
    );
  },
};
