/**
 * Streaming decoder for classic pcap and pcapng captures, reduced to the TCP segments the
 * keep-alive analysis needs: a container reader (pcap_reader.ts, pcapng_reader.ts) says where
 * each frame lies, and the frame decoder (frame.ts) takes it from the link layer to TCP, called
 * from one place.
 *
 * Bytes arrive in arbitrary chunks. Whole records are parsed straight out of the chunk they
 * arrived in; only a record split across chunks is copied, into a pending buffer that grows to
 * the size of that one record. Garbage input only ever produces a PcapError, whose offset is where
 * the offending record starts.
 */
import type { ContainerReader, ReadWarnings } from "./container.ts";
import { PcapError } from "./error.ts";
import { type DecoderStats, type Frame, FrameDecoder, type UnsupportedLink } from "./frame.ts";
import type { DecodedPacket } from "./packet.ts";
import { isPcapMagic, PcapReader } from "./pcap_reader.ts";
import { BLOCK_SHB, PcapngReader } from "./pcapng_reader.ts";

export { PcapError } from "./error.ts";
export { MAX_CAPLEN, type ReadWarnings } from "./container.ts";
export type { DecoderStats, UnsupportedLink } from "./frame.ts";
export * from "./link_types.ts";

export class PcapDecoder {
  #pending = new Uint8Array(0);
  #pendingView = new DataView(this.#pending.buffer);
  #pendingLen = 0;
  /** Absolute stream offset of the first byte not yet parsed (= start of the pending record). */
  #consumed = 0;
  #ended = false;
  /** A corruption found after some packets of the same push() had been decoded; raised next call. */
  #error: PcapError | null = null;
  #reader: ContainerReader | null = null;
  readonly #frames = new FrameDecoder();
  /** The reader's frame description, reused for every frame. */
  readonly #frame: Frame = {
    bytes: this.#pending,
    view: this.#pendingView,
    offset: 0,
    caplen: 0,
    wireLen: 0,
    linkType: -1,
    tsMicros: 0,
    subNs: 0,
  };
  /** The latest capture time so far, to notice time going backwards. */
  #latestMicros = -Infinity;
  #latestSubNs = 0;
  readonly #warnings: ReadWarnings = {
    truncatedToSnaplen: 0,
    invalidSubsecond: 0,
    timeWentBack: 0,
  };

  /** Bytes fully parsed so far (a record split across chunks counts once it is complete). */
  get bytesConsumed(): number {
    return this.#consumed;
  }

  get stats(): Readonly<DecoderStats> {
    return this.#frames.stats;
  }

  /** What libpcap reads on through, counted. */
  get warnings(): Readonly<ReadWarnings> {
    return this.#warnings;
  }

  /** Link types met that are not decoded, each with how many packets were skipped. */
  get unsupportedLinks(): UnsupportedLink[] {
    return this.#frames.unsupportedLinks;
  }

  /** "pcap", "pcapng", or null before the first bytes identified the format. */
  get format(): "pcap" | "pcapng" | null {
    return this.#reader?.format ?? null;
  }

  /** Link type of a classic pcap, or of the first pcapng interface; -1 while unknown. */
  get linkType(): number {
    return this.#reader?.linkType ?? -1;
  }

  /**
   * Decodes every TCP segment completed by `chunk`. If the chunk also reveals
   * corruption, the segments before it are returned and the PcapError is thrown by
   * the next push() or end(), so nothing decodable is ever lost.
   */
  push(chunk: Uint8Array): DecodedPacket[] {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new TypeError("PcapDecoder.push() called after end()");
    const out: DecodedPacket[] = [];
    try {
      let pos = 0;
      if (this.#pendingLen > 0) {
        pos = this.#fillPending(chunk, out);
        if (this.#pendingLen > 0) return out;
      }
      const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const len = chunk.length;
      while (pos < len) {
        const unit = this.#unitLength(view, pos, len - pos);
        if (len - pos < unit) break;
        this.#parseUnit(chunk, view, pos, unit, out);
        pos += unit;
        this.#consumed += unit;
      }
      if (pos < len) this.#stash(chunk, pos);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      this.#error = e;
      if (out.length === 0) throw e;
    }
    return out;
  }

  /** Declares the end of the stream; throws PcapError if it stopped inside a record. */
  end(): void {
    if (this.#error) throw this.#error;
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pendingLen > 0) {
      this.#error = this.#truncationError();
      throw this.#error;
    }
    if (this.#reader === null) {
      this.#error = new PcapError("empty input: no pcap or pcapng header at byte 0", 0);
      throw this.#error;
    }
  }

  /** Completes the record held in the pending buffer from the front of `chunk`; returns bytes used. */
  #fillPending(chunk: Uint8Array, out: DecodedPacket[]): number {
    let used = 0;
    for (;;) {
      const need = this.#unitLength(this.#pendingView, 0, this.#pendingLen);
      if (this.#pendingLen >= need) {
        this.#parseUnit(this.#pending, this.#pendingView, 0, need, out);
        this.#consumed += need;
        this.#pendingLen = 0;
        return used;
      }
      const take = Math.min(need - this.#pendingLen, chunk.length - used);
      if (take === 0) return used;
      this.#reserve(need);
      this.#pending.set(chunk.subarray(used, used + take), this.#pendingLen);
      this.#pendingLen += take;
      used += take;
    }
  }

  #stash(chunk: Uint8Array, pos: number): void {
    const rest = chunk.length - pos;
    this.#reserve(rest);
    this.#pending.set(chunk.subarray(pos), 0);
    this.#pendingLen = rest;
  }

  #reserve(size: number): void {
    if (this.#pending.length >= size) return;
    const grown = new Uint8Array(Math.max(size, this.#pending.length * 2, 4096));
    grown.set(this.#pending.subarray(0, this.#pendingLen));
    this.#pending = grown;
    this.#pendingView = new DataView(grown.buffer);
  }

  #unitLength(view: DataView, pos: number, avail: number): number {
    if (this.#reader === null) {
      if (avail < 4) return 4;
      this.#reader = this.#detectFormat(view.getUint32(pos, false));
    }
    return this.#reader.unitLength(view, pos, avail, this.#consumed);
  }

  #detectFormat(magic: number): ContainerReader {
    if (isPcapMagic(magic)) return new PcapReader(magic, this.#warnings);
    if (magic === BLOCK_SHB) return new PcapngReader(this.#warnings);
    throw new PcapError(
      `not a pcap or pcapng file: unknown magic 0x${magic.toString(16).padStart(8, "0")} at byte 0`,
      0,
    );
  }

  /** Parses one unit; the one place a frame goes to the frame decoder. */
  #parseUnit(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    out: DecodedPacket[],
  ): void {
    const frame = this.#frame;
    if (!this.#reader!.parse(bytes, view, pos, len, this.#consumed, frame)) return;
    if (
      frame.tsMicros < this.#latestMicros ||
      (frame.tsMicros === this.#latestMicros && frame.subNs < this.#latestSubNs)
    ) {
      this.#warnings.timeWentBack++;
    } else {
      this.#latestMicros = frame.tsMicros;
      this.#latestSubNs = frame.subNs;
    }
    const packet = this.#frames.decode(frame);
    if (packet !== null) out.push(packet);
  }

  #truncationError(): PcapError {
    const at = this.#consumed;
    const have = this.#pendingLen;
    if (this.#reader === null) {
      return new PcapError(
        `truncated file header at byte 0: need 4 bytes to identify the format, ` +
          `file ends after ${have}`,
        at,
      );
    }
    const need = this.#unitLength(this.#pendingView, 0, have);
    return new PcapError(this.#reader.truncated(have, need, at), at);
  }
}
