/**
 * Frame decoding, apart from the container that held the frame (gopacket's split): one captured
 * frame in, its TCP segment out, through the link layer, IP, and any tunnel on the way (VXLAN,
 * Geneve, GRE and ERSPAN, IP-in-IP, 6in4/4in6, MPLS, PPPoE). The container readers (pcap,
 * pcapng) only say where a frame lies and when it was captured.
 */
import { AddressCache } from "./address_cache.ts";
import {
  DLT_RAW_BSD,
  DLT_RAW_OPENBSD,
  LINKTYPE_C_HDLC,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_PPP,
  LINKTYPE_PPP_ETHER,
  LINKTYPE_PPP_HDLC,
  LINKTYPE_PPP_PPPD,
  LINKTYPE_RAW,
  linkTypeName,
} from "./link_types.ts";
import type { DecodedPacket, TcpOptions } from "./packet.ts";

/** Where a container reader found a frame. One per decoder, overwritten for every frame. */
export interface Frame {
  bytes: Uint8Array;
  view: DataView;
  /** The frame occupies bytes[offset, offset + caplen). */
  offset: number;
  caplen: number;
  /** Its length on the wire (≥ caplen). */
  wireLen: number;
  linkType: number;
  tsMicros: number;
  /** Nanoseconds past tsMicros (0-999). */
  subNs: number;
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

/** Packets skipped because their link type is not decoded, per link type. */
export interface UnsupportedLink {
  linkType: number;
  name: string;
  packets: number;
}

type SkipReason = "notIp" | "notTcp" | "fragment" | "malformed" | "unsupportedLink";

const EMPTY_OPTIONS: Readonly<TcpOptions> = Object.freeze({});
/** Tunnels inside tunnels beyond this are not followed (and a loop of them cannot hang us). */
const MAX_TUNNELS = 4;
const UDP_VXLAN = 4789;
const UDP_GENEVE = 6081;

export class FrameDecoder {
  readonly stats: DecoderStats = {
    records: 0,
    tcp: 0,
    skipped: 0,
    notIp: 0,
    notTcp: 0,
    fragment: 0,
    malformed: 0,
    unsupportedLink: 0,
  };
  readonly #unsupported = new Map<number, number>();
  readonly #addr = new AddressCache();
  #index = 0;
  /** The tunnels the current frame went through, outermost first ("vxlan", "gre/mpls"). */
  #encap: string | null = null;
  /** The IP version the last link or tunnel header announced; 0 = tell from the IP header. */
  #version = 0;

