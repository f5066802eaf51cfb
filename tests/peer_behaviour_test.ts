/**
 * What peers and limits do to the roles: connections reset before accept, a server that resets
 * right after the handshake or answers instead of echoing, a connect that gets no answer, running
 * out of file descriptors. Real peers (Python sockets), real limits (ulimit -n).
 */
import assert from "assert";
import { cliArgs, CliProcess, eventsOf, ROOT, startServer, which } from "./helpers/cli.ts";
import { parseCaptureArgs } from "../capture.ts";
import type { TcpkaEvent } from "../lib/events.ts";
import { EventProcess } from "../lib/process/event_process.ts";

const linux = Deno.build.os === "linux";
const root = linux && Deno.uid() === 0;
const python = which("python3");

/** Starts a Python TCP server on a free loopback port; `body` handles one accepted socket `c`. */
async function pythonServer(body: string) {
  const code = `
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
${body.split("\n").map((l) => "    " + l).join("\n")}
`;
  const child = new Deno.Command(python!, {
    args: ["-c", code],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return {
    port: Number(value!.trim()),
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

async function runJson(args: string[], prefix: string[] = []) {
  return await runArgv([...prefix, Deno.execPath(), ...cliArgs(args)]);
}

async function runArgv(argv: string[]) {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const events = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as TcpkaEvent
  );
  return { code: out.code, events, stderr: dec.decode(out.stderr), stdout };
}

Deno.test({
  name:
    `client: a server that resets 1 ms after accepting is "reset by the peer", not a failed connect${
      python ? "" : " (skipped: no python3)"
    }`,
  ignore: !linux || !python,
  async fn() {
    const server = await pythonServer(
      `c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
import time; time.sleep(0.001); c.close()`,
    );
    try {
      const r = await runJson(["client", "--json", "--port", String(server.port), "--hold", "5s"]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, "");
      assert.deepEqual(eventsOf(r.events, "connect-failed"), [], "not a failed connect");
      const closed = eventsOf(r.events, "closed");
      assert.equal(closed.length, 1);
      assert.equal(closed[0].reason, "peer-reset");
      const summary = eventsOf(r.events, "summary")[0];
      assert.equal(summary.failedToConnect, 0);
      assert.deepEqual(summary.ended, { "peer-reset": 1 });
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: `client --send-after: a reply that is not the echo is "unexpected reply", shown, exit 1${
    python ? "" : " (skipped: no python3)"
  }`,
  ignore: !linux || !python,
  async fn() {
    const server = await pythonServer(
      `c.recv(100); c.sendall(b"ERROR: bad startup packet\\n"); c.recv(100); c.close()`,
    );
    try {
      const args = ["client", "--json", "--port", String(server.port), "--hold", "0"];
      const r = await runJson([...args, "--send-after", "200ms"]);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(eventsOf(r.events, "echo"), []);
      const reply = eventsOf(r.events, "unexpected-reply");
      assert.equal(reply.length, 1);
      assert.equal(reply[0].text, "ERROR: bad startup packet\n");
      assert.equal(eventsOf(r.events, "closed")[0].reason, "unexpected-reply");
      const human = await runJson([...args.filter((a) => a !== "--json"), "--send-after", "200ms"]);
      assert.match(human.stdout, /unexpected reply \(26 bytes.*"ERROR: bad startup packet\\n"/);
    } finally {
      await server.stop();
    }
  },
});

Deno.test("client --send-after against tcpka server: the same bytes back are 'echo received'", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  try {
    const r = await runJson([
      "client",
      "--json",
      "--port",
      String(port),
      "--hold",
      "0",
      "--send-after",
      "200ms",
      "--message",
      "hello there",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(eventsOf(r.events, "echo").length, 1);
    assert.equal(eventsOf(r.events, "closed")[0].reason, "echoed");
  } finally {
    server.stop();
    await server.done;
  }
});

Deno.test({
  name: `server: 30 connections reset before accept are counted, never paused for${
    python ? "" : " (skipped: no python3)"
  }`,
  ignore: !linux || !python,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    try {
      // Stopped, the server cannot accept: each connection completes its handshake in the kernel's
      // queue and is reset there, as a port scanner or a health check does.
      server.stop("SIGSTOP");
      const resets = await new Deno.Command(python!, {
        args: [
          "-c",
          `import socket, struct
for i in range(30):
    s = socket.create_connection(("127.0.0.1", ${port}))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()`,
        ],
      }).output();
      server.stop("SIGCONT");
      assert.ok(resets.success);
      const client = await runJson([
        "client",
        "--json",
        "--port",
        String(port),
        "--hold",
        "0",
        "--send-after",
        "100ms",
      ]);
      assert.equal(client.code, 0, client.stderr);
      server.stop("SIGTERM");
      const { code, events, stderr } = await server.done;
      assert.equal(code, 0, stderr);
      assert.deepEqual(eventsOf(events, "warning"), [], "no warning per reset connection");
      const summary = eventsOf(events, "summary")[0];
      // Linux may still hand over a reset connection (then it ends peer-reset): 30 either way.
      assert.equal(
        (summary.resetBeforeAccept ?? 0) + (summary.ended["peer-reset"] ?? 0),
        30,
        JSON.stringify(summary),
      );
      assert.ok((summary.resetBeforeAccept ?? 0) > 0, JSON.stringify(summary));
      assert.equal(summary.ended["peer-closed"], 1, "the real client was served");
    } finally {
      server.stop("SIGCONT");
      server.stop("SIGKILL");
      await server.done;
    }
  },
});

/** Runs `tcpka ARGS` with the open-file limit at `limit`. */
function withFileLimit(limit: number, args: string[]): string[] {
  const argv = [Deno.execPath(), ...cliArgs(args)].map((a) => `'${a}'`).join(" ");
  return ["bash", "-c", `ulimit -n ${limit} && exec ${argv}`];
}

Deno.test({
  name: "at the open-file limit: the client and the server say so once, naming ulimit -n",
  ignore: !linux || !which("bash"),
  async fn() {
    const limited = withFileLimit(60, ["server", "--json", "--port", "0", "--hold", "0"]);
    // The server under the limit, fed by a client without it.
    const limitedServer = new EventProcess(limited, { cwd: ROOT });
    try {
      const listening = await limitedServer.waitFor((e) => e.type === "listening", 30_000);
      const port = (listening as Extract<TcpkaEvent, { type: "listening" }>).port;
      const flood = await runJson([
        "client",
        "--json",
        "--port",
        String(port),
        "--hold",
        "2s",
        "--connections",
        "100",
      ]);
      assert.ok(flood.code === 0 || flood.code === 1, flood.stderr);
      limitedServer.stop("SIGTERM");
      const { events } = await limitedServer.done;
      const warnings = eventsOf(events, "warning").filter((w) => /open files/i.test(w.message));
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0].message, /ulimit -n/);

      // The client under the limit.
      const { server: plain, port: plainPort } = await startServer(["--hold", "0"]);
      try {
        const r = await runArgv(withFileLimit(60, [
          "client",
          "--json",
          "--port",
          String(plainPort),
          "--hold",
          "1s",
          "--connections",
          "100",
        ]));
        assert.equal(r.code, 1, r.stderr);
        const failed = eventsOf(r.events, "connect-failed");
        assert.equal(failed.length, 1, JSON.stringify(failed.slice(0, 3)));
        assert.match(failed[0].error, /too many open files.*ulimit -n/);
        const summary = eventsOf(r.events, "summary")[0];
        assert.ok(summary.failedToConnect > 1, JSON.stringify(summary));
      } finally {
        plain.stop();
        await plain.done;
      }
    } finally {
      limitedServer.stop("SIGKILL");
      await limitedServer.done;
    }
  },
});

/** A namespace of this test where SYNs to 127.0.0.1:9 vanish: a connect that never completes. */
async function blackholeNamespace(): Promise<{ exec: string[]; remove: () => Promise<void> }> {
  const name = `tcpka-${Deno.pid}-blackhole`;
  const sh = (cmd: string) => new Deno.Command("sh", { args: ["-c", cmd] }).output();
  await sh(
    `ip netns add ${name} && ip -n ${name} link set lo up && ip netns exec ${name} nft -f - <<'EOF'
table inet blackhole {
  chain out {
    type filter hook output priority 0;
    tcp dport 9 drop
  }
}
EOF`,
  );
  return {
    exec: ["ip", "netns", "exec", name],
    remove: async () => void await sh(`ip netns del ${name}`),
  };
}

Deno.test({
  name:
    `client --connect-timeout: a connect with no answer gives up after D; Ctrl-C stops it at once${
      root ? "" : " (skipped: needs root for a network namespace)"
    }`,
  ignore: !root || !which("nft"),
  async fn() {
    const ns = await blackholeNamespace();
    try {
      const r = await runJson(
        ["client", "--port", "9", "--connect-timeout", "1s"],
        ns.exec,
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr.trim(),
        /^tcpka: no answer from 127\.0\.0\.1:9 within 1s \(--connect-timeout\)$/,
      );

      const argv = [...ns.exec, Deno.execPath(), ...cliArgs(["client", "--json", "--port", "9"])];
      const pending = new Deno.Command(argv[0], {
        args: argv.slice(1),
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = pending.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read(); // "connecting": the connect is now pending
      assert.match(first.value ?? "", /"connecting"/);
      const stderr = new Response(pending.stderr).text();
      pending.kill("SIGINT");
      const status = await pending.status;
      await reader.cancel();
      assert.equal(status.code, 130, await stderr);
      assert.doesNotMatch(await stderr, /please report|Uncaught/);
    } finally {
      await ns.remove();
    }
  },
});

Deno.test("capture --host filters by host as well as choosing the interface", () => {
  const c = parseCaptureArgs(["--host", "127.0.0.2", "--port", "8080"]);
  assert.equal(c.filter, "tcp port 8080 and host 127.0.0.2");
  assert.equal(c.iface, "lo");
  assert.equal(parseCaptureArgs(["--port", "8080"]).filter, "tcp port 8080");
});

Deno.test({
  name: `capture --host: packets of other hosts on the same port are not shown${
    root ? "" : " (skipped: needs root to capture)"
  }`,
  ignore: !root || !which("tcpdump"),
  async fn() {
    const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const port = listener.addr.port;
    const capture = new CliProcess([
      "capture",
      "--json",
      "--host",
      "127.0.0.2",
      "--port",
      String(port),
    ]);
    try {
      await capture.waitFor((e) => (e.type as string) === "capturing", 30_000);
      for (const host of ["127.0.0.1", "127.0.0.2"]) {
        const conn = await Deno.connect({ hostname: host, port });
        const accepted = await listener.accept();
        conn.close();
        accepted.close();
      }
      await new Promise((r) => setTimeout(r, 500));
      capture.stop("SIGINT");
      const { code, events } = await capture.done;
      assert.equal(code, 0);
      const packets = events.filter((e) => (e.type as string) === "packet");
      assert.ok(packets.length > 0, "the 127.0.0.2 connection was captured");
      // Both connections come from 127.0.0.1; only the one to 127.0.0.2 may show.
      const other = packets.filter((p) => !JSON.stringify(p).includes("127.0.0.2"));
      assert.deepEqual(other, [], "packets of the connection to 127.0.0.1");
    } finally {
      capture.stop("SIGKILL");
      await capture.done;
      listener.close();
    }
  },
});

Deno.test({
  name: "watch says what it watches before any connection appears",
  ignore: !linux,
  async fn() {
    const watch = new CliProcess(["watch", "--json", "--port", "1"]);
    try {
      const first = await watch.waitFor(() => true, 30_000);
      assert.equal(first.type as string, "watching");
      assert.equal((first as unknown as { port: number }).port, 1);
    } finally {
      watch.stop("SIGINT");
      const { code } = await watch.done;
      assert.equal(code, 0);
    }
  },
});
