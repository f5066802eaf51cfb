/**
 * Writes a large, reproducible pcap for benchmarks: many concurrent TCP connections (1 in 8 over
 * IPv6), each with a handshake, request/response exchanges, idle spells with keep-alive probes
 * and their ACKs (Linux-style zero-byte and Windows-style one-byte probes, from either side), and
 * a FIN or RST teardown, interleaved in time order.
 *
 *   deno run --allow-write scripts/gen_pcap.ts --packets 1000000 --flows 5000 --out big.pcap
 *
 * The frames come from scripts/pcap_builder.ts, built once per shape (IP version, flags,
 * payload length) and then copied with addresses, ports, sequence numbers and timestamps patched
 * in: building every one of a million packets from scratch would take longer than reading them.
 */
import { buildPcap, ipTcp, linkFrame } from "./pcap_builder.ts";
import type { TcpSegmentSpec } from "./pcap_builder.ts";

export interface GenOptions {
  packets: number;
  /** Connections, all alive from the start; each gets an equal share of the packets. */
  flows: number;
  seed?: number;
}

export interface GenStats {
  packets: number;
  flows: number;
  probes: number;
  bytes: number;
}

const ETH = 14;
const SYN = 0x02, ACK = 0x10, PSH = 0x08, FIN = 0x01, RST = 0x04;
const PAYLOADS = [64, 200, 512, 1448];

/** mulberry32: small, fast, and the same sequence everywhere for a given seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Frame templates by shape, with the offsets of the fields that change per packet. */
class Templates {
  readonly #cache = new Map<string, Uint8Array>();

  frame(v6: boolean, flags: number, payload: number): Uint8Array {
    const key = `${v6 ? 6 : 4}/${flags}/${payload}`;
    let frame = this.#cache.get(key);
    if (!frame) {
      const syn = (flags & SYN) !== 0;
      const spec: TcpSegmentSpec = {
        src: v6 ? "2001:db8::1" : "10.0.0.1",
        dst: v6 ? "2001:db8::2" : "10.0.0.2",
        srcPort: 1,
        dstPort: 2,
        flags,
        window: syn ? 65535 : 502,
        options: syn
          ? { mss: 1460, sackPermitted: true, tsval: 1, tsecr: 0, wscale: 7 }
          : { tsval: 1, tsecr: 1 },
        payload,
      };
      frame = linkFrame(1, ipTcp(spec));
      this.#cache.set(key, frame);
    }
    return frame;
  }
}

interface FlowGen {
  v6: boolean;
  client: Uint8Array;
  server: Uint8Array;
  clientPort: number;
  serverPort: number;
  clientSeq: number;
  serverSeq: number;
  /** Packets this flow still has to write, teardown included. */
  budget: number;
  /** Queued packets of the current step: [fromClient, flags, payload, probe]. */
  queue: [boolean, number, number, boolean][];
  oneByteProbes: boolean;
  serverProbes: boolean;
  rst: boolean;
  nextMicros: number;
}

/** A binary min-heap of flows by next packet time. */
class FlowHeap {
  readonly items: FlowGen[] = [];
  push(f: FlowGen): void {
    const a = this.items;
    a.push(f);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].nextMicros <= a[i].nextMicros) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): FlowGen | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l].nextMicros < a[m].nextMicros) m = l;
        if (r < a.length && a[r].nextMicros < a[m].nextMicros) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** Streams the generated capture to `write` in chunks of about 4 MiB. */
