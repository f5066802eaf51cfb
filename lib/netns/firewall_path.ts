/**
 * A client and a server with a Linux router between them that forgets idle connections, as NAT
 * gateways, load balancers and stateful firewalls do: three namespaces (client, router, server)
 * joined by veth pairs, conntrack's established timeout set to `timeoutMs`, and
 * nf_conntrack_tcp_loose=0 so that a forgotten connection is not picked up again mid-stream.
 *
 * - `firewall` (drop | reset): nftables forwards established connections and new SYNs; packets of
 *   connections it does not know are dropped, or answered with an RST (`reject with tcp reset`).
 * - `nat`: the router masquerades the client behind its own address and nothing else; the server
 *   has no route to the client's network, so a packet the router no longer translates goes
 *   nowhere, as behind a real NAT gateway.
 *
 * Used by `demo --scenario firewall-idle` and by the discover tests.
 */
import { mustRun, run } from "./run.ts";
import { Topology } from "./topology.ts";

export type PathKind = "firewall-drop" | "firewall-reset" | "nat";

export const PATH_NET = {
  client: "10.73.1.1",
  routerC: "10.73.1.2",
  routerS: "10.73.2.1",
  server: "10.73.2.2",
};

/** The interfaces of the router: its client side and its server side. */
export const ROUTER_IFACES = { clientSide: "r-eth0", serverSide: "r-eth1" };

function firewallRules(unknown: "drop" | "reset"): string {
  const verdict = unknown === "drop" ? "" : "reject with tcp reset ";
  return `table inet tcpka_fw {
  chain forward_filter {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    tcp flags & (syn | ack) == syn ct state new accept
    counter ${verdict}comment "packets of connections the firewall does not know"
  }
}
`;
}

function natRules(): string {
  return `table ip tcpka_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${ROUTER_IFACES.serverSide}" masquerade
  }
}
`;
}

/** Builds the three namespaces and the router; removes them again if any step fails. */
export async function createFirewallPath(kind: PathKind, timeoutMs: number): Promise<Topology> {
  const topology = await Topology.create(["client", "router", "server"], [
    {
      a: { ns: "client", ifname: "c-eth0", cidr: `${PATH_NET.client}/30` },
      b: { ns: "router", ifname: ROUTER_IFACES.clientSide, cidr: `${PATH_NET.routerC}/30` },
    },
    {
      a: { ns: "router", ifname: ROUTER_IFACES.serverSide, cidr: `${PATH_NET.routerS}/30` },
      b: { ns: "server", ifname: "s-eth0", cidr: `${PATH_NET.server}/30` },
    },
  ]);
  try {
    const r = topology.exec("router");
    await mustRun([...r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await mustRun([
      ...topology.exec("client"),
      "ip",
      "route",
      "add",
      "default",
      "via",
      PATH_NET.routerC,
    ]);
    if (kind !== "nat") {
      await mustRun([
        ...topology.exec("server"),
        "ip",
        "route",
        "add",
        "default",
        "via",
        PATH_NET.routerS,
      ]);
    }
    // The ruleset's ct expressions (or NAT) load conntrack, which creates the sysctls below.
    await mustRun(
      [...r, "nft", "-f", "-"],
      kind === "nat" ? natRules() : firewallRules(kind === "firewall-drop" ? "drop" : "reset"),
    );
    await mustRun([
      ...r,
      "sysctl",
      "-qw",
      `net.netfilter.nf_conntrack_tcp_timeout_established=${Math.round(timeoutMs / 1000)}`,
      "net.netfilter.nf_conntrack_tcp_loose=0",
    ]);
  } catch (err) {
    await topology.remove();
    throw err;
  }
  return topology;
}

/** Packets the firewall refused because it did not know their connection. */
export async function droppedPackets(topology: Topology): Promise<number> {
  const out = await run([...topology.exec("router"), "nft", "list", "table", "inet", "tcpka_fw"]);
  return Number(/counter packets (\d+)/.exec(out.stdout)?.[1] ?? 0);
}
