/** Capture when it can run, the kernel's socket table otherwise; the user is told which and why. */
import type { EvidenceCollector } from "./collector.ts";
import { KernelCollector } from "./kernel_collector.ts";
import type { Timeline } from "./timeline.ts";
import type { EvidenceChoice, ObservationTarget } from "./seed.ts";

export function chooseCollector(
  choice: EvidenceChoice,
  target: ObservationTarget,
  timeline: Timeline,
): Promise<{ collector: EvidenceCollector; fallbackReason?: string }> {
  const kernel = new KernelCollector(target.port, (o) => timeline.observation(o), {
    prefix: target.prefix,
  });
  if (choice === "kernel") return Promise.resolve({ collector: kernel });
  return Promise.resolve({
    collector: kernel,
    fallbackReason: "packet capture is not built yet; using the kernel's socket table instead",
  });
}
