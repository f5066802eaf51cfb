/**
 * What libpcap reads on through (and so must tcpka), and the encapsulations between the link
 * layer and TCP. Built captures here; recorded ones in tunnel_capture_test.ts.
 */
import assert from "assert";
import { linkTypeName } from "../lib/pcap/decoder.ts";
import {
  buildPcap,
  buildPcapng,
  erspanPacket,
  ethernetFrame,
  genevePacket,
  grePacket,
  ipPacket,
  ipTcp,
  linkFrame,
  mplsStack,
  type TcpSegmentSpec,
  vxlanPacket,
} from "../scripts/pcap_builder.ts";
import { decodePcapBuffer } from "./helpers/decode.ts";
import { runCli } from "./helpers/cli.ts";

const T0 = Date.UTC(2025, 10, 25, 7, 42, 59) * 1000 + 109181; // µs

const INNER: TcpSegmentSpec = {
  src: "192.168.7.1",
  dst: "192.168.7.2",
  srcPort: 40000,
  dstPort: 8080,
  seq: 1000,
  ack: 2000,
  flags: "P.",
  payload: 5,
};
const INNER6: TcpSegmentSpec = { ...INNER, src: "fd00::1", dst: "fd00::2" };

function records(frames: Uint8Array[]) {
  return frames.map((data, i) => ({ tsMicros: T0 + i * 1000, data }));
}

Deno.test("a record longer than the snap length is truncated to it and counted, as libpcap does", () => {
  const big = linkFrame(1, ipTcp({ ...INNER, payload: 900 }));
  const file = buildPcap([
    { tsMicros: T0, data: big, ignoreSnaplen: true },
    { tsMicros: T0 + 1, data: linkFrame(1, ipTcp(INNER)) },
  ], { snaplen: 128 });
  const r = decodePcapBuffer(file);
  assert.equal(r.error, null);
  assert.equal(r.packets.length, 2);
  assert.equal(r.packets[0].capturedLength, 128);
  assert.equal(r.packets[0].payloadLength, 900, "the IP header still says how much was sent");
  assert.equal(r.decoder.warnings.truncatedToSnaplen, 1);
  // pcapng, the same
  const ng = buildPcapng([{ tsMicros: T0, data: big }], {
    interfaces: [{ linkType: 1, snaplen: 0 }],
  });
  const bytes = ng.slice();
  // The IDB's snap length (offset 28 + 12) rewritten to 100 after the packet was written whole.
  new DataView(bytes.buffer).setUint32(28 + 12, 100, true);
  const rng = decodePcapBuffer(bytes);
  assert.equal(rng.error, null);
  assert.equal(rng.packets[0].capturedLength, 100);
  assert.equal(rng.decoder.warnings.truncatedToSnaplen, 1);
});

Deno.test("the modified pcap format (magic 0xa1b2cd34, 24-byte record headers) reads like pcap", () => {
  const frames = [linkFrame(1, ipTcp(INNER)), linkFrame(1, ipTcp(INNER6))];
  for (const byteOrder of ["le", "be"] as const) {
    const r = decodePcapBuffer(buildPcap(records(frames), { modified: true, byteOrder }));
    assert.equal(r.error, null, byteOrder);
    const plain = decodePcapBuffer(buildPcap(records(frames), { byteOrder }));
    assert.deepEqual(r.packets, plain.packets, byteOrder);
  }
});

Deno.test("unsupported link types are named with number and count; PPP and Cisco HDLC decode", () => {
  const ip = ipTcp(INNER);
  const juniper = decodePcapBuffer(buildPcap(records([ip, ip, ip]), { linkType: 178 }));
  assert.deepEqual(juniper.decoder.unsupportedLinks, [
    { linkType: 178, name: "JUNIPER_ETHER", packets: 3 },
  ]);
  assert.equal(linkTypeName(242), "IPOIB");
  assert.equal(linkTypeName(7), "ARCNET_BSD");
  for (const linkType of [9, 50, 51, 104]) {
    for (const spec of [INNER, INNER6]) {
      const r = decodePcapBuffer(buildPcap(records([linkFrame(linkType, ipTcp(spec))]), {
        linkType,
      }));
      assert.equal(r.packets.length, 1, `${linkTypeName(linkType)} ${spec.src}`);
      assert.equal(r.packets[0].src, spec.src);
      assert.equal(r.packets[0].payloadLength, 5);
    }
  }
});

Deno.test("time going backwards and invalid sub-second fields are counted, never fatal", () => {
  const frame = linkFrame(1, ipTcp(INNER));
  const r = decodePcapBuffer(buildPcap([
    { tsMicros: T0 + 5_000_000, data: frame },
    { tsMicros: T0, data: frame }, // back 5 s
    { tsMicros: T0 + 6_000_000, data: frame, rawSubsecond: 1_500_000 }, // ≥ 10^6 µs
  ]));
  assert.equal(r.error, null);
  assert.equal(r.packets.length, 3);
  assert.deepEqual({ ...r.decoder.warnings }, {
    truncatedToSnaplen: 0,
    invalidSubsecond: 1,
    timeWentBack: 1,
  });
  // Kept in its own second, not rolled 1.5 s forward.
  assert.equal(Math.floor(r.packets[2].tsMicros / 1e6), Math.floor((T0 + 6_000_000) / 1e6));
});

