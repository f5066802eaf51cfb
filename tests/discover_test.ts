/**
 * `tcpka discover` end to end: against real paths that forget idle connections (network
 * namespaces made and removed by the tests, lib/netns/firewall_path.ts), against a server that
 * closes idle connections itself and one that never does (loopback), and its refusals. Ranges are
 * asserted, never speeds.
 */
import assert from "assert";
import type { EventOf, TcpkaEvent } from "../lib/events.ts";
import { eventFromJson } from "../lib/report/json_view.ts";
import { withServerBehindPath } from "../lib/demo/discover_path.ts";
import type { PathKind } from "../lib/netns/firewall_path.ts";
import { Topology } from "../lib/netns/topology.ts";
import {
  cliArgs,
  CliProcess,
  ROOT,
  runCli,
  runCliUntil,
  spawnCli,
  startServer,
  which,
} from "./helpers/cli.ts";
import { namespacesOf } from "./helpers/netns.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const skipWhy = root ? "" : " (skipped: needs root for network namespaces)";
const tcpdump = which("tcpdump") !== null;

type Result = EventOf<"result">;

function events(stdout: string): TcpkaEvent[] {
  // Read back from the JSON view (docs/json.md) into the events the code emits.
  return stdout.trim().split("\n").filter(Boolean).map((l) =>
    eventFromJson(JSON.parse(l)) as unknown as TcpkaEvent
  );
}

function resultOf(stdout: string, stderr: string): Result {
  const r = events(stdout).find((e): e is Result => e.type === "result");
  assert.ok(r, `no result event; stderr: ${stderr}\n${stdout.slice(-1500)}`);
  return r;
}

/** The range is as narrow as asked: high ≤ low × (1 + precision), or a few ticks wide. */
function assertPrecise(r: Result, precision: number): void {
  assert.ok(r.highMs !== null);
  assert.ok(
    r.highMs <= r.lowMs * (1 + precision) + 1 || r.highMs - r.lowMs <= 100,
    `range ${r.lowMs}–${r.highMs} wider than ${precision * 100}%`,
  );
}

/** Runs discover on the client's side of a path that forgets connections after `timeoutMs`. */
async function discoverThrough(
  kind: PathKind,
  timeoutMs: number,
  args: string[],
): Promise<{ result: Result; code: number; all: TcpkaEvent[] }> {
  return await withServerBehindPath(kind, timeoutMs, 12345, async (path) => {
    const child = spawnCli(
      ["discover", `${path.host}:${path.port}`, "--json", ...args],
      path.clientExec,
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const out = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout), stderr = dec.decode(out.stderr);
    return { result: resultOf(stdout, stderr), code: out.code, all: events(stdout) };
  });
}

const SMALL_LADDER = ["--min", "1s", "--max", "12s", "--connections", "10", "--precision", "10%"];

const paths: [string, PathKind, number, string][] = [
  [
    "stateful firewall dropping unknown packets (conntrack 4s)",
    "firewall-drop",
    4000,
    "silent-drop",
  ],
  ["stateful firewall answering unknown packets with RST (4s)", "firewall-reset", 4000, "reset"],
  ["NAT (masquerade) router with conntrack 3s", "nat", 3000, "silent-drop"],
];
for (const [name, kind, timeoutMs, edge] of paths) {
  Deno.test({
    name: `discover: ${name} → range contains it, edge ${edge}${skipWhy}`,
    ignore: !root,
    async fn() {
      const { result: r, code, all } = await discoverThrough(kind, timeoutMs, SMALL_LADDER);
      assert.equal(code, 0);
      assert.equal(r.edge, edge);
      assert.ok(
        r.lowMs <= timeoutMs && timeoutMs <= r.highMs!,
        `${timeoutMs}ms outside ${r.lowMs}–${r.highMs}`,
      );
      assertPrecise(r, 0.1);
      assert.equal(r.interrupted, false);
      // Never more than --connections at a time: every probe is one connection's one question.
      const probes = all.filter((e) => e.type === "probe");
      assert.equal(new Set(probes.map((p) => (p as EventOf<"probe">).id)).size, probes.length);
      assert.ok(r.recommendation, "a keep-alive recommendation");
      assert.ok(
        r.recommendation.idleMs <= r.lowMs / 2 && r.recommendation.intervalMs <= r.lowMs / 2,
      );
      if (edge === "reset") {
        // As root the RST's TTL is compared with the server's SYN-ACK: the router is 1 hop closer.
        assert.equal(r.rstSource, tcpdump ? "middlebox" : "unknown", r.rstHint ?? "");
      }
      // The namespaces were made by this process (their names carry its pid): all gone.
      assert.deepEqual(await namespacesOf(Deno.pid), []);
    },
  });
}

