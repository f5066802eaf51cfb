/** Server and client as subprocesses with the baked permissions, checked against the kernel. */
import assert from "assert";
import { cliArgs, CliProcess, eventsOf, ROOT, startServer } from "./helpers/cli.ts";
import { querySockets } from "../lib/observe/ss.ts";
import { PosixSockets } from "../lib/socket/posix.ts";
import { PLATFORMS } from "../lib/socket/platform.ts";
import type { TcpkaEvent } from "../lib/events.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name:
    "client idle 1s/interval 1s/count 3: kernel read-back, ss timer, hold expiry, FIN at server",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    const client = new CliProcess([
      "client",
      "--json",
      "--port",
      String(port),
      "--idle",
      "1s",
      "--interval",
      "1s",
      "--count",
      "3",
      "--hold",
      "2500ms",
    ]);
    try {
      const ka = await client.waitFor((e) => e.type === "keepalive") as Extract<
        TcpkaEvent,
        { type: "keepalive" }
      >;
      assert.equal(ka.report.source, "socket");
      assert.deepEqual(ka.report.effective, { idleMs: 1000, intervalMs: 1000, count: 3 });
      const connected = eventsOf(client.events, "connected")[0];
      const localPort = Number(connected.local.split(":").pop());

      // From outside the process: the kernel's keep-alive timer on the client's socket.
      const sockets = await querySockets(port);
      const mine = sockets.find((s) => s.localPort === localPort);
      assert.equal(mine?.timer?.name, "keepalive", JSON.stringify(sockets));
      assert.ok(mine!.timer!.ms <= 1000);

      const done = await client.done;
      assert.equal(done.code, 0, done.stderr);
      const closed = eventsOf(done.events, "closed");
      assert.equal(closed.length, 1);
      assert.equal(closed[0].reason, "hold-expired");
      assert.ok(
        closed[0].durationMs >= 2400 && closed[0].durationMs < 4000,
        `${closed[0].durationMs}`,
      );
      const serverClosed = await server.waitFor((e) => e.type === "closed");
      assert.equal((serverClosed as Extract<TcpkaEvent, { type: "closed" }>).reason, "peer-closed");
    } finally {
      client.stop();
      server.stop();
    }
    const end = await server.done;
    assert.equal(end.code, 0);
    const summary = eventsOf(end.events, "summary")[0];
    assert.deepEqual(summary.ended, { "peer-closed": 1 });
    assert.equal(summary.connections, 1);
  },
});

Deno.test("server hold expiry: the client sees the peer close (FIN) and exits 0", async () => {
  const { server, port } = await startServer(["--hold", "1s"]);
  const client = new CliProcess(["client", "--json", "--port", String(port), "--hold", "0"]);
  const done = await client.done;
  server.stop();
  await server.done;
  assert.equal(done.code, 0, done.stderr);
  assert.equal(eventsOf(done.events, "closed")[0].reason, "peer-closed");
});

Deno.test({
  name: "server --reset: the client sees the peer reset (RST) and exits 1",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "1s", "--reset"]);
    const client = new CliProcess(["client", "--json", "--port", String(port), "--hold", "0"]);
    const done = await client.done;
    server.stop();
    await server.done;
    assert.equal(done.code, 1);
    assert.equal(eventsOf(done.events, "closed")[0].reason, "peer-reset");
    assert.equal(eventsOf(done.events, "summary")[0].ended["peer-reset"], 1);
  },
});

Deno.test("SIGTERM: the server closes open connections, prints a summary and exits 0", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  const client = new CliProcess([
    "client",
    "--json",
    "--port",
    String(port),
    "--hold",
    "0",
    "--connections",
    "3",
  ]);
  await server.waitFor((e) => e.type === "keepalive" && e.id === 3);
  server.stop("SIGTERM");
  const end = await server.done;
  assert.equal(end.code, 0, end.stderr);
  const summary = eventsOf(end.events, "summary")[0];
  assert.equal(summary.connections, 3);
  assert.deepEqual(summary.ended, { shutdown: 3 });
  const clientDone = await client.done;
  assert.equal(clientDone.code, 0);
  assert.deepEqual(eventsOf(clientDone.events, "summary")[0].ended, { "peer-closed": 3 });
});

Deno.test({
  name: "the server echoes data and survives a client that resets",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    const sockets = new PosixSockets(PLATFORMS.linux);
    try {
      // Data is echoed.
      const talker = await Deno.connect({ hostname: "127.0.0.1", port });
      await talker.write(new TextEncoder().encode("hello"));
      const buf = new Uint8Array(16);
      const n = await talker.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "hello");
      talker.close();

      // A reset.
      const resetter = await Deno.connect({ hostname: "127.0.0.1", port });
      // Reset only once the server holds it: an RST still in the accept queue is another story.
      await server.waitFor((e) => e.type === "keepalive" && e.id === 2);
      sockets.reset(sockets.locate(resetter)!.handle);
      resetter.close();
      await server.waitFor((e) => e.type === "closed" && e.reason === "peer-reset");

      // Still serving.
      const after = await Deno.connect({ hostname: "127.0.0.1", port });
      await after.write(new Uint8Array([1]));
      assert.equal(await after.read(buf), 1);
      after.close();
      await server.waitFor((e) => e.type === "closed" && e.id === 3);
    } finally {
      server.stop();
    }
    const end = await server.done;
    assert.equal(end.code, 0);
    assert.deepEqual(eventsOf(end.events, "summary")[0].ended, {
      "peer-closed": 2,
      "peer-reset": 1,
    });
  },
});

/** Runs the client without --allow-ffi (so keep-alive timings cannot be set). */
async function clientWithoutFfi(port: number, extra: string[]) {
  const args = cliArgs(["client", "--json", "--port", String(port), "--hold", "500ms", ...extra])
    .filter((a) => a !== "-P");
  args.splice(1, 0, "--allow-net", "--allow-run=sysctl");
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "without --allow-ffi the timings asked for cannot be applied: one line, exit 1",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    try {
      for (const extra of [[], ["--idle", "5s"]]) {
        const out = await clientWithoutFfi(port, extra);
        assert.equal(out.code, 1, out.stderr);
        assert.match(
          out.stderr,
          /^tcpka: the keep-alive timings asked for cannot be applied: .*--allow-ffi.*--system-timings/,
        );
        assert.equal(out.stderr.trim().split("\n").length, 1);
        assert.equal(out.stdout, "", "nothing was connected");
      }
    } finally {
      server.stop();
      await server.done;
    }
  },
});

Deno.test({
  name: "without --allow-ffi, --system-timings: keep-alive on/off, the system defaults reported",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    const out = await clientWithoutFfi(port, ["--system-timings"]);
    server.stop();
    await server.done;
    assert.equal(out.code, 0, out.stderr);
    const events = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const report = eventsOf(events, "keepalive")[0].report;
    assert.equal(report.method, "on-off");
    assert.equal(report.source, "system-defaults");
    assert.match(report.notes.join(" "), /needs --allow-ffi/);
    const sysctl = await new Deno.Command("sysctl", {
      args: [
        "-n",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
      ],
    }).output();
    const [time, intvl, probes] = new TextDecoder().decode(sysctl.stdout).trim().split(/\s+/).map(
      Number,
    );
    assert.deepEqual(report.effective, {
      idleMs: time * 1000,
      intervalMs: intvl * 1000,
      count: probes,
    });
  },
});
