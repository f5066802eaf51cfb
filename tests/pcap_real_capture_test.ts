import assert from "assert";

import { decodePcapStream } from "./helpers/decode.ts";
import { type DecodedPacket, formatFlags } from "../lib/pcap/packet.ts";
import { FlowTracker } from "../lib/flow/tracker.ts";
import { summarizeFlows } from "../lib/flow/summary.ts";

// ---------------------------------------------------------------------------
// Real-world check against tcpdump itself

async function whyNoRealCapture(): Promise<string | null> {
  const missing: string[] = [];
  for (const name of ["run", "read", "write", "net"] as const) {
    if ((await Deno.permissions.query({ name })).state !== "granted") {
      missing.push(`--allow-${name}`);
    }
  }
  if (missing.length) return `needs ${missing.join(" ")}`;
  try {
    const out = await new Deno.Command("tcpdump", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!out.success) return "tcpdump --version failed";
  } catch {
    return "tcpdump is not installed";
  }
  const id = await new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" })
    .output()
    .catch(() => null);
  if (id === null || new TextDecoder().decode(id.stdout).trim() !== "0") {
    return "not running as root (tcpdump needs to open the lo interface)";
  }
  return null;
}

const realCaptureProblem = await whyNoRealCapture();
if (realCaptureProblem) console.warn(`real tcpdump capture test skipped: ${realCaptureProblem}`);

interface Sniffer {
  file: string;
  child: Deno.ChildProcess;
  stderr: Promise<string>;
}

async function startTcpdump(file: string, args: string[]): Promise<Sniffer> {
  const child = new Deno.Command("tcpdump", {
    args: [...args, "-w", file, "-U"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const stderr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("listening on")) ready();
    }
    ready();
    return text;
  })();
  const timeout = new Promise<"timeout">((r) => setTimeout(r, 10_000, "timeout"));
  const raced = await Promise.race([listening, timeout]);
  if (raced === "timeout" || !text.includes("listening on")) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`tcpdump did not start: ${await stderr}`);
  }
  return { file, child, stderr };
}

async function exchange(hostname: string, listener: Deno.TcpListener): Promise<void> {
  const server = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64);
    let got = 0;
    while (got < 5) got += (await conn.read(buf.subarray(got))) ?? 5;
    await conn.write(new TextEncoder().encode("world!"));
    while ((await conn.read(buf)) !== null) { /* until the client's FIN */ }
    conn.close();
  })();
  const client = await Deno.connect({ hostname, port: listener.addr.port });
  await client.write(new TextEncoder().encode("hello"));
  const buf = new Uint8Array(6);
  let got = 0;
  while (got < 6) got += (await client.read(buf.subarray(got))) ?? 6;
  client.close();
  await server;
}

interface DumpLine {
  ts: string;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  flags: string;
}

/** What tcpdump -r itself reports for each TCP packet of `file`. */
async function tcpdumpRead(file: string, nanos: boolean): Promise<DumpLine[]> {
  const args = ["-r", file, "-nn", "-tt", ...(nanos ? ["--nano"] : [])];
  const out = await new Deno.Command("tcpdump", { args, stdout: "piped", stderr: "null" }).output();
  assert.ok(out.success, "tcpdump -r failed");
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim());
  return lines.map((line) => {
    const m = line.match(
      /^(\d+\.\d+) .*?IP6? ([0-9a-f.:]+)\.(\d+) > ([0-9a-f.:]+)\.(\d+): Flags \[([^\]]+)\]/,
    );
    assert.ok(m, `unparsed tcpdump line: ${line}`);
    return { ts: m[1], src: m[2], srcPort: +m[3], dst: m[4], dstPort: +m[5], flags: m[6] };
  });
}

function asDumpLine(p: DecodedPacket, nanos: boolean): DumpLine {
  const sec = Math.floor(p.tsMicros / 1e6);
  const micros = String(p.tsMicros - sec * 1e6).padStart(6, "0");
  const frac = nanos ? micros + String(p.tsSubMicroNanos).padStart(3, "0") : micros;
  return {
    ts: `${sec}.${frac}`,
    src: p.src,
    srcPort: p.srcPort,
    dst: p.dst,
    dstPort: p.dstPort,
    flags: formatFlags(p.flags),
  };
}