Deno.test("tunnels: VXLAN, Geneve, GRE, ERSPAN I/II/III, IP-in-IP, 6in4, 4in6, MPLS, PPPoE", () => {
  const v4 = ipTcp(INNER);
  const v6 = ipTcp(INNER6);
  const cases: [string, Uint8Array, string][] = [
    ["vxlan", ethernetFrame(vxlanPacket("10.0.0.1", "10.0.0.2", ethernetFrame(v4))), INNER.src],
    ["geneve", ethernetFrame(genevePacket("10.0.0.1", "10.0.0.2", ethernetFrame(v6))), INNER6.src],
    ["gre", ethernetFrame(grePacket("10.0.0.1", "10.0.0.2", 0x0800, v4, { key: 5 })), INNER.src],
    [
      "gre",
      ethernetFrame(grePacket("10.0.0.1", "10.0.0.2", 0x6558, ethernetFrame(v6), {
        checksum: true,
        seq: 9,
      })),
      INNER6.src,
    ],
    [
      "erspan",
      ethernetFrame(erspanPacket("10.0.0.1", "10.0.0.2", 1, ethernetFrame(v4))),
      INNER.src,
    ],
    [
      "erspan",
      ethernetFrame(erspanPacket("10.0.0.1", "10.0.0.2", 2, ethernetFrame(v4))),
      INNER.src,
    ],
    [
      "erspan",
      ethernetFrame(erspanPacket("10.0.0.1", "10.0.0.2", 3, ethernetFrame(v6))),
      INNER6.src,
    ],
    ["ipip", ethernetFrame(ipPacket("10.0.0.1", "10.0.0.2", 4, v4, {})), INNER.src],
    ["6in4", ethernetFrame(ipPacket("10.0.0.1", "10.0.0.2", 41, v6, {})), INNER6.src],
    ["4in6", ethernetFrame(ipPacket("2001:db8::1", "2001:db8::2", 4, v4, {})), INNER.src],
    ["mpls", ethernetFrame(mplsStack([16, 17], v4), 0x8847), INNER.src],
    [
      "gre/mpls",
      ethernetFrame(grePacket("10.0.0.1", "10.0.0.2", 0x8847, mplsStack([3], v6))),
      INNER6.src,
    ],
    [
      "gre", // PPTP: enhanced GRE (version 1) with PPP inside
      ethernetFrame(grePacket("10.0.0.1", "10.0.0.2", 0x880b, concatPpp(v4), {
        version: 1,
        key: 0x00400001,
        seq: 1,
        ackNumber: 0,
      })),
      INNER.src,
    ],
    [
      "vxlan/gre",
      ethernetFrame(
        vxlanPacket(
          "10.0.0.1",
          "10.0.0.2",
          ethernetFrame(grePacket("10.1.0.1", "10.1.0.2", 0x0800, v4)),
        ),
      ),
      INNER.src,
    ],
  ];
  for (const [encap, frame, src] of cases) {
    const r = decodePcapBuffer(buildPcap(records([frame])));
    assert.equal(r.packets.length, 1, `${encap}: ${JSON.stringify(r.stats)}`);
    const p = r.packets[0];
    assert.deepEqual([p.encap, p.src, p.srcPort, p.dstPort, p.seq, p.payloadLength], [
      encap,
      src,
      40000,
      8080,
      1000,
      5,
    ]);
  }
  // Ordinary UDP is still not TCP; a tunnel in a tunnel in … stops at a depth limit.
  let deep = v4;
  for (let i = 0; i < 6; i++) deep = ipPacket("10.0.0.1", "10.0.0.2", 4, deep, {});
  const r = decodePcapBuffer(buildPcap(records([ethernetFrame(deep)])));
  assert.equal(r.packets.length, 0);
  assert.equal(r.stats.notTcp, 1);
});

function concatPpp(ip: Uint8Array): Uint8Array {
  const out = new Uint8Array(ip.length + 4);
  out.set([0xff, 0x03, 0x00, 0x21]);
  out.set(ip, 4);
  return out;
}

Deno.test("capture --read names the tunnel per packet, and skipped link types and warnings at the end", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tunnel = `${dir}/vxlan.pcap`;
    await Deno.writeFile(
      tunnel,
      buildPcap(records([
        ethernetFrame(vxlanPacket("10.0.0.1", "10.0.0.2", ethernetFrame(ipTcp(INNER)))),
      ])),
    );
    const text = await runCli(["capture", "--read", tunnel]);
    assert.match(text.stdout, /192\.168\.7\.1:40000 → 192\.168\.7\.2:8080 .* via vxlan/);
    const json = await runCli(["capture", "--read", tunnel, "--json"]);
    const packet = json.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((e) =>
      e.type === "packet"
    );
    assert.equal(packet.encap, "vxlan");

    const ppp = `${dir}/juniper.pcap`;
    const ip = ipTcp(INNER);
    await Deno.writeFile(
      ppp,
      buildPcap([
        ...records([ip, ip]),
        { tsMicros: T0 - 1_000_000, data: ip }, // back in time
      ], { linkType: 178 }),
    );
    const skipped = await runCli(["capture", "--read", ppp]);
    assert.equal(skipped.code, 0);
    assert.match(skipped.stdout, /3 packets of link type JUNIPER_ETHER \(178\) were not decoded/);
    assert.match(skipped.stdout, /1 packet stamped earlier than the packet before it/);
    const end = (await runCli(["capture", "--read", ppp, "--json"])).stdout.trim().split("\n")
      .map((l) => JSON.parse(l)).find((e) => e.type === "end");
    assert.deepEqual(end.unsupportedLinks, [{ linkType: 178, name: "JUNIPER_ETHER", packets: 3 }]);
    assert.equal(end.warnings.timeWentBack, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
