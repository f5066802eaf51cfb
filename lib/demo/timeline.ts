/**
 * The demo's single output stream: role events, wire packets or kernel observations, notes and the
 * verdict, each tagged with its source. Text and NDJSON are two views of the same stream, and both
 * come out in time order (time_order.ts): sources learn of things late by different amounts.
 */
import type { Observation } from "../observe/keepalive_observer.ts";
import { createReporter, type Reporter } from "../report/reporter.ts";
import { formatObservation } from "../report/observations.ts";
import { makeStyler, stdoutWantsColor, type Styler } from "../report/style.ts";
import { flushOutput, writeLine } from "../report/output.ts";
import { jsonLine } from "../report/json_view.ts";
import { onCleanup } from "../process/shutdown.ts";
import type { Verdict, VerdictValues } from "./verdict.ts";
import { type Line, TimeOrder } from "./time_order.ts";

export type Scenario = "seed" | "dead-peer" | "firewall-idle" | "rescue";

export interface TableRow {
  cells: string[];
  pass: boolean;
  /** The row as numbers and kinds, for the JSON view; the first cell names the check. */
  values: { configured: VerdictValues; observed: VerdictValues };
}

export class Timeline {
  readonly json: boolean;
  readonly scenario: Scenario;
  readonly style: Styler;
  readonly #order = new TimeOrder(writeLine);

  constructor(json: boolean, scenario: Scenario) {
    this.json = json;
    this.scenario = scenario;
    this.style = makeStyler(!json && stdoutWantsColor());
    // What is still held for ordering belongs in the output of a run that is stopped.
    onCleanup(() => {
      this.#order.flush();
      flushOutput();
    });
  }

  /** A line stamped `time`, written in time order. */
  #add(time: number, text: Line): void {
    this.#order.add(time, text);
  }

  /** Writes what is held, then `text` at once (the verdict, after everything it is about). */
  #now(text: string): void {
    this.#order.flush();
    writeLine(text);
  }

  /** A reporter for one role, its lines tagged with `label` and put in time order. */
  reporter(label: string): Reporter {
    return createReporter({
      json: this.json,
      label,
      interactive: false,
      write: (line, time) => this.#add(time, line),
    });
  }

  observation(o: Observation): void {
    this.#add(
      o.time,
      this.json ? () => jsonLine(o, "kernel") : formatObservation(o, this.style, "kernel"),
    );
  }

  /** A line of the demo's own, in time order (stamped now). */
  write(text: string): void {
    this.#add(Date.now(), text);
  }

  /** An event of the demo's own (JSON view), in time order. */
  event(e: { type: string; time: number } & Record<string, unknown>): void {
    this.#add(e.time, () => jsonLine(e, "demo"));
  }

  note(text: string): void {
    const time = Date.now();
    this.#add(
      time,
      this.json
        ? () => jsonLine({ type: "note", time, text }, "demo")
        : this.style("bold", `» ${text}`),
    );
  }

  verdict(verdict: Verdict, title: string): void {
    if (this.json) {
      this.#verdictJson(
        title,
        verdict.source,
        verdict.toleranceMs,
        verdict.rows.map((r) => ({ check: r.check, pass: r.pass, ...r.values })),
      );
      return;
    }
    this.table(
      title,
      ["check", "configured", "observed"],
      verdict.rows.map((r) => ({
        cells: [r.check, r.configured, r.observed],
        pass: r.pass,
        values: r.values,
      })),
    );
    const how = verdict.source === "capture"
      ? "packets captured on the wire"
      : "the kernel's socket table";
    this.#now(
      (verdict.pass ? this.style("green", "PASS") : this.style("red", "FAIL")) +
        `: observed from ${how}; timings within ±${verdict.toleranceMs}ms`,
    );
  }

  #verdictJson(
    title: string,
    evidence: Verdict["source"] | null,
    toleranceMs: number | null,
    checks: { check: string; pass: boolean; configured: VerdictValues; observed: VerdictValues }[],
  ): void {
    this.#now(jsonLine({
      type: "verdict",
      time: Date.now(),
      scenario: this.scenario,
      title,
      evidence,
      toleranceMs,
      pass: checks.every((c) => c.pass),
      checks,
    }, "demo"));
  }

  /** An aligned table with an ok/MISMATCH column; in JSON the one `verdict` event. */
  table(title: string, header: string[], rows: TableRow[]): void {
    if (this.json) {
      this.#verdictJson(
        title,
        null,
        null,
        rows.map((r) => ({ check: r.cells[0], pass: r.pass, ...r.values })),
      );
      return;
    }
    const body = rows.map((r) => [...r.cells, r.pass ? "ok" : "MISMATCH"]);
    const head = [...header, ""];
    const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i].length)));
    const fmt = (row: string[]) =>
      row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
    this.#now("");
    this.#now(this.style("bold", title));
    this.#now(fmt(head));
    this.#now(widths.map((w) => "-".repeat(w)).join("  "));
    for (const row of body) {
      const text = fmt(row);
      this.#now(row.at(-1) === "ok" ? text : this.style("red", text));
    }
  }
}
