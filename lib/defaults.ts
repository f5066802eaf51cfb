/** The Go example's port, shared by every subcommand that talks to it. */
export const DEFAULT_PORT = 12345;
