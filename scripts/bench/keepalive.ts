/**
 * Part "keepalive": the cost of applying keep-alive settings (lookup, set, read back) to
 * connection #1 and #N, and of all N against the time to open them, in a child
 * (keepalive_driver.ts) connecting to the Go reference server.
 */
import { Child, stop } from "./child.ts";
import { goImpl, KA } from "./roles.ts";
import { count, median, ms, NOISY, percent, spread, us } from "./stats.ts";
import { atMost, compare, info, type Row, verdict } from "./table.ts";
import type { Part } from "./part.ts";
import type { KaTiming } from "./keepalive_driver.ts";

const DRIVER = new URL("./keepalive_driver.ts", import.meta.url).pathname;

export const keepAlivePart: Part = {
  name: "keepalive",
  async run(bench) {
    const go = await bench.go();
    if (!go) return { rows: [], notes: ["keep-alive rows skipped: no Go server to connect to"] };
    const n = Math.max(...bench.options.connections);
    const runs: KaTiming[] = [];
    for (let r = 1; r <= bench.options.runs; r++) {
      bench.log(`keep-alive settings on ${count(n)} connections (run ${r}/${bench.options.runs})`);
      const { child: server, port } = await goImpl(go).server(bench.dir, n + 1);
      const driver = new Child(bench.dir, [
        ...[Deno.execPath(), "run", "-q", "--allow-net", "--allow-ffi", "--allow-read", DRIVER],
        ...[port, n, KA.idleS, KA.intervalS, KA.count].map(String),
      ]);
      try {
        runs.push(JSON.parse(await driver.waitForLine((l) => l.startsWith("{"), 120_000)));
        await driver.done;
      } finally {
        await stop(driver, server);
      }
    }
    const v = (k: keyof KaTiming) => runs.map((r) => r[k]);
    const last = compare(
      `keep-alive settings, #${count(n)} vs #1 (medians of 100)`,
      v("lastMedianMicros"),
      v("firstMedianMicros"),
      us,
      { referenceName: "#1", referenceLabel: "#1: ", target: atMost(2) },
    );
    const share = runs.map((r) => r.totalMs / r.openMs);
    const shareSpread = spread(share);
    const rows: Row[] = [
      last,
      info(
        `keep-alive settings, all ${count(n)} / time to open them`,
        ms(median(v("totalMs"))),
        `open ${ms(median(v("openMs")))}`,
        {
          ratio: percent(median(share)),
          spread: percent(shareSpread),
          target: `≤ 10% ${verdict(median(share) <= 0.1)}${shareSpread > NOISY ? " (noisy)" : ""}`,
          ...(shareSpread > NOISY ? { noisy: `varied by ${percent(shareSpread)}` } : {}),
        },
      ),
    ];
    return {
      rows,
      notes: [
        `keep-alive descriptor lookup checks, #1 / #${count(n)}: ${median(v("checksFirst"))} / ` +
        `${median(v("checksLast"))}`,
      ],
    };
  },
};
