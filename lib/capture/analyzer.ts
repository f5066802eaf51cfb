/**
 * pcap bytes in, labelled packets out, summaries at the end: the decoder and the flow tracker
 * joined in one streaming pass, so memory stays flat however large the capture.
 */
import { PcapDecoder, PcapError } from "../pcap/decoder.ts";
import { FlowTracker, type LabeledPacket } from "../flow/tracker.ts";
import { type FlowSummary, summarizeFlows } from "../flow/summary.ts";

export interface AnalysisResult {
  packets: number;
  summaries: FlowSummary[];
  /** Set when the input was truncated or corrupt; everything before it was reported. */
  error: PcapError | null;
  /** Records that were not TCP (ARP, UDP, …) and so were skipped. */
  skipped: number;
}

export class CaptureAnalyzer {
  readonly decoder = new PcapDecoder();
  readonly tracker = new FlowTracker();
  packets = 0;

  /** `afterChunk` runs once the packets of a chunk are out: the moment to flush output. */
  constructor(
    private readonly onPacket: (p: LabeledPacket) => void,
    private readonly afterChunk: () => void = () => {},
  ) {}

  /** Feeds bytes; throws PcapError on corrupt input (after reporting what came before). */
  push(chunk: Uint8Array): void {
    try {
      for (const packet of this.decoder.push(chunk)) {
        this.packets++;
        this.onPacket(this.tracker.track(packet));
      }
    } finally {
      this.afterChunk();
    }
  }

  finish(error: PcapError | null = null): AnalysisResult {
    if (!error) {
      try {
        this.decoder.end();
      } catch (err) {
        if (!(err instanceof PcapError)) throw err;
        error = err;
      }
    }
    return {
      packets: this.packets,
      summaries: summarizeFlows(this.tracker.flows),
      error,
      skipped: this.decoder.stats.skipped,
    };
  }

  /** Reads `stream` to its end (or until `signal`), then summarises. */
  async consume(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<AnalysisResult> {
    const reader = stream.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        this.push(value);
      }
    } catch (err) {
      if (err instanceof PcapError) {
        await reader.cancel().catch(() => {});
        return this.finish(err);
      }
      if (!signal?.aborted) throw err;
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
    return this.finish();
  }
}
