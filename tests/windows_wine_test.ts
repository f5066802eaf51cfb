/**
 * The Windows code path for real: Deno's Windows build (deno.exe) runs main.ts under Wine, talking
 * to our Linux server over loopback, while tcpdump watches `lo`. Wine sockets are Linux sockets, so
 * the probes that Winsock's SIO_KEEPALIVE_VALS asks for appear on the wire like any others.
 *
 * Needs a prefix made by `scripts/setup_wine.sh DIR` (default DIR: .wine/ in the repository, or
 * $TCPKA_WINE_DIR), Wine, tcpdump and root (or tcpdump's capture capabilities). Without them the
 * tests are ignored with a name that says what is missing.
 */
import assert from "assert";
import { eventsOf, exists, ROOT, runCli, startServer } from "./helpers/cli.ts";
import type { TcpkaEvent } from "../lib/events.ts";
import { eventFromJson } from "../lib/report/json_view.ts";

const WINE_DIR = Deno.env.get("TCPKA_WINE_DIR") ?? `${ROOT}.wine`;
const WINE_ENV = { WINEPREFIX: `${WINE_DIR}/prefix`, WINEDEBUG: "-all", NO_COLOR: "1" };

async function runs(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The first candidate that exists: absolute paths as they are, bare names looked up on PATH. */
function findProgram(candidates: string[]): string | null {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d);
  for (const c of candidates) {
    const found = c.startsWith("/") ? [c] : path.map((dir) => `${dir}/${c}`);
    const hit = found.find(exists);
    if (hit) return hit;
  }
  return null;
}

const wine64 = findProgram(["/usr/lib/wine/wine64", "wine64"]);
const wineserver = findProgram(["/usr/lib/wine/wineserver", "wineserver"]);
const denoExe = `${WINE_DIR}/deno.exe`;

/** Why the Wine tests cannot run here, or null. */
async function missing(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "needs Linux (Wine, tcpdump on lo)";
  const failed = `${WINE_DIR}/SETUP_FAILED`;
  if (exists(failed)) {
    return `Wine setup failed: ${Deno.readTextFileSync(failed).trim().split("\n")[0]}`;
  }
  if (!wine64 || !wineserver) {
    return "Wine is not installed (run scripts/setup_wine.sh, which installs wine64)";
  }
  for (const file of [denoExe, `${WINE_DIR}/bcryptprimitives.dll`, `${WINE_DIR}/prefix`]) {
    if (!exists(file)) return `no Wine prefix: ${file} is missing (run scripts/setup_wine.sh)`;
  }
  if (!await runs("tcpdump", ["--version"])) return "tcpdump is not installed";
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch { /* no --allow-sys: rely on the capture check below */ }
  if (uid !== 0 && !await canCaptureOnLo()) {
    return "tcpdump cannot capture on lo (needs root or cap_net_raw)";
  }
  return null;
}

async function canCaptureOnLo(): Promise<boolean> {
  const out = await new Deno.Command("tcpdump", {
    args: ["-i", "lo", "-c", "1", "-w", "/dev/null", "--immediate-mode", "tcp port 9"],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(1000),
  }).output().catch(() => null);
  return out !== null && /listening on/.test(new TextDecoder().decode(out.stderr));
}

const why = await missing();
const skipped = why ? ` (skipped: ${why})` : "";

/**
 * Starts a wineserver that outlives each test briefly, and Wine's own services, with no stdio:
 * otherwise the first Wine process hands our pipes to them and its output never ends.
 */
async function warmUpWine(): Promise<void> {
  const quiet = { env: WINE_ENV, stdin: "null", stdout: "null", stderr: "null" } as const;
  await new Deno.Command(wineserver!, { args: ["-p20"], ...quiet }).output();
  const out = await new Deno.Command(wine64!, { args: [denoExe, "--version"], ...quiet }).output();
  assert.ok(out.success, `${denoExe} --version failed under Wine (exit ${out.code})`);
}

/** The tool's argv for the Windows build, the same `run -P` as tests/helpers/cli.ts. */
function wineArgs(args: string[]): string[] {
  return [denoExe, "run", "-q", "-P", "--no-prompt", "main.ts", ...args];
}

