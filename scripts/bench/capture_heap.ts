/**
 * Child of the capture part, run with --expose-gc: streams a pcap through the analyzer exactly as
 * `capture --read --quiet` does (decoder, flow tracker, a summary per ended connection, nothing
 * printed) and, halfway through the file, when the generated files have all their connections
 * open, collects garbage and reports the live heap and how many connections are held.
 *
 *   capture_heap.ts FILE PACKETS     prints one JSON line (CaptureHeap)
 */
import { CaptureAnalyzer } from "../../lib/capture/analyzer.ts";

export interface CaptureHeap {
  /** Live heap after a full GC at the middle of the file. */
  liveHeapBytes: number;
  /** Connections the tracker held at that moment. */
  held: number;
}

async function measure(path: string, packets: number): Promise<CaptureHeap> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  const analyzer = new CaptureAnalyzer(() => {}, () => {}, { onSummary: () => {} });
  let at: CaptureHeap | null = null;
  const file = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    analyzer.push(buf.subarray(0, n));
    if (at === null && analyzer.packets >= packets / 2) {
      gc();
      at = { liveHeapBytes: Deno.memoryUsage().heapUsed, held: analyzer.tracker.heldCount };
    }
  }
  file.close();
  analyzer.finish();
  return at!;
}

if (import.meta.main) {
  console.log(JSON.stringify(await measure(Deno.args[0], Number(Deno.args[1]))));
}
