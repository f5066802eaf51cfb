/** The pcap decoder on damaged input: errors with offsets, chunking, fuzzing. */
import assert from "assert";
import { MAX_CAPLEN, PcapDecoder, PcapError } from "../lib/pcap/decoder.ts";
import { decodePcapBuffer, decodePcapStream } from "./helpers/decode.ts";
import { type DecodedPacket } from "../lib/pcap/packet.ts";

import { buildPcapng, concat, ipTcp, linkFrame } from "../scripts/pcap_builder.ts";

import {
  decodeChunked,
  pcapOf,
  rng,
  sameOutcome,
  samplePcap,
  samplePcapng,
  SYN,
  T0,
  unitBoundaries,
} from "./helpers/pcap_samples.ts";

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

  // Beyond libpcap's own limit (256 KiB) a length is corrupt, whatever the snap length says.
  const bad = file.slice();
  new DataView(bad.buffer).setUint32(secondAt + 8, MAX_CAPLEN + 1, true);
  const r = decodePcapBuffer(bad);
  assert.equal(r.packets.length, 1);
  assert.equal(r.error?.offset, secondAt);
  assert.match(r.error!.message, new RegExp(`captured length ${MAX_CAPLEN + 1} is impossible`));

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
