import assert from "assert";
import { decodePcapBuffer } from "./helpers/decode.ts";
import type { DecodedPacket, TcpOptions } from "../lib/pcap/packet.ts";
import { FlowTracker, type Label, seqLt } from "../lib/flow/tracker.ts";
import { spread, summarizeFlows } from "../lib/flow/summary.ts";
import { buildPcap, ipTcp, linkFrame } from "../scripts/pcap_builder.ts";
import { CLIENT, close, Conv, LINUX_SYN_OPTS, SERVER } from "./helpers/conv.ts";

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

  // Per-packet timing, Linux's way: the first probe one idle after the last segment the client
  // received (the SYN-ACK), each later one one idle after the answer to the one before.
  close(out[3].idleMs, 2011.096, "idle before probe 1");
  assert.equal(out[3].retryAfterMs, null);
  close(out[5].idleMs, 2016.018, "idle before probe 2: from probe 1's answer");
  close(out[4].deltaMs, 0.006, "probe ACK delay");
  assert.equal(out[4].idleMs, null, "only probes carry an idle time");
  assert.equal(out[0].deltaMs, null);
  assert.equal(out[0].idleMs, null);

  const [s] = summarizeFlows(tracker.flows);
  assert.deepEqual(s.client, { addr: "127.0.0.1", port: 57006 });
  assert.deepEqual(s.server, { addr: "127.0.0.1", port: 12345 });
  assert.equal(s.rolesFromHandshake, true);
  assert.equal(s.probingSides, "client");
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered], [4, 4, 0]);
  assert.equal(s.probesBy.server, null);
  const f = s.probesBy.client!;
  assert.deepEqual([f.sent, f.answered, f.unanswered], [4, 4, 0]);
  assert.equal(f.idleBeforeProbe?.count, 4);
  close(f.idleBeforeProbe?.minMs, 2011.096, "shortest idle");
  close(f.idleBeforeProbe?.maxMs, 2016.018, "longest idle");
  assert.equal(f.retryInterval, null, "every probe answered: no retries");
  close(f.answerDelay?.maxMs, 0.009, "slowest probe answer");
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
  close(probe.idleMs, 7_200_000.1, "idle before the probe: from the last segment received");
  assert.equal(probe.bytes, 0);
  assert.equal(reply.idleMs, null);
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
  close(later.idleMs, 999.8, "one idle after the answer to the first");
  assert.equal(later.retryAfterMs, null);
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
  assert.equal(c.summary().probingSides, "both");
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
  // The client's ACK of seq + 1 proves the first packet was a probe: re-labelled, and said so.
  assert.deepEqual(c.labels(), [
    "ack",
    "keepalive-ack",
    "keepalive",
    "keepalive-ack",
    "keepalive",
    "keepalive-ack",
  ]);
  assert.deepEqual(c.out[1].relabel, { index: 0, from: "ack", to: "keepalive" });
  assert.ok(c.out.every((l, i) => i === 1 || l.relabel === null));
  const s = c.summary();
  assert.equal(s.rolesFromHandshake, false);
  assert.deepEqual(s.client, { addr: SERVER[0], port: SERVER[1] }, "client = first sender");
  assert.equal(s.probingSides, "client");
  assert.deepEqual([s.probesSent, s.probesAnswered], [3, 3]);
  assert.equal(s.labels.keepalive, 3);
  assert.equal(s.labels.ack, 0);
  close(s.probesBy.client?.idleBeforeProbe?.medianMs, 74_999.9, "idle from each answer");
  assert.deepEqual(c.tracker.flows[0].probes.map((p) => p.relabeled), [true, false, false]);
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
    encap: null,
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
  assert.equal(s.probingSides, "both");
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered], [5, 2, 3]);
  const client = s.probesBy.client!;
  const server = s.probesBy.server!;
  assert.deepEqual([client.sent, client.answered, server.sent, server.answered], [4, 1, 1, 1]);
  // The client: 1999.98 from the SYN-ACK, then 1999.9 from its probe's answer at 2000.1 (the
  // server's probe at 3000 does not reset it: Linux answers a probe without accepting it).
  assert.deepEqual(
    client.idleBeforeProbe && [client.idleBeforeProbe.count, client.idleBeforeProbe.minMs],
    [2, 1999.9],
  );
  // Then retries of the unanswered probe: 1000 and 2000 after it.
  assert.deepEqual(
    client.retryInterval &&
      [client.retryInterval.count, client.retryInterval.minMs, client.retryInterval.maxMs],
    [
      2,
      1000,
      2000,
    ],
  );
  close(server.idleBeforeProbe?.medianMs, 2999.96, "the server's idle, from the handshake ACK");
  assert.deepEqual(s.end, { kind: "open", by: null, atMs: null });
});

Deno.test("zero-window probes and their answers are labelled apart and never count as keep-alive", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(10, "P.", 1, 1, { len: 1000 });
  c.s(10.1, ".", 1, 1001, { window: 0 }); // the server's buffer is full: window 0
  // Linux's persist timer: no data, seq = snd_una - 1, backing off 200, 400, 800 ms…
  for (const at of [210, 610, 1410, 3010]) {
    assert.equal(c.c(at, ".", 1000, 1).label, "zero-window-probe");
    assert.equal(c.s(at + 0.1, ".", 1, 1001, { window: 0 }).label, "zero-window-probe-ack");
  }
  // Wireshark's own rule: one byte at the next sequence number, to a window of 0.
  assert.equal(c.c(6210, ".", 1001, 1, { len: 1 }).label, "zero-window-probe");
  c.s(6210.1, ".", 1, 1001, { window: 0 });
  c.s(7000, ".", 1, 1001, { window: 512 }); // the reader is back: a window update
  assert.equal(c.labels().at(-1), "window-update");
  const s = c.summary();
  assert.deepEqual([s.probesSent, s.probingSides, s.labels.keepalive], [0, "none", 0]);
  assert.deepEqual(s.zeroWindowProbesBy, { client: 5, server: 0 });
  assert.equal(s.labels["zero-window-probe"], 5);
  assert.equal(s.labels["zero-window-probe-ack"], 5);
});

Deno.test("times going backwards never make a lifetime or an end time negative", () => {
  const c = new Conv(CLIENT, SERVER, 1000, 5000);
  c.handshake(5000);
  c.c(1000, "F.", 1, 1); // stamped 4 s before the handshake
  const s = c.summary();
  assert.ok(s.lifetimeMs >= 0 && s.end.atMs! >= 0, JSON.stringify([s.lifetimeMs, s.end]));
  close(s.lifetimeMs, 4000.04, "from the earliest stamp to the latest");
});
