import assert from "assert";
import { decodePcapBuffer } from "../lib/pcap/decoder.ts";
import type { DecodedPacket, TcpOptions } from "../lib/pcap/packet.ts";
import {
  type Flow,
  FlowTracker,
  type Label,
  type LabeledPacket,
  seqLt,
} from "../lib/flow/tracker.ts";
import { type FlowSummary, spread, summarizeFlow, summarizeFlows } from "../lib/flow/summary.ts";
import { RunningSpread, SAMPLE_SIZE } from "../lib/flow/stats.ts";
import { CaptureAnalyzer } from "../lib/capture/analyzer.ts";
import { buildPcap, ipTcp, linkFrame, parseFlags } from "./helpers/pcap_builder.ts";

const LINUX_SYN_OPTS: TcpOptions = {
  mss: 65495,
  sackPermitted: true,
  tsval: 1,
  tsecr: 0,
  wscale: 7,
};

function close(actual: number | null | undefined, expected: number, what: string) {
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-6,
    `${what}: ${actual} != ${expected}`,
  );
}

interface SegmentOpts {
  len?: number;
  window?: number;
  options?: TcpOptions;
}

/**
 * A scripted conversation: sequence numbers are given relative to each side's
 * ISN (as tcpdump and Wireshark show them) and times in ms from the start.
 */
class Conv {
  #index = 0;
  readonly tracker = new FlowTracker();
  readonly out: LabeledPacket[] = [];

  constructor(
    readonly client: [string, number],
    readonly server: [string, number],
    readonly cIsn: number,
    readonly sIsn: number,
    readonly t0Micros = 1_764_056_579_000_000,
  ) {}

  #packet(
    fromClient: boolean,
    atMs: number,
    flags: string,
    rel: number,
    relAck: number,
    o: SegmentOpts,
  ) {
    const [src, srcPort] = fromClient ? this.client : this.server;
    const [dst, dstPort] = fromClient ? this.server : this.client;
    const f = parseFlags(flags);
    const packet: DecodedPacket = {
      index: this.#index++,
      tsMicros: this.t0Micros + Math.round(atMs * 1000),
      tsSubMicroNanos: 0,
      linkType: 1,
      ipVersion: src.includes(":") ? 6 : 4,
      src,
      dst,
      srcPort,
      dstPort,
      ttl: 64,
      seq: ((fromClient ? this.cIsn : this.sIsn) + rel) >>> 0,
      ack: f & 0x10 ? ((fromClient ? this.sIsn : this.cIsn) + relAck) >>> 0 : 0,
      flags: f,
      window: o.window ?? (f & 0x02 ? 65495 : 512),
      tcpHeaderLength: 32,
      payloadLength: o.len ?? 0,
      options: o.options ?? (f & 0x02 ? LINUX_SYN_OPTS : {}),
      truncated: false,
      capturedLength: 66 + (o.len ?? 0),
      wireLength: 66 + (o.len ?? 0),
    };
    const labeled = this.tracker.track(packet);
    this.out.push(labeled);
    return labeled;
  }

  c(atMs: number, flags: string, rel: number, relAck: number, o: SegmentOpts = {}) {
    return this.#packet(true, atMs, flags, rel, relAck, o);
  }
  s(atMs: number, flags: string, rel: number, relAck: number, o: SegmentOpts = {}) {
    return this.#packet(false, atMs, flags, rel, relAck, o);
  }
  handshake(atMs = 0) {
    this.c(atMs, "S", 0, 0);
    this.s(atMs + 0.02, "S.", 0, 1);
    this.c(atMs + 0.04, ".", 1, 1);
  }
  labels(): Label[] {
    return this.out.map((l) => l.label);
  }
  summary() {
    assert.equal(this.tracker.flows.length, 1);
    return summarizeFlow(this.tracker.flows[0]);
  }
}

const CLIENT: [string, number] = ["192.168.1.10", 57006];
const SERVER: [string, number] = ["192.168.1.20", 12345];