export async function generatePcap(
  options: GenOptions,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<GenStats> {
  const random = rng(options.seed ?? 7);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const templates = new Templates();
  const out = new Uint8Array(4 << 20);
  const view = new DataView(out.buffer);
  let used = 0;
  const stats: GenStats = { packets: 0, flows: options.flows, probes: 0, bytes: 0 };
  const flush = async () => {
    await write(out.subarray(0, used));
    stats.bytes += used;
    used = 0;
  };

  const header = buildPcap([], { snaplen: 262144, linkType: 1 });
  out.set(header, 0);
  used = header.length;

  const heap = new FlowHeap();
  const share = Math.floor(options.packets / options.flows);
  if (share < 7) throw new Error("need at least 7 packets per flow (handshake and teardown)");
  let extra = options.packets - share * options.flows;
  const start = 1_700_000_000_000_000;
  for (let i = 0; i < options.flows; i++) {
    const v6 = i % 8 === 7;
    const client = v6
      ? new Uint8Array(16)
      : new Uint8Array([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]);
    const server = v6 ? new Uint8Array(16) : new Uint8Array([192, 168, 0, 1 + (i % 4)]);
    if (v6) {
      client.set([0x20, 0x01, 0x0d, 0xb8], 0);
      client[14] = (i >> 8) & 255;
      client[15] = i & 255;
      server.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 + (i % 4)], 0);
    }
    heap.push({
      v6,
      client,
      server,
      clientPort: 32768 + (i % 28000),
      serverPort: pick([443, 5432, 6379, 12345]),
      clientSeq: Math.floor(random() * 2 ** 32),
      serverSeq: Math.floor(random() * 2 ** 32),
      budget: share + (extra-- > 0 ? 1 : 0),
      queue: [[true, SYN, 0, false], [false, SYN | ACK, 0, false], [true, ACK, 0, false]],
      oneByteProbes: random() < 0.25,
      serverProbes: random() < 0.2,
      rst: random() < 0.1,
      nextMicros: start + Math.floor(random() * 1_000_000),
    });
  }

  /** Plans the flow's next step: an exchange, an idle spell with probes, or the teardown. */
  const plan = (f: FlowGen): number => {
    if (f.budget <= 4) {
      f.queue = f.rst ? [[true, RST | ACK, 0, false]] : [
        [true, FIN | ACK, 0, false],
        [false, ACK, 0, false],
        [false, FIN | ACK, 0, false],
        [true, ACK, 0, false],
      ];
      f.queue.length = Math.min(f.queue.length, f.budget);
      return 1_000 + Math.floor(random() * 1_000_000);
    }
    if (random() < 0.7) {
      f.queue = [
        [true, PSH | ACK, pick(PAYLOADS), false],
        [false, PSH | ACK, pick(PAYLOADS), false],
        [true, ACK, 0, false],
      ];
      return 200 + Math.floor(random() * 50_000);
    }
    const fromClient = !f.serverProbes || random() < 0.5;
    const probes = 1 + Math.floor(random() * 3);
    f.queue = [];
    for (let p = 0; p < probes; p++) {
      f.queue.push([fromClient, ACK, f.oneByteProbes ? 1 : 0, true], [!fromClient, ACK, 0, false]);
    }
    return 2_000_000 + Math.floor(random() * 20_000_000);
  };

  let remaining = options.packets;
  while (remaining > 0) {
    const f = heap.pop()!;
    const [fromClient, flags, payload, probe] = f.queue.shift()!;
    const frame = templates.frame(f.v6, flags, payload);
    const record = 16 + frame.length;
    if (used + record > out.length) await flush();
    // pcap record header: seconds, microseconds, captured and original length (little-endian)
    view.setUint32(used, Math.floor(f.nextMicros / 1e6), true);
    view.setUint32(used + 4, f.nextMicros % 1e6, true);
    view.setUint32(used + 8, frame.length, true);
    view.setUint32(used + 12, frame.length, true);
    const p = used + 16;
    out.set(frame, p);
    const ipSrc = p + ETH + (f.v6 ? 8 : 12);
    const ipDst = ipSrc + (f.v6 ? 16 : 4);
    out.set(fromClient ? f.client : f.server, ipSrc);
    out.set(fromClient ? f.server : f.client, ipDst);
    const t = p + ETH + (f.v6 ? 40 : 20);
    view.setUint16(t, fromClient ? f.clientPort : f.serverPort);
    view.setUint16(t + 2, fromClient ? f.serverPort : f.clientPort);
    const mySeq = fromClient ? f.clientSeq : f.serverSeq;
    const theirSeq = fromClient ? f.serverSeq : f.clientSeq;
    // A probe repeats the last acknowledged byte (seq - 1); everything else advances seq.
    view.setUint32(t + 4, probe ? (mySeq - 1) >>> 0 : mySeq);
    view.setUint32(t + 8, (flags & ACK) ? theirSeq : 0);
    if (!(flags & SYN)) {
      // tsval/tsecr behind NOP NOP: milliseconds, as Linux sends them
      view.setUint32(t + 24, Math.floor(f.nextMicros / 1000) >>> 0);
      view.setUint32(t + 28, Math.floor(f.nextMicros / 1000 - 1) >>> 0);
    }
    used += record;
    if (!probe) {
      const advance = payload + ((flags & (SYN | FIN)) ? 1 : 0);
      if (fromClient) f.clientSeq = (f.clientSeq + advance) >>> 0;
      else f.serverSeq = (f.serverSeq + advance) >>> 0;
    } else {
      stats.probes++;
    }
    stats.packets++;
    remaining--;
    f.budget--;
    if (f.budget === 0) continue;
    if (f.queue.length === 0) f.nextMicros += plan(f);
    else if (probe) f.nextMicros += 50 + Math.floor(random() * 200); // the probe's ACK
    else if (f.queue[0][3]) f.nextMicros += 1_000_000 + Math.floor(random() * 4_000_000); // interval
    else f.nextMicros += 100 + Math.floor(random() * 2_000);
    heap.push(f);
  }
  if (used > 0) await flush();
  return stats;
}

/** Writes the capture to `path`. */
export async function writeGeneratedPcap(path: string, options: GenOptions): Promise<GenStats> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    return await generatePcap(options, async (chunk) => {
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    });
  } finally {
    file.close();
  }
}

if (import.meta.main) {
  const arg = (name: string, fallback: string) => {
    const at = Deno.args.indexOf(`--${name}`);
    return at >= 0 ? Deno.args[at + 1] : fallback;
  };
  const out = arg("out", "");
  if (!out) {
    console.error("usage: gen_pcap.ts --out FILE [--packets N] [--flows N] [--seed N]");
    Deno.exit(2);
  }
  const stats = await writeGeneratedPcap(out, {
    packets: Number(arg("packets", "1000000")),
    flows: Number(arg("flows", "5000")),
    seed: Number(arg("seed", "7")),
  });
  console.error(
    `${out}: ${stats.packets} packets, ${stats.flows} flows, ${stats.probes} keep-alive probes, ` +
      `${stats.bytes} bytes`,
  );
}
