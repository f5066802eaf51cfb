/**
 * Durations and clock times as tcpka writes them, one formatter each: durations are parsed from
 * `500ms`, `2s`, `1.5m`, `1h`, or plain seconds (`2`), and every duration shown, configured or
 * measured, goes through formatDuration; every wall-clock time through formatClock.
 */

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

/**
 * Milliseconds, compactly, in the largest unit that keeps them readable: whole hours and minutes
 * as `1h`, `2m`; seconds to the millisecond (`2.028s`); below a second `250ms`, `1.25ms`; below a
 * millisecond whole microseconds (`13µs`). A configured value prints as it was written.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  // Only a capture whose times go backwards gives a negative span: shown, not hidden.
  if (ms < 0) return `−${formatDuration(-ms)}`;
  if (Number.isInteger(ms) && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (Number.isInteger(ms) && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${trimFixed(ms / 1000, 3)}s`;
  if (ms >= 1) return `${trimFixed(ms, ms < 10 ? 2 : 1)}ms`;
  return `${Math.round(ms * 1000)}µs`;
}

function trimFixed(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/**
 * Local wall-clock time `HH:MM:SS.mmm`, or with `micros` to the microsecond (`HH:MM:SS.uuuuuu`,
 * the precision tcpdump prints). `epochMs` may carry a fraction of a millisecond.
 */
export function formatClock(epochMs: number, micros = false): string {
  const d = new Date(Math.floor(epochMs));
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const fraction = micros
    ? pad(Math.round(epochMs * 1000) % 1_000_000, 6)
    : pad(d.getMilliseconds(), 3);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${fraction}`;
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
