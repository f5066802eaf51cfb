/**
 * `capture` against real traffic: tcpdump on loopback while our server and client run with a 1s
 * keep-alive period, then the same analysis offline on the pcap file tcpdump wrote.
 */
import assert from "assert";
import { CliProcess, runCli, runCliAsNobody, startServer } from "./helpers/cli.ts";
import { buildPcap, type CaptureRecord, ipTcp, linkFrame } from "../scripts/pcap_builder.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const tcpdump = await new Deno.Command("tcpdump", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);
const canCapture = root && tcpdump;
const skipWhy = !tcpdump
  ? " (skipped: tcpdump is not installed)"
  : !root
  ? " (skipped: needs root)"
  : "";

interface Spread {
  medianMs: number;
  minMs: number;
  maxMs: number;
}

interface Summary {
  type: "connection-summary";
  probingSides: string;
  probesSent: number;
  probesAnswered: number;
  probesUnanswered: number;
  probesBy: {
    client: { idleBeforeProbe: Spread | null; retryInterval: Spread | null } | null;
    server: unknown;
  };
  end: { kind: string; by: string | null; atMs: number | null };
}

function summariesOf(stdout: string): Summary[] {
  return stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((o) =>
    o.type === "connection-summary"
  );
}

function assertKeepAliveSummary(s: Summary) {
  assert.equal(s.probingSides, "client");
  assert.ok(s.probesSent >= 3, `${s.probesSent} probes`);
  assert.equal(s.probesAnswered, s.probesSent);
  assert.equal(s.probesUnanswered, 0);
  const i = s.probesBy.client!.idleBeforeProbe!;
  for (const ms of [i.minMs, i.maxMs, i.medianMs]) {
    assert.ok(Math.abs(ms - 1000) <= 250, `idle before a probe ${ms}ms is not 1s ± 0.25s`);
  }
  assert.equal(s.probesBy.client!.retryInterval, null, "every probe answered: nothing retried");
  assert.deepEqual([s.end.kind, s.end.by], ["fin", "client"]);
}