Deno.test("the seed project's tcpdump trace: 4 answered probes 2 s apart, closed by the client", () => {
  // 127.0.0.1.57006 -> 127.0.0.1.12345, as captured on lo (Ethernet framing).
  const cIsn = 3661790706;
  const sIsn = 1096637414;
  const day = Date.UTC(2025, 10, 25) * 1000;
  const at = (h: number, m: number, s: number, us: number) =>
    day + ((h * 60 + m) * 60 + s) * 1_000_000 + us;
  const seg = (
    ts: number,
    fromClient: boolean,
    flags: string,
    relSeq: number,
    relAck: number,
    window = 512,
    options: TcpOptions = { tsval: ts % 1e9, tsecr: 7 },
  ) => ({
    tsMicros: ts,
    data: linkFrame(
      1,
      ipTcp({
        src: "127.0.0.1",
        dst: "127.0.0.1",
        srcPort: fromClient ? 57006 : 12345,
        dstPort: fromClient ? 12345 : 57006,
        seq: ((fromClient ? cIsn : sIsn) + relSeq) >>> 0,
        ack: flags.includes(".") ? ((fromClient ? sIsn : cIsn) + relAck) >>> 0 : 0,
        flags,
        window,
        options,
      }),
    ),
  });
  const probes = [[1, 120277, 120283], [3, 136301, 136309], [5, 152286, 152291], [
    7,
    168270,
    168279,
  ]];
  const records = [
    seg(at(7, 42, 59, 109160), true, "S", 0, 0, 65495, LINUX_SYN_OPTS),
    seg(at(7, 42, 59, 109181), false, "S.", 0, 1, 65483, LINUX_SYN_OPTS),
    seg(at(7, 42, 59, 109200), true, ".", 1, 1),
    ...probes.flatMap(([s, probe, reply]) => [
      seg(at(7, 43, s, probe), true, ".", 0, 1), // Linux: seq = snd_una - 1, no data
      seg(at(7, 43, s, reply), false, ".", 1, 1),
    ]),
    seg(at(7, 43, 9, 116306), true, "F.", 1, 1),
    seg(at(7, 43, 9, 116396), false, "F.", 1, 2),
    seg(at(7, 43, 9, 116440), true, ".", 2, 2),
  ];
  const decoded = decodePcapBuffer(buildPcap(records));
  assert.equal(decoded.error, null);
  const tracker = new FlowTracker();
  const out = decoded.packets.map((p) => tracker.track(p));

  assert.deepEqual(out.map((l) => l.label), [
    "syn",
    "syn-ack",
    "handshake-ack",
    ...Array<Label[]>(4).fill(["keepalive", "keepalive-ack"]).flat(),
    "fin",
    "fin",
    "ack",
  ]);
  assert.deepEqual(
    out.map((l) => l.direction).join(" "),
    "c2s s2c c2s c2s s2c c2s s2c c2s s2c c2s s2c c2s s2c c2s",
  );
  assert.ok(out.every((l) => l.flowId === 0));

  // Per-packet timing: idle before each probe counts from the handshake ACK.
  close(out[3].sinceFlowLastActivityMs, 2011.077, "idle before probe 1");
  assert.equal(out[3].sincePrevProbeMs, null);
  close(out[5].sinceFlowLastActivityMs, 4027.101, "idle before probe 2");
  close(out[5].sincePrevProbeMs, 2016.024, "probe 2 interval");
  close(out[4].deltaMs, 0.006, "probe ACK delay");
  assert.equal(out[4].sincePrevProbeMs, null, "only probes carry a probe interval");
  assert.equal(out[0].deltaMs, null);
  assert.equal(out[0].sinceFlowLastActivityMs, null);

  const [s] = summarizeFlows(tracker.flows);
  assert.deepEqual(s.client, { addr: "127.0.0.1", port: 57006 });
  assert.deepEqual(s.server, { addr: "127.0.0.1", port: 12345 });
  assert.equal(s.rolesFromHandshake, true);
  assert.equal(s.prober, "client");
  assert.deepEqual(
    [s.probesSent, s.probesAnswered, s.probesUnanswered, s.probesByClient, s.probesByServer],
    [4, 4, 0, 4, 0],
  );
  close(s.idleBeforeFirstProbeMs, 2011.077, "idle before first probe");
  assert.equal(s.probeInterval?.count, 3);
  close(s.probeInterval?.medianMs, 2015.985, "median probe interval");
  close(s.probeInterval?.minMs, 2015.984, "min probe interval");
  close(s.probeInterval?.maxMs, 2016.024, "max probe interval");
  assert.ok(s.probeInterval!.stdevMs < 0.05);
  close(s.probeAnswerDelay?.maxMs, 0.009, "slowest probe answer");
  assert.deepEqual(s.end.kind, "fin");
  assert.equal(s.end.by, "client");
  close(s.end.atMs, 10007.146, "FIN time");
  close(s.lifetimeMs, 10007.28, "lifetime");
  assert.deepEqual([s.packets, s.packetsC2S, s.packetsS2C], [14, 8, 6]);
  assert.deepEqual([s.dataBytesC2S, s.dataBytesS2C], [0, 0]);
  assert.equal(s.labels.keepalive, 4);
  assert.equal(s.labels["keepalive-ack"], 4);
  assert.equal(JSON.parse(JSON.stringify(s)).probesSent, 4, "summaries survive JSON");
});

