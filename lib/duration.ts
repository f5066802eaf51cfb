/** Human-friendly durations: `500ms`, `2s`, `1.5m`, `1h`, or plain seconds (`2`). */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Parses a duration into whole milliseconds, or returns an error message. */
export function parseDuration(text: string): number | string {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return `"${text}" is not a duration (use e.g. 500ms, 2s, 1m, 1h, or plain seconds)`;
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? "s"];
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) return `"${text}" is too long`;
  if (!Number.isInteger(ms)) return `"${text}" is finer than a millisecond`;
  return ms;
}

/** Formats milliseconds compactly, choosing the largest unit that keeps it exact-ish. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${trimFixed(ms / 1000, 3)}s`;
  return `${trimFixed(ms, 1)}ms`;
}

function trimFixed(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, "");
}

/**
 * A measured time, rounded for reading: one decimal below a minute, then whole units ("4m59s",
 * "1h59m"); the kernel's milliseconds are noise at that scale.
 */
export function formatApprox(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor(ms / 1000) % 60}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor(ms / 60_000) % 60}m`;
}
