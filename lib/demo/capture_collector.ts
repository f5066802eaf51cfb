/** Evidence from a live tcpdump capture: every packet, exactly timed, labelled on the way. */
import { CaptureAnalyzer } from "../capture/analyzer.ts";
import { PacketEvents } from "../capture/packet_events.ts";
import { startTcpdump, type TcpdumpProcess } from "../capture/tcpdump.ts";
import type { LabeledPacket } from "../flow/tracker.ts";
import { formatEndpoint } from "../ip.ts";
import type { ClientConnection, EvidenceCollector } from "./collector.ts";
import { type CloseKind, type ConnectionEvidence, emptyEvidence } from "./evidence.ts";
import type { Timeline } from "./timeline.ts";

interface FlowMarks {
  client: string;
  establishedAt: number | null;
  close: { kind: CloseKind; time: number } | null;
}

export class CaptureCollector implements EvidenceCollector {
  readonly source = "capture" as const;
  readonly description: string;
  readonly #tcpdump: TcpdumpProcess;
  readonly #analyzer: CaptureAnalyzer;
  readonly #marks = new Map<number, FlowMarks>();
  #done: Promise<unknown> | null = null;

  /** Starts tcpdump at once so that a failure (no root, no tcpdump) surfaces before anything runs. */
  constructor(
    options: { port: number; iface: string; prefix?: string[]; label?: string },
    timeline: Timeline,
  ) {
    const filter = `tcp port ${options.port}`;
    this.description = `a packet capture on ${options.iface} (tcpdump '${filter}')`;
    this.#tcpdump = startTcpdump({ iface: options.iface, filter, prefix: options.prefix });
    const events = new PacketEvents();
    const wire = timeline.reporter(options.label ?? "wire");
    this.#analyzer = new CaptureAnalyzer((lp) => {
      this.#mark(lp);
      wire.emit(events.packet(lp));
    });
  }

  /** Resolves when tcpdump listens; rejects with its one-line explanation. */
  async start(): Promise<void> {
    this.#done = this.#analyzer.consume(this.#tcpdump.stdout);
    await this.#tcpdump.ready;
  }

  async stop(): Promise<void> {
    this.#tcpdump.stop();
    await this.#done;
    await this.#tcpdump.child.status;
  }

  #mark(lp: LabeledPacket) {
    let marks = this.#marks.get(lp.flowId);
    const p = lp.packet;
    const time = p.tsMicros / 1000;
    if (!marks) {
      const flow = this.#analyzer.tracker.flows[lp.flowId];
      marks = {
        client: formatEndpoint(flow.client.addr, flow.client.port),
        establishedAt: null,
        close: null,
      };
      this.#marks.set(lp.flowId, marks);
    }
    if (lp.label === "handshake-ack") marks.establishedAt = time;
    if (!marks.close && (lp.label === "fin" || lp.label === "rst")) {
      const by = lp.direction === "c2s" ? "client" : "server";
      marks.close = { kind: `${lp.label}-by-${by}` as CloseKind, time };
    }
  }

  evidenceFor(client: ClientConnection): ConnectionEvidence {
    const evidence = emptyEvidence("capture");
    const flowId = [...this.#marks].find(([, m]) => m.client === client.local)?.[0];
    if (flowId === undefined) return evidence;
    const marks = this.#marks.get(flowId)!;
    const flow = this.#analyzer.tracker.flows[flowId];
    evidence.establishedAt = marks.establishedAt;
    evidence.probes = flow.probes.filter((p) => p.by === "client").map((p) => ({
      time: p.tsMicros / 1000,
      answered: p.answered,
      kind: p.kind,
      gapMs: p.kind === "retry" ? p.retryAfterMs : p.idleBeforeMs,
    }));
    evidence.close = marks.close;
    // Linux resets the connection when keep-alive gives up: an RST from the client right after
    // unanswered probes is the kernel declaring the peer dead.
    const last = evidence.probes.at(-1);
    if (marks.close?.kind === "rst-by-client" && last && !last.answered) {
      evidence.close = { kind: "timed-out", time: marks.close.time };
    }
    return evidence;
  }
}