Deno.test("Linux probe after data: seq = snd_una - 1, zero length, ACKed by the server", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(10, "P.", 1, 1, { len: 100 });
  c.s(10.1, ".", 1, 101);
  c.s(20, "P.", 1, 101, { len: 40 });
  c.c(20.1, ".", 101, 41);
  const probe = c.c(7_200_020.1, ".", 100, 41);
  const reply = c.s(7_200_020.2, ".", 41, 101);
  assert.deepEqual(c.labels().slice(3), [
    "data",
    "ack",
    "data",
    "ack",
    "keepalive",
    "keepalive-ack",
  ]);
  close(probe.sinceFlowLastActivityMs, 7_200_000, "idle before the probe");
  assert.equal(probe.bytes, 0);
  close(reply.sinceFlowLastActivityMs, 7_200_000.1, "keep-alive traffic is not activity");
  const s = c.summary();
  assert.deepEqual([s.dataBytesC2S, s.dataBytesS2C], [100, 40]);
  assert.deepEqual([s.probesSent, s.probesAnswered], [1, 1]);
  assert.equal(s.end.kind, "open");
});

Deno.test("Windows/BSD probe: one garbage byte at snd_una - 1 is a probe, not a retransmission", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(10, "P.", 1, 1, { len: 100 });
  c.s(10.1, ".", 1, 101);
  const probe = c.c(60_000, ".", 100, 1, { len: 1 });
  c.s(60_000.2, ".", 1, 101);
  const later = c.c(61_000, ".", 100, 1, { len: 1 });
  assert.deepEqual(c.labels().slice(3), ["data", "ack", "keepalive", "keepalive-ack", "keepalive"]);
  assert.equal(probe.bytes, 1);
  close(later.sincePrevProbeMs, 1000, "interval between the probes");
  const s = c.summary();
  assert.equal(s.dataBytesC2S, 100, "the probe's garbage byte is not data");
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered], [2, 1, 1]);
});

Deno.test("a probe is recognised from the sender's own sequence when the peer's ACK was missed", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(10, "P.", 1, 1, { len: 100 });
  // The server's ACK of those 100 bytes was not captured.
  c.c(60_000, ".", 100, 1);
  c.s(60_000.1, ".", 1, 101);
  // The reply acknowledges the data for the first time (Wireshark's keep-alive ACK
  // repeats the previous ACK), so it is a plain ACK, but it does answer the probe.
  assert.deepEqual(c.labels().slice(3), ["data", "keepalive", "ack"]);
  assert.deepEqual([c.summary().probesSent, c.summary().probesAnswered], [1, 1]);
});

Deno.test("duplicate ACK vs probe vs retransmission vs window update", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(1, "P.", 1, 1, { len: 100 }); // data
  c.c(2, "P.", 101, 1, { len: 100 }); // data
  c.s(3, ".", 1, 101); // ack
  c.s(4, ".", 1, 101); // dup-ack: same seq, ack and window
  c.s(5, ".", 1, 101, { window: 1024 }); // window-update: only the window moved
  c.c(6, "P.", 101, 1, { len: 100 }); // retransmission of the second segment
  c.s(7, ".", 1, 201, { window: 1024 }); // ack
  c.c(8, ".", 200, 1); // keepalive: one below next expected
  c.s(9, ".", 1, 201, { window: 1024 }); // keepalive-ack, not a dup-ack
  c.c(10, ".", 201, 1); // dup-ack from the client this time
  c.c(11, "P.", 150, 1, { len: 10 }); // retransmission overlapping old data
  c.c(12, ".", 201, 1, { window: 0 }); // zero window: not an "update"
  assert.deepEqual(c.labels().slice(3), [
    "data",
    "data",
    "ack",
    "dup-ack",
    "window-update",
    "retransmission",
    "ack",
    "keepalive",
    "keepalive-ack",
    "dup-ack",
    "retransmission",
    "ack",
  ]);
  assert.equal(c.summary().dataBytesC2S, 200, "retransmitted bytes are counted once");
});

