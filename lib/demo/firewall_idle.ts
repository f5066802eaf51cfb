/**
 * `demo --scenario firewall-idle`: a real Linux stateful firewall between client and server
 * forgets idle connections, as NAT gateways, load balancers and firewalls do (AWS NLB 350 s, Azure
 * LB 4 min, many home routers less). Two clients idle through it, one with keep-alive and one
 * without, then each sends a message: the keep-alive client's probes kept the firewall's
 * connection-tracking entry alive and its echo comes back; the other's data is dropped.
 *
 * Topology: client ns ─ veth ─ router ns ─ veth ─ server ns. The router forwards with nftables
 * (policy drop; established/related and new SYNs accepted) and a conntrack established-timeout of
 * --firewall-timeout, with nf_conntrack_tcp_loose=0 so a forgotten connection is not re-adopted.
 */
import type { ClientConfig } from "../roles/client.ts";
import { UsageError } from "../errors.ts";
import type { EventProcess } from "../process/event_process.ts";
import type { EventOf } from "../events.ts";
import { formatDuration } from "../duration.ts";
import { mustRun, run } from "../netns/run.ts";
import { requireRoot, Topology } from "../netns/topology.ts";
import { CaptureCollector } from "./capture_collector.ts";
import { clientArgs, startRole, startServerIn } from "./roles_in_ns.ts";
import type { EvidenceChoice } from "./seed.ts";
import { Timeline } from "./timeline.ts";

export interface FirewallConfig {
  firewallTimeoutMs: number;
  idleForMs: number;
  /** The 'ka' client's keep-alive (the client flags --period, --idle, --interval, --count). */
  keepalive: { idleMs: number; intervalMs: number; count?: number };
  /** Both clients' TCP_USER_TIMEOUT (--user-timeout): when their unanswered data is given up. */
  userTimeoutMs: number;
  /** What both clients send after idling (--message). */
  message: string;
  /** Allow keep-alive timings that cannot beat the timeout, to watch keep-alive fail too. */
  showFailure: boolean;
}

/**
 * Without TCP_USER_TIMEOUT Linux would retransmit for about 15 minutes (tcp_retries2) before a
 * client heard that its data is lost.
 */
export const FIREWALL_DEFAULTS = {
  firewallTimeoutMs: 5000,
  idleForMs: 8000,
  userTimeoutMs: 3000,
  message: "still there?",
};

const NET = {
  client: "10.73.1.1",
  routerC: "10.73.1.2",
  routerS: "10.73.2.1",
  server: "10.73.2.2",
};

/** How long the demo waits beyond the user timeout before calling it "no answer" itself. */
const ECHO_MARGIN_MS = 2000;

/** The longest silence keep-alive leaves: before the first probe, or between two. */
function longestGap(config: FirewallConfig): number {
  return Math.max(config.keepalive.idleMs, config.keepalive.intervalMs);
}

/** "every 2s", or "idle 3s, then every 2s" when they differ. */
function keepAliveText({ keepalive: k }: FirewallConfig): string {
  return k.idleMs === k.intervalMs
    ? `every ${formatDuration(k.intervalMs)}`
    : `idle ${formatDuration(k.idleMs)}, then every ${formatDuration(k.intervalMs)}`;
}

function rules(): string {
  return `table inet tcpka_fw {
  chain forward_filter {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    tcp flags & (syn | ack) == syn ct state new accept
    counter comment "packets of connections the firewall does not know"
  }
}
`;
}

/** Refuses settings that cannot show the effect, in one line each (before any side effect). */
export function validateFirewall(config: FirewallConfig): void {
  const t = formatDuration(config.firewallTimeoutMs);
  if (config.firewallTimeoutMs < 1000 || config.firewallTimeoutMs % 1000 !== 0) {
    throw new UsageError(
      `demo: --firewall-timeout must be whole seconds, at least 1s (conntrack counts seconds)`,
    );
  }
  if (config.idleForMs <= config.firewallTimeoutMs) {
    throw new UsageError(
      `demo: --idle-for ${
        formatDuration(config.idleForMs)
      } must be longer than --firewall-timeout ${t}, ` +
        `or the firewall never forgets the idle connection`,
    );
  }
  if (longestGap(config) >= config.firewallTimeoutMs && !config.showFailure) {
    const k = config.keepalive;
    const what = k.idleMs === k.intervalMs
      ? `--period of ${formatDuration(k.intervalMs)}`
      : k.idleMs >= k.intervalMs
      ? `--idle of ${formatDuration(k.idleMs)}`
      : `--interval of ${formatDuration(k.intervalMs)}`;
    throw new UsageError(
      `demo: a keep-alive ${what} cannot beat a ${t} firewall ` +
        `timeout; choose a shorter period, or add --show-failure to watch it fail`,
    );
  }
}

