/** Where events go: human lines (with a live progress line on a TTY) or NDJSON, on stdout. */
import type { TcpkaEvent } from "../events.ts";
import { HumanView } from "./human.ts";
import { makeStyler, stdoutWantsColor } from "./style.ts";
import { writeLine, writeNow } from "./output.ts";
import { jsonLine } from "./json_view.ts";

export interface Reporter {
  emit(event: TcpkaEvent): void;
  /** A transient status line; shown only on an interactive terminal, never in JSON. */
  progress(text: string | null): void;
}

export interface ReporterOptions {
  json: boolean;
  /** Names the source when several share one timeline (the demo's "client", "server"). */
  label?: string;
  /** Overrides TTY detection (tests). */
  interactive?: boolean;
  /**
   * Where lines go instead of stdout, with the event's time (the demo's timeline orders them). A
   * line may be given as a function: made when it is written (see time_order.ts).
   */
  write?: (line: string | (() => string), time: number) => void;
}

export function createReporter(options: ReporterOptions): Reporter {
  const write = options.write;
  if (options.json) {
    return {
      emit: (event) =>
        write
          ? write(() => jsonLine(event, options.label), event.time)
          : writeLine(jsonLine(event, options.label)),
      progress: () => {},
    };
  }
  const interactive = options.interactive ?? Deno.stdout.isTerminal();
  const view = new HumanView(makeStyler(stdoutWantsColor()), options.label);
  const style = makeStyler(stdoutWantsColor());
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) writeNow("\r\x1b[K");
    progressShown = false;
  };
  return {
    emit(event) {
      clearProgress();
      for (const line of view.format(event)) write ? write(line, event.time) : writeLine(line);
    },
    progress(text) {
      if (!interactive) return;
      clearProgress();
      if (text !== null) {
        writeNow(style("dim", text));
        progressShown = true;
      }
    },
  };
}
