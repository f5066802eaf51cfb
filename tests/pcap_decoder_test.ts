import assert from "assert";
import { linkTypeName } from "../lib/pcap/decoder.ts";
import { decodePcapBuffer } from "./helpers/decode.ts";
import {
  flagNames,
  formatFlags,
  formatIpv6,
  hasFlag,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
} from "../lib/pcap/packet.ts";

import {
  arpFrame,
  buildPcap,
  buildPcapng,
  concat,
  ipTcp,
  ipUdp,
  linkFrame,
  parseAddress,
} from "../scripts/pcap_builder.ts";

import {
  DATA6,
  only,
  pcapOf,
  samplePcapng,
  sampleRecords,
  SYN,
  T0,
} from "./helpers/pcap_samples.ts";

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
    encap: null,
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
