/**
 * `tcpka demo`: the tool's main job. Runs server, client and an observer in one command, prints
 * the annotated timeline, and checks that the kernel did what keep-alive was configured to do.
 */
import type { Command } from "./lib/cli/command.ts";
import { UsageError } from "./lib/errors.ts";
import {
  durationFlag,
  type FlagValues,
  noPositionals,
  parseCommandLine,
  stringFlag,
} from "./lib/cli/flags.ts";
import { withShutdown } from "./lib/cli/signals.ts";
import { CLIENT_FLAGS, clientConfigFrom } from "./client.ts";
import { type CollectorFactory, type EvidenceChoice, runSeedDemo } from "./lib/demo/seed.ts";
import { runDeadPeerDemo } from "./lib/demo/dead_peer.ts";
import {
  FIREWALL_DEFAULTS,
  type FirewallConfig,
  runFirewallIdleDemo,
  validateFirewall,
} from "./lib/demo/firewall_idle.ts";
import type { ClientConfig } from "./lib/roles/client.ts";
import { chooseCollector } from "./lib/demo/choose_collector.ts";
import { runRescueDemo } from "./lib/demo/rescue.ts";

const SCENARIOS = ["seed", "dead-peer", "firewall-idle", "rescue"] as const;
type Scenario = typeof SCENARIOS[number];

const FIREWALL_FLAGS = ["firewall-timeout", "idle-for", "show-failure"];

/**
 * The client flags a scenario has no use for, and why: refused in one line rather than silently
 * ignored. The seed runs the client as given, so it takes them all.
 */
const UNUSED_CLIENT_FLAGS: Record<Scenario, Record<string, string>> = {
  "seed": {},
  "dead-peer": {
    "host": "client and server have the namespaces' addresses",
    "hold": "the client holds until its kernel declares the peer dead",
    "connections": "it follows one connection",
    "send-after": "the client stays idle: only keep-alive can notice the peer is gone",
    "message": "the client stays idle and sends nothing",
    "user-timeout": "the verdict checks keep-alive alone, which TCP_USER_TIMEOUT would cut short",
    "no-keepalive": "without keep-alive the client would wait forever; that is the point",
  },
  "firewall-idle": {
    "host": "client, firewall and server have the namespaces' addresses",
    "hold": "the clients hold until their message is answered or given up",
    "connections": "it runs two clients, one with keep-alive and one without",
    "send-after": "the clients send after --idle-for",
    "no-keepalive": "it always runs one client with keep-alive and one without",
  },
  "rescue": {
    "host": "client, firewall and server have the namespaces' addresses",
    "hold": "the clients hold until their message is answered or given up",
    "connections": "it runs two clients, both without keep-alive",
    "send-after": "the clients send after --idle-for",
    "no-keepalive":
      "both clients start without keep-alive; the timings are what set --pid gives one",
  },
};

/** The scenarios behind the stateful firewall, which take its flags. */
const BEHIND_FIREWALL: Scenario[] = ["firewall-idle", "rescue"];

function refuseUnused(scenario: Scenario, values: FlagValues): void {
  for (const [flag, why] of Object.entries(UNUSED_CLIENT_FLAGS[scenario])) {
    if (values[flag] !== undefined) {
      throw new UsageError(`demo: --${flag} does not apply to --scenario ${scenario}: ${why}`);
    }
  }
  if (!BEHIND_FIREWALL.includes(scenario)) {
    const stray = FIREWALL_FLAGS.find((f) => values[f] !== undefined);
    if (stray) {
      throw new UsageError(`demo: --${stray} belongs to --scenario firewall-idle or rescue`);
    }
  }
}

function firewallConfig(client: ClientConfig, values: FlagValues): FirewallConfig {
  const { idleMs, intervalMs, count, userTimeoutMs } = client.keepalive;
  return {
    firewallTimeoutMs: durationFlag("demo", values, "firewall-timeout") ??
      FIREWALL_DEFAULTS.firewallTimeoutMs,
    idleForMs: durationFlag("demo", values, "idle-for") ?? FIREWALL_DEFAULTS.idleForMs,
    // The client's defaults fill these in (--period 2s); --no-keepalive is refused above.
    keepalive: { idleMs: idleMs!, intervalMs: intervalMs!, count },
    userTimeoutMs: userTimeoutMs ?? FIREWALL_DEFAULTS.userTimeoutMs,
    message: stringFlag(values, "message") ?? FIREWALL_DEFAULTS.message,
    showFailure: values["show-failure"] === true,
  };
}

