/** inspect's pure parts: ss's listing, the verdict model, the Prometheus view. */
import assert from "assert";
import { parseListing, ssArgs, SsListingParser } from "../lib/inspect/listing.ts";
import { idleOf, inferReading, type InspectReport } from "../lib/inspect/model.ts";
import { verdictFor } from "../lib/inspect/verdict.ts";
import { renderPrometheus } from "../lib/inspect/prometheus.ts";
import { explainProcessError } from "../lib/inspect/access.ts";
import { ProcessAccessError } from "../lib/socket/mod.ts";

// Real `ss -tnoiepH state all` lines (iproute2 6.1), shortened details.
const ALL =
  `LISTEN 0      128    127.0.0.1:59059   0.0.0.0:*     users:(("python3",pid=6946,fd=3)) ino:44813 sk:1004 cgroup:/ <->
\t bbr cwnd:10
ESTAB  0      0      127.0.0.1:34706 127.0.0.1:59059 users:(("python3",pid=6946,fd=4)) timer:(keepalive,28sec,0) ino:44814 sk:1005 cgroup:/ <->
\t ts sack bbr wscale:10,10 rto:204 rtt:0.031/0.017 mss:32768 bytes_sent:2 segs_out:3 segs_in:2 send 93018838710bps lastsnd:1812 lastrcv:1900 lastack:1700 pacing_rate 1bps retrans:1/7 delivered:2
ESTAB  2      5      [::ffff:127.0.0.1]:80 [::ffff:10.0.0.9]:5555 users:(("my server",pid=10,fd=7),("my server",pid=11,fd=7)) timer:(on,200ms,3) ino:44815 sk:1006 cgroup:/ <->
\t ts sack cubic lastsnd:10 lastrcv:20 lastack:30
ESTAB  0      0      127.0.0.1:34708 127.0.0.1:59059 users:(("python3",pid=6946,fd=5)) ino:44816 sk:1007 cgroup:/ <->
\t ts sack cubic segs_out:9 segs_in:9 lastrcv:5
LISTEN 0      4096   *:22 *:* users:(("sshd",pid=1,fd=3)) ino:1 sk:1 cgroup:/ <->
`;

Deno.test("ss listing: endpoints, owners (several, names with spaces), timers, idle, retransmits", () => {
  const [listen, ka, shared, justNow, wildcard] = parseListing(ALL);
  // ss leaves out lastsnd/lastack when they are 0 (this jiffy); a listener has none.
  assert.deepEqual([justNow.lastSndMs, justNow.lastRcvMs, justNow.lastAckMs], [0, 5, 0]);
  assert.deepEqual([listen.lastSndMs, listen.lastAckMs], [null, null]);
  assert.deepEqual(
    [listen.state, listen.local, listen.localPort, listen.peer, listen.peerPort, listen.timer],
    ["LISTEN", "127.0.0.1", 59059, "0.0.0.0", 0, null],
  );
  assert.deepEqual(listen.owners, [{ command: "python3", pid: 6946, fd: 3 }]);
  assert.deepEqual(ka.timer, { name: "keepalive", ms: 28_000, count: 0 });
  assert.deepEqual(
    [ka.lastSndMs, ka.lastRcvMs, ka.lastAckMs, ka.retransmits, ka.totalRetransmits, ka.inode],
    [1812, 1900, 1700, 1, 7, 44814],
  );
  assert.equal(ka.cookie, 0x1005); // ss -e's sk:, the socket's SO_COOKIE in hex
  assert.equal(idleOf(ka), 1700);
  assert.deepEqual([shared.recvQ, shared.sendQ, shared.local, shared.peer], [
    2,
    5,
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.9",
  ]);
  assert.deepEqual(shared.owners.map((o) => [o.command, o.pid, o.fd]), [
    ["my server", 10, 7],
    ["my server", 11, 7],
  ]);
  assert.deepEqual([wildcard.local, wildcard.localPort], ["*", 22]);
});

Deno.test("ss listing: one selected state leaves out the State column; chunks split anywhere", () => {
  const text = ALL.split("\n").slice(2, 6).map((l) => l.replace(/^ESTAB\s+/, "")).join("\n");
  const seen: number[] = [];
  const whole = parseListing(text, "ESTAB");
  assert.equal(whole.length, 2);
  assert.ok(whole.every((s) => s.state === "ESTAB"));
  assert.deepEqual(whole.map((s) => s.recvQ), [0, 2]);
  // Fed a few bytes at a time, the parser gives the same sockets, each once, as completed.
  for (const size of [1, 7, 100]) {
    const parser = new SsListingParser("ESTAB", (s) => seen.push(s.localPort));
    for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
    assert.deepEqual(parser.end(), whole);
  }
  assert.deepEqual(seen, [34706, 80, 34706, 80, 34706, 80]);
});

Deno.test("ss arguments: states and filters in ss's own syntax", () => {
  assert.deepEqual(ssArgs({ states: "established" }), ["-tnoiepH", "state", "established"]);
  // Root's inspect finds owners itself (owner_scan.ts): no -p, and no -i (TCP_INFO per socket).
  assert.deepEqual(ssArgs({ states: "established", details: false, owners: false }), [
    "-tnoeH",
    "state",
    "established",
  ]);
  assert.deepEqual(ssArgs({ states: "established+listening", port: 80 }), [
    "-tnoiepH",
    "state",
    "established",
    "state",
    "listening",
    "( sport = :80 or dport = :80 )",
  ]);
  assert.deepEqual(ssArgs({ states: "all", dst: { address: "::1", port: 443 } }), [
    "-tnoiepH",
    "state",
    "all",
    "dst [::1]:443",
  ]);
});

