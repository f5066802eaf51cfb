/**
 * Part "connections": N concurrent keep-alive connections, tcpka client → tcpka server, against
 * the lean Go reference (Go → Go) and bare Deno (bare → bare), the three interleaved run after
 * run: time to open all, memory per connection each side, CPU, accept-queue overflows. At the
 * largest N, single diagnostic runs show where the gaps come from: each tcpka role against the Go
 * one, and a Deno connection with nothing pending (the runtime's floor).
 */
import { Child, limits, sleep, stop } from "./child.ts";
import { cpuMs, procStatus, tcpExt } from "./proc.ts";
import { bareDenoImpl, goImpl, type Impl, type Opened, tcpkaImpl } from "./roles.ts";
import { count, kb, mb, median, ms } from "./stats.ts";
import { atMost, compare, info, type Row, type Target } from "./table.ts";
import type { Bench, Part, PartResult } from "./part.ts";

const SETTLE_MS = 1_000;

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

export interface ConnRun extends Opened {
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
  let client: Child | null = null;
  // A connection held by bash, from within the children's network namespace.
  const warm = new Child(dir, ["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}; exec sleep 600`]);
  try {
    await sleep(SETTLE_MS / 2);
    const serverBase = { rss: procStatus(server.pid, "VmRSS")!, cpuMs: cpuMs(server.pid) };
    const overflows0 = tcpExt(server.pid).ListenOverflows;

    client = clientImpl.client(dir, port, n);
    const opened = await clientImpl.opened(client, n);
    await serverImpl.accepted(server, n + 1);
    const serverCpuMs = cpuMs(server.pid) - serverBase.cpuMs;
    const clientCpuMs = cpuMs(client.pid) - clientBase.cpuMs;
    const overflows = tcpExt(server.pid).ListenOverflows - overflows0;
    await sleep(SETTLE_MS);
    const serverRss = procStatus(server.pid, "VmRSS")!;
    const clientRss = procStatus(client.pid, "VmRSS")!;
    return {
      ...opened,
      serverBytesPerConn: (serverRss - serverBase.rss) / n,
      clientBytesPerConn: (clientRss - clientBase.rss) / n,
      serverCpuMs,
      clientCpuMs,
      overflows,
    };
  } finally {
    await stop(...(client ? [client] : []), warm, server);
  }
}

/** A role pitted against itself (client and server of the same implementation), run after run. */
class Contender {
  readonly runs: ConnRun[] = [];
  #base: Footprint | null = null;
  constructor(readonly impl: Impl) {}

  async run(bench: Bench, n: number, label: string): Promise<void> {
    this.#base ??= await clientBaseline(bench.dir, this.impl);
    bench.log(`${count(n)} connections, ${this.impl.name} → ${this.impl.name} (${label})`);
    this.runs.push(await connectionRun(bench.dir, this.impl, this.impl, n, this.#base));
  }

  get baseline(): Footprint {
    return this.#base!;
  }

  values(k: keyof Omit<ConnRun, "lookups">): number[] {
    return this.runs.map((r) => r[k]);
  }
}

async function measureSize(bench: Bench, n: number, go: Impl, big: boolean): Promise<PartResult> {
  const runs = bench.options.runs;
  const [t, g, b] = [new Contender(tcpkaImpl()), new Contender(go), new Contender(bareDenoImpl())];
  for (let r = 1; r <= runs; r++) {
    for (const c of [g, t, b]) await c.run(bench, n, `run ${r}/${runs}`);
  }
  const at = `${count(n)} conns`;
  const vsGo = (
    what: string,
    k: keyof Omit<ConnRun, "lookups">,
    f: (v: number) => string,
    target?: Target,
  ) =>
    compare(`${at}: ${what}`, t.values(k), g.values(k), f, {
      referenceName: "Go",
      // The reference at its leanest, said where it matters: a 1-byte read per connection.
      referenceLabel: k.endsWith("BytesPerConn") ? "lean Go (1-byte read) " : "Go ",
      target,
    });
  const overflows = Math.max(...t.values("overflows"));
  const lk = t.runs[t.runs.length - 1].lookups!;
  const rows: Row[] = [
    vsGo("time to open all", "openMs", ms),
    compare(`${at}: time to open all, vs bare Deno`, t.values("openMs"), b.values("openMs"), ms, {
      referenceName: "bare Deno",
      referenceLabel: "bare Deno ",
      target: big ? atMost(1.1) : undefined,
    }),
    info(
      `${at}: accept-queue overflows`,
      String(overflows),
      `Go ${Math.max(...g.values("overflows"))}${limits.netns ? "" : " (host-wide counter)"}`,
      { target: `0 ${overflows === 0 ? "holds" : "MISSED"}` },
    ),
    vsGo("server memory / conn", "serverBytesPerConn", kb, big ? atMost(1.0) : undefined),
    vsGo("client memory / conn", "clientBytesPerConn", kb, big ? atMost(1.5) : undefined),
    vsGo("server CPU, accepting all", "serverCpuMs", ms),
    vsGo("client CPU, opening all", "clientCpuMs", ms),
    compare(
      `${at}: client CPU, opening all, vs bare Deno`,
      t.values("clientCpuMs"),
      b.values("clientCpuMs"),
      ms,
      {
        referenceName: "bare Deno",
        referenceLabel: "bare Deno ",
      },
    ),
    info(
      `${at}: client fd lookup, #1 / #${count(n)}`,
      `${lk.first.micros} µs, ${lk.first.checks} checks / ${lk.last.micros} µs, ` +
        `${lk.last.checks} checks`,
    ),
    compare(
      `${at}: floor: bare Deno server mem / conn`,
      b.values("serverBytesPerConn"),
      g.values("serverBytesPerConn"),
      kb,
      {
        referenceName: "Go",
        referenceLabel: "Go ",
      },
    ),
    compare(
      `${at}: floor: bare Deno client mem / conn`,
      b.values("clientBytesPerConn"),
      g.values("clientBytesPerConn"),
      kb,
      {
        referenceName: "Go",
        referenceLabel: "Go ",
      },
    ),
  ];
  if (!big) return { rows, notes: [] };
  rows.push(...await diagnose(bench, n, t, g));
  const notes = [
    `process baselines (RSS holding one connection): tcpka client ${mb(t.baseline.rss)}, ` +
    `Go client ${mb(g.baseline.rss)}, bare Deno client ${mb(b.baseline.rss)}`,
    `targets at ${count(n)} connections only: below that, RSS grows in steps (V8 pages, ` +
    "allocator arenas) too coarse to divide by the connections",
  ];
  return { rows, notes };
}

/** Single runs at the largest size: which side holds tcpka back, and the runtime's floor. */
async function diagnose(bench: Bench, n: number, t: Contender, g: Contender): Promise<Row[]> {
  const at = `${count(n)} conns`;
  const goOpen = median(g.values("openMs"));
  const goServer = g.values("serverBytesPerConn");
  const goClient = g.values("clientBytesPerConn");
  const one = (what: string, tcpka: number, ref: readonly number[], f: (v: number) => string) =>
    compare(`${at}: ${what}`, [tcpka], ref, f, { referenceName: "Go", referenceLabel: "Go " });
  bench.log(`${count(n)} connections, tcpka client → Go server`);
  const tg = await connectionRun(bench.dir, t.impl, g.impl, n, t.baseline);
  bench.log(`${count(n)} connections, Go client → tcpka server`);
  const gt = await connectionRun(bench.dir, g.impl, t.impl, n, g.baseline);
  const idle = new Contender(bareDenoImpl(false));
  await idle.run(bench, n, "1 run");
  const rows = [
    one("open, tcpka client → Go server", tg.openMs, g.values("openMs"), ms),
    info(
      `${at}: open, Go client → tcpka server`,
      `${ms(gt.openMs)}, ${gt.overflows} overflows`,
      `Go ${ms(goOpen)}`,
    ),
    one("floor: Deno conn, nothing pending, server", idle.runs[0].serverBytesPerConn, goServer, kb),
    one("floor: Deno conn, nothing pending, client", idle.runs[0].clientBytesPerConn, goClient, kb),
  ];
  if (bench.options.why) {
    // How much of tcpka's memory is V8 growing its young generation during the burst.
    const capped = new Contender(tcpkaImpl(["--v8-flags=--max-semi-space-size=1"]));
    await capped.run(bench, n, "V8 young generation ≤ 1 MB");
    rows.push(
      one(
        "why: tcpka, V8 young gen ≤ 1 MB, server",
        capped.runs[0].serverBytesPerConn,
        goServer,
        kb,
      ),
      one(
        "why: tcpka, V8 young gen ≤ 1 MB, client",
        capped.runs[0].clientBytesPerConn,
        goClient,
        kb,
      ),
    );
  }
  return rows;
}

export const connectionsPart: Part = {
  name: "connections",
  async run(bench) {
    const go = await bench.go();
    if (!go) {
      return { rows: [], notes: ["connection rows skipped: no Go toolchain for the reference"] };
    }
    const sizes = bench.options.connections;
    const result: PartResult = {
      rows: [],
      notes: [
        "Go reference (scripts/bench/go): one goroutine per connection with a 1-byte read " +
        "pending, keep-alive set with setsockopt; the server echoes, as tcpka's does",
        "Go and bare Deno start every connect at once; tcpka's client keeps at most 256 in " +
        "flight (lib/roles/connect_window.ts), widening the window whenever connects hang",
      ],
    };
    for (const n of sizes) {
      const r = await measureSize(bench, n, goImpl(go), n === Math.max(...sizes));
      result.rows.push(...r.rows);
      result.notes.push(...r.notes);
    }
    return result;
  },
};
