/**
 * `demo --scenario firewall-idle`: a real Linux stateful firewall between client and server
 * forgets idle connections, as NAT gateways, load balancers and firewalls do (AWS NLB 350 s, Azure
 * LB 4 min, many home routers less). Two clients idle through it, one with keep-alive and one
 * without, then each sends a message: the keep-alive client's probes kept the firewall's
 * connection-tracking entry alive and its echo comes back; the other's data is dropped.
 *
 * Topology: client ns ─ veth ─ router ns ─ veth ─ server ns (lib/netns/firewall_path.ts, kind
 * "firewall-drop"), with a conntrack established-timeout of --firewall-timeout.
 */
import type { ClientConfig } from "../roles/client.ts";
import { UsageError } from "../errors.ts";
import type { EventProcess } from "../process/event_process.ts";
import type { EventOf } from "../events.ts";
import { formatDuration } from "../duration.ts";
import {
  createFirewallPath,
  droppedPackets,
  PATH_NET,
  ROUTER_IFACES,
} from "../netns/firewall_path.ts";
import { requireRoot, type Topology } from "../netns/topology.ts";
import { CaptureCollector } from "./capture_collector.ts";
import { clientArgs, startRole, startServerIn } from "./roles_in_ns.ts";
import type { EvidenceChoice } from "./seed.ts";
import { type Scenario, Timeline } from "./timeline.ts";

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

export interface Outcome {
  name: string;
  keepalive: string;
  expectEcho: boolean;
  result: string;
  echoed: boolean;
  rttMs: number | null;
  /** Why no echo came: ETIMEDOUT, how the connection ended, or null (none came, or it did). */
  error: string | null;
  /** The keep-alive this connection had (null: none), as numbers for the JSON view. */
  timings: { idleMs: number; intervalMs: number } | null;
}

/** What a scenario behind the firewall gets to start its clients with. */
export interface FirewallStage {
  topology: Topology;
  timeline: Timeline;
  /** Every client's flags: reach the server, idle, send, give up after the user timeout. */
  clientArgs: string[];
  /** Ctrl-C (or the reader of stdout gone): stop starting things and return. */
  signal: AbortSignal;
  /** Every child started must pass through here, so that an abort or an error stops it. */
  track<T extends EventProcess>(child: T): T;
}

/**
 * The frame every scenario behind the firewall shares: the firewall path, the captures on both
 * sides of the router, the server; then `startClients` starts the clients, each is waited for
 * until it ends, the firewall's drops are counted, and `judge` prints the verdict from how each
 * client ended (in the order started) and says whether it passed. Every exit path stops every
 * child and removes the namespaces.
 */
export async function runBehindFirewall(
  scenario: Scenario,
  port: number,
  fw: FirewallConfig,
  evidence: EvidenceChoice,
  json: boolean,
  signal: AbortSignal,
  startClients: (stage: FirewallStage) => Promise<EventProcess[]>,
  judge: (timeline: Timeline, results: Settled[]) => boolean,
): Promise<number> {
  requireRoot(`demo --scenario ${scenario}`);
  const timeline = new Timeline(json, scenario);
  const topology = await createFirewallPath("firewall-drop", fw.firewallTimeoutMs);
  const children: EventProcess[] = [];
  const captures: CaptureCollector[] = [];
  const onAbort = () => children.forEach((c) => c.stop());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    timeline.note(
      `client ${PATH_NET.client} → router (stateful firewall, forgets idle connections after ` +
        `${formatDuration(fw.firewallTimeoutMs)}) → server ${PATH_NET.server}`,
    );
    if (evidence !== "kernel") await startCaptures(topology, port, timeline, captures, evidence);

    children.push(await startServerIn(topology, "server", timeline, PATH_NET.server, port));
    const track = <T extends EventProcess>(child: T): T => {
      children.push(child);
      if (signal.aborted) child.stop();
      return child;
    };
    const clients = await startClients({
      topology,
      timeline,
      signal,
      track,
      clientArgs: [
        ...clientArgs(PATH_NET.server, port),
        "--send-after",
        `${fw.idleForMs}ms`,
        "--message",
        fw.message,
        "--user-timeout",
        `${fw.userTimeoutMs}ms`,
      ],
    }).catch((err) => {
      // Stopped children fail whatever waited for them: that is the interruption, not an error.
      if (signal.aborted) return null;
      throw err;
    });
    if (clients === null || signal.aborted) return 130;
    for (const c of clients) if (!children.includes(c)) children.push(c);

    const echoWaitMs = fw.userTimeoutMs + ECHO_MARGIN_MS;
    const deadline = fw.idleForMs + echoWaitMs + 2000;
    const results = await Promise.all(clients.map((p) => settle(p, deadline, signal)));
    await new Promise((r) => setTimeout(r, 300));
    for (const c of captures) await c.stop();
    if (signal.aborted) return 130;

    const dropped = await droppedPackets(topology);
    timeline.note(`the firewall dropped ${dropped} packets of connections it had forgotten`);
    return judge(timeline, results) ? 0 : 1;
  } finally {
    signal.removeEventListener("abort", onAbort);
    for (const child of children) child.stop("SIGKILL");
    await Promise.all(children.map((c) => c.done.catch(() => {})));
    for (const c of captures) await c.stop().catch(() => {});
    await topology.remove();
  }
}

