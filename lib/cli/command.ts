/** A subcommand owns its help text, its flags and their validation (cf. denoland/deployctl). */

export interface Command {
  name: string;
  /** One line for `tcpka --help`. */
  summary: string;
  /** The full `tcpka NAME --help` text. */
  help: string;
  /** Parses and validates `args` (throwing UsageError), runs, and returns the exit code. */
  run(args: string[]): Promise<number>;
}
