/**
 * Another tcpka process running with `--json`: its events arrive as they are printed. Used by the
 * demo to run roles inside network namespaces, and by the tests to drive the CLI.
 */
import type { TcpkaEvent } from "../events.ts";
import { spawnChild } from "./shutdown.ts";
import { eventFromJson } from "../report/json_view.ts";

export interface EventProcessOptions {
  cwd?: string;
  env?: Record<string, string>;
  onEvent?: (event: TcpkaEvent) => void;
}

export class EventProcess {
  readonly child: Deno.ChildProcess;
  readonly events: TcpkaEvent[] = [];
  /** The lines as written (the documented JSON shape); `events` are them read back. */
  readonly lines: string[] = [];
  stderr = "";
  readonly done: Promise<{ code: number; events: TcpkaEvent[]; stderr: string }>;
  readonly #waiters: { test: (e: TcpkaEvent) => boolean; resolve: (e: TcpkaEvent) => void }[] = [];

  constructor(argv: string[], options: EventProcessOptions = {}) {
    this.child = spawnChild(argv, {
      cwd: options.cwd,
      env: { NO_COLOR: "1", ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const readOut = readLines(this.child.stdout, (line) => {
      let event: TcpkaEvent;
      try {
        event = eventFromJson(JSON.parse(line)) as unknown as TcpkaEvent;
        this.lines.push(line);
      } catch {
        this.stderr += `(not JSON) ${line}\n`;
        return;
      }
      this.events.push(event);
      options.onEvent?.(event);
      for (const w of [...this.#waiters]) {
        if (w.test(event)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    });
    const readErr = readLines(this.child.stderr, (line) => this.stderr += line + "\n");
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
      const why = () => this.stderr.trim().split("\n").at(-1) || "no output";
      const waiter = {
        test,
        resolve: (e: TcpkaEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`the expected event did not arrive within ${timeoutMs}ms (${why()})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
      // A process that ends (every event read) without the event will never send it: say so
      // now rather than after the timeout (a stopped or failed child must not stall its parent).
      this.done.then(({ code }) => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        clearTimeout(timer);
        reject(new Error(`the expected event did not arrive: it exited (code ${code}: ${why()})`));
      }, () => {});
    });
  }

  stop(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
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
