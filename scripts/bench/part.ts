/**
 * A part of the bench: one family of measurements (connections, keep-alive settings, capture, …)
 * that returns rows for the table and notes under it. To add one: a module exporting a Part, and
 * one line in scripts/bench.ts's PARTS; `--only NAME` then runs it alone.
 */
import type { Row } from "./table.ts";
import type { GoReference } from "./go.ts";

export interface Options {
  /** Runs of each measurement that the table takes medians of. */
  runs: number;
  /** Concurrent connections for the roles (the largest also gets the diagnostic rows). */
  connections: number[];
  /** Generated captures to read: packets and connections open from start to end. */
  captures: { packets: number; flows: number }[];
  /** Also the slower "why" rows (e.g. V8's young generation capped). */
  why: boolean;
  quick: boolean;
}

export interface Bench {
  /** A temp dir for the run's files, removed at the end (unless --keep). */
  dir: string;
  options: Options;
  /** The Go reference programs, built on first use; null without a Go toolchain. */
  go(): Promise<GoReference | null>;
  log(text: string): void;
}

export interface PartResult {
  rows: Row[];
  notes: string[];
}

export interface Part {
  /** What `--only` names. */
  name: string;
  run(bench: Bench): Promise<PartResult>;
}