Deno.test("discover: a server closing idle connections after 5s is a server close at ~5s", async () => {
  const { server, port } = await startServer(["--hold", "5s"]);
  try {
    const r = await runCli(
      ["discover", `127.0.0.1:${port}`, "--json", "--no-capture", ...SMALL_LADDER],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = resultOf(r.stdout, r.stderr);
    assert.equal(result.edge, "server-close");
    assert.ok(result.lowMs >= 4500 && result.lowMs <= 5000, JSON.stringify(result));
    assert.ok(result.highMs! >= 5000 && result.highMs! <= 5600, JSON.stringify(result));
    assert.equal(result.recommendation, null); // keep-alive cannot help: the server decides
  } finally {
    server.stop();
    await server.done;
  }
});

Deno.test("discover: nothing closes → kept for at least --max", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  try {
    const r = await runCli(
      ["discover", `127.0.0.1:${port}`, "--json", "--no-capture", "--min", "1s", "--max", "3s"],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = resultOf(r.stdout, r.stderr);
    assert.equal(result.edge, "none");
    assert.equal(result.highMs, null);
    assert.ok(result.lowMs >= 2900, JSON.stringify(result)); // --max, less a kernel tick
    const outcomes = events(r.stdout).filter((e) => e.type === "probe")
      .map((e) => (e as EventOf<"probe">).outcome);
    assert.ok(outcomes.length > 0 && outcomes.every((o) => o === "answered"), String(outcomes));
    assert.equal(result.recommendation, null);
  } finally {
    server.stop();
    await server.done;
  }
});

Deno.test("discover: a server sending its own keep-alive probes is named (they refresh the path)", async () => {
  const { server, port } = await startServer(["--hold", "0", "--period", "1s"]);
  try {
    const r = await runCli(
      ["discover", `127.0.0.1:${port}`, "--json", "--no-capture", "--min", "2s", "--max", "3s"],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const warnings = events(r.stdout).filter((e) => e.type === "warning")
      .map((e) => (e as EventOf<"warning">).message);
    assert.ok(warnings.some((m) => /its own keep-alive probes/.test(m)), String(warnings));
  } finally {
    server.stop();
    await server.done;
  }
});

Deno.test("discover: Ctrl-C prints the range so far and exits 130", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  try {
    const d = new CliProcess(["discover", `127.0.0.1:${port}`, "--json", "--min", "1s"]);
    await d.waitFor((e) => e.type === "probe", 20_000);
    d.stop("SIGINT");
    const done = await d.done;
    assert.equal(done.code, 130, done.stderr);
    const result = done.events.find((e): e is Result => e.type === "result");
    assert.ok(result?.interrupted);
    assert.ok(result.lowMs >= 900, JSON.stringify(result));
    assert.equal(done.stderr.trim(), "");
  } finally {
    server.stop();
    await server.done;
  }
});

Deno.test("discover: refused is one line, exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const r = await runCli(["discover", `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing is listening on 127\.0\.0\.1:\d+ \(connection refused\)/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.equal(r.stdout, "");
});

Deno.test({
  name: `discover: an unreachable target is one line, exit 1${skipWhy}`,
  ignore: !root,
  async fn() {
    // A namespace with only loopback: no route anywhere, so nothing leaves it.
    const alone = await Topology.create(["alone"], []);
    try {
      const out = await new Deno.Command(alone.exec("alone")[0], {
        args: [
          ...alone.exec("alone").slice(1),
          Deno.execPath(),
          ...cliArgs(["discover", "10.73.9.9:443"]),
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.match(stderr, /^tcpka: 10\.73\.9\.9:443 is unreachable/);
      assert.equal(stderr.trim().split("\n").length, 1);
    } finally {
      await alone.remove();
    }
  },
});

const refusals: [string[], RegExp][] = [
  [[], /which server\? give HOST:PORT/],
  [["example"], /'example' is not HOST:PORT/],
  [["127.0.0.1:0"], /port 0 is not 1 to 65535/],
  [["127.0.0.1:1", "--host", "x"], /not both/],
  [["127.0.0.1:1", "--min", "500ms"], /--min 500ms is too short/],
  [["127.0.0.1:1", "--min", "10s", "--max", "5s"], /--max 5s must be longer than --min 10s/],
  [["127.0.0.1:1", "--max", "10h"], /at most 9h/],
  [["127.0.0.1:1", "--precision", "0"], /--precision "0" must be 1% to 100%/],
  [["127.0.0.1:1", "--connections", "0"], /--connections 0 is out of range \(1 to /],
  [["127.0.0.1:1", "--interval", "1500ms"], /--interval must be whole seconds/],
  [["127.0.0.1:1", "--bogus"], /unknown flag --bogus/],
];
for (const [args, pattern] of refusals) {
  Deno.test(`discover refuses ${args.join(" ") || "no target"} (exit 2, before connecting)`, async () => {
    // Port 1 on loopback: were a connection attempted, the error would be "refused" (exit 1).
    const r = await runCli(["discover", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
}

Deno.test("discover | head: the reader gone ends the run quietly (exit 0, no stack trace)", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  try {
    const r = await runCliUntil(
      ["discover", `127.0.0.1:${port}`, "--min", "1s", "--max", "30s", "--no-capture"],
      /discovering/,
      "close",
    );
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
  } finally {
    server.stop();
    await server.done;
  }
});
