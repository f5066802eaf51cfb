/** Starting tcpka roles inside a scenario's namespaces, their events joining the timeline. */
import { EventProcess } from "../cli/event_process.ts";
import { selfCommand } from "../cli/self.ts";
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
