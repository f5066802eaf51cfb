import assert from "assert";
import {
  decodePcapBuffer,
  decodePcapStream,
  linkTypeName,
  MAX_CAPLEN,
  PcapDecoder,
  PcapError,
} from "../lib/pcap/decoder.ts";
import {
  type DecodedPacket,
  flagNames,
  formatFlags,
  formatIpv6,
  hasFlag,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
} from "../lib/pcap/packet.ts";
import { FlowTracker } from "../lib/flow/tracker.ts";
import { summarizeFlows } from "../lib/flow/summary.ts";
import {
  arpFrame,
  buildPcap,
  buildPcapng,
  type CaptureRecord,
  concat,
  ipTcp,
  ipUdp,
  linkFrame,
  parseAddress,
  type TcpSegmentSpec,
} from "./helpers/pcap_builder.ts";

const T0 = Date.UTC(2025, 10, 25, 7, 42, 59) * 1000 + 109181; // µs

const SYN: TcpSegmentSpec = {
  src: "10.0.0.1",
  dst: "10.0.0.2",
  srcPort: 40000,
  dstPort: 80,
  seq: 3661790706,
  flags: "S",
  window: 65495,
  options: { mss: 65495, sackPermitted: true, tsval: 3214424158, tsecr: 0, wscale: 7 },
};
const DATA6: TcpSegmentSpec = {
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

function only(bytes: Uint8Array): DecodedPacket {
  const r = decodePcapBuffer(bytes);
  assert.equal(r.error, null);
  assert.equal(r.packets.length, 1);
  return r.packets[0];
}

function pcapOf(frames: Uint8Array[], linkType = 1, extra: Parameters<typeof buildPcap>[1] = {}) {
  return buildPcap(
    frames.map((data, i) => ({ tsMicros: T0 + i * 1000, data })),
    { linkType, ...extra },
  );
}

/** Deterministic PRNG so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  packets: DecodedPacket[];
  error: PcapError | null;
}

/** Pushes `bytes` in chunks whose sizes `size()` picks; checks the error contract on the way. */
function decodeChunked(bytes: Uint8Array, size: () => number): Outcome {
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

function sameOutcome(a: Outcome, b: Outcome, what: string) {
  assert.deepEqual(a.packets, b.packets, `${what}: packets differ`);
  assert.equal(a.error?.message, b.error?.message, `${what}: errors differ`);
  assert.equal(a.error?.offset, b.error?.offset, `${what}: error offsets differ`);
}

/** A varied valid capture: IPv4/IPv6, options, non-TCP, truncation by snap length. */
function sampleRecords(): CaptureRecord[] {
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

function samplePcap(byteOrder: "le" | "be" = "le", nanos = false) {
  return buildPcap(sampleRecords(), { byteOrder, nanos, snaplen: 200 });
}

function samplePcapng(byteOrder: "le" | "be" = "le") {
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
function unitBoundaries(bytes: Uint8Array): number[] {
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

Deno.test("classic pcap: every field of an Ethernet/IPv4 SYN", () => {
  const p = only(pcapOf([linkFrame(1, ipTcp(SYN))]));
  assert.deepEqual(p, {
    index: 0,
    tsMicros: T0,
    tsSubMicroNanos: 0,
    linkType: 1,
    ipVersion: 4,
    src: "10.0.0.1",
    dst: "10.0.0.2",
    srcPort: 40000,
    dstPort: 80,
    ttl: 64,
    seq: 3661790706,
    ack: 0,
    flags: TCP_SYN,
    window: 65495,
    tcpHeaderLength: 40,
    payloadLength: 0,
    options: { mss: 65495, sackPermitted: true, tsval: 3214424158, tsecr: 0, wscale: 7 },
    truncated: false,
    capturedLength: 74,
    wireLength: 74,
  });
});

Deno.test("classic pcap: both byte orders and both timestamp resolutions decode alike", () => {
  const recs = sampleRecords();
  const base = decodePcapBuffer(buildPcap(recs, { byteOrder: "le" }));
  assert.equal(base.error, null);
  assert.equal(base.packets.length, 5);
  for (const byteOrder of ["le", "be"] as const) {
    for (const nanos of [false, true]) {
      const r = decodePcapBuffer(buildPcap(recs, { byteOrder, nanos }));
      assert.equal(r.error, null);
      const expected = base.packets.map((p) => ({
        ...p,
        tsSubMicroNanos: nanos ? recs[p.index].subNanos ?? 0 : 0,
      }));
      assert.deepEqual(r.packets, expected, `${byteOrder} nanos=${nanos}`);
    }
  }
});

Deno.test("nanosecond pcap keeps the sub-microsecond part separately", () => {
  const data = linkFrame(1, ipTcp(SYN));
  const bytes = buildPcap([{ tsMicros: 1_700_000_000_123_456, subNanos: 789, data }], {
    nanos: true,
    byteOrder: "be",
  });
  const p = only(bytes);
  assert.equal(p.tsMicros, 1_700_000_000_123_456);
  assert.equal(p.tsSubMicroNanos, 789);
});

Deno.test("every supported link type yields the same IPv4 and IPv6 segments", () => {
  const v4 = ipTcp(SYN);
  const v6 = ipTcp(DATA6);
  const cases: [string, number, Parameters<typeof linkFrame>[2]][] = [
    ["NULL, little-endian host", 0, { nullByteOrder: "le" }],
    ["NULL, big-endian host", 0, { nullByteOrder: "be" }],
    ["NULL, FreeBSD AF_INET6", 0, { inet6Family: 28 }],
    ["NULL, NetBSD AF_INET6", 0, { inet6Family: 24, nullByteOrder: "be" }],
    ["Ethernet", 1, {}],
    ["Ethernet, 802.1Q", 1, { vlans: [42] }],
    ["Ethernet, QinQ", 1, { vlans: [100, 42] }],
    ["DLT_RAW 12", 12, {}],
    ["DLT_RAW 14", 14, {}],
    ["LINKTYPE_RAW", 101, {}],
    ["LOOP", 108, {}],
    ["Linux SLL", 113, {}],
    ["Linux SLL2", 276, {}],
  ];
  for (const [what, lt, opts] of cases) {
    const r = decodePcapBuffer(pcapOf([linkFrame(lt, v4, opts), linkFrame(lt, v6, opts)], lt));
    assert.equal(r.error, null, what);
    assert.equal(r.packets.length, 2, what);
    const [a, b] = r.packets;
    assert.equal(a.linkType, lt, what);
    assert.deepEqual(
      [a.ipVersion, a.src, a.dst, a.srcPort, a.dstPort, a.seq, a.flags, a.payloadLength],
      [4, "10.0.0.1", "10.0.0.2", 40000, 80, 3661790706, TCP_SYN, 0],
      what,
    );
    assert.deepEqual(
      [b.ipVersion, b.src, b.dst, b.srcPort, b.dstPort, b.seq, b.ack, b.payloadLength],
      [6, "2001:db8::1", "2001:db8::1:0:0:2", 443, 51000, 0xfffffff0, 77, 100],
      what,
    );
    assert.deepEqual(b.options, { tsval: 1, tsecr: 2 }, what);
  }
  // The one-version raw link types
  assert.equal(only(pcapOf([linkFrame(228, v4)], 228)).src, "10.0.0.1");
  assert.equal(only(pcapOf([linkFrame(229, v6)], 229)).src, "2001:db8::1");
});

Deno.test("non-TCP traffic, unknown link types and deep VLAN stacks are skipped and counted", () => {
  const frames = [
    arpFrame(),
    linkFrame(1, ipUdp("10.0.0.1", "10.0.0.2", 53, 53)),
    linkFrame(1, ipTcp(SYN)),
    linkFrame(1, ipTcp(SYN), { vlans: [1, 2, 3] }),
    linkFrame(1, ipUdp("::1", "::2", 53, 53)),
    linkFrame(1, ipTcp(DATA6)),
  ];
  const r = decodePcapBuffer(pcapOf(frames));
  assert.equal(r.error, null);
  assert.deepEqual(r.packets.map((p) => p.index), [2, 5]);
  assert.deepEqual(
    { ...r.stats },
    {
      records: 6,
      tcp: 2,
      skipped: 4,
      notIp: 2, // ARP, and the frame with three VLAN tags
      notTcp: 2,
      fragment: 0,
      malformed: 0,
      unsupportedLink: 0,
    },
  );

  const unknownFamily = decodePcapBuffer(pcapOf([linkFrame(0, ipTcp(SYN), { protocol: 7 })], 0));
  assert.equal(unknownFamily.packets.length, 0);
  assert.equal(unknownFamily.stats.notIp, 1);

  const wifi = decodePcapBuffer(pcapOf([new Uint8Array(60), new Uint8Array(80)], 105));
  assert.equal(wifi.error, null);
  assert.equal(wifi.packets.length, 0);
  assert.equal(wifi.stats.unsupportedLink, 2);
});

Deno.test("IPv4 header options and fragments", () => {
  const opts = ipTcp({ ...SYN, flags: "P.", payload: 10, ipv4Options: new Uint8Array([7, 7, 4]) });
  const p = only(pcapOf([linkFrame(101, opts)], 101));
  assert.equal(p.payloadLength, 10);
  assert.equal(p.srcPort, 40000);

  const first = ipTcp({ ...SYN, flags: ".", payload: 1000, fragment: { offset: 0, more: true } });
  const later = ipTcp({
    ...SYN,
    flags: ".",
    payload: 1000,
    fragment: { offset: 1480, more: false },
  });
  const r = decodePcapBuffer(pcapOf([linkFrame(101, first), linkFrame(101, later)], 101));
  assert.equal(r.packets.length, 1, "only the first fragment has a TCP header");
  assert.equal(r.packets[0].payloadLength, 1000);
  assert.equal(r.stats.fragment, 1);
});

Deno.test("IPv6 extension headers are walked to find TCP", () => {
  const chains: Parameters<typeof ipTcp>[0]["ipv6Ext"][] = [
    ["hop"],
    ["hop", "routing", "dst"],
    ["dst", "frag"],
  ];
  for (const ipv6Ext of chains) {
    const p = only(pcapOf([linkFrame(1, ipTcp({ ...DATA6, ipv6Ext }))]));
    assert.equal(p.payloadLength, 100, ipv6Ext?.join());
    assert.equal(p.tcpHeaderLength, 32, ipv6Ext?.join());
    assert.equal(p.dstPort, 51000, ipv6Ext?.join());
    assert.equal(p.ttl, 64, `hop limit, ${ipv6Ext?.join()}`); // the builder's hop limit
  }
  const later = decodePcapBuffer(
    pcapOf([linkFrame(1, ipTcp({ ...DATA6, ipv6Ext: ["hop", "frag-later"] }))]),
  );
  assert.equal(later.packets.length, 0);
  assert.equal(later.stats.fragment, 1);
});

Deno.test("snap length: payloadLength comes from the IP header, truncated is flagged", () => {
  const big = linkFrame(1, ipTcp({ ...SYN, flags: "P.", ack: 1, payload: 1400 }));
  const p = only(pcapOf([big], 1, { snaplen: 96 }));
  assert.equal(p.payloadLength, 1400);
  assert.equal(p.truncated, true);
  assert.equal(p.capturedLength, 96);
  assert.equal(p.wireLength, big.length);

  // Cut inside the TCP options: the header fields are there, the options partly.
  const syn = linkFrame(1, ipTcp(SYN));
  const cut = only(pcapOf([syn], 1, { snaplen: 14 + 20 + 26 }));
  assert.equal(cut.truncated, true);
  assert.equal(cut.seq, 3661790706);
  assert.deepEqual(cut.options, { mss: 65495, sackPermitted: true });

  // Cut before the window field: no segment to report.
  const tiny = decodePcapBuffer(pcapOf([syn], 1, { snaplen: 14 + 20 + 10 }));
  assert.equal(tiny.packets.length, 0);
  assert.equal(tiny.stats.malformed, 1);

  const v6 = only(pcapOf([linkFrame(1, ipTcp({ ...DATA6, payload: 5000 }))], 1, { snaplen: 100 }));
  assert.equal(v6.payloadLength, 5000);
  assert.equal(v6.truncated, true);
});

Deno.test("Ethernet padding is not payload; a zero IP length falls back to the wire length", () => {
  const padded = linkFrame(1, ipTcp({ ...SYN, flags: ".", options: {} }), { pad: true });
  assert.equal(padded.length, 60);
  assert.equal(only(pcapOf([padded])).payloadLength, 0);

  // Segmentation offload: Linux captures a 3000-byte super-packet with total length 0.
  const tso = linkFrame(
    1,
    ipTcp({ ...SYN, flags: ".", options: {}, payload: 3000, ipLengthOverride: 0 }),
  );
  assert.equal(only(pcapOf([tso])).payloadLength, 3000);
});

Deno.test("IPv6 addresses are formatted per RFC 5952", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a lone zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run is compressed
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["0:0:0:0:0:ffff:c000:201", "::ffff:192.0.2.1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(formatIpv6(parseAddress(input), 0), expected, input);
  }
});

Deno.test("flag helpers and link type names", () => {
  assert.equal(formatFlags(TCP_SYN), "S");
  assert.equal(formatFlags(TCP_SYN | TCP_ACK), "S.");
  assert.equal(formatFlags(TCP_FIN | TCP_PSH | TCP_ACK), "FP.");
  assert.equal(formatFlags(TCP_ACK), ".");
  assert.equal(formatFlags(0), "none");
  assert.deepEqual(flagNames(TCP_SYN | TCP_ACK), ["SYN", "ACK"]);
  assert.ok(hasFlag(TCP_SYN | TCP_ACK, TCP_ACK));
  assert.ok(!hasFlag(TCP_ACK, TCP_SYN | TCP_ACK));
  assert.equal(linkTypeName(1), "ETHERNET");
  assert.equal(linkTypeName(276), "LINUX_SLL2");
  assert.equal(linkTypeName(0), "NULL");
  assert.equal(linkTypeName(9999), "UNKNOWN(9999)");
});

Deno.test("pcapng: both byte orders, interfaces, resolutions, SPB and unknown blocks", () => {
  const recs = sampleRecords();
  const classic = decodePcapBuffer(buildPcap(recs, { nanos: true, snaplen: 200 }));
  for (const byteOrder of ["le", "be"] as const) {
    const r = decodePcapBuffer(samplePcapng(byteOrder));
    assert.equal(r.error, null, byteOrder);
    assert.equal(r.stats.records, 7);
    // Interface 0 has µs resolution, interface 1 ns; the SPB (record 4) reuses the last time.
    const expected = classic.packets.map((p) => {
      const iface1 = p.index === 1 || p.index === 5;
      const spb = p.index === 4;
      const from = spb ? classic.packets.find((q) => q.index === 3) ?? recs[3] : p;
      return {
        ...p,
        tsMicros: spb ? recs[3].tsMicros : from.tsMicros,
        tsSubMicroNanos: iface1 ? p.tsSubMicroNanos : 0,
      };
    });
    assert.deepEqual(r.packets, expected, byteOrder);
  }
});

Deno.test("pcapng: odd timestamp resolutions, offsets, and sections in mixed byte order", () => {
  const data = linkFrame(1, ipTcp(SYN));
  const rec = { tsMicros: 1_700_000_000_500_000, subNanos: 0, data };
  const cases = [
    { tsresol: 3 }, // milliseconds
    { tsresol: 0x80 | 20 }, // 2^-20 s
    { tsresol: 8 }, // 10 ns
    { tsresol: 0x80 | 30 }, // 2^-30 s, finer than a nanosecond
    { tsresol: 6, tsoffset: 1_000_000_000 },
  ];
  for (const iface of cases) {
    const p = only(buildPcapng([rec], { interfaces: [{ linkType: 1, ...iface }] }));
    assert.equal(p.tsMicros, rec.tsMicros, JSON.stringify(iface));
    assert.equal(p.tsSubMicroNanos, 0, JSON.stringify(iface));
  }
  const ns = only(
    buildPcapng([{ ...rec, subNanos: 999 }], { interfaces: [{ linkType: 1, tsresol: 9 }] }),
  );
  assert.equal(ns.tsSubMicroNanos, 999);

  const twoSections = concat(
    buildPcapng([rec], { byteOrder: "le", interfaces: [{ linkType: 1 }] }),
    buildPcapng([{ ...rec, data: linkFrame(113, ipTcp(DATA6)) }], {
      byteOrder: "be",
      interfaces: [{ linkType: 113 }],
    }),
  );
  const r = decodePcapBuffer(twoSections);
  assert.equal(r.error, null);
  assert.deepEqual(r.packets.map((p) => [p.index, p.linkType, p.src]), [
    [0, 1, "10.0.0.1"],
    [1, 113, "2001:db8::1"],
  ]);
});

Deno.test("errors: bad magic, truncation, impossible lengths, each with its offset", () => {
  const junk = decodePcapBuffer(new TextEncoder().encode("hello, this is not a capture"));
  assert.equal(junk.error?.offset, 0);
  assert.match(junk.error!.message, /not a pcap or pcapng file: unknown magic 0x68656c6c/);

  const empty = decodePcapBuffer(new Uint8Array());
  assert.match(empty.error!.message, /empty input/);

  const file = pcapOf([linkFrame(1, ipTcp(SYN)), linkFrame(1, ipTcp({ ...SYN, payload: 30 }))]);
  const secondAt = 24 + 16 + 74;
  const cut = decodePcapBuffer(file.subarray(0, secondAt + 16 + 12));
  assert.equal(cut.packets.length, 1, "the complete first record is still returned");
  assert.equal(cut.error?.offset, secondAt);
  assert.equal(
    cut.error?.message,
    `truncated pcap record at byte ${secondAt}: header says 104 bytes, file ends after 12`,
  );
  const cutHeader = decodePcapBuffer(file.subarray(0, secondAt + 5));
  assert.equal(
    cutHeader.error?.message,
    `truncated pcap record header at byte ${secondAt}: need 16 bytes, file ends after 5`,
  );
  assert.match(decodePcapBuffer(file.subarray(0, 10)).error!.message, /truncated pcap file header/);

  for (const [caplen, snaplen] of [[MAX_CAPLEN + 1, 0], [1000, 400]]) {
    const bad = file.slice();
    const v = new DataView(bad.buffer);
    v.setUint32(16, snaplen, true);
    v.setUint32(secondAt + 8, caplen, true);
    const r = decodePcapBuffer(bad);
    assert.equal(r.packets.length, 1);
    assert.equal(r.error?.offset, secondAt);
    assert.match(r.error!.message, new RegExp(`captured length ${caplen} is impossible`));
  }

  const version = file.slice();
  version[4] = 3;
  assert.match(decodePcapBuffer(version).error!.message, /unsupported pcap version 3/);
});

Deno.test("errors: corrupt pcapng blocks", () => {
  const good = buildPcapng([{ tsMicros: T0, data: linkFrame(1, ipTcp(SYN)) }]);
  const blocks = unitBoundaries(good); // SHB, IDB, EPB
  const epb = blocks[2];
  const mutate = (f: (v: DataView) => void) => {
    const b = good.slice();
    f(new DataView(b.buffer));
    return decodePcapBuffer(b).error;
  };
  let e = mutate((v) => v.setUint32(good.length - 4, 1234, true));
  assert.equal(e?.offset, epb);
  assert.match(e!.message, /trailing length 1234 does not match/);
  e = mutate((v) => v.setUint32(epb + 4, 30, true));
  assert.match(e!.message, /impossible block length 30/);
  e = mutate((v) => v.setUint32(epb + 8, 3, true));
  assert.match(e!.message, /interface 3 was never described/);
  e = mutate((v) => v.setUint32(epb + 20, 9999, true));
  assert.match(e!.message, /captured length 9999 does not fit/);
  e = mutate((v) => v.setUint32(8, 0x01020304));
  assert.equal(e?.offset, 0);
  assert.match(e!.message, /bad byte-order magic/);
  e = mutate((v) => v.setUint16(12, 2, true));
  assert.match(e!.message, /unsupported pcapng version 2/);

  const cut = decodePcapBuffer(good.subarray(0, epb + 40));
  assert.equal(cut.error?.offset, epb);
  assert.match(
    cut.error!.message,
    /truncated pcapng block at byte \d+: block length says \d+ bytes/,
  );
});

Deno.test("an error found mid-chunk is raised only after that chunk's packets are returned", () => {
  const file = samplePcap();
  const broken = file.slice();
  const bounds = unitBoundaries(file);
  new DataView(broken.buffer).setUint32(bounds[5] + 8, 0x7fffffff, true);
  const d = new PcapDecoder();
  const got = d.push(broken);
  assert.equal(got.length, 2, "records 0 and 1 are TCP, 2 and 3 are not, 4 is corrupt");
  assert.throws(() => d.push(new Uint8Array(1)), PcapError);
  assert.throws(() => d.end(), (e) => e instanceof PcapError && e.offset === bounds[5]);
});

Deno.test("decodePcapStream reads a ReadableStream and reports stats through its decoder", async () => {
  const file = samplePcapng();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < file.length; i += 37) controller.enqueue(file.slice(i, i + 37));
      controller.close();
    },
  });
  const decoder = new PcapDecoder();
  const got: DecodedPacket[] = [];
  for await (const p of decodePcapStream(stream, decoder)) got.push(p);
  assert.deepEqual(got, decodePcapBuffer(file).packets);
  assert.equal(decoder.bytesConsumed, file.length);
  assert.equal(decoder.format, "pcapng");
  assert.equal(decoder.stats.skipped, 2);

  const truncated = [file.subarray(0, file.length - 3)];
  const before: DecodedPacket[] = [];
  await assert.rejects(async () => {
    for await (const p of decodePcapStream(truncated)) before.push(p);
  }, PcapError);
  assert.equal(before.length, got.length - 1);
});

