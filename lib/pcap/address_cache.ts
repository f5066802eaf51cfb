/**
 * Direct-mapped caches of formatted addresses: a capture is dominated by a few endpoints, so
 * formatting each one once keeps string building off the hot path while the fixed table size
 * bounds memory on address scans.
 */
import { formatIpv4, formatIpv6 } from "./packet.ts";

export class AddressCache {
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
