/**
 * Bench part "inspect": `tcpka inspect` on a host with thousands of established connections,
 * against `ss -tnoiep` alone on the same host in the same run (inspect runs that ss itself, then
 * reads every socket through a copied descriptor). Wall time (medians of --runs, ss and inspect
 * interleaved) and peak memory (VmHWM via /usr/bin/time's maxrss) at each size, so the growth per
 * connection shows whether memory is bounded.
 *
 * The connections are tcpka's own: `tcpka server` and `tcpka client --connections N/2` on a free
 * loopback port, so N sockets (both ends) are established. Needs root (inspect reads other
 * processes' sockets) and /usr/bin/time (Debian: apt-get install time).
 *
 * Standalone: deno run -A scripts/bench/inspect.ts [--sockets 10000,20000] [--runs 5]
 * (scripts/bench.ts's parts are being split into scripts/bench/ on another branch; this module is
 * self-contained until that layout is on main, and exports inspectBench for it.)
 */
import { parseArgs } from "util";
import { V8_FLAGS } from "../../lib/process/runtime_flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TCPKA = [Deno.execPath(), "run", "-q", "-P", ...V8_FLAGS, "--no-prompt", `${ROOT}main.ts`];
const log = (text: string) => console.error(`bench inspect: ${text}`);

export interface InspectRow {
  sockets: number;
  ssMs: number;
  inspectMs: number;
  ssCpuMs: number;
  inspectCpuMs: number;
  inspectTextMs: number;
  ssPeakKb: number;
  inspectPeakKb: number;
  /** tcpka's runtime alone (`tcpka --version`). */
  floorPeakKb: number;
  /** Sockets of the bench's two processes that inspect read from the socket itself. */
  readFromSocket: number;
}

interface Timed {
  ms: number;
  /** User + system CPU, children (inspect's own ss) included: less sensitive to other load. */
  cpuMs: number;
  peakKb: number;
  stdout: string;
}

