/** The human view of kernel-table observations (`watch`, and the demo without a capture). */
import type { Observation } from "../observe/keepalive_observer.ts";
import { LABEL_WIDTH } from "./human.ts";
import { makeStyler, stdoutWantsColor, type Styler } from "./style.ts";
import { writeLine } from "./output.ts";
import { jsonLine } from "./json_view.ts";
import { formatClock, formatDuration } from "../duration.ts";

export function formatObservation(o: Observation, style: Styler, label?: string): string {
  const tag = label ? style("cyan", label.padEnd(LABEL_WIDTH)) + " " : "";
  const head = `${style("dim", formatClock(o.time))}  ${tag}${o.conn}  `;
  const timer = (ms: number | null) =>
    ms === null ? "" : ` (keep-alive timer ${formatDuration(ms)})`;
  switch (o.type) {
    case "socket":
      return head +
        `${o.state}, ${
          o.keepaliveTimerMs === null
            ? "no keep-alive timer"
            : `keep-alive on${timer(o.keepaliveTimerMs)}`
        }`;
    case "probe": {
      const gap = o.gapMs === null
        ? ""
        : o.kind === "retry"
        ? `, ${formatDuration(o.gapMs)} after the unanswered probe`
        : o.kind === "answered"
        ? `, ${formatDuration(o.gapMs)} after the last answer`
        : `, after ${formatDuration(o.gapMs)} idle`;
      return head +
        (o.answered ? style("green", `keep-alive probe #${o.seen} sent and answered`) : style(
          "yellow",
          `keep-alive probe #${o.seen} sent, unanswered (${o.unanswered} in a row)`,
        )) + gap +
        timer(o.keepaliveTimerMs);
    }
    case "probe-ack":
      return head + `answered the peer's keep-alive probe (#${o.seen})`;
    case "zero-window-probe":
      return head +
        `zero-window probe #${o.seen} sent (persist timer ${
          formatDuration(o.persistTimerMs)
        }): the peer's window is 0; not keep-alive`;
    case "zero-window-ack":
      return head + `answered the peer's zero-window probe (#${o.seen}): window still 0`;
    case "data":
      return head + "data exchanged";
    case "state":
      return head + `${o.from} → ${o.state}`;
    case "gone":
      return head +
        (o.unanswered > 0
          ? style(
            "red",
            `gone after ${o.unanswered} unanswered probes (the kernel gave up: ETIMEDOUT)`,
          )
          : `gone (last state ${o.state})`);
  }
}

/** The first line of `watch`: what is watched, how, and how to stop. */
export function announceWatching(json: boolean, port: number, pollMs: number): void {
  writeLine(
    json
      ? jsonLine({ type: "watching", time: Date.now(), port, pollMs })
      : `watching TCP connections with port ${port} on either end (ss every ${pollMs}ms); ` +
        "Ctrl-C to stop",
  );
}

export function createObservationPrinter(json: boolean): (o: Observation) => void {
  const style = makeStyler(!json && stdoutWantsColor());
  return (o) => {
    const text = json ? jsonLine(o) : formatObservation(o, style);
    writeLine(text);
  };
}