Deno.test("FIN close by the client, a retransmitted FIN, and the summary's end", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(5, "P.", 1, 1, { len: 3 });
  c.c(1000, "F.", 4, 1);
  c.c(1200, "F.", 4, 1); // the FIN again
  c.s(1200.1, ".", 1, 5);
  c.s(1300, "F.", 1, 5);
  c.c(1300.1, ".", 5, 2);
  assert.deepEqual(c.labels().slice(3), ["data", "fin", "retransmission", "ack", "fin", "ack"]);
  const s = c.summary();
  assert.deepEqual(s.end, { kind: "fin", by: "client", atMs: 1000 });
  close(s.lifetimeMs, 1300.1, "lifetime");
  assert.equal(s.labels.fin, 2);
});

Deno.test("RST ends the flow; a probe answered only by RST stays unanswered", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(75_000, ".", 0, 1); // probe
  c.s(75_000.1, "R", 1, 0); // the server forgot the connection
  assert.deepEqual(c.labels().slice(3), ["keepalive", "rst"]);
  const s = c.summary();
  assert.deepEqual(s.end, { kind: "rst", by: "server", atMs: 75_000.1 });
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered], [1, 0, 1]);

  const f = new Conv(CLIENT, SERVER, 1000, 5000);
  f.handshake();
  f.c(10, "F.", 1, 1);
  f.s(11, "R.", 1, 2);
  assert.deepEqual(f.summary().end, { kind: "rst", by: "server", atMs: 11 }, "RST outranks FIN");
});

Deno.test("sequence numbers wrap around 2^32", () => {
  const c = new Conv(CLIENT, SERVER, 0xfffffff0, 0xffffffff);
  c.handshake(); // server's ISN + 1 wraps to 0 right away
  c.c(1, "P.", 1, 1, { len: 100 }); // crosses 2^32
  c.s(2, ".", 1, 101);
  const probe = c.c(3000, ".", 100, 1);
  assert.equal(probe.packet.seq, 0x54, "the probe's raw seq has wrapped");
  c.s(3000.1, ".", 1, 101);
  c.c(3001, "P.", 1, 1, { len: 100 }); // old data before the wrap: retransmission
  c.s(4000, ".", 0, 101); // server probe: seq 0xffffffff = next (0) - 1
  c.c(4000.1, ".", 101, 1);
  assert.deepEqual(c.labels().slice(3), [
    "data",
    "ack",
    "keepalive",
    "keepalive-ack",
    "retransmission",
    "keepalive",
    "keepalive-ack",
  ]);
  assert.equal(c.summary().prober, "both");
  assert.ok(seqLt(0xfffffff0, 5) && !seqLt(5, 0xfffffff0));
});

Deno.test("capture started on an idle connection: roles by first sender, probes from the peer's ACK", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  // Server-side keep-alive (the probing side speaks first here), every 75 s.
  c.s(0, ".", 0, 101); // probe, but nothing is known yet
  c.c(0.1, ".", 101, 1); // its ACK
  c.s(75_000, ".", 0, 101); // the client's ACK showed the server's snd_una
  c.c(75_000.1, ".", 101, 1);
  c.s(150_000, ".", 0, 101);
  c.c(150_000.1, ".", 101, 1);
  assert.deepEqual(c.labels(), [
    "ack",
    "ack",
    "keepalive",
    "keepalive-ack",
    "keepalive",
    "keepalive-ack",
  ]);
  const s = c.summary();
  assert.equal(s.rolesFromHandshake, false);
  assert.deepEqual(s.client, { addr: SERVER[0], port: SERVER[1] }, "client = first sender");
  assert.equal(s.prober, "client");
  assert.deepEqual([s.probesSent, s.probesAnswered], [2, 2]);
  close(s.probeInterval?.medianMs, 75_000, "probe interval");
});

Deno.test("a SYN-ACK seen first still makes its sender the server", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.s(0, "S.", 0, 1);
  c.c(0.1, ".", 1, 1);
  assert.deepEqual(c.labels(), ["syn-ack", "handshake-ack"]);
  const s = c.summary();
  assert.deepEqual(s.client, { addr: CLIENT[0], port: CLIENT[1] });
  assert.equal(s.rolesFromHandshake, true);
});

