/** What the user asks of keep-alive, what the kernel reports back, and whether a platform can do it. */
import {
  type ApplyMethod,
  type KeepAliveRequest,
  type KeepAliveValues,
  platformFor,
  type PlatformTable,
  type ValuesSource,
} from "../socket/mod.ts";
import { formatDuration } from "../duration.ts";

// The socket layer sets and reads these; the domain names them for everyone above.
export type { ApplyMethod, KeepAliveRequest, KeepAliveValues, ValuesSource };

export interface KeepAliveReport {
  requested: KeepAliveRequest;
  enabled: boolean;
  effective: KeepAliveValues;
  source: ValuesSource;
  method: ApplyMethod;
  /** TCP_USER_TIMEOUT as read back, when it was requested. */
  userTimeoutMs?: number;
  /** Why something requested is not in force, in the user's words. */
  notes: string[];
  /**
   * How the socket's handle was found, for the cost of descriptor lookup at scale: `checks` is the
   * number of candidate handles looked at (getsockname/getpeername), not keep-alive probes.
   */
  lookup?: { handle: number; checks: number; micros: number };
}

/** Checks a request against what the platform's options can represent; returns an error or null. */
export function validateRequest(req: KeepAliveRequest, platform: PlatformTable): string | null {
  const osName = OS_NAMES[platform.os];
  const checkTime = (flag: string, ms: number | undefined, maxSeconds: number) => {
    if (ms === undefined) return null;
    if (ms < platform.granularityMs) {
      return `keep-alive ${flag} ${formatDuration(ms)} is too short: ${osName} needs at least ${
        formatDuration(platform.granularityMs)
      }`;
    }
    if (ms % platform.granularityMs !== 0) {
      return `keep-alive ${flag} ${
        formatDuration(ms)
      } cannot be represented: ${osName} sets keep-alive ` +
        `times in whole seconds`;
    }
    if (ms > maxSeconds * 1000) {
      return `keep-alive ${flag} ${
        formatDuration(ms)
      } is too long: ${osName} allows at most ${maxSeconds}s`;
    }
    return null;
  };
  const countError = req.count !== undefined &&
      (req.count < platform.minCount || req.count > platform.maxCount)
    ? `keep-alive count ${req.count} is out of range: ${osName} allows ${platform.minCount} to ${platform.maxCount}`
    : null;
  const userTimeoutError = req.userTimeoutMs === undefined
    ? null
    : platform.tcpUserTimeout === null
    ? `--user-timeout is not supported on ${osName}`
    : req.userTimeoutMs < 1 || req.userTimeoutMs > 2_147_483_647
    ? `--user-timeout must be from 1ms to 2147483647ms`
    : null;
  return userTimeoutError ?? checkTime("idle", req.idleMs, platform.maxIdleSeconds) ??
    checkTime("interval", req.intervalMs, platform.maxIntervalSeconds) ?? countError;
}

/** validateRequest against this OS's limits (none known: no objection). */
export function validateRequestHere(req: KeepAliveRequest, os = Deno.build.os): string | null {
  const platform = platformFor(os);
  return platform ? validateRequest(req, platform) : null;
}

const OS_NAMES: Record<PlatformTable["os"], string> = {
  linux: "Linux",
  darwin: "macOS",
  windows: "Windows",
};

// The detection time is part of Linux's keep-alive timing, written once in timing.ts.
export { detectionTimeMs } from "./timing.ts";
