/**
 * Every way a run can end, as a table of (command × moment × way of ending): each case asserts
 * the exit code, the shape of stderr (no stack trace, no "please report it", at most one line) and
 * that nothing is left behind: no process the run started, no tcpdump, no network namespace.
 */
import assert from "assert";
import { cliArgs, ROOT, which } from "./helpers/cli.ts";

const linux = Deno.build.os === "linux";
const root = linux && Deno.uid() === 0;

/** How the run is ended. */
type Ending =
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "stdout-closed" }
  /** stderr closed by its reader from the start, then (optionally) a signal. */
  | { kind: "stderr-closed"; signal?: Deno.Signal }
  /** The run ends by itself (an error, a normal end). */
  | { kind: "none" };

interface Case {
  command: string[];
  /** When the ending happens: after this many lines of stdout (0 = right after start). */
  afterLines: number;
  /** For the 0-line moment: milliseconds after the process starts. */
  afterMs?: number;
  ending: Ending;
  /** Something that makes the run write again once the pipe is closed (e.g. a connection). */
  provoke?: (port: number) => Promise<void>;
  code: number | number[];
  /** One `tcpka: …` line matching this, or an empty stderr when absent. */
  stderr?: RegExp;
  needs?: "root";
  /** For server cases: keep the test's listener on {port}, so the port is taken. */
  portTaken?: boolean;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** From the ending to the exit. */
  exitMs: number;
  /** Processes that descended from the run and are still alive. */
  survivors: string[];
  /** Namespaces of the run still present. */
  namespaces: string[];
}

async function ps(): Promise<{ pid: number; ppid: number; cmd: string }[]> {
  const out = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,args="] }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).map((l) => {
    const [pid, ppid, ...cmd] = l.trim().split(/\s+/);
    return { pid: Number(pid), ppid: Number(ppid), cmd: cmd.join(" ") };
  });
}

/**
 * The namespaces a tcpka process made (tcpka-<pid>-<role>) that exist now: only the run under
 * test, since other runs on the machine may have their own.
 */
async function namespacesOf(pid: number): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(/\s+/)[0])
    .filter((n) => n?.startsWith(`tcpka-${pid}-`));
}

/** Every process below `pid` right now. */
async function descendants(pid: number): Promise<Map<number, string>> {
  const all = await ps();
  const found = new Map<number, string>();
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = all.filter((p) => frontier.includes(p.ppid) && !found.has(p.pid));
    for (const p of next) found.set(p.pid, p.cmd);
    frontier = next.map((p) => p.pid);
  }
  return found;
}

/**
 * tcpdump processes that nobody owns any more (reparented to init): what a run that dies without
 * stopping its capture leaves. Other runs' captures on the machine have a live parent.
 */
async function orphanTcpdumps(): Promise<Set<number>> {
  return new Set(
    (await ps()).filter((p) => /(^|\/)tcpdump /.test(p.cmd) && p.ppid === 1).map((p) => p.pid),
  );
}

async function run(c: Case, port: number): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: cliArgs(c.command),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const stderrText = c.ending.kind === "stderr-closed"
    ? child.stderr.cancel().then(() => "")
    : new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (stdout.split("\n").length - 1 < c.afterLines) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  if (c.afterLines === 0) await new Promise((r) => setTimeout(r, c.afterMs ?? 0));
  const seen = await descendants(child.pid);
  const endedAt = performance.now();
  switch (c.ending.kind) {
    case "signal":
      child.kill(c.ending.signal);
      break;
    case "stdout-closed":
      await reader.cancel();
      await c.provoke?.(port);
      break;
    case "stderr-closed":
      if (c.ending.signal) child.kill(c.ending.signal);
      break;
  }
  if (c.ending.kind !== "stdout-closed") {
    // Keep reading so the run never blocks on a full pipe.
    (async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += value;
      }
    })();
  }
  const status = await child.status;
  const exitMs = performance.now() - endedAt;
  clearTimeout(guard);
  const stderr = await stderrText;
  // Give the kernel a moment to reap what was killed at the very end.
  await new Promise((r) => setTimeout(r, 200));
  const alive = new Set((await ps()).map((p) => p.pid));
  const survivors = [...seen].filter(([pid]) => alive.has(pid)).map(([pid, cmd]) =>
    `${pid} ${cmd}`
  );
  const namespaces = linux ? await namespacesOf(child.pid) : [];
  return { code: status.code, stdout, stderr, exitMs, survivors, namespaces };
}

