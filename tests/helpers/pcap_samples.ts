/** Shared samples and helpers of the pcap decoder tests. */
import assert from "assert";
import { PcapDecoder, PcapError } from "../../lib/pcap/decoder.ts";
import { decodePcapBuffer } from "./decode.ts";
import { type DecodedPacket } from "../../lib/pcap/packet.ts";

import {
  arpFrame,
  buildPcap,
  buildPcapng,
  type CaptureRecord,
  ipTcp,
  ipUdp,
  linkFrame,
  type TcpSegmentSpec,
} from "../../scripts/pcap_builder.ts";

export const T0 = Date.UTC(2025, 10, 25, 7, 42, 59) * 1000 + 109181; // µs

export const SYN: TcpSegmentSpec = {
  src: "10.0.0.1",
  dst: "10.0.0.2",
  srcPort: 40000,
  dstPort: 80,
  seq: 3661790706,
  flags: "S",
  window: 65495,
  options: { mss: 65495, sackPermitted: true, tsval: 3214424158, tsecr: 0, wscale: 7 },
};
export const DATA6: TcpSegmentSpec = {
  src: "2001:db8::1",
  dst: "2001:db8:0:0:1::2",
  srcPort: 443,
  dstPort: 51000,
  seq: 0xfffffff0,
  ack: 77,
  flags: "P.",
  window: 501,
  options: { tsval: 1, tsecr: 2 },
  payload: 100,
};

export function only(bytes: Uint8Array): DecodedPacket {
  const r = decodePcapBuffer(bytes);
  assert.equal(r.error, null);
  assert.equal(r.packets.length, 1);
  return r.packets[0];
}

export function pcapOf(
  frames: Uint8Array[],
  linkType = 1,
  extra: Parameters<typeof buildPcap>[1] = {},
) {
  return buildPcap(
    frames.map((data, i) => ({ tsMicros: T0 + i * 1000, data })),
    { linkType, ...extra },
  );
}

/** Deterministic PRNG so a failing fuzz case can be replayed. */
export { rng } from "../../scripts/gen_pcap.ts";

export interface Outcome {
  packets: DecodedPacket[];
  error: PcapError | null;
}

/** Pushes `bytes` in chunks whose sizes `size()` picks; checks the error contract on the way. */
export function decodeChunked(bytes: Uint8Array, size: () => number): Outcome {
  const d = new PcapDecoder();
  const packets: DecodedPacket[] = [];
  try {
    for (let off = 0; off < bytes.length;) {
      const n = Math.max(1, size());
      packets.push(...d.push(bytes.subarray(off, off + n)));
      off += n;
    }
    d.end();
    return { packets, error: null };
  } catch (e) {
    assert.ok(e instanceof PcapError, `expected PcapError, got ${e}`);
    assert.equal(typeof e.offset, "number");
    assert.ok(e.offset >= 0 && e.offset <= bytes.length, `offset ${e.offset} out of range`);
    return { packets, error: e };
  }
}

export function sameOutcome(a: Outcome, b: Outcome, what: string) {
  assert.deepEqual(a.packets, b.packets, `${what}: packets differ`);
  assert.equal(a.error?.message, b.error?.message, `${what}: errors differ`);
  assert.equal(a.error?.offset, b.error?.offset, `${what}: error offsets differ`);
}

/** A varied valid capture: IPv4/IPv6, options, non-TCP, truncation by snap length. */
export function sampleRecords(): CaptureRecord[] {
  const frames = [
    linkFrame(1, ipTcp(SYN)),
    linkFrame(1, ipTcp(DATA6), { vlans: [10] }),
    arpFrame(),
    linkFrame(1, ipUdp("10.0.0.1", "10.0.0.9", 5353, 5353)),
    linkFrame(1, ipTcp({ ...SYN, flags: ".", payload: 300 })),
    linkFrame(1, ipTcp({ ...DATA6, ipv6Ext: ["hop", "frag"] }), { vlans: [1, 2] }),
    linkFrame(1, ipTcp({ ...SYN, flags: "F.", ack: 5 }), { pad: true }),
  ];
  return frames.map((data, i) => ({ tsMicros: T0 + i * 250_000, subNanos: i * 111, data }));
}

export function samplePcap(byteOrder: "le" | "be" = "le", nanos = false) {
  return buildPcap(sampleRecords(), { byteOrder, nanos, snaplen: 200 });
}

export function samplePcapng(byteOrder: "le" | "be" = "le") {
  const recs = sampleRecords();
  return buildPcapng([
    recs[0],
    { block: 4, body: new Uint8Array([1, 0, 8, 0, 127, 0, 0, 1, 108, 111, 0, 0, 0, 0, 0, 0]) },
    { ...recs[1], iface: 1 },
    recs[2],
    { block: 0x00000bad, body: new Uint8Array(12) },
    recs[3],
    { ...recs[4], simple: true },
    { ...recs[5], iface: 1 },
    recs[6],
  ], {
    byteOrder,
    interfaces: [{ linkType: 1, snaplen: 200 }, { linkType: 1, snaplen: 200, tsresol: 9 }],
  });
}

/** Start offsets of the records (pcap) or blocks (pcapng) of a valid capture, plus its length. */
export function unitBoundaries(bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ng = v.getUint32(0) === 0x0a0d0d0a;
  const le = ng ? v.getUint32(8) === 0x4d3c2b1a : v.getUint32(0) === 0xd4c3b2a1;
  const out = ng ? [0] : [0, 24];
  for (let at = out[out.length - 1]; at < bytes.length;) {
    at += ng ? v.getUint32(at + 4, le) : 16 + v.getUint32(at + 8, le);
    out.push(at);
  }
  return out;
}
