/** Starting tcpka roles inside a scenario's namespaces, their events joining the timeline. */
import { EventProcess } from "../process/event_process.ts";
import { selfCommand } from "../process/self.ts";
import type { Topology } from "../netns/topology.ts";
import type { Timeline } from "./timeline.ts";

export function startRole(
  topology: Topology,
  ns: string,
  timeline: Timeline,
  label: string,
  args: string[],
): EventProcess {
  const out = timeline.reporter(label);
  return new EventProcess([...topology.exec(ns), ...selfCommand(), ...args, "--json"], {
    onEvent: (e) => out.emit(e),
  });
}

/**
 * Starts `tcpka server` (holding connections until the peer closes) in namespace `ns` and
 * resolves once it listens.
 */
export async function startServerIn(
  topology: Topology,
  ns: string,
  timeline: Timeline,
  host: string,
  port: number,
): Promise<EventProcess> {
  const server = startRole(topology, ns, timeline, "server", [
    "server",
    "--host",
    host,
    "--port",
    String(port),
    "--hold",
    "0",
  ]);
  try {
    await server.waitFor((e) => e.type === "listening");
  } catch (err) {
    server.stop("SIGKILL");
    throw err;
  }
  return server;
}

/** `client` flags that reach `host:port` and hold until the peer closes. */
export function clientArgs(host: string, port: number): string[] {
  return ["client", "--host", host, "--port", String(port), "--hold", "0"];
}
