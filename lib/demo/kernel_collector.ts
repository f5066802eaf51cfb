/** Evidence from the kernel's socket table (ss), for when there is no tcpdump or no root. */
import { type Observation, observeKeepAlive } from "../observe/keepalive_observer.ts";
import type { ClientConnection, EvidenceCollector } from "./collector.ts";
import { type ConnectionEvidence, emptyEvidence } from "./evidence.ts";

/** Client-side states that mean the client sent its FIN first. */
const CLIENT_FIN_STATES = new Set(["FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSING"]);

export class KernelCollector implements EvidenceCollector {
  readonly source = "kernel" as const;
  readonly description: string;
  readonly #port: number;
  readonly #pollMs: number;
  readonly #prefix: string[];
  readonly #onObservation: (o: Observation) => void;
  readonly #observations: Observation[] = [];
  #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #firstPoll: PromiseWithResolvers<void> = Promise.withResolvers();

  constructor(
    port: number,
    onObservation: (o: Observation) => void,
    options: { pollMs?: number; prefix?: string[] } = {},
  ) {
    this.#port = port;
    this.#pollMs = options.pollMs ?? 50;
    this.#prefix = options.prefix ?? [];
    this.#onObservation = onObservation;
    this.description = `the kernel's socket table (ss -tnoi, polled every ${this.#pollMs}ms)`;
  }

  start(): Promise<void> {
    this.#loop = (async () => {
      const stream = observeKeepAlive({
        port: this.#port,
        pollMs: this.#pollMs,
        prefix: this.#prefix,
        signal: this.#abort.signal,
        onPoll: () => this.#firstPoll.resolve(),
      });
      for await (const o of stream) {
        this.#observations.push(o);
        this.#onObservation(o);
      }
    })();
    this.#loop.catch((err) => this.#firstPoll.reject(err));
    return this.#firstPoll.promise;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  evidenceFor(client: ClientConnection): ConnectionEvidence {
    const conn = `${client.local} → ${client.remote}`;
    const evidence: ConnectionEvidence = emptyEvidence("kernel");
    // The socket table cannot date the handshake; the connect() that returned it can.
    evidence.establishedAt = client.connectedAt;
    for (const o of this.#observations) {
      if (o.conn !== conn || evidence.close) continue;
      if (o.type === "probe") evidence.probes.push({ time: o.time, answered: o.answered });
      if (o.type === "state" && o.from === "ESTAB") {
        evidence.close = {
          kind: CLIENT_FIN_STATES.has(o.state) ? "fin-by-client" : "fin-by-server",
          time: o.time,
        };
      }
      if (o.type === "gone" && o.unanswered > 0) {
        evidence.close = { kind: "timed-out", time: o.time };
      }
    }
    return evidence;
  }
}
