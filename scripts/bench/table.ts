/**
 * The bench's table: one row per measure, tcpka against its reference, the ratio of the medians,
 * how far the runs spread, and the target with its verdict. A row whose runs spread by more than
 * NOISY says so, and the notes under the table name it: its ratio is not to be trusted.
 */
import { median, NOISY, percent, ratio, spread } from "./stats.ts";

export interface Row {
  what: string;
  tcpka: string;
  reference: string;
  ratio: string;
  spread: string;
  target: string;
  /** Set when the runs spread too far to trust the ratio: says which and by how much. */
  noisy?: string;
}

export interface Target {
  /** e.g. "≤ 1.0×" */
  text: string;
  holds: (tcpka: number, reference: number) => boolean;
}

/** A target on the ratio tcpka / reference. */
export const atMost = (k: number): Target => ({
  text: `≤ ${k.toFixed(1)}×`,
  holds: (t, r) => t <= k * r,
});

export const verdict = (ok: boolean) => ok ? "holds" : "MISSED";

/**
 * A row from the runs of both sides: medians, their ratio, the spread of each side, the target.
 * `referenceName` labels the reference's spread (e.g. "Go").
 */
export function compare(
  what: string,
  tcpkaRuns: readonly number[],
  referenceRuns: readonly number[],
  format: (v: number) => string,
  options: { referenceName: string; target?: Target; referenceLabel?: string } = {
    referenceName: "reference",
  },
): Row {
  const t = median(tcpkaRuns), r = median(referenceRuns);
  const st = spread(tcpkaRuns), sr = spread(referenceRuns);
  const noisy = [
    st > NOISY ? `tcpka varied by ${percent(st)} between runs` : "",
    sr > NOISY
      ? `the ${options.referenceName} reference varied by ${percent(sr)} between runs`
      : "",
  ].filter(Boolean).join(", ");
  const one = (runs: readonly number[], s: number) => runs.length > 1 ? percent(s) : "1 run";
  const spreadText = `${one(tcpkaRuns, st)} / ${one(referenceRuns, sr)}`;
  const target = options.target;
  return {
    what,
    tcpka: format(t),
    reference: `${options.referenceLabel ?? ""}${format(r)}`,
    ratio: ratio(t, r),
    spread: spreadText,
    target: target ? `${target.text} ${verdict(target.holds(t, r))}${noisy ? " (noisy)" : ""}` : "",
    ...(noisy ? { noisy } : {}),
  };
}

/** A row that is only information, no ratio or target. */
export function info(what: string, tcpka: string, reference = "", more: Partial<Row> = {}): Row {
  return { what, tcpka, reference, ratio: "", spread: "", target: "", ...more };
}

const HEAD: Row = {
  what: "measure",
  tcpka: "tcpka",
  reference: "reference",
  ratio: "ratio",
  spread: "spread tcpka / ref",
  target: "target",
};
const COLUMNS = Object.keys(HEAD) as (keyof Omit<Row, "noisy">)[];

export function printTable(title: string, rows: readonly Row[], notes: readonly string[]): void {
  const width = (k: keyof Row) => Math.max(...[HEAD, ...rows].map((r) => (r[k] ?? "").length), 3);
  const line = (r: Row) => `| ${COLUMNS.map((k) => r[k].padEnd(width(k))).join(" | ")} |`;
  console.log(`\n${title}\n`);
  console.log(line(HEAD));
  console.log(`| ${COLUMNS.map((k) => "-".repeat(width(k))).join(" | ")} |`);
  for (const r of rows) console.log(line(r));
  console.log();
  for (const n of notes) console.log(`- ${n}`);
  const noisy = rows.filter((r) => r.noisy);
  if (noisy.length > 0) {
    console.log(
      `- TOO NOISY TO TRUST (runs spread by more than ${percent(NOISY)}; re-run on a quieter ` +
        `machine, or with more --runs):`,
    );
    for (const r of noisy) console.log(`  - ${r.what}: ${r.noisy}`);
  }
}
