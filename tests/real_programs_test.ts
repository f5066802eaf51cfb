/**
 * The defects issue 11 found, against real sockets (tests/programs/peers.py, plain Python) recorded
 * with tcpdump, each checked by tcpka and, where installed, by tshark as a second opinion. Counts
 * and ranges only: the machine is shared, so no assertion leans on exact timing.
 */
import assert from "assert";
import { CliProcess, runCli } from "./helpers/cli.ts";
import { freePort, recordingNeeds, recordPeers } from "./helpers/record.ts";
import { compareFile, emptyComparison } from "../scripts/tshark_compare.ts";
import { withinTimerSlack } from "../lib/keepalive/timing.ts";

const { missing, skip, tshark } = await recordingNeeds();

// deno-lint-ignore no-explicit-any
type Json = any;

async function analyse(file: string): Promise<{ packets: Json[]; summaries: Json[]; end: Json }> {
  const r = await runCli(["capture", "--read", file, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  return {
    packets: events.filter((e) => e.type === "packet"),
    summaries: events.filter((e) => e.type === "connection-summary"),
    end: events.find((e) => e.type === "end"),
  };
}

/** tshark agrees with tcpka on every keep-alive and keep-alive ACK of `file` (when installed). */
async function secondOpinion(file: string): Promise<void> {
  if (!tshark) return;
  const c = await compareFile(file, emptyComparison());
  assert.deepEqual(c.mismatches, [], `tshark disagrees on ${file}`);
  assert.equal(c.packets.tcpka, c.packets.tshark);
  assert.equal(c.connections.tcpka, c.connections.tshark, "connections (tcp.stream)");
}

/** Within 250 ms, or as late as the kernel's timer wheel may fire it (an eighth, timing.ts). */
function within(ms: number, target: number, what: string) {
  assert.ok(withinTimerSlack(ms, target, 250), `${what}: ${ms.toFixed(1)}ms, not ${target}ms`);
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "tcpka-real-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    `keep-alive 1/1/3 with a byte sent at 2.5 s and 4.5 s: each probe 1 s after the last segment, no 1.5 s "interval"${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const file = `${dir}/data.pcap`;
      await recordPeers("data-between", file);
      const { packets, summaries } = await analyse(file);
      assert.equal(summaries.length, 1);
      const s = summaries[0];
      // Probes at about 1, 2, 3.5, 5.5 s (and 4.5 s when the timer wins the race with the data).
      assert.ok(s.probesSent >= 4 && s.probesSent <= 5, `${s.probesSent} probes`);
      assert.equal(s.probesUnanswered, 0);
      const idle = s.probesBy.client.idleBeforeProbe;
      within(idle.minMs, 1000, "shortest idle");
      within(idle.maxMs, 1000, "longest idle");
      assert.equal(s.probesBy.client.retryInterval, null);
      for (const p of packets.filter((p) => p.label === "keepalive")) {
        within(p.idleMs, 1000, `idle before the probe in frame ${p.frame}`);
      }
      await secondOpinion(file);
    }),
});

