/**
 * One JSON schema for every command (docs/json.md): the output of each command, run for real,
 * validated line by line with a strict validator; and the documentation names every event and
 * field of the schema.
 */
import assert from "assert";
import { CliProcess, ROOT, runCli, startServer, which } from "./helpers/cli.ts";
import {
  EVENTS,
  type Schema,
  SCHEMA_VERSION,
  validate,
  validateStream,
} from "./helpers/json_schema.ts";

const linux = Deno.build.os === "linux";
const root = linux && Deno.uid() === 0;
const canCapture = root && which("tcpdump") !== null;

function linesOf(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

function assertValid(what: string, stdout: string, withSource = false): Record<string, unknown>[] {
  const lines = linesOf(stdout);
  assert.ok(lines.length > 0, `${what}: no output`);
  const errors = validateStream(lines, withSource);
  assert.deepEqual(errors.slice(0, 10), [], `${what}:\n${stdout.slice(0, 3000)}`);
  return lines.map((l) => JSON.parse(l));
}

function typesOf(events: Record<string, unknown>[]): Set<string> {
  return new Set(events.map((e) => e.type as string));
}

Deno.test("schema validator: strict about types, missing and unknown fields, version", () => {
  const ok = '{"type":"warning","time":1,"version":1,"message":"x"}';
  assert.deepEqual(validateStream([ok]), []);
  assert.match(validateStream(['{"type":"warning","time":1,"message":"x"}'])[0], /version/);
  assert.match(validateStream([ok, ok])[0], /version only on the first/);
  assert.match(
    validateStream(['{"type":"warning","time":1,"version":1,"message":"x","extra":2}'])[0],
    /unexpected field extra/,
  );
  assert.match(
    validateStream(['{"type":"sent","time":1,"version":1,"id":1,"bytes":4,"afterIdleMs":"2s"}'])[0],
    /afterIdleMs: expected a number/,
  );
  assert.match(validateStream(['{"type":"nope","time":1,"version":1}'])[0], /unknown type/);
  assert.match(
    validateStream([
      '{"type":"connected","time":1,"version":1,"id":1,"local":"a:1","remote":{"address":"b","port":2}}',
    ])[0],
    /local: expected an object/,
  );
  assert.match(validateStream([ok], true)[0], /source/);
});

/** Every name in the schema: event types and field names, nested included. */
function namesIn(schema: Schema, into: Set<string>): void {
  if (typeof schema === "string" || "enum" in schema) return;
  if ("anyOf" in schema) return schema.anyOf.forEach((s) => namesIn(s, into));
  if ("array" in schema) return namesIn(schema.array, into);
  if ("map" in schema) return namesIn(schema.map, into);
  for (
    const [k, s] of [...Object.entries(schema.object), ...Object.entries(schema.optional ?? {})]
  ) {
    into.add(k);
    namesIn(s, into);
  }
}

Deno.test("docs/json.md names every event type and every field of the schema", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/json.md`);
  const names = new Set<string>(["type", "time", "version", "source"]);
  for (const [type, schema] of Object.entries(EVENTS)) {
    assert.ok(doc.includes(`\`${type}\``), `event ${type} is not documented`);
    namesIn(schema, names);
  }
  const missing = [...names].filter((n) => !doc.includes(`\`${n}\``));
  assert.deepEqual(missing, [], "fields not documented");
  assert.ok(doc.includes(`version **${SCHEMA_VERSION}**`));
});

