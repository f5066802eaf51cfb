/**
 * The demo's verdict against a real kernel when idle and interval differ: Linux spaces answered
 * probes one idle apart (the interval only separates unanswered ones), which the verdict once got
 * wrong ("probe interval MISMATCH" on a correct kernel). Both evidence sources: the wire (root)
 * and the kernel's table (forced), each a pass with the probes one idle apart.
 */
import assert from "assert";
import { runCli } from "./helpers/cli.ts";

const linux = Deno.build.os === "linux";

for (const evidence of ["auto", "kernel"] as const) {
  Deno.test({
    name: `demo --idle 2s --interval 1s --hold 7s (evidence ${evidence}): 3 probes 2 s apart, PASS`,
    ignore: !linux,
    async fn() {
      const r = await runCli([
        "demo",
        "--json",
        "--port",
        "0",
        "--evidence",
        evidence,
        "--idle",
        "2s",
        "--interval",
        "1s",
        "--hold",
        "7s",
      ], { timeoutMs: 40_000 });
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const verdict = lines.find((l) => l.type === "verdict");
      assert.ok(verdict, r.stderr + r.stdout);
      assert.equal(verdict.pass, true, JSON.stringify(verdict.checks));
      assert.equal(r.code, 0);
      const checks = Object.fromEntries(
        verdict.checks.map((c: { check: string }) => [c.check, c]),
      );
      // Probes at 2, 4, 6 s; not at 2, 3, 4, 5, 6 s as "one per interval" would have them.
      assert.deepEqual(checks["probes answered"].observed, { answered: 3, sent: 3 });
      assert.equal(checks["retry of an unanswered probe"].observed.ms, null, "no retry");
    },
  });
}
