/** The keep-alive flags `client` and `server` share, and how they become a KeepAliveRequest. */
import type { FlagSpecs, FlagValues } from "./flags.ts";
import { durationFlag, integerFlag } from "./flags.ts";
import { UsageError } from "../errors.ts";
import { type KeepAliveRequest, validateRequestHere } from "../keepalive/settings.ts";

export const KEEPALIVE_FLAGS: FlagSpecs = {
  period: { type: "string" },
  idle: { type: "string" },
  interval: { type: "string" },
  count: { type: "string" },
  "no-keepalive": { type: "boolean" },
};

export const KEEPALIVE_HELP = `Keep-alive:
  --period DURATION     idle time before the first probe AND time between probes
                        (like Go's SetKeepAlivePeriod)
  --idle DURATION       idle time before the first probe (overrides --period)
  --interval DURATION   time between unanswered probes (overrides --period)
  --count N             unanswered probes before the connection is declared dead
                        (default: the system's; Linux 9)
  --no-keepalive        leave SO_KEEPALIVE off
  Durations: 500ms, 2s, 1m, 1h or plain seconds. Linux takes whole seconds, 1s to 32767s;
  count 1 to 127. A silent peer is detected after idle + interval × count.`;

/**
 * Builds the request. `defaultPeriodMs` null means keep-alive is off unless a keep-alive flag is
 * given (the server); a number means on by default with that period (the client).
 */
export function keepAliveFromFlags(
  command: string,
  values: FlagValues,
  defaultPeriodMs: number | null,
): KeepAliveRequest {
  const period = durationFlag(command, values, "period");
  const idle = durationFlag(command, values, "idle");
  const interval = durationFlag(command, values, "interval");
  const count = integerFlag(command, values, "count", 0, Number.MAX_SAFE_INTEGER);
  const anyTiming = period !== undefined || idle !== undefined || interval !== undefined ||
    count !== undefined;
  if (values["no-keepalive"]) {
    if (anyTiming) {
      throw new UsageError(`${command}: --no-keepalive cannot be combined with keep-alive timings`);
    }
    return { enabled: false };
  }
  if (!anyTiming && defaultPeriodMs === null) return { enabled: false };
  const base = period ?? defaultPeriodMs ?? undefined;
  const request: KeepAliveRequest = {
    enabled: true,
    idleMs: idle ?? base,
    intervalMs: interval ?? base,
    count,
  };
  const problem = validateRequestHere(request);
  if (problem) throw new UsageError(`${command}: ${problem}`);
  return request;
}

/** Adds TCP_USER_TIMEOUT (--user-timeout) to a request, validated for this platform. */
export function withUserTimeout(
  command: string,
  request: KeepAliveRequest,
  userTimeoutMs: number | undefined,
): KeepAliveRequest {
  if (userTimeoutMs === undefined) return request;
  const withTimeout = { ...request, userTimeoutMs };
  const problem = validateRequestHere(withTimeout);
  if (problem) throw new UsageError(`${command}: ${problem}`);
  return withTimeout;
}
