/**
 * 10,000 connections (or as many as the descriptor limit allows) through our own server and
 * client, keep-alive on every one: all open, the kernel shows a keep-alive timer on every socket,
 * all close, and the server's descriptors come back to what it had before; and the deeper accept
 * queue that lets a burst like that in. Nothing here is timed: speed and memory are
 * `deno task bench`'s job.
 */
import assert from "assert";
import { EventProcess } from "../lib/process/event_process.ts";
import { KeepAliveController } from "../lib/keepalive/mod.ts";
import { raiseBacklog, WANTED_BACKLOG } from "../lib/roles/backlog.ts";
import type { TcpkaEvent } from "../lib/events.ts";
import { querySockets } from "../lib/observe/ss.ts";
import { cliArgs, eventsOf, ROOT } from "./helpers/cli.ts";

const linux = Deno.build.os === "linux";
const WANTED = 10_000;
/** Long enough that no probe is sent while the test runs. */
const KEEPALIVE = ["--idle", "60s", "--interval", "10s", "--count", "3"];
const EXPECTED = { idleMs: 60_000, intervalMs: 10_000, count: 3 };

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** The descriptor limit the children can be given: 20,000, or less if the hard limit is lower. */
async function childLimit(): Promise<number> {
  const hard = await sh("ulimit -Hn");
  return hard === "unlimited" ? 20_000 : Math.min(20_000, Number(hard));
}

/** tcpka with its baked permissions under `ulimit -n limit`; bash execs it, so the pid is tcpka's. */
function tcpka(limit: number, args: string[]): EventProcess {
  const script = `ulimit -n ${limit} && exec "$@"`;
  return new EventProcess(["bash", "-c", script, "bash", Deno.execPath(), ...cliArgs(args)], {
    cwd: ROOT,
  });
}

/** Another process's open descriptors. Deno reads /proc/PID/fd only with --allow-all; ls can. */
async function descriptors(pid: number): Promise<number> {
  return Number(await sh(`ls -U /proc/${pid}/fd | wc -l`));
}

/** Polls `test` until it holds; fails (naming `what`) if it never does. Not a timing check. */
async function until(test: () => boolean | Promise<boolean>, what: string, limitMs = 45_000) {
  const end = Date.now() + limitMs;
  while (!await test()) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function checkKeepAlive(events: TcpkaEvent[], n: number, who: string) {
  const reports = eventsOf(events, "keepalive").map((e) => e.report);
  assert.equal(reports.length, n, `${who}: keep-alive events`);
  const wrong = reports.filter((r) =>
    r.source !== "socket" || !r.enabled || r.effective.idleMs !== EXPECTED.idleMs ||
    r.effective.intervalMs !== EXPECTED.intervalMs || r.effective.count !== EXPECTED.count
  );
  assert.equal(wrong.length, 0, `${who}: ${JSON.stringify(wrong[0])}`);
}

Deno.test({
  name: "10,000 keep-alive connections open and close cleanly; the server leaks no descriptor",
  ignore: !linux,
  async fn() {
    const limit = await childLimit();
    // Each side needs a descriptor per connection plus its runtime's own.
    const n = Math.min(WANTED, limit - 200);
    const server = tcpka(limit, ["server", "--json", "--port", "0", "--hold", "0", ...KEEPALIVE]);
    let client: EventProcess | null = null;
    try {
      const listening = await server.waitFor((e) => e.type === "listening");
      const port = (listening as Extract<TcpkaEvent, { type: "listening" }>).port;

      // One connection first, so the baseline includes what the server sets up once, on its
      // first connection (libc, the readiness watcher's epoll and eventfd).
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      await server.waitFor((e) => e.type === "closed" && e.id === 1);
      const pid = server.child.pid;
      const baseline = await descriptors(pid);

      client = tcpka(limit, [
        "client",
        "--json",
        "--port",
        String(port),
        "--connections",
        String(n),
        "--hold",
        "0",
        ...KEEPALIVE,
      ]);
      const c = client;
      await until(() => eventsOf(c.events, "keepalive").length >= n, `${n} connections open`);
      await until(() => eventsOf(server.events, "keepalive").length >= n + 1, "all accepted");
      assert.equal(eventsOf(c.events, "connect-failed").length, 0);
      checkKeepAlive(c.events, n, "client");
      checkKeepAlive(server.events, n + 1, "server");
      assert.ok(await descriptors(pid) >= baseline + n, "the server holds a descriptor each");

      // From outside both processes: the kernel has a keep-alive timer on every socket.
      const sockets = (await querySockets(port)).filter((s) => s.state === "ESTAB");
      const clientSide = sockets.filter((s) => s.peerPort === port);
      const serverSide = sockets.filter((s) => s.localPort === port);
      assert.equal(clientSide.length, n);
      assert.equal(serverSide.length, n);
      const noTimer = sockets.filter((s) => s.timer?.name !== "keepalive");
      assert.equal(noTimer.length, 0, JSON.stringify(noTimer[0]));

      // SIGTERM for the client: it closes all of them, the server sees every FIN. A client stopped
      // before its hold ends exits 143 (the README's exit-status table), after its summary.
      c.stop("SIGTERM");
      const done = await c.done;
      assert.equal(done.code, 143, done.stderr);
      const summary = eventsOf(done.events, "summary")[0];
      assert.equal(summary.connections, n);
      assert.equal(summary.failedToConnect, 0);
      assert.deepEqual(summary.ended, { shutdown: n });

      await until(() => eventsOf(server.events, "closed").length === n + 1, "all closed at server");
      const reasons = new Set(eventsOf(server.events, "closed").map((e) => e.reason));
      assert.deepEqual([...reasons], ["peer-closed"]);
      let open = -1;
      await until(async () => (open = await descriptors(pid)) === baseline, "no descriptor left")
        .catch(() => {});
      assert.equal(open, baseline, "the server's descriptors after every connection closed");
    } finally {
      client?.stop("SIGKILL");
      server.stop();
    }
    const end = await server.done;
    assert.equal(end.code, 0, end.stderr);
    const summary = eventsOf(end.events, "summary")[0];
    assert.equal(summary.connections, n + 1);
    assert.deepEqual(summary.ended, { "peer-closed": n + 1 });
  },
});

Deno.test({
  name: "the listen backlog is raised from Deno's 511 to net.core.somaxconn, read back and in ss",
  ignore: !linux,
  async fn() {
    const somaxconn = Number(await sh("cat /proc/sys/net/core/somaxconn"));
    const controller = await KeepAliveController.create();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const before = await listenQueue(listener.addr.port);
      const outcome = raiseBacklog(controller, listener);
      assert.ok(outcome.raised, outcome.raised ? "" : outcome.reason);
      assert.equal(outcome.backlog, Math.min(somaxconn, WANTED_BACKLOG));
      assert.equal(await listenQueue(listener.addr.port), outcome.backlog);
      assert.equal(before, Math.min(somaxconn, 511));
    } finally {
      listener.close();
    }
  },
});

/** The accept-queue limit of the listener on `port`: the Send-Q column of `ss -ltn`. */
async function listenQueue(port: number): Promise<number> {
  const line = await sh(`ss -ltnH 'sport = :${port}'`);
  return Number(line.split(/\s+/)[2]);
}