function assertStderr(stderr: string, pattern: RegExp | undefined) {
  assert.doesNotMatch(stderr, /please report|Uncaught|^\s+at /m, stderr);
  const lines = stderr.split("\n").filter((l) => l.trim());
  if (!pattern) {
    assert.deepEqual(lines, [], "stderr should be empty");
    return;
  }
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], /^tcpka: /);
  assert.match(lines[0], pattern);
}

/** A connection to `port` that is opened and closed: enough to make a server or watch write. */
async function connectOnce(port: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await new Promise((r) => setTimeout(r, 300));
      conn.close();
    } catch { /* the run may be gone already: that is the point */ }
  }
}

const INT: Ending = { kind: "signal", signal: "SIGINT" };
const TERM: Ending = { kind: "signal", signal: "SIGTERM" };
const PIPE: Ending = { kind: "stdout-closed" };
const NO_STDERR: Ending = { kind: "stderr-closed" };
const NONE: Ending = { kind: "none" };

/** `{port}` in a command is replaced by a port the test owns (free, or listened on for watch). */
const CASES: [string, Case][] = [
  // demo (seed): both roles in this process, the observer as a child (tcpdump or ss).
  ["demo | head -3", { command: ["demo", "--port", "0"], afterLines: 3, ending: PIPE, code: 0 }],
  ["demo, Ctrl-C at start-up", {
    command: ["demo", "--port", "0"],
    afterLines: 0,
    afterMs: 200,
    ending: INT,
    code: 130,
  }],
  ["demo, SIGTERM once running", {
    command: ["demo", "--port", "0"],
    afterLines: 3,
    ending: TERM,
    code: 143,
  }],
  ["demo --port <taken>: refused, nothing started", {
    command: ["demo", "--port", "{port}"],
    afterLines: 0,
    ending: NONE,
    code: 1,
    stderr: /already in use/,
  }],
  ["demo --host 10.1.1.1: one line", {
    command: ["demo", "--host", "10.1.1.1"],
    afterLines: 0,
    ending: NONE,
    code: 1,
    stderr: /no such address on this machine/,
  }],
  // dead-peer: two namespaces, an nftables rule, tcpka roles and tcpdump inside them.
  ["demo dead-peer | head -3", {
    command: ["demo", "--scenario", "dead-peer"],
    afterLines: 3,
    ending: PIPE,
    code: 0,
    needs: "root",
  }],
  ["demo dead-peer, Ctrl-C at 0.2s", {
    command: ["demo", "--scenario", "dead-peer"],
    afterLines: 0,
    afterMs: 200,
    ending: INT,
    code: 130,
    needs: "root",
  }],
  ["demo dead-peer, Ctrl-C right after the namespaces exist", {
    command: ["demo", "--scenario", "dead-peer", "--json"],
    afterLines: 1,
    ending: INT,
    code: 130,
    needs: "root",
  }],
  ["demo dead-peer, SIGTERM while probing", {
    command: ["demo", "--scenario", "dead-peer", "--json"],
    afterLines: 8,
    ending: TERM,
    code: 143,
    needs: "root",
  }],
  // firewall-idle: three namespaces, a router with nftables and conntrack sysctls, two captures.
  ["demo firewall-idle, Ctrl-C at 0.2s", {
    command: ["demo", "--scenario", "firewall-idle"],
    afterLines: 0,
    afterMs: 200,
    ending: INT,
    code: 130,
    needs: "root",
  }],
  ["demo firewall-idle, Ctrl-C right after the namespaces exist", {
    command: ["demo", "--scenario", "firewall-idle", "--json"],
    afterLines: 1,
    ending: INT,
    code: 130,
    needs: "root",
  }],
  ["demo firewall-idle | head -3", {
    command: ["demo", "--scenario", "firewall-idle"],
    afterLines: 3,
    ending: PIPE,
    code: 0,
    needs: "root",
  }],
  ["demo rescue, Ctrl-C right after the namespaces exist", {
    command: ["demo", "--scenario", "rescue", "--json"],
    afterLines: 1,
    ending: INT,
    code: 130,
    needs: "root",
  }],
  // server: stopping it is its normal end.
  ["server | head -1, then a connection", {
    command: ["server", "--port", "{port}"],
    afterLines: 1,
    ending: PIPE,
    provoke: connectOnce,
    code: 0,
  }],
  ["server, SIGINT once listening", {
    command: ["server", "--port", "{port}"],
    afterLines: 1,
    ending: INT,
    code: 0,
  }],
  // client: interrupted before its result.
  ["client, Ctrl-C while holding", {
    command: ["client", "--port", "{port}", "--hold", "1m"],
    afterLines: 3,
    ending: INT,
    code: 130,
  }],
  // watch: says what it watches at once; stopping it is its normal end.
  ["watch | head -1, then a connection", {
    command: ["watch", "--port", "{port}"],
    afterLines: 1,
    ending: PIPE,
    provoke: connectOnce,
    code: 0,
  }],
  ["watch, SIGTERM once watching", {
    command: ["watch", "--port", "{port}"],
    afterLines: 1,
    ending: TERM,
    code: 0,
  }],
  // discover: connections held idle on purpose; stopping it prints the bracket so far.
  ["discover, Ctrl-C while probing", {
    command: ["discover", "127.0.0.1:{port}", "--min", "1s", "--max", "30s", "--no-capture"],
    afterLines: 1,
    ending: INT,
    code: 130,
  }],
  ["discover --json | head -1", {
    command: [
      "discover",
      "127.0.0.1:{port}",
      "--json",
      "--min",
      "1s",
      "--max",
      "4s",
      "--no-capture",
    ],
    afterLines: 1,
    ending: PIPE,
    code: 0,
  }],
  // stderr closed: the one-line error has no reader, and that is no reason to crash or hang.
  ["server on a taken port, stderr closed", {
    command: ["server", "--port", "{port}", "--host", "127.0.0.1"],
    afterLines: 0,
    ending: NO_STDERR,
    code: 1,
    portTaken: true,
  }],
  ["client with nothing listening, stderr closed", {
    command: ["client", "--port", "1"],
    afterLines: 0,
    ending: NO_STDERR,
    code: 1,
  }],
  ["capture (human), stderr closed, ends by --duration", {
    command: ["capture", "--port", "{port}", "--duration", "1500ms"],
    afterLines: 0,
    afterMs: 0,
    ending: NO_STDERR,
    code: 0,
    needs: "root",
  }],
  // capture: tcpdump is our child and must never outlive us.
  ["capture --write /nonexistent/dir/x.pcap", {
    command: ["capture", "--write", "/nonexistent/dir/x.pcap"],
    afterLines: 0,
    ending: NONE,
    code: 1,
    stderr: /cannot write \/nonexistent\/dir\/x\.pcap: no such directory/,
    needs: "root",
  }],
  ["capture, Ctrl-C once capturing", {
    command: ["capture", "--port", "{port}", "--json"],
    afterLines: 1,
    ending: INT,
    code: 0,
    needs: "root",
  }],
  ["capture --json | head -1, then packets", {
    command: ["capture", "--port", "{port}", "--json"],
    afterLines: 1,
    ending: PIPE,
    provoke: connectOnce,
    code: 0,
    needs: "root",
  }],
];