Deno.test({
  name: `a receiver that stops reading: zero-window probes, never keep-alive${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const file = `${dir}/zero.pcap`;
      await recordPeers("zero-window", file);
      const { packets, summaries } = await analyse(file);
      const s = summaries[0];
      const labels = packets.map((p) => p.label);
      assert.equal(labels.filter((l) => l === "keepalive" || l === "keepalive-ack").length, 0);
      const zwp = labels.filter((l) => l === "zero-window-probe").length;
      // Persist backoff from 200 ms doubling: 200, 400, 800, 1600 ms… within 6 s.
      assert.ok(zwp >= 3, `${zwp} zero-window probes`);
      // Each answered with window 0 (the last may meet the close instead).
      const acks = labels.filter((l) => l === "zero-window-probe-ack").length;
      assert.ok(acks >= zwp - 1 && acks <= zwp, `${acks} answers to ${zwp} probes`);
      assert.equal(s.probesSent, 0);
      assert.equal(s.probingSides, "none");
      assert.equal(s.zeroWindowProbesBy.client, zwp);
      // The gaps double (persist backoff): the evidence that these are not keep-alive.
      const times = packets.filter((p) => p.label === "zero-window-probe").map((p) => p.time);
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      assert.ok(gaps.at(-1)! > gaps[0] * 3, `gaps ${gaps.join(", ")} do not grow`);
      if (tshark) {
        // Wireshark calls Linux's persist probes keep-alive: the one difference, counted apart.
        const c = await compareFile(file, emptyComparison());
        assert.deepEqual(c.mismatches, []);
        assert.equal(c.zeroWindowCalledKeepAliveByTshark, zwp);
      }
    }),
});

Deno.test({
  name:
    `both sides probing (server 2 s, client 3 s): figures per prober; watch counts what each socket sent${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const file = `${dir}/both.pcap`;
      const port = freePort();
      const watch = new CliProcess(["watch", "--json", "--port", String(port), "--poll", "50ms"]);
      await recordPeers("both-probe", file, { port });
      watch.stop("SIGINT");
      const watched = (await watch.done).events as Json[];
      const { summaries, packets } = await analyse(file);
      const s = summaries[0];
      assert.equal(s.probingSides, "both");
      const server = s.probesBy.server;
      const client = s.probesBy.client;
      // Server: 2, 4, 6, 8 s; client: 3, 6, 9 s (9 races the close at 9.5 s).
      assert.ok(server.sent >= 4 && server.sent <= 5, `server sent ${server.sent}`);
      assert.ok(client.sent >= 2 && client.sent <= 3, `client sent ${client.sent}`);
      within(server.idleBeforeProbe.medianMs, 2000, "server's idle");
      within(client.idleBeforeProbe.medianMs, 3000, "client's idle");
      within(server.idleBeforeProbe.maxMs, 2000, "server's longest idle");
      within(client.idleBeforeProbe.minMs, 3000, "client's shortest idle");
      await secondOpinion(file);

      // watch: each socket's probes are what it sent, as many as on the wire.
      const wire = (dir: string) =>
        packets.filter((p) => p.label === "keepalive" && p.direction === dir).length;
      const serverConn = `127.0.0.1:${port} → `;
      const probesOf = (server: boolean) =>
        watched.filter((o) => o.type === "probe" && o.conn.startsWith(serverConn) === server)
          .length;
      const acksOf = (server: boolean) =>
        watched.filter((o) => o.type === "probe-ack" && o.conn.startsWith(serverConn) === server)
          .length;
      assert.ok(
        Math.abs(probesOf(true) - wire("s2c")) <= 1,
        `server: watch ${probesOf(true)}, wire ${wire("s2c")}`,
      );
      assert.ok(
        Math.abs(probesOf(false) - wire("c2s")) <= 1,
        `client: watch ${probesOf(false)}, wire ${wire("c2s")}`,
      );
      assert.ok(
        acksOf(false) >= 1 && acksOf(false) <= wire("s2c"),
        "the client answered the server's",
      );
    }),
});

Deno.test({
  name: `watch: zero-window probes from the persist timer, not keep-alive${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const port = freePort();
      const watch = new CliProcess(["watch", "--json", "--port", String(port), "--poll", "50ms"]);
      await recordPeers("zero-window", `${dir}/zw.pcap`, { port });
      watch.stop("SIGINT");
      const watched = (await watch.done).events as Json[];
      const types = watched.map((o) => o.type);
      assert.equal(types.filter((t) => t === "probe" || t === "probe-ack").length, 0, types.join());
      assert.ok(types.filter((t) => t === "zero-window-probe").length >= 2, types.join());
    }),
});

Deno.test({
  name:
    `a capture started mid-connection: the first probe is proven by the peer's ACK and re-labelled${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const file = `${dir}/mid.pcap`;
      await recordPeers("idle-client", file, { midConnection: true });
      const { packets, summaries } = await analyse(file);
      assert.equal(packets[0].label, "ack", "nothing told what the first packet was");
      assert.equal(packets[1].label, "keepalive-ack");
      assert.deepEqual(packets[1].relabel, {
        packet: packets[0].frame,
        from: "ack",
        to: "keepalive",
      });
      const s = summaries[0];
      assert.equal(s.rolesFromHandshake, false);
      assert.equal(s.labels.keepalive, s.probesSent);
      assert.equal(s.probesSent, packets.filter((p) => p.label === "keepalive").length + 1);
      await secondOpinion(file);
    }),
});

Deno.test({
  name: `short connections closing cleanly: one connection each, no phantoms${skip}`,
  ignore: missing !== null,
  fn: () =>
    withDir(async (dir) => {
      const file = `${dir}/short.pcap`;
      await recordPeers("short", file);
      const { summaries, end } = await analyse(file);
      assert.equal(end.connections, 5);
      assert.ok(summaries.every((s) => s.rolesFromHandshake), "none without a handshake");
      await secondOpinion(file);
    }),
});
