/**
 * `demo --scenario rescue`: fix a running service without a restart. Two clients without
 * keep-alive idle behind the stateful firewall of firewall-idle (the same three namespaces). While
 * they sit idle, `tcpka set --pid` gives one of them keep-alive through a copy of its socket's
 * descriptor; nothing else about that process changes. After more than the firewall's timeout
 * both send: the rescued one's probes kept the firewall's entry alive and its echo comes back, the
 * untouched twin's data is dropped.
 */
import type { ClientConfig } from "../../client.ts";
import type { EventProcess } from "../cli/event_process.ts";
import { formatDuration } from "../duration.ts";
import { openForeignSockets } from "../inspect/open.ts";
import { setExitCode, setKeepAlive } from "../inspect/set_live.ts";
import { describeChange, renderSet } from "../inspect/set_human.ts";
import { requireRoot } from "../netns/topology.ts";
import type { CaptureCollector } from "./capture_collector.ts";
import {
  configureRouter,
  createFirewallTopology,
  droppedPackets,
  ECHO_WAIT_MS,
  type FirewallConfig,
  NET,
  outcome,
  settle,
  startCaptures,
  USER_TIMEOUT_MS,
  validateFirewall,
} from "./firewall_idle.ts";
import { clientArgs, startRole, startServerIn } from "./roles_in_ns.ts";
import type { EvidenceChoice } from "./seed.ts";
import { Timeline } from "./timeline.ts";

/** How long the clients sit idle, without keep-alive, before the rescue. */
const IDLE_BEFORE_RESCUE_MS = 1000;

export async function runRescueDemo(
  client: ClientConfig,
  fw: FirewallConfig,
  evidence: EvidenceChoice,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  requireRoot("demo --scenario rescue");
  validateFirewall(fw);
  const timeline = new Timeline(json);
  const port = client.port;
  const topology = await createFirewallTopology();
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
    const args = [
      ...clientArgs(NET.server, port),
      "--no-keepalive",
      "--send-after",
      `${fw.idleForMs}ms`,
      "--message",
      "still there?",
      "--user-timeout",
      `${USER_TIMEOUT_MS}ms`,
    ];
    const rescued = startRole(topology, "client", timeline, "rescued", args);
    const twin = startRole(topology, "client", timeline, "twin", args);
    children.push(rescued, twin);
    timeline.note(
      `two running clients WITHOUT keep-alive ('rescued', pid ${rescued.child.pid}, and its ` +
        `twin) will idle for ${formatDuration(fw.idleForMs)}, then send a message`,
    );
    await Promise.all([rescued, twin].map((p) => p.waitFor((e) => e.type === "connected")));
    await new Promise((r) => setTimeout(r, IDLE_BEFORE_RESCUE_MS));

    const change = {
      enabled: true,
      idleMs: fw.periodMs,
      intervalMs: fw.periodMs,
      count: 3,
    };
    timeline.note(
      `while both sit idle: tcpka set --pid ${rescued.child.pid} --period ` +
        `${formatDuration(fw.periodMs)} --count 3 (no restart, nothing else changed)`,
    );
    const { sockets, why } = openForeignSockets();
    const report = await setKeepAlive(
      { pid: rescued.child.pid, query: { states: "established" }, change, dryRun: false },
      sockets,
      why,
    );
    if (json) {
      timeline.write(JSON.stringify({ source: "demo", type: "set", time: Date.now(), report }));
    } else renderSet(report, timeline.style).forEach((line) => timeline.write(line));
    const rescuedOk = setExitCode(report) === 0;

    const deadline = fw.idleForMs + ECHO_WAIT_MS + 2000;
    const results = await Promise.all([rescued, twin].map((p) => settle(p, deadline, signal)));
    await new Promise((r) => setTimeout(r, 300));
    for (const c of captures) await c.stop();
    if (signal.aborted) return 130;

    const dropped = await droppedPackets(topology);
    timeline.note(`the firewall dropped ${dropped} packets of connections it had forgotten`);
    const outcomes = [
      outcome(
        "rescued",
        `off, then set --pid: ${describeChange(change).replace("keep-alive on, ", "")}`,
        true,
        results[0],
      ),
      outcome("twin", "off", false, results[1]),
    ];
    timeline.table(
      `Verdict: did set --pid rescue a running client from a ${
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
      })),
    );
    return rescuedOk && outcomes.every((o) => o.echoed === o.expectEcho) ? 0 : 1;
  } finally {
    signal.removeEventListener("abort", onAbort);
    for (const child of children) child.stop("SIGKILL");
    await Promise.all(children.map((c) => c.done.catch(() => {})));
    for (const c of captures) await c.stop().catch(() => {});
    await topology.remove();
  }
}
