/** A source of evidence about the client's connection, running beside the demo's roles. */
import type { ConnectionEvidence, EvidenceSource } from "./evidence.ts";

export interface ClientConnection {
  /** `host:port` as the client reported them. */
  local: string;
  remote: string;
  connectedAt: number;
}

export interface EvidenceCollector {
  readonly source: EvidenceSource;
  /** One line for the user: where the evidence comes from. */
  readonly description: string;
  /** Resolves once it is watching (a capture must be running before the SYN). */
  start(): Promise<void>;
  stop(): Promise<void>;
  evidenceFor(client: ClientConnection): ConnectionEvidence;
}