Deno.test("schema: server and client (echo, unexpected reply, failed connect)", async () => {
  const { server, port } = await startServer(["--hold", "0", "--period", "2s"]);
  const client = await runCli([
    "client",
    "--json",
    "--port",
    String(port),
    "--hold",
    "0",
    "--send-after",
    "200ms",
  ]);
  server.stop("SIGINT");
  await server.done;
  assert.equal(client.code, 0, client.stderr);
  const clientEvents = assertValid("client", client.stdout);
  for (const t of ["connecting", "connected", "keepalive", "sent", "echo", "closed", "summary"]) {
    assert.ok(typesOf(clientEvents).has(t), `client: no ${t}`);
  }
  const serverOut = server.lines.join("\n");
  const serverEvents = assertValid("server", serverOut);
  for (const t of ["listening", "connected", "data", "closed", "summary"]) {
    assert.ok(typesOf(serverEvents).has(t), `server: no ${t}`);
  }
  // A client with nothing to connect to still writes valid JSON before its one-line error.
  const refused = await runCli(["client", "--json", "--port", String(port)]);
  assert.equal(refused.code, 1);
  assert.ok(typesOf(assertValid("refused client", refused.stdout)).has("connect-failed"));
});

Deno.test({
  name: `schema: capture live and --read${
    canCapture ? "" : " (live part skipped: needs root and tcpdump)"
  }`,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-schema-" });
    try {
      let pcap = `${dir}/gen.pcap`;
      if (canCapture) {
        const { server, port } = await startServer(["--hold", "0"]);
        const capture = new CliProcess([
          "capture",
          "--json",
          "--port",
          String(port),
          "--write",
          `${dir}/live.pcap`,
        ]);
        await capture.waitFor((e) => (e.type as string) === "capturing", 30_000);
        const client = await runCli([
          "client",
          "--json",
          "--port",
          String(port),
          "--hold",
          "2500ms",
          "--period",
          "1s",
        ]);
        assert.equal(client.code, 0, client.stderr);
        await new Promise((r) => setTimeout(r, 300));
        capture.stop("SIGINT");
        await capture.done;
        server.stop();
        await server.done;
        const events = assertValid("capture", capture.lines.join("\n"));
        for (const t of ["capturing", "packet", "connection-summary", "end"]) {
          assert.ok(typesOf(events).has(t), `capture: no ${t}`);
        }
        pcap = `${dir}/live.pcap`;
      } else {
        const gen = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-q",
            "--allow-write",
            `${ROOT}scripts/gen_pcap.ts`,
            "--packets",
            "2000",
            "--flows",
            "5",
            "--out",
            pcap,
          ],
        }).output();
        assert.ok(gen.success);
      }
      const read = await runCli(["capture", "--json", "--read", pcap]);
      assert.equal(read.code, 0, read.stderr);
      const events = assertValid("capture --read", read.stdout);
      for (const t of ["packet", "connection-summary", "end"]) {
        assert.ok(typesOf(events).has(t), `capture --read: no ${t}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "schema: watch",
  ignore: !linux,
  async fn() {
    const { server, port } = await startServer(["--hold", "0"]);
    const client = new CliProcess([
      "client",
      "--json",
      "--port",
      String(port),
      "--hold",
      "3s",
      "--period",
      "1s",
    ]);
    await client.waitFor((e) => e.type === "keepalive");
    const watch = await runCli(["watch", "--json", "--port", String(port), "--duration", "2500ms"]);
    await client.done;
    server.stop();
    await server.done;
    assert.equal(watch.code, 0, watch.stderr);
    const events = assertValid("watch", watch.stdout);
    for (const t of ["watching", "socket", "probe"]) {
      assert.ok(typesOf(events).has(t), `watch: no ${t}`);
    }
  },
});

Deno.test({
  name: "schema: demo, with capture or kernel evidence",
  ignore: !linux,
  async fn() {
    const evidences = canCapture ? ["capture", "kernel"] : ["kernel"];
    for (const evidence of evidences) {
      const r = await runCli([
        "demo",
        "--json",
        "--port",
        "0",
        "--period",
        "1s",
        "--hold",
        "2500ms",
        "--evidence",
        evidence,
      ], { timeoutMs: 30_000 });
      // The shape is the point here, not the verdict (on a loaded machine the kernel table can
      // miss a probe: demo_test checks the verdict); either way there is one.
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      const events = assertValid(`demo --evidence ${evidence}`, r.stdout, true);
      const verdict = events.find((e) => e.type === "verdict")!;
      assert.equal(verdict.pass, r.code === 0);
      assert.equal(verdict.scenario, "seed");
      assert.equal(verdict.evidence, evidence);
      // In time order, as the timeline promises.
      const times = events.map((e) => e.time as number);
      const back = times.findIndex((t, i) => i > 0 && t < times[i - 1]);
      assert.equal(back, -1, `time goes backwards at line ${back + 1}`);
    }
  },
});

Deno.test({
  name: `schema: demo dead-peer and firewall-idle${root ? "" : " (skipped: needs root)"}`,
  ignore: !root,
  async fn() {
    const deadPeer = await runCli(
      [
        "demo",
        "--json",
        "--scenario",
        "dead-peer",
        "--idle",
        "1s",
        "--interval",
        "1s",
        "--count",
        "2",
      ],
      { timeoutMs: 40_000 },
    );
    assert.equal(deadPeer.code, 0, deadPeer.stderr);
    const dp = assertValid("dead-peer", deadPeer.stdout, true);
    assert.equal(dp.find((e) => e.type === "verdict")?.scenario, "dead-peer");
    const firewall = await runCli([
      "demo",
      "--json",
      "--scenario",
      "firewall-idle",
      "--firewall-timeout",
      "2s",
      "--idle-for",
      "3s",
      "--period",
      "1s",
    ], { timeoutMs: 60_000 });
    assert.equal(firewall.code, 0, firewall.stderr);
    const fw = assertValid("firewall-idle", firewall.stdout, true);
    const verdict = fw.find((e) => e.type === "verdict")!;
    assert.equal(verdict.scenario, "firewall-idle");
    const checks = verdict.checks as { check: string; observed: { result: string } }[];
    assert.deepEqual(checks.map((c) => [c.check, c.observed.result]), [["ka", "echo"], [
      "no-ka",
      "no-answer",
    ]]);
  },
});

// Keep `validate` in the public surface of the helper honest: one nested use.
Deno.test("schema: endpoint objects", () => {
  assert.deepEqual(validate({ address: "::1", port: 1 }, EVENTS.connected.object.local), []);
});

Deno.test({
  name: `schema: discover, inspect and set${
    root && which("nsenter") ? "" : " (inspect/set skipped: need root and nsenter)"
  }`,
  ignore: !linux,
  async fn() {
    // discover against a server on loopback, where nothing forgets idle connections: a short
    // ladder ends with "none" after --max.
    const { server, port } = await startServer(["--hold", "0"]);
    try {
      const discover = await runCli([
        "discover",
        `127.0.0.1:${port}`,
        "--json",
        "--min",
        "1s",
        "--max",
        "2s",
        "--connections",
        "2",
        "--no-capture",
      ], { timeoutMs: 60_000 });
      assert.equal(discover.code, 0, discover.stderr);
      const events = assertValid("discover", discover.stdout);
      for (const t of ["discovering", "idle-probe", "result"]) {
        assert.ok(typesOf(events).has(t), `discover: no ${t}`);
      }
      if (!root || !which("nsenter")) return;
      // A client held open, so inspect and set have a connection of a known pid to report.
      const client = new CliProcess([
        "client",
        "--json",
        "--port",
        String(port),
        "--hold",
        "20s",
        "--no-keepalive",
      ]);
      try {
        await client.waitFor((e) => e.type === "keepalive");
        const pid = String(client.child.pid);
        const inspect = await runCli(["inspect", "--json", "--pid", pid]);
        assert.equal(inspect.code, 0, inspect.stderr);
        assertValid("inspect", inspect.stdout);
        const set = await runCli(["set", "--json", "--pid", pid, "--period", "5s", "--dry-run"]);
        assert.equal(set.code, 0, set.stderr);
        assertValid("set", set.stdout);
      } finally {
        client.stop("SIGKILL");
        await client.done;
      }
    } finally {
      server.stop();
      await server.done;
    }
  },
});
