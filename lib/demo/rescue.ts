/**
 * `demo --scenario rescue`: fix a running service without a restart. Two clients without
 * keep-alive idle behind the stateful firewall of firewall-idle (the same three namespaces). While
 * they sit idle, `tcpka set --pid` gives one of them keep-alive through a copy of its socket's
 * descriptor; nothing else about that process changes. After more than the firewall's timeout
 * both send: the rescued one's probes kept the firewall's entry alive and its echo comes back, the
 * untouched twin's data is dropped.
 */
import type { ClientConfig } from "../roles/client.ts";
import { formatDuration } from "../duration.ts";
import { openSocketLayer } from "../inspect/socket_layer.ts";
import { setExitCode, setKeepAlive } from "../inspect/set_live.ts";
import { describeChange, renderSet } from "../inspect/set_human.ts";
import { type FirewallConfig, outcome, printVerdict, runBehindFirewall } from "./firewall_idle.ts";
import { startRole } from "./roles_in_ns.ts";
import type { EvidenceChoice } from "./seed.ts";

/** How long the clients sit idle, without keep-alive, before the rescue. */
const IDLE_BEFORE_RESCUE_MS = 1000;
/** The probe count set when --count is not given: a dead peer is noticed in a few intervals. */
const RESCUE_COUNT = 3;

export function runRescueDemo(
  client: ClientConfig,
  fw: FirewallConfig,
  evidence: EvidenceChoice,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  const { idleMs, intervalMs, count } = fw.keepalive;
  const change = { enabled: true, idleMs, intervalMs, count: count ?? RESCUE_COUNT };
  let setHolds = false;
  return runBehindFirewall(
    "rescue",
    client.port,
    fw,
    evidence,
    json,
    signal,
    async ({ topology, timeline, clientArgs, signal, track }) => {
      const args = [...clientArgs, "--no-keepalive"];
      const rescued = track(startRole(topology, "client", timeline, "rescued", args));
      const twin = track(startRole(topology, "client", timeline, "twin", args));
      const pid = rescued.child.pid;
      timeline.note(
        `two running clients WITHOUT keep-alive ('rescued', pid ${pid}, and its twin) will idle ` +
          `for ${formatDuration(fw.idleForMs)}, then send a message`,
      );
      await Promise.all([rescued, twin].map((p) => p.waitFor((e) => e.type === "connected")));
      await new Promise((r) => setTimeout(r, IDLE_BEFORE_RESCUE_MS));
      // Interrupted: the clients are being stopped; setting a vanishing process proves nothing.
      if (signal.aborted) return [rescued, twin];
      timeline.note(
        `while both sit idle: tcpka set --pid ${pid} --idle ${formatDuration(change.idleMs)} ` +
          `--interval ${formatDuration(change.intervalMs)} --count ${change.count} ` +
          "(no restart, nothing else changed)",
      );
      const { sockets, why } = openSocketLayer();
      const report = await setKeepAlive(
        { pid, query: { states: "established" }, change, dryRun: false },
        sockets,
        why,
      );
      if (json) timeline.event({ type: "set", ...report });
      else renderSet(report, timeline.style).forEach((line) => timeline.write(line));
      setHolds = setExitCode(report) === 0;
      return [rescued, twin];
    },
    (timeline, results) => {
      const outcomes = [
        outcome(
          "rescued",
          `off, then set --pid: ${describeChange(change).replace("keep-alive on, ", "")}`,
          Math.max(idleMs, intervalMs) < fw.firewallTimeoutMs,
          results[0],
          fw.userTimeoutMs,
          { idleMs, intervalMs },
        ),
        outcome("twin", "off", false, results[1], fw.userTimeoutMs),
      ];
      printVerdict(
        timeline,
        fw,
        outcomes,
        `Verdict: did set --pid rescue a running client from a ${
          formatDuration(fw.firewallTimeoutMs)
        } firewall timeout?`,
      );
      return setHolds && outcomes.every((o) => o.echoed === o.expectEcho);
    },
  );
}
