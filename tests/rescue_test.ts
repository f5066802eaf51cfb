/** `demo --scenario rescue` end to end: set --pid saves one running client, not its twin. */
import assert from "assert";
import { runCli, runCliUntil, which } from "./helpers/cli.ts";
import { namespacesOf } from "./helpers/netns.ts";
import type { SetReport } from "../lib/inspect/set_live.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const missing = [...(root ? [] : ["root"]), ...["nft", "nsenter"].filter((p) => !which(p))];
const skipWhy = missing.length ? ` (skipped: needs ${missing.join(", ")})` : "";

interface Verdict {
  type: "verdict";
  scenario: string;
  checks: { check: string; observed: { result: string }; pass: boolean }[];
  pass: boolean;
}

Deno.test({
  name: `rescue (timeout 3s, idle 5s, period 1s): the client set --pid reached survives${skipWhy}`,
  ignore: missing.length > 0,
  async fn() {
    const r = await runCli([
      "demo",
      "--scenario",
      "rescue",
      "--json",
      "--firewall-timeout",
      "3s",
      "--idle-for",
      "5s",
      "--period",
      "1s",
    ], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout.slice(-2000)}`);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const set = lines.find((o) => o.type === "set") as SetReport;
    // Exactly the rescued client's one connection, read back with the values asked for.
    assert.deepEqual(set.results.map((x) => [x.outcome, x.holds, x.before?.enabled]), [
      ["changed", true, false],
    ]);
    assert.deepEqual(set.results[0].after?.values, { idleMs: 1000, intervalMs: 1000, count: 3 });
    const verdict = lines.find((o) => o.type === "verdict") as Verdict;
    assert.equal(verdict.scenario, "rescue");
    const rescued = verdict.checks.find((c) => c.check === "rescued")!;
    const twin = verdict.checks.find((c) => c.check === "twin")!;
    assert.equal(rescued.observed.result, "echo");
    assert.equal(twin.observed.result, "no-answer");
    assert.ok(verdict.pass);
    // The scenario's namespaces (named after the demo's pid, tcpka-<pid>-client) are gone.
    const demoPid = Number(/^tcpka-(\d+)-client$/.exec(set.namespace.name!)?.[1]);
    assert.deepEqual(await namespacesOf(demoPid), []);
  },
});

Deno.test({
  name: `rescue, Ctrl-C once the clients are connected: exit 130, nothing left, no set${skipWhy}`,
  ignore: missing.length > 0,
  async fn() {
    // Before, the clients were not stopped with the server: they saw its FIN and exited, and set
    // then ran against a vanished pid ("no process with pid N", exit 1).
    const r = await runCliUntil(["demo", "--scenario", "rescue"], /twin +#1 connected/, "SIGINT");
    assert.equal(r.code, 130, `${r.stderr}\n${r.stdout.slice(-1500)}`);
    assert.equal(r.stderr, "");
    assert.doesNotMatch(r.stdout, /setting keep-alive/);
    assert.deepEqual(await namespacesOf(r.pid!), []);
  },
});

Deno.test({
  name: `rescue | head: the reader gone stops the demo like Ctrl-C, no stack trace${skipWhy}`,
  ignore: missing.length > 0,
  async fn() {
    // Before, the broken pipe was thrown from a timer: a stack trace, exit 1, and the three
    // namespaces and the captures left behind.
    const r = await runCliUntil(["demo", "--scenario", "rescue"], /server listening/, "close");
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.deepEqual(await namespacesOf(r.pid!), []);
  },
});
