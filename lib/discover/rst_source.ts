/**
 * Who sent the RST at the edge: the server, or a middlebox in front of it? A packet's TTL (hop
 * limit) counts down once per router, so an RST that arrives with more TTL left than the server's
 * SYN-ACK was made by something closer than the server. Needs a packet capture (tcpdump, root);
 * without one, discover says it cannot tell.
 */
import { startTcpdump, type TcpdumpProcess } from "../capture/tcpdump.ts";
import { PcapDecoder } from "../pcap/decoder.ts";
import { type DecodedPacket, hasFlag, TCP_ACK, TCP_RST, TCP_SYN } from "../pcap/packet.ts";

export interface RstVerdict {
  source: "server" | "middlebox" | "unknown";
  hint: string;
}

/** Something that watches the target's packets and can judge an RST afterwards. */
export interface RstWitness {
  start(): Promise<void>;
  stop(): Promise<void>;
  verdict(): RstVerdict;
}

/** Initial TTLs in use (Linux/macOS 64, Windows 128, network gear 255): hops = initial − seen. */
const INITIAL_TTLS = [32, 64, 128, 255];

export function hopsFrom(ttl: number): number {
  const initial = INITIAL_TTLS.find((t) => t >= ttl) ?? 255;
  return initial - ttl;
}

/** Pure: the verdict from the TTLs of the server's SYN-ACKs and of the RSTs received. */
export function judgeRst(synAckTtls: number[], rstTtls: number[]): RstVerdict {
  if (rstTtls.length === 0) {
    return { source: "unknown", hint: "the capture saw no RST arrive" };
  }
  if (synAckTtls.length === 0) {
    return { source: "unknown", hint: "the capture saw no SYN-ACK to compare the RST with" };
  }
  const serverHops = mode(synAckTtls.map(hopsFrom));
  const rstHops = mode(rstTtls.map(hopsFrom));
  const ttls = `RST TTL ${mode(rstTtls)}, SYN-ACK TTL ${mode(synAckTtls)}`;
  if (rstHops === serverHops) {
    return {
      source: "server",
      hint: `the RST came from as far away as the server (${ttls}): the server, or a middlebox ` +
        "right beside it",
    };
  }
  if (rstHops < serverHops) {
    const n = serverHops - rstHops;
    return {
      source: "middlebox",
      hint: `the RST came from ${n} hop${n === 1 ? "" : "s"} closer than the server (${ttls}): ` +
        "a middlebox on the path",
    };
  }
  return {
    source: "unknown",
    hint: `the RST came from farther than the server (${ttls}): cannot tell`,
  };
}

function mode(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0][0];
}

/** tcpdump on every interface, keeping only the target's SYN-ACKs and RSTs. */
export class CaptureRstWitness implements RstWitness {
  readonly #synAcks: number[] = [];
  readonly #rsts: number[] = [];
  #tcpdump: TcpdumpProcess | null = null;
  #reading: Promise<void> | null = null;
  #failed: string | null = null;

  constructor(readonly host: string, readonly port: number) {}

  async start(): Promise<void> {
    const filter = `tcp and src host ${this.host} and src port ${this.port} and ` +
      "(tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)";
    try {
      this.#tcpdump = startTcpdump({ iface: "any", filter, snaplen: 96 });
      await this.#tcpdump.ready;
    } catch (err) {
      this.#failed = (err as Error).message;
      this.#tcpdump?.stop();
      this.#tcpdump = null;
      return;
    }
    const decoder = new PcapDecoder();
    const stdout = this.#tcpdump.stdout;
    this.#reading = (async () => {
      for await (const chunk of stdout) {
        for (const packet of decoder.push(chunk)) this.#see(packet);
      }
    })().catch(() => {});
  }

  #see(p: DecodedPacket): void {
    if (hasFlag(p.flags, TCP_SYN | TCP_ACK)) this.#synAcks.push(p.ttl);
    else if (hasFlag(p.flags, TCP_RST)) this.#rsts.push(p.ttl);
  }

  async stop(): Promise<void> {
    if (!this.#tcpdump) return;
    // Let the last packets through before stopping.
    await new Promise((r) => setTimeout(r, 200));
    this.#tcpdump.stop();
    await this.#tcpdump.child.status;
    await this.#reading;
    this.#tcpdump = null;
  }

  verdict(): RstVerdict {
    if (this.#failed) {
      return {
        source: "unknown",
        hint: `no packet capture (${this.#failed}): cannot tell who sent the RST`,
      };
    }
    return judgeRst(this.#synAcks, this.#rsts);
  }
}