/** NDJSON in the schema's shape (docs/json.md) back to tcpka's events, as EventProcess reads it. */
function parseEvents(stdout: string): TcpkaEvent[] {
  return stdout.trim().split("\n").filter((l) => l.trim()).map(parseEvent);
}

function parseEvent(line: string): TcpkaEvent {
  return eventFromJson(JSON.parse(line)) as unknown as TcpkaEvent;
}

/** One TCP segment from `tcpdump -nn -tt -x`: the text line and the decoded IPv4/TCP header. */
interface Segment {
  time: number;
  text: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  payload: number;
}

const ACK = 0x10, SYN = 0x02;

function parseTcpdumpHex(output: string): Segment[] {
  const segments: Segment[] = [];
  let current: { time: number; text: string; hex: string } | null = null;
  const finish = () => {
    if (!current) return;
    const b = current.hex.match(/../g)!.map((h) => parseInt(h, 16));
    const ihl = (b[0] & 0x0f) * 4;
    const total = (b[2] << 8) | b[3];
    const t = ihl; // the TCP header follows the IP header
    const u32 = (i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    segments.push({
      time: current.time,
      text: current.text,
      srcPort: (b[t] << 8) | b[t + 1],
      dstPort: (b[t + 2] << 8) | b[t + 3],
      seq: u32(t + 4),
      ack: u32(t + 8),
      flags: b[t + 13],
      payload: total - ihl - (b[t + 12] >> 4) * 4,
    });
    current = null;
  };
  for (const line of output.split("\n")) {
    const hex = /^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (hex && current) {
      current.hex += hex[1].replace(/\s/g, "");
      continue;
    }
    const head = /^(\d+\.\d+) IP /.exec(line);
    if (head) {
      finish();
      current = { time: Number(head[1]), text: line, hex: "" };
    }
  }
  finish();
  return segments;
}

async function startCapture(port: number) {
  const child = new Deno.Command("tcpdump", {
    args: ["-i", "lo", "-nn", "-tt", "-l", "-x", `tcp port ${port}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for "listening on lo" so no packet is missed.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  while (!err.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`tcpdump did not start: ${err.trim()}`);
    err += value;
  }
  const stdout = new Response(child.stdout).text();
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep stderr flowing */ }
  })();
  return {
    async stop(): Promise<Segment[]> {
      await new Promise((r) => setTimeout(r, 300)); // let the last packets through
      child.kill("SIGTERM");
      const [text] = await Promise.all([stdout, drain, child.status]);
      return parseTcpdumpHex(text);
    },
  };
}

Deno.test({
  name: "Windows build under Wine: client --period 1s sends probes every 1s on lo" + skipped,
  ignore: why !== null,
  async fn() {
    await warmUpWine();
    const { server, port } = await startServer(["--hold", "0"]);
    const capture = await startCapture(port);
    let segments: Segment[] = [];
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(wine64!, {
        args: wineArgs(["client", "--period", "1s", "--hold", "4s", "--json", "--port", `${port}`]),
        cwd: ROOT,
        env: WINE_ENV,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
    } finally {
      segments = await capture.stop();
      server.stop();
      await server.done;
    }
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `client under Wine exited ${out.code}: ${stderr}`);
    const events = parseEvents(new TextDecoder().decode(out.stdout));

    // The report: Wine lacks TCP_KEEP* socket options, so the SIO_KEEPALIVE_VALS path ran.
    const keepalives = eventsOf(events, "keepalive");
    assert.equal(keepalives.length, 1, JSON.stringify(events));
    const report = keepalives[0].report;
    assert.equal(report.method, "sio_keepalive_vals", JSON.stringify(report));
    assert.equal(report.enabled, true);
    assert.equal(report.source, "as-set");
    assert.deepEqual(report.effective, { idleMs: 1000, intervalMs: 1000, count: 10 });
    const notes = report.notes.join("\n");
    assert.match(notes, /WSAENOPROTOOPT/);
    assert.match(notes, /not readable/);
    assert.match(notes, /count 10 is fixed by Windows and cannot be set/);
    assert.ok(report.lookup && report.lookup.handle % 4 === 0, JSON.stringify(report.lookup));
    assert.deepEqual(eventsOf(events, "closed").map((e) => e.reason), ["hold-expired"]);

    // The wire: the client's SYN gives its initial sequence number; a keep-alive probe is a bare
    // ACK from the client with no data and seq = snd_una - 1 = ISN (the client sent no data).
    const local = Number(eventsOf(events, "connected")[0].local.split(":").pop());
    const syn = segments.find((s) => s.srcPort === local && s.flags === SYN);
    assert.ok(syn, `no SYN from port ${local} in the capture:\n${dump(segments)}`);
    const probes = segments.filter((s) =>
      s.srcPort === local && s.dstPort === port && s.flags === ACK && s.payload === 0 &&
      s.seq === syn.seq
    );
    for (const p of probes) assert.match(p.text, /Flags \[\.\], ack \d+, .*length 0$/);
    assert.ok(probes.length >= 3, `${probes.length} probes in 4s:\n${dump(segments)}`);
    const handshakeAck = segments.find((s) =>
      s.srcPort === local && s.flags === ACK && s.seq === syn.seq + 1
    )!;
    const gaps = [probes[0].time - handshakeAck.time];
    for (let i = 1; i < probes.length; i++) gaps.push(probes[i].time - probes[i - 1].time);
    for (const gap of gaps) {
      assert.ok(Math.abs(gap - 1) <= 0.25, `probe spacing ${gap.toFixed(3)}s is not 1s ± 0.25s`);
    }
    // Each probe answered by the server's ACK.
    for (const p of probes) {
      assert.ok(
        segments.some((s) =>
          s.srcPort === port && s.flags === ACK && s.time >= p.time && s.time - p.time < 0.1
        ),
        `probe at ${p.time} unanswered`,
      );
    }
    console.log(
      `probes from the Windows build under Wine: ${probes.length}, spacing ${
        gaps.map((g) => g.toFixed(3)).join(" ")
      } s`,
    );
  },
});

function dump(segments: Segment[]): string {
  return segments.map((s) => s.text).join("\n");
}

Deno.test({
  name: "Windows build under Wine: server accepts a Linux client, reports it, keep-alive via SIO" +
    skipped,
  ignore: why !== null,
  async fn() {
    await warmUpWine();
    const child = new Deno.Command(wine64!, {
      args: wineArgs(
        ["server", "--json", "--port", "0", "--hold", "1s", "--period", "2s", "--count", "3"],
      ),
      cwd: ROOT,
      env: WINE_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const events: TcpkaEvent[] = [];
    let stderr = "";
    const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (stderr += chunk) }),
    );
    let buffered = "";
    let notify = () => {};
    const outDone = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          buffered += chunk;
          let nl;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line) events.push(parseEvent(line));
          }
          notify();
        },
      }),
    );
    const waitFor = async (test: (e: TcpkaEvent) => boolean, what: string) => {
      const deadline = Date.now() + 30_000;
      while (!events.some(test)) {
        if (Date.now() > deadline) throw new Error(`no ${what} from the Wine server: ${stderr}`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 200);
        });
      }
      return events.find(test)!;
    };
    try {
      const listening = await waitFor((e) => e.type === "listening", "listening event");
      const port = (listening as Extract<TcpkaEvent, { type: "listening" }>).port;
      assert.ok(port > 0);

      // A Linux client (the normal `deno run -P`), keep-alive off: the Windows server closes
      // after its 1s hold and the client sees that FIN.
      const client = await runCli(
        ["client", "--json", "--port", `${port}`, "--hold", "0", "--no-keepalive"],
      );
      assert.equal(client.code, 0, client.stderr);
      const clientEvents = parseEvents(client.stdout);
      assert.deepEqual(eventsOf(clientEvents, "closed").map((e) => e.reason), ["peer-closed"]);
      const clientLocal = eventsOf(clientEvents, "connected")[0].local;

      await waitFor((e) => e.type === "closed", "closed event");
      const connected = eventsOf(events, "connected");
      assert.equal(connected.length, 1);
      assert.equal(connected[0].remote, clientLocal);
      const report = eventsOf(events, "keepalive")[0].report;
      assert.equal(report.method, "sio_keepalive_vals", JSON.stringify(report));
      assert.deepEqual(report.effective, { idleMs: 2000, intervalMs: 2000, count: 10 });
      assert.match(report.notes.join("\n"), /count 3 was not applied/);
      assert.deepEqual(eventsOf(events, "closed").map((e) => e.reason), ["hold-expired"]);
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await Promise.all([outDone, errDone]);
    }
  },
});
