/**
 * Keep-alive settings that keep a connection alive across a measured idle timeout. Every probe and
 * its ACK restart the middlebox's clock, so the idle before the first probe and the interval
 * between probes must both stay under the timeout; half of it leaves room for one lost probe.
 * Linux takes whole seconds. The lower end of the range is used: the timeout may be just above it.
 */
import type { Edge } from "./bracket.ts";
import type { Recommendation } from "../events.ts";

export function recommend(lowMs: number, edge: Edge): Recommendation | null {
  // Nothing forgets the connection (none), or the server closes it whatever the probes do.
  if (edge === "none" || edge === "server-close") return null;
  const seconds = Math.floor(lowMs / 2 / 1000);
  if (seconds < 1) return null; // under 2 s: keep-alive's 1 s minimum cannot leave a margin
  return {
    idleMs: seconds * 1000,
    intervalMs: seconds * 1000,
    client: `tcpka client --idle ${seconds}s --interval ${seconds}s`,
    sysctl:
      `sysctl -w net.ipv4.tcp_keepalive_time=${seconds} net.ipv4.tcp_keepalive_intvl=${seconds}`,
  };
}
