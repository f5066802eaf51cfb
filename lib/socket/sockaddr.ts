/**
 * Kernel `struct sockaddr` buffers: matching one against a Deno.NetAddr without building strings
 * (addresses compared as 16 bytes, IPv4 widened to IPv4-mapped IPv6 so a dual-stack socket still
 * matches), and decoding one into text.
 */
import type { PlatformTable } from "./platform.ts";
import { formatIp, parseIp } from "../ip.ts";

/** An address as a sockaddr holds it: a port and 16 address bytes (IPv4 as ::ffff:a.b.c.d). */
export interface AddressKey {
  port: number;
  address: Uint8Array;
}

export function addressKeyOf(addr: { hostname: string; port: number }): AddressKey {
  const bytes = parseIp(addr.hostname);
  if (!bytes) throw new Error(`cannot parse address ${addr.hostname}`);
  return { port: addr.port, address: widen(bytes) };
}

function widen(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

/** Size of a buffer that holds any sockaddr we care about (sockaddr_in6 is 28 bytes). */
export const SOCKADDR_BUFFER_BYTES = 128;

type Layout = Pick<PlatformTable, "sockaddrLayout" | "afInet" | "afInet6">;

function familyOf(buf: Uint8Array, layout: Layout): number {
  return layout.sockaddrLayout === "u16-family" ? buf[0] | (buf[1] << 8) : buf[1];
}

/** True when `buf` (a sockaddr filled in by the kernel) is `expected`. */
export function sockaddrMatches(buf: Uint8Array, layout: Layout, expected: AddressKey): boolean {
  const family = familyOf(buf, layout);
  if (sockaddrPort(buf) !== expected.port) return false;
  const want = expected.address;
  if (family === layout.afInet) {
    for (let i = 0; i < 10; i++) if (want[i] !== 0) return false;
    if (want[10] !== 0xff || want[11] !== 0xff) return false;
    return buf[4] === want[12] && buf[5] === want[13] && buf[6] === want[14] &&
      buf[7] === want[15];
  }
  if (family === layout.afInet6) {
    // sockaddr_in6: family(2) port(2) flowinfo(4) addr(16)
    for (let i = 0; i < 16; i++) if (buf[8 + i] !== want[i]) return false;
    return true;
  }
  return false;
}

/** The port of a sockaddr_in/sockaddr_in6 (same offset in every layout we support). */
export function sockaddrPort(buf: Uint8Array): number {
  return (buf[2] << 8) | buf[3];
}

/** A sockaddr_in/sockaddr_in6 as text; null for any other family. */
export function decodeSockaddr(
  buf: Uint8Array,
  layout: Layout,
): { hostname: string; port: number } | null {
  const family = familyOf(buf, layout);
  if (family === layout.afInet) {
    return { hostname: formatIp(buf.subarray(4, 8)), port: sockaddrPort(buf) };
  }
  if (family === layout.afInet6) {
    return { hostname: formatIp(buf.subarray(8, 24)), port: sockaddrPort(buf) };
  }
  return null;
}
