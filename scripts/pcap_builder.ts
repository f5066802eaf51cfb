/**
 * Writes pcap and pcapng bytes from packet descriptions, so decoder and tracker
 * tests can describe traffic instead of carrying binary fixtures.
 */

import type { TcpOptions } from "../lib/pcap/packet.ts";

/** Grows as it is written; `le` picks the byte order of multi-byte fields. */
class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  length = 0;
  constructor(readonly le = false) {}

  #room(n: number): number {
    if (this.length + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
      grown.set(this.#buf);
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number): this {
    const at = this.#room(1); // may replace #view
    this.#view.setUint8(at, v);
    return this;
  }
  u16(v: number): this {
    const at = this.#room(2); // may replace #view
    this.#view.setUint16(at, v, this.le);
    return this;
  }
  u32(v: number): this {
    const at = this.#room(4); // may replace #view
    this.#view.setUint32(at, v >>> 0, this.le);
    return this;
  }
  u64(v: bigint): this {
    const at = this.#room(8); // may replace #view
    this.#view.setBigUint64(at, v, this.le);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.#room(b.length); // may replace #buf, so before touching it
    this.#buf.set(b, at);
    return this;
  }
  pad4(): this {
    while (this.length % 4) this.u8(0);
    return this;
  }
  /** Overwrites a u32 already written, e.g. a length known only at the end. */
  patch32(at: number, v: number): this {
    this.#view.setUint32(at, v >>> 0, this.le);
    return this;
  }
  done(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Parses "10.0.0.1", "2001:db8::1" or "::ffff:1.2.3.4" into 4 or 16 bytes. */
export function parseAddress(text: string): Uint8Array {
  if (!text.includes(":")) {
    const parts = text.split(".").map(Number);
    if (parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) {
      throw new Error(`bad IPv4 address ${text}`);
    }
    return new Uint8Array(parts);
  }
  let groupsText = text;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseAddress(text.slice(lastColon + 1));
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    groupsText = text.slice(0, lastColon + 1);
    if (!groupsText.endsWith("::")) groupsText = groupsText.slice(0, -1);
  }
  const split = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const halves = groupsText.split("::");
  let all: number[];
  if (halves.length === 1) {
    all = [...split(halves[0]), ...tail];
  } else {
    const front = split(halves[0]);
    const back = [...split(halves[1]), ...tail];
    all = [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  }
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) {
    throw new Error(`bad IPv6 address ${text}`);
  }
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** tcpdump's flag notation: "S", "S.", ".", "P.", "F.", "R", "R." (plus U, E, W). */
export function parseFlags(text: string): number {
  const bits: Record<string, number> = {
    F: 0x01,
    S: 0x02,
    R: 0x04,
    P: 0x08,
    ".": 0x10,
    U: 0x20,
    E: 0x40,
    W: 0x80,
  };
  let flags = 0;
  for (const c of text) {
    if (!(c in bits)) throw new Error(`bad flag ${c} in ${text}`);
    flags |= bits[c];
  }
  return flags;
}

export type Ipv6Ext = "hop" | "routing" | "dst" | "frag" | "frag-later";

export interface TcpSegmentSpec {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** A TCP_* bitmask or tcpdump notation like "S." */
  flags?: number | string;
  window?: number;
  /** Encoded the way Linux lays them out. */
  options?: TcpOptions;
  /** Raw option bytes, used instead of `options` (padded to 4 with end-of-list). */
  rawOptions?: Uint8Array;
  /** Payload bytes, or a length to fill with a pattern. */
  payload?: number | Uint8Array;
  /** IPv4 header options (padded to 4 with end-of-list). */
  ipv4Options?: Uint8Array;
  /** IPv4 fragmentation fields. */
  fragment?: { offset: number; more: boolean };
  /** IPv6 extension headers to put before TCP, in order. */
  ipv6Ext?: Ipv6Ext[];
  /** Write this into the IP length field instead of the true length. */
  ipLengthOverride?: number;
}

function encodeOptions(o: TcpOptions): Uint8Array {
  const w = new Writer();
  if (o.mss !== undefined) w.u8(2).u8(4).u16(o.mss);
  if (o.sackPermitted) w.u8(4).u8(2);
  if (o.tsval !== undefined || o.tsecr !== undefined) {
    if (o.sackPermitted === undefined && o.mss === undefined) w.u8(1).u8(1);
    w.u8(8).u8(10).u32(o.tsval ?? 0).u32(o.tsecr ?? 0);
  }
  if (o.wscale !== undefined) w.u8(1).u8(3).u8(3).u8(o.wscale);
  return w.done();
}

function padTo4(b: Uint8Array): Uint8Array {
  return b.length % 4 ? concat(b, new Uint8Array(4 - (b.length % 4))) : b;
}

function payloadBytes(p: number | Uint8Array | undefined): Uint8Array {
  if (p instanceof Uint8Array) return p;
  const out = new Uint8Array(p ?? 0);
  for (let i = 0; i < out.length; i++) out[i] = 0x61 + (i % 26);
  return out;
}

/** The TCP header and payload; no checksum (the decoder does not verify it). */
export function tcpSegment(spec: TcpSegmentSpec): Uint8Array {
  const opts = padTo4(spec.rawOptions ?? encodeOptions(spec.options ?? {}));
  const flags = typeof spec.flags === "string" ? parseFlags(spec.flags) : spec.flags ?? 0x10;
  const w = new Writer()
    .u16(spec.srcPort).u16(spec.dstPort)
    .u32(spec.seq ?? 0).u32(spec.ack ?? 0)
    .u8(((20 + opts.length) / 4) << 4).u8(flags)
    .u16(spec.window ?? 512).u16(0).u16(0)
    .bytes(opts)
    .bytes(payloadBytes(spec.payload));
  return w.done();
}

/** A complete IPv4 or IPv6 packet (version from the address syntax) carrying TCP. */
export function ipTcp(spec: TcpSegmentSpec): Uint8Array {
  return ipPacket(spec.src, spec.dst, 6, tcpSegment(spec), spec);
}

/** A UDP datagram, for the "skip what is not TCP" paths. */
export function ipUdp(src: string, dst: string, srcPort: number, dstPort: number): Uint8Array {
  const udp = new Writer().u16(srcPort).u16(dstPort).u16(12).u16(0).u32(0xdeadbeef).done();
  return ipPacket(src, dst, 17, udp, {});
}

/** An IPv4 or IPv6 packet (version from the address syntax) carrying protocol `proto`. */
export function ipPacket(
  src: string,
  dst: string,
  proto: number,
  l4: Uint8Array,
  spec: Pick<TcpSegmentSpec, "ipv4Options" | "fragment" | "ipv6Ext" | "ipLengthOverride">,
): Uint8Array {
  const s = parseAddress(src);
  const d = parseAddress(dst);
  if (s.length === 4) {
    const opts = padTo4(spec.ipv4Options ?? new Uint8Array());
    const frag = spec.fragment;
    const fragField = frag ? (frag.more ? 0x2000 : 0) | (frag.offset >> 3) : 0x4000; // else DF
    return new Writer()
      .u8(0x40 | ((20 + opts.length) / 4)).u8(0)
      .u16(spec.ipLengthOverride ?? 20 + opts.length + l4.length)
      .u16(0x1234).u16(fragField)
      .u8(64).u8(proto).u16(0)
      .bytes(s).bytes(d).bytes(opts).bytes(l4)
      .done();
  }
  const exts = spec.ipv6Ext ?? [];
  const codes: Record<Ipv6Ext, number> = {
    hop: 0,
    routing: 43,
    dst: 60,
    frag: 44,
    "frag-later": 44,
  };
  const ext = new Writer();
  exts.forEach((kind, i) => {
    const next = i + 1 < exts.length ? codes[exts[i + 1]] : proto;
    if (kind === "frag" || kind === "frag-later") {
      ext.u8(next).u8(0).u16(kind === "frag" ? 1 /* more fragments */ : 185 << 3).u32(7);
    } else if (kind === "routing") {
      // type 0 with one address: 24 bytes, so the length field (2) matters; a non-zero
      // address keeps a parser that skips only 8 bytes from landing on valid headers
      ext.u8(next).u8(2).u8(0).u8(0).u32(0).bytes(parseAddress("2001:db8::99"));
    } else {
      ext.u8(next).u8(0).u8(1).u8(4).u32(0); // a PadN option filling the 8 bytes
    }
  });
  const extBytes = ext.done();
  return new Writer()
    .u32(0x60000000)
    .u16(spec.ipLengthOverride ?? extBytes.length + l4.length)
    .u8(exts.length ? codes[exts[0]] : proto).u8(64)
    .bytes(s).bytes(d).bytes(extBytes).bytes(l4)
    .done();
}

export interface FrameOptions {
  /** Ethernet: VLAN IDs, outermost first; two tags use the 802.1ad TPID outside. */
  vlans?: number[];
  /** Ethernet: pad to the 60-byte minimum like a NIC does. */
  pad?: boolean;
  /** NULL: the byte order of the capturing host. */
  nullByteOrder?: "le" | "be";
  /** NULL/LOOP: address family to write for IPv6 (24, 28 or 30). */
  inet6Family?: number;
  /** Override the EtherType / SLL protocol / NULL family. */
  protocol?: number;
}

/** Wraps an IP packet in the link-layer header of `linkType`. */
export function linkFrame(linkType: number, ip: Uint8Array, o: FrameOptions = {}): Uint8Array {
  const v6 = ip.length > 0 && ip[0] >> 4 === 6;
  const ethertype = o.protocol ?? (v6 ? 0x86dd : 0x0800);
  switch (linkType) {
    case 1: {
      const w = new Writer()
        .bytes(new Uint8Array([2, 0, 0, 0, 0, 2])).bytes(new Uint8Array([2, 0, 0, 0, 0, 1]));
      const vlans = o.vlans ?? [];
      vlans.forEach((vid, i) => w.u16(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100).u16(vid));
      w.u16(ethertype).bytes(ip);
      while (o.pad && w.length < 60) w.u8(0);
      return w.done();
    }
    case 0:
    case 108: {
      const family = o.protocol ?? (v6 ? o.inet6Family ?? 30 : 2);
      const le = linkType === 0 && (o.nullByteOrder ?? "le") === "le";
      return new Writer(le).u32(family).bytes(ip).done();
    }
    case 12:
    case 14:
    case 101:
    case 228:
    case 229:
      return ip.slice();
    case 113:
      return new Writer()
        .u16(0).u16(772).u16(6).bytes(new Uint8Array(8)).u16(ethertype).bytes(ip).done();
    case 276:
      return new Writer()
        .u16(ethertype).u16(0).u32(1).u16(772).u8(0).u8(6).bytes(new Uint8Array(8)).bytes(ip)
        .done();
    case 9: // PPP in HDLC-like framing
    case 50:
      return new Writer().u8(0xff).u8(0x03).u16(v6 ? 0x0057 : 0x0021).bytes(ip).done();
    case 51: // PPPoE session, as LINKTYPE_PPP_ETHER: PPPoE header, PPP protocol
      return new Writer().u8(0x11).u8(0).u16(7).u16(ip.length + 2).u16(v6 ? 0x0057 : 0x0021)
        .bytes(ip).done();
    case 104: // Cisco HDLC: address, control, EtherType
      return new Writer().u8(0x0f).u8(0).u16(ethertype).bytes(ip).done();
    default:
      throw new Error(`builder has no link type ${linkType}`);
  }
}

/** An Ethernet ARP frame: something on the wire that is not IP at all. */
export function arpFrame(): Uint8Array {
  return linkFrame(1, new Uint8Array(28), { protocol: 0x0806 });
}

/** A UDP datagram carrying `payload` (checksum 0: not computed, as on many tunnels). */
export function udpDatagram(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return new Writer().u16(srcPort).u16(dstPort).u16(8 + payload.length).u16(0).bytes(payload)
    .done();
}

/** An Ethernet frame (no VLAN) around an IP packet, or around `ethertype`'s payload. */
export function ethernetFrame(payload: Uint8Array, ethertype?: number): Uint8Array {
  return linkFrame(1, payload, ethertype === undefined ? {} : { protocol: ethertype });
}

/** `inner` (an Ethernet frame) in VXLAN (UDP 4789) between two tunnel endpoints. */
export function vxlanPacket(src: string, dst: string, inner: Uint8Array, vni = 42): Uint8Array {
  const header = new Writer().u32(0x08000000).u32(vni << 8).done();
  return ipPacket(src, dst, 17, udpDatagram(49152, 4789, concat(header, inner)), {});
}

/** `inner` (an Ethernet frame) in Geneve (UDP 6081) with one 8-byte option. */
export function genevePacket(src: string, dst: string, inner: Uint8Array): Uint8Array {
  const header = new Writer().u8(2).u8(0).u16(0x6558).u32(7 << 8)
    .u16(0x0102).u8(3).u8(1).u32(0xcafe).done(); // option class, type, length 1 (4 bytes)
  return ipPacket(src, dst, 17, udpDatagram(49152, 6081, concat(header, inner)), {});
}

export interface GreOptions {
  key?: number;
  seq?: number;
  checksum?: boolean;
  /** 1: PPTP's enhanced GRE (key mandatory, optional acknowledgment). */
  version?: number;
  ackNumber?: number;
}

/** A GRE packet of protocol type `proto` carrying `payload`. */
export function grePacket(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  o: GreOptions = {},
): Uint8Array {
  const flags = (o.checksum ? 0x8000 : 0) | (o.key !== undefined ? 0x2000 : 0) |
    (o.seq !== undefined ? 0x1000 : 0) | (o.ackNumber !== undefined ? 0x0080 : 0) |
    (o.version ?? 0);
  const w = new Writer().u16(flags).u16(proto);
  if (o.checksum) w.u32(0);
  if (o.key !== undefined) w.u32(o.key);
  if (o.seq !== undefined) w.u32(o.seq);
  if (o.ackNumber !== undefined) w.u32(o.ackNumber);
  return ipPacket(src, dst, 47, concat(w.done(), payload), {});
}

/** ERSPAN: type I (no header, no sequence), II (8-byte header) or III (12 bytes) in GRE. */
export function erspanPacket(
  src: string,
  dst: string,
  type: 1 | 2 | 3,
  mirrored: Uint8Array,
): Uint8Array {
  if (type === 1) return grePacket(src, dst, 0x88be, mirrored);
  if (type === 2) {
    const header = new Writer().u16(0x1000 | 10).u16(0x0001).u32(0).done();
    return grePacket(src, dst, 0x88be, concat(header, mirrored), { seq: 1 });
  }
  const header = new Writer().u16(0x2000).u16(1).u32(0).u32(0).done();
  return grePacket(src, dst, 0x22eb, concat(header, mirrored), { seq: 1 });
}

/** An MPLS label stack (bottom of stack on the last) before `payload`. */
export function mplsStack(labels: number[], payload: Uint8Array): Uint8Array {
  const w = new Writer();
  labels.forEach((label, i) => w.u32((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64));
  return concat(w.done(), payload);
}

export interface CaptureRecord {
  /** Microseconds since the epoch. */
  tsMicros: number;
  /** Extra nanoseconds (0-999), kept by nanosecond formats. */
  subNanos?: number;
  /** The whole frame as it was on the wire; the snap length decides how much is kept. */
  data: Uint8Array;
  /** pcapng: interface index (default 0). */
  iface?: number;
  /** pcapng: write a Simple Packet Block (no timestamp) instead of an Enhanced one. */
  simple?: boolean;
  /** pcap: keep the whole frame even beyond the snap length (a broken writer). */
  ignoreSnaplen?: boolean;
  /** pcap: write this as the sub-second field instead of the real one. */
  rawSubsecond?: number;
}

export interface PcapOptions {
  byteOrder?: "le" | "be";
  nanos?: boolean;
  linkType?: number;
  snaplen?: number;
  /** The "modified" pcap (magic 0xa1b2cd34): record headers 8 bytes longer. */
  modified?: boolean;
}

export function buildPcap(records: CaptureRecord[], o: PcapOptions = {}): Uint8Array {
  const snaplen = o.snaplen ?? 262144;
  const w = new Writer(o.byteOrder !== "be")
    .u32(o.modified ? 0xa1b2cd34 : o.nanos ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2).u16(4).u32(0).u32(0)
    .u32(snaplen).u32(o.linkType ?? 1);
  for (const r of records) {
    const caplen = r.ignoreSnaplen ? r.data.length : Math.min(r.data.length, snaplen);
    const sec = Math.floor(r.tsMicros / 1e6);
    const micros = r.tsMicros - sec * 1e6;
    w.u32(sec).u32(r.rawSubsecond ?? (o.nanos ? micros * 1000 + (r.subNanos ?? 0) : micros))
      .u32(caplen).u32(r.data.length);
    if (o.modified) w.u32(2).u16(0x0800).u8(0).u8(0); // ifindex, protocol, packet type, pad
    w.bytes(r.data.subarray(0, caplen));
  }
  return w.done();
}

export interface PcapngInterface {
  linkType: number;
  snaplen?: number;
  /** Raw if_tsresol byte: 6 = µs (default), 9 = ns, 0x80 | n = 2^-n seconds. */
  tsresol?: number;
  /** if_tsoffset, whole seconds added to every timestamp. */
  tsoffset?: number;
}

/** A block the decoder should skip (e.g. 4 = name resolution, 5 = statistics). */
export interface OtherBlock {
  block: number;
  body: Uint8Array;
}

export interface PcapngOptions {
  byteOrder?: "le" | "be";
  interfaces?: PcapngInterface[];
}

function isOther(item: CaptureRecord | OtherBlock): item is OtherBlock {
  return "block" in item;
}

/** One pcapng section: SHB, one IDB per interface, then the items in order. */
export function buildPcapng(items: (CaptureRecord | OtherBlock)[], o: PcapngOptions = {}) {
  const w = new Writer(o.byteOrder !== "be");
  const block = (type: number, body: (w: Writer) => void) => {
    const start = w.length;
    w.u32(type).u32(0);
    body(w);
    w.pad4();
    const total = w.length - start + 4;
    w.u32(total).patch32(start + 4, total);
  };
  block(0x0a0d0d0a, (w) => w.u32(0x1a2b3c4d).u16(1).u16(0).u64(0xffffffffffffffffn));
  const ifaces = o.interfaces ?? [{ linkType: 1 }];
  for (const i of ifaces) {
    block(1, (w) => {
      w.u16(i.linkType).u16(0).u32(i.snaplen ?? 262144);
      if (i.tsresol !== undefined) w.u16(9).u16(1).u8(i.tsresol).pad4();
      if (i.tsoffset !== undefined) w.u16(14).u16(8).u64(BigInt(i.tsoffset));
      w.u16(0).u16(0);
    });
  }
  for (const item of items) {
    if (isOther(item)) {
      block(item.block, (w) => w.bytes(item.body));
      continue;
    }
    const iface = ifaces[item.iface ?? 0];
    const snaplen = iface.snaplen || 262144;
    const caplen = Math.min(item.data.length, snaplen);
    if (item.simple) {
      block(3, (w) => w.u32(item.data.length).bytes(item.data.subarray(0, caplen)));
      continue;
    }
    const res = iface.tsresol ?? 6;
    const ns = BigInt(item.tsMicros) * 1000n + BigInt(item.subNanos ?? 0) -
      BigInt(iface.tsoffset ?? 0) * 1_000_000_000n;
    const perSecond = res & 0x80 ? 1n << BigInt(res & 0x7f) : 10n ** BigInt(res);
    const units = (ns * perSecond) / 1_000_000_000n;
    block(6, (w) => {
      w.u32(item.iface ?? 0).u32(Number(units >> 32n)).u32(Number(units & 0xffffffffn))
        .u32(caplen).u32(item.data.length).bytes(item.data.subarray(0, caplen)).pad4();
      w.u16(1).u16(4).bytes(new TextEncoder().encode("test")).u16(0).u16(0); // opt_comment
    });
  }
  return w.done();
}