Deno.test("chunking never changes the result: 1-byte and random chunks", () => {
  const random = rng(1);
  for (const file of [samplePcap(), samplePcap("be", true), samplePcapng(), samplePcapng("be")]) {
    const whole = decodeChunked(file, () => file.length);
    assert.equal(whole.error, null);
    assert.equal(whole.packets.length, 5);
    sameOutcome(decodeChunked(file, () => 1), whole, "1-byte chunks");
    for (let i = 0; i < 20; i++) {
      sameOutcome(decodeChunked(file, () => Math.floor(random() * 90)), whole, "random chunks");
    }
  }
});

Deno.test("fuzz: every truncation point either ends cleanly or names the cut record", () => {
  for (const file of [samplePcap(), samplePcapng("be")]) {
    const full = decodePcapBuffer(file).packets;
    const bounds = unitBoundaries(file);
    for (let cut = 0; cut <= file.length; cut++) {
      const r = decodePcapBuffer(file.subarray(0, cut));
      // Unit u spans [bounds[u], bounds[u + 1]); its packet survives if it ends by the cut.
      const expected = full.filter((p) => bounds[unitOfPacket(file, p.index) + 1] <= cut);
      assert.deepEqual(r.packets, expected, `cut at ${cut}`);
      if (cut > 0 && bounds.includes(cut)) {
        assert.equal(r.error, null, `cut at boundary ${cut}`);
      } else {
        const start = Math.max(...bounds.filter((b) => b <= cut));
        assert.ok(r.error instanceof PcapError, `cut at ${cut}`);
        assert.equal(r.error.offset, start, `cut at ${cut}`);
        assert.match(r.error.message, /^(truncated|empty input)/, `cut at ${cut}`);
      }
    }
  }
});

