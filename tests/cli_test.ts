/** The CLI as a user meets it: a subprocess with the baked permissions, its output and exit code. */
import assert from "assert";
import { runCli } from "./helpers/cli.ts";
import denoJson from "../deno.json" with { type: "json" };

function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], /^tcpka: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\bat .*\.ts:\d+/, "stack trace on stderr");
}

Deno.test("--help lists every command; each command has its own help", async () => {
  const top = await runCli(["--help"]);
  assert.equal(top.code, 0);
  for (const name of ["server", "client"]) {
    assert.match(top.stdout, new RegExp(`^  ${name}\\s`, "m"));
    const sub = await runCli([name, "--help"]);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, new RegExp(`^Usage: tcpka ${name}`));
    assert.match(sub.stdout, /--period/);
    assert.equal(sub.stderr, "");
  }
  assert.equal((await runCli([])).code, 0);
  assert.match((await runCli(["help", "client"])).stdout, /^Usage: tcpka client/);
});

Deno.test("--version names the version and the target", async () => {
  const r = await runCli(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(`^tcpka ${denoJson.version.replaceAll(".", "\\.")} \\(`));
  assert.ok(r.stdout.includes(Deno.build.target));
});

const usageErrors: [string[], RegExp][] = [
  [["frobnicate"], /unknown command: 'frobnicate'/],
  [["--port", "1"], /put flags after the command/],
  [["client", "--period", "500ms"], /whole seconds|too short/],
  [["client", "--count", "200"], /out of range/],
  [["client", "--hold", "soon"], /not a duration/],
  [["client", "--nope"], /unknown flag --nope/],
  [["server", "--port", "x"], /whole number, 0 to 65535/],
  [["server", "--reset", "--hold", "0"], /--reset ends connections when --hold expires/],
  [["watch", "--poll", "0"], /--poll must be at least 10ms/],
  [["watch", "--poll", "-1s"], /--poll cannot be negative/],
  [["server", "--no-keepalive", "--idle", "3s"], /cannot be combined/],
];

for (const [args, pattern] of usageErrors) {
  Deno.test(`usage error exits 2 with one line: ${args.join(" ")}`, async () => {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assertOneLineError(r.stderr, pattern);
  });
}

Deno.test("client with nothing listening: one line, exit 1", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const r = await runCli(["client", "--port", String(port), "--hold", "1s"]);
  assert.equal(r.code, 1);
  assertOneLineError(
    r.stderr,
    new RegExp(`nothing is listening on 127\\.0\\.0\\.1:${port}; start the server first`),
  );
});

Deno.test("server on a port in use: one line, exit 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const r = await runCli(["server", "--port", String(taken.addr.port)]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /already in use; stop the other program or choose another --port/);
  } finally {
    taken.close();
  }
});

Deno.test("every task that runs tcpka uses the same permission set and V8 flags as the binary", async () => {
  const { V8_FLAGS } = await import("../lib/process/runtime_flags.ts");
  const tasks = Object.entries(denoJson.tasks).filter(([, cmd]) =>
    /deno run .* main\.ts/.test(cmd)
  );
  assert.ok(tasks.length >= 5);
  for (const [name, cmd] of tasks) {
    assert.match(cmd, /^deno run -q -P /, name);
    for (const flag of V8_FLAGS) assert.ok(cmd.includes(flag), `task ${name} lacks ${flag}`);
    assert.doesNotMatch(cmd, /--allow-|-A\b/, `task ${name} grants permissions of its own`);
  }
});
