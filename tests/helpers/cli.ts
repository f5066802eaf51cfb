/**
 * Runs tcpka as a user would: a subprocess of `deno run -P main.ts`, i.e. with exactly the
 * permission set from deno.json that the tasks and the compiled binary get.
 */
import type { TcpkaEvent } from "../../lib/events.ts";
import { EventProcess } from "../../lib/process/event_process.ts";
import { V8_FLAGS } from "../../lib/process/runtime_flags.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The tcpka process's pid (its network namespaces are named tcpka-<pid>-…). */
  pid?: number;
}

export function cliArgs(args: string[]): string[] {
  return ["run", "-q", "-P", ...V8_FLAGS, "--no-prompt", MAIN, ...args];
}

/** Starts tcpka with `args` (after `prefix`, e.g. `ip netns exec NS`), its output piped. */
export function spawnCli(
  args: string[],
  prefix: string[] = [],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  const argv = [...prefix, Deno.execPath(), ...cliArgs(args)];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnCli(args, [], options.env);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    pid: child.pid,
  };
}

/** A running tcpka with `--json`, started like `runCli`. */
export class CliProcess extends EventProcess {
  constructor(args: string[], env: Record<string, string> = {}) {
    super([Deno.execPath(), ...cliArgs(args)], { cwd: ROOT, env });
  }
}

/** Starts `tcpka server --json --port 0 …` and resolves with it and its port once listening. */
export async function startServer(args: string[] = []) {
  const server = new CliProcess(["server", "--json", "--port", "0", ...args]);
  const listening = await server.waitFor((e) => e.type === "listening");
  return { server, port: (listening as Extract<TcpkaEvent, { type: "listening" }>).port };
}

export function eventsOf<T extends TcpkaEvent["type"]>(
  events: TcpkaEvent[],
  type: T,
): Extract<TcpkaEvent, { type: T }>[] {
  return events.filter((e) => e.type === type) as Extract<TcpkaEvent, { type: T }>[];
}

/**
 * Runs the CLI as the unprivileged user `nobody` (the test itself must be root), with a private
 * Deno cache it can write.
 */
export async function runCliAsNobody(args: string[]): Promise<CliResult> {
  const denoDir = await Deno.makeTempDir({ prefix: "tcpka-nobody-" });
  await Deno.chmod(denoDir, 0o777);
  try {
    const out = await new Deno.Command("runuser", {
      args: ["-u", "nobody", "--", Deno.execPath(), ...cliArgs(args)],
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1" },
      cwd: "/",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

/** The path of a program on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${name}`;
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return null;
}

export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs tcpka until its stdout has shown a line matching `until`, then does `then` to it: closes
 * the pipe as `| head` does ("close"), or sends Ctrl-C ("SIGINT"). Returns how it ended.
 */
export async function runCliUntil(
  args: string[],
  until: RegExp,
  then: "close" | "SIGINT",
  timeoutMs = 60_000,
): Promise<CliResult> {
  const child = spawnCli(args);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!until.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  if (then === "close") await reader.cancel();
  else {
    child.kill("SIGINT");
    for (let r = await reader.read(); !r.done; r = await reader.read()) stdout += r.value;
  }
  const status = await child.status;
  clearTimeout(timer);
  return { code: status.code, stdout, stderr: await stderr, pid: child.pid };
}