Deno.test("flows: ids by first appearance, direction-independent keys, port reuse, IPv6", () => {
  const tracker = new FlowTracker();
  const mk = (
    src: string,
    srcPort: number,
    dst: string,
    dstPort: number,
    flags: number,
    seq: number,
    i: number,
  ): DecodedPacket => ({
    index: i,
    tsMicros: 1e15 + i * 1000,
    tsSubMicroNanos: 0,
    linkType: 1,
    ipVersion: src.includes(":") ? 6 : 4,
    src,
    dst,
    srcPort,
    dstPort,
    ttl: 64,
    seq,
    ack: 1,
    flags,
    window: 100,
    tcpHeaderLength: 20,
    payloadLength: 0,
    options: {},
    truncated: false,
    capturedLength: 54,
    wireLength: 54,
  });
  const got = [
    mk("10.0.0.2", 80, "10.0.0.1", 4000, 0x10, 50, 0), // flow 0, first sender = 10.0.0.2
    mk("::1", 5000, "::1", 6000, 0x02, 7, 1), // flow 1
    mk("10.0.0.1", 4000, "10.0.0.2", 80, 0x10, 60, 2), // flow 0, reverse direction
    mk("::1", 6000, "::1", 5000, 0x12, 9, 3), // flow 1 SYN-ACK
    mk("::1", 5000, "::1", 6000, 0x02, 7, 4), // flow 1 SYN retransmitted
    mk("::1", 5000, "::1", 6000, 0x02, 99, 5), // new ISN on the same 4-tuple: flow 2
  ].map((p) => tracker.track(p));
  assert.deepEqual(got.map((l) => [l.flowId, l.direction, l.label]), [
    [0, "c2s", "ack"],
    [1, "c2s", "syn"],
    [0, "s2c", "ack"],
    [1, "s2c", "syn-ack"],
    [1, "c2s", "retransmission"],
    [2, "c2s", "syn"],
  ]);
  assert.equal(tracker.flows.length, 3);
  assert.deepEqual(tracker.flows[0].client, { addr: "10.0.0.2", port: 80 });
  assert.equal(tracker.flows[1].ipVersion, 6);
  assert.deepEqual(summarizeFlows(tracker.flows).map((s) => s.packets), [2, 3, 1]);
});

Deno.test("spread: median, quantiles and standard deviation", () => {
  assert.equal(spread([]), null);
  assert.deepEqual(spread([5]), {
    count: 1,
    minMs: 5,
    maxMs: 5,
    medianMs: 5,
    meanMs: 5,
    stdevMs: 0,
    p10Ms: 5,
    p90Ms: 5,
  });
  const s = spread([4, 1, 3, 2, 10])!;
  assert.deepEqual([s.count, s.minMs, s.maxMs, s.medianMs, s.meanMs], [5, 1, 10, 3, 4]);
  close(s.stdevMs, Math.sqrt(10), "stdev");
  close(s.p10Ms, 1.4, "p10");
  close(s.p90Ms, 7.6, "p90");
  assert.equal(spread([1, 2, 3, 4])!.medianMs, 2.5);
});

Deno.test("probes from both sides, unanswered probes, and a flow that stays open", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(2000, ".", 0, 1); // client probe, answered
  c.s(2000.1, ".", 1, 1);
  c.s(3000, ".", 0, 1); // server probe, answered
  c.c(3000.1, ".", 1, 1);
  c.c(4000, ".", 0, 1); // three unanswered client probes (peer gone)
  c.c(5000, ".", 0, 1);
  c.c(7000, ".", 0, 1);
  const s = c.summary();
  assert.equal(s.prober, "both");
  assert.deepEqual(
    [s.probesSent, s.probesByClient, s.probesByServer, s.probesAnswered, s.probesUnanswered],
    [5, 4, 1, 2, 3],
  );
  // Same-side intervals only: 2000, 1000, 2000 (the server probe does not split them).
  assert.deepEqual(
    s.probeInterval && [s.probeInterval.count, s.probeInterval.medianMs, s.probeInterval.minMs],
    [3, 2000, 1000],
  );
  assert.deepEqual(s.end, { kind: "open", by: null, atMs: null });
  close(s.idleBeforeFirstProbeMs, 1999.96, "idle before first probe");
});

// ---------------------------------------------------------------------------------------------
// Bounded memory: running statistics instead of probe lists, and ended connections forgotten.

/** A Conv whose tracker keeps no probe lists. */
class LeanConv extends Conv {
  override readonly tracker = new FlowTracker({ keepProbes: false });
}

/** A Conv whose tracker forgets ended connections, collecting them in `ended`. */
class ForgettingConv extends Conv {
  readonly ended: Flow[] = [];
  override readonly tracker = new FlowTracker({
    keepProbes: false,
    onEnded: (flow) => this.ended.push(flow),
  });
}

