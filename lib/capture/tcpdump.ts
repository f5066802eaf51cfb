/**
 * tcpdump, run through Deno.Command with an argument list (never a shell), streaming
 * packet-buffered pcap on stdout. Its failures become one-line errors that say how to fix them.
 */
import { RuntimeError, UsageError } from "../errors.ts";
import { spawnChild } from "../process/shutdown.ts";

export interface TcpdumpOptions {
  iface: string;
  /** A BPF expression, passed to tcpdump as one argument. */
  filter: string;
  /** Stop after this many packets (tcpdump -c). */
  count?: number;
  /** argv prefix to run it elsewhere (a network namespace). */
  prefix?: string[];
  /** tcpdump's own text output (-l) instead of pcap. */
  raw?: boolean;
  /** Bytes of each packet to keep; headers are all the analysis needs. */
  snaplen?: number;
}

export interface TcpdumpProcess {
  child: Deno.ChildProcess;
  /** pcap bytes (or text with `raw`). */
  stdout: ReadableStream<Uint8Array>;
  /** Resolves when tcpdump reports it is listening; rejects with a user-facing error. */
  ready: Promise<void>;
  /** Everything tcpdump wrote to stderr so far. */
  stderr(): string;
  stop(): void;
}

function tcpdumpArgs(options: TcpdumpOptions): string[] {
  // --immediate-mode: without it libpcap hands packets over in blocks, up to a second late, and
  // the last ones before a stop can be lost.
  const args = ["-i", options.iface, "--immediate-mode"];
  if (options.raw) args.push("-l");
  else args.push("-nn", "-U", "-w", "-", "-s", String(options.snaplen ?? 256));
  if (options.count !== undefined) args.push("-c", String(options.count));
  args.push(options.filter);
  return args;
}

function installHint(os: string = Deno.build.os): string {
  switch (os) {
    case "windows":
      return "packet capture is not available on Windows (no tcpdump); capture with Wireshark or " +
        "'pktmon', save a pcap, and analyse it with 'tcpka capture --read FILE'";
    case "darwin":
      return "tcpdump is not on PATH; macOS ships it in /usr/sbin";
    default:
      return "tcpdump is not installed; install it with 'sudo apt-get install tcpdump' " +
        "(Debian/Ubuntu), 'sudo dnf install tcpdump' (Fedora) or 'sudo apk add tcpdump' (Alpine)";
  }
}

/** Turns tcpdump's stderr into the error the user should see, or null if it is not an error. */
function explainTcpdumpError(stderr: string, iface: string): Error | null {
  const text = stderr.trim();
  if (/permission|not permitted|Operation not permitted/i.test(text)) {
    return new RuntimeError(
      "capturing needs root: run with sudo, or let tcpdump capture as you: " +
        'sudo setcap cap_net_raw,cap_net_admin=eip "$(command -v tcpdump)"',
    );
  }
  if (/No such device|doesn't exist|no suitable device|SIOCGIFHWADDR/i.test(text)) {
    return new UsageError(
      `unknown interface '${iface}' (list them with 'ip link' or 'tcpdump -D')`,
    );
  }
  if (/syntax error|can't parse filter|parse error|illegal|unknown (host|port|proto)/i.test(text)) {
    const line = text.split("\n").find((l) => /tcpdump:/.test(l)) ?? text.split("\n")[0];
    return new UsageError(`bad --filter: ${line.replace(/^tcpdump:\s*/, "")}`);
  }
  return null;
}

export function startTcpdump(options: TcpdumpOptions): TcpdumpProcess {
  const argv = [...(options.prefix ?? []), "tcpdump", ...tcpdumpArgs(options)];
  let child: Deno.ChildProcess;
  try {
    child = spawnChild(argv, { stdin: "null", stdout: "piped", stderr: "piped" });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new RuntimeError(installHint());
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      throw new RuntimeError(`not allowed to run tcpdump: ${(err as Error).message}`);
    }
    throw err;
  }
  let stderr = "";
  const ready = Promise.withResolvers<void>();
  const decoder = new TextDecoder();
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (/listening on /.test(stderr)) ready.resolve();
    }
  })().catch(() => {});
  Promise.all([child.status, stderrDone]).then(([status]) => {
    // tcpdump exits before "listening on" only when it failed to start.
    if (status.success || /listening on /.test(stderr)) return ready.resolve();
    ready.reject(
      explainTcpdumpError(stderr, options.iface) ??
        new RuntimeError(
          `tcpdump failed: ${stderr.trim().split("\n").at(-1) || `exit code ${status.code}`}`,
        ),
    );
  });
  return {
    child,
    stdout: child.stdout,
    ready: ready.promise,
    stderr: () => stderr,
    stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    },
  };
}
