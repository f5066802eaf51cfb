/** The flow tracker's bounded memory: running statistics instead of probe lists, lingering closes. */
import assert from "assert";
import { type Flow, FlowTracker, type Label, MAX_LINGERING } from "../lib/flow/tracker.ts";
import { type FlowSummary, spread, summarizeFlow } from "../lib/flow/summary.ts";
import { RunningSpread, SAMPLE_SIZE } from "../lib/flow/stats.ts";
import { CaptureAnalyzer } from "../lib/capture/analyzer.ts";
import { buildPcap, ipTcp } from "../scripts/pcap_builder.ts";
import { CLIENT, close, Conv, SERVER } from "./helpers/conv.ts";

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
  assert.deepEqual([s.probesSent, s.probesAnswered, s.probesUnanswered, s.probingSides], [
    6,
    5,
    1,
    "both",
  ]);
  const idle = s.probesBy.client!.idleBeforeProbe!;
  close(idle.maxMs, 1989.9, "idle before the first probe: from the data's ACK (at 10.1 ms)");
  close(idle.minMs, 999.8, "then from each answer");
  assert.equal(idle.count, 4, "probes 1-4: the 5th is a retry of the unanswered 4th");
  assert.deepEqual(
    s.probesBy.client!.retryInterval &&
      [s.probesBy.client!.retryInterval.count, s.probesBy.client!.retryInterval.medianMs],
    [1, 1000],
  );
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
  // The idle before each is measured from the previous answer (the SYN-ACK for the first).
  const intervals: number[] = [];
  let at = 0;
  let answer = 0.02;
  for (let k = 0; k < 2000; k++) {
    const gap = 1000 + ((k * 7919) % 1000) + ((k * 31) % 7) / 8;
    at += gap;
    intervals.push(at - answer);
    c.c(at, ".", 0, 1);
    answer = at + 0.1 + (k % 9) / 10;
    c.s(answer, ".", 1, 1);
  }
  const s = c.summary();
  assert.equal(s.probesSent, 2000);
  assert.equal(s.probesAnswered, 2000);
  const i = s.probesBy.client!.idleBeforeProbe!;
  const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
  const stdev = Math.sqrt(intervals.reduce((a, v) => a + (v - mean) ** 2, 0) / intervals.length);
  assert.equal(i.count, 2000);
  close(i.minMs, Math.min(...intervals), "min");
  close(i.maxMs, Math.max(...intervals), "max");
  close(i.meanMs, mean, "mean");
  close(i.stdevMs, stdev, "stdev");
  // A quantile from the 256-value sample is a value whose rank among all 2,000 is near the
  // asked-for one: about ±3 percentile points is one standard deviation, ±10 more than three.
  const rank = (v: number) => intervals.filter((x) => x < v).length / intervals.length;
  for (const [q, v] of [[0.5, i.medianMs], [0.1, i.p10Ms], [0.9, i.p90Ms]]) {
    assert.ok(Math.abs(rank(v) - q) <= 0.1, `quantile ${q}: ${v} has rank ${rank(v)}`);
  }
  const d = s.probesBy.client!.answerDelay!;
  assert.equal(d.count, 2000);
  close(d.minMs, 0.1, "fastest answer");
  close(d.maxMs, 0.9, "slowest answer");
  assert.ok(d.medianMs >= 0.1 && d.medianMs <= 0.9);
  // The same packets give the same estimate on every run: live capture and --read agree.
  const again = new Conv(CLIENT, SERVER, 1000, 5000);
  for (const l of c.out) again.tracker.track(l.packet);
  assert.deepEqual(again.summary(), s);
});

Deno.test("a clean close lingers: a late duplicate ACK, a retransmitted FIN, a trailing RST attach to it", () => {
  const c = new ForgettingConv(CLIENT, SERVER, 1000, 5000);
  c.handshake();
  c.c(1000, ".", 0, 1); // probe
  c.s(1000.1, ".", 1, 1);
  c.c(2000, "F.", 1, 1);
  c.s(2000.1, "F.", 1, 2);
  c.c(2000.2, ".", 2, 2); // the last ACK: closed cleanly
  assert.equal(c.ended.length, 0, "kept for stragglers");
  // What tcpdump's pptp.pcap and others show after a close: none of it is a new connection.
  assert.equal(c.c(2000.3, ".", 2, 2).flowId, 0, "a duplicate of the last ACK");
  assert.equal(c.s(2200, "F.", 1, 2).label, "retransmission", "the FIN again (its ACK was lost)");
  assert.equal(c.c(2200.1, "R", 2, 0).flowId, 0, "an RST 45 µs or 1 s later");
  assert.equal(c.tracker.seenCount, 1, "no phantom connection");
  // 2 s of capture time after the close, any packet lets it go.
  c.c(4000.3, ".", 9, 9, {}); // (on the same 4-tuple: opens a new one, after the old is gone)
  assert.equal(c.ended.length, 1);
  const s = summarizeFlow(c.ended[0]);
  assert.deepEqual([s.flowId, s.packets, s.probesSent, s.probesAnswered], [0, 11, 1, 1]);
  assert.deepEqual(s.end, { kind: "rst", by: "client", atMs: 2200.1 });

  // A SYN on a lingering 4-tuple, even with the same ISN: a new connection, a new id.
  const syn = c.c(5000, "S", 0, 0);
  assert.deepEqual([syn.flowId, syn.label], [2, "syn"]);
  assert.equal(c.tracker.seenCount, 3);
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

Deno.test("50,000 short connections through the analyzer: at most 4 held at once, 50,000 summaries", () => {
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
  // Two open, and the two before them lingering for stragglers (2 s of capture time).
  assert.ok(maxHeld <= 4, `${maxHeld} connections held at once`);
  assert.deepEqual(result.summaries.map((s) => s.flowId), [n - 2, n - 1], "the last pair lingers");
  assert.equal(result.connections, n);
  summaries.push(...result.summaries);
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
    close(s.probesBy.client?.idleBeforeProbe?.medianMs, 1000.1, "idle from the SYN-ACK");
  }
});

Deno.test("at most MAX_LINGERING closed connections linger at once: a burst cannot grow memory", () => {
  const ended: Flow[] = [];
  const tracker = new FlowTracker({ keepProbes: false, onEnded: (f) => ended.push(f) });
  let maxHeld = 0;
  // 6,000 connections, each reset 0.1 ms after its SYN, all within 0.6 s of capture time.
  for (let i = 0; i < 6000; i++) {
    const c = new Conv(["10.1.0.1", 1024 + i], SERVER, 1000, 5000, 1_764_056_579_000_000 + i * 100);
    tracker.track(c.c(0, "S", 0, 0).packet);
    tracker.track(c.s(0.05, "R.", 0, 1).packet);
    maxHeld = Math.max(maxHeld, tracker.heldCount);
  }
  assert.equal(maxHeld, MAX_LINGERING, "never more than the cap");
  assert.equal(ended.length, 6000 - MAX_LINGERING, "the oldest let go early");
  assert.ok(ended.every((f, i) => f.id === i), "in the order they closed");
});