const HELP = `Usage: tcpka demo [--scenario NAME] [client flags]

Runs the Go example's three terminals in one command: a server, a client with keep-alive, and an
observer (a tcpdump capture when tcpdump and root are available, otherwise the kernel's socket
table via ss). Prints the labelled timeline, then a verdict: configured versus observed idle
before the first probe, probe interval, probes answered, and how the connection ended.

Scenarios:
  seed        (default) the Go example: period 2s, hold 10s, port 12345 (or a free one)
  dead-peer   the server vanishes without FIN or RST (needs root: network namespaces + nftables);
              the client's kernel gives up after idle + interval × count
  firewall-idle
              a stateful firewall that forgets idle connections sits between client and server;
              one client with keep-alive and one without idle past its timeout, then send data
              (needs root)
  rescue      firewall-idle's firewall, two running clients without keep-alive; while they
              idle, 'tcpka set --pid' gives one of them keep-alive with the timings given (no
              restart): it survives the timeout, its untouched twin does not (needs root)

Flags:
  --scenario NAME       seed | dead-peer | firewall-idle | rescue
  --evidence SOURCE     auto (default) | capture | kernel: force the observer
  --firewall-timeout D  firewall-idle, rescue: the firewall forgets idle connections after D
                        (default 5s)
  --idle-for D          firewall-idle, rescue: how long both clients stay idle (default 8s)
  --show-failure        firewall-idle, rescue: allow keep-alive timings at or above the timeout,
                        to watch it fail
  every 'tcpka client' flag: --port, --period, --idle, --interval, --count, --no-keepalive,
  --hold, --json, …; dead-peer takes the keep-alive timings, --port and --json, firewall-idle
  and rescue also --user-timeout (default 3s) and --message; each refuses the rest in one line.

Exit status: 0 observed matches configured, 1 it does not (e.g. a kernel or container that
ignores the settings) or the run could not happen (missing root, port taken), 2 bad usage,
130/143 stopped by Ctrl-C/SIGTERM (namespaces and captures are removed either way), 0 when the
reader of its output goes away ('| head').

Examples:
  tcpka demo
  tcpka demo --period 1s --hold 4s
  sudo tcpka demo --scenario dead-peer --idle 1s --interval 1s --count 3
  sudo tcpka demo --scenario firewall-idle --firewall-timeout 5s --idle-for 8s --period 2s
  sudo tcpka demo --scenario rescue --period 2s`;

export const demoCommand: Command = {
  name: "demo",
  summary: "server + client + capture in one command, with a verdict (the main job)",
  help: HELP,
  async run(args) {
    const parsed = parseCommandLine("demo", args, {
      ...CLIENT_FLAGS,
      scenario: { type: "string" },
      evidence: { type: "string" },
      "firewall-timeout": { type: "string" },
      "idle-for": { type: "string" },
      "show-failure": { type: "boolean" },
    });
    noPositionals("demo", parsed);
    const { values } = parsed;
    const scenario = (stringFlag(values, "scenario") ?? "seed") as Scenario;
    if (!SCENARIOS.includes(scenario)) {
      throw new UsageError(`demo: unknown scenario '${scenario}' (choose ${SCENARIOS.join(", ")})`);
    }
    const evidence = (stringFlag(values, "evidence") ?? "auto") as EvidenceChoice;
    if (!["auto", "capture", "kernel"].includes(evidence)) {
      throw new UsageError(`demo: --evidence must be auto, capture or kernel`);
    }
    // Port 0 = any free port, handy beside a real server on 12345.
    const client = clientConfigFrom("demo", values, 0);
    // Every flag is checked here, before any side effect (the root check, namespaces, tcpdump).
    refuseUnused(scenario, values);
    const firewall = BEHIND_FIREWALL.includes(scenario) ? firewallConfig(client, values) : null;
    if (firewall) validateFirewall(firewall);
    if (scenario === "seed" && client.holdMs === 0) {
      throw new UsageError("demo: --hold 0 would never end; give the client a hold time");
    }
    const makeCollector: CollectorFactory = (target, timeline) =>
      chooseCollector(evidence, target, timeline);
    return await withShutdown((signal) => {
      switch (scenario) {
        case "firewall-idle":
          return runFirewallIdleDemo(client, firewall!, evidence, client.json, signal);
        case "rescue":
          return runRescueDemo(client, firewall!, evidence, client.json, signal);
        case "dead-peer":
          return runDeadPeerDemo(client, client.json, makeCollector, signal);
        case "seed":
          return runSeedDemo(
            { client, evidence, json: client.json, portExplicit: values.port !== undefined },
            makeCollector,
            signal,
          );
      }
    });
  },
};
