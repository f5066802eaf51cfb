/**
 * `demo --scenario dead-peer`: the server vanishes without FIN or RST, as when a host loses power
 * or a cable is pulled beyond a switch. Client and server run in two network namespaces joined by
 * a veth pair; right after the handshake an nftables rule in the server's namespace drops every
 * packet. Only keep-alive can tell the client: after idle + interval × count unanswered probes
 * its kernel gives up, resets the connection and the client's read fails with ETIMEDOUT.
 */
import type { ClientConfig } from "../roles/client.ts";
import type { EventProcess } from "../process/event_process.ts";
import { clientArgs, startRole, startServerIn } from "./roles_in_ns.ts";
import type { EventOf } from "../events.ts";
import { detectionTimeMs } from "../keepalive/settings.ts";
import { formatDuration } from "../duration.ts";
import { requireRoot, Topology } from "../netns/topology.ts";
import { mustRun } from "../netns/run.ts";
import type { ClientConnection } from "./collector.ts";
import type { CollectorFactory } from "./seed.ts";
import { Timeline } from "./timeline.ts";
import { judge } from "./verdict.ts";

const CLIENT_ADDR = "10.73.0.1";
const SERVER_ADDR = "10.73.0.2";
const CLIENT_IF = "tcpka-c";
const DEFAULT_COUNT = 3;

/** Drops everything in and out of the server's namespace: the peer is simply gone. */
const VANISH_RULES = `table inet tcpka_vanish {
  chain in { type filter hook input priority 0; policy drop; }
  chain out { type filter hook output priority 0; policy drop; }
}
`;

export async function runDeadPeerDemo(
  client: ClientConfig,
  json: boolean,
  makeCollector: CollectorFactory,
  signal: AbortSignal,
): Promise<number> {
  requireRoot("demo --scenario dead-peer");
  const keepalive = { ...client.keepalive, count: client.keepalive.count ?? DEFAULT_COUNT };
  const timeline = new Timeline(json, "dead-peer");
  const port = client.port;
  const topology = await Topology.create(["client", "server"], [{
    a: { ns: "client", ifname: CLIENT_IF, cidr: `${CLIENT_ADDR}/30` },
    b: { ns: "server", ifname: "tcpka-s", cidr: `${SERVER_ADDR}/30` },
  }]);
  const children: EventProcess[] = [];
  const onAbort = () => children.forEach((c) => c.stop());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    timeline.note(
      `namespaces ${topology.names.client} (${CLIENT_ADDR}) and ${topology.names.server} ` +
        `(${SERVER_ADDR}) joined by a veth pair`,
    );
    const { collector, fallbackReason } = await makeCollector(
      { port, prefix: topology.exec("client"), iface: CLIENT_IF },
      timeline,
    );
    if (fallbackReason) timeline.note(fallbackReason);
    timeline.note(`observing the client's side through ${collector.description}`);
    await collector.start();

    children.push(await startServerIn(topology, "server", timeline, SERVER_ADDR, port));

    const args = [...clientArgs(SERVER_ADDR, port), "--count", String(keepalive.count)];
    if (keepalive.idleMs !== undefined) args.push("--idle", `${keepalive.idleMs}ms`);
    if (keepalive.intervalMs !== undefined) args.push("--interval", `${keepalive.intervalMs}ms`);
    const clientProc = startRole(topology, "client", timeline, "client", args);
    children.push(clientProc);
    const ka = await clientProc.waitFor((e): e is EventOf<"keepalive"> => e.type === "keepalive");
    const connected = clientProc.events.find((e): e is EventOf<"connected"> =>
      e.type === "connected"
    )!;

    await mustRun([...topology.exec("server"), "nft", "-f", "-"], VANISH_RULES);
    const detectMs = detectionTimeMs(ka.report.effective);
    timeline.note(
      `the server vanishes: its namespace now drops every packet (no FIN, no RST). ` +
        `Keep-alive should notice after idle + interval × count = ${
          detectMs === null ? "?" : formatDuration(detectMs)
        }`,
    );

    // Bounded: the kernel's own deadline plus a margin, in case a kernel ignores the settings.
    const limit = (detectMs ?? 60_000) + 10_000;
    const ended = await Promise.race([
      clientProc.waitFor((e) => e.type === "closed", limit).catch(() => null),
      new Promise<null>((r) => signal.addEventListener("abort", () => r(null), { once: true })),
    ]) as EventOf<"closed"> | null;
    if (!ended && !signal.aborted) {
      timeline.note(`no detection within ${formatDuration(limit)}; giving up`);
    }
    await new Promise((r) => setTimeout(r, 300));
    await collector.stop();
    if (signal.aborted) return 130;

    const conn: ClientConnection = {
      local: connected.local,
      remote: connected.remote,
      connectedAt: connected.time,
    };
    const verdict = judge(
      {
        keepalive: ka.report.effective,
        holdMs: 0,
        close: "timed-out",
        detectMs: detectMs ?? undefined,
      },
      collector.evidenceFor(conn),
    );
    verdict.rows.push({
      check: "client's error",
      values: {
        configured: { error: "ETIMEDOUT" },
        observed: {
          error: ended ? (ended.reason === "timed-out" ? "ETIMEDOUT" : ended.reason) : null,
        },
      },
      configured: "ETIMEDOUT (connection timed out)",
      observed: ended
        ? (ended.reason === "timed-out"
          ? "ETIMEDOUT"
          : `${ended.reason} ${ended.error ?? ""}`.trim())
        : "none",
      pass: ended?.reason === "timed-out",
    });
    verdict.pass = verdict.rows.every((r) => r.pass);
    timeline.verdict(
      verdict,
      `Verdict: dead peer detected? (idle ${formatDuration(ka.report.effective.idleMs ?? 0)}, ` +
        `interval ${
          formatDuration(ka.report.effective.intervalMs ?? 0)
        }, count ${ka.report.effective.count})`,
    );
    return verdict.pass ? 0 : 1;
  } finally {
    signal.removeEventListener("abort", onAbort);
    for (const child of children) child.stop("SIGKILL");
    await Promise.all(children.map((c) => c.done.catch(() => {})));
    await topology.remove();
  }
}
