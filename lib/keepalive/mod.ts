/**
 * Keep-alive on a connection: enable it with idle, interval and count, then read back what the
 * kernel really uses, and say where the values came from. Deno's own `setKeepAlive` is only on/off;
 * the timings go through the OS socket layer (lib/socket/). Without it (no FFI, an unknown OS) it
 * falls back to on/off and reports the system defaults that then apply.
 */
import { openSockets, type Sockets } from "../socket/mod.ts";
import { readSystemDefaults, type SystemDefaults } from "./system_defaults.ts";
import type { KeepAliveReport, KeepAliveRequest } from "./settings.ts";

export type { KeepAliveReport, KeepAliveRequest, KeepAliveValues } from "./settings.ts";

export class KeepAliveController {
  /** The OS socket layer, or null when timings cannot be set (see fallbackReason). */
  readonly sockets: Sockets | null;
  /** Why timings cannot be set, when they cannot. */
  readonly fallbackReason: string | null;
  readonly #defaults: SystemDefaults | null;

  private constructor(
    sockets: Sockets | null,
    reason: string | null,
    defaults: SystemDefaults | null,
  ) {
    this.sockets = sockets;
    this.fallbackReason = reason;
    this.#defaults = defaults;
  }

  static async create(os: string = Deno.build.os): Promise<KeepAliveController> {
    const { sockets, reason } = openSockets(os);
    const defaults = sockets ? null : await readSystemDefaults(os);
    return new KeepAliveController(sockets, reason, defaults);
  }

  /** Applies `request` to `conn` and reports what is in force. Never throws for OS refusals. */
  apply(conn: Deno.TcpConn, request: KeepAliveRequest): KeepAliveReport {
    if (!this.sockets) return this.#onOff(conn, request, [this.fallbackReason!]);
    const started = performance.now();
    const found = this.sockets.locate(conn);
    const micros = Math.round((performance.now() - started) * 1000);
    if (!found) {
      return this.#onOff(conn, request, ["could not find this connection's socket handle"]);
    }
    return this.applyToHandle(found.handle, request, { ...found, micros });
  }

  /**
   * Applies `request` to the socket behind `handle` (a descriptor found for a connection of ours, or
   * one duplicated from another process) and reports what is in force. Never throws for OS
   * refusals; needs the socket layer (check `sockets` first).
   */
  applyToHandle(
    handle: number,
    request: KeepAliveRequest,
    lookup?: KeepAliveReport["lookup"],
  ): KeepAliveReport {
    const sockets = this.sockets;
    if (!sockets) throw new Error(this.fallbackReason ?? "no socket layer");
    const notes: string[] = [];
    let method: KeepAliveReport["method"] = request.enabled ? "setsockopt" : "off";
    try {
      const applied = sockets.setKeepAlive(handle, request);
      method = applied.method;
      notes.push(...applied.notes);
    } catch (err) {
      notes.push((err as Error).message);
    }
    const looked = lookup ? { lookup } : {};
    try {
      const reading = sockets.readKeepAlive(handle, request.userTimeoutMs !== undefined);
      notes.push(...reading.notes);
      return {
        requested: request,
        enabled: reading.enabled,
        effective: reading.values,
        source: reading.source ?? "socket",
        ...(request.userTimeoutMs !== undefined && reading.userTimeoutMs !== undefined
          ? { userTimeoutMs: reading.userTimeoutMs }
          : {}),
        method,
        notes,
        ...looked,
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
        ...looked,
      };
    }
  }

  /**
   * Aborts `conn` with an RST (the caller still closes it). Returns false where that is not
   * possible (no FFI, handle unknown), so the caller can say so.
   */
  reset(conn: Deno.TcpConn): boolean {
    const handle = this.sockets?.handleOf(conn);
    if (handle === undefined || !this.sockets) return false;
    try {
      this.sockets.reset(handle);
      return true;
    } catch {
      return false;
    }
  }

  /** Call when `conn` is closed: its handle is then the likeliest home of the next connection. */
  release(conn: Deno.TcpConn): void {
    this.sockets?.release(conn);
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
