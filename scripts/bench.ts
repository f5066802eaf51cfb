/**
 * `deno task bench`: tcpka against a reference measured in the same run on the same machine, so the
 * ratios (tcpka / reference) mean something anywhere. Progress goes to stderr, the table to stdout.
 *
 * (a) N concurrent keep-alive connections, tcpka client → tcpka server, against a Go client → Go
 *     server that the bench writes and builds in a temp dir (Debian: apt-get install golang-go):
 *     time to open all, memory per connection each side, CPU, accept-queue overflows. Then, to
 *     show where the gaps come from: each tcpka role against the Go one, bare Deno (no tcpka code)
 *     as the floor, and tcpka with V8's young generation capped.
 * (b) the cost of applying keep-alive settings to connection #1 and #N, and of all of them.
 * (c) `capture --read` (or, until that command exists, the same decoder and flow tracker driven
 *     here) on generated pcaps against `tcpdump -r FILE -nn > /dev/null`, and its peak memory.
 *
 * Memory is read from outside, /proc/PID/status of the children (VmRSS, VmHWM): the bench runs
 * with --allow-all, the tool under test with its own permission set (`deno run -P`). Children get
 * `ulimit -n 20000`.
 *
 * Flags: --runs N (connection runs to take medians of; default 3), --connections 1000,10000,
 * --packets 250000,1000000, --quick (1,000 connections, 50,000/200,000 packets), --keep (keep the
 * temp dir).
 */
import { KeepAliveController, type KeepAliveRequest } from "../lib/keepalive/mod.ts";
import { PcapDecoder } from "../lib/pcap/decoder.ts";
import { FlowTracker } from "../lib/flow/tracker.ts";
import { PosixSockets } from "../lib/socket/posix.ts";
import { PLATFORMS } from "../lib/socket/platform.ts";
import { writeGeneratedPcap } from "./gen_pcap.ts";
import { V8_FLAGS } from "../lib/process/runtime_flags.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const SELF = new URL(import.meta.url).pathname;
/** What the children may open: 10,000 connections plus their runtime's own descriptors. */
let NOFILE = 20_000;
/** Keep-alive on every connection, long enough that no probe is sent during a run. */
const KA = { idleS: 60, intervalS: 10, count: 3 };
const SETTLE_MS = 1_000;

const log = (text: string) => console.error(`bench: ${text}`);

// ---------------------------------------------------------------------------------------------
// /proc readers (the bench's --allow-all is what allows them; the tool never reads /proc)

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null; // exited
  }
}

const CLK_TCK = 100; // USER_HZ is 100 on every Linux ABI the bench runs on

/** User + system CPU of a process (all threads), in ms. */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces; fields after it are counted from the ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLK_TCK;
}

/** TcpExt counters from /proc/net/netstat (what `nstat` reads). */
function tcpExt(): Record<string, number> {
  const lines = Deno.readTextFileSync("/proc/net/netstat").split("\n");
  const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
  const names = lines[i].split(/\s+/).slice(1);
  const values = lines[i + 1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, j) => [n, values[j]]));
}

// ---------------------------------------------------------------------------------------------
// Child processes

/**
 * A child whose stdout goes to a file rather than a pipe: a pipe the bench drains too slowly would
 * block the tool's synchronous writes and slow it down, and parsing 20,000 events as they arrive
 * would compete with it for the CPU. The file is read incrementally while polling instead.
 */
class Child {
  static #count = 0;
  readonly process: Deno.ChildProcess;
  readonly outPath: string;
  readonly done: Promise<Deno.CommandStatus>;
  stderr = "";
  #offset = 0;
  #partial = "";

