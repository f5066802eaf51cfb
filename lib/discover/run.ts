/**
 * A discover run: the ladder, then pipelined refinement, over at most `connections` connections
 * at a time, until the bracket is within the precision (or an end is seen directly, or --max is
 * survived, or Ctrl-C). Events go to the reporter; the last is the result.
 */
import type { Reporter } from "../report/reporter.ts";
import { Bracket, type Edge } from "./bracket.ts";
import { ladder, OPEN_LEAD, shadowRungs } from "./ladder.ts";
import { estimate, plan } from "./plan.ts";
import { type ProbeConnection, type ProbeOutcome, Prober } from "./prober.ts";
import { recommend } from "./recommend.ts";
import { Anomalies } from "./anomalies.ts";
import { formatRange } from "../report/discover_view.ts";
import type { RstWitness } from "./rst_source.ts";

export interface DiscoverConfig {
  host: string;
  port: number;
  minMs: number;
  maxMs: number;
  connections: number;
  /** 0.1 = the range's high end is at most 10% above its low end. */
  precision: number;
  intervalMs: number;
  count: number;
  connectTimeoutMs: number;
  json: boolean;
}

/** How often a probe in flight is checked (TCP_INFO): the answer is seen this much late at most. */
const POLL_MS = 20;
/** A range this narrow is as precise as firing a probe can be (a jiffy and our timers). */
const RESOLUTION_MS = 50;
/** TCP_KEEPIDLE's minimum: no shorter idle can be tested. */
const MIN_TEST_MS = 1000;
/** How long to wait for connections still being opened when the run ends. */
const OPENING_GRACE_MS = 1000;

