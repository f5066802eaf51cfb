/**
 * Part "inspect": inspect.ts's measurement (tcpka inspect against `ss -tnoiep` on a host with
 * thousands of established connections) in the bench's table. inspect.ts takes its own medians, so
 * these rows show no spread. Needs root; skipped with a note otherwise.
 */
import { inspectBench } from "./inspect.ts";
import { count, mb, ms, ratio } from "./stats.ts";
import { info, verdict } from "./table.ts";
import type { Part } from "./part.ts";

export const inspectPart: Part = {
  name: "inspect",
  async run(bench) {
    if (Deno.uid() !== 0) {
      return {
        rows: [],
        notes: ["inspect rows skipped: inspect reads other processes' sockets (root)"],
      };
    }
    const sizes = bench.options.quick ? [2_000] : [10_000, 20_000];
    bench.log(`inspect on ${sizes.map(count).join(", ")} sockets (scripts/bench/inspect.ts)`);
    const results = await inspectBench(sizes, bench.options.runs);
    const rows = results.flatMap((r) => {
      const at = `inspect, ${count(r.sockets)} sockets`;
      return [
        info(`${at}: time, --json`, ms(r.inspectMs), `ss -tnoiep: ${ms(r.ssMs)}`, {
          ratio: ratio(r.inspectMs, r.ssMs),
          spread: "medians",
          target: `≤ 1.5× ${verdict(r.inspectMs <= 1.5 * r.ssMs)}`,
        }),
        info(`${at}: CPU, --json`, ms(r.inspectCpuMs), `ss -tnoiep: ${ms(r.ssCpuMs)}`, {
          ratio: ratio(r.inspectCpuMs, r.ssCpuMs),
          spread: "medians",
        }),
        info(`${at}: peak memory`, mb(r.inspectPeakKb * 1024), `ss: ${mb(r.ssPeakKb * 1024)}`),
      ];
    });
    return { rows, notes: [] };
  },
};
