/**
 * Streaming decoder for classic pcap and pcapng captures, reduced to the TCP
 * segments the keep-alive analysis needs.
 *
 * Bytes arrive in arbitrary chunks. Whole records are parsed straight out of the
 * chunk they arrived in; only a record split across chunks is copied, into a
 * pending buffer that grows to the size of that one record. Garbage input only
 * ever produces a PcapError, whose offset is where the offending record starts.
 */

import { type DecodedPacket, formatIpv4, formatIpv6, type TcpOptions } from "./packet.ts";

export class PcapError extends Error {
  override readonly name = "PcapError";
  /** Byte offset in the stream where the bad record (or header) starts. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

export interface DecoderStats {
  /** Packet records seen, TCP or not. */
  records: number;
  tcp: number;
  /** Records that yielded no TCP segment; the fields below say why. */
  skipped: number;
  notIp: number;
  notTcp: number;
  /** Non-first IP fragments: they carry no TCP header. */
  fragment: number;
  /** Headers that are inconsistent or cut off by the snap length before the TCP window field. */
  malformed: number;
  unsupportedLink: number;
}

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;
/** DLT_RAW as written by some platforms instead of LINKTYPE_RAW (12 on most BSDs, 14 on OpenBSD). */
const DLT_RAW_BSD = 12;
const DLT_RAW_OPENBSD = 14;

const LINK_TYPE_NAMES: Record<number, string> = {
  0: "NULL",
  1: "ETHERNET",
  12: "RAW",
  14: "RAW",
  101: "RAW",
  105: "IEEE802_11",
  108: "LOOP",
  113: "LINUX_SLL",
  127: "IEEE802_11_RADIOTAP",
  228: "IPV4",
  229: "IPV6",
  276: "LINUX_SLL2",
};

/** The LINKTYPE_ name without its prefix, e.g. 1 → "ETHERNET", 113 → "LINUX_SLL". */
export function linkTypeName(n: number): string {
  return LINK_TYPE_NAMES[n] ?? `UNKNOWN(${n})`;
}

/** The largest capture length tcpdump can write; anything bigger is a corrupt header. */
export const MAX_CAPLEN = 256 * 1024;
/** pcapng blocks other than packets (name tables, statistics) can be larger, but not this large. */
const MAX_BLOCK = 16 * 1024 * 1024;

const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_HEADER_LEN = 16;
const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const MAGIC_USEC_SWAPPED = 0xd4c3b2a1;
const MAGIC_NSEC_SWAPPED = 0x4d3cb2a1;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_OPB = 0x00000002; // obsolete Packet Block, still written by old tools
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const FORMAT_UNKNOWN = 0;
const FORMAT_PCAP = 1;
const FORMAT_PCAPNG = 2;

const EMPTY_OPTIONS: Readonly<TcpOptions> = Object.freeze({});

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second: 10^exp or 2^exp. */
  tsBinary: boolean;
  tsExp: number;
  tsOffsetSec: number;
}

/**
 * Direct-mapped caches of formatted addresses: a capture is dominated by a few
 * endpoints, so formatting each one once keeps string building off the hot path
 * while the fixed table size bounds memory on address scans.
 */
class AddressCache {
  #v4Keys = new Int32Array(4096);
  #v4Vals: (string | undefined)[] = new Array(4096);
  #v6Keys = new Int32Array(1024 * 4);
  #v6Vals: (string | undefined)[] = new Array(1024);

  v4(bytes: Uint8Array, view: DataView, off: number): string {
    const key = view.getInt32(off);
    const slot = (key ^ (key >>> 12) ^ (key >>> 22)) & 4095;
    const hit = this.#v4Vals[slot];
    if (hit !== undefined && this.#v4Keys[slot] === key) return hit;
    const text = formatIpv4(bytes, off);
    this.#v4Keys[slot] = key;
    this.#v4Vals[slot] = text;
    return text;
  }

  v6(bytes: Uint8Array, view: DataView, off: number): string {
    const a = view.getInt32(off);
    const b = view.getInt32(off + 4);
    const c = view.getInt32(off + 8);
    const d = view.getInt32(off + 12);
    let h = a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35);
    h = (h ^ (h >>> 15) ^ (h >>> 25)) & 1023;
    const k = h << 2;
    const keys = this.#v6Keys;
    const hit = this.#v6Vals[h];
    if (
      hit !== undefined && keys[k] === a && keys[k + 1] === b && keys[k + 2] === c &&
      keys[k + 3] === d
    ) {
      return hit;
    }
    const text = formatIpv6(bytes, off);
    keys[k] = a;
    keys[k + 1] = b;
    keys[k + 2] = c;
    keys[k + 3] = d;
    this.#v6Vals[h] = text;
    return text;
  }
}