Deno.test({
  name: `live capture of a 1s keep-alive run, and --read of the file it wrote, agree${skipWhy}`,
  ignore: !canCapture,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-capture-" });
    const file = `${dir}/run.pcap`;
    try {
      const { server, port } = await startServer(["--hold", "0"]);
      const capture = new CliProcess([
        "capture",
        "--json",
        "--port",
        String(port),
        "--write",
        file,
      ]);
      await capture.waitFor((e) => (e as { type: string }).type === "capturing");
      const client = new CliProcess([
        "client",
        "--json",
        "--port",
        String(port),
        "--period",
        "1s",
        "--hold",
        "4s",
      ]);
      assert.equal((await client.done).code, 0);
      await new Promise((r) => setTimeout(r, 300));
      capture.stop("SIGINT");
      server.stop();
      const live = await capture.done;
      await server.done;
      assert.equal(live.code, 0, live.stderr);
      const liveSummaries = (live.events as unknown as Summary[]).filter((e) =>
        e.type === "connection-summary"
      );
      assert.equal(liveSummaries.length, 1);
      assertKeepAliveSummary(liveSummaries[0]);
      const labels = (live.events as unknown as { type: string; label: string }[])
        .filter((e) => e.type === "packet").map((e) => e.label);
      assert.deepEqual(labels.slice(0, 3), ["syn", "syn-ack", "handshake-ack"]);
      assert.ok(
        labels.includes("keepalive") && labels.includes("keepalive-ack") && labels.includes("fin"),
      );

      const offline = await runCli(["capture", "--read", file, "--json"]);
      assert.equal(offline.code, 0, offline.stderr);
      // As written (the JSON view), both ways.
      assert.deepEqual(summariesOf(offline.stdout), summariesOf(capture.lines.join("\n")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `the seed's exact filter works through --filter${skipWhy}`,
  ignore: !canCapture,
  async fn() {
    const r = await runCli([
      "capture",
      "--json",
      "--duration",
      "500ms",
      "--filter",
      "tcp and port 12345 and tcp[13] & 16 != 0 and tcp[12] & 15 = 0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"type":"capturing".*tcp\[13\] & 16 != 0/);
  },
});

const liveErrors: [string, string[], number, RegExp][] = [
  [
    "a bad filter gives tcpdump's message",
    ["--filter", "tcp prt 5"],
    2,
    /^tcpka: bad --filter: .*syntax error/,
  ],
  ["an unknown interface", ["-i", "nosuch0"], 2, /^tcpka: unknown interface 'nosuch0'/],
];
for (const [what, args, code, pattern] of liveErrors) {
  Deno.test({
    name: `capture: ${what}: one line, exit ${code}${skipWhy}`,
    ignore: !canCapture,
    async fn() {
      const r = await runCli(["capture", "--duration", "1s", ...args]);
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr.trim(), pattern);
    },
  });
}

Deno.test("capture without tcpdump on PATH says how to install it (exit 1)", async () => {
  const r = await runCli(["capture", "--duration", "1s"], { env: { PATH: "/nonexistent" } });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim(),
    /^tcpka: tcpdump is not installed; install it with 'sudo apt-get install tcpdump'/,
  );
});

Deno.test({
  name: `capture as a plain user says to use sudo or setcap (exit 1)${
    root ? "" : " (skipped: needs root to switch to a plain user)"
  }`,
  ignore: !canCapture,
  async fn() {
    const out = await runCliAsNobody(["capture", "--duration", "1s"]);
    const stderr = out.stderr.trim();
    assert.equal(out.code, 1, stderr);
    assert.match(
      stderr,
      /^tcpka: capturing needs root: run with sudo, or .*setcap cap_net_raw,cap_net_admin/,
    );
  },
});

Deno.test("--read: missing, corrupt and truncated files fail in one line after what decoded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await runCli(["capture", "--read", `${dir}/nope.pcap`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tcpka: cannot read .*nope\.pcap: no such file\n$/);

    await Deno.writeTextFile(`${dir}/junk.pcap`, "definitely not a capture");
    const junk = await runCli(["capture", "--read", `${dir}/junk.pcap`]);
    assert.equal(junk.code, 1);
    assert.match(junk.stderr, /^tcpka: .*junk\.pcap: .*byte 0/);

    // A classic pcap header and one record whose header promises more bytes than the file has.
    const header = new Uint8Array(24);
    const v = new DataView(header.buffer);
    v.setUint32(0, 0xa1b2c3d4, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setUint32(16, 65535, true);
    v.setUint32(20, 1, true);
    const record = new Uint8Array(16 + 10);
    new DataView(record.buffer).setUint32(8, 60, true);
    new DataView(record.buffer).setUint32(12, 60, true);
    await Deno.writeFile(`${dir}/cut.pcap`, new Uint8Array([...header, ...record]));
    const cut = await runCli(["capture", "--read", `${dir}/cut.pcap`, "--json"]);
    assert.equal(cut.code, 1);
    assert.match(
      cut.stderr,
      /^tcpka: .*cut\.pcap: .*byte 24.*\(the 0 packets before it were analysed\)\n$/,
    );
    const end = cut.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((o) =>
      o.type === "end"
    );
    assert.equal(end.error.offset, 24);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("capture usage errors exit 2", async () => {
  for (
    const [args, pattern] of [
      [["--read", "x.pcap", "--filter", "tcp"], /--filter applies to live capture/],
      [["--raw", "--json"], /cannot be combined/],
      [["--count", "0"], /--count/],
      [["--filter", ""], /must not be empty/],
    ] as [string[], RegExp][]
  ) {
    const r = await runCli(["capture", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

Deno.test({
  name: `--raw passes tcpdump's own text through${skipWhy}`,
  ignore: !canCapture,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    try {
      const capture = runCli(["capture", "--raw", "--port", String(port), "--duration", "2s"]);
      await new Promise((r) => setTimeout(r, 700));
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      const r = await capture;
      assert.equal(r.code, 0, r.stderr);
      // tcpdump's format, not ours: "IP localhost.PORT > localhost.N: Flags [S], …"
      assert.match(r.stdout, new RegExp(`\\.${port}: Flags \\[S\\]`));
      assert.match(r.stderr, /listening on lo/);
    } finally {
      server.stop();
      await server.done;
    }
  },
});

/**
 * Three connections to 10.0.0.2:80: #1 (client port 40001) probes once and closes cleanly at 2 s;
 * #2 (40002) probes twice and is still open at the end; #3 (40003) is reset by the server at 2.6 s.
 */
function closingAlongTheWay(): Uint8Array {
  const t0 = 1_764_056_579_000_000;
  const records: CaptureRecord[] = [];
  const seg = (
    ms: number,
    port: number,
    fromClient: boolean,
    flags: string,
    rel: number,
    relAck = 1,
  ) => {
    const cIsn = port * 1000;
    const sIsn = port * 7000;
    records.push({
      tsMicros: t0 + Math.round(ms * 1000),
      data: linkFrame(
        1,
        ipTcp({
          src: fromClient ? "10.0.0.1" : "10.0.0.2",
          dst: fromClient ? "10.0.0.2" : "10.0.0.1",
          srcPort: fromClient ? port : 80,
          dstPort: fromClient ? 80 : port,
          seq: ((fromClient ? cIsn : sIsn) + rel) >>> 0,
          ack: flags === "S" ? 0 : ((fromClient ? sIsn : cIsn) + relAck) >>> 0,
          flags,
        }),
      ),
    });
  };
  const handshake = (ms: number, port: number) => {
    seg(ms, port, true, "S", 0, 0);
    seg(ms + 0.1, port, false, "S.", 0, 1);
    seg(ms + 0.2, port, true, ".", 1, 1);
  };
  handshake(0, 40001);
  handshake(500, 40002);
  seg(1000, 40001, true, ".", 0); // probe
  seg(1000.1, 40001, false, ".", 1);
  seg(1500, 40002, true, ".", 0); // probe
  seg(1500.1, 40002, false, ".", 1);
  seg(2000, 40001, true, "F.", 1);
  seg(2000.1, 40001, false, "F.", 1, 2);
  seg(2000.2, 40001, true, ".", 2, 2); // #1 is closed: its summary comes 2 s (capture time) on
  handshake(2500, 40003);
  seg(2600, 40003, false, "R", 1, 0);
  seg(3000, 40002, true, ".", 0); // #2 still probing
  seg(4500, 40002, true, ".", 0); // #1 has lingered long enough: its summary after this packet
  return buildPcap(records);
}

Deno.test("--read: a connection's summary comes when it closes, the open ones' at the end", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/closing.pcap`;
    await Deno.writeFile(file, closingAlongTheWay());
    const json = await runCli(["capture", "--read", file, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const sequence = lines.map((o) =>
      o.type === "packet" ? `${o.flow}` : `${o.type} ${o.flow ?? ""}`
    );
    assert.deepEqual(sequence, [
      ..."1112221122111".split(""),
      ..."333322".split(""),
      "connection-summary 1",
      "connection-summary 2",
      "connection-summary 3",
      "end ",
    ]);
    const summaries = lines.filter((o) => o.type === "connection-summary");
    assert.deepEqual(summaries.map((s) => [s.flow, s.end.kind, s.probesSent]), [
      [1, "fin", 1],
      [2, "open", 3],
      [3, "rst", 0],
    ]);
    assert.equal(lines.at(-1).connections, 3);

    const quiet = await runCli(["capture", "--read", file, "--quiet"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.deepEqual(
      quiet.stdout.split("\n").filter((l) => !l.startsWith("  ")).map((l) => l.split(":")[0]),
      ["", "Connection #1", "Connection #2", "Connection #3", ""],
    );

    const human = await runCli(["capture", "--read", file]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /#2 [^\n]+keep-alive probe[^\n]+\n\nConnection #1: /,
    );

    const port = await runCli(["capture", "--read", file, "--json", "--port", "40002"]);
    assert.equal(port.code, 0, port.stderr);
    const only = port.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(only.filter((o) => o.type === "connection-summary").map((s) => s.flow), [2]);
    assert.equal(only.at(-1).connections, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