/** Which unit (record/block counted from the file start) holds packet `index`. */
function unitOfPacket(file: Uint8Array, index: number): number {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const ng = v.getUint32(0) === 0x0a0d0d0a;
  if (!ng) return index + 1; // unit 0 is the file header
  const le = v.getUint32(8) === 0x4d3c2b1a;
  const bounds = unitBoundaries(file);
  let seen = -1;
  for (let u = 0; u + 1 < bounds.length; u++) {
    const type = v.getUint32(bounds[u], le);
    if (type === 6 || type === 3 || type === 2) seen++;
    if (seen === index) return u;
  }
  throw new Error(`no packet ${index}`);
}

Deno.test("fuzz: random bytes and random byte flips only ever give packets or PcapError", () => {
  const random = rng(42);
  const headers = [
    samplePcap().subarray(0, 24),
    samplePcap("be", true).subarray(0, 24),
    samplePcapng().subarray(0, 28),
    new Uint8Array(),
  ];
  for (let i = 0; i < 2000; i++) {
    const body = new Uint8Array(Math.floor(random() * 400));
    for (let j = 0; j < body.length; j++) body[j] = Math.floor(random() * 256);
    const bytes = concat(headers[i % headers.length], body);
    const whole = decodeChunked(bytes, () => bytes.length);
    sameOutcome(decodeChunked(bytes, () => 1 + Math.floor(random() * 50)), whole, `random #${i}`);
  }
  const files = [samplePcap(), samplePcap("be", true), samplePcapng(), samplePcapng("be")];
  let errors = 0;
  let packets = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = files[i % files.length].slice();
    const flips = 1 + Math.floor(random() * 6);
    for (let f = 0; f < flips; f++) {
      bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
    }
    const whole = decodeChunked(bytes, () => bytes.length);
    if (whole.error) errors++;
    packets += whole.packets.length;
    for (const p of whole.packets) {
      assert.ok(p.payloadLength >= 0 && p.payloadLength <= MAX_CAPLEN * 2, "sane payload length");
      assert.ok(p.tcpHeaderLength >= 20 && p.tcpHeaderLength <= 60);
    }
    sameOutcome(decodeChunked(bytes, () => 1 + Math.floor(random() * 64)), whole, `flip #${i}`);
  }
  // Both outcomes must actually occur, or the fuzzing is not exercising anything.
  assert.ok(errors > 100, `only ${errors} corrupt outcomes`);
  assert.ok(packets > 1000, `only ${packets} packets survived`);
});