export class PcapDecoder {
  #pending = new Uint8Array(0);
  #pendingView = new DataView(this.#pending.buffer);
  #pendingLen = 0;
  /** Absolute stream offset of the first byte not yet parsed (= start of the pending record). */
  #consumed = 0;
  #ended = false;
  /** A corruption found after some packets of the same push() had been decoded; raised next call. */
  #error: PcapError | null = null;

  #format = FORMAT_UNKNOWN;
  #le = false;
  #pcapHeaderDone = false;
  #pcapNanos = false;
  #pcapLinkType = -1;
  #pcapSnaplen = 0;
  #interfaces: Interface[] = [];
  #lastTsMicros = 0;
  #lastSubNs = 0;

  #index = 0;
  #addr = new AddressCache();
  #stats: DecoderStats = {
    records: 0,
    tcp: 0,
    skipped: 0,
    notIp: 0,
    notTcp: 0,
    fragment: 0,
    malformed: 0,
    unsupportedLink: 0,
  };

  /** Bytes fully parsed so far (a record split across chunks counts once it is complete). */
  get bytesConsumed(): number {
    return this.#consumed;
  }

  get stats(): Readonly<DecoderStats> {
    return this.#stats;
  }

  /** "pcap", "pcapng", or null before the first bytes identified the format. */
  get format(): "pcap" | "pcapng" | null {
    return this.#format === FORMAT_PCAP ? "pcap" : this.#format === FORMAT_PCAPNG ? "pcapng" : null;
  }

  /** Link type of a classic pcap, or of the first pcapng interface; -1 while unknown. */
  get linkType(): number {
    if (this.#format === FORMAT_PCAPNG) return this.#interfaces[0]?.linkType ?? -1;
    return this.#pcapLinkType;
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
    if (this.#format === FORMAT_UNKNOWN) {
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

  /**
   * Length of the unit (file header, record or block) starting at `pos`, or, while
   * fewer bytes are available than its header, the header length needed to tell.
   * The answer only grows as more bytes become available, which the pending logic
   * relies on.
   */
  #unitLength(view: DataView, pos: number, avail: number): number {
    if (this.#format === FORMAT_UNKNOWN) {
      if (avail < 4) return 4;
      this.#detectFormat(view, pos);
    }
    if (this.#format === FORMAT_PCAP) {
      if (!this.#pcapHeaderDone) return PCAP_HEADER_LEN;
      if (avail < PCAP_RECORD_HEADER_LEN) return PCAP_RECORD_HEADER_LEN;
      const caplen = view.getUint32(pos + 8, this.#le);
      this.#checkCaplen(caplen, this.#pcapSnaplen, "pcap record");
      return PCAP_RECORD_HEADER_LEN + caplen;
    }
    return this.#blockLength(view, pos, avail);
  }

  #detectFormat(view: DataView, pos: number): void {
    const magic = view.getUint32(pos, false);
    switch (magic) {
      case MAGIC_USEC:
      case MAGIC_NSEC:
      case MAGIC_USEC_SWAPPED:
      case MAGIC_NSEC_SWAPPED:
        this.#format = FORMAT_PCAP;
        this.#le = magic === MAGIC_USEC_SWAPPED || magic === MAGIC_NSEC_SWAPPED;
        this.#pcapNanos = magic === MAGIC_NSEC || magic === MAGIC_NSEC_SWAPPED;
        return;
      case BLOCK_SHB:
        this.#format = FORMAT_PCAPNG;
        return;
      default:
        throw new PcapError(
          `not a pcap or pcapng file: unknown magic 0x${magic.toString(16).padStart(8, "0")} ` +
            "at byte 0",
          0,
        );
    }
  }

  #checkCaplen(caplen: number, snaplen: number, what: string): void {
    if (caplen > MAX_CAPLEN || (snaplen > 0 && caplen > snaplen * 2)) {
      const limit = snaplen > 0 ? `snap length ${snaplen}` : `limit ${MAX_CAPLEN}`;
      throw new PcapError(
        `corrupt ${what} at byte ${this.#consumed}: captured length ${caplen} is impossible ` +
          `(${limit})`,
        this.#consumed,
      );
    }
  }

  #blockLength(view: DataView, pos: number, avail: number): number {
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
          `corrupt pcapng section header at byte ${this.#consumed}: bad byte-order magic ` +
            `0x${bom.toString(16).padStart(8, "0")}`,
          this.#consumed,
        );
      }
    }
    const total = view.getUint32(pos + 4, this.#le);
    if (total < (type === BLOCK_SHB ? 28 : 12) || total % 4 !== 0 || total > MAX_BLOCK) {
      throw new PcapError(
        `corrupt pcapng block at byte ${this.#consumed}: impossible block length ${total} ` +
          `(type 0x${type.toString(16)})`,
        this.#consumed,
      );
    }
    return total;
  }

  #parseUnit(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    out: DecodedPacket[],
  ): void {
    if (this.#format === FORMAT_PCAP) {
      if (this.#pcapHeaderDone) this.#parseRecord(bytes, view, pos, len, out);
      else this.#parsePcapHeader(view, pos);
    } else {
      this.#parseBlock(bytes, view, pos, len, out);
    }
  }

  #parsePcapHeader(view: DataView, pos: number): void {
    const major = view.getUint16(pos + 4, this.#le);
    if (major !== 2) {
      throw new PcapError(`unsupported pcap version ${major} at byte 0 (expected 2)`, 0);
    }
    this.#pcapSnaplen = view.getUint32(pos + 16, this.#le);
    // The upper bits of the link-type field carry FCS information, not the type.
    this.#pcapLinkType = view.getUint32(pos + 20, this.#le) & 0xffff;
    this.#pcapHeaderDone = true;
  }

  #parseRecord(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    out: DecodedPacket[],
  ): void {
    const le = this.#le;
    const sec = view.getUint32(pos, le);
    const frac = view.getUint32(pos + 4, le);
    const caplen = len - PCAP_RECORD_HEADER_LEN;
    const orig = view.getUint32(pos + 12, le);
    let micros: number;
    let subNs = 0;
    if (this.#pcapNanos) {
      micros = sec * 1e6 + Math.floor(frac / 1000);
      subNs = frac % 1000;
    } else {
      micros = sec * 1e6 + frac;
    }
    const packet = this.#decodeFrame(
      bytes,
      view,
      pos + PCAP_RECORD_HEADER_LEN,
      caplen,
      orig > caplen ? orig : caplen,
      this.#pcapLinkType,
      micros,
      subNs,
    );
    if (packet !== null) out.push(packet);
  }

  #parseBlock(
    bytes: Uint8Array,
    view: DataView,
    pos: number,
    len: number,
    out: DecodedPacket[],
  ): void {
    const le = this.#le;
    const start = this.#consumed;
    const trailer = view.getUint32(pos + len - 4, le);
    if (trailer !== len) {
      throw new PcapError(
        `corrupt pcapng block at byte ${start}: trailing length ${trailer} does not match ` +
          `leading length ${len}`,
        start,
      );
    }
    const type = view.getUint32(pos, le);
    switch (type) {
      case BLOCK_SHB: {
        const major = view.getUint16(pos + 12, le);
        if (major !== 1) {
          throw new PcapError(
            `unsupported pcapng version ${major} in section header at byte ${start}`,
            start,
          );
        }
        this.#interfaces = [];
        return;
      }
      case BLOCK_IDB:
        if (len < 20) throw this.#shortBlock("interface description", len, start);
        this.#interfaces.push(this.#parseInterface(view, pos, len));
        return;
      case BLOCK_EPB:
      case BLOCK_OPB: {
        if (len < 32) throw this.#shortBlock("packet", len, start);
        const ifId = type === BLOCK_EPB ? view.getUint32(pos + 8, le) : view.getUint16(pos + 8, le);
        const iface = this.#interface(ifId, start);
        const caplen = view.getUint32(pos + 20, le);
        const orig = view.getUint32(pos + 24, le);
        if (caplen > len - 32) {
          throw new PcapError(
            `corrupt pcapng packet block at byte ${start}: captured length ${caplen} does not ` +
              `fit in a ${len}-byte block`,
            start,
          );
        }
        this.#checkCaplen(caplen, iface.snaplen, "pcapng packet block");
        this.#timestamp(iface, view.getUint32(pos + 12, le), view.getUint32(pos + 16, le));
        const packet = this.#decodeFrame(
          bytes,
          view,
          pos + 28,
          caplen,
          orig > caplen ? orig : caplen,
          iface.linkType,
          this.#lastTsMicros,
          this.#lastSubNs,
        );
        if (packet !== null) out.push(packet);
        return;
      }
      case BLOCK_SPB: {
        if (len < 16) throw this.#shortBlock("simple packet", len, start);
        const iface = this.#interface(0, start);
        const orig = view.getUint32(pos + 8, le);
        let caplen = Math.min(orig, len - 16);
        if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen;
        this.#checkCaplen(caplen, iface.snaplen, "pcapng simple packet block");
        // A simple packet block has no timestamp; reusing the previous one keeps time monotonic.
        const packet = this.#decodeFrame(
          bytes,
          view,
          pos + 12,
          caplen,
          orig > caplen ? orig : caplen,
          iface.linkType,
          this.#lastTsMicros,
          this.#lastSubNs,
        );
        if (packet !== null) out.push(packet);
        return;
      }
      default:
        return; // name resolution, statistics, custom blocks...: nothing for us
    }
  }

  #shortBlock(what: string, len: number, start: number): PcapError {
    return new PcapError(
      `corrupt pcapng ${what} block at byte ${start}: ${len} bytes is too short`,
      start,
    );
  }

  #interface(id: number, start: number): Interface {
    const iface = this.#interfaces[id];
    if (iface === undefined) {
      throw new PcapError(
        `corrupt pcapng packet block at byte ${start}: interface ${id} was never described ` +
          `(${this.#interfaces.length} known)`,
        start,
      );
    }
    return iface;
  }

  #parseInterface(view: DataView, pos: number, len: number): Interface {
    const le = this.#le;
    const iface: Interface = {
      linkType: view.getUint16(pos + 8, le),
      snaplen: view.getUint32(pos + 12, le),
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

  /** Converts a pcapng timestamp (units of the interface resolution) into #lastTsMicros/#lastSubNs. */
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

  #skip(reason: "notIp" | "notTcp" | "fragment" | "malformed" | "unsupportedLink"): null {
    this.#stats.skipped++;
    this.#stats[reason]++;
    return null;
  }

  /** Decodes one link-layer frame occupying bytes[off, off + caplen). */
  #decodeFrame(
    bytes: Uint8Array,
    view: DataView,
    off: number,
    caplen: number,
    wireLen: number,
    linkType: number,
    tsMicros: number,
    subNs: number,
  ): DecodedPacket | null {
    const index = this.#index++;
    this.#stats.records++;
    const end = off + caplen;
    let p: number; // start of the IP header
    let version = 0; // 0: tell from the IP header itself
    switch (linkType) {
      case LINKTYPE_ETHERNET: {
        if (caplen < 14) return this.#skip("malformed");
        let type = view.getUint16(off + 12);
        p = off + 14;
        // 802.1Q, 802.1ad (QinQ) and the old pre-standard QinQ tag
        for (let tags = 0; type === 0x8100 || type === 0x88a8 || type === 0x9100; tags++) {
          if (tags === 2) return this.#skip("notIp");
          if (p + 4 > end) return this.#skip("malformed");
          type = view.getUint16(p + 2);
          p += 4;
        }
        if (type === 0x0800) version = 4;
        else if (type === 0x86dd) version = 6;
        else return this.#skip("notIp");
        break;
      }
      case LINKTYPE_NULL:
      case LINKTYPE_LOOP: {
        if (caplen < 4) return this.#skip("malformed");
        // NULL stores the address family in the capturing host's byte order, which
        // the file does not record; families are small, so a huge value means swap.
        let family = view.getUint32(off, linkType === LINKTYPE_NULL);
        if (family > 0xffff) family = view.getUint32(off, linkType !== LINKTYPE_NULL);
        p = off + 4;
        if (family === 2) version = 4;
        else if (family === 24 || family === 28 || family === 30) version = 6;
        else return this.#skip("notIp");
        break;
      }
      case LINKTYPE_RAW:
      case DLT_RAW_BSD:
      case DLT_RAW_OPENBSD:
        p = off;
        break;
      case LINKTYPE_IPV4:
        p = off;
        version = 4;
        break;
      case LINKTYPE_IPV6:
        p = off;
        version = 6;
        break;
      case LINKTYPE_LINUX_SLL:
      case LINKTYPE_LINUX_SLL2: {
        const sll2 = linkType === LINKTYPE_LINUX_SLL2;
        const headerLen = sll2 ? 20 : 16;
        if (caplen < headerLen) return this.#skip("malformed");
        const proto = view.getUint16(sll2 ? off : off + 14);
        p = off + headerLen;
        if (proto === 0x0800) version = 4;
        else if (proto === 0x86dd) version = 6;
        else return this.#skip("notIp");
        break;
      }
      default:
        return this.#skip("unsupportedLink");
    }
    if (p >= end) return this.#skip("malformed");
    const nibble = bytes[p] >> 4;
    if (version === 0) {
      if (nibble !== 4 && nibble !== 6) return this.#skip("notIp");
      version = nibble;
    } else if (nibble !== version) {
      return this.#skip("malformed");
    }
    // What the IP layer occupied on the wire: the ceiling for any length field.
    const ipWire = wireLen - (p - off);

    let ipLen: number;
    let t: number; // start of the TCP header
    let srcOff: number;
    if (version === 4) {
      if (end - p < 20) return this.#skip("malformed");
      const ihl = (bytes[p] & 0x0f) << 2;
      if (ihl < 20 || p + ihl > end) return this.#skip("malformed");
      if (bytes[p + 9] !== 6) return this.#skip("notTcp");
      if ((view.getUint16(p + 6) & 0x1fff) !== 0) return this.#skip("fragment");
      ipLen = view.getUint16(p + 2);
      // 0 appears on segmentation-offloaded packets captured before being split.
      if (ipLen === 0 || ipLen > ipWire) ipLen = ipWire;
      if (ipLen < ihl) return this.#skip("malformed");
      t = p + ihl;
      srcOff = p + 12;
    } else {
      if (end - p < 40) return this.#skip("malformed");
      const payload = view.getUint16(p + 4);
      // 0 means a jumbogram or an offloaded segment; the wire length is the truth then.
      ipLen = payload === 0 || payload + 40 > ipWire ? ipWire : payload + 40;
      let next = bytes[p + 6];
      t = p + 40;
      for (let n = 0; next !== 6; n++) {
        if (n === 8 || t + 8 > end) return this.#skip(n === 8 ? "notTcp" : "malformed");
        switch (next) {
          case 0: // hop-by-hop options
          case 43: // routing
          case 60: // destination options
          case 135: // mobility
          case 139: // HIP
          case 140: // shim6
            next = bytes[t];
            t += (bytes[t + 1] + 1) << 3;
            break;
          case 44: // fragment
            if ((view.getUint16(t + 2) & 0xfff8) !== 0) return this.#skip("fragment");
            next = bytes[t];
            t += 8;
            break;
          case 51: // authentication header counts in 4-byte units
            next = bytes[t];
            t += (bytes[t + 1] + 2) << 2;
            break;
          default:
            return this.#skip("notTcp");
        }
      }
      srcOff = p + 8;
    }

    if (end - t < 16) return this.#skip("malformed");
    const headerLen = (bytes[t + 12] >> 4) << 2;
    const payloadLength = ipLen - (t - p) - headerLen;
    if (headerLen < 20 || payloadLength < 0) return this.#skip("malformed");

    let options: Readonly<TcpOptions> = EMPTY_OPTIONS;
    if (headerLen > 20 && end > t + 20) {
      options = parseTcpOptions(bytes, view, t + 20, Math.min(t + headerLen, end));
    }

    this.#stats.tcp++;
    const v4 = version === 4;
    return {
      index,
      tsMicros,
      tsSubMicroNanos: subNs,
      linkType,
      ipVersion: v4 ? 4 : 6,
      src: v4 ? this.#addr.v4(bytes, view, srcOff) : this.#addr.v6(bytes, view, srcOff),
      dst: v4 ? this.#addr.v4(bytes, view, srcOff + 4) : this.#addr.v6(bytes, view, srcOff + 16),
      srcPort: view.getUint16(t),
      dstPort: view.getUint16(t + 2),
      ttl: bytes[v4 ? p + 8 : p + 7],
      seq: view.getUint32(t + 4),
      ack: view.getUint32(t + 8),
      flags: bytes[t + 13],
      window: view.getUint16(t + 14),
      tcpHeaderLength: headerLen,
      payloadLength,
      options,
      truncated: caplen < wireLen,
      capturedLength: caplen,
      wireLength: wireLen,
    };
  }

  #truncationError(): PcapError {
    const at = this.#consumed;
    const have = this.#pendingLen;
    const need = this.#unitLength(this.#pendingView, 0, have);
    let message: string;
    if (this.#format === FORMAT_UNKNOWN) {
      message = `truncated file header at byte 0: need 4 bytes to identify the format, ` +
        `file ends after ${have}`;
    } else if (this.#format === FORMAT_PCAP && !this.#pcapHeaderDone) {
      message = `truncated pcap file header at byte 0: need ${PCAP_HEADER_LEN} bytes, ` +
        `file ends after ${have}`;
    } else if (this.#format === FORMAT_PCAP) {
      message = have < PCAP_RECORD_HEADER_LEN
        ? `truncated pcap record header at byte ${at}: need ${PCAP_RECORD_HEADER_LEN} bytes, ` +
          `file ends after ${have}`
        : `truncated pcap record at byte ${at}: header says ${need - PCAP_RECORD_HEADER_LEN} ` +
          `bytes, file ends after ${have - PCAP_RECORD_HEADER_LEN}`;
    } else {
      message = have < 12 && need <= 12
        ? `truncated pcapng block header at byte ${at}: need ${need} bytes, file ends after ${have}`
        : `truncated pcapng block at byte ${at}: block length says ${need} bytes, ` +
          `file ends after ${have}`;
    }
    return new PcapError(message, at);
  }
}