for (const [name, c] of CASES) {
  const skip = !linux
    ? " (skipped: Linux only)"
    : c.needs === "root" && !root
    ? " (skipped: needs root)"
    : "";
  Deno.test({
    name: `ending: ${name} → exit ${c.code}, nothing left${skip}`,
    ignore: skip !== "",
    async fn() {
      // A port of our own: listened on (so server/client/watch have a peer, demo finds it taken).
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const accepted: Deno.Conn[] = [];
      const accepting = (async () => {
        try {
          for await (const conn of listener) accepted.push(conn);
        } catch { /* closed */ }
      })();
      const serverCase = c.command[0] === "server" && !c.portTaken;
      if (serverCase) listener.close();
      const dumpsBefore = await orphanTcpdumps();
      try {
        const command = c.command.map((a) => a.replaceAll("{port}", String(port)));
        const out = await run({ ...c, command }, port);
        const what = `${name}: exit ${out.code}\nstderr:\n${out.stderr}\nstdout:\n${
          out.stdout.slice(-1500)
        }`;
        const codes = Array.isArray(c.code) ? c.code : [c.code];
        assert.ok(codes.includes(out.code), what);
        assertStderr(out.stderr, c.stderr);
        // "Within a second" on a quiet machine; generous here, but far below a hang (15 s).
        assert.ok(out.exitMs < 5000, `took ${Math.round(out.exitMs)}ms to exit`);
        assert.deepEqual(out.survivors, [], "processes the run started are still running");
        const newDumps = [...await orphanTcpdumps()].filter((p) => !dumpsBefore.has(p));
        assert.deepEqual(newDumps, [], "tcpdump left running");
        assert.deepEqual(out.namespaces, [], "namespaces left behind");
      } finally {
        if (!serverCase) listener.close();
        await accepting;
        for (const conn of accepted) conn.close();
      }
    },
  });
}

