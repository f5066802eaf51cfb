/**
 * The domain of `discover` without sockets: the ladder, the bracket, the plan, the advice and the
 * RST verdict. A simulated path (a conntrack that forgets after exactly T) drives the planner on a
 * simulated clock, so the efficiency claim is checked without any wall-clock timing.
 */
import assert from "assert";
import {
  ladder,
  ladderRatio,
  OPEN_LEAD,
  shadowRungs,
  targetRatio,
} from "../lib/discover/ladder.ts";
import { Bracket } from "../lib/discover/bracket.ts";
import { Anomalies } from "../lib/discover/anomalies.ts";
import { plan } from "../lib/discover/plan.ts";
import { recommend } from "../lib/discover/recommend.ts";
import { hopsFrom, judgeRst } from "../lib/discover/rst_source.ts";

Deno.test("ladder: geometric from min to max, both included, ratio from the connections", () => {
  const d = ladder(10_000, 1_800_000, 10);
  assert.equal(d[0], 10_000);
  assert.equal(d.at(-1), 1_800_000);
  for (let i = 1; i < d.length; i++) assert.ok(d[i] > d[i - 1]);
  // 10 rolling connections keep up with a ratio of 11^(1/10) ≈ 1.27.
  assert.ok(ladderRatio(d) <= targetRatio(10) && ladderRatio(d) > 1.2, String(ladderRatio(d)));
  assert.deepEqual(ladder(1000, 16_000, 1), [1000, 4000, 16_000]); // one connection: ×11 at most
  assert.deepEqual(ladder(5000, 5000, 10), [5000]);
});

Deno.test("ladder: shadow rungs reach one rung below the top when the top is the edge", () => {
  const rungs = ladder(1000, 20_000, 10);
  const shadows = shadowRungs(rungs);
  const r = ladderRatio(rungs);
  assert.ok(shadows.length >= 3 && shadows[0] > 20_000);
  // Opened at OPEN_LEAD × x, the last shadow is idle for ≤ 1/r of the top when the top probes.
  const top = rungs.at(-1)!;
  const ageAtTop = (1 + OPEN_LEAD) * top - OPEN_LEAD * shadows.at(-1)!;
  assert.ok(ageAtTop <= top / r, `${ageAtTop} > ${top / r}`);
});

Deno.test("bracket: answered raises low, forgotten lowers high, the edge is the shortest forgotten", () => {
  const b = new Bracket();
  assert.deepEqual(b.state, { lowMs: 0, highMs: null, edge: null });
  b.record({ kind: "answered", idleMs: 3000 });
  b.record({ kind: "forgotten", idleMs: 5000, edge: "silent-drop" });
  b.record({ kind: "forgotten", idleMs: 4200, edge: "reset" });
  assert.deepEqual(b.state, { lowMs: 3000, highMs: 4200, edge: "reset" });
  assert.equal(b.done(0.1, 10_000, 50), false);
  b.record({ kind: "answered", idleMs: 4000 });
  assert.equal(b.done(0.1, 10_000, 50), true);
  assert.deepEqual(b.result(), { lowMs: 4000, highMs: 4200, edge: "reset" });
});

Deno.test("bracket: an answer above a 'forgotten' overrules it (a lost probe) and is counted", () => {
  const b = new Bracket();
  b.record({ kind: "forgotten", idleMs: 3000, edge: "silent-drop" });
  b.record({ kind: "answered", idleMs: 3500 });
  assert.equal(b.contradictions, 1);
  assert.deepEqual(b.state, { lowMs: 3500, highMs: null, edge: null });
});

Deno.test("bracket: FINs at the same age are the answer itself (server-close)", () => {
  const b = new Bracket();
  b.record({ kind: "answered", idleMs: 3800 });
  b.record({ kind: "ended", ageMs: 5010, edge: "server-close", atMs: 5100 });
  assert.equal(b.done(0.1, 60_000, 50), false, "one FIN alone is not yet a finding");
  b.record({ kind: "ended", ageMs: 5030, edge: "server-close", atMs: 5400 });
  assert.equal(b.done(0.1, 60_000, 50), true);
  const r = b.result();
  assert.equal(r.edge, "server-close");
  assert.ok(r.lowMs <= 5000 && r.highMs === 5010, JSON.stringify(r));
});