  /** Runs `argv` under `ulimit -n NOFILE` (bash execs it, so the pid is the program's own). */
  constructor(dir: string, argv: string[]) {
    this.outPath = `${dir}/out-${++Child.#count}.txt`;
    this.process = new Deno.Command("bash", {
      args: ["-c", `ulimit -n ${NOFILE} && exec "$@" > "$OUT"`, "bash", ...argv],
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The reference: a Go server and client doing the same job (keep-alive idle/interval/count set
// with setsockopt on every connection, a 512-byte read pending on each, the server echoing).

const GO_SERVER = `package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

func keepalive(c *net.TCPConn, idle, intvl, cnt int) {
	raw, _ := c.SyscallConn()
	raw.Control(func(fd uintptr) {
		s := int(fd)
		syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, idle)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, intvl)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, 6 /* TCP_KEEPCNT */, cnt)
	})
}

func main() {
	idle, _ := strconv.Atoi(os.Args[1])
	intvl, _ := strconv.Atoi(os.Args[2])
	cnt, _ := strconv.Atoi(os.Args[3])
	expect, _ := strconv.Atoi(os.Args[4])
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening %d\\n", l.Addr().(*net.TCPAddr).Port)
	for accepted := 0; ; {
		c, err := l.AcceptTCP()
		if err != nil {
			continue
		}
		keepalive(c, idle, intvl, cnt)
		if accepted++; accepted == expect {
			fmt.Printf("accepted %d\\n", accepted)
		}
		go func() {
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if err != nil {
					c.Close()
					return
				}
				c.Write(buf[:n])
			}
		}()
	}
}
`;

const GO_CLIENT = `package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	idle, _ := strconv.Atoi(os.Args[3])
	intvl, _ := strconv.Atoi(os.Args[4])
	cnt, _ := strconv.Atoi(os.Args[5])
	var opened sync.WaitGroup
	opened.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			raw, _ := c.(*net.TCPConn).SyscallConn()
			raw.Control(func(fd uintptr) {
				s := int(fd)
				syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, idle)
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, intvl)
				syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, 6 /* TCP_KEEPCNT */, cnt)
			})
			// A fresh goroutine for the read: the dialing one has grown its stack, and keeping it
			// would cost ~4 KB more per connection (measured). The reference is Go at its leanest.
			go func() {
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						c.Close()
						return
					}
				}
			}()
			opened.Done()
		}()
	}
	opened.Wait()
	fmt.Printf("opened %d %d\\n", n, time.Since(start).Microseconds())
	select {}
}
`;

interface GoReference {
  server: string;
  client: string;
  version: string;
}

async function buildGo(dir: string): Promise<GoReference | null> {
  let version: string;
  try {
    const out = await new Deno.Command("go", { args: ["version"], stdout: "piped" }).output();
    version = new TextDecoder().decode(out.stdout).trim();
  } catch {
    return null;
  }
  log(`building the Go reference (${version})`);
  for (const [name, source] of [["server", GO_SERVER], ["client", GO_CLIENT]]) {
    Deno.mkdirSync(`${dir}/${name}`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/${name}/main.go`, source);
    Deno.writeTextFileSync(`${dir}/${name}/go.mod`, `module ${name}\n\ngo 1.19\n`);
    const out = await new Deno.Command("go", {
      args: ["build", "-o", `${dir}/go-${name}`, "."],
      cwd: `${dir}/${name}`,
      env: { GOCACHE: `${Deno.env.get("HOME") ?? dir}/.cache/go-build`, GOFLAGS: "-mod=mod" },
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`go build failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { server: `${dir}/go-server`, client: `${dir}/go-client`, version };
}

// ---------------------------------------------------------------------------------------------
// (a) N connections

interface Lookup {
  micros: number;
  probes: number;
}

interface Opened {
  /** From the client starting to connect to the last connection having keep-alive set. */
  openMs: number;
  /** tcpka only: descriptor lookup of the first and last connection set up. */
  lookups?: { first: Lookup; last: Lookup };
}

/** One implementation of the two roles, as the bench drives it. */
interface Impl {
  name: string;
  /** Starts a server expecting `n` connections; resolves with its port once it listens. */
  server(dir: string, n: number): Promise<{ child: Child; port: number }>;
  /** Resolves once the server has accepted `n` connections (and set keep-alive on them). */
  accepted(server: Child, n: number): Promise<void>;
  client(dir: string, port: number, n: number): Child;
  opened(client: Child, n: number): Promise<Opened>;
}

const KA_FLAGS = [
  "--idle",
  `${KA.idleS}s`,
  "--interval",
  `${KA.intervalS}s`,
  "--count",
  String(KA.count),
];
/** tcpka as users run it (`deno run -P` with its V8 flags); other flags for diagnostic runs. */
const tcpkaArgv = (args: string[], denoFlags: readonly string[] = V8_FLAGS) => [
  Deno.execPath(),
  "run",
  "-q",
  "-P",
  ...denoFlags,
  MAIN,
  ...args,
];
const isKeepAlive = (line: string) => line.includes(`"type":"keepalive"`);

/** Polls until `n` keep-alive events have been written; returns the first and the last. */
async function keepAliveEvents(child: Child, n: number, what: string) {
  let count = 0;
  let first: string | null = null;
  let last: string | null = null;
  let connecting: string | null = null;
  const end = performance.now() + 120_000;
  while (count < n) {
    for (const line of child.newLines()) {
      if (isKeepAlive(line)) {
        count++;
        first ??= line;
        last = line;
      } else if (connecting === null && line.includes(`"type":"connecting"`)) connecting = line;
    }
    if (count >= n) break;
    if (performance.now() > end) throw new Error(`timed out: ${what} (${count}/${n})`);
    await sleep(50);
  }
  return { first: JSON.parse(first!), last: JSON.parse(last!), connecting };
}

const tcpkaImpl = (denoFlags: readonly string[] = V8_FLAGS): Impl => ({
  name: "tcpka",
  async server(dir) {
    const child = new Child(
      dir,
      tcpkaArgv(["server", "--json", "--port", "0", "--hold", "0", ...KA_FLAGS], denoFlags),
    );
    const line = await child.waitForLine((l) => l.includes(`"type":"listening"`));
    return { child, port: JSON.parse(line).port };
  },
  async accepted(server, n) {
    await keepAliveEvents(server, n, "tcpka server accepting");
  },
  client(dir, port, n) {
    return new Child(
      dir,
      tcpkaArgv([
        "client",
        "--json",
        "--port",
        String(port),
        "--connections",
        String(n),
        "--hold",
        "0",
        ...KA_FLAGS,
      ], denoFlags),
    );
  },
  async opened(client, n) {
    const { first, last, connecting } = await keepAliveEvents(client, n, "tcpka client opening");
    const lookup = (e: { report: { lookup?: { micros: number; checks: number } } }) => ({
      micros: e.report.lookup?.micros ?? NaN,
      probes: e.report.lookup?.checks ?? NaN,
    });
    return {
      openMs: last.time - JSON.parse(connecting!).time,
      lookups: { first: lookup(first), last: lookup(last) },
    };
  },
});
const TCPKA = tcpkaImpl();

/**
 * A pair of programs that print "listening PORT", "accepted N" once the server has N connections,
 * and "opened N MICROS" once the client has opened N: the Go reference and bare Deno.
 */
function lineImpl(
  name: string,
  serverArgv: (n: number) => string[],
  clientArgv: (port: number, n: number) => string[],
): Impl {
  return {
    name,
    async server(dir, n) {
      const child = new Child(dir, serverArgv(n));
      const line = await child.waitForLine((l) => l.startsWith("listening "));
      return { child, port: Number(line.split(" ")[1]) };
    },
    async accepted(server) {
      await server.waitForLine((l) => l.startsWith("accepted "), 120_000);
    },
    client: (dir, port, n) => new Child(dir, clientArgv(port, n)),
    async opened(client) {
      const line = await client.waitForLine((l) => l.startsWith("opened "), 120_000);
      return { openMs: Number(line.split(" ")[2]) / 1000 };
    },
  };
}

const kaArgs = () => [String(KA.idleS), String(KA.intervalS), String(KA.count)];

function goImpl(go: GoReference): Impl {
  return lineImpl(
    "Go",
    (n) => [go.server, ...kaArgs(), String(n)],
    (port, n) => [go.client, `127.0.0.1:${port}`, String(n), ...kaArgs()],
  );
}

/**
 * Deno with none of tcpka's code: Deno.listen/connect, setKeepAlive(true) (Deno's on/off switch)
 * and a 1-byte read pending on each connection, as in the issue. The floor under tcpka's numbers:
 * what Deno itself costs per connection. Its listener gets the raised backlog too, or a burst
 * would lose connections (see lib/roles/backlog.ts).
 */
function bareDeno(read = true): Impl {
  const deno = [Deno.execPath(), "run", "-q", "--allow-net", "--allow-ffi", SELF];
  const mode = read ? "read" : "idle";
  return lineImpl(
    "bare Deno",
    (n) => [...deno, "--bare-server", `${n}`, mode],
    (port, n) => [...deno, "--bare-client", `${port}`, `${n}`, mode],
  );
}

function holdBare(conn: Deno.TcpConn, read: boolean): void {
  conn.setKeepAlive(true);
  if (!read) return void held.push(conn); // the connection object alone: Deno's floor
  const buf = new Uint8Array(1);
  (async () => {
    try {
      while (await conn.read(buf) !== null) { /* idle */ }
    } catch { /* reset */ }
    conn.close();
  })();
}

const held: Deno.TcpConn[] = [];

async function bareServer(n: number, read: boolean): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  new PosixSockets(PLATFORMS.linux).raiseBacklog(listener, 65535);
  console.log(`listening ${listener.addr.port}`);
  for (let accepted = 1;; accepted++) {
    holdBare(await listener.accept(), read);
    if (accepted === n) console.log(`accepted ${n}`);
  }
}

async function bareClient(port: number, n: number, read: boolean): Promise<void> {
  const started = performance.now();
  await Promise.all(Array.from({ length: n }, async () => {
    holdBare(await Deno.connect({ hostname: "127.0.0.1", port }), read);
  }));
  console.log(`opened ${n} ${Math.round((performance.now() - started) * 1000)}`);
  setInterval(() => {}, 1 << 30); // hold until killed, even with nothing pending
}

async function stop(...children: Child[]): Promise<void> {
  for (const c of children) {
    c.kill("SIGKILL");
    await c.done;
  }
}

interface Footprint {
  rss: number;
  cpuMs: number;
}

/** A client holding one connection: the baseline its per-connection cost is measured above. */
async function clientBaseline(dir: string, impl: Impl): Promise<Footprint> {
  const { child: server, port } = await impl.server(dir, 1);
  const client = impl.client(dir, port, 1);
  await impl.opened(client, 1);
  await sleep(SETTLE_MS);
  const result = { rss: procStatus(client.pid, "VmRSS")!, cpuMs: cpuMs(client.pid) };
  await stop(client, server);
  return result;
}

interface ConnRun extends Opened {
  serverBytesPerConn: number;
  clientBytesPerConn: number;
  serverCpuMs: number;
  clientCpuMs: number;
  overflows: number;
}

/** `n` connections from `clientImpl` to `serverImpl`, measured once all are open. */
async function connectionRun(
  dir: string,
  clientImpl: Impl,
  serverImpl: Impl,
  n: number,
  clientBase: Footprint,
): Promise<ConnRun> {
  // One connection first, so the server's baseline includes the code that serves connections.
  const { child: server, port } = await serverImpl.server(dir, n + 1);
  const warm = await Deno.connect({ hostname: "127.0.0.1", port });
  await sleep(SETTLE_MS / 2);
  const serverBase = { rss: procStatus(server.pid, "VmRSS")!, cpuMs: cpuMs(server.pid) };
  const overflows0 = tcpExt().ListenOverflows;

  const client = clientImpl.client(dir, port, n);
  const opened = await clientImpl.opened(client, n);
  await serverImpl.accepted(server, n + 1);
  const serverCpuMs = cpuMs(server.pid) - serverBase.cpuMs;
  const clientCpuMs = cpuMs(client.pid) - clientBase.cpuMs;
  const overflows = tcpExt().ListenOverflows - overflows0;
  await sleep(SETTLE_MS);
  const serverRss = procStatus(server.pid, "VmRSS")!;
  const clientRss = procStatus(client.pid, "VmRSS")!;
  warm.close();
  await stop(client, server);
  return {
    ...opened,
    serverBytesPerConn: (serverRss - serverBase.rss) / n,
    clientBytesPerConn: (clientRss - clientBase.rss) / n,
    serverCpuMs,
    clientCpuMs,
    overflows,
  };
}

// ---------------------------------------------------------------------------------------------
// (b) keep-alive settings, timed in a child that opens N connections to the Go server and applies
// them as the client does (descriptor lookup, setsockopt, getsockopt read-back) as each connect
// completes. One connection is set up first and not counted, so that #1 is not also the first
// call of the code (compilation, FFI warm-up): #1 and #N then differ only in what is open.

interface KaTiming {
  firstMicros: number;
  lastMicros: number;
  /** Medians of the first and the last 100, less noisy than single calls. */
  firstMedianMicros: number;
  lastMedianMicros: number;
  totalMs: number;
  probesFirst: number;
  probesLast: number;
}

async function keepAliveDriver(port: number, n: number): Promise<void> {
  const controller = await KeepAliveController.create();
  if (!controller.sockets) throw new Error(controller.fallbackReason ?? "no socket layer");
  const request: KeepAliveRequest = {
    enabled: true,
    idleMs: KA.idleS * 1000,
    intervalMs: KA.intervalS * 1000,
    count: KA.count,
  };
  const warm = await Deno.connect({ hostname: "127.0.0.1", port });
  controller.apply(warm, request);
  const micros: number[] = [];
  const probes: number[] = [];
  const conns = await Promise.all(Array.from({ length: n }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const t = performance.now();
    const report = controller.apply(conn, request);
    micros.push((performance.now() - t) * 1000);
    if (report.source !== "socket") throw new Error(`not applied: ${report.notes.join("; ")}`);
    probes.push(report.lookup?.checks ?? NaN);
    return conn;
  }));
  const timing: KaTiming = {
    firstMicros: micros[0],
    lastMicros: micros[n - 1],
    firstMedianMicros: median(micros.slice(0, 100)),
    lastMedianMicros: median(micros.slice(-100)),
    totalMs: micros.reduce((a, b) => a + b, 0) / 1000,
    probesFirst: probes[0],
    probesLast: probes[n - 1],
  };
  console.log(JSON.stringify(timing));
  for (const c of [warm, ...conns]) c.close();
}

async function keepAliveTiming(dir: string, go: GoReference, n: number): Promise<KaTiming> {
  const { child: server, port } = await goImpl(go).server(dir, n + 1);
  const driver = new Child(dir, [
    Deno.execPath(),
    "run",
    "-q",
    "--allow-net",
    "--allow-ffi",
    "--allow-run=sysctl",
    "--allow-read",
    SELF,
    "--keepalive-driver",
    String(port),
    String(n),
  ]);
  const line = await driver.waitForLine((l) => l.startsWith("{"), 120_000);
  await driver.done;
  await stop(server);
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------
// (c) reading a capture

/** `capture --read FILE` with its quietest flag, or null while the command does not exist. */
async function captureArgs(file: string): Promise<string[] | null> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P", MAIN, "capture", "--help"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  const help = new TextDecoder().decode(out.stdout);
  if (!out.success || !help.includes("--read")) return null;
  const quiet = ["--summary-only", "--quiet"].filter((f) => help.includes(f)).slice(0, 1);
  return tcpkaArgv(["capture", "--read", file, ...quiet]);
}

/**
 * The decoder and flow tracker streaming `path`, as `capture --read` does: the stand-in until that
 * command exists, and the diagnosis after (run with --expose-gc, it reports what stays live).
 */
async function decodeDriver(path: string): Promise<void> {
  const decoder = new PcapDecoder();
  const tracker = new FlowTracker();
  const file = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  let probes = 0;
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    for (const p of decoder.push(buf.subarray(0, n))) {
      if (tracker.track(p).label === "keepalive") probes++;
    }
  }
  decoder.end();
  file.close();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  console.log(JSON.stringify({
    packets: decoder.stats.tcp,
    flows: tracker.flows.length,
    probes,
    liveHeapBytes: gc ? Deno.memoryUsage().heapUsed : null,
  }));
}

interface ReadRun {
  ms: number;
  peakBytes: number;
  stdout: string;
}

/** Runs argv to completion, timing it and sampling its VmHWM (a high-water mark) until it exits. */
async function timedRun(argv: string[], keepStdout = false): Promise<ReadRun> {
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

interface CaptureResult {
  packets: number;
  bytes: number;
  tcpka: ReadRun;
  tcpdump: ReadRun | null;
  how: string;
  live: { flows: number; probes: number; liveHeapBytes: number | null };
}

async function captureRun(dir: string, packets: number, flows: number): Promise<CaptureResult> {
  const file = `${dir}/gen-${packets}.pcap`;
  log(`generating a ${packets.toLocaleString("en-US")}-packet pcap (${flows} flows)`);
  const gen = await writeGeneratedPcap(file, { packets, flows });
  const driverArgv = (flags: string[]) => [
    Deno.execPath(),
    "run",
    "-q",
    "--allow-read",
    ...flags,
    SELF,
    "--decode-driver",
    file,
  ];
  const capture = await captureArgs(file);
  const argv = capture ?? driverArgv([]);
  const runs = 3;
  log(`reading it: ${capture ? "tcpka capture --read" : "decoder + tracker driver"}, tcpdump -r`);
  const t: ReadRun[] = [];
  const d: ReadRun[] = [];
  let tcpdump = true;
  for (let r = 0; r < runs; r++) {
    t.push(await timedRun(argv));
    if (!tcpdump) continue;
    try {
      d.push(await timedRun(["tcpdump", "-r", file, "-nn"]));
    } catch (err) {
      log(`tcpdump: ${(err as Error).message.split("\n")[0]}`);
      tcpdump = false;
    }
  }
  const middle = (runs: ReadRun[]) => [...runs].sort((a, b) => a.ms - b.ms)[runs.length >> 1];
  const live = JSON.parse(
    (await timedRun(driverArgv(["--v8-flags=--expose-gc"]), true)).stdout,
  );
  return {
    packets,
    bytes: gen.bytes,
    tcpka: { ...middle(t), peakBytes: Math.max(...t.map((x) => x.peakBytes)) },
    tcpdump: d.length ? { ...middle(d), peakBytes: Math.max(...d.map((x) => x.peakBytes)) } : null,
    how: capture ? "capture --read" : "decoder + tracker (capture not built yet)",
    live,
  };
}

// ---------------------------------------------------------------------------------------------
// The table

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (v: number) =>
  v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
const us = (v: number) => `${v.toFixed(1)} µs`;
const x = (a: number, b: number) => b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
const count = (n: number) => n.toLocaleString("en-US");

interface Row {
  what: string;
  tcpka: string;
  reference: string;
  ratio: string;
  target: string;
}

const verdict = (ok: boolean) => ok ? "holds" : "MISSED";

function printTable(title: string, rows: Row[]): void {
  const head: Row = {
    what: "measure",
    tcpka: "tcpka",
    reference: "reference",
    ratio: "ratio",
    target: "target",
  };
  const keys = Object.keys(head) as (keyof Row)[];
  const width = (k: keyof Row) => Math.max(...[head, ...rows].map((r) => r[k].length), 3);
  const line = (r: Row) => `| ${keys.map((k) => r[k].padEnd(width(k))).join(" | ")} |`;
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(`| ${keys.map((k) => "-".repeat(width(k))).join(" | ")} |`);
  for (const r of rows) console.log(line(r));
}

// ---------------------------------------------------------------------------------------------

interface Options {
  sizes: number[];
  runs: number;
  pcapSizes: number[];
  keep: boolean;
}

function parseOptions(args: string[]): Options {
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const quick = args.includes("--quick");
  return {
    sizes: (value("--connections") ?? (quick ? "1000" : "1000,10000")).split(",").map(Number),
    runs: Number(value("--runs") ?? "3"),
    pcapSizes: (value("--packets") ?? (quick ? "50000,200000" : "250000,1000000"))
      .split(",").map(Number),
    keep: args.includes("--keep"),
  };
}

async function connectionRows(dir: string, go: GoReference, o: Options, rows: Row[]) {
  const goRef = goImpl(go);
  log("baselines: each client holding one connection");
  const baseTcpka = await clientBaseline(dir, TCPKA);
  const baseGo = await clientBaseline(dir, goRef);
  const notes = [
    `process baselines (RSS holding one connection): tcpka client ${mb(baseTcpka.rss)}, ` +
    `Go client ${mb(baseGo.rss)}`,
  ];
  for (const n of o.sizes) {
    const t: ConnRun[] = [];
    const g: ConnRun[] = [];
    for (let r = 1; r <= o.runs; r++) {
      log(`${count(n)} connections, Go → Go (run ${r}/${o.runs})`);
      g.push(await connectionRun(dir, goRef, goRef, n, baseGo));
      log(`${count(n)} connections, tcpka → tcpka (run ${r}/${o.runs})`);
      t.push(await connectionRun(dir, TCPKA, TCPKA, n, baseTcpka));
    }
    const m = (runs: ConnRun[], k: "openMs" | keyof Omit<ConnRun, keyof Opened>) =>
      median(runs.map((r) => r[k]));
    const at = `${count(n)} conns`;
    const open = [m(t, "openMs"), m(g, "openMs")];
    const server = [m(t, "serverBytesPerConn"), m(g, "serverBytesPerConn")];
    const client = [m(t, "clientBytesPerConn"), m(g, "clientBytesPerConn")];
    const overflows = Math.max(...t.map((r) => r.overflows));
    const big = n === Math.max(...o.sizes);
    rows.push(
      {
        what: `${at}: time to open all`,
        tcpka: ms(open[0]),
        reference: ms(open[1]),
        ratio: x(open[0], open[1]),
        target: big ? `≤ 1.0× ${verdict(open[0] <= open[1])}` : "",
      },
      {
        what: `${at}: accept-queue overflows`,
        tcpka: String(overflows),
        reference: String(Math.max(...g.map((r) => r.overflows))),
        ratio: "",
        target: `0 ${verdict(overflows === 0)}`,
      },
      {
        what: `${at}: server memory / conn`,
        tcpka: kb(server[0]),
        reference: kb(server[1]),
        ratio: x(server[0], server[1]),
        target: `≤ 1.0× ${verdict(server[0] <= server[1])}`,
      },
      {
        what: `${at}: client memory / conn`,
        tcpka: kb(client[0]),
        reference: kb(client[1]),
        ratio: x(client[0], client[1]),
        target: `≤ 1.5× ${verdict(client[0] <= 1.5 * client[1])}`,
      },
      {
        what: `${at}: server CPU, accepting all`,
        tcpka: ms(m(t, "serverCpuMs")),
        reference: ms(m(g, "serverCpuMs")),
        ratio: x(m(t, "serverCpuMs"), m(g, "serverCpuMs")),
        target: "",
      },
      {
        what: `${at}: client CPU, opening all`,
        tcpka: ms(m(t, "clientCpuMs")),
        reference: ms(m(g, "clientCpuMs")),
        ratio: x(m(t, "clientCpuMs"), m(g, "clientCpuMs")),
        target: "",
      },
    );
    const lk = t[t.length - 1].lookups!;
    rows.push({
      what: `${at}: client fd lookup, #1 / #${count(n)}`,
      tcpka: `${lk.first.micros} µs, ${lk.first.probes} probes / ${lk.last.micros} µs, ` +
        `${lk.last.probes} probes`,
      reference: "",
      ratio: "",
      target: "",
    });
    if (!big) continue;
    // Which side holds the open time back: each tcpka role against the Go one.
    log(`${count(n)} connections, tcpka client → Go server`);
    const tg = await connectionRun(dir, TCPKA, goRef, n, baseTcpka);
    log(`${count(n)} connections, Go client → tcpka server`);
    const gt = await connectionRun(dir, goRef, TCPKA, n, baseGo);
    rows.push(
      {
        what: `${at}: open, tcpka client → Go server`,
        tcpka: ms(tg.openMs),
        reference: ms(open[1]),
        ratio: x(tg.openMs, open[1]),
        target: "",
      },
      {
        what: `${at}: open, Go client → tcpka server`,
        tcpka: `${ms(gt.openMs)}, ${gt.overflows} overflows`,
        reference: ms(open[1]),
        ratio: x(gt.openMs, open[1]),
        target: "",
      },
    );
    // The floor: Deno's own cost per connection, with none of tcpka's code.
    log(`${count(n)} connections, bare Deno → bare Deno`);
    const bareImpl = bareDeno();
    const baseBare = await clientBaseline(dir, bareImpl);
    const bare = await connectionRun(dir, bareImpl, bareImpl, n, baseBare);
    log(`${count(n)} connections, bare Deno → bare Deno, nothing pending`);
    const idleImpl = bareDeno(false);
    const idle = await connectionRun(
      dir,
      idleImpl,
      idleImpl,
      n,
      await clientBaseline(dir, idleImpl),
    );
    // How much of tcpka's memory is V8 growing its young generation during the burst.
    log(`${count(n)} connections, tcpka → tcpka with V8's young generation capped at 1 MB`);
    const capped = tcpkaImpl(["--v8-flags=--max-semi-space-size=1"]);
    const cap = await connectionRun(dir, capped, capped, n, await clientBaseline(dir, capped));
    rows.push(
      {
        what: `${at}: floor: bare Deno, time to open`,
        tcpka: ms(bare.openMs),
        reference: ms(open[1]),
        ratio: x(bare.openMs, open[1]),
        target: "",
      },
      {
        what: `${at}: floor: bare Deno server mem / conn`,
        tcpka: kb(bare.serverBytesPerConn),
        reference: kb(server[1]),
        ratio: x(bare.serverBytesPerConn, server[1]),
        target: "",
      },
      {
        what: `${at}: floor: bare Deno client mem / conn`,
        tcpka: kb(bare.clientBytesPerConn),
        reference: kb(client[1]),
        ratio: x(bare.clientBytesPerConn, client[1]),
        target: "",
      },
      {
        what: `${at}: floor: Deno conn, nothing pending, server`,
        tcpka: kb(idle.serverBytesPerConn),
        reference: kb(server[1]),
        ratio: x(idle.serverBytesPerConn, server[1]),
        target: "",
      },
      {
        what: `${at}: why: tcpka, V8 young gen ≤ 1 MB, server`,
        tcpka: kb(cap.serverBytesPerConn),
        reference: kb(server[1]),
        ratio: x(cap.serverBytesPerConn, server[1]),
        target: "",
      },
      {
        what: `${at}: why: tcpka, V8 young gen ≤ 1 MB, client`,
        tcpka: kb(cap.clientBytesPerConn),
        reference: kb(client[1]),
        ratio: x(cap.clientBytesPerConn, client[1]),
        target: "",
      },
    );
    log(`keep-alive settings on ${count(n)} connections`);
    const ka = await keepAliveTiming(dir, go, n);
    rows.push(
      {
        what: `keep-alive settings, #${count(n)} vs #1`,
        tcpka: `#${count(n)}: ${us(ka.lastMicros)}, last 100 median ${us(ka.lastMedianMicros)}`,
        reference: `#1: ${us(ka.firstMicros)}, first 100 median ${us(ka.firstMedianMicros)}`,
        ratio: x(ka.lastMedianMicros, ka.firstMedianMicros),
        target: `≤ 2× ${verdict(ka.lastMedianMicros <= 2 * ka.firstMedianMicros)}`,
      },
      {
        what: `keep-alive settings, all ${count(n)} / open`,
        tcpka: ms(ka.totalMs),
        reference: `open ${ms(open[0])}`,
        ratio: `${(ka.totalMs / open[0] * 100).toFixed(1)}%`,
        target: `≤ 10% ${verdict(ka.totalMs <= 0.1 * open[0])}`,
      },
    );
  }
  return notes;
}

async function captureRows(dir: string, o: Options, rows: Row[]) {
  const notes: string[] = [];
  const results: CaptureResult[] = [];
  for (const packets of o.pcapSizes) results.push(await captureRun(dir, packets, 5_000));
  for (const r of results) {
    const label = `${r.how}, ${count(r.packets)} pkts (${mb(r.bytes)})`;
    rows.push({
      what: label,
      tcpka: ms(r.tcpka.ms),
      reference: r.tcpdump ? `tcpdump -r: ${ms(r.tcpdump.ms)}` : "tcpdump missing",
      ratio: r.tcpdump ? x(r.tcpka.ms, r.tcpdump.ms) : "",
      target: r.tcpdump ? `≤ 0.5× ${verdict(r.tcpka.ms <= 0.5 * r.tcpdump.ms)}` : "",
    });
    notes.push(
      `${count(r.packets)} packets: ${count(r.live.flows)} flows, ${
        count(r.live.probes)
      } probes; ` +
        `decoder + tracker live heap at the end ${
          r.live.liveHeapBytes === null ? "?" : mb(r.live.liveHeapBytes)
        }`,
    );
  }
  const [small, large] = [results[0], results[results.length - 1]];
  if (small !== large) {
    rows.push({
      what: `peak memory (VmHWM), ${count(small.packets)} → ${count(large.packets)} pkts`,
      tcpka: `${mb(small.tcpka.peakBytes)} → ${mb(large.tcpka.peakBytes)}`,
      reference: small.tcpdump && large.tcpdump
        ? `tcpdump: ${mb(small.tcpdump.peakBytes)} → ${mb(large.tcpdump.peakBytes)}`
        : "",
      ratio: x(large.tcpka.peakBytes, small.tcpka.peakBytes),
      target: `≤ 1.1× ${verdict(large.tcpka.peakBytes <= 1.1 * small.tcpka.peakBytes)}`,
    });
  }
  return notes;
}

async function main(args: string[]): Promise<void> {
  if (args[0] === "--keepalive-driver") {
    return await keepAliveDriver(Number(args[1]), Number(args[2]));
  }
  if (args[0] === "--decode-driver") return await decodeDriver(args[1]);
  if (args[0] === "--bare-server") return await bareServer(Number(args[1]), args[2] === "read");
  if (args[0] === "--bare-client") {
    return await bareClient(Number(args[1]), Number(args[2]), args[3] === "read");
  }
  const o = parseOptions(args);
  const hard = new TextDecoder().decode(
    (await new Deno.Command("bash", { args: ["-c", "ulimit -Hn"], stdout: "piped" }).output())
      .stdout,
  ).trim();
  if (hard !== "unlimited" && Number(hard) < NOFILE) {
    NOFILE = Number(hard);
    o.sizes = o.sizes.map((n) => Math.min(n, NOFILE - 200));
    log(`the descriptor limit is ${NOFILE}: at most ${NOFILE - 200} connections`);
  }
  const dir = Deno.makeTempDirSync({ prefix: "tcpka-bench-" });
  try {
    const rows: Row[] = [];
    const notes: string[] = [];
    const go = await buildGo(dir);
    if (go) notes.push(...await connectionRows(dir, go, o, rows));
    else {
      log("Go is not installed (Debian: apt-get install golang-go): no connection reference");
      notes.push("connection rows skipped: no Go toolchain for the reference");
    }
    notes.push(...await captureRows(dir, o, rows));
    const version = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).version;
    const cpu = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1];
    printTable(
      `tcpka ${version} (Deno ${Deno.version.deno}) vs ${go?.version ?? "no Go"} and tcpdump; ` +
        `${navigator.hardwareConcurrency} CPUs (${cpu ?? "?"}), Linux ${Deno.osRelease()}, ` +
        `loopback; medians of ${o.runs} runs`,
      rows,
    );
    console.log();
    for (const n of notes) console.log(`- ${n}`);
  } finally {
    if (o.keep) log(`kept ${dir}`);
    else Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
