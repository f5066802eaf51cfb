/**
 * `tcpka inspect` against programs nobody here wrote: Python processes that set keep-alive off,
 * 30/5/4, 300/60/5 and the system defaults (each reads its own getsockopt back as the reference),
 * socat with keepalive,keepidle=…, a known idle time, a process in a namespace the test makes, the
 * plain-user view, and the Prometheus output through promtool.
 */
import assert from "assert";
import { runCli, runCliAsNobody, which } from "./helpers/cli.ts";
import {
  type HeldSocket,
  startClientHolder,
  startHolderServer,
  startSocat,
} from "./helpers/holders.ts";
import { withNamespace } from "./helpers/netns.ts";
import type { InspectedConnection, InspectReport } from "../lib/inspect/model.ts";

const linux = Deno.build.os === "linux";
const root = linux && Deno.uid() === 0;
const missing = [
  ...(root ? [] : ["root"]),
  ...(["python3", "socat", "ss", "nsenter"].filter((p) => !which(p))),
];
const skipWhy = missing.length ? ` (skipped: needs ${missing.join(", ")})` : "";
const ignore = missing.length > 0;

async function inspectJson(args: string[]): Promise<InspectReport> {
  const r = await runCli(["inspect", "--json", ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return JSON.parse(r.stdout) as InspectReport;
}

function connectionsOf(report: InspectReport, pid: number): InspectedConnection[] {
  return report.groups.find((g) => g.pid === pid)?.connections ?? [];
}

function byLocalPort(cs: InspectedConnection[], port: number): InspectedConnection {
  const c = cs.find((c) => c.socket.localPort === port);
  assert.ok(
    c,
    `no connection from local port ${port} in ${JSON.stringify(cs.map((c) => c.socket))}`,
  );
  return c;
}

/** What inspect must say, from the program's own getsockopt. */
function assertReadsAsHeld(c: InspectedConnection, held: HeldSocket): void {
  assert.equal(c.owner?.fd, held.fd);
  assert.equal(c.keepalive.source, "socket");
  assert.equal(c.keepalive.enabled, held.keepalive);
  assert.deepEqual(c.keepalive.values, {
    idleMs: held.idle * 1000,
    intervalMs: held.interval * 1000,
    count: held.count,
  });
  assert.equal(c.keepalive.userTimeoutMs, held.userTimeout);
}

Deno.test({
  name: `inspect reads what Python set (off, 30/5/4, 300/60/5, defaults) and judges it${skipWhy}`,
  ignore,
  async fn() {
    const { server, port, pid: serverPid } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, [
      "off",
      "30/5/4",
      "300/60/5",
      "default",
    ]);
    try {
      // Data at a known time on connection 0: its idle time since must match the kernel's.
      const sent = await holder.ask("send 0 hello", "sent");
      await new Promise((r) => setTimeout(r, 1500));
      const started = Date.now();
      const report = await inspectJson(["--port", String(port), "--path-timeout", "350s"]);
      const ended = Date.now();
      assert.equal(report.access.source, "socket");
      assert.equal(report.namespace.pid, null);
      const mine = connectionsOf(report, first.pid);
      assert.equal(mine.length, 4);
      const held = first.sockets;
      for (const h of held) assertReadsAsHeld(byLocalPort(mine, h.local[1]), h);

      const verdict = (i: number) => byLocalPort(mine, held[i].local[1]).verdict!;
      assert.equal(verdict(0).risk, "at-risk");
      assert.match(verdict(0).text, /^dies when idle 350s: keep-alive off/);
      assert.equal(verdict(1).risk, "safe");
      assert.match(verdict(1).text, /^safe: probes every 30s/);
      assert.equal(verdict(2).risk, "tight");
      assert.equal(verdict(3).risk, "at-risk");
      assert.match(verdict(3).text, /first probe after 2h ≥ 350s/);
      // Sorted by risk: the two at risk first, then tight, then safe.
      assert.deepEqual(mine.map((c) => c.verdict!.risk), ["at-risk", "at-risk", "tight", "safe"]);

      // The known idle time: since the data was sent, give or take the 100 ms ss rounds to.
      const idle = byLocalPort(mine, held[0].local[1]).socket.lastSndMs!;
      const sentAt = Math.round(sent.time * 1000);
      assert.ok(
        idle >= started - sentAt - 200 && idle <= ended - sentAt + 200,
        `lastsnd ${idle}ms, expected ${started - sentAt}–${ended - sentAt}ms`,
      );

      // The server's side: four accepted connections, keep-alive off on each (Python's default).
      const serverSide = connectionsOf(report, serverPid);
      assert.equal(serverSide.length, 4);
      assert.ok(serverSide.every((c) => c.keepalive.enabled === false));
    } finally {
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `inspect --pid reads socat's keepalive,keepidle=45,keepintvl=10,keepcnt=5${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const socat = startSocat("127.0.0.1", port, [
      "keepalive",
      "keepidle=45",
      "keepintvl=10",
      "keepcnt=5",
    ]);
    try {
      await server.next((l) => l.type === "accepted");
      const report = await inspectJson(["--pid", String(socat.pid), "--path-timeout", "50s"]);
      const [c] = connectionsOf(report, socat.pid);
      assert.equal(report.groups.length, 1);
      assert.equal(report.groups[0].command, "socat");
      assert.equal(c.socket.peerPort, port);
      assert.deepEqual(
        [c.keepalive.source, c.keepalive.enabled, c.keepalive.values],
        ["socket", true, { idleMs: 45_000, intervalMs: 10_000, count: 5 }],
      );
      // 45 < 50 but 45 + 10 ≥ 50: one lost probe would leave the path silent for longer than its timeout.
      assert.equal(c.verdict?.risk, "tight");
    } finally {
      await socat.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `inspect --pid reads a process inside a network namespace the test made${skipWhy}`,
  ignore,
  async fn() {
    await withNamespace("inspect", async (ns, inNs) => {
      const s = await startHolderServer(inNs);
      let holder;
      try {
        const h = await startClientHolder(s.port, ["20/4/3"], inNs);
        holder = h.holder;
        // From the host's own namespace, the connection is not there at all.
        const host = await inspectJson(["--port", String(s.port)]);
        assert.equal(connectionsOf(host, h.first.pid).length, 0);

        const report = await inspectJson(["--pid", String(h.first.pid)]);
        assert.deepEqual(report.namespace, { pid: h.first.pid, name: ns });
        const [c] = connectionsOf(report, h.first.pid);
        assertReadsAsHeld(c, h.first.sockets[0]);
        const text = await runCli(["inspect", "--pid", String(h.first.pid)]);
        assert.match(text.stdout, new RegExp(`pid ${h.first.pid}'s network namespace \\(${ns}\\)`));
        assert.match(text.stdout, /on 20s\/4s\/3/);
      } finally {
        await holder?.stop();
        await s.server.stop();
      }
    });
  },
});

