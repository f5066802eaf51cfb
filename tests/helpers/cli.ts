/**
 * Runs tcpka as a user would: a subprocess of `deno run -P main.ts`, i.e. with exactly the
 * permission set from deno.json that the tasks and the compiled binary get.
 */
import type { TcpkaEvent } from "../../lib/events.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cliArgs(args: string[]): string[] {
  return ["run", "-q", "-P", "--no-prompt", MAIN, ...args];
}

export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: cliArgs(args),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A running tcpka with `--json`: its events arrive as they are printed. */
export class CliProcess {
  readonly child: Deno.ChildProcess;
  readonly events: TcpkaEvent[] = [];
  stderr = "";
  readonly #waiters: { test: (e: TcpkaEvent) => boolean; resolve: (e: TcpkaEvent) => void }[] = [];
  readonly done: Promise<{ code: number; events: TcpkaEvent[]; stderr: string }>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: cliArgs(args),
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const readOut = this.#readLines(this.child.stdout, (line) => {
      const event = JSON.parse(line) as TcpkaEvent;
      this.events.push(event);
      for (const w of [...this.#waiters]) {
        if (w.test(event)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    });
    const readErr = this.#readLines(this.child.stderr, (line) => this.stderr += line + "\n");
    this.done = Promise.all([this.child.status, readOut, readErr]).then(([status]) => ({
      code: status.code,
      events: this.events,
      stderr: this.stderr,
    }));
  }

  /** Resolves with the first event (already seen or future) that passes `test`. */
  waitFor<T extends TcpkaEvent>(test: (e: TcpkaEvent) => e is T, timeoutMs?: number): Promise<T>;
  waitFor(test: (e: TcpkaEvent) => boolean, timeoutMs?: number): Promise<TcpkaEvent>;
  waitFor(test: (e: TcpkaEvent) => boolean, timeoutMs = 15_000): Promise<TcpkaEvent> {
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching event within ${timeoutMs}ms; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) onLine(line);
      }
    }
    if (buffered.trim()) onLine(buffered);
  }

  stop(signal: Deno.Signal = "SIGTERM") {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
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
