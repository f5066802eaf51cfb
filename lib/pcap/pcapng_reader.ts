/**
 * pcapng: blocks of a type and a length. Section headers set the byte order, interface
 * descriptions the link type, snap length and timestamp resolution; enhanced, simple and the old
 * packet blocks hold frames. Everything else (name resolution, statistics, custom blocks) is
 * skipped. A frame longer than its interface's snap length is truncated to it, as libpcap does.
 */
import { type ContainerReader, MAX_CAPLEN, type ReadWarnings } from "./container.ts";
import { PcapError } from "./error.ts";
import type { Frame } from "./frame.ts";

export const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_OPB = 0x00000002; // obsolete Packet Block, still written by old tools
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** Blocks other than packets (name tables, statistics) can be larger than a frame, not this large. */
const MAX_BLOCK = 16 * 1024 * 1024;

interface Interface {
  linkType: number;
  /** The snap length libpcap applies: the block's, or MAX_CAPLEN when it says 0 or too much. */
  snaplen: number;
  /** Timestamp units per second: 10^exp or 2^exp. */
  tsBinary: boolean;
  tsExp: number;
  tsOffsetSec: number;
}

export class PcapngReader implements ContainerReader {
  readonly format = "pcapng";
  readonly #warnings: ReadWarnings;
  #le = false;
  #interfaces: Interface[] = [];
  #lastTsMicros = 0;
  #lastSubNs = 0;

  constructor(warnings: ReadWarnings) {
    this.#warnings = warnings;
  }

  get linkType(): number {
    return this.#interfaces[0]?.linkType ?? -1;
  }

  unitLength(view: DataView, pos: number, avail: number, at: number): number {
    if (avail < 8) return 8;
    const type = view.getUint32(pos, this.#le);
    if (type === BLOCK_SHB) {
      // A section header sets the byte order for itself and every block after it.
      if (avail < 12) return 12;
      const bom = view.getUint32(pos + 8, false);
      if (bom === BYTE_ORDER_MAGIC) this.#le = false;
      else if (bom === 0x4d3c2b1a) this.#le = true;
      else {
        throw new PcapError(
          `corrupt pcapng section header at byte ${at}: bad byte-order magic ` +
            `0x${bom.toString(16).padStart(8, "0")}`,
          at,
        );
      }
    }
    const total = view.getUint32(pos + 4, this.#le);
    if (total < (type === BLOCK_SHB ? 28 : 12) || total % 4 !== 0 || total > MAX_BLOCK) {
      throw new PcapError(
        `corrupt pcapng block at byte ${at}: impossible block length ${total} ` +
          `(type 0x${type.toString(16)})`,
        at,
      );
    }
    return total;
  }

  parse(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    at: number,
    frame: Frame,
  ): boolean {
    const le = this.#le;
    const trailer = view.getUint32(pos + len - 4, le);
    if (trailer !== len) {
      throw new PcapError(
        `corrupt pcapng block at byte ${at}: trailing length ${trailer} does not match ` +
          `leading length ${len}`,
        at,
      );
    }
    const type = view.getUint32(pos, le);
    switch (type) {
      case BLOCK_SHB: {
        const major = view.getUint16(pos + 12, le);
        if (major !== 1) {
          throw new PcapError(
            `unsupported pcapng version ${major} in section header at byte ${at}`,
            at,
          );
        }
        this.#interfaces = [];
        return false;
      }
      case BLOCK_IDB:
        if (len < 20) throw shortBlock("interface description", len, at);
        this.#interfaces.push(this.#parseInterface(view, pos, len));
        return false;
      case BLOCK_EPB:
      case BLOCK_OPB: {
        if (len < 32) throw shortBlock("packet", len, at);
        const ifId = type === BLOCK_EPB ? view.getUint32(pos + 8, le) : view.getUint16(pos + 8, le);
        const iface = this.#interface(ifId, at);
        const caplen = view.getUint32(pos + 20, le);
        if (caplen > len - 32) {
          throw new PcapError(
            `corrupt pcapng packet block at byte ${at}: captured length ${caplen} does not ` +
              `fit in a ${len}-byte block`,
            at,
          );
        }
        this.#timestamp(iface, view.getUint32(pos + 12, le), view.getUint32(pos + 16, le));
        this.#frame(frame, bytes, view, pos + 28, caplen, view.getUint32(pos + 24, le), iface);
        return true;
      }
      case BLOCK_SPB: {
        if (len < 16) throw shortBlock("simple packet", len, at);
        const iface = this.#interface(0, at);
        const orig = view.getUint32(pos + 8, le);
        // A simple packet block has no timestamp; reusing the previous one keeps time monotonic.
        this.#frame(frame, bytes, view, pos + 12, Math.min(orig, len - 16), orig, iface);
        return true;
      }
      default:
        return false;
    }
  }

  #frame(
    frame: Frame,
    bytes: Uint8Array,
    view: DataView,
    offset: number,
    caplen: number,
    orig: number,
    iface: Interface,
  ): void {
    if (caplen > iface.snaplen) {
      this.#warnings.truncatedToSnaplen++;
      caplen = iface.snaplen;
    }
    frame.bytes = bytes;
    frame.view = view;
    frame.offset = offset;
    frame.caplen = caplen;
    frame.wireLen = orig > caplen ? orig : caplen;
    frame.linkType = iface.linkType;
    frame.tsMicros = this.#lastTsMicros;
    frame.subNs = this.#lastSubNs;
  }

  #interface(id: number, at: number): Interface {
    const iface = this.#interfaces[id];
    if (iface === undefined) {
      throw new PcapError(
        `corrupt pcapng packet block at byte ${at}: interface ${id} was never described ` +
          `(${this.#interfaces.length} known)`,
        at,
      );
    }
    return iface;
  }