// ---------------------------------------------------------------------------
// Real-world check against tcpdump itself

async function whyNoRealCapture(): Promise<string | null> {
  const missing: string[] = [];
  for (const name of ["run", "read", "write", "net"] as const) {
    if ((await Deno.permissions.query({ name })).state !== "granted") {
      missing.push(`--allow-${name}`);
    }
  }
  if (missing.length) return `needs ${missing.join(" ")}`;
  try {
    const out = await new Deno.Command("tcpdump", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!out.success) return "tcpdump --version failed";
  } catch {
    return "tcpdump is not installed";
  }
  const id = await new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" })
    .output()
    .catch(() => null);
  if (id === null || new TextDecoder().decode(id.stdout).trim() !== "0") {
    return "not running as root (tcpdump needs to open the lo interface)";
  }
  return null;
}

const realCaptureProblem = await whyNoRealCapture();
if (realCaptureProblem) console.warn(`real tcpdump capture test skipped: ${realCaptureProblem}`);

interface Sniffer {
  file: string;
  child: Deno.ChildProcess;
  stderr: Promise<string>;
}

async function startTcpdump(file: string, args: string[]): Promise<Sniffer> {
  const child = new Deno.Command("tcpdump", {
    args: [...args, "-w", file, "-U"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const stderr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("listening on")) ready();
    }
    ready();
    return text;
  })();
  const timeout = new Promise<"timeout">((r) => setTimeout(r, 10_000, "timeout"));
  const raced = await Promise.race([listening, timeout]);
  if (raced === "timeout" || !text.includes("listening on")) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`tcpdump did not start: ${await stderr}`);
  }
  return { file, child, stderr };
}

