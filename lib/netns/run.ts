/** Running system tools (ip, nft, sysctl, ss) with one-line errors that name the command. */
import { RuntimeError } from "../errors.ts";
import { spawnChild } from "../process/shutdown.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Starts a system tool with stdout and stderr piped, as a child the shutdown path stops; a tool
 * that is not installed is one line naming the Debian package that has it.
 */
export function spawnTool(argv: string[], stdin: "null" | "piped" = "null"): Deno.ChildProcess {
  try {
    return spawnChild(argv, { stdin, stdout: "piped", stderr: "piped" });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new RuntimeError(
        `${argv[0]} is not installed (Debian/Ubuntu: apt-get install ${
          PACKAGE[argv[0]] ?? argv[0]
        })`,
      );
    }
    throw err;
  }
}

export async function run(argv: string[], input?: string): Promise<RunResult> {
  const child = spawnTool(argv, input === undefined ? "null" : "piped");
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const PACKAGE: Record<string, string> = {
  ip: "iproute2",
  ss: "iproute2",
  nft: "nftables",
  sysctl: "procps",
  nsenter: "util-linux",
};

/** Runs and throws `"<command>: <its stderr>"` on failure. */
export async function mustRun(argv: string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split("\n")[0];
    throw new Error(`${argv.join(" ")}: ${why}`);
  }
  return r.stdout;
}