Deno.test("bracket: FINs at one moment on connections of different ages (a restart) prove nothing", () => {
  const b = new Bracket();
  for (const ageMs of [2610, 2540, 2430, 2300, 2140, 800]) {
    b.record({ kind: "ended", ageMs, edge: "server-close", atMs: 3000 + (2610 - ageMs) / 100 });
  }
  assert.deepEqual(b.state, { lowMs: 0, highMs: null, edge: null });
  assert.equal(b.done(0.1, 60_000, 50), false);
});

Deno.test("bracket: surviving --max is 'none', kept for at least --max", () => {
  const b = new Bracket();
  b.record({ kind: "answered", idleMs: 5000 });
  assert.equal(b.done(0.1, 5000, 50), true);
  assert.deepEqual(b.result(), { lowMs: 5000, highMs: null, edge: "none" });
});

const base = {
  elapsedMs: 0,
  unopenedRungs: [] as number[],
  pendingMs: [] as number[],
  precision: 0.1,
  maxMs: 20_000,
  minTestMs: 1000,
};

Deno.test("plan: connections older than the range's top are closed; ages inside it test now", () => {
  const p = plan({
    ...base,
    elapsedMs: 7000,
    lowMs: 3000,
    highMs: 5000,
    idle: [
      { id: 1, ageMs: 6000, rungMs: 8000 },
      { id: 2, ageMs: 4800, rungMs: 9000 },
      { id: 3, ageMs: 1000, rungMs: null },
    ],
    live: 3,
    capacity: 4,
  });
  assert.deepEqual(p.close, [1]);
  assert.equal(p.fireAt.get(2), 4800); // inside (3s, 5s): its age is the test
  assert.ok(p.fireAt.get(3)! > 3000 && p.fireAt.get(3)! < 4800, String(p.fireAt.get(3)));
  assert.deepEqual(p.openRungs, []);
});

Deno.test("plan: a rung opens at a tenth of its idle, never beyond the connections", () => {
  const input = {
    ...base,
    lowMs: 0,
    highMs: null,
    idle: [],
    unopenedRungs: [1000, 2000, 4000, 8000, 16_000, 20_000],
    live: 0,
    capacity: 3,
  };
  assert.deepEqual(plan({ ...input, elapsedMs: 250 }).openRungs, [1000, 2000]);
  assert.deepEqual(plan({ ...input, elapsedMs: 2500 }).openRungs, [1000, 2000, 4000]);
  assert.deepEqual(plan({ ...input, elapsedMs: 2500, live: 2 }).openRungs, [1000]);
});

Deno.test("plan: with nothing forgotten, --max is always tested", () => {
  const p = plan({
    ...base,
    maxMs: 9000,
    lowMs: 2000,
    highMs: null,
    idle: [{ id: 7, ageMs: 500, rungMs: null }],
    live: 1,
    capacity: 1,
  });
  assert.equal(p.fireAt.get(7), 9000);
});

interface Simulated {
  bracket: Bracket;
  elapsedMs: number;
  longestIdleMs: number;
  connections: number;
  maxOpen: number;
}

/**
 * A path that forgets a connection idle for longer than `truthMs`, driven through the planner the
 * way lib/discover/run.ts drives it: an answered probe is known at once, a forgotten one after
 * 200 ms, a new connection opens instantly.
 */
