/**
 * Classic pcap (libpcap's savefile): a 24-byte file header, then records of a 16-byte header and
 * the frame. Also the "modified" variant (magic 0xa1b2cd34, Alexey Kuznetsov's patched libpcap),
 * whose record headers carry 8 more bytes (interface index, protocol, packet type). As tolerant
 * as libpcap: a record longer than the snap length is truncated to it and counted, not refused.
 */
import { type ContainerReader, MAX_CAPLEN, type ReadWarnings } from "./container.ts";
import { PcapError } from "./error.ts";
import type { Frame } from "./frame.ts";

const HEADER_LEN = 24;
const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const MAGIC_MODIFIED = 0xa1b2cd34;

/** The magic numbers, as read big-endian from the first four bytes, that start a classic pcap. */
export function isPcapMagic(magic: number): boolean {
  return [MAGIC_USEC, MAGIC_NSEC, MAGIC_MODIFIED].some((m) => m === magic || m === swap32(magic));
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

export class PcapReader implements ContainerReader {
  readonly format = "pcap";
  readonly #le: boolean;
  readonly #nanos: boolean;
  readonly #recordHeaderLen: number;
  readonly #warnings: ReadWarnings;
  #headerDone = false;
  /** The snap length libpcap would apply: the header's, or MAX_CAPLEN if it makes no sense. */
  #snaplen = MAX_CAPLEN;
  linkType = -1;

  /** `magic`: the first four bytes read big-endian. */
  constructor(magic: number, warnings: ReadWarnings) {
    this.#le = !(magic === MAGIC_USEC || magic === MAGIC_NSEC || magic === MAGIC_MODIFIED);
    const native = this.#le ? swap32(magic) : magic;
    this.#nanos = native === MAGIC_NSEC;
    this.#recordHeaderLen = native === MAGIC_MODIFIED ? 24 : 16;
    this.#warnings = warnings;
  }

  unitLength(view: DataView, pos: number, avail: number, at: number): number {
    if (!this.#headerDone) return HEADER_LEN;
    if (avail < this.#recordHeaderLen) return this.#recordHeaderLen;
    const caplen = view.getUint32(pos + 8, this.#le);
    if (caplen > MAX_CAPLEN) {
      throw new PcapError(
        `corrupt pcap record at byte ${at}: captured length ${caplen} is impossible ` +
          `(libpcap's limit ${MAX_CAPLEN})`,
        at,
      );
    }
    return this.#recordHeaderLen + caplen;
  }

  parse(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    _at: number,
    frame: Frame,
  ): boolean {
    const le = this.#le;
    if (!this.#headerDone) {
      const major = view.getUint16(pos + 4, le);
      if (major !== 2) {
        throw new PcapError(`unsupported pcap version ${major} at byte 0 (expected 2)`, 0);
      }
      const snaplen = view.getUint32(pos + 16, le);
      if (snaplen > 0 && snaplen <= MAX_CAPLEN) this.#snaplen = snaplen;
      // The upper bits of the link-type field carry FCS information, not the type.
      this.linkType = view.getUint32(pos + 20, le) & 0xffff;
      this.#headerDone = true;
      return false;
    }
    const sec = view.getUint32(pos, le);
    let frac = view.getUint32(pos + 4, le);
    const limit = this.#nanos ? 1e9 : 1e6;
    if (frac >= limit) {
      // tcpdump prints such a time as "invalid"; rolling it into the seconds would move the
      // packet by up to an hour, so it is kept in its second and counted.
      this.#warnings.invalidSubsecond++;
      frac = limit - 1;
    }
    let caplen = len - this.#recordHeaderLen;
    const orig = view.getUint32(pos + 12, le);
    if (caplen > this.#snaplen) {
      this.#warnings.truncatedToSnaplen++;
      caplen = this.#snaplen;
    }
    frame.bytes = bytes;
    frame.view = view;
    frame.offset = pos + this.#recordHeaderLen;
    frame.caplen = caplen;
    frame.wireLen = orig > caplen ? orig : caplen;
    frame.linkType = this.linkType;
    if (this.#nanos) {
      frame.tsMicros = sec * 1e6 + Math.floor(frac / 1000);
      frame.subNs = frac % 1000;
    } else {
      frame.tsMicros = sec * 1e6 + frac;
      frame.subNs = 0;
    }
    return true;
  }

  truncated(have: number, need: number, at: number): string {
    const headerLen = this.#recordHeaderLen;
    if (!this.#headerDone) {
      return `truncated pcap file header at byte 0: need ${HEADER_LEN} bytes, ` +
        `file ends after ${have}`;
    }
    return have < headerLen
      ? `truncated pcap record header at byte ${at}: need ${headerLen} bytes, ` +
        `file ends after ${have}`
      : `truncated pcap record at byte ${at}: header says ${need - headerLen} ` +
        `bytes, file ends after ${have - headerLen}`;
  }
}
