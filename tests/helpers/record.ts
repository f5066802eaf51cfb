/**
 * Records real programs' traffic on loopback with tcpdump: the ground truth the analysis tests
 * check tcpka (and tshark) against. Needs root and tcpdump; callers skip without them.
 */
import { ROOT } from "./cli.ts";

export const PEERS = `${ROOT}tests/programs/peers.py`;

/** A port nobody listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts tcpdump writing `file`; resolves once it listens (its "listening on" line). */
export async function startTcpdump(
  file: string,
  filter: string,
  iface = "lo",
  prefix: string[] = [],
): Promise<{ stop: () => Promise<void> }> {
  // --immediate-mode: without it packets wait in the kernel ring for up to a second, and a
  // capture stopped within that second loses them.
  const argv = [
    ...prefix,
    "tcpdump",
    "-i",
    iface,
    "--immediate-mode",
    "-U",
    "-nn",
    "-w",
    file,
    filter,
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`tcpdump did not start: ${seen.trim()}`);
    seen += value;
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* tcpdump's packet count at exit */ }
  })();
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 200)); // the last packets reach the file
      child.kill("SIGINT");
      await child.status;
      await drained;
    },
  };
}

/** Reads lines from a child's stdout until `line` appears. */
async function waitForLine(
  reader: ReadableStreamDefaultReader<string>,
  line: string,
): Promise<void> {
  let seen = "";
  while (!seen.split("\n").includes(line)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`expected "${line}", got ${JSON.stringify(seen)}`);
    seen += value;
  }
}

/**
 * Runs `peers.py MODE PORT` with tcpdump on `tcp port PORT` around it, and returns the capture.
 * `midConnection`: start the capture only once the program says "connected" (no handshake seen).
 */
export async function recordPeers(
  mode: string,
  file: string,
  options: { midConnection?: boolean; port?: number; during?: () => Promise<void> } = {},
): Promise<void> {
  const port = options.port ?? freePort();
  const filter = `tcp port ${port}`;
  let capture = options.midConnection ? null : await startTcpdump(file, filter);
  const child = new Deno.Command("python3", {
    args: [PEERS, mode, String(port)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await waitForLine(reader, "connected");
    if (capture === null) capture = await startTcpdump(file, filter);
    await Promise.all([waitForLine(reader, "done"), options.during?.()]);
    const status = await child.status;
    if (!status.success) throw new Error(`peers.py ${mode} exited ${status.code}`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await capture?.stop();
  }
}

/** What the recording tests need, and the skip suffix naming the first thing missing. */
export async function recordingNeeds(): Promise<
  { missing: string | null; skip: string; tshark: boolean }
> {
  const has = (cmd: string) =>
    new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" }).output()
      .then((o) => o.success, () => false);
  const root = Deno.build.os === "linux" && Deno.uid() === 0;
  const [tcpdump, python, tshark] = await Promise.all([
    has("tcpdump"),
    has("python3"),
    has("tshark"),
  ]);
  const missing = !root ? "root" : !tcpdump ? "tcpdump" : !python ? "python3" : null;
  return { missing, skip: missing ? ` (skipped: needs ${missing})` : "", tshark };
}
