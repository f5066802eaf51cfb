/** Whole-buffer and stream front ends to PcapDecoder, for tests. */
import { PcapDecoder, PcapError } from "../../lib/pcap/decoder.ts";
import type { DecoderStats } from "../../lib/pcap/frame.ts";
import type { DecodedPacket } from "../../lib/pcap/packet.ts";

export interface DecodeResult {
  packets: DecodedPacket[];
  /** The corruption that stopped decoding, if any; `packets` holds everything before it. */
  error: PcapError | null;
  stats: DecoderStats;
  decoder: PcapDecoder;
}

/** Decodes a whole capture held in memory, never throwing for bad input. */
export function decodePcapBuffer(bytes: Uint8Array): DecodeResult {
  const decoder = new PcapDecoder();
  const packets: DecodedPacket[] = [];
  let error: PcapError | null = null;
  try {
    for (const p of decoder.push(bytes)) packets.push(p);
    decoder.end();
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    error = e;
  }
  return { packets, error, stats: { ...decoder.stats }, decoder };
}

/**
 * Yields the TCP segments of a capture read from `stream`. Throws PcapError after yielding
 * everything before the corruption. Pass your own decoder to read its stats afterwards.
 */
export async function* decodePcapStream(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  decoder: PcapDecoder = new PcapDecoder(),
): AsyncGenerator<DecodedPacket, void, undefined> {
  for await (const chunk of stream) {
    for (const p of decoder.push(chunk)) yield p;
  }
  decoder.end();
}
