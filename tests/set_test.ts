/**
 * `tcpka set --pid` against programs nobody here wrote, verified from outside: the program's own
 * getsockopt, ss's keep-alive timer, probes on the wire (tcpdump itself), a blocking recv that
 * fails with ETIMEDOUT when the peer goes silent, and a descriptor reused under our feet.
 */
import assert from "assert";
import { runCli, which } from "./helpers/cli.ts";
import { eventually, startClientHolder, startHolderServer, startSocat } from "./helpers/holders.ts";
import { withNamespace } from "./helpers/netns.ts";
import { RuntimeError } from "../lib/errors.ts";
import { listSockets } from "../lib/inspect/enumerate.ts";
import { openSocketLayer } from "../lib/inspect/socket_layer.ts";
import { openChecked, setListed, type SetReport } from "../lib/inspect/set_live.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const missing = [
  ...(root ? [] : ["root"]),
  ...(["python3", "socat", "ss", "nsenter", "tcpdump", "nft"].filter((p) => !which(p))),
];
const skipWhy = missing.length ? ` (skipped: needs ${missing.join(", ")})` : "";
const ignore = missing.length > 0;
/** Keep-alive fast enough to watch: a probe a second, dead after three unanswered. */
const FAST = ["--idle", "1s", "--interval", "1s", "--count", "3"];

