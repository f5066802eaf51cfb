/**
 * Programs nobody in tcpka wrote, holding connections for inspect/set to find: the Python holder
 * (tests/fixtures/ka_holder.py, which reports its own getsockopt as the reference) and socat.
 */
import { ROOT } from "./cli.ts";

const HOLDER = `${ROOT}tests/fixtures/ka_holder.py`;

export interface HeldSocket {
  fd: number;
  local: [string, number];
  peer: [string, number] | null;
  keepalive: boolean;
  idle: number;
  interval: number;
  count: number;
  userTimeout: number;
}

// deno-lint-ignore no-explicit-any
export type HolderLine = { type: string; [key: string]: any };

/** A running ka_holder.py; `prefix` runs it elsewhere (e.g. `ip netns exec NAME`). */
export class Holder {
  readonly child: Deno.ChildProcess;
  readonly lines: HolderLine[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiters: { test: (l: HolderLine) => boolean; resolve: (l: HolderLine) => void }[] = [];
  readonly done: Promise<void>;
  stderr = "";

  constructor(args: string[], prefix: string[] = []) {
    const argv = [...prefix, "python3", "-u", HOLDER, ...args];
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#writer = child.stdin.getWriter();
    const out = (async () => {
      let buffered = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl)) as HolderLine;
          buffered = buffered.slice(nl + 1);
          this.lines.push(line);
          for (const w of [...this.#waiters]) {
            if (w.test(line)) {
              this.#waiters.splice(this.#waiters.indexOf(w), 1);
              w.resolve(line);
            }
          }
        }
      }
    })();
    const err = new Response(child.stderr).text().then((t) => this.stderr = t);
    this.done = Promise.all([out, err, child.status]).then(() => {});
  }

  /** Resolves with the next line (from now) passing `test`. */
  next(test: (l: HolderLine) => boolean, timeoutMs = 20_000): Promise<HolderLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`holder: no expected line in ${timeoutMs}ms; ${this.stderr}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Sends a command without waiting for anything. */
  async tell(command: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(command + "\n"));
  }

  /** Sends a command and resolves with the reply line of type `reply`. */
  async ask(command: string, reply: string, timeoutMs?: number): Promise<HolderLine> {
    const answer = this.next((l) => l.type === reply, timeoutMs);
    await this.tell(command);
    return await answer;
  }

  async report(): Promise<{ pid: number; sockets: HeldSocket[] }> {
    const r = await this.ask("report", "report");
    return r as unknown as { pid: number; sockets: HeldSocket[] };
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#writer.close().catch(() => {});
    await this.done.catch(() => {});
  }
}

/** Starts the holder and waits for its first report. */
export async function startHolder(args: string[], prefix: string[] = []) {
  const holder = new Holder(args, prefix);
  try {
    const first = await holder.next((l) => l.type === "report");
    return { holder, first: first as unknown as { pid: number; sockets: HeldSocket[] } };
  } catch (err) {
    await holder.stop();
    throw err;
  }
}

/** A Python client with one connection per keep-alive SPEC (off, default, 30/5/4) to port. */
export function startClientHolder(port: number, specs: string[], prefix: string[] = []) {
  return startHolder(["connect", "127.0.0.1", String(port), ...specs], prefix);
}

/** A Python server holding every connection; resolves with it and its port. */
export async function startHolderServer(prefix: string[] = [], host = "127.0.0.1") {
  const { holder, first } = await startHolder(["serve", host], prefix);
  return { server: holder, port: first.sockets[0].local[1], pid: first.pid };
}

/**
 * socat connected to host:port with `options` on its TCP address (e.g. keepalive,keepidle=45),
 * holding the connection while its stdin stays open. Resolves once the connection exists.
 */
export function startSocat(host: string, port: number, options: string[]) {
  const child = new Deno.Command("socat", {
    args: ["-u", "STDIN", ["TCP:" + `${host}:${port}`, ...options].join(",")],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.stdin.close().catch(() => {});
    await child.status;
    await child.stderr.cancel().catch(() => {});
  };
  return { child, pid: child.pid, stop };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  stepMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
