/** The firewall-idle scenario end to end, its refusals, and cleanup on every exit path. */
import assert from "assert";
import { CliProcess, runCli } from "./helpers/cli.ts";
import { listOurNamespaces, namespacesSince } from "./helpers/netns.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const skipWhy = root ? "" : " (skipped: needs root for network namespaces)";

interface Verdict {
  type: "verdict";
  checks: { check: string; observed: { result: string; error: string | null }; pass: boolean }[];
  pass: boolean;
}

Deno.test({
  name:
    `firewall-idle (timeout 3s, idle 5s, period 1s): keep-alive survives, the other does not${skipWhy}`,
  ignore: !root,
  async fn() {
    const before = await listOurNamespaces();
    for (let run = 1; run <= 2; run++) {
      // Twice in a row: the first run must leave nothing that breaks the second.
      const r = await runCli([
        "demo",
        "--scenario",
        "firewall-idle",
        "--json",
        "--firewall-timeout",
        "3s",
        "--idle-for",
        "5s",
        "--period",
        "1s",
      ], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `run ${run}: ${r.stderr}\n${r.stdout.slice(-2000)}`);
      const verdict = r.stdout.trim().split("\n").map((l) => JSON.parse(l))
        .find((o) => o.type === "verdict") as Verdict;
      const ka = verdict.checks.find((c) => c.check === "ka")!;
      const noKa = verdict.checks.find((c) => c.check === "no-ka")!;
      assert.equal(ka.observed.result, "echo");
      assert.equal(noKa.observed.result, "no-answer");
      assert.deepEqual(await namespacesSince(before), []);
    }
  },
});

const refusals: [string[], RegExp][] = [
  [
    ["--firewall-timeout", "3s", "--idle-for", "5s", "--period", "3s"],
    /cannot beat a 3s firewall timeout.*--show-failure/,
  ],
  [
    ["--firewall-timeout", "5s", "--idle-for", "5s"],
    /--idle-for 5s must be longer than --firewall-timeout 5s/,
  ],
  [["--firewall-timeout", "1500ms"], /whole seconds/],
];
for (const [args, pattern] of refusals) {
  Deno.test({
    name: `firewall-idle refuses ${args.join(" ")} (exit 2)${skipWhy}`,
    ignore: !root,
    async fn() {
      const before = await listOurNamespaces();
      const r = await runCli(["demo", "--scenario", "firewall-idle", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await namespacesSince(before), []);
    },
  });
}

Deno.test("firewall flags belong to their scenario (exit 2)", async () => {
  const r = await runCli(["demo", "--idle-for", "5s"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--idle-for belongs to --scenario firewall-idle/);
});

for (const scenario of ["firewall-idle", "dead-peer"]) {
  Deno.test({
    name: `Ctrl-C during ${scenario} removes every namespace${skipWhy}`,
    ignore: !root,
    async fn() {
      const before = await listOurNamespaces();
      const demo = new CliProcess(["demo", "--scenario", scenario, "--json", "--period", "1s"]);
      // Interrupt once the roles are running inside the namespaces.
      await demo.waitFor((e) => e.type === "keepalive", 20_000);
      assert.ok((await namespacesSince(before)).length >= 2, "namespaces were not created");
      demo.stop("SIGINT");
      const done = await demo.done;
      assert.notEqual(done.code, 0);
      assert.deepEqual(await namespacesSince(before), []);
    },
  });
}
