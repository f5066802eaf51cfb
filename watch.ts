/**
 * `tcpka watch`: its help and flags. The role itself (the kernel's socket table, polled, keep-alive
 * timers and probes of any process's connections; no root, no capture) is lib/roles/watch.ts.
 */
import type { Command } from "./lib/cli/command.ts";
import { durationFlag, noPositionals, parseCommandLine, portFlag } from "./lib/cli/flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { DEFAULT_PORT } from "./lib/defaults.ts";
import { UsageError } from "./lib/errors.ts";
import { runWatch, type WatchConfig } from "./lib/roles/watch.ts";

const HELP = `Usage: tcpka watch [flags]

Shows the keep-alive timer and the probes of every TCP connection on a port, whichever process
owns it, by polling the kernel's socket table (ss -tnoi). No root and no packet capture needed:
a probe shows as the keep-alive timer restarting while a segment is sent without data, and its
answer as a received segment (dated by the kernel's lastack). Linux only.

Flags:
  --port N              local or remote port to watch (default ${DEFAULT_PORT})
  --poll DURATION       how often to look (default 100ms; probe times are exact to this)
  --duration DURATION   stop after this long (default: until Ctrl-C)
  --json                one JSON observation per line
  -h, --help            show this help

Example:
  tcpka watch --port 12345 &  tcpka server &  tcpka client`;

export function parseWatchArgs(args: string[]): WatchConfig {
  const parsed = parseCommandLine("watch", args, {
    port: { type: "string" },
    poll: { type: "string" },
    duration: { type: "string" },
    json: { type: "boolean" },
  });
  noPositionals("watch", parsed);
  const { values } = parsed;
  return {
    port: portFlag("watch", values, DEFAULT_PORT),
    pollMs: pollFlag(durationFlag("watch", values, "poll")),
    durationMs: durationFlag("watch", values, "duration") ?? 0,
    json: values.json === true,
  };
}

/** Below 10ms `ss` would run back to back, a core busy for nothing: refused, not rounded. */
function pollFlag(ms: number | undefined): number {
  if (ms === undefined) return 100;
  if (ms < 10) {
    throw new UsageError(`watch: --poll must be at least 10ms (ss runs once per poll)`);
  }
  return ms;
}

export const watchCommand: Command = {
  name: "watch",
  summary: "show keep-alive timers and probes on a port from the kernel's tables (no root)",
  help: HELP,
  runsUntilStopped: true,
  async run(args) {
    const config = parseWatchArgs(args);
    return await withShutdown((signal) => runWatch(config, signal));
  },
};
