/**
 * What a capture container reader (pcap, pcapng) does for the streaming decoder: says how long
 * each unit (file header, record, block) is, and where in it a frame lies. Frame decoding is not
 * its business (see frame.ts).
 */
import type { Frame } from "./frame.ts";

/** The largest capture length libpcap accepts (MAXIMUM_SNAPLEN); anything bigger is corrupt. */
export const MAX_CAPLEN = 256 * 1024;

/** Things libpcap reads on through, counted so the user hears of them. */
export interface ReadWarnings {
  /** Records whose captured length exceeded the snap length: truncated to it, as libpcap does. */
  truncatedToSnaplen: number;
  /** Records with a sub-second field out of range (≥ 10^6 µs or 10^9 ns): clamped. */
  invalidSubsecond: number;
  /** Packets stamped earlier than the packet before them. */
  timeWentBack: number;
}

export interface ContainerReader {
  readonly format: "pcap" | "pcapng";
  /** Link type of a classic pcap, or of the first pcapng interface; -1 while unknown. */
  readonly linkType: number;
  /**
   * Length of the unit starting at `pos`, or, while fewer than `avail` bytes of its header are
   * there, the header length needed to tell. The answer only grows as more bytes arrive.
   * `at` is the unit's offset in the stream, for error messages.
   */
  unitLength(view: DataView, pos: number, avail: number, at: number): number;
  /** Parses one whole unit; true when it held a frame, now described in `frame`. */
  parse(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    at: number,
    frame: Frame,
  ): boolean;
  /** The message for a stream that ends `have` bytes into a unit that needs `need`. */
  truncated(have: number, need: number, at: number): string;
}