  #parseInterface(view: DataView, pos: number, len: number): Interface {
    const le = this.#le;
    const snaplen = view.getUint32(pos + 12, le);
    const iface: Interface = {
      linkType: view.getUint16(pos + 8, le),
      snaplen: snaplen > 0 && snaplen <= MAX_CAPLEN ? snaplen : MAX_CAPLEN,
      tsBinary: false,
      tsExp: 6,
      tsOffsetSec: 0,
    };
    const end = pos + len - 4;
    let p = pos + 16;
    // Options are tolerated when malformed: they only refine timestamps.
    while (p + 4 <= end) {
      const code = view.getUint16(p, le);
      const optLen = view.getUint16(p + 2, le);
      if (code === 0 || p + 4 + optLen > end) break;
      if (code === OPT_IF_TSRESOL && optLen >= 1) {
        const v = view.getUint8(p + 4);
        iface.tsBinary = (v & 0x80) !== 0;
        iface.tsExp = v & 0x7f;
      } else if (code === OPT_IF_TSOFFSET && optLen >= 8) {
        iface.tsOffsetSec = Number(view.getBigInt64(p + 4, le));
      }
      p += 4 + ((optLen + 3) & ~3);
    }
    return iface;
  }

  /** Converts a timestamp in units of the interface's resolution into µs and extra ns. */
  #timestamp(iface: Interface, hi: number, lo: number): void {
    let micros: number;
    let subNs = 0;
    if (!iface.tsBinary && iface.tsExp === 6) {
      micros = hi * 4294967296 + lo;
    } else if (!iface.tsBinary && iface.tsExp === 9) {
      // Nanoseconds since 1970 exceed 2^53: divide by 1000 in two exact steps.
      const qHi = Math.floor(hi / 1000);
      const rest = (hi % 1000) * 4294967296 + lo;
      micros = qHi * 4294967296 + Math.floor(rest / 1000);
      subNs = rest % 1000;
    } else {
      // Rare resolutions: exactness matters more than speed here.
      const units = (BigInt(hi) << 32n) | BigInt(lo);
      const exp = BigInt(Math.min(iface.tsExp, 64));
      const perSecond = iface.tsBinary ? 1n << exp : 10n ** exp;
      const ns = (units * 1_000_000_000n) / perSecond;
      micros = Number(ns / 1000n);
      subNs = Number(ns % 1000n);
    }
    this.#lastTsMicros = micros + iface.tsOffsetSec * 1e6;
    this.#lastSubNs = subNs;
  }

  truncated(have: number, need: number, at: number): string {
    return have < 12 && need <= 12
      ? `truncated pcapng block header at byte ${at}: need ${need} bytes, file ends after ${have}`
      : `truncated pcapng block at byte ${at}: block length says ${need} bytes, ` +
        `file ends after ${have}`;
  }
}

function shortBlock(what: string, len: number, at: number): PcapError {
  return new PcapError(`corrupt pcapng ${what} block at byte ${at}: ${len} bytes is too short`, at);
}
