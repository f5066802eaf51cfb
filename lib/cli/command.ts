/** A subcommand owns its help text, its flags and their validation (cf. denoland/deployctl). */

export interface Command {
  name: string;
  /** One line for `tcpka --help`. */
  summary: string;
  /** The full `tcpka NAME --help` text. */
  help: string;
  /**
   * Runs until stopped (server, watch, capture): Ctrl-C or SIGTERM is its normal end, exit 0.
   * Otherwise a stop before the result exits 128 + the signal's number (130, 143).
   */
  runsUntilStopped?: boolean;
  /** Parses and validates `args` (throwing UsageError), runs, and returns the exit code. */
  run(args: string[]): Promise<number>;
}
