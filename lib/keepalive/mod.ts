/**
 * Keep-alive control for a Deno TCP connection: enable it with idle, interval and count, then read
 * back what the kernel really uses. Deno's own `setKeepAlive` is only on/off; the timings need the
 * socket's OS handle, reached through FFI. Without FFI (or on an unknown OS) it falls back to
 * on/off and reports the system defaults that then apply.
 */
import { platformFor, type PlatformTable } from "./constants.ts";
import type { SocketOptionsBackend } from "./backend.ts";
import { PosixBackend } from "./posix.ts";
import { WindowsBackend } from "./windows.ts";
import { readSystemDefaults, type SystemDefaults } from "./system_defaults.ts";
import type { KeepAliveReport, KeepAliveRequest } from "./settings.ts";

export type { KeepAliveReport, KeepAliveRequest, KeepAliveValues } from "./settings.ts";

export class KeepAliveController {
  readonly backend: SocketOptionsBackend | null;
  /** Why timings cannot be set, when they cannot. */
  readonly fallbackReason: string | null;
  readonly #defaults: SystemDefaults | null;
  readonly #handles = new WeakMap<Deno.TcpConn, number>();

  private constructor(
    backend: SocketOptionsBackend | null,
    reason: string | null,
    defaults: SystemDefaults | null,
  ) {
    this.backend = backend;
    this.fallbackReason = reason;
    this.#defaults = defaults;
  }

  static async create(os: string = Deno.build.os): Promise<KeepAliveController> {
    const platform = platformFor(os);
    let reason: string | null = null;
    let backend: SocketOptionsBackend | null = null;
    if (!platform) {
      reason = `keep-alive timings are not supported on ${os}`;
    } else if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      reason = "setting keep-alive timings needs --allow-ffi";
    } else {
      try {
        backend = platform.os === "windows"
          ? await loadWindowsBackend(platform)
          : new PosixBackend(platform);
      } catch (err) {
        reason = `cannot load ${platform.library}: ${(err as Error).message}`;
      }
    }
    const defaults = backend ? null : await readSystemDefaults(os);
    return new KeepAliveController(backend, reason, defaults);
  }

  /** Applies `request` to `conn` and reports what is in force. Never throws for OS refusals. */
  apply(conn: Deno.TcpConn, request: KeepAliveRequest): KeepAliveReport {
    if (!this.backend) return this.#onOff(conn, request, [this.fallbackReason!]);
    const started = performance.now();
    const found = this.backend.locate(conn);
    const micros = Math.round((performance.now() - started) * 1000);
    if (!found) {
      return this.#onOff(conn, request, ["could not find this connection's socket handle"]);
    }
    this.#handles.set(conn, found.handle);
    const lookup = { handle: found.handle, probes: found.probes, micros };
    const notes: string[] = [];
    let method: KeepAliveReport["method"] = request.enabled ? "setsockopt" : "off";
    try {
      const applied = this.backend.apply(found.handle, request);
      method = applied.method;
      notes.push(...applied.notes);
    } catch (err) {
      notes.push((err as Error).message);
    }
    try {
      const readBack = this.backend.read(found.handle, request.userTimeoutMs !== undefined);
      notes.push(...readBack.notes);
      return {
        requested: request,
        enabled: readBack.enabled,
        effective: readBack.values,
        source: readBack.source ?? "socket",
        ...(request.userTimeoutMs !== undefined && readBack.userTimeoutMs !== undefined
          ? { userTimeoutMs: readBack.userTimeoutMs }
          : {}),
        method,
        notes,
        lookup,
      };
    } catch (err) {
      notes.push((err as Error).message);
      return {
        requested: request,
        enabled: request.enabled,
        effective: { idleMs: null, intervalMs: null, count: null },
        source: "unknown",
        method,
        notes,
        lookup,
      };
    }
  }

  /**
   * Aborts `conn` with an RST (the caller still closes it). Returns false where that is not
   * possible (no FFI, handle unknown), so the caller can say so.
   */
  reset(conn: Deno.TcpConn): boolean {
    const handle = this.#handles.get(conn);
    if (handle === undefined || !this.backend) return false;
    try {
      this.backend.reset(handle);
      return true;
    } catch {
      return false;
    }
  }

  /** Call when `conn` is closed: its handle is then the likeliest home of the next connection. */
  release(conn: Deno.TcpConn): void {
    const handle = this.#handles.get(conn);
    if (handle === undefined || !this.backend) return;
    this.#handles.delete(conn);
    this.backend.forget(handle);
  }

  #onOff(conn: Deno.TcpConn, request: KeepAliveRequest, why: string[]): KeepAliveReport {
    conn.setKeepAlive(request.enabled);
    const asked = request.idleMs !== undefined || request.intervalMs !== undefined ||
      request.count !== undefined;
    const notes = [...why];
    if (request.enabled) {
      notes.push(
        `${
          asked ? "requested timings not applied; " : ""
        }keep-alive is on with the system defaults ` +
          `(${this.#defaults?.origin ?? "unknown"})`,
      );
    }
    return {
      requested: request,
      enabled: request.enabled,
      effective: request.enabled && this.#defaults
        ? this.#defaults.values
        : { idleMs: null, intervalMs: null, count: null },
      source: request.enabled && this.#defaults ? "system-defaults" : "unknown",
      method: request.enabled ? "on-off" : "off",
      notes,
    };
  }
}

function loadWindowsBackend(platform: PlatformTable): Promise<SocketOptionsBackend> {
  return Promise.resolve(new WindowsBackend(platform));
}
