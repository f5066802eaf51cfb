/** A scripted conversation for the flow tracker tests: segments by relative seq/ack and time. */
import assert from "assert";
import type { DecodedPacket, TcpOptions } from "../../lib/pcap/packet.ts";
import { FlowTracker, type Label, type LabeledPacket } from "../../lib/flow/tracker.ts";
import { summarizeFlow } from "../../lib/flow/summary.ts";
import { parseFlags } from "../../scripts/pcap_builder.ts";

export const LINUX_SYN_OPTS: TcpOptions = {
  mss: 65495,
  sackPermitted: true,
  tsval: 1,
  tsecr: 0,
  wscale: 7,
};

export function close(actual: number | null | undefined, expected: number, what: string) {
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-6,
    `${what}: ${actual} != ${expected}`,
  );
}

export interface SegmentOpts {
  len?: number;
  window?: number;
  options?: TcpOptions;
}

/**
 * A scripted conversation: sequence numbers are given relative to each side's
 * ISN (as tcpdump and Wireshark show them) and times in ms from the start.
 */
export class Conv {
  #index = 0;
  readonly tracker = new FlowTracker();
  readonly out: LabeledPacket[] = [];

  constructor(
    readonly client: [string, number],
    readonly server: [string, number],
    readonly cIsn: number,
    readonly sIsn: number,
    readonly t0Micros = 1_764_056_579_000_000,
  ) {}

  #packet(
    fromClient: boolean,
    atMs: number,
    flags: string,
    rel: number,
    relAck: number,
    o: SegmentOpts,
  ) {
    const [src, srcPort] = fromClient ? this.client : this.server;
    const [dst, dstPort] = fromClient ? this.server : this.client;
    const f = parseFlags(flags);
    const packet: DecodedPacket = {
      index: this.#index++,
      tsMicros: this.t0Micros + Math.round(atMs * 1000),
      tsSubMicroNanos: 0,
      linkType: 1,
      ipVersion: src.includes(":") ? 6 : 4,
      src,
      dst,
      srcPort,
      dstPort,
      ttl: 64,
      seq: ((fromClient ? this.cIsn : this.sIsn) + rel) >>> 0,
      ack: f & 0x10 ? ((fromClient ? this.sIsn : this.cIsn) + relAck) >>> 0 : 0,
      flags: f,
      window: o.window ?? (f & 0x02 ? 65495 : 512),
      tcpHeaderLength: 32,
      payloadLength: o.len ?? 0,
      options: o.options ?? (f & 0x02 ? LINUX_SYN_OPTS : {}),
      truncated: false,
      capturedLength: 66 + (o.len ?? 0),
      wireLength: 66 + (o.len ?? 0),
      encap: null,
    };
    const labeled = this.tracker.track(packet);
    this.out.push(labeled);
    return labeled;
  }

  c(atMs: number, flags: string, rel: number, relAck: number, o: SegmentOpts = {}) {
    return this.#packet(true, atMs, flags, rel, relAck, o);
  }
  s(atMs: number, flags: string, rel: number, relAck: number, o: SegmentOpts = {}) {
    return this.#packet(false, atMs, flags, rel, relAck, o);
  }
  handshake(atMs = 0) {
    this.c(atMs, "S", 0, 0);
    this.s(atMs + 0.02, "S.", 0, 1);
    this.c(atMs + 0.04, ".", 1, 1);
  }
  labels(): Label[] {
    return this.out.map((l) => l.label);
  }
  summary() {
    assert.equal(this.tracker.flows.length, 1);
    return summarizeFlow(this.tracker.flows[0]);
  }
}

export const CLIENT: [string, number] = ["192.168.1.10", 57006];
export const SERVER: [string, number] = ["192.168.1.20", 12345];