Deno.test({
  name: `ending: no process of ours is left by this file${which("ps") ? "" : " (skipped: no ps)"}`,
  ignore: !which("ps"),
  async fn() {
    const mine = await descendants(Deno.pid);
    const left = [...mine.values()].filter((cmd) => !/(^|\/)ps /.test(cmd));
    assert.deepEqual(left, []);
  },
});

Deno.test({
  name: `stale namespaces: only those whose owner pid is gone are removed${
    root ? "" : " (skipped: needs root)"
  }`,
  ignore: !root,
  async fn() {
    const { removeStale } = await import("../lib/netns/topology.ts");
    // An owner that is alive but has started nothing in its namespace yet (a concurrent run
    // between creating its namespaces and starting its processes), and one that has died.
    const alive = new Deno.Command("sleep", { args: ["60"] }).spawn();
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const keep = `tcpka-${alive.pid}-stale-test`;
    const drop = `tcpka-${dead.pid}-stale-test`;
    const ip = (...args: string[]) => new Deno.Command("ip", { args }).output();
    try {
      await ip("netns", "add", keep);
      await ip("netns", "add", drop);
      await removeStale();
      const list = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
      const left = new TextDecoder().decode(list.stdout);
      assert.ok(left.includes(keep), "a live owner's empty namespace was removed");
      assert.ok(!left.includes(drop), "a dead owner's namespace was kept");
    } finally {
      alive.kill("SIGKILL");
      await alive.status;
      await ip("netns", "del", keep);
      await ip("netns", "del", drop);
    }
  },
});

Deno.test({
  name: `ending: capture --write onto a full disk: one line, exit 1, tcpdump stopped${
    root && which("tcpdump") ? "" : " (skipped: needs root and tcpdump)"
  }`,
  ignore: !root || !which("tcpdump"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-full-" });
    const mount = (args: string[]) => new Deno.Command(args[0], { args: args.slice(1) }).output();
    assert.ok((await mount(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir])).success);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const orphansBefore = await orphanTcpdumps();
    try {
      const capture = new Deno.Command(Deno.execPath(), {
        args: cliArgs(["capture", "--port", String(port), "--write", `${dir}/x.pcap`]),
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = capture.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("capturing on")) {
        const { value, done } = await stderr.read();
        if (done) break;
        text += value;
      }
      // Traffic until the 16 KB are full: each connection is a handful of packets.
      const done = capture.status;
      let finished = false;
      done.then(() => finished = true);
      for (let i = 0; i < 2000 && !finished; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const accepted = await listener.accept();
        await conn.write(new Uint8Array(200));
        conn.close();
        accepted.close();
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
      }
      const status = await done;
      while (true) {
        const { value, done } = await stderr.read();
        if (done) break;
        text += value;
      }
      assert.equal(status.code, 1, text);
      const lines = text.trim().split("\n");
      assert.match(lines.at(-1)!, /^tcpka: cannot write .*x\.pcap: No space left on device/);
      assert.doesNotMatch(text, /please report|Uncaught/);
      await new Promise((r) => setTimeout(r, 200));
      const left = [...await orphanTcpdumps()].filter((p) => !orphansBefore.has(p));
      assert.deepEqual(left, [], "tcpdump left running");
    } finally {
      listener.close();
      await mount(["umount", dir]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
