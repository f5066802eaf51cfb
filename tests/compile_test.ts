/**
 * `deno task compile`: its argv and one-line failures (always checked), and a real build of this
 * machine's binary, run as `--help`, `--version`, `server` and `client`, when a denort (Deno's
 * runtime for compiled programs) is at hand: DENORT_BIN, or the one an online compile cached.
 */
import assert from "assert";
import denoJson from "../deno.json" with { type: "json" };
import { exists, ROOT } from "./helpers/cli.ts";
import {
  compileArgs,
  DEFAULT_TARGETS,
  describePermissions,
  isRuntimeDownloadFailure,
  outputName,
} from "../scripts/compile.ts";
import type { TcpkaEvent } from "../lib/events.ts";

const HOST = Deno.build.target;

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** Where a denort for this machine is, as the env that makes `deno compile` use it; or why not. */
async function findDenort(): Promise<{ env: Record<string, string> } | { missing: string }> {
  const bin = Deno.env.get("DENORT_BIN");
  if (bin) return exists(bin) ? { env: { DENORT_BIN: bin } } : { missing: `DENORT_BIN=${bin}` };
  const zip = `${await denoDir()}/dl/release/v${Deno.version.deno}/denort-${HOST}.zip`;
  if (exists(zip)) return { env: {} };
  return {
    missing: `a denort: DENORT_BIN is not set and ${zip} is not cached ` +
      `(deno compile downloads it from Deno's download host)`,
  };
}

/** `deno task compile ARGS` in a clean environment (no DENORT_BIN unless given). */
async function compileTask(args: string[], env: Record<string, string> = {}) {
  const base: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "compile", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { ...base, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertOneLine(stderr: string, pattern: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], /^compile: /);
  assert.match(lines[0], pattern);
}

Deno.test("compile argv: -P (deno.json's one permission set) and no other permission flag", () => {
  const args = compileArgs("x86_64-pc-windows-msvc", "dist/x.exe");
  assert.ok(args.includes("-P"));
  assert.ok(args.includes("--no-prompt"));
  for (const a of args) assert.doesNotMatch(a, /^(-A|--allow-|--deny-)/);
  assert.deepEqual(args.slice(args.indexOf("--target"), args.indexOf("--target") + 2), [
    "--target",
    "x86_64-pc-windows-msvc",
  ]);
  assert.equal(args.at(-1), "main.ts");
  assert.deepEqual(DEFAULT_TARGETS.map(outputName), [
    "tcpka-x86_64-unknown-linux-gnu",
    "tcpka-x86_64-pc-windows-msvc.exe",
  ]);
  assert.match(describePermissions(denoJson.permissions.default), /^net, ffi, run=sysctl/);
  assert.equal(describePermissions({ net: true, read: false, run: ["a", "b"] }), "net, run=a,b");
  // The task line runs the script; the permissions it bakes come from deno.json alone.
  assert.match(denoJson.tasks.compile, /^deno run .*scripts\/compile\.ts$/);
  assert.doesNotMatch(denoJson.tasks.compile, /--allow-(net|ffi|all)|-A\b/);
});

Deno.test("compile: a runtime download failure is recognised from deno compile's message", () => {
  const real = `error: Writing deno compile executable to temporary file 'dist/x.tmp'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known`;
  assert.ok(isRuntimeDownloadFailure(real));
  assert.ok(!isRuntimeDownloadFailure('error: Module not found "file:///x/main.ts".'));
});