export function runFirewallIdleDemo(
  client: ClientConfig,
  fw: FirewallConfig,
  evidence: EvidenceChoice,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  return runBehindFirewall(
    "firewall-idle",
    client.port,
    fw,
    evidence,
    json,
    signal,
    ({ topology, timeline, clientArgs, track }) => {
      const { idleMs, intervalMs, count } = fw.keepalive;
      const withKa = track(startRole(topology, "client", timeline, "ka", [
        ...clientArgs,
        "--idle",
        `${idleMs}ms`,
        "--interval",
        `${intervalMs}ms`,
        ...(count === undefined ? [] : ["--count", String(count)]),
      ]));
      const withoutKa = track(startRole(topology, "client", timeline, "no-ka", [
        ...clientArgs,
        "--no-keepalive",
      ]));
      timeline.note(
        `two clients idle for ${formatDuration(fw.idleForMs)}: 'ka' with keep-alive ` +
          `${keepAliveText(fw)}, 'no-ka' without; then each sends a message and waits ` +
          `for the echo (each gives up after ${formatDuration(fw.userTimeoutMs)} of ` +
          "unacknowledged data: TCP_USER_TIMEOUT)",
      );
      return Promise.resolve([withKa, withoutKa]);
    },
    (timeline, results) => {
      const outcomes: Outcome[] = [
        outcome(
          "ka",
          keepAliveText(fw),
          longestGap(fw) < fw.firewallTimeoutMs,
          results[0],
          fw.userTimeoutMs,
          fw.keepalive,
        ),
        outcome("no-ka", "off", false, results[1], fw.userTimeoutMs),
      ];
      printVerdict(
        timeline,
        fw,
        outcomes,
        `Verdict: which idle connection survived a ${
          formatDuration(fw.firewallTimeoutMs)
        } firewall timeout?`,
      );
      return outcomes.every((o) => o.echoed === o.expectEcho);
    },
  );
}

async function startCaptures(
  topology: Topology,
  port: number,
  timeline: Timeline,
  captures: CaptureCollector[],
  evidence: EvidenceChoice,
): Promise<void> {
  for (
    const [iface, label] of [
      [ROUTER_IFACES.clientSide, "fw-in"],
      [ROUTER_IFACES.serverSide, "fw-out"],
    ]
  ) {
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

export interface Settled {
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

export function outcome(
  name: string,
  keepalive: string,
  expectEcho: boolean,
  s: Settled,
  userTimeoutMs: number,
  timings: { idleMs: number; intervalMs: number } | null = null,
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
    timings: timings ? { idleMs: timings.idleMs, intervalMs: timings.intervalMs } : null,
  };
}

/** The verdict table: each connection's keep-alive, the idle, what was expected and what came. */
export function printVerdict(
  timeline: Timeline,
  fw: FirewallConfig,
  outcomes: Outcome[],
  title: string,
): void {
  timeline.table(
    title,
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
          keepaliveIdleMs: o.timings?.idleMs ?? null,
          keepaliveIntervalMs: o.timings?.intervalMs ?? null,
          idleMs: fw.idleForMs,
          firewallTimeoutMs: fw.firewallTimeoutMs,
          result: o.expectEcho ? "echo" : "no-answer",
        },
        observed: { result: o.echoed ? "echo" : "no-answer", rttMs: o.rttMs, error: o.error },
      },
    })),
  );
}
