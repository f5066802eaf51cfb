/** The demo and watch, end to end, as subprocesses with the baked permissions. */
import assert from "assert";
import { CliProcess, eventsOf, runCli, runCliAsNobody, startServer, which } from "./helpers/cli.ts";
import { namespacesOf } from "./helpers/netns.ts";

const linux = Deno.build.os === "linux";
const root = linux && Deno.uid() === 0;

type Values = Record<string, number | string | null>;

interface VerdictLine {
  type: "verdict";
  evidence: "capture" | "kernel";
  pass: boolean;
  checks: { check: string; configured: Values; observed: Values; pass: boolean }[];
}

function parseLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split("\n").map((l) => JSON.parse(l));
}

function verdictOf(stdout: string): VerdictLine {
  const v = parseLines(stdout).find((l) => l.type === "verdict");
  assert.ok(v, `no verdict in output:\n${stdout}`);
  return v as unknown as VerdictLine;
}

function assertAllAnswered(observed: Values, sent: number[]) {
  assert.ok(sent.includes(observed.sent as number), JSON.stringify(observed));
  assert.equal(observed.answered, observed.sent, JSON.stringify(observed));
}

function row(v: VerdictLine, check: string) {
  const r = v.checks.find((r) => r.check === check);
  assert.ok(r, `no check '${check}' in ${JSON.stringify(v.checks)}`);
  return r;
}

/** A PATH with every tool the demo may use except tcpdump. */
function pathWithoutTcpdump(): string {
  const dir = Deno.makeTempDirSync({ prefix: "tcpka-path-" });
  for (const tool of ["ss", "ip", "nft", "sysctl", "kill"]) {
    const found = which(tool);
    if (found) Deno.symlinkSync(found, `${dir}/${tool}`);
  }
  return dir;
}

Deno.test({
  name: "demo --period 1s --hold 4s: probes observed and a passing verdict",
  ignore: !linux,
  async fn() {
    const r = await runCli(["demo", "--json", "--port", "0", "--period", "1s", "--hold", "4s"], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const v = verdictOf(r.stdout);
    assert.equal(v.pass, true);
    assertAllAnswered(row(v, "probes answered").observed, [3, 4]);
    assert.equal(row(v, "how it ended").observed.close, "fin-by-client");
    const lines = parseLines(r.stdout);
    const probes = v.evidence === "kernel"
      ? lines.filter((l) => l.source === "kernel" && l.type === "probe")
      : lines.filter((l) => l.source === "wire" && l.label === "keepalive");
    assert.ok(probes.length >= 3, `only ${probes.length} probes in the timeline`);
  },
});

Deno.test({
  name: "demo without tcpdump on PATH falls back to the kernel's socket table and still passes",
  ignore: !linux || !which("ss"),
  async fn() {
    const path = pathWithoutTcpdump();
    try {
      const r = await runCli(
        ["demo", "--json", "--port", "0", "--period", "1s", "--hold", "4s"],
        { env: { PATH: path }, timeoutMs: 30_000 },
      );
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const v = verdictOf(r.stdout);
      assert.equal(v.evidence, "kernel");
      assert.equal(v.pass, true);
      assertAllAnswered(row(v, "probes answered").observed, [3, 4]);
      const notes = parseLines(r.stdout).filter((l) => l.type === "note").map((l) => l.text);
      assert.ok(notes.some((n) => /socket table/.test(String(n))), JSON.stringify(notes));
    } finally {
      Deno.removeSync(path, { recursive: true });
    }
  },
});

Deno.test({
  name: `demo --scenario dead-peer detects the vanished peer within [4s, 5.5s]${
    root ? "" : " (skipped: needs root for network namespaces)"
  }`,
  ignore: !root || !which("nft") || !which("ip"),
  async fn() {
    const r = await runCli(
      [
        "demo",
        "--scenario",
        "dead-peer",
        "--json",
        "--idle",
        "1s",
        "--interval",
        "1s",
        "--count",
        "3",
      ],
      { timeoutMs: 40_000 },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const v = verdictOf(r.stdout);
    assert.equal(v.pass, true);
    const ended = row(v, "how it ended").observed;
    assert.equal(ended.close, "timed-out");
    const at = ended.ms as number;
    assert.ok(at >= 4000 && at <= 5500, `detected at ${at}ms`);
    assert.deepEqual(row(v, "probes unanswered before giving up").observed, {
      unanswered: 3,
      sent: 3,
    });
    assert.deepEqual(row(v, "client's error").observed, { error: "ETIMEDOUT" });
    assert.deepEqual(await namespacesOf(r.pid!), [], "namespaces left behind");
  },
});

// One exit code for missing privilege everywhere (1, like every refusal by the world).
for (
  const args of [
    ["demo", "--scenario", "dead-peer"],
    ["demo", "--scenario", "firewall-idle"],
    ["capture", "--duration", "1s"],
  ]
) {
  Deno.test({
    name: `${args.join(" ")} without root: one line, exit 1${
      root ? "" : " (skipped: needs root to switch to a plain user)"
    }`,
    ignore: !root || !which("runuser"),
    async fn() {
      const r = await runCliAsNobody(args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trim(), /^tcpka: .*(needs root|sudo)/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    },
  });
}

Deno.test({
  name: `demo as a plain user (no capture possible) passes from the kernel's table${
    root ? "" : " (skipped: needs root to switch to a plain user)"
  }`,
  ignore: !root || !which("runuser"),
  async fn() {
    const r = await runCliAsNobody([
      "demo",
      "--json",
      "--port",
      "0",
      "--period",
      "1s",
      "--hold",
      "3s",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const v = verdictOf(r.stdout);
    assert.equal(v.evidence, "kernel");
    assert.equal(v.pass, true);
  },
});

Deno.test({
  name: "watch sees another process's keep-alive probes: the counter rises",
  ignore: !linux || !which("ss"),
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    const watch = new CliProcess(["watch", "--json", "--port", String(port), "--duration", "5s"]);
    // Its first look before the connection exists: watch says at once that it is watching, and
    // looks right after (a fixed sleep was timing luck on a loaded machine).
    await watch.waitFor((e) => (e.type as string) === "watching", 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const client = new CliProcess([
      "client",
      "--json",
      "--port",
      String(port),
      "--period",
      "1s",
      "--hold",
      "3500ms",
    ]);
    const clientDone = await client.done;
    const done = await watch.done;
    server.stop();
    await server.done;
    assert.equal(clientDone.code, 0);
    assert.equal(done.code, 0, done.stderr);
    const local = eventsOf(clientDone.events, "connected")[0].local;
    const probes =
      (done.events as unknown as { type: string; conn: string; seen: number; answered: boolean }[])
        .filter((o) => o.type === "probe" && o.conn.startsWith(local));
    assert.deepEqual(probes.map((p) => p.seen), [1, 2, 3]);
    assert.ok(probes.every((p) => p.answered));
  },
});
