/**
 * A path that forgets idle connections (lib/netns/firewall_path.ts) with `tcpka server` running
 * behind it: what `tcpka discover` is tested and demonstrated against. The namespaces are removed
 * on every exit path of `withServerBehindPath`.
 */
import { EventProcess } from "../process/event_process.ts";
import { selfCommand } from "../process/self.ts";
import { createFirewallPath, PATH_NET, type PathKind } from "../netns/firewall_path.ts";
import type { Topology } from "../netns/topology.ts";

export interface ServerBehindPath {
  topology: Topology;
  /** argv prefix that runs a command on the client's side of the path. */
  clientExec: string[];
  host: string;
  port: number;
}

export async function withServerBehindPath<T>(
  kind: PathKind,
  timeoutMs: number,
  port: number,
  fn: (path: ServerBehindPath) => Promise<T>,
): Promise<T> {
  const topology = await createFirewallPath(kind, timeoutMs);
  let server: EventProcess | null = null;
  try {
    server = new EventProcess([
      ...topology.exec("server"),
      ...selfCommand(),
      "server",
      "--host",
      PATH_NET.server,
      "--port",
      String(port),
      "--hold",
      "0",
      "--json",
    ]);
    await server.waitFor((e) => e.type === "listening", 30_000);
    return await fn({
      topology,
      clientExec: topology.exec("client"),
      host: PATH_NET.server,
      port,
    });
  } finally {
    server?.stop("SIGKILL");
    await server?.done.catch(() => {});
    await topology.remove();
  }
}
