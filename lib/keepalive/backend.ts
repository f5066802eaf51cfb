/** The seam between the portable keep-alive logic and one platform's socket calls. */
import type { PlatformTable } from "./constants.ts";
import type { ApplyMethod, KeepAliveRequest, KeepAliveValues, ValuesSource } from "./settings.ts";
import type { FoundHandle } from "./handle_finder.ts";
import type { TcpInfo } from "./tcp_info.ts";

export interface AppliedOptions {
  method: ApplyMethod;
  notes: string[];
}

export interface ReadBack {
  enabled: boolean;
  values: KeepAliveValues;
  notes: string[];
  /** Where `values` came from; "socket" unless the backend could not read them all back. */
  source?: ValuesSource;
  /** TCP_USER_TIMEOUT in force, where the platform has it. */
  userTimeoutMs?: number;
}

export interface SocketOptionsBackend {
  readonly platform: PlatformTable;
  /** The OS handle behind a connection, or null if it could not be found. */
  locate(conn: Deno.TcpConn): FoundHandle | null;
  /** The connection owning `handle` was closed. */
  forget(handle: number): void;
  /** Turns keep-alive on (or off) with the requested timings; throws with the OS's reason. */
  apply(handle: number, request: KeepAliveRequest): AppliedOptions;
  /** What the kernel says is in force on this socket now. */
  read(handle: number, withUserTimeout?: boolean): ReadBack;
  /** The connection's TCP_INFO; only where the platform has it (Linux). */
  tcpInfo?(handle: number): TcpInfo | null;
  /** Aborts the connection with an RST now, instead of the FIN a close would send. */
  reset(handle: number): void;
}
