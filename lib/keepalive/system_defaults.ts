/**
 * The system-wide keep-alive timings a socket gets when its own options cannot be set. Deno
 * demands --allow-all for any path under /proc, so without it these come from `sysctl`.
 */
import type { SupportedOs } from "../socket/mod.ts";
import type { KeepAliveValues } from "./settings.ts";

export interface SystemDefaults {
  values: KeepAliveValues;
  /** Where they came from, for the user: "/proc/sys/net/ipv4", "sysctl", or why they are unknown. */
  origin: string;
}

interface Source {
  keys: [string, string, string];
  /** Multiplier from the sysctl's unit to ms for idle and interval. */
  timeUnitMs: number;
  documented: KeepAliveValues;
}

const SOURCES: Partial<Record<SupportedOs, Source>> = {
  linux: {
    keys: [
      "net.ipv4.tcp_keepalive_time",
      "net.ipv4.tcp_keepalive_intvl",
      "net.ipv4.tcp_keepalive_probes",
    ],
    timeUnitMs: 1000,
    documented: { idleMs: 7_200_000, intervalMs: 75_000, count: 9 },
  },
  darwin: {
    keys: ["net.inet.tcp.keepidle", "net.inet.tcp.keepintvl", "net.inet.tcp.keepcnt"],
    timeUnitMs: 1,
    documented: { idleMs: 7_200_000, intervalMs: 75_000, count: 8 },
  },
};

/** Windows keeps these in the registry only when changed; these are its documented values. */
const WINDOWS_DEFAULTS: KeepAliveValues = { idleMs: 7_200_000, intervalMs: 1000, count: 10 };

export async function readSystemDefaults(os: string = Deno.build.os): Promise<SystemDefaults> {
  if (os === "windows") return { values: WINDOWS_DEFAULTS, origin: "Windows documented defaults" };
  const source = SOURCES[os as SupportedOs];
  if (!source) {
    return { values: { idleMs: null, intervalMs: null, count: null }, origin: `unknown on ${os}` };
  }
  const raw = readProcSys(source.keys) ?? await readSysctl(source.keys);
  if (!raw) {
    return {
      values: source.documented,
      origin: "not readable (needs --allow-run=sysctl); these are the kernel's documented defaults",
    };
  }
  const [idle, interval, count] = raw.values;
  return {
    values: { idleMs: idle * source.timeUnitMs, intervalMs: interval * source.timeUnitMs, count },
    origin: raw.origin,
  };
}

function readProcSys(keys: string[]): { values: number[]; origin: string } | null {
  if (Deno.permissions.querySync({ name: "read", path: "/proc/sys" }).state !== "granted") {
    return null;
  }
  try {
    const values = keys.map((k) =>
      Number(Deno.readTextFileSync(`/proc/sys/${k.replaceAll(".", "/")}`))
    );
    return values.every(Number.isFinite) ? { values, origin: "/proc/sys" } : null;
  } catch {
    return null;
  }
}

async function readSysctl(keys: string[]): Promise<{ values: number[]; origin: string } | null> {
  if (Deno.permissions.querySync({ name: "run", command: "sysctl" }).state !== "granted") {
    return null;
  }
  try {
    const out = await new Deno.Command("sysctl", { args: ["-n", ...keys], stderr: "null" })
      .output();
    if (!out.success) return null;
    const values = new TextDecoder().decode(out.stdout).trim().split(/\s+/).map(Number);
    return values.length === 3 && values.every(Number.isFinite)
      ? { values, origin: "sysctl" }
      : null;
  } catch {
    return null;
  }
}
