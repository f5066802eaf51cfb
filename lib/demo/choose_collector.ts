/** Capture when it can run, the kernel's socket table otherwise; the user is told which and why. */
import type { EvidenceCollector } from "./collector.ts";
import { KernelCollector } from "./kernel_collector.ts";
import { CaptureCollector } from "./capture_collector.ts";
import type { Timeline } from "./timeline.ts";
import type { EvidenceChoice, ObservationTarget } from "./seed.ts";
import { defaultInterface } from "../capture/interface.ts";

/**
 * Starts the chosen collector. With "auto", a capture that cannot start (no tcpdump, no root)
 * falls back to the kernel's table, and the reason is returned for the timeline.
 */
export async function chooseCollector(
  choice: EvidenceChoice,
  target: ObservationTarget,
  timeline: Timeline,
): Promise<{ collector: EvidenceCollector; fallbackReason?: string }> {
  const kernel = () =>
    new KernelCollector(target.port, (o) => timeline.observation(o), { prefix: target.prefix });
  if (choice === "kernel") return { collector: kernel() };
  let capture: CaptureCollector | null = null;
  try {
    capture = new CaptureCollector(
      {
        port: target.port,
        iface: target.iface ?? defaultInterface("127.0.0.1"),
        prefix: target.prefix,
      },
      timeline,
    );
    await capture.start();
    return { collector: new Started(capture) };
  } catch (err) {
    await capture?.stop().catch(() => {});
    if (choice === "capture") throw err;
    return {
      collector: kernel(),
      fallbackReason: `no packet capture (${(err as Error).message.replace(/;.*/, "")}); ` +
        "observing the client's socket in the kernel's table with ss instead",
    };
  }
}

/** A collector already started (the capture must be listening before we decide on it). */
class Started implements EvidenceCollector {
  constructor(private readonly inner: EvidenceCollector) {}
  get source() {
    return this.inner.source;
  }
  get description() {
    return this.inner.description;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  evidenceFor(...args: Parameters<EvidenceCollector["evidenceFor"]>) {
    return this.inner.evidenceFor(...args);
  }
}
