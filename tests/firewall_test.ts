/** The firewall-idle scenario end to end, its refusals, and cleanup on every exit path. */
import assert from "assert";
import { CliProcess, runCli, runCliAsNobody, which } from "./helpers/cli.ts";
import { namespacesOf } from "./helpers/netns.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const skipWhy = root ? "" : " (skipped: needs root for network namespaces)";

type Values = Record<string, number | string | null>;

interface Verdict {
  type: "verdict";
  checks: { check: string; configured: Values; observed: Values; pass: boolean }[];
  pass: boolean;
}

Deno.test({
  name:
    `firewall-idle (timeout 3s, idle 5s, period 1s): keep-alive survives, the other does not${skipWhy}`,
  ignore: !root,
  async fn() {
    for (let run = 1; run <= 2; run++) {
      // Twice in a row: the first run must leave nothing that breaks the second. The second
      // gives the client flags the scenario uses: idle and interval apart, the user timeout.
      const keepalive = run === 1
        ? ["--period", "1s"]
        : ["--idle", "1s", "--interval", "2s", "--user-timeout", "2s", "--message", "hello"];
      const r = await runCli([
        "demo",
        "--scenario",
        "firewall-idle",
        "--json",
        "--firewall-timeout",
        "3s",
        "--idle-for",
        "5s",
        ...keepalive,
      ], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `run ${run}: ${r.stderr}\n${r.stdout.slice(-2000)}`);
      const verdict = r.stdout.trim().split("\n").map((l) => JSON.parse(l))
        .find((o) => o.type === "verdict") as Verdict;
      const ka = verdict.checks.find((c) => c.check === "ka")!;
      const noKa = verdict.checks.find((c) => c.check === "no-ka")!;
      assert.equal(ka.observed.result, "echo");
      assert.equal(noKa.observed.result, "no-answer");
      if (run === 2) {
        assert.equal(ka.configured.keepaliveIdleMs, 1000);
        assert.equal(ka.configured.keepaliveIntervalMs, 2000);
        assert.equal(noKa.observed.error, "ETIMEDOUT");
        const sent = r.stdout.trim().split("\n").map((l) => JSON.parse(l))
          .filter((o) => o.type === "sent");
        assert.deepEqual(sent.map((o) => o.bytes), [5, 5], "--message hello is what both send");
      }
      assert.deepEqual(await namespacesOf(r.pid!), []);
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
      const r = await runCli(["demo", "--scenario", "firewall-idle", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await namespacesOf(r.pid!), []);
    },
  });
}

// Checked before the root check: a plain user with a bad flag is told about the flag, not root.
const plainUserRefusals: [string[], RegExp][] = [
  [
    ["--scenario", "firewall-idle", "--firewall-timeout", "1500ms"],
    /--firewall-timeout must be whole seconds/,
  ],
  [
    ["--scenario", "firewall-idle", "--idle", "6s", "--interval", "1s"],
    /a keep-alive --idle of 6s cannot beat a 5s firewall timeout/,
  ],
  [["--scenario", "firewall-idle", "--no-keepalive"], /--no-keepalive does not apply/],
  [
    ["--scenario", "firewall-idle", "--send-after", "2s"],
    /--send-after does not apply.*--idle-for/,
  ],
  [["--scenario", "firewall-idle", "--connections", "2"], /--connections does not apply/],
  [["--scenario", "dead-peer", "--connections", "2"], /--connections does not apply/],
  [["--scenario", "dead-peer", "--send-after", "2s"], /--send-after does not apply/],
  [["--scenario", "dead-peer", "--user-timeout", "2s"], /--user-timeout does not apply/],
  [["--scenario", "dead-peer", "--hold", "5s"], /--hold does not apply/],
  [["--scenario", "dead-peer", "--no-keepalive"], /wait forever; that is the point/],
  [["--scenario", "dead-peer", "--idle-for", "9s"], /--idle-for belongs to --scenario/],
];
for (const [args, pattern] of plainUserRefusals) {
  Deno.test({
    name: `demo ${args.join(" ")} as a plain user: the flag's one line, exit 2${
      root ? "" : " (skipped: needs root to switch to a plain user)"
    }`,
    ignore: !root || !which("runuser"),
    async fn() {
      const r = await runCliAsNobody(["demo", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /root/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
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
      const demo = new CliProcess(["demo", "--scenario", scenario, "--json", "--period", "1s"]);
      // Interrupt once the roles are running inside the namespaces.
      await demo.waitFor((e) => e.type === "keepalive", 20_000);
      assert.ok((await namespacesOf(demo.child.pid)).length >= 2, "namespaces were not created");
      demo.stop("SIGINT");
      const done = await demo.done;
      assert.notEqual(done.code, 0);
      assert.deepEqual(await namespacesOf(demo.child.pid), []);
    },
  });
}