async function timed(argv: string[], keep = false): Promise<Timed> {
  const stats = await Deno.makeTempFile({ prefix: "tcpka-bench-time-" });
  try {
    const started = performance.now();
    const out = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%M %U %S", "-o", stats, ...argv],
      stdin: "null",
      stdout: keep ? "piped" : "null",
      stderr: "piped",
    }).output();
    const ms = performance.now() - started;
    if (!out.success) {
      throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    const [peakKb, user, sys] = (await Deno.readTextFile(stats)).trim().split("\n").at(-1)!
      .split(" ").map(Number);
    return {
      ms,
      cpuMs: (user + sys) * 1000,
      peakKb,
      stdout: keep ? new TextDecoder().decode(out.stdout) : "",
    };
  } finally {
    await Deno.remove(stats);
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function spawnHeld(argv: string[]): Deno.ChildProcess {
  return new Deno.Command("bash", {
    args: ["-c", `ulimit -n 20000 && exec "$@"`, "bash", ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function established(port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-tnH", "state", "established", `( sport = :${port} )`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).length;
}

async function stop(...children: Deno.ChildProcess[]): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
  }
  await Promise.all(children.map((c) => c.status));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function measureSize(sockets: number, runs: number): Promise<InspectRow> {
  const port = freePort();
  const server = spawnHeld([...TCPKA, "server", "--port", String(port), "--hold", "0"]);
  await new Promise((r) => setTimeout(r, 1500));
  const client = spawnHeld([
    ...TCPKA,
    "client",
    "--port",
    String(port),
    "--connections",
    String(sockets / 2),
    "--hold",
    "0",
    "--period",
    "60s",
  ]);
  try {
    const deadline = Date.now() + 120_000;
    while ((await established(port)) < sockets / 2) {
      if (Date.now() > deadline) throw new Error(`${sockets / 2} connections did not open`);
      await new Promise((r) => setTimeout(r, 500));
    }
    log(`${sockets} sockets established; ${runs} runs`);
    const ss: Timed[] = [], json: Timed[] = [], text: Timed[] = [];
    for (let r = 0; r < runs; r++) {
      ss.push(await timed(["ss", "-tnoiepH", "state", "established"]));
      json.push(await timed([...TCPKA, "inspect", "--json"]));
      text.push(await timed([...TCPKA, "inspect", "--path-timeout", "350s"]));
    }
    const check = await timed([...TCPKA, "inspect", "--json", "--port", String(port)], true);
    const report = JSON.parse(check.stdout) as {
      groups: { pid: number | null; connections: { keepalive: { source: string } }[] }[];
    };
    const ours = new Set([server.pid, client.pid]);
    const readFromSocket = report.groups.filter((g) => g.pid !== null && ours.has(g.pid))
      .flatMap((g) => g.connections).filter((c) => c.keepalive.source === "socket").length;
    const floor = await timed([...TCPKA, "--version"]);
    return {
      sockets,
      ssMs: median(ss.map((t) => t.ms)),
      inspectMs: median(json.map((t) => t.ms)),
      ssCpuMs: median(ss.map((t) => t.cpuMs)),
      inspectCpuMs: median(json.map((t) => t.cpuMs)),
      inspectTextMs: median(text.map((t) => t.ms)),
      ssPeakKb: median(ss.map((t) => t.peakKb)),
      inspectPeakKb: median(json.map((t) => t.peakKb)),
      floorPeakKb: floor.peakKb,
      readFromSocket,
    };
  } finally {
    await stop(client, server);
  }
}

export async function inspectBench(sizes: number[], runs: number): Promise<InspectRow[]> {
  if (Deno.uid() !== 0) throw new Error("needs root: inspect reads other processes' sockets");
  const rows: InspectRow[] = [];
  for (const n of sizes) rows.push(await measureSize(n, runs));
  return rows;
}

function formatTable(rows: InspectRow[]): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  const lines = [
    "| measure | tcpka inspect | ss -tnoiep alone | ratio | target |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const ratio = r.inspectMs / r.ssMs;
    lines.push(
      `| ${r.sockets.toLocaleString("en")} sockets: time, --json | ${s(r.inspectMs)} | ` +
        `${s(r.ssMs)} | ${ratio.toFixed(2)}× | ≤ 1.5× ${ratio <= 1.5 ? "holds" : "MISSED"} |`,
      `| ${r.sockets.toLocaleString("en")} sockets: CPU (user + sys, ss included), --json | ` +
        `${s(r.inspectCpuMs)} | ${s(r.ssCpuMs)} | ${(r.inspectCpuMs / r.ssCpuMs).toFixed(2)}× | |`,
      `| ${r.sockets.toLocaleString("en")} sockets: time, --path-timeout (text) | ` +
        `${s(r.inspectTextMs)} | ${s(r.ssMs)} | ${(r.inspectTextMs / r.ssMs).toFixed(2)}× | |`,
      `| ${r.sockets.toLocaleString("en")} sockets: peak memory | ${mb(r.inspectPeakKb)} | ` +
        `${mb(r.ssPeakKb)} | | |`,
    );
  }
  if (rows.length >= 2) {
    const [a, b] = [rows[0], rows.at(-1)!];
    const perSocket = (b.inspectPeakKb - a.inspectPeakKb) * 1024 / (b.sockets - a.sockets);
    lines.push(
      `| peak memory per socket (${a.sockets.toLocaleString("en")} → ` +
        `${b.sockets.toLocaleString("en")}) | ${(perSocket / 1024).toFixed(2)} KB | | | |`,
    );
  }
  lines.push(
    `| runtime floor (tcpka --version) | ${mb(rows[0].floorPeakKb)} | | | |`,
  );
  return lines;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { sockets: { type: "string" }, runs: { type: "string" } },
  });
  const sizes = (values.sockets ?? "10000,20000").split(",").map(Number);
  const rows = await inspectBench(sizes, Number(values.runs ?? 5));
  for (const r of rows) {
    log(`${r.sockets}: ${r.readFromSocket} of the bench's sockets read from the socket itself`);
  }
  console.log(formatTable(rows).join("\n"));
}
