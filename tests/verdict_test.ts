import assert from "assert";
import { expectedProbes, judge } from "../lib/demo/verdict.ts";
import {
  answeredProbesWithin,
  classifyProbes,
  detectionTimeMs,
  expectedGapMs,
  withinTimerSlack,
} from "../lib/keepalive/timing.ts";
import type { ConnectionEvidence } from "../lib/demo/evidence.ts";

const ka = { idleMs: 2000, intervalMs: 2000, count: 9 };
const t0 = 1_000_000;

function evidence(probeTimes: number[], answered = true, close?: ConnectionEvidence["close"]) {
  return {
    source: "capture" as const,
    establishedAt: t0,
    probes: probeTimes.map((t) => ({ time: t0 + t, answered })),
    close: close ?? { kind: "fin-by-client" as const, time: t0 + 10_004 },
  };
}

Deno.test("the seed's capture passes: 4 probes 2.016s apart, FIN after 10s", () => {
  const v = judge(
    { keepalive: ka, holdMs: 10_000, close: "fin-by-client" },
    evidence([2011, 4027, 6043, 8059]),
  );
  assert.equal(v.pass, true, JSON.stringify(v.rows));
});

Deno.test("a kernel that ignores the settings fails the verdict", () => {
  // Probes every 75s after 7200s would never show: nothing observed in the hold.
  const none = judge({ keepalive: ka, holdMs: 10_000, close: "fin-by-client" }, evidence([]));
  assert.equal(none.pass, false);
  // Probes at the wrong interval.
  const slow = judge(
    { keepalive: ka, holdMs: 10_000, close: "fin-by-client" },
    evidence([2000, 5000, 8000]),
  );
  assert.equal(slow.pass, false);
  assert.equal(slow.rows.find((r) => r.check === "idle before each probe")!.pass, false);
  // Unanswered probes in a healthy run.
  const deaf = judge(
    { keepalive: ka, holdMs: 10_000, close: "fin-by-client" },
    evidence([2000, 4000, 6000, 8000], false),
  );
  assert.equal(deaf.rows.find((r) => r.check === "probes answered")!.pass, false);
});

Deno.test("a close that differs from the expectation fails", () => {
  const v = judge(
    { keepalive: ka, holdMs: 10_000, close: "fin-by-client" },
    evidence([2000, 4000, 6000, 8000], true, { kind: "rst-by-server", time: t0 + 9000 }),
  );
  assert.equal(v.rows.find((r) => r.check === "how it ended")!.pass, false);
});

Deno.test("dead peer: count unanswered probes and detection at idle + interval × count", () => {
  const dead = { idleMs: 1000, intervalMs: 1000, count: 3 };
  const ok = judge(
    { keepalive: dead, holdMs: 0, close: "timed-out", detectMs: 4000 },
    evidence([1003, 2027, 3051], false, { kind: "timed-out", time: t0 + 4075 }),
  );
  assert.equal(ok.pass, true, JSON.stringify(ok.rows));
  const late = judge(
    { keepalive: dead, holdMs: 0, close: "timed-out", detectMs: 4000 },
    evidence([1003, 2027, 3051], false, { kind: "timed-out", time: t0 + 9000 }),
  );
  assert.equal(late.pass, false);
});

Deno.test("expected probe counts: a probe due exactly at the hold races the close", () => {
  assert.deepEqual(expectedProbes({ keepalive: ka, holdMs: 10_000, close: "fin-by-client" }, ka), {
    low: 4,
    high: 5,
  });
  assert.deepEqual(expectedProbes({ keepalive: ka, holdMs: 9_000, close: "fin-by-client" }, ka), {
    low: 4,
    high: 4,
  });
  assert.deepEqual(expectedProbes({ keepalive: ka, holdMs: 1_000, close: "fin-by-client" }, ka), {
    low: 0,
    high: 0,
  });
});

Deno.test("one probe cannot show an interval; a hold shorter than idle expects none", () => {
  const one = judge(
    {
      keepalive: { idleMs: 1000, intervalMs: 1000, count: 9 },
      holdMs: 2000,
      close: "fin-by-client",
    },
    { ...evidence([1008]), close: { kind: "fin-by-client", time: t0 + 2004 } },
  );
  assert.equal(one.pass, true, JSON.stringify(one.rows));
  const none = judge(
    { keepalive: ka, holdMs: 1000, close: "fin-by-client" },
    { ...evidence([]), close: { kind: "fin-by-client", time: t0 + 1002 } },
  );
  assert.equal(none.pass, true, JSON.stringify(none.rows));
});

Deno.test("keep-alive off: any probe is a mismatch", () => {
  const off = { keepalive: null, holdMs: 10_000, close: "fin-by-client" as const };
  assert.equal(judge(off, evidence([])).pass, true);
  assert.equal(judge(off, evidence([2000])).pass, false);
});

// Linux's timing (lib/keepalive/timing.ts): what issue 11 found the verdict getting wrong.

