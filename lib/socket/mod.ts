/**
 * The OS socket layer: the only code that calls libc or Winsock. `openSockets` picks the
 * implementation for this OS; everything above uses the `Sockets` interface and never asks which.
 */
import { platformFor, type PlatformTable } from "./platform.ts";
import type { Sockets } from "./types.ts";
import { PosixSockets } from "./posix.ts";
import { WindowsSockets } from "./windows.ts";

export type * from "./types.ts";
export type { FoundHandle } from "./handle_finder.ts";
export { ProcessAccessError, type ProcessFailure } from "./process_access.ts";
export { platformFor, type PlatformTable, type SupportedOs } from "./platform.ts";

export type OpenedSockets = { sockets: Sockets; reason: null } | { sockets: null; reason: string };

/**
 * The socket layer for `os`, or why there is none: an OS without a table row, no FFI permission,
 * or a C library that would not load.
 */
export function openSockets(os: string = Deno.build.os): OpenedSockets {
  const platform = platformFor(os);
  if (!platform) return { sockets: null, reason: `keep-alive timings are not supported on ${os}` };
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { sockets: null, reason: "setting keep-alive timings needs --allow-ffi" };
  }
  try {
    return { sockets: socketsFor(platform), reason: null };
  } catch (err) {
    return { sockets: null, reason: `cannot load ${platform.library}: ${(err as Error).message}` };
  }
}

function socketsFor(platform: PlatformTable): Sockets {
  return platform.api === "winsock" ? new WindowsSockets(platform) : new PosixSockets(platform);
}