async function exchange(hostname: string, listener: Deno.TcpListener): Promise<void> {
  const server = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64);
    let got = 0;
    while (got < 5) got += (await conn.read(buf.subarray(got))) ?? 5;
    await conn.write(new TextEncoder().encode("world!"));
    while ((await conn.read(buf)) !== null) { /* until the client's FIN */ }
    conn.close();
  })();
  const client = await Deno.connect({ hostname, port: listener.addr.port });
  await client.write(new TextEncoder().encode("hello"));
  const buf = new Uint8Array(6);
  let got = 0;
  while (got < 6) got += (await client.read(buf.subarray(got))) ?? 6;
  client.close();
  await server;
}

interface DumpLine {
  ts: string;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  flags: string;
}

/** What tcpdump -r itself reports for each TCP packet of `file`. */
async function tcpdumpRead(file: string, nanos: boolean): Promise<DumpLine[]> {
  const args = ["-r", file, "-nn", "-tt", ...(nanos ? ["--nano"] : [])];
  const out = await new Deno.Command("tcpdump", { args, stdout: "piped", stderr: "null" }).output();
  assert.ok(out.success, "tcpdump -r failed");
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim());
  return lines.map((line) => {
    const m = line.match(
      /^(\d+\.\d+) .*?IP6? ([0-9a-f.:]+)\.(\d+) > ([0-9a-f.:]+)\.(\d+): Flags \[([^\]]+)\]/,
    );
    assert.ok(m, `unparsed tcpdump line: ${line}`);
    return { ts: m[1], src: m[2], srcPort: +m[3], dst: m[4], dstPort: +m[5], flags: m[6] };
  });
}