Deno.test("keepProbes: false leaves flow.probes empty and the summary unchanged", () => {
  const script = (c: Conv) => {
    c.handshake();
    c.c(10, "P.", 1, 1, { len: 100 });
    c.s(10.1, ".", 1, 101);
    for (let i = 0; i < 5; i++) {
      c.c(2000 + i * 1000, ".", 100, 1);
      if (i !== 3) c.s(2000.2 + i * 1000, ".", 1, 101); // the 4th probe goes unanswered
    }
    c.s(9000, ".", 0, 101); // a server probe too
    c.c(9000.1, ".", 101, 1);
  };
  const keeping = new Conv(CLIENT, SERVER, 1000, 5000);
  script(keeping);
  const lean = new LeanConv(CLIENT, SERVER, 1000, 5000);
  script(lean);
  assert.equal(keeping.tracker.flows[0].probes.length, 6, "kept by default, for the demo");
  assert.deepEqual(
    keeping.tracker.flows[0].probes.map((p) => [p.by, p.answered]),
    [
      ["client", true],
      ["client", true],
      ["client", true],
      ["client", false],
      ["client", true],
      ["server", true],
    ],
  );
  assert.equal(lean.tracker.flows[0].probes.length, 0);
  assert.deepEqual(lean.summary(), keeping.summary());
  const s = lean.summary();
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered, s.prober], [
    6,
    5,
    1,
    "both",
  ]);
  close(s.idleBeforeFirstProbeMs, 1989.9, "idle before the first probe");
  assert.deepEqual(s.probeInterval && [s.probeInterval.count, s.probeInterval.medianMs], [4, 1000]);
});

Deno.test("RunningSpread: exact up to SAMPLE_SIZE values, the same numbers as spread()", () => {
  const values = Array.from({ length: SAMPLE_SIZE }, (_, i) => ((i * 7919) % 1009) / 7 + 0.5);
  for (const n of [1, 2, 3, 10, SAMPLE_SIZE]) {
    const running = new RunningSpread();
    for (const v of values.slice(0, n)) running.add(v);
    const got = running.spread()!;
    const want = spread(values.slice(0, n))!;
    assert.deepEqual(
      [got.count, got.minMs, got.maxMs, got.medianMs, got.p10Ms, got.p90Ms],
      [want.count, want.minMs, want.maxMs, want.medianMs, want.p10Ms, want.p90Ms],
      `${n} values`,
    );
    close(got.meanMs, want.meanMs, `mean of ${n}`);
    close(got.stdevMs, want.stdevMs, `stdev of ${n}`);
  }
  assert.equal(new RunningSpread().spread(), null);
});

Deno.test("a flow with 2,000 probes: count, min, max, mean exact; median within ±10 percentile points", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  // Intervals spread over [1000, 2000) ms in a scrambled order, each probe answered after 0.1 ms
  // to 0.9 ms: nothing like the nearly constant intervals of real keep-alive, to test the sample.
  const intervals: number[] = [];
  let at = 0;
  for (let k = 0; k < 2000; k++) {
    const gap = 1000 + ((k * 7919) % 1000) + ((k * 31) % 7) / 8;
    if (k > 0) intervals.push(gap);
    at += gap;
    c.c(at, ".", 0, 1);
    c.s(at + 0.1 + (k % 9) / 10, ".", 1, 1);
  }
  const s = c.summary();
  assert.equal(s.probesSent, 2000);
  assert.equal(s.probesAnswered, 2000);
  const i = s.probeInterval!;
  const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
  const stdev = Math.sqrt(intervals.reduce((a, v) => a + (v - mean) ** 2, 0) / intervals.length);
  assert.equal(i.count, 1999);
  close(i.minMs, Math.min(...intervals), "min");
  close(i.maxMs, Math.max(...intervals), "max");
  close(i.meanMs, mean, "mean");
  close(i.stdevMs, stdev, "stdev");
  // A quantile from the 256-value sample is a value whose rank among all 1,999 is near the
  // asked-for one: about ±3 percentile points is one standard deviation, ±10 more than three.
  const rank = (v: number) => intervals.filter((x) => x < v).length / intervals.length;
  for (const [q, v] of [[0.5, i.medianMs], [0.1, i.p10Ms], [0.9, i.p90Ms]]) {
    assert.ok(Math.abs(rank(v) - q) <= 0.1, `quantile ${q}: ${v} has rank ${rank(v)}`);
  }
  const d = s.probeAnswerDelay!;
  assert.equal(d.count, 2000);
  close(d.minMs, 0.1, "fastest answer");
  close(d.maxMs, 0.9, "slowest answer");
  assert.ok(d.medianMs >= 0.1 && d.medianMs <= 0.9);
  // The same packets give the same estimate on every run: live capture and --read agree.
  const again = new Conv(CLIENT, SERVER, 1000, 5000);
  for (const l of c.out) again.tracker.track(l.packet);
  assert.deepEqual(again.summary(), s);
});

