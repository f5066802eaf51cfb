/**
 * The decoded form of one captured TCP segment, plus the small helpers that
 * make it readable (flag names, address formatting).
 */

/** TCP flag bits, as they sit in byte 13 of the TCP header. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** Flag bits by name, for callers that prefer `TcpFlag.SYN` over the constants. */
export const TcpFlag = {
  FIN: TCP_FIN,
  SYN: TCP_SYN,
  RST: TCP_RST,
  PSH: TCP_PSH,
  ACK: TCP_ACK,
  URG: TCP_URG,
  ECE: TCP_ECE,
  CWR: TCP_CWR,
} as const;

export type TcpFlagName = keyof typeof TcpFlag;

/** TCP options that matter for keep-alive analysis; absent options are absent keys. */
export interface TcpOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  tsval?: number;
  tsecr?: number;
}

export interface DecodedPacket {
  /** 0-based position among all packet records of the capture, non-TCP ones included,
   * so Wireshark's frame number is `index + 1`. */
  index: number;
  /** Microseconds since the Unix epoch (exact: integers stay below 2^53 until year 2255). */
  tsMicros: number;
  /** Nanoseconds past `tsMicros` (0-999); 0 when the capture only has microsecond resolution. */
  tsSubMicroNanos: number;
  /** Link type of the interface the packet was captured on (see link_types.ts). */
  linkType: number;
  ipVersion: 4 | 6;
  /** Dotted quad, or RFC 5952 compressed IPv6. */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** IPv4 TTL or IPv6 hop limit as captured: how far the sender is (RST forensics). */
  ttl: number;
  /** Raw 32-bit sequence and acknowledgement numbers (not relative). */
  seq: number;
  ack: number;
  /** Bitmask of TCP_* flags. */
  flags: number;
  /** Raw window field, unscaled. */
  window: number;
  /** TCP header length in bytes (data offset * 4). */
  tcpHeaderLength: number;
  /** Segment payload bytes, from the IP length: right even when the snap length cut the packet. */
  payloadLength: number;
  options: Readonly<TcpOptions>;
  /** The capture kept fewer bytes than were on the wire. */
  truncated: boolean;
  capturedLength: number;
  wireLength: number;
  /**
   * The tunnels the segment came through, outermost first, e.g. "vxlan", "gre", "erspan",
   * "ipip", "6in4", "4in6", "geneve", "mpls", "pppoe", joined with "/" when nested; null when none.
   */
  encap: string | null;
}

export function hasFlag(flags: number, flag: number): boolean {
  return (flags & flag) === flag;
}

const FLAG_ORDER: readonly TcpFlagName[] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/** Flag names in bit order, e.g. `["SYN", "ACK"]`. */
export function flagNames(flags: number): TcpFlagName[] {
  const names: TcpFlagName[] = [];
  for (const name of FLAG_ORDER) {
    if (flags & TcpFlag[name]) names.push(name);
  }
  return names;
}

/** tcpdump's compact notation: "S", "S.", "P.", "F.", "R", "." (none at all is "none"). */
export function formatFlags(flags: number): string {
  let out = "";
  if (flags & TCP_SYN) out += "S";
  if (flags & TCP_FIN) out += "F";
  if (flags & TCP_PSH) out += "P";
  if (flags & TCP_RST) out += "R";
  if (flags & TCP_URG) out += "U";
  if (flags & TCP_ECE) out += "E";
  if (flags & TCP_CWR) out += "W";
  if (flags & TCP_ACK) out += ".";
  return out === "" ? "none" : out;
}

/** Formats the IPv4 address stored big-endian at `bytes[off..off+4]`. */
export function formatIpv4(bytes: Uint8Array, off: number): string {
  return `${bytes[off]}.${bytes[off + 1]}.${bytes[off + 2]}.${bytes[off + 3]}`;
}

/**
 * Formats the IPv6 address at `bytes[off..off+16]` the RFC 5952 way: lowercase hex,
 * no leading zeros, the longest run (first on a tie) of two or more zero groups
 * as "::", and IPv4-mapped addresses with a dotted tail.
 */
export function formatIpv6(bytes: Uint8Array, off: number): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = (bytes[off + 2 * i] << 8) | bytes[off + 2 * i + 1];

  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 &&
    groups[4] === 0 && groups[5] === 0xffff
  ) {
    return `::ffff:${formatIpv4(bytes, off + 12)}`;
  }

  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }

  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16));
  if (bestStart < 0) return hex(0, 8).join(":");
  return `${hex(0, bestStart).join(":")}::${hex(bestStart + bestLen, 8).join(":")}`;
}