export async function runDiscover(
  config: DiscoverConfig,
  reporter: Reporter,
  signal: AbortSignal,
  witness: RstWitness | null = null,
): Promise<number> {
  const prober = await Prober.create({
    host: config.host,
    port: config.port,
    intervalMs: config.intervalMs,
    count: config.count,
    connectTimeoutMs: config.connectTimeoutMs,
  });
  const rungs = ladder(config.minMs, config.maxMs, config.connections);
  const unopened = [...rungs, ...shadowRungs(rungs)];
  let started = performance.now();
  const bracket = new Bracket();
  const live = new Map<number, ProbeConnection>();
  const openings = new Set<Promise<void>>();
  const outcomes: [ProbeConnection, ProbeOutcome][] = [];
  let nextId = 1;
  let answered = 0;
  let forgotten = 0;
  let longestIdleMs = 0;
  let fatal: unknown = null;
  let wake = () => {};
  let finishedAt = 0;
  const anomalies = new Anomalies();
  const warn = (message: string | null) => {
    if (message) reporter.emit({ type: "warning", time: Date.now(), message });
  };

  const onOutcome = (c: ProbeConnection, o: ProbeOutcome) => {
    outcomes.push([c, o]);
    wake();
  };
  const openConnection = (rung: number | null): Promise<void> => {
    const id = nextId++;
    const opening = prober.open(id, rung, onOutcome).then(
      (c) => {
        live.set(id, c);
      },
      (err) => {
        fatal ??= err;
      },
    ).finally(() => {
      openings.delete(opening);
      wake();
    });
    openings.add(opening);
    return opening;
  };
  const openRung = (rungMs: number): Promise<void> => {
    unopened.splice(unopened.indexOf(rungMs), 1);
    // Shadow rungs above --max are spares from the start (ladder.ts).
    return openConnection(rungMs > config.maxMs ? null : rungMs);
  };

  const handle = (c: ProbeConnection, o: ProbeOutcome) => {
    if (c.closed) return; // already answered another way
    live.delete(c.id);
    if (o.kind === "ended" || o.kind === "failed") {
      // Its rung is still a question: ask it again on a new connection.
      if (c.rungMs !== null && c.firedAt === null && !unopened.includes(c.rungMs)) {
        unopened.push(c.rungMs);
        unopened.sort((a, b) => a - b);
      }
    }
    const time = Date.now();
    if (o.kind === "failed") {
      c.close(true);
      reporter.emit({ type: "warning", time, message: `#${c.id} failed: ${o.error}` });
      return;
    }
    const contradictionsBefore = bracket.contradictions;
    bracket.record(o);
    if (bracket.contradictions > contradictionsBefore && o.kind === "answered") {
      warn(anomalies.contradicted(c.id, o.idleMs));
    }
    const { lowMs, highMs } = bracket.state;
    if (o.kind === "ended") {
      c.close(o.edge === "reset");
      warn(anomalies.ended(o.atMs, o.ageMs));
      forgotten++;
      longestIdleMs = Math.max(longestIdleMs, o.ageMs);
      reporter.emit({ type: "ended", time, id: c.id, ageMs: o.ageMs, edge: o.edge, lowMs, highMs });
      return;
    }
    c.close(o.kind === "forgotten");
    longestIdleMs = Math.max(longestIdleMs, o.idleMs);
    warn(anomalies.peerSent(c.id, c.peerSegmentsWhileIdle));
    if (o.kind === "answered") answered++;
    else forgotten++;
    reporter.emit({
      type: "probe",
      time,
      id: c.id,
      idleMs: o.idleMs,
      outcome: o.kind === "answered" ? "answered" : o.edge,
      ...(o.kind === "answered" ? {} : { by: o.by }),
      lowMs,
      highMs,
    });
  };

  const progress = setInterval(() => {
    const { lowMs, highMs } = bracket.state;
    reporter.progress(
      `${live.size} open, ${answered} answered, ${forgotten} forgotten · ` +
        `${((performance.now() - started) / 1000).toFixed(1)}s · ${formatRange(lowMs, highMs)}`,
    );
  }, 250);
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });

  let measuring = false;
  let failure: unknown = null;
  try {
    await witness?.start();
    started = performance.now();
    // One connection first: an unreachable target is one error, not `connections` of them.
    await openRung(rungs[0]);
    if (fatal) throw fatal;
    reporter.emit({
      type: "discovering",
      time: Date.now(),
      address: prober.target,
      connections: config.connections,
      ladderMs: rungs,
      precision: config.precision,
      worstMs: estimate(config.maxMs).worstMs,
      intervalMs: config.intervalMs,
      count: config.count,
    });
    measuring = true;

    while (!signal.aborted && fatal === null) {
      const now = performance.now();
      for (const c of live.values()) {
        const o = c.check(now);
        if (o) outcomes.push([c, o]);
      }
      for (const [c, o] of outcomes.splice(0)) handle(c, o);
      if (bracket.done(config.precision, config.maxMs, RESOLUTION_MS)) break;

      const waiting = [...live.values()].filter((c) => c.firedAt === null);
      const inFlight = [...live.values()].filter((c) => c.firedAt !== null);
      const elapsedMs = now - started;
      const next = plan({
        elapsedMs,
        unopenedRungs: unopened,
        lowMs: bracket.lowMs,
        highMs: bracket.highMs,
        pendingMs: inFlight.map((c) => c.firedIdleMs),
        idle: waiting.map((c) => ({ id: c.id, ageMs: c.ageMs(now), rungMs: c.rungMs })),
        live: live.size + openings.size,
        capacity: config.connections,
        precision: config.precision,
        maxMs: config.maxMs,
        minTestMs: MIN_TEST_MS,
      });
      for (const id of next.close) {
        live.get(id)?.close(true);
        live.delete(id);
      }
      let sleepMs = inFlight.length > 0 ? POLL_MS : Infinity;
      for (const [id, atMs] of next.fireAt) {
        const c = live.get(id)!;
        const wait = atMs - c.ageMs(now);
        if (wait <= 0) {
          c.fire();
          sleepMs = POLL_MS;
        } else {
          sleepMs = Math.min(sleepMs, wait);
        }
      }
      for (const rung of next.openRungs) openRung(rung);
      for (let i = 0; i < next.openSpares; i++) openConnection(null);
      // The next rung's opening time is a moment to plan again.
      const due = unopened.find((x) => x * OPEN_LEAD > elapsedMs);
      if (due !== undefined) sleepMs = Math.min(sleepMs, due * OPEN_LEAD - elapsedMs);

      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        aborted,
        new Promise<void>((resolve) => {
          wake = resolve;
          if (Number.isFinite(sleepMs)) timer = setTimeout(resolve, Math.max(1, sleepMs));
        }),
      ]);
      clearTimeout(timer);
      wake = () => {};
    }
    if (fatal) throw fatal;
  } catch (err) {
    // Before the first connection: just the error. Later: the range so far, then the error.
    if (!measuring) throw err;
    failure = err;
  } finally {
    finishedAt = performance.now();
    clearInterval(progress);
    reporter.progress(null);
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...openings]),
      new Promise((r) => graceTimer = setTimeout(r, OPENING_GRACE_MS)),
    ]);
    clearTimeout(graceTimer);
    const high = bracket.highMs;
    for (const c of live.values()) c.close(high !== null && c.ageMs() >= high);
    live.clear();
    await witness?.stop();
  }

  const result = bracket.result();
  const rst = result.edge === "reset" && witness ? witness.verdict() : null;
  reporter.emit({
    type: "result",
    time: Date.now(),
    address: prober.target,
    lowMs: Math.round(result.lowMs),
    highMs: result.highMs === null ? null : Math.round(result.highMs),
    edge: result.edge,
    rstSource: result.edge === "reset" ? (rst?.source ?? "unknown") : null,
    rstHint: result.edge === "reset"
      ? (rst?.hint ??
        "no packet capture (it needs root and tcpdump; --no-capture turns it off): cannot tell who sent the RST")
      : null,
    recommendation: recommend(result.lowMs, result.edge as Edge),
    interrupted: signal.aborted || failure !== null,
    elapsedMs: Math.round(finishedAt - started),
    longestIdleMs: Math.round(longestIdleMs),
    connectionsUsed: nextId - 1,
    precision: config.precision,
  });
  if (failure !== null) throw failure;
  return signal.aborted ? 130 : 0;
}