/** Parses the TCP options in bytes[p, end), stopping quietly at anything malformed. */
function parseTcpOptions(
  bytes: Uint8Array,
  view: DataView,
  p: number,
  end: number,
): Readonly<TcpOptions> {
  const options: TcpOptions = {};
  while (p < end) {
    const kind = bytes[p];
    if (kind === 0) break; // end of option list
    if (kind === 1) { // no-op padding
      p++;
      continue;
    }
    if (p + 2 > end) break;
    const len = bytes[p + 1];
    if (len < 2 || p + len > end) break;
    if (kind === 2 && len === 4) options.mss = view.getUint16(p + 2);
    else if (kind === 3 && len === 3) options.wscale = bytes[p + 2];
    else if (kind === 4 && len === 2) options.sackPermitted = true;
    else if (kind === 8 && len === 10) {
      options.tsval = view.getUint32(p + 2);
      options.tsecr = view.getUint32(p + 6);
    }
    p += len;
  }
  return options;
}

export interface DecodeResult {
  packets: DecodedPacket[];
  /** The corruption that stopped decoding, if any; `packets` holds everything before it. */
  error: PcapError | null;
  stats: DecoderStats;
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
  return { packets, error, stats: { ...decoder.stats } };
}

/**
 * Yields the TCP segments of a capture read from `stream` (a ReadableStream works:
 * it is async iterable). Throws PcapError after yielding everything before the
 * corruption. Pass your own decoder to read its stats afterwards.
 */
export async function* decodePcapStream(
  stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  decoder: PcapDecoder = new PcapDecoder(),
): AsyncGenerator<DecodedPacket, void, undefined> {
  for await (const chunk of stream) {
    // An exception here leaves the for-await, which cancels the stream and so
    // releases whatever it reads from.
    for (const p of decoder.push(chunk)) yield p;
  }
  decoder.end();
}