  /** Link types met that are not decoded, with their packet counts, by link type number. */
  get unsupportedLinks(): UnsupportedLink[] {
    return [...this.#unsupported].sort((a, b) => a[0] - b[0]).map(([linkType, packets]) => ({
      linkType,
      name: linkTypeName(linkType),
      packets,
    }));
  }

  /** Decodes one frame; null (and a count in `stats`) when it holds no TCP segment. */
  decode(f: Frame): DecodedPacket | null {
    const index = this.#index++;
    this.stats.records++;
    this.#encap = null;
    this.#version = 0;
    const end = f.offset + f.caplen;
    const p = this.#link(f.bytes, f.view, f.offset, end, f.linkType);
    if (p < 0) return null;
    return this.#ip(f, index, p, end, f.offset + f.wireLen, 0);
  }

  #skip(reason: SkipReason): -1 {
    this.stats.skipped++;
    this.stats[reason]++;
    return -1;
  }

  #addEncap(name: string): void {
    this.#encap = this.#encap === null ? name : `${this.#encap}/${name}`;
  }

  /** The offset of the IP header in a frame of `linkType`, or -1 once the skip is counted. */
  #link(bytes: Uint8Array, view: DataView, off: number, end: number, linkType: number): number {
    switch (linkType) {
      case LINKTYPE_ETHERNET:
        return this.#ethernet(bytes, view, off, end);
      case LINKTYPE_NULL:
      case LINKTYPE_LOOP: {
        if (end - off < 4) return this.#skip("malformed");
        // NULL stores the address family in the capturing host's byte order, which
        // the file does not record; families are small, so a huge value means swap.
        let family = view.getUint32(off, linkType === LINKTYPE_NULL);
        if (family > 0xffff) family = view.getUint32(off, linkType !== LINKTYPE_NULL);
        if (family === 2) this.#version = 4;
        else if (family === 24 || family === 28 || family === 30) this.#version = 6;
        else return this.#skip("notIp");
        return off + 4;
      }
      case LINKTYPE_RAW:
      case DLT_RAW_BSD:
      case DLT_RAW_OPENBSD:
        return off;
      case LINKTYPE_IPV4:
        this.#version = 4;
        return off;
      case LINKTYPE_IPV6:
        this.#version = 6;
        return off;
      case LINKTYPE_LINUX_SLL:
      case LINKTYPE_LINUX_SLL2: {
        const sll2 = linkType === LINKTYPE_LINUX_SLL2;
        const headerLen = sll2 ? 20 : 16;
        if (end - off < headerLen) return this.#skip("malformed");
        return this.#etherType(
          bytes,
          view,
          view.getUint16(sll2 ? off : off + 14),
          off + headerLen,
          end,
        );
      }
      case LINKTYPE_PPP:
      case LINKTYPE_PPP_HDLC:
      case LINKTYPE_PPP_PPPD:
        return this.#ppp(bytes, view, off, end);
      case LINKTYPE_PPP_ETHER:
        return this.#pppoe(bytes, view, off, end);
      case LINKTYPE_C_HDLC:
        // address, control, then an EtherType
        if (end - off < 4) return this.#skip("malformed");
        return this.#etherType(bytes, view, view.getUint16(off + 2), off + 4, end);
      default:
        this.#unsupported.set(linkType, (this.#unsupported.get(linkType) ?? 0) + 1);
        return this.#skip("unsupportedLink");
    }
  }

  #ethernet(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    if (end - p < 14) return this.#skip("malformed");
    let type = view.getUint16(p + 12);
    p += 14;
    // 802.1Q, 802.1ad (QinQ) and the old pre-standard QinQ tag
    for (let tags = 0; type === 0x8100 || type === 0x88a8 || type === 0x9100; tags++) {
      if (tags === 2) return this.#skip("notIp");
      if (p + 4 > end) return this.#skip("malformed");
      type = view.getUint16(p + 2);
      p += 4;
    }
    return this.#etherType(bytes, view, type, p, end);
  }

  #etherType(bytes: Uint8Array, view: DataView, type: number, p: number, end: number): number {
    switch (type) {
      case 0x0800:
        this.#version = 4;
        return p;
      case 0x86dd:
        this.#version = 6;
        return p;
      case 0x8847: // MPLS unicast
      case 0x8848: // MPLS multicast
        return this.#mpls(bytes, view, p, end);
      case 0x8864: // PPPoE session
        return this.#pppoe(bytes, view, p, end);
      case 0x880b: // PPP, as GRE carries it (PPTP)
        return this.#ppp(bytes, view, p, end);
      default:
        return this.#skip("notIp");
    }
  }

  /** A label stack, then IP (told by its version nibble) or an Ethernet pseudowire. */
  #mpls(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    this.#addEncap("mpls");
    for (let labels = 0;; labels++) {
      if (labels === 16) return this.#skip("notIp");
      if (p + 4 > end) return this.#skip("malformed");
      const bottom = bytes[p + 2] & 1;
      p += 4;
      if (bottom) break;
    }
    if (p >= end) return this.#skip("malformed");
    const nibble = bytes[p] >> 4;
    if (nibble === 4 || nibble === 6) {
      this.#version = nibble;
      return p;
    }
    // A pseudowire control word (first nibble 0) before an Ethernet frame.
    if (nibble === 0) return this.#ethernet(bytes, view, p + 4, end);
    return this.#skip("notIp");
  }

  /** A PPP frame: optional HDLC address/control, a 1- or 2-byte protocol. */
  #ppp(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    if (p + 2 > end) return this.#skip("malformed");
    if (bytes[p] === 0xff && bytes[p + 1] === 0x03) p += 2;
    if (p >= end) return this.#skip("malformed");
    let proto: number;
    if (bytes[p] & 1) { // protocol field compression
      proto = bytes[p];
      p += 1;
    } else {
      if (p + 2 > end) return this.#skip("malformed");
      proto = view.getUint16(p);
      p += 2;
    }
    switch (proto) {
      case 0x0021:
        this.#version = 4;
        return p;
      case 0x0057:
        this.#version = 6;
        return p;
      case 0x0281:
        return this.#mpls(bytes, view, p, end);
      default:
        return this.#skip("notIp");
    }
  }

  /** A PPPoE session header (6 bytes), then PPP. */
  #pppoe(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    if (p + 8 > end) return this.#skip("malformed");
    this.#addEncap("pppoe");
    return this.#ppp(bytes, view, p + 6, end);
  }

  /** A GRE header, and what it carries: IP, Ethernet (TEB, ERSPAN I/II/III), MPLS, PPP. */
  #gre(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    if (p + 4 > end) return this.#skip("malformed");
    const flags = view.getUint16(p);
    const proto = view.getUint16(p + 2);
    if (flags & 0x4000) return this.#skip("notTcp"); // source routing (RFC 1701), long obsolete
    let h = 4;
    if (flags & 0x8000) h += 4; // checksum and reserved
    if (flags & 0x2000) h += 4; // key (always there in PPTP's enhanced GRE)
    if (flags & 0x1000) h += 4; // sequence number
    if ((flags & 7) === 1 && flags & 0x0080) h += 4; // enhanced GRE acknowledgment
    p += h;
    if (p > end) return this.#skip("malformed");
    switch (proto) {
      case 0x6558: // transparent Ethernet bridging
        this.#addEncap("gre");
        return this.#ethernet(bytes, view, p, end);
      case 0x88be: // ERSPAN type II has the sequence bit and an 8-byte header; type I neither
        this.#addEncap("erspan");
        return this.#ethernet(bytes, view, flags & 0x1000 ? p + 8 : p, end);
      case 0x22eb: // ERSPAN type III: 12 bytes, 8 more when its O flag says a subheader follows
        this.#addEncap("erspan");
        if (p + 12 > end) return this.#skip("malformed");
        return this.#ethernet(bytes, view, p + 12 + (bytes[p + 11] & 1 ? 8 : 0), end);
      default:
        this.#addEncap("gre");
        return this.#etherType(bytes, view, proto, p, end);
    }
  }

  /** VXLAN and Geneve on their IANA ports; any other UDP is not TCP. */
  #udp(bytes: Uint8Array, view: DataView, p: number, end: number): number {
    if (p + 8 > end) return this.#skip("malformed");
    const src = view.getUint16(p);
    const dst = view.getUint16(p + 2);
    if (dst === UDP_VXLAN || (src === UDP_VXLAN && dst !== UDP_GENEVE)) {
      if (p + 16 > end) return this.#skip("malformed");
      this.#addEncap("vxlan");
      return this.#ethernet(bytes, view, p + 16, end);
    }
    if (dst === UDP_GENEVE || src === UDP_GENEVE) {
      if (p + 16 > end) return this.#skip("malformed");
      this.#addEncap("geneve");
      const inner = p + 16 + (bytes[p + 8] & 0x3f) * 4;
      const proto = view.getUint16(p + 10);
      return proto === 0x6558
        ? this.#ethernet(bytes, view, inner, end)
        : this.#etherType(bytes, view, proto, inner, end);
    }
    return this.#skip("notTcp");
  }

  /**
   * Decodes the IP packet at `p` (and the tunnels it carries) down to TCP. `wireEnd` is where the
   * enclosing layer ended on the wire: the ceiling for any length field.
   */
  #ip(
    f: Frame,
    index: number,
    p: number,
    end: number,
    wireEnd: number,
    depth: number,
  ): DecodedPacket | null {
    const bytes = f.bytes;
    const view = f.view;
    if (p >= end) {
      this.#skip("malformed");
      return null;
    }
    const nibble = bytes[p] >> 4;
    let version = this.#version;
    if (version === 0) {
      if (nibble !== 4 && nibble !== 6) {
        this.#skip("notIp");
        return null;
      }
      version = nibble;
    } else if (nibble !== version) {
      this.#skip("malformed");
      return null;
    }
    const ipWire = wireEnd - p;

    let ipLen: number;
    let t: number; // start of the TCP header (or of what the IP packet carries)
    let srcOff: number;
    let proto: number;
    if (version === 4) {
      if (end - p < 20) return this.#fail("malformed");
      const ihl = (bytes[p] & 0x0f) << 2;
      if (ihl < 20 || p + ihl > end) return this.#fail("malformed");
      proto = bytes[p + 9];
      if (proto !== 6 && !isTunnel(proto)) return this.#fail("notTcp");
      if ((view.getUint16(p + 6) & 0x1fff) !== 0) return this.#fail("fragment");
      ipLen = view.getUint16(p + 2);
      // 0 appears on segmentation-offloaded packets captured before being split.
      if (ipLen === 0 || ipLen > ipWire) ipLen = ipWire;
      if (ipLen < ihl) return this.#fail("malformed");
      t = p + ihl;
      srcOff = p + 12;
    } else {
      if (end - p < 40) return this.#fail("malformed");
      const payload = view.getUint16(p + 4);
      // 0 means a jumbogram or an offloaded segment; the wire length is the truth then.
      ipLen = payload === 0 || payload + 40 > ipWire ? ipWire : payload + 40;
      proto = bytes[p + 6];
      t = p + 40;
      for (let n = 0; proto !== 6 && !isTunnel(proto); n++) {
        if (n === 8 || t + 8 > end) return this.#fail(n === 8 ? "notTcp" : "malformed");
        switch (proto) {
          case 0: // hop-by-hop options
          case 43: // routing
          case 60: // destination options
          case 135: // mobility
          case 139: // HIP
          case 140: // shim6
            proto = bytes[t];
            t += (bytes[t + 1] + 1) << 3;
            break;
          case 44: // fragment
            if ((view.getUint16(t + 2) & 0xfff8) !== 0) return this.#fail("fragment");
            proto = bytes[t];
            t += 8;
            break;
          case 51: // authentication header counts in 4-byte units
            proto = bytes[t];
            t += (bytes[t + 1] + 2) << 2;
            break;
          default:
            return this.#fail("notTcp");
        }
      }
      srcOff = p + 8;
    }
    if (proto !== 6) return this.#tunnel(f, index, proto, version, t, end, p + ipLen, depth);

    if (end - t < 16) return this.#fail("malformed");
    const headerLen = (bytes[t + 12] >> 4) << 2;
    const payloadLength = ipLen - (t - p) - headerLen;
    if (headerLen < 20 || payloadLength < 0) return this.#fail("malformed");

    let options: Readonly<TcpOptions> = EMPTY_OPTIONS;
    if (headerLen > 20 && end > t + 20) {
      options = parseTcpOptions(bytes, view, t + 20, Math.min(t + headerLen, end));
    }

    this.stats.tcp++;
    const v4 = version === 4;
    return {
      index,
      tsMicros: f.tsMicros,
      tsSubMicroNanos: f.subNs,
      linkType: f.linkType,
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
      truncated: f.caplen < f.wireLen,
      capturedLength: f.caplen,
      wireLength: f.wireLen,
      encap: this.#encap,
    };
  }

  #fail(reason: SkipReason): null {
    this.#skip(reason);
    return null;
  }

  /** Follows IP-in-IP, GRE, or UDP (VXLAN, Geneve) to the packet inside. */
  #tunnel(
    f: Frame,
    index: number,
    proto: number,
    outer: number,
    p: number,
    end: number,
    wireEnd: number,
    depth: number,
  ): DecodedPacket | null {
    if (depth === MAX_TUNNELS) return this.#fail("notTcp");
    this.#version = 0;
    let inner: number;
    switch (proto) {
      case 4:
        this.#addEncap(outer === 4 ? "ipip" : "4in6");
        this.#version = 4;
        inner = p;
        break;
      case 41:
        this.#addEncap(outer === 4 ? "6in4" : "ip6ip6");
        this.#version = 6;
        inner = p;
        break;
      case 47:
        inner = this.#gre(f.bytes, f.view, p, end);
        break;
      default:
        inner = this.#udp(f.bytes, f.view, p, end);
    }
    if (inner < 0) return null;
    return this.#ip(f, index, inner, end, wireEnd, depth + 1);
  }
}

/** IP protocols that may carry TCP inside: IPv4, IPv6, GRE, UDP. */
function isTunnel(proto: number): boolean {
  return proto === 4 || proto === 41 || proto === 47 || proto === 17;
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
