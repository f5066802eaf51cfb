/**
 * watch's reading of two looks at the kernel's table (diffSocket), without root: each socket is
 * credited only with what it sent, and zero-window (persist) probes are never keep-alive.
 */
import assert from "assert";
import { diffSocket, startTracking, type Tracked } from "../lib/observe/keepalive_observer.ts";
import { parseSs, type SocketState, type SocketTimer } from "../lib/observe/ss.ts";

function state(o: Partial<SocketState> & { timer?: SocketTimer | null }): SocketState {
  return {
    state: "ESTAB",
    recvQ: 0,
    local: "127.0.0.1",
    localPort: 40000,
    peer: "127.0.0.1",
    peerPort: 12345,
    timer: null,
    segsOut: 10,
    segsIn: 10,
    dataSegsOut: 0,
    dataSegsIn: 0,
    lastAckMs: 900,
    ...o,
  };
}

function tracked(last: SocketState): Tracked {
  return startTracking(last, 1000);
}

const ka = (ms: number, count = 0): SocketTimer => ({ name: "keepalive", ms, count });

Deno.test("watch: our own probe, answered (timer restarted, lastack reset)", () => {
  const t = tracked(state({ timer: ka(20) }));
  const out = diffSocket(
    t,
    state({ timer: ka(980), segsOut: 11, segsIn: 11, lastAckMs: 10 }),
    1100,
  );
  assert.deepEqual(out.map((o) => o.type), ["probe"]);
  assert.equal(out[0].type === "probe" && out[0].answered, true);
});

Deno.test("watch: an answer in the very jiffy ss reads the socket (lastack left out) is one", () => {
  const [now] = parseSs(
    "ESTAB 0 0 127.0.0.1:40000 127.0.0.1:12345 timer:(keepalive,980ms,0)\n" +
      "\t ts sack cubic segs_out:11 segs_in:11 lastsnd:3000 lastrcv:3000\n",
  );
  assert.equal(now.lastAckMs, 0);
  const out = diffSocket(tracked(state({ timer: ka(20) })), now, 1100);
  assert.deepEqual(out.map((o) => o.type), ["probe"]);
  assert.equal(out[0].type === "probe" && out[0].answered, true);
});

Deno.test("watch: answering the peer's probe is not a probe of ours (lastack not reset)", () => {
  const t = tracked(state({ timer: ka(1500) }));
  const out = diffSocket(
    t,
    state({ timer: ka(1400), segsOut: 11, segsIn: 11, lastAckMs: 1900 }),
    1100,
  );
  assert.deepEqual(out.map((o) => o.type), ["probe-ack"]);
  assert.equal(t.probes, 0);
});

Deno.test("watch: our probe and our answer to the peer's in one look count once each", () => {
  const t = tracked(state({ timer: ka(20) }));
  const out = diffSocket(
    t,
    state({ timer: ka(980), segsOut: 12, segsIn: 12, lastAckMs: 30 }),
    1100,
  );
  assert.deepEqual(out.map((o) => o.type), ["probe", "probe-ack"]);
  assert.deepEqual([t.probes, t.acks], [1, 1]);
});

Deno.test("watch: an unanswered probe raises the kernel's counter", () => {
  const t = tracked(state({ timer: ka(20) }));
  const out = diffSocket(t, state({ timer: ka(990, 1), segsOut: 11 }), 1100);
  assert.equal(out[0].type === "probe" && !out[0].answered && out[0].unanswered, 1);
});

Deno.test("watch: the persist timer sends zero-window probes; their answers are zero-window ACKs", () => {
  const persist = { name: "persist", ms: 1600, count: 0 };
  const prober = tracked(state({ timer: persist }));
  const out = diffSocket(prober, state({ timer: persist, segsOut: 11, segsIn: 11 }), 1100);
  assert.deepEqual(out.map((o) => o.type), ["zero-window-probe"]);
  assert.equal(prober.probes, 0);
  // The receiver: its peer (in the same table) is persist-probing it.
  const receiver = tracked(state({ recvQ: 4096 }));
  const peer = state({ timer: persist });
  const answer = diffSocket(receiver, state({ recvQ: 4096, segsOut: 11, segsIn: 11 }), 1100, peer);
  assert.deepEqual(answer.map((o) => o.type), ["zero-window-ack"]);
  // Without the peer in view, a full receive queue says the same.
  const alone = tracked(state({ recvQ: 4096 }));
  assert.deepEqual(
    diffSocket(alone, state({ recvQ: 4096, segsOut: 11, segsIn: 11 }), 1100).map((o) => o.type),
    ["zero-window-ack"],
  );
});

Deno.test("watch: each probe says its gap, Linux's way: idle, after the answer, or a retry", () => {
  const t = tracked(state({ timer: ka(20), lastAckMs: 1000 })); // last accepted segment at 0
  const first = diffSocket(
    t,
    state({ timer: ka(980), segsOut: 11, segsIn: 11, lastAckMs: 5 }),
    2100,
  );
  assert.deepEqual(first.map((o) => o.type === "probe" && [o.kind, o.gapMs]), [["idle", 2095]]);
  t.lastTime = 4000;
  const second = diffSocket(
    t,
    state({ timer: ka(995), segsOut: 12, segsIn: 12, lastAckMs: 5 }),
    4105,
  );
  assert.deepEqual(second.map((o) => o.type === "probe" && [o.kind, o.gapMs]), [[
    "answered",
    2005,
  ]]);
  t.lastTime = 6000;
  const lost = diffSocket(
    t,
    state({ timer: ka(999, 1), segsOut: 13, segsIn: 12, lastAckMs: 2000 }),
    6100,
  );
  assert.deepEqual(lost.map((o) => o.type === "probe" && [o.kind, o.answered]), [[
    "answered",
    false,
  ]]);
  t.lastTime = 7000;
  const retry = diffSocket(
    t,
    state({ timer: ka(999, 2), segsOut: 14, segsIn: 12, lastAckMs: 3000 }),
    7100,
  );
  assert.deepEqual(retry.map((o) => o.type === "probe" && [o.kind, o.gapMs]), [["retry", 1000]]);
});

Deno.test("watch: a probe between two looks an interval apart still counts (the timer shows lower)", () => {
  // Look 1 right after the timer re-armed (990 ms left); look 2 a second later, just after the
  // probe re-armed it again (980 ms left): no visible restart, but lastack says it was answered.
  const t = tracked(state({ timer: ka(990), lastAckMs: 1000 }));
  const out = diffSocket(
    t,
    state({ timer: ka(980), segsOut: 11, segsIn: 11, lastAckMs: 15 }),
    2000,
  );
  assert.deepEqual(out.map((o) => o.type), ["probe"]);
});