interface Outcome {
  name: string;
  keepalive: string;
  expectEcho: boolean;
  result: string;
  echoed: boolean;
  rttMs: number | null;
  /** Why no echo came: ETIMEDOUT, how the connection ended, or null (none came, or it did). */
  error: string | null;
}

export async function runFirewallIdleDemo(
  client: ClientConfig,
  fw: FirewallConfig,
  evidence: EvidenceChoice,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  requireRoot("demo --scenario firewall-idle");
  const timeline = new Timeline(json, "firewall-idle");
  const port = client.port;
  const topology = await Topology.create(["client", "router", "server"], [
    {
      a: { ns: "client", ifname: "c-eth0", cidr: `${NET.client}/30` },
      b: { ns: "router", ifname: "r-eth0", cidr: `${NET.routerC}/30` },
    },
    {
      a: { ns: "router", ifname: "r-eth1", cidr: `${NET.routerS}/30` },
      b: { ns: "server", ifname: "s-eth0", cidr: `${NET.server}/30` },
    },
  ]);
  const children: EventProcess[] = [];
  const captures: CaptureCollector[] = [];
  const onAbort = () => children.forEach((c) => c.stop());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await configureRouter(topology, fw.firewallTimeoutMs);
    timeline.note(
      `client ${NET.client} → router (stateful firewall, forgets idle connections after ` +
        `${formatDuration(fw.firewallTimeoutMs)}) → server ${NET.server}`,
    );
    if (evidence !== "kernel") await startCaptures(topology, port, timeline, captures, evidence);

    children.push(await startServerIn(topology, "server", timeline, NET.server, port));

    const common = clientArgs(NET.server, port);
    const idle = [
      "--send-after",
      `${fw.idleForMs}ms`,
      "--message",
      fw.message,
      "--user-timeout",
      `${fw.userTimeoutMs}ms`,
    ];
    const { idleMs, intervalMs, count } = fw.keepalive;
    const withKa = startRole(topology, "client", timeline, "ka", [
      ...common,
      ...idle,
      "--idle",
      `${idleMs}ms`,
      "--interval",
      `${intervalMs}ms`,
      ...(count === undefined ? [] : ["--count", String(count)]),
    ]);
    const withoutKa = startRole(topology, "client", timeline, "no-ka", [
      ...common,
      ...idle,
      "--no-keepalive",
    ]);
    children.push(withKa, withoutKa);
    timeline.note(
      `two clients idle for ${formatDuration(fw.idleForMs)}: 'ka' with keep-alive ` +
        `${keepAliveText(fw)}, 'no-ka' without; then each sends a message and waits ` +
        `for the echo (each gives up after ${formatDuration(fw.userTimeoutMs)} of unacknowledged ` +
        "data: TCP_USER_TIMEOUT)",
    );

    const echoWaitMs = fw.userTimeoutMs + ECHO_MARGIN_MS;
    const deadline = fw.idleForMs + echoWaitMs + 2000;
    const results = await Promise.all([withKa, withoutKa].map((p) => settle(p, deadline, signal)));
    await new Promise((r) => setTimeout(r, 300));
    for (const c of captures) await c.stop();
    if (signal.aborted) return 130;

    const dropped = await droppedPackets(topology);
    timeline.note(`the firewall dropped ${dropped} packets of connections it had forgotten`);
    const outcomes: Outcome[] = [
      outcome(
        "ka",
        keepAliveText(fw),
        longestGap(fw) < fw.firewallTimeoutMs,
        results[0],
        fw.userTimeoutMs,
      ),
      outcome("no-ka", "off", false, results[1], fw.userTimeoutMs),
    ];
    printVerdict(timeline, fw, outcomes);
    return outcomes.every((o) => o.echoed === o.expectEcho) ? 0 : 1;
  } finally {
    signal.removeEventListener("abort", onAbort);
    for (const child of children) child.stop("SIGKILL");
    await Promise.all(children.map((c) => c.done.catch(() => {})));
    for (const c of captures) await c.stop().catch(() => {});
    await topology.remove();
  }
}

