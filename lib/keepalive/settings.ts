/** What the user asks of keep-alive, what the kernel reports back, and whether a platform can do it. */
import type { PlatformTable } from "./constants.ts";
import { formatDuration } from "../duration.ts";

export interface KeepAliveRequest {
  enabled: boolean;
  /** Unset fields keep the system default; the read-back shows what that default is. */
  idleMs?: number;
  intervalMs?: number;
  count?: number;
  /**
   * TCP_USER_TIMEOUT: give up when sent data stays unacknowledged this long (Linux). Independent
   * of keep-alive; with keep-alive on, Linux also uses it to decide that a silent peer is dead.
   */
  userTimeoutMs?: number;
}

export interface KeepAliveValues {
  idleMs: number | null;
  intervalMs: number | null;
  count: number | null;
}

/**
 * `socket`: read back from this connection with getsockopt (the truth).
 * `system-defaults`: options could not be set; these are the system-wide values that then apply.
 * `as-set`: set on this socket but not all readable back (Windows SIO_KEEPALIVE_VALS): what was set,
 *   with notes naming the values that could not be read.
 * `unknown`: neither could be read.
 */
export type ValuesSource = "socket" | "as-set" | "system-defaults" | "unknown";
export type ApplyMethod = "setsockopt" | "sio_keepalive_vals" | "on-off" | "off";

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
  /** How the socket's handle was found: for the cost of descriptor lookup at scale. */
  lookup?: { handle: number; probes: number; micros: number };
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

const OS_NAMES: Record<PlatformTable["os"], string> = {
  linux: "Linux",
  darwin: "macOS",
  windows: "Windows",
};

// The detection time is part of Linux's keep-alive timing, written once in timing.ts.
export { detectionTimeMs } from "./timing.ts";
