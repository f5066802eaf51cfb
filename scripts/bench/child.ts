/** Child processes the bench starts and measures. */
import { procStatus } from "./proc.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * What a child may open (10,000 connections plus its runtime's own descriptors), and the network
 * namespace the children run in (null: the host's).
 */
export const limits: { nofile: number; netns: string | null } = { nofile: 20_000, netns: null };

const run = async (cmd: string, args: string[]) =>
  (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output()).success;

/**
 * A network namespace of the bench's own (root only), so that other programs on the machine add
 * nothing to its loopback traffic or to the kernel counters it reads (accept-queue overflows are
 * counted per namespace). Null when it cannot be made: the children then share the host's.
 */
export async function isolateNetwork(): Promise<string | null> {
  if (Deno.uid() !== 0) return null;
  const name = `tcpka-${Deno.pid}-bench`;
  try {
    if (!await run("ip", ["netns", "add", name])) return null;
    if (await run("ip", ["-n", name, "link", "set", "lo", "up"])) return name;
    await removeNetwork(name);
  } catch { /* no ip(8) */ }
  return null;
}

export async function removeNetwork(name: string): Promise<void> {
  await run("ip", ["netns", "del", name]);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A long-running child whose stdout goes to a file rather than a pipe: a pipe the bench drains too
 * slowly would block the tool's synchronous writes and slow it down, and parsing 20,000 events as
 * they arrive would compete with it for the CPU. The file is read incrementally while polling.
 */
export class Child {
  static #count = 0;
  readonly process: Deno.ChildProcess;
  readonly outPath: string;
  readonly done: Promise<Deno.CommandStatus>;
  stderr = "";
  #offset = 0;
  #partial = "";

  /** Runs `argv` under `ulimit -n`, in the bench's network namespace if it has one. */
  constructor(dir: string, argv: string[]) {
    this.outPath = `${dir}/out-${++Child.#count}.txt`;
    const inNetns = limits.netns ? ["ip", "netns", "exec", limits.netns] : [];
    const shell = ["bash", "-c", `ulimit -n ${limits.nofile} && exec "$@" > "$OUT"`, "bash"];
    const [command, ...args] = [...inNetns, ...shell, ...argv];
    // ip and bash both exec, so the pid is the program's own.
    this.process = new Deno.Command(command, {
      args,
      cwd: ROOT,
      env: { NO_COLOR: "1", OUT: this.outPath },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const err = this.process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (this.stderr += t) }),
    );
    this.done = Promise.all([this.process.status, err]).then(([s]) => s);
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Complete lines written since the last call. */
  newLines(): string[] {
    let bytes: Uint8Array;
    try {
      const file = Deno.openSync(this.outPath);
      file.seekSync(this.#offset, Deno.SeekMode.Start);
      const size = file.statSync().size;
      bytes = new Uint8Array(Math.max(0, size - this.#offset));
      let got = 0;
      while (got < bytes.length) {
        const n = file.readSync(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      file.close();
      bytes = bytes.subarray(0, got);
    } catch {
      return []; // not created yet
    }
    this.#offset += bytes.length;
    const text = this.#partial + new TextDecoder().decode(bytes);
    const lines = text.split("\n");
    this.#partial = lines.pop()!;
    return lines;
  }

  /** Polls the output until a line passes `test`; returns it. */
  async waitForLine(test: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.newLines().find(test);
      if (hit !== undefined) return hit;
      if (performance.now() > end) {
        throw new Error(`timed out waiting for output; stderr: ${this.stderr.trim()}`);
      }
      await sleep(50);
    }
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.process.kill(signal);
    } catch { /* already gone */ }
  }
}

/** Kills the children and waits for them. */
export async function stop(...children: Child[]): Promise<void> {
  for (const c of children) {
    c.kill("SIGKILL");
    await c.done;
  }
}

export interface TimedRun {
  ms: number;
  /** The highest VmHWM (RSS high-water mark) sampled while it ran. */
  peakBytes: number;
  stdout: string;
}

/** Runs argv to completion, timing it and sampling its VmHWM until it exits. */
export async function timedRun(argv: string[], keepStdout = false): Promise<TimedRun> {
  const started = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    stdin: "null",
    stdout: keepStdout ? "piped" : "null",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, procStatus(child.pid, "VmHWM") ?? 0);
      await sleep(5);
    }
  })();
  const out = await child.output();
  const ms = performance.now() - started;
  running = false;
  await sampler;
  if (!out.success) {
    throw new Error(`${argv.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { ms, peakBytes: peak, stdout: keepStdout ? new TextDecoder().decode(out.stdout) : "" };
}
