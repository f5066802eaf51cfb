/**
 * `deno task install`: a `tcpka` command with exactly deno.json's permissions, without compiling.
 * Installed into a temporary root and run as a user would.
 */
import assert from "assert";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT } from "./helpers/cli.ts";
import { installArgs, permissionFlags, rootOf } from "../scripts/install.ts";
import { V8_FLAGS } from "../lib/process/runtime_flags.ts";

Deno.test("install: deno.json's one permission list becomes explicit --allow-* flags", () => {
  assert.deepEqual(
    permissionFlags({ net: true, run: ["ss", "ip"], sys: ["uid"], env: false }),
    ["--allow-net", "--allow-run=ss,ip", "--allow-sys=uid"],
  );
  const args = installArgs();
  for (const flag of permissionFlags(denoJson.permissions.default)) assert.ok(args.includes(flag));
  for (const flag of V8_FLAGS) assert.ok(args.includes(flag));
  // -P would be dropped from the shim (measured): it must not be relied on.
  assert.ok(!args.includes("-P"));
  assert.equal(rootOf([]), null);
  assert.equal(rootOf(["--root", "/x"]), "/x");
  assert.equal(rootOf(["--root=/x"]), "/x");
  assert.equal(rootOf(["--bogus"]), undefined);
});

Deno.test("deno task install --root DIR: 'tcpka' runs with the permissions it needs", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcpka-install-" });
  try {
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "install", "--root", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.ok(install.success, dec.decode(install.stderr));
    const tcpka = `${root}/bin/tcpka`;
    const run = async (args: string[]) => {
      const out = await new Deno.Command(tcpka, {
        args,
        cwd: "/", // not the checkout: the shim must not depend on where it is run
        // Without Deno's directory on PATH, as under sudo: the shim names the Deno that installed it.
        env: { NO_COLOR: "1", PATH: "/nonexistent" },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const version = await run(["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, new RegExp(`^tcpka ${denoJson.version.replaceAll(".", "\\.")} `));

    // Needs net (listen) and ffi (setsockopt): a real exchange through the installed command.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const echo = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      if (n) await conn.write(buf.subarray(0, n));
      await conn.read(buf).catch(() => null);
      conn.close();
    })();
    const client = await run([
      "client",
      "--json",
      "--port",
      String(listener.addr.port),
      "--hold",
      "0",
      "--send-after",
      "100ms",
      "--idle",
      "5s",
    ]);
    await echo;
    listener.close();
    assert.equal(client.code, 0, client.stderr);
    assert.doesNotMatch(client.stderr, /Requires .* access/);
    const ka = client.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
      .find((e) => e.type === "keepalive");
    assert.equal(ka.report.method, "setsockopt", "timings were set (FFI granted)");
    assert.equal(ka.report.effective.idleMs, 5000);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