const row = (v: ReturnType<typeof judge>, check: string) => v.rows.find((r) => r.check === check)!;

Deno.test("idle 3s, interval 1s, answered: probes 3 s apart (not 1 s), and that passes", () => {
  const k = { idleMs: 3000, intervalMs: 1000, count: 9 };
  const expect = { keepalive: k, holdMs: 10_000, close: "fin-by-client" as const };
  assert.deepEqual(expectedProbes(expect, k), { low: 3, high: 3 });
  // A correct kernel: each probe one idle after the previous answer (timer slack included).
  const linux = judge(expect, evidence([3012, 6025, 9038]));
  assert.equal(linux.pass, true, JSON.stringify(linux.rows));
  assert.equal(row(linux, "retry of an unanswered probe").observed, "none");
  // What the old verdict wanted (one probe per interval after the first) is what Linux never does.
  const wrong = judge(expect, evidence([3012, 4020, 5031, 6040, 7050, 8060, 9070]));
  assert.equal(wrong.pass, false);
});

Deno.test("idle 3s, interval 1s, dead peer: 3 s, then 1 s steps, reset after 3 + 1 × 3 = 6 s", () => {
  const k = { idleMs: 3000, intervalMs: 1000, count: 3 };
  assert.equal(detectionTimeMs(k), 6000);
  const v = judge(
    { keepalive: k, holdMs: 0, close: "timed-out", detectMs: 6000 },
    evidence([3010, 4020, 5031], false, { kind: "timed-out", time: t0 + 6041 }),
  );
  assert.equal(v.pass, true, JSON.stringify(v.rows));
  assert.match(row(v, "retry of an unanswered probe").observed, /^1\.0\d*s median/);
  const kinds = classifyProbes([3010, 4020, 5031].map((t) => ({ time: t, answered: false })), 0);
  assert.deepEqual(kinds.map((p) => [p.kind, p.gapMs]), [
    ["idle", 3010],
    ["retry", 1010],
    ["retry", 1011],
  ]);
});

Deno.test("idle 1s, interval 3s, answered: the first after 1 s, then every 3 s", () => {
  const k = { idleMs: 1000, intervalMs: 3000, count: 9 };
  assert.equal(expectedGapMs("idle", k), 1000);
  assert.equal(expectedGapMs("answered", k), 3000);
  assert.equal(expectedGapMs("retry", k), 3000);
  assert.deepEqual(answeredProbesWithin(k, 8000), { low: 3, high: 3 }); // 1, 4, 7
  const v = judge(
    { keepalive: k, holdMs: 8000, close: "fin-by-client" },
    { ...evidence([1010, 4021, 7032]), close: { kind: "fin-by-client", time: t0 + 8004 } },
  );
  assert.equal(v.pass, true, JSON.stringify(v.rows));
  assert.match(row(v, "idle before each probe").configured, /1s, then 3s/);
});

Deno.test("data between probes: each probe one idle after the data, measured by the capture", () => {
  // keep-alive 1/1/3, a byte sent at 2.5 s and 4.5 s: probes at 1, 2, 3.5, 5.5 (each 1 s after the
  // last segment received), which the capture reports as measured gaps, not 1.5 s "intervals".
  const k = { idleMs: 1000, intervalMs: 1000, count: 3 };
  const probes = [
    { time: t0 + 1005, answered: true, kind: "idle" as const, gapMs: 1005 },
    { time: t0 + 2009, answered: true, kind: "answered" as const, gapMs: 1004 },
    { time: t0 + 3507, answered: true, kind: "idle" as const, gapMs: 1006 },
    { time: t0 + 5508, answered: true, kind: "idle" as const, gapMs: 1007 },
  ];
  const v = judge(
    { keepalive: k, holdMs: 6000, close: "fin-by-client" },
    { ...evidence([]), probes, close: { kind: "fin-by-client", time: t0 + 6003 } },
  );
  assert.equal(row(v, "idle before each probe").pass, true, JSON.stringify(v.rows));
  assert.equal(row(v, "retry of an unanswered probe").pass, true);
});

Deno.test("the seed's 2s / 2s: 4-5 probes in 10 s, 2 s apart", () => {
  assert.deepEqual(answeredProbesWithin(ka, 10_000), { low: 4, high: 5 });
  assert.equal(expectedGapMs("answered", ka), 2000);
});

Deno.test("long timers may fire up to an eighth late (the kernel's timer wheel), never early", () => {
  assert.equal(withinTimerSlack(3253, 3000, 250), true, "a 3 s timer 253 ms late (HZ=250)");
  assert.equal(withinTimerSlack(134_000, 120_000, 250), true, "a 120 s idle 14 s late");
  assert.equal(withinTimerSlack(119_000, 120_000, 250), false, "never a second early");
  assert.equal(withinTimerSlack(2400, 2000, 250), false, "a 2 s timer is not 400 ms late");
});