function asDumpLine(p: DecodedPacket, nanos: boolean): DumpLine {
  const sec = Math.floor(p.tsMicros / 1e6);
  const micros = String(p.tsMicros - sec * 1e6).padStart(6, "0");
  const frac = nanos ? micros + String(p.tsSubMicroNanos).padStart(3, "0") : micros;
  return {
    ts: `${sec}.${frac}`,
    src: p.src,
    srcPort: p.srcPort,
    dst: p.dst,
    dstPort: p.dstPort,
    flags: formatFlags(p.flags),
  };
}

async function decodeFile(file: string): Promise<DecodedPacket[]> {
  const handle = await Deno.open(file);
  const got: DecodedPacket[] = [];
  for await (const p of decodePcapStream(handle.readable)) got.push(p);
  return got;
}

Deno.test({
  name: `real tcpdump captures of a loopback exchange decode like tcpdump -r reads them${
    realCaptureProblem ? ` (skipped: ${realCaptureProblem})` : ""
  }`,
  ignore: realCaptureProblem !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpka-capture-" });
    const v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let v6: Deno.TcpListener | null = null;
    try {
      v6 = Deno.listen({ hostname: "::1", port: 0 });
    } catch { /* no IPv6 loopback here: the IPv4 exchange still checks everything else */ }
    const ports = [v4.addr.port, ...(v6 ? [v6.addr.port] : [])];
    const filter = ports.map((p) => `tcp port ${p}`).join(" or ");
    const sniffers: Sniffer[] = [];
    try {
      // Ethernet framing with µs stamps on lo; Linux cooked v2 with ns stamps on "any".
      sniffers.push(await startTcpdump(`${dir}/lo.pcap`, ["-i", "lo", filter]));
      sniffers.push(
        await startTcpdump(`${dir}/any.pcap`, [
          "-i",
          "any",
          "--time-stamp-precision=nano",
          filter,
        ]),
      );
      await exchange("127.0.0.1", v4);
      if (v6) await exchange("::1", v6);

      // Wait for the teardown to reach the files: three FIN-or-final-ACK packets per flow.
      const expected = ports.length * 10; // 3 handshake + 2 data + 2 acks + 3 teardown
      for (let i = 0; i < 50; i++) {
        const counts = await Promise.all(
          sniffers.map(async (s) => (await decodeFile(s.file)).length),
        );
        if (counts.every((n) => n >= expected)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const s of sniffers) {
        s.child.kill("SIGINT");
        await s.child.status;
        await s.stderr;
      }
      v4.close();
      v6?.close();
    }

    for (
      const [s, nanos, linkType] of [[sniffers[0], false, 1], [sniffers[1], true, 276]] as const
    ) {
      const ours = await decodeFile(s.file);
      const theirs = await tcpdumpRead(s.file, nanos);
      assert.ok(ours.length >= ports.length * 10, `${s.file}: only ${ours.length} packets`);
      assert.equal(ours.length, theirs.length, `${s.file}: packet count`);
      assert.deepEqual(ours.map((p) => asDumpLine(p, nanos)), theirs, s.file);
      assert.ok(ours.every((p) => p.linkType === linkType), `${s.file}: link type`);
    }

    // The tracker on real traffic: handshake, one request/response, client-initiated close.
    const lo = await decodeFile(sniffers[0].file);
    const tracker = new FlowTracker();
    const labels = lo.map((p) => tracker.track(p));
    const summaries = summarizeFlows(tracker.flows);
    assert.equal(summaries.length, ports.length);
    for (const s of summaries) {
      assert.deepEqual([s.server.port, s.rolesFromHandshake], [ports[s.flowId], true]);
      assert.deepEqual([s.dataBytesC2S, s.dataBytesS2C], [5, 6]);
      assert.deepEqual(s.end.kind, "fin");
      assert.equal(s.end.by, "client");
      assert.equal(s.probesSent, 0);
      const flowLabels = labels.filter((l) => l.flowId === s.flowId).map((l) => l.label);
      assert.deepEqual(flowLabels.slice(0, 3), ["syn", "syn-ack", "handshake-ack"]);
      assert.ok(!flowLabels.includes("retransmission") && !flowLabels.includes("dup-ack"));
    }
    await Deno.remove(dir, { recursive: true });
  },
});