function simulate(
  truthMs: number,
  minMs: number,
  maxMs: number,
  capacity: number,
  precision: number,
): Simulated {
  const idle = new Map<number, { openedAt: number; rungMs: number | null }>();
  const inFlight: { idleMs: number; doneAt: number; answered: boolean }[] = [];
  const bracket = new Bracket();
  let now = 0, nextId = 1, longestIdleMs = 0, maxOpen = 0;
  const rungs = ladder(minMs, maxMs, capacity);
  const unopenedRungs = [...rungs, ...shadowRungs(rungs)];
  for (let step = 0; step < 100_000; step++) {
    for (const f of inFlight.filter((f) => f.doneAt <= now)) {
      inFlight.splice(inFlight.indexOf(f), 1);
      bracket.record(
        f.answered
          ? { kind: "answered", idleMs: f.idleMs }
          : { kind: "forgotten", idleMs: f.idleMs, edge: "silent-drop" },
      );
    }
    if (bracket.done(precision, maxMs, 50)) {
      return { bracket, elapsedMs: now, longestIdleMs, connections: nextId - 1, maxOpen };
    }
    const p = plan({
      elapsedMs: now,
      unopenedRungs,
      lowMs: bracket.lowMs,
      highMs: bracket.highMs,
      pendingMs: inFlight.map((f) => f.idleMs),
      idle: [...idle].map(([id, c]) => ({ id, ageMs: now - c.openedAt, rungMs: c.rungMs })),
      live: idle.size + inFlight.length,
      capacity,
      precision,
      maxMs,
      minTestMs: 1000,
    });
    for (const id of p.close) idle.delete(id);
    let next = Infinity;
    for (const [id, at] of p.fireAt) {
      const age = now - idle.get(id)!.openedAt;
      if (at - age < 1) {
        idle.delete(id);
        const answered = age < truthMs;
        inFlight.push({ idleMs: age, doneAt: now + (answered ? 1 : 200), answered });
        longestIdleMs = Math.max(longestIdleMs, age);
      } else next = Math.min(next, now + at - age);
    }
    for (const rung of p.openRungs) {
      unopenedRungs.splice(unopenedRungs.indexOf(rung), 1);
      idle.set(nextId++, { openedAt: now, rungMs: rung > maxMs ? null : rung });
    }
    for (let i = 0; i < p.openSpares; i++) idle.set(nextId++, { openedAt: now, rungMs: null });
    // The next rung's opening time is a moment to plan again.
    const due = unopenedRungs.find((x) => x * OPEN_LEAD > now);
    if (due !== undefined) next = Math.min(next, due * OPEN_LEAD);
    // What was just opened is planned at once.
    if (p.openRungs.length + p.openSpares > 0) next = now;
    maxOpen = Math.max(maxOpen, idle.size + inFlight.length);
    for (const f of inFlight) next = Math.min(next, f.doneAt);
    assert.ok(Number.isFinite(next), `stuck at ${now}ms: ${JSON.stringify(bracket.state)}`);
    now = Math.max(now, next);
  }
  throw new Error("did not finish");
}

const cases: [string, number, number, number, number][] = [
  // truth, min, max, connections
  ["conntrack 4s, small ladder", 4000, 1000, 20_000, 10],
  ["conntrack 7s, small ladder", 7000, 1000, 20_000, 10],
  ["just above --min", 11_000, 10_000, 1_800_000, 10],
  ["AWS NLB / NAT gateway 350s, defaults", 350_000, 10_000, 1_800_000, 10],
  ["Azure 4 min, defaults", 240_000, 10_000, 1_800_000, 10],
  ["GCP Cloud NAT 20 min, defaults", 1_200_000, 10_000, 1_800_000, 10],
  ["IPVS 900s, defaults", 900_000, 10_000, 1_800_000, 10],
  ["just under --max", 1_700_000, 10_000, 1_800_000, 10],
];
for (const [name, truth, min, max, connections] of cases) {
  Deno.test(`plan (simulated): ${name} is found within 10% in ≤ 1.3× the longest idle`, () => {
    const s = simulate(truth, min, max, connections, 0.1);
    const r = s.bracket.result();
    assert.equal(r.edge, "silent-drop");
    assert.ok(r.lowMs < truth && truth <= r.highMs!, `${truth} outside ${JSON.stringify(r)}`);
    assert.ok(r.highMs! <= r.lowMs * 1.1 || r.highMs! - r.lowMs <= 50, JSON.stringify(r));
    assert.ok(s.maxOpen <= connections, `${s.maxOpen} open at once`);
    assert.ok(
      s.elapsedMs <= 1.3 * s.longestIdleMs + 500,
      `${s.elapsedMs}ms for a longest idle of ${s.longestIdleMs}ms`,
    );
  });
}