Deno.test("a clean close (FIN both ways, both acknowledged) is handed over and forgotten at once", () => {
  const c = new ForgettingConv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(1000, ".", 0, 1); // probe
  c.s(1000.1, ".", 1, 1);
  c.c(2000, "F.", 1, 1);
  c.s(2000.1, "F.", 1, 2);
  assert.equal(c.ended.length, 0, "still waiting for the last ACK");
  assert.equal(c.tracker.heldCount, 1);
  c.c(2000.2, ".", 2, 2);
  assert.equal(c.ended.length, 1);
  assert.equal(c.tracker.heldCount, 0);
  assert.deepEqual(c.tracker.flows, []);
  const s = summarizeFlow(c.ended[0]);
  assert.deepEqual([s.flowId, s.packets, s.probesSent, s.probesAnswered], [0, 8, 1, 1]);
  assert.deepEqual(s.end, { kind: "fin", by: "client", atMs: 2000 });

  // The 4-tuple again, even with the same ISN: a new connection, a new id.
  const syn = c.c(5000, "S", 0, 0);
  assert.deepEqual([syn.flowId, syn.label], [1, "syn"]);
  assert.equal(c.tracker.seenCount, 2);
  assert.equal(c.tracker.heldCount, 1);
});

Deno.test("an RST, or FINs without the last ACK, linger 2 s of capture time for stragglers", () => {
  const c = new ForgettingConv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(100, "P.", 1, 1, { len: 10 });
  c.s(100.1, "R", 1, 0); // the server resets...
  const straggler = c.c(100.2, "P.", 11, 1, { len: 10 }); // ...while more data was on its way
  c.s(100.3, "R", 1, 0);
  assert.equal(straggler.flowId, 0, "a segment that crossed the RST is still the same connection");
  assert.equal(c.ended.length, 0);

  // A second connection on another port ends with FINs both ways but no last ACK seen.
  const other = new Conv(CLIENT, [SERVER[0], 80], 1000, 5000);
  const fin = (atMs: number, fromClient: boolean, flags: string, rel: number, relAck: number) => {
    const l = (fromClient ? other.c(atMs, flags, rel, relAck) : other.s(atMs, flags, rel, relAck))
      .packet;
    return c.tracker.track(l);
  };
  assert.equal(fin(200, true, "S", 0, 0).flowId, 1);
  fin(200.1, false, "S.", 0, 1);
  fin(200.2, true, ".", 1, 1);
  fin(300, true, "F.", 1, 1);
  fin(300.1, false, "F.", 1, 2);
  assert.equal(c.tracker.heldCount, 2);

  c.s(2100, "R", 1, 0); // within 2 s of the first RST: still connection #0
  assert.equal(c.out.at(-1)!.flowId, 0);
  assert.equal(c.ended.length, 0);
  c.s(2100.1, "R", 1, 0); // 2 s after it: #0 is forgotten first, so this one opens #2
  assert.deepEqual(c.ended.map((f) => f.id), [0]);
  assert.equal(c.out.at(-1)!.flowId, 2);
  assert.equal(fin(2300.1, true, ".", 2, 2).flowId, 3, "the late last ACK of #1 is a new flow");
  assert.deepEqual(c.ended.map((f) => f.id), [0, 1]);
  assert.deepEqual(summarizeFlow(c.ended[0]).end, { kind: "rst", by: "server", atMs: 100.1 });
  assert.deepEqual(summarizeFlow(c.ended[1]).end, { kind: "fin", by: "client", atMs: 100 });
});

Deno.test("a SYN with a new ISN on a held 4-tuple hands the old connection over at once", () => {
  const c = new ForgettingConv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(50, "P.", 1, 1, { len: 5 });
  const reused = new Conv(CLIENT, SERVER, 90_000, 5000);
  const syn = c.tracker.track(reused.c(60_000, "S", 0, 0).packet);
  assert.deepEqual([syn.flowId, syn.label], [1, "syn"]);
  assert.deepEqual(c.ended.map((f) => f.id), [0]);
  assert.deepEqual(c.tracker.flows.map((f) => f.id), [1]);
});

/**
 * A classic pcap (LINKTYPE_IPV4) of `n` short connections, two at a time with their packets
 * interleaved, each: handshake, one keep-alive probe and its ACK, FIN both ways, last ACK.
 * Frames are patched copies of one template per flag combination, in chunks of about 1 MiB.
 */
