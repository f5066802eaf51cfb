/**
 * tcpka: make TCP keep-alive visible and verifiable.
 * Entry point: finds the subcommand, hands it its arguments, turns errors into one-line messages.
 */
import denoJson from "./deno.json" with { type: "json" };
import type { Command } from "./lib/cli/command.ts";
import { reportError } from "./lib/cli/exit.ts";
import { UsageError } from "./lib/errors.ts";
import {
  exitCodeFor,
  exitProcess,
  installShutdown,
  stopRequested,
} from "./lib/process/shutdown.ts";
import { captureCommand } from "./capture.ts";
import { clientCommand } from "./client.ts";
import { demoCommand } from "./demo.ts";
import { discoverCommand } from "./discover.ts";
import { inspectCommand } from "./inspect.ts";
import { serverCommand } from "./server.ts";
import { setCommand } from "./set.ts";
import { watchCommand } from "./watch.ts";

export const VERSION = denoJson.version;

const COMMANDS: Command[] = [
  demoCommand,
  serverCommand,
  clientCommand,
  captureCommand,
  watchCommand,
  discoverCommand,
  inspectCommand,
  setCommand,
];

function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `tcpka ${VERSION}: make TCP keep-alive visible and verifiable

Usage: tcpka <command> [flags]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run 'tcpka <command> --help' for a command's flags.
Flags: -h, --help   show this help;   -V, --version   show the version`;
}

export function versionText(): string {
  return `tcpka ${VERSION} (${Deno.build.target}, Deno ${Deno.version.deno})`;
}

/** Runs the tool with `args`; returns the exit code. Errors are thrown as UsageError/RuntimeError. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    const topic = name === "help" ? rest[0] : undefined;
    const command = topic ? findCommand(topic) : undefined;
    console.log(command ? command.help : toolHelp());
    return 0;
  }
  if (name === "-V" || name === "--version" || name === "version") {
    console.log(versionText());
    return 0;
  }
  const command = findCommand(name);
  const end = rest.indexOf("--");
  const flags = end === -1 ? rest : rest.slice(0, end);
  if (flags.includes("--help") || flags.includes("-h")) {
    console.log(command.help);
    return 0;
  }
  const code = await command.run(rest);
  const cause = stopRequested();
  // A result cut short by a signal is not a result (see the exit-status table in the README).
  if (cause && cause !== "broken-pipe" && !command.runsUntilStopped) return exitCodeFor(cause);
  return code;
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const hint = name.startsWith("-") ? "put flags after the command" : "unknown command";
    throw new UsageError(`${hint}: '${name}'; see 'tcpka --help'`);
  }
  return command;
}

if (import.meta.main) {
  // First, so that a Ctrl-C or a closed pipe during start-up ends the run like any other.
  installShutdown(reportError);
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    // After a stop request, what fails is the stop's doing (a child killed by the same Ctrl-C).
    const cause = stopRequested();
    code = cause ? exitCodeFor(cause) : reportError(err);
  }
  // The reader of our output went away: it has what it wanted (documented: exit 0).
  if (stopRequested() === "broken-pipe") code = 0;
  await exitProcess(code);
}