Deno.test({
  name: `inspect as a plain user (nobody): the inferred view, and it says why${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, ["off", "30/5/4"]);
    try {
      const r = await runCliAsNobody([
        "inspect",
        "--port",
        String(port),
        "--path-timeout",
        "350s",
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as InspectReport;
      assert.equal(report.access.source, "inferred");
      assert.match(report.access.note!, /root/);
      const all = report.groups.flatMap((g) => g.connections);
      assert.equal(all.length, 4); // both ends of two connections, owners unseen
      assert.ok(all.every((c) => c.owner === null && c.keepalive.source === "inferred"));
      const [off, on] = first.sockets.map((h) => byLocalPort(all, h.local[1]));
      assert.equal(off.keepalive.enabled, false);
      assert.equal(off.verdict?.risk, "at-risk");
      assert.equal(on.keepalive.enabled, true);
      // The running timer bounds the idle time from below: at least ~30 s, and it is 30 s.
      const least = on.keepalive.idleAtLeastMs!;
      assert.ok(least > 25_000 && least <= 30_500, `idle ≥ ${least}ms`);
      assert.equal(on.verdict?.risk, "unknown");

      const text = await runCliAsNobody(["inspect", "--port", String(port)]);
      assert.match(text.stdout, /INFERRED/);
      assert.match(text.stdout, /owner not visible to this user/);
    } finally {
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `inspect --format prometheus passes promtool check metrics${
    skipWhy || (which("promtool") ? "" : " (skipped: needs promtool, Debian package prometheus)")
  }`,
  ignore: ignore || !which("promtool"),
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder } = await startClientHolder(port, ["off", "30/5/4"]);
    try {
      const r = await runCli([
        "inspect",
        "--state",
        "all",
        "--port",
        String(port),
        "--path-timeout",
        "350s",
        "--format",
        "prometheus",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split("\n");
      // Three established off (one client side, two server side), one on; the listener.
      assert.ok(
        lines.includes(
          'tcpka_connections{process="python3",state="established",keepalive="off"} 3',
        ),
        r.stdout,
      );
      assert.ok(
        lines.includes('tcpka_connections{process="python3",state="established",keepalive="on"} 1'),
      );
      assert.ok(
        lines.includes('tcpka_connections{process="python3",state="listen",keepalive="off"} 1'),
      );
      assert.ok(
        lines.includes('tcpka_connections_at_risk{process="python3",path_timeout="350"} 3'),
      );
      const check = new Deno.Command("promtool", {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = check.stdin.getWriter();
      await writer.write(new TextEncoder().encode(r.stdout));
      await writer.close();
      const out = await check.output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stdout) + dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout) + dec.decode(out.stderr), "");
    } finally {
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: `inspect: bad input and faults are one line with the right exit code${skipWhy}`,
  ignore,
  async fn() {
    const cases: [string[], number, RegExp, Record<string, string>?][] = [
      [["inspect", "--pid", "4194303"], 1, /^tcpka: no process with pid 4194303$/],
      [["inspect", "--pid", "0"], 2, /--pid/],
      [["inspect", "--state", "closing"], 2, /--state must be established or all/],
      [["inspect", "--dst", "example.com"], 2, /--dst "example.com" must be an IP address/],
      [["inspect", "--path-timeout", "soon"], 2, /--path-timeout/],
      [["inspect", "--json", "--format", "prometheus"], 2, /contradict/],
      [
        ["inspect"],
        1,
        /^tcpka: ss is not installed \(Debian\/Ubuntu: apt-get install iproute2\)$/,
        {
          PATH: "/nonexistent",
        },
      ],
      [["set", "--pid", "4194303", "--period", "1s"], 1, /^tcpka: no process with pid 4194303$/],
      [["set", "--pid", "1"], 2, /nothing to set/],
      [["set", "--period", "1s"], 2, /--pid P is required/],
      [["set", "--pid", "1", "--idle", "1500ms"], 2, /whole seconds/],
      [["set", "--pid", "1", "--off", "--idle", "1s"], 2, /--off cannot be combined/],
      [["set", "--pid", "1", "--count", "500"], 2, /count 500 is out of range/],
    ];
    for (const [args, code, message, env] of cases) {
      const r = await runCli(args, { env });
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr.trim(), message);
    }
  },
});

Deno.test({
  name: `set as a plain user on root's process: one line naming what is missing, exit 2${skipWhy}`,
  ignore,
  async fn() {
    const { server, port } = await startHolderServer();
    const { holder, first } = await startClientHolder(port, ["off"]);
    try {
      const r = await runCliAsNobody(["set", "--pid", String(first.pid), "--period", "5s"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr.trim(),
        new RegExp(
          `^tcpka: pidfd_getfd: Operation not permitted for pid ${first.pid}: run as root ` +
            `\\(or with CAP_SYS_PTRACE over it\\)`,
        ),
      );
      const after = await holder.report();
      assert.equal(after.sockets[0].keepalive, false);
      // inspect --pid says the same, since ss shows nobody none of root's sockets either.
      const i = await runCliAsNobody(["inspect", "--pid", String(first.pid)]);
      assert.equal(i.code, 2, i.stderr);
      assert.match(i.stderr, /Operation not permitted .* ss shows no sockets of pid/);
    } finally {
      await holder.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    `inspect as root finds the owners ss -p finds, a socket shared after fork() included${skipWhy}`,
  ignore,
  async fn() {
    // The owners come from tcpka's own scan (socket cookies), not from ss -p: they must agree.
    // A Python process connects with keep-alive 20/4/3, then forks: both hold the descriptor.
    const program = `
import os, socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
for opt, v in ((socket.TCP_KEEPIDLE, 20), (socket.TCP_KEEPINTVL, 4), (socket.TCP_KEEPCNT, 3)):
    c.setsockopt(socket.IPPROTO_TCP, opt, v)
c.connect(srv.getsockname()); a, _ = srv.accept()
child = os.fork()
if child == 0:
    time.sleep(60); os._exit(0)
print(srv.getsockname()[1], c.fileno(), child, flush=True)
sys.stdin.read()
os.kill(child, 9)
`;
    const proc = new Deno.Command("python3", {
      args: ["-c", program],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let line = "";
      while (!line.includes("\n")) line += (await reader.read()).value ?? "\n";
      const [port, fd, child] = line.trim().split(" ").map(Number);
      const ss = await new Deno.Command("ss", {
        args: ["-tnpH", "state", "established", `( sport = :${port} or dport = :${port} )`],
        stdout: "piped",
      }).output();
      const ssOwners = [...new TextDecoder().decode(ss.stdout).matchAll(/pid=(\d+),fd=(\d+)/g)]
        .map((m) => `${m[1]}/${m[2]}`).sort();
      const report = await inspectJson(["--port", String(port)]);
      const all = report.groups.flatMap((g) => g.connections);
      const ours = all.flatMap((c) => c.socket.owners.map((o) => `${o.pid}/${o.fd}`)).sort();
      assert.deepEqual(ours, ssOwners);
      const shared = all.find((c) => c.socket.peerPort === port)!;
      assert.deepEqual(
        shared.socket.owners.map((o) => [o.command, o.pid, o.fd]).sort(),
        [
          ["python3", child, fd],
          ["python3", proc.pid, fd],
        ].sort(),
      );
      assert.equal(shared.keepalive.source, "socket");
      assert.deepEqual(shared.keepalive.values, { idleMs: 20_000, intervalMs: 4000, count: 3 });
    } finally {
      await proc.stdin.close();
      await reader.cancel();
      await proc.status;
    }
  },
});