function* shortConnections(n: number): Generator<Uint8Array> {
  yield buildPcap([], { linkType: 228 });
  const templates = new Map<string, Uint8Array>();
  const frame = (flags: string) => {
    let t = templates.get(flags);
    if (!t) {
      t = ipTcp({ src: "10.0.0.1", dst: "192.168.0.1", srcPort: 1, dstPort: 443, flags });
      templates.set(flags, t);
    }
    return t;
  };
  // [from client, flags, seq - ISN, ack - peer's ISN, ms after the connection's start]
  const script: [boolean, string, number, number, number][] = [
    [true, "S", 0, 0, 0],
    [false, "S.", 0, 1, 0.1],
    [true, ".", 1, 1, 0.2],
    [true, ".", 0, 1, 1000.2], // probe: seq = next - 1
    [false, ".", 1, 1, 1000.3],
    [true, "F.", 1, 1, 1500],
    [false, "F.", 1, 2, 1500.1],
    [true, ".", 2, 2, 1500.2],
  ];
  const chunk = new Uint8Array(1 << 20);
  const view = new DataView(chunk.buffer);
  let used = 0;
  const t0 = 1_764_056_579_000_000;
  for (let pair = 0; pair < n; pair += 2) {
    for (const [fromClient, flags, rel, relAck, ms] of script) {
      for (let i = pair; i < Math.min(pair + 2, n); i++) {
        const data = frame(flags);
        if (used + 16 + data.length > chunk.length) {
          yield chunk.slice(0, used);
          used = 0;
        }
        const ts = t0 + pair * 2_000_000 + Math.round(ms * 1000) + (i - pair) * 10;
        view.setUint32(used, Math.floor(ts / 1e6), true);
        view.setUint32(used + 4, ts % 1e6, true);
        view.setUint32(used + 8, data.length, true);
        view.setUint32(used + 12, data.length, true);
        const at = used + 16;
        chunk.set(data, at);
        const client = [10, (i >> 16) & 255, (i >> 8) & 255, i & 255];
        const server = [192, 168, 0, 1];
        chunk.set(fromClient ? client : server, at + 12);
        chunk.set(fromClient ? server : client, at + 16);
        const clientPort = 1024 + (i % 60_000);
        view.setUint16(at + 20, fromClient ? clientPort : 443);
        view.setUint16(at + 22, fromClient ? 443 : clientPort);
        const cIsn = (i * 2654435761) >>> 0;
        const sIsn = (i * 40503 + 12345) >>> 0;
        view.setUint32(at + 24, ((fromClient ? cIsn : sIsn) + rel) >>> 0);
        view.setUint32(at + 28, flags === "S" ? 0 : ((fromClient ? sIsn : cIsn) + relAck) >>> 0);
        used = at + data.length;
      }
    }
  }
  yield chunk.slice(0, used);
}

Deno.test("50,000 short connections through the analyzer: at most 2 held at once, 50,000 summaries", () => {
  const n = 50_000;
  const summaries: FlowSummary[] = [];
  let maxHeld = 0;
  let packets = 0;
  const labels: Label[] = [];
  const analyzer: CaptureAnalyzer = new CaptureAnalyzer(
    (lp) => {
      packets++;
      maxHeld = Math.max(maxHeld, analyzer.tracker.heldCount);
      if (lp.flowId === n - 1) labels.push(lp.label);
    },
    undefined,
    { onSummary: (s) => summaries.push(s) },
  );
  for (const chunk of shortConnections(n)) analyzer.push(chunk);
  const result = analyzer.finish();

  assert.equal(result.error, null);
  assert.equal(result.packets, n * 8);
  assert.equal(packets, n * 8);
  assert.ok(maxHeld <= 2, `${maxHeld} connections held at once`);
  assert.equal(analyzer.tracker.heldCount, 0, "every connection closed cleanly and was let go");
  assert.deepEqual(result.summaries, [], "nothing left for the end");
  assert.equal(result.connections, n);
  assert.equal(summaries.length, n);
  assert.deepEqual(labels, [
    "syn",
    "syn-ack",
    "handshake-ack",
    "keepalive",
    "keepalive-ack",
    "fin",
    "fin",
    "ack",
  ]);
  assert.ok(summaries.every((s, i) => s.flowId === i), "each one once, in the order they closed");
  for (const s of [summaries[0], summaries[n - 1]]) {
    assert.deepEqual(
      [s.packets, s.probesSent, s.probesAnswered, s.end.kind, s.end.by, s.rolesFromHandshake],
      [8, 1, 1, "fin", "client", true],
    );
    assert.equal(s.labels.keepalive, 1);
    assert.equal(s.labels["keepalive-ack"], 1);
    close(s.idleBeforeFirstProbeMs, 1000, "idle before the probe");
  }
});
