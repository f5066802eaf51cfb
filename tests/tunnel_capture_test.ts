/**
 * Tunnels for real: two network namespaces made for the test, joined by a veth pair, with VXLAN,
 * Geneve, GRE, IP-in-IP and ERSPAN links between them built by the kernel. A Python client with
 * keep-alive 1 s talks to a Python server across each; tcpdump on the veth (the underlay) sees
 * only the encapsulated packets, and tcpka must find the TCP inside each, name the tunnel, and
 * see the probes. tshark, when installed, is the second opinion.
 */
import assert from "assert";
import { ROOT, runCli } from "./helpers/cli.ts";
import { namespacesOf } from "./helpers/netns.ts";
import { recordingNeeds, startTcpdump } from "./helpers/record.ts";
import { Topology } from "../lib/netns/topology.ts";
import { mustRun } from "../lib/netns/run.ts";
import { compareFile, emptyComparison } from "../scripts/tshark_compare.ts";
import { withinTimerSlack } from "../lib/keepalive/timing.ts";

const { missing, skip, tshark } = await recordingNeeds();
const PEER = `${ROOT}tests/programs/tunnel_peer.py`;

/** Each tunnel: its name as tcpka reports it, `ip` arguments that make it on each end, its subnet. */
const TUNNELS: { encap: string; make: (local: string, remote: string) => string; net: string }[] = [
  {
    encap: "vxlan",
    make: (l, r) => `link add tun type vxlan id 42 dstport 4789 local ${l} remote ${r}`,
    net: "192.168.71",
  },
  {
    encap: "geneve",
    make: (_l, r) => `link add tun type geneve id 7 remote ${r}`,
    net: "192.168.72",
  },
  {
    encap: "gre",
    make: (l, r) => `tunnel add tun mode gre local ${l} remote ${r} key 5`,
    net: "192.168.73",
  },
  {
    encap: "ipip",
    make: (l, r) => `tunnel add tun mode ipip local ${l} remote ${r}`,
    net: "192.168.74",
  },
  {
    encap: "erspan",
    make: (l, r) =>
      `link add tun type erspan seq key 9 local ${l} remote ${r} erspan_ver 1 erspan 123`,
    net: "192.168.75",
  },
];

Deno.test({
  name:
    `VXLAN, Geneve, GRE, IP-in-IP and ERSPAN between two namespaces: the TCP inside, named${skip}`,
  ignore: missing !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-tunnels-" });
    const file = `${dir}/underlay.pcap`;
    const topology = await Topology.create(["ta", "tb"], [{
      a: { ns: "ta", ifname: "under-a", cidr: "10.99.0.1/24" },
      b: { ns: "tb", ifname: "under-b", cidr: "10.99.0.2/24" },
    }]);
    try {
      const ends = [
        { ns: topology.names.ta, local: "10.99.0.1", remote: "10.99.0.2", host: 1 },
        { ns: topology.names.tb, local: "10.99.0.2", remote: "10.99.0.1", host: 2 },
      ];
      const made: typeof TUNNELS = [];
      for (const [i, t] of TUNNELS.entries()) {
        const name = `tun${i}`;
        try {
          for (const e of ends) {
            const argv = t.make(e.local, e.remote).split(" ").map((a) => (a === "tun" ? name : a));
            await mustRun(["ip", "-n", e.ns, ...argv]);
            await mustRun(["ip", "-n", e.ns, "addr", "add", `${t.net}.${e.host}/24`, "dev", name]);
            await mustRun(["ip", "-n", e.ns, "link", "set", name, "up"]);
          }
          made.push(t);
        } catch (err) {
          // A kernel without the module: the others still run, and the name says which is missing.
          console.log(
            `  (${t.encap}: not available here: ${(err as Error).message.split("\n")[0]})`,
          );
        }
      }
      // This project's CI kernel has VXLAN built in and none of the others; they are exercised
      // here where the kernel has them, and by built captures (pcap_tolerance_test.ts) everywhere.
      assert.ok(made.some((t) => t.encap === "vxlan"), "the kernel cannot make a VXLAN link");

      const capture = await startTcpdump(file, "", "under-a", topology.exec("ta"));
      // The Python peer in namespace `ns`, as `role` of the connection to `<net>.2:8080`.
      const peer = (ns: string, role: "server" | "client", net: string) =>
        new Deno.Command("ip", {
          args: ["netns", "exec", topology.names[ns], "python3", PEER, role, `${net}.2`, "8080"],
          stdout: "piped",
        });
      const servers = made.map((t) => peer("tb", "server", t.net).spawn());
      for (const s of servers) {
        const reader = s.stdout.pipeThrough(new TextDecoderStream()).getReader();
        assert.equal((await reader.read()).value?.trim(), "listening");
        reader.releaseLock();
      }
      const clients = made.map((t) => peer("ta", "client", t.net).output());
      for (const c of await Promise.all(clients)) assert.ok(c.success);
      for (const s of servers) await s.status;
      await capture.stop();

      const r = await runCli(["capture", "--read", file, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const packets = events.filter((e) => e.type === "packet");
      const summaries = events.filter((e) => e.type === "connection-summary");
      for (const t of made) {
        const inner = packets.filter((p) => p.src.address.startsWith(`${t.net}.`));
        assert.ok(inner.length > 0, `${t.encap}: no inner TCP found`);
        assert.ok(inner.every((p) => p.encap === t.encap), `${t.encap}: ${inner[0].encap}`);
        const s = summaries.find((s) => s.client.address.startsWith(`${t.net}.`));
        assert.ok(s.rolesFromHandshake, `${t.encap}: handshake seen`);
        // keep-alive 1 s for 3.5 s: 3 probes, all answered, each 1 s after the last answer.
        assert.ok(
          s.probesBy.client.sent >= 2 && s.probesBy.client.sent <= 4,
          `${t.encap}: ${s.probesSent}`,
        );
        assert.equal(s.probesUnanswered, 0, t.encap);
        assert.ok(withinTimerSlack(s.probesBy.client.idleBeforeProbe.medianMs, 1000, 250), t.encap);
      }
      const human = await runCli(["capture", "--read", file]);
      assert.match(human.stdout, /keep-alive probe after 1\.\d+s idle {2}via vxlan/);
      if (tshark) {
        const c = await compareFile(file, emptyComparison());
        assert.deepEqual(c.mismatches, []);
        assert.equal(c.keepAlive.agree, c.keepAlive.tcpka, JSON.stringify(c.keepAlive));
      }
    } finally {
      await topology.remove();
      await Deno.remove(dir, { recursive: true });
      assert.deepEqual(await namespacesOf(Deno.pid), [], "namespaces left behind");
    }
  },
});
