/**
 * The demo's single output stream: role events, wire packets or kernel observations, notes and the
 * verdict, each tagged with its source. Text and NDJSON are two views of the same stream.
 */
import type { Observation } from "../observe/keepalive_observer.ts";
import { createReporter, type Reporter } from "../report/reporter.ts";
import { formatObservation } from "../report/observations.ts";
import { makeStyler, stdoutWantsColor, type Styler } from "../report/style.ts";
import { writeLine } from "../report/output.ts";
import type { Verdict } from "./verdict.ts";

export class Timeline {
  readonly json: boolean;
  readonly style: Styler;

  constructor(json: boolean) {
    this.json = json;
    this.style = makeStyler(!json && stdoutWantsColor());
  }

  write(text: string): void {
    writeLine(text);
  }

  /** A reporter for one role, its lines tagged with `label`. */
  reporter(label: string): Reporter {
    return createReporter({ json: this.json, label, interactive: false });
  }

  observation(o: Observation): void {
    this.write(
      this.json
        ? JSON.stringify({ source: "kernel", ...o })
        : formatObservation(o, this.style, "kernel"),
    );
  }

  note(text: string): void {
    if (this.json) {
      this.write(JSON.stringify({ source: "demo", type: "note", time: Date.now(), text }));
    } else this.write(this.style("bold", `» ${text}`));
  }

  verdict(verdict: Verdict, title: string): void {
    if (this.json) {
      this.write(JSON.stringify({
        source: "demo",
        type: "verdict",
        time: Date.now(),
        title,
        evidence: verdict.source,
        toleranceMs: verdict.toleranceMs,
        rows: verdict.rows,
        pass: verdict.pass,
      }));
      return;
    }
    this.table(
      title,
      ["check", "configured", "observed"],
      verdict.rows.map((r) => ({ cells: [r.check, r.configured, r.observed], pass: r.pass })),
    );
    const how = verdict.source === "capture"
      ? "packets captured on the wire"
      : "the kernel's socket table";
    this.write(
      (verdict.pass ? this.style("green", "PASS") : this.style("red", "FAIL")) +
        `: observed from ${how}; timings within ±${verdict.toleranceMs}ms`,
    );
  }

  /** An aligned table with an ok/MISMATCH column; in JSON one "table" object. */
  table(title: string, header: string[], rows: { cells: string[]; pass: boolean }[]): void {
    if (this.json) {
      this.write(JSON.stringify({
        source: "demo",
        type: "table",
        time: Date.now(),
        title,
        header,
        rows: rows.map((r) => ({
          ...Object.fromEntries(header.map((h, i) => [h, r.cells[i]])),
          pass: r.pass,
        })),
        pass: rows.every((r) => r.pass),
      }));
      return;
    }
    const body = rows.map((r) => [...r.cells, r.pass ? "ok" : "MISMATCH"]);
    const head = [...header, ""];
    const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i].length)));
    const fmt = (row: string[]) =>
      row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
    this.write("");
    this.write(this.style("bold", title));
    this.write(fmt(head));
    this.write(widths.map((w) => "-".repeat(w)).join("  "));
    for (const row of body) {
      const text = fmt(row);
      this.write(row.at(-1) === "ok" ? text : this.style("red", text));
    }
  }
}
