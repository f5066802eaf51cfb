import assert from "assert";
import { expectedProbes, judge } from "../lib/demo/verdict.ts";
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
  assert.equal(slow.rows.find((r) => r.check === "probe interval")!.pass, false);
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