Deno.test("compile with Deno's download host unreachable: one line naming DENORT_BIN, exit 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tcpka-compile-" });
  try {
    // An empty DENO_DIR (nothing cached) and a proxy that refuses: offline, whatever this machine is.
    const r = await compileTask(["--target", "x86_64-pc-windows-msvc", "--out-dir", dir], {
      DENO_DIR: `${dir}/deno`,
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
    });
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(
      r.stderr,
      /could not download the Deno runtime \(denort [\d.]+ for x86_64-pc-windows-msvc\).*DENORT_BIN=\/path\/to\/denort deno task compile$/,
    );
    assert.ok(!exists(`${dir}/tcpka-x86_64-pc-windows-msvc.exe`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compile with DENORT_BIN: only this machine's target; a plain deno is caught", async () => {
  const foreign = HOST.includes("windows") ? "x86_64-unknown-linux-gnu" : "x86_64-pc-windows-msvc";
  const refused = await compileTask(["--target", foreign], { DENORT_BIN: Deno.execPath() });
  assert.equal(refused.code, 1);
  assertOneLine(refused.stderr, /DENORT_BIN is a runtime for one target/);

  const missing = await compileTask([], { DENORT_BIN: "/nonexistent/denort" });
  assert.equal(missing.code, 1);
  assertOneLine(missing.stderr, /DENORT_BIN=\/nonexistent\/denort cannot be read/);

  // `deno` itself is not a denort: the binary would run as deno, ignoring tcpka. Caught, removed.
  const dir = Deno.makeTempDirSync({ prefix: "tcpka-compile-" });
  try {
    const r = await compileTask(["--out-dir", dir], { DENORT_BIN: Deno.execPath() });
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, /does not run as tcpka .*DENORT_BIN must be a denort, not a deno/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const denort = await findDenort();

Deno.test({
  name: `compiled ${HOST} binary: --help, --version, server and client` +
    ("missing" in denort ? ` (skipped: needs ${denort.missing})` : ""),
  ignore: "missing" in denort,
  async fn() {
    const env = "env" in denort ? denort.env : {};
    const dir = Deno.makeTempDirSync({ prefix: "tcpka-compile-" });
    const bin = `${dir}/${outputName(HOST)}`;
    let server: Deno.ChildProcess | null = null;
    try {
      const built = await compileTask(["--target", HOST, "--out-dir", dir], env);
      assert.equal(built.code, 0, built.stderr);
      assert.match(built.stdout, /permissions baked in \(deno\.json permissions\.default\): net/);
      assert.ok(exists(bin));
      await runCompiledChecks(bin, (child) => server = child);
    } finally {
      try {
        (server as Deno.ChildProcess | null)?.kill("SIGKILL");
      } catch { /* already exited */ }
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

async function run(bin: string, args: string[]) {
  const out = await new Deno.Command(bin, {
    args,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function events(stdout: string): TcpkaEvent[] {
  return stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

/** The compiled binary behaves like `deno task`: help, version, a server and a client. */
async function runCompiledChecks(bin: string, onServer: (child: Deno.ChildProcess) => void) {
  const help = await run(bin, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^tcpka /);
  assert.match(help.stdout, /^ {2}server\s/m);
  assert.match(help.stdout, /^ {2}client\s/m);
  const version = await run(bin, ["--version"]);
  assert.equal(version.stdout.trim().split(" (")[0], `tcpka ${denoJson.version}`);
  assert.ok(version.stdout.includes(`(${HOST}`), version.stdout);

  const server = new Deno.Command(bin, {
    args: ["server", "--port", "0", "--json", "--hold", "0"],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  onServer(server);
  const seen: TcpkaEvent[] = [];
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const next = async (test: (e: TcpkaEvent) => boolean, what: string): Promise<TcpkaEvent> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = seen.find(test);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`compiled server: no ${what}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`compiled server exited before ${what}`);
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      seen.push(...events(lines.join("\n")));
    }
  };
  const listening = await next((e) => e.type === "listening", "listening event");
  const port = (listening as Extract<TcpkaEvent, { type: "listening" }>).port;

  const client = await run(bin, [
    "client",
    "--port",
    `${port}`,
    "--period",
    "1s",
    "--count",
    "3",
    "--hold",
    "1500ms",
    "--json",
  ]);
  assert.equal(client.code, 0, client.stderr);
  const clientEvents = events(client.stdout);
  const report = clientEvents.find((e) => e.type === "keepalive") as Extract<
    TcpkaEvent,
    { type: "keepalive" }
  >;
  // setsockopt, read back from the socket: FFI is among the baked permissions.
  assert.equal(report.report.method, "setsockopt", JSON.stringify(report.report));
  assert.equal(report.report.source, "socket");
  assert.deepEqual(report.report.effective, { idleMs: 1000, intervalMs: 1000, count: 3 });
  assert.deepEqual(
    clientEvents.filter((e) => e.type === "closed").map((e) => (e as { reason: string }).reason),
    ["hold-expired"],
  );

  const closed = await next((e) => e.type === "closed", "closed event");
  assert.equal((closed as Extract<TcpkaEvent, { type: "closed" }>).reason, "peer-closed");
  server.kill("SIGTERM");
  await next((e) => e.type === "summary", "summary on SIGTERM");
  while (!(await reader.read()).done) { /* drain to the end of output */ }
  assert.equal((await server.status).code, 0);
}