async function configureRouter(topology: Topology, timeoutMs: number): Promise<void> {
  const r = topology.exec("router");
  await mustRun([...r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await mustRun([...topology.exec("client"), "ip", "route", "add", "default", "via", NET.routerC]);
  await mustRun([...topology.exec("server"), "ip", "route", "add", "default", "via", NET.routerS]);
  // The ruleset's ct expressions load conntrack, which creates the namespace's sysctls below.
  await mustRun([...r, "nft", "-f", "-"], rules());
  await mustRun([
    ...r,
    "sysctl",
    "-qw",
    `net.netfilter.nf_conntrack_tcp_timeout_established=${timeoutMs / 1000}`,
    "net.netfilter.nf_conntrack_tcp_loose=0",
  ]);
}

async function startCaptures(
  topology: Topology,
  port: number,
  timeline: Timeline,
  captures: CaptureCollector[],
  evidence: EvidenceChoice,
): Promise<void> {
  for (const [iface, label] of [["r-eth0", "fw-in"], ["r-eth1", "fw-out"]]) {
    const capture = new CaptureCollector(
      { port, iface, prefix: topology.exec("router"), label },
      timeline,
    );
    try {
      await capture.start();
      captures.push(capture);
    } catch (err) {
      await capture.stop().catch(() => {});
      if (evidence === "capture") throw err;
      timeline.note(
        `no packet capture (${
          (err as Error).message.replace(/;.*/, "")
        }); showing the clients' view only`,
      );
      return;
    }
  }
  timeline.note("capturing on both sides of the router: fw-in (client side), fw-out (server side)");
}

interface Settled {
  echo: EventOf<"echo"> | null;
  closed: EventOf<"closed"> | null;
  waitedMs: number;
}

async function settle(p: EventProcess, deadlineMs: number, signal: AbortSignal): Promise<Settled> {
  const started = performance.now();
  const closed = await Promise.race([
    p.waitFor((e) => e.type === "closed", deadlineMs).catch(() => null),
    new Promise<null>((r) => signal.addEventListener("abort", () => r(null), { once: true })),
  ]) as EventOf<"closed"> | null;
  const echo = p.events.find((e): e is EventOf<"echo"> => e.type === "echo") ?? null;
  return { echo, closed, waitedMs: performance.now() - started };
}

function outcome(
  name: string,
  keepalive: string,
  expectEcho: boolean,
  s: Settled,
  userTimeoutMs: number,
): Outcome {
  let result: string;
  if (s.echo) result = `echo received (round trip ${formatDuration(s.echo.rttMs)})`;
  else if (s.closed?.reason === "timed-out") {
    result = `no answer: ETIMEDOUT after ${formatDuration(userTimeoutMs)} of retransmitting`;
  } else if (s.closed) {
    result = `no answer: ${s.closed.reason}${s.closed.error ? ` (${s.closed.error})` : ""}`;
  } else {
    result = `no answer within ${
      formatDuration(userTimeoutMs + ECHO_MARGIN_MS)
    }: the data is retransmitted and dropped`;
  }
  const error = s.echo
    ? null
    : s.closed
    ? (s.closed.reason === "timed-out" ? "ETIMEDOUT" : s.closed.reason)
    : null;
  return {
    name,
    keepalive,
    expectEcho,
    result,
    echoed: s.echo !== null,
    rttMs: s.echo?.rttMs ?? null,
    error,
  };
}

async function droppedPackets(topology: Topology): Promise<number> {
  const out = await run([...topology.exec("router"), "nft", "list", "table", "inet", "tcpka_fw"]);
  return Number(/counter packets (\d+)/.exec(out.stdout)?.[1] ?? 0);
}

function printVerdict(timeline: Timeline, fw: FirewallConfig, outcomes: Outcome[]): void {
  timeline.table(
    `Verdict: which idle connection survived a ${
      formatDuration(fw.firewallTimeoutMs)
    } firewall timeout?`,
    ["connection", "keep-alive", "idle", "firewall timeout", "expected", "result"],
    outcomes.map((o) => ({
      cells: [
        o.name,
        o.keepalive,
        formatDuration(fw.idleForMs),
        formatDuration(fw.firewallTimeoutMs),
        o.expectEcho ? "echo" : "no answer",
        o.result,
      ],
      pass: o.echoed === o.expectEcho,
      values: {
        configured: {
          keepaliveIdleMs: o.name === "ka" ? fw.keepalive.idleMs : null,
          keepaliveIntervalMs: o.name === "ka" ? fw.keepalive.intervalMs : null,
          idleMs: fw.idleForMs,
          firewallTimeoutMs: fw.firewallTimeoutMs,
          result: o.expectEcho ? "echo" : "no-answer",
        },
        observed: { result: o.echoed ? "echo" : "no-answer", rttMs: o.rttMs, error: o.error },
      },
    })),
  );
}
