/**
 * Runs `tcpka discover` against a real path that forgets idle connections, in namespaces made for
 * the run (root): `sudo deno run -A scripts/discover_lab.ts [firewall-drop|firewall-reset|nat]
 * [TIMEOUT_SECONDS] [discover flags…]`. Prints discover's own output, then the truth and the run
 * time against the theoretical minimum (the longest idle the run had to wait for).
 */
import { withServerBehindPath } from "../lib/demo/discover_path.ts";
import { selfCommand } from "../lib/process/self.ts";
import type { PathKind } from "../lib/netns/firewall_path.ts";

const kind = (Deno.args[0] ?? "firewall-drop") as PathKind;
const timeoutS = Number(Deno.args[1] ?? 4);
const extra = Deno.args.slice(2);

await withServerBehindPath(kind, timeoutS * 1000, 12345, async (path) => {
  const started = performance.now();
  const out = await new Deno.Command(path.clientExec[0], {
    args: [
      ...path.clientExec.slice(1),
      ...selfCommand(),
      "discover",
      `${path.host}:${path.port}`,
      ...extra,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const wall = (performance.now() - started) / 1000;
  console.log(
    `lab: ${kind}, conntrack established timeout ${timeoutS}s; discover exited ${out.code} ` +
      `after ${wall.toFixed(2)}s (wall clock, including Deno's start)`,
  );
});