async function setJson(args: string[]): Promise<SetReport> {
  const r = await runCli(["set", "--json", ...args]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as SetReport;
}

/** ss's line for the one connection from `localPort` to `remotePort` (both ports: others share one). */
async function ssLine(
  localPort: number,
  remotePort: number,
  prefix: string[] = [],
): Promise<string> {
  const filter = `( sport = :${localPort} and dport = :${remotePort} )`;
  const argv = [...prefix, "ss", "-tnoH", "state", "established", filter];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** tcpdump's own timestamps of the segments from `srcPort` to `dstPort` on lo. */
async function startTcpdump(srcPort: number, dstPort: number) {
  const child = new Deno.Command("tcpdump", {
    args: [
      "-i",
      "lo",
      "-nn",
      "-tt",
      "-l",
      "-U",
      `tcp and src port ${srcPort} and dst port ${dstPort}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stamps: number[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const t = Number(rest.slice(0, nl).split(" ")[0]);
        if (Number.isFinite(t)) stamps.push(t * 1000);
        rest = rest.slice(nl + 1);
      }
    }
  })();
  // tcpdump says "listening on lo" once the capture is live.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (let seen = ""; !seen.includes("listening on");) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`tcpdump did not start: ${seen}`);
    seen += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    stamps,
    async stop() {
      child.kill("SIGTERM");
      await Promise.all([child.status, reading, drain]);
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Sets idle 1s, interval 1s, count 3 on `pid` (one idle connection from clientPort to serverPort)
 * and checks ss's timer and the probes on the wire: about one a second.
 */
async function setAndWatchProbes(pid: number, clientPort: number, serverPort: number) {
  assert.doesNotMatch(await ssLine(clientPort, serverPort), /timer:\(keepalive/);
  const dump = await startTcpdump(clientPort, serverPort);
  try {
    const setAt = Date.now();
    const report = await setJson(["--pid", String(pid), ...FAST]);
    assert.deepEqual(report.results.map((r) => [r.outcome, r.holds]), [["changed", true]]);
    assert.deepEqual(report.results[0].after, {
      enabled: true,
      values: { idleMs: 1000, intervalMs: 1000, count: 3 },
      userTimeoutMs: 0,
    });
    assert.match(await ssLine(clientPort, serverPort), /timer:\(keepalive,/);
    await eventually(() => Promise.resolve(dump.stamps.length >= 4 ? true : undefined), 15_000);
    const probes = dump.stamps.filter((t) => t >= setAt - 50);
    const gaps = probes.slice(1).map((t, i) => t - probes[i]);
    // The kernel's timer, not our speed: answered probes one idle (1 s) apart.
    assert.ok(
      Math.abs(median(gaps) - 1000) < 250,
      `probe gaps ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`,
    );
    return gaps;
  } finally {
    await dump.stop();
  }
}

Deno.test({
  name: `set on a Python process: its getsockopt, ss's timer, probes every 1s; --off${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, ["off"]);
    try {
      const clientPort = first.sockets[0].local[1];
      await setAndWatchProbes(first.pid, clientPort, port);
      const seen = (await holder.report()).sockets[0];
      assert.deepEqual(
        [seen.keepalive, seen.idle, seen.interval, seen.count],
        [true, 1, 1, 3],
      );
      const off = await setJson(["--pid", String(first.pid), "--off"]);
      assert.deepEqual(off.results.map((r) => [r.outcome, r.after?.enabled]), [["changed", false]]);
      assert.equal((await holder.report()).sockets[0].keepalive, false);
      assert.doesNotMatch(await ssLine(clientPort, port), /timer:\(keepalive/);
      // Only what is asked for: TCP_USER_TIMEOUT alone leaves keep-alive as it is (off).
      const ut = await setJson(["--pid", String(first.pid), "--user-timeout", "5s"]);
      assert.deepEqual(ut.results.map((r) => [r.outcome, r.after?.userTimeoutMs]), [
        ["changed", 5000],
      ]);
      const last = (await holder.report()).sockets[0];
      assert.deepEqual([last.keepalive, last.userTimeout], [false, 5000]);
    } finally {
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `set on socat (no keepalive option): ss's timer and probes every 1s${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const socat = startSocat("127.0.0.1", port, []);
    try {
      const accepted = await server.next((l) => l.type === "accepted");
      await setAndWatchProbes(socat.pid, accepted.socket.peer[1], port);
    } finally {
      await socat.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `set --listeners on a Python server: a connection accepted afterwards has it${skipWhy}`,
  ignore,
  async fn() {
    const { server, port, pid } = await startHolderServer();
    let holder;
    try {
      const report = await setJson([
        "--pid",
        String(pid),
        "--listeners",
        "--idle",
        "7s",
        "--interval",
        "3s",
        "--count",
        "2",
      ]);
      assert.deepEqual(
        report.results.map((r) => [r.socket.state, r.outcome, r.holds]),
        [["LISTEN", "changed", true]],
      );
      const accepted = server.next((l) => l.type === "accepted");
      holder = (await startClientHolder(port, ["off"])).holder;
      const s = (await accepted).socket;
      assert.deepEqual([s.keepalive, s.idle, s.interval, s.count], [true, 7, 3, 2]);
    } finally {
      await holder?.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    `set in a namespace, then the peer goes silent (nft drop): the target's recv fails with ETIMEDOUT after idle + interval × count${skipWhy}`,
  ignore,
  async fn() {
    await withNamespace("deadpeer", async (ns, inNs) => {
      let server, holder;
      try {
        const s = await startHolderServer(inNs);
        server = s.server;
        const h = await startClientHolder(s.port, ["off"], inNs);
        holder = h.holder;
        // The program blocks in recv() on its connection, as a client waiting for a reply does.
        const failed = holder.next((l) => l.type === "recv", 30_000);
        await holder.tell("recv 0");
        const report = await setJson(["--pid", String(h.first.pid), ...FAST]);
        assert.deepEqual(report.namespace, { pid: h.first.pid, name: ns });
        assert.deepEqual(report.results.map((r) => r.outcome), ["changed"]);
        // Probes are answered while the path works: the kernel shows none outstanding.
        const clientPort = h.first.sockets[0].local[1];
        await new Promise((r) => setTimeout(r, 1500));
        assert.match(await ssLine(clientPort, s.port, inNs), /timer:\(keepalive,[^,]+,0\)/);
        // The peer vanishes: its answers are dropped, nothing tells the client.
        const rules = [
          "table inet tcpka_silence {",
          "  chain input {",
          "    type filter hook input priority 0;",
          `    tcp sport ${s.port} drop`,
          "  }",
          "}",
        ].join("\n");
        const nft = new Deno.Command("ip", {
          args: ["netns", "exec", ns, "nft", "-f", "-"],
          stdin: "piped",
        }).spawn();
        const w = nft.stdin.getWriter();
        await w.write(new TextEncoder().encode(rules));
        await w.close();
        assert.ok((await nft.status).success);
        const droppedAt = Date.now();
        const recv = await failed;
        assert.equal(recv.errno, 110, JSON.stringify(recv)); // ETIMEDOUT
        const detectedMs = recv.time * 1000 - droppedAt;
        // The last answer came at most one idle before the drop: idle + interval × count = 4 s
        // after it, so 3–4 s after the drop; generous bounds for a loaded machine.
        assert.ok(detectedMs > 2500 && detectedMs < 7000, `ETIMEDOUT ${detectedMs}ms after drop`);
      } finally {
        await holder?.stop();
        await server?.stop();
      }
    });
  },
});

Deno.test({
  name: `set after the target closed and reused descriptors: nothing wrong is touched${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, ["off", "off", "off"]);
    const { sockets } = openSocketLayer();
    const process = await openChecked(sockets!, first.pid);
    try {
      const [reused, closed, kept] = first.sockets;
      const listing = await listSockets({ states: "established", port });
      // Between listing and setting: fd of #0 now holds a new connection, #1 is closed.
      const after = await holder.ask(`reuse 0 127.0.0.1 ${port}`, "report");
      const fresh = after.sockets.find((s: { fd: number }) => s.fd === reused.fd);
      assert.notEqual(fresh.local[1], reused.local[1]);
      await holder.ask("close 1", "closed");
      const results = setListed(sockets!, process, listing.sockets, {
        pid: first.pid,
        query: { states: "established", port },
        change: { enabled: true, idleMs: 1000, intervalMs: 1000, count: 3 },
        dryRun: false,
      });
      const byFd = new Map(results.map((r) => [r.fd, r]));
      assert.equal(byFd.get(reused.fd)?.outcome, "skipped");
      assert.match(byFd.get(reused.fd)!.why!, /now holds another socket/);
      assert.equal(byFd.get(closed.fd)?.outcome, "skipped");
      assert.match(byFd.get(closed.fd)!.why!, /was closed/);
      assert.deepEqual([byFd.get(kept.fd)?.outcome, byFd.get(kept.fd)?.holds], ["changed", true]);
      // The program's own view: the new connection at the reused number was not touched.
      const seen = (await holder.report()).sockets;
      assert.equal(seen.find((s) => s.fd === reused.fd)?.keepalive, false);
      assert.equal(seen.find((s) => s.fd === kept.fd)?.keepalive, true);
    } finally {
      process.close();
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `set when the target exits between listing and setting: one line, exit 1${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, ["off"]);
    const { sockets } = openSocketLayer();
    const process = await openChecked(sockets!, first.pid);
    try {
      const listing = await listSockets({ states: "established", port });
      await holder.stop(); // SIGKILL, and reaped
      assert.throws(
        () =>
          setListed(sockets!, process, listing.sockets, {
            pid: first.pid,
            query: { states: "established", port },
            change: { enabled: true },
            dryRun: false,
          }),
        (err: Error) =>
          err instanceof RuntimeError &&
          err.message ===
            `process ${first.pid} exited while its sockets were being set (0 of 1 done)`,
      );
    } finally {
      process.close();
      await server.stop();
    }
  },
});