const [, KA_SOCKET] = parseListing(ALL);
const DEFAULTS = { idleMs: 7_200_000, intervalMs: 75_000, count: 9 };

function judged(enabled: boolean, idleS: number, intervalS: number, timeoutS = 350) {
  return verdictFor(
    {
      socket: KA_SOCKET,
      owner: null,
      idleMs: 1000,
      keepalive: {
        source: "socket",
        enabled,
        values: { idleMs: idleS * 1000, intervalMs: intervalS * 1000, count: 4 },
        userTimeoutMs: 0,
      },
    },
    timeoutS * 1000,
    DEFAULTS,
  );
}

Deno.test("verdicts: off, too slow, tight, safe; the next probe from ss's timer", () => {
  assert.equal(judged(false, 30, 5).risk, "at-risk");
  assert.equal(judged(true, 7200, 75).text, "keep-alive too slow: first probe after 2h ≥ 350s");
  assert.equal(judged(true, 350, 5).risk, "at-risk"); // a probe at exactly the timeout races it
  assert.equal(judged(true, 60, 400).risk, "at-risk"); // answered probes come max(idle, interval) apart
  assert.equal(judged(true, 300, 60).risk, "tight");
  const safe = judged(true, 30, 5);
  assert.deepEqual([safe.risk, safe.text, safe.nextProbeMs], [
    "safe",
    "safe: probes every 30s",
    30_000 - 1700, // idle after the last segment received; ss's "28sec" is truncated
  ]);
});

Deno.test("next probe: traffic since the timer was armed delays the probe past ss's timer", () => {
  // Python, idle 30s: data arrived 7.3s ago, the lazily armed timer fires in 12s, finds the
  // connection not silent for 30s, and re-arms: the probe leaves in 22.7s (seen on the wire).
  const socket = { ...KA_SOCKET, timer: { name: "keepalive", ms: 12_000, count: 0 } };
  const at = (lastRcvMs: number, lastAckMs: number, idleS: number, intervalS: number) =>
    verdictFor(
      {
        socket: { ...socket, lastRcvMs, lastAckMs },
        owner: null,
        idleMs: Math.min(lastRcvMs, lastAckMs),
        keepalive: {
          source: "socket",
          enabled: true,
          values: { idleMs: idleS * 1000, intervalMs: intervalS * 1000, count: 9 },
          userTimeoutMs: 0,
        },
      },
      60_000,
      DEFAULTS,
    ).nextProbeMs;
  assert.equal(at(7300, 7300, 30, 5), 22_700);
  assert.equal(at(17_300, 7300, 30, 5), 22_700); // an ACK counts as much as data
  // interval > idle: after an answered probe the timer runs one interval; it is the later one.
  assert.equal(at(1000, 1000, 1, 5), 12_000);
});

Deno.test("inferred: keep-alive on from ss's timer bounds the idle time from below", () => {
  const r = inferReading(KA_SOCKET, "no privilege");
  assert.deepEqual([r.source, r.enabled, r.idleAtLeastMs], ["inferred", true, 28_000 + 1700]);
  const [, , retransmitting] = parseListing(ALL);
  assert.equal(inferReading(retransmitting, "x").enabled, null); // the retransmit timer hides it
  const v = verdictFor(
    { socket: KA_SOCKET, owner: null, idleMs: 1700, keepalive: r },
    20_000,
    DEFAULTS,
  );
  assert.equal(v.risk, "at-risk");
  assert.match(v.text, /at least 29.0s ≥ 20s \(inferred\)/);
});

Deno.test("prometheus: label values escaped, one series per process/state/keep-alive", () => {
  const [listen, ka] = parseListing(ALL);
  const conn = (socket: typeof ka, enabled: boolean) => ({
    socket,
    owner: null,
    idleMs: 1700,
    verdict: null,
    keepalive: {
      source: "socket" as const,
      enabled,
      values: { idleMs: null, intervalMs: null, count: null },
      userTimeoutMs: 0,
    },
  });
  const report: InspectReport = {
    time: 0,
    namespace: { pid: null, name: null },
    access: { source: "socket" },
    pathTimeoutMs: null,
    systemDefaults: DEFAULTS,
    groups: [{
      pid: 1,
      command: 'we"ird\\name',
      connections: [conn(listen, false), conn(ka, true), conn(ka, true)],
    }],
  };
  const lines = renderPrometheus(report);
  assert.ok(
    lines.includes(
      'tcpka_connections{process="we\\"ird\\\\name",state="established",keepalive="on"} 2',
    ),
  );
  assert.ok(
    lines.includes(
      'tcpka_connections{process="we\\"ird\\\\name",state="listen",keepalive="off"} 1',
    ),
  );
  assert.ok(!lines.some((l) => l.startsWith("tcpka_connections_at_risk")));
  assert.ok(lines.includes('tcpka_connection_idle_seconds_max{process="we\\"ird\\\\name"} 1.700'));
});

Deno.test("refusals in one line: no pidfd (Linux < 5.6), a process gone", async () => {
  assert.equal(
    await explainProcessError(
      new ProcessAccessError("unsupported", "pidfd_open", "pidfd_open: Function not implemented"),
      42,
    ),
    "pidfd_open: not available: reading another process's sockets needs Linux ≥ 5.6",
  );
  assert.equal(
    await explainProcessError(new ProcessAccessError("exited", "pidfd_open", "x"), 42),
    "process 42 exited",
  );
});
