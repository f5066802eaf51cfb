/**
 * pcap bytes in, labelled packets out, summaries at the end: the decoder and the flow tracker
 * joined in one streaming pass. With `onSummary` each connection is summarised and forgotten as
 * soon as it ends, so memory stays flat however large the capture: it follows the number of
 * connections open at once, not the number of packets or of connections over time.
 */
import {
  PcapDecoder,
  PcapError,
  type ReadWarnings,
  type UnsupportedLink,
} from "../pcap/decoder.ts";
import { type Flow, FlowTracker, type LabeledPacket } from "../flow/tracker.ts";
import { type FlowSummary, summarizeFlow, summarizeFlows } from "../flow/summary.ts";

export interface AnalyzerOptions {
  /**
   * Receives each connection's summary once it has ended (see FlowTrackerOptions.onEnded), after
   * the packet that ended it was passed to onPacket; the analyzer then forgets the connection and
   * its probes. finish() returns the rest. Without it, every connection and every probe is kept
   * (tracker.flows[id], flow.probes) and finish() summarises them all.
   */
  onSummary?: (summary: FlowSummary) => void;
}

export interface AnalysisResult {
  packets: number;
  /** In flow-id order: every connection, or with onSummary those not handed to it yet. */
  summaries: FlowSummary[];
  /** Connections seen, including those already handed to onSummary. */
  connections: number;
  /** Set when the input was truncated or corrupt; everything before it was reported. */
  error: PcapError | null;
  /** Records that were not TCP (ARP, UDP, …) and so were skipped. */
  skipped: number;
  /** Link types not decoded, with how many packets each. */
  unsupportedLinks: UnsupportedLink[];
  /** What was read through rather than refused (snap length, odd timestamps). */
  warnings: ReadWarnings;
}

export class CaptureAnalyzer {
  readonly decoder = new PcapDecoder();
  readonly tracker: FlowTracker;
  packets = 0;
  readonly #onSummary: ((summary: FlowSummary) => void) | null;
  /** Flows the tracker has let go of during the current packet, summarised right after it. */
  #ended: Flow[] = [];

  /** `afterChunk` runs once the packets of a chunk are out: the moment to flush output. */
  constructor(
    private readonly onPacket: (p: LabeledPacket) => void,
    private readonly afterChunk: () => void = () => {},
    options: AnalyzerOptions = {},
  ) {
    this.#onSummary = options.onSummary ?? null;
    this.tracker = this.#onSummary === null
      ? new FlowTracker()
      : new FlowTracker({ keepProbes: false, onEnded: (flow) => this.#ended.push(flow) });
  }

  /** Feeds bytes; throws PcapError on corrupt input (after reporting what came before). */
  push(chunk: Uint8Array): void {
    try {
      for (const packet of this.decoder.push(chunk)) {
        this.packets++;
        this.onPacket(this.tracker.track(packet));
        if (this.#ended.length > 0) this.#summariseEnded();
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
      connections: this.tracker.seenCount,
      error,
      skipped: this.decoder.stats.skipped,
      unsupportedLinks: this.decoder.unsupportedLinks,
      warnings: { ...this.decoder.warnings },
    };
  }

  #summariseEnded(): void {
    const ended = this.#ended;
    this.#ended = [];
    for (const flow of ended) this.#onSummary!(summarizeFlow(flow));
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