Deno.test("plan (simulated): nothing forgets → kept for at least --max, in about --max", () => {
  const s = simulate(Infinity, 1000, 8000, 6, 0.1);
  assert.deepEqual(s.bracket.result(), { lowMs: 8000, highMs: null, edge: "none" });
  // The top rung opens at a tenth of --max, or when a connection is free (6 here): 1.1–1.2×.
  assert.ok(s.elapsedMs <= 1.2 * 8000, String(s.elapsedMs));
});

Deno.test("recommend: idle and interval at most half the low end, whole seconds", () => {
  assert.deepEqual(recommend(350_000, "silent-drop"), {
    idleMs: 175_000,
    intervalMs: 175_000,
    client: "tcpka client --idle 175s --interval 175s",
    sysctl: "sysctl -w net.ipv4.tcp_keepalive_time=175 net.ipv4.tcp_keepalive_intvl=175",
  });
  assert.equal(recommend(3790, "reset")?.idleMs, 1000);
  assert.equal(recommend(1500, "silent-drop"), null); // no margin left above 1 s
  assert.equal(recommend(5000, "server-close"), null);
  assert.equal(recommend(5000, "none"), null);
});

Deno.test("RST verdict: TTL against the SYN-ACK's", () => {
  assert.equal(hopsFrom(63), 1);
  assert.equal(hopsFrom(128), 0);
  assert.equal(hopsFrom(250), 5);
  assert.equal(judgeRst([63, 63], [64]).source, "middlebox");
  assert.match(judgeRst([63], [64]).hint, /1 hop closer/);
  assert.equal(judgeRst([63], [63]).source, "server");
  assert.equal(judgeRst([64], [62]).source, "unknown");
  assert.equal(judgeRst([], [64]).source, "unknown");
  assert.equal(judgeRst([63], []).source, "unknown");
});

Deno.test("anomalies: a restart (ends at one moment, different ages) is said once", () => {
  const a = new Anomalies();
  assert.equal(a.ended(1000, 5000), null);
  assert.equal(a.ended(1300, 5010), null); // same age, another moment: an idle timeout
  assert.equal(a.ended(9000, 2600), null); // alone at its moment
  const b = new Anomalies();
  assert.equal(b.ended(3000, 2610), null);
  assert.match(b.ended(3005, 1900) ?? "", /did it restart/);
  assert.equal(b.ended(3006, 900), null, "said once");
});

Deno.test("anomalies: a server's own probes and contradictions are said once each", () => {
  const a = new Anomalies();
  assert.equal(a.peerSent(1, 0), null);
  assert.match(a.peerSent(2, 3) ?? "", /sent 3 segment\(s\) on #2/);
  assert.equal(a.peerSent(3, 1), null);
  assert.match(a.contradicted(4, 5200) ?? "", /lost packet/);
  assert.equal(a.contradicted(5, 5300), null);
});

Deno.test("plan (simulated): a timeout below --min is still found within 10%", () => {
  for (const truth of [1500, 4000, 9000]) {
    const s = simulate(truth, 10_000, 1_800_000, 10, 0.1);
    const r = s.bracket.result();
    assert.ok(r.lowMs < truth && truth <= r.highMs!, `${truth} outside ${JSON.stringify(r)}`);
    assert.ok(r.highMs! <= r.lowMs * 1.1 || r.highMs! - r.lowMs <= 50, JSON.stringify(r));
    assert.ok(s.maxOpen <= 10);
  }
});