async function decodeFile(file: string): Promise<DecodedPacket[]> {
  const handle = await Deno.open(file);
  const got: DecodedPacket[] = [];
  for await (const p of decodePcapStream(handle.readable)) got.push(p);
  return got;
}

Deno.test({
  name: `real tcpdump captures of a loopback exchange decode like tcpdump -r reads them${
    realCaptureProblem ? ` (skipped: ${realCaptureProblem})` : ""
  }`,
  ignore: realCaptureProblem !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-capture-" });
    const v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let v6: Deno.TcpListener | null = null;
    try {
      v6 = Deno.listen({ hostname: "::1", port: 0 });
    } catch { /* no IPv6 loopback here: the IPv4 exchange still checks everything else */ }
    const ports = [v4.addr.port, ...(v6 ? [v6.addr.port] : [])];
    const filter = ports.map((p) => `tcp port ${p}`).join(" or ");
    const sniffers: Sniffer[] = [];
    try {
      // Ethernet framing with µs stamps on lo; Linux cooked v2 with ns stamps on "any".
      sniffers.push(await startTcpdump(`${dir}/lo.pcap`, ["-i", "lo", filter]));
      sniffers.push(
        await startTcpdump(`${dir}/any.pcap`, [
          "-i",
          "any",
          "--time-stamp-precision=nano",
          filter,
        ]),
      );
      await exchange("127.0.0.1", v4);
      if (v6) await exchange("::1", v6);

      // Wait for the teardown to reach the files: three FIN-or-final-ACK packets per flow.
      const expected = ports.length * 10; // 3 handshake + 2 data + 2 acks + 3 teardown
      for (let i = 0; i < 50; i++) {
        const counts = await Promise.all(
          sniffers.map(async (s) => (await decodeFile(s.file)).length),
        );
        if (counts.every((n) => n >= expected)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const s of sniffers) {
        s.child.kill("SIGINT");
        await s.child.status;
        await s.stderr;
      }
      v4.close();
      v6?.close();
    }

    for (
      const [s, nanos, linkType] of [[sniffers[0], false, 1], [sniffers[1], true, 276]] as const
    ) {
      const ours = await decodeFile(s.file);
      const theirs = await tcpdumpRead(s.file, nanos);
      assert.ok(ours.length >= ports.length * 10, `${s.file}: only ${ours.length} packets`);
      assert.equal(ours.length, theirs.length, `${s.file}: packet count`);
      assert.deepEqual(ours.map((p) => asDumpLine(p, nanos)), theirs, s.file);
      assert.ok(ours.every((p) => p.linkType === linkType), `${s.file}: link type`);
    }

    // The tracker on real traffic: handshake, one request/response, client-initiated close.
    const lo = await decodeFile(sniffers[0].file);
    const tracker = new FlowTracker();
    const labels = lo.map((p) => tracker.track(p));
    const summaries = summarizeFlows(tracker.flows);
    assert.equal(summaries.length, ports.length);
    for (const s of summaries) {
      assert.deepEqual([s.server.port, s.rolesFromHandshake], [ports[s.flowId], true]);
      assert.deepEqual([s.dataBytesC2S, s.dataBytesS2C], [5, 6]);
      assert.deepEqual(s.end.kind, "fin");
      assert.equal(s.end.by, "client");
      assert.equal(s.probesSent, 0);
      const flowLabels = labels.filter((l) => l.flowId === s.flowId).map((l) => l.label);
      assert.deepEqual(flowLabels.slice(0, 3), ["syn", "syn-ack", "handshake-ack"]);
      assert.ok(!flowLabels.includes("retransmission") && !flowLabels.includes("dup-ack"));
    }
    await Deno.remove(dir, { recursive: true });
  },
});
