/** Capture when it can run, the kernel's socket table otherwise; the user is told which and why. */
import type { EvidenceCollector } from "./collector.ts";
import { KernelCollector } from "./kernel_collector.ts";
import type { Timeline } from "./timeline.ts";
import type { EvidenceChoice } from "./seed.ts";

export function chooseCollector(
  choice: EvidenceChoice,
  port: number,
  timeline: Timeline,
): Promise<{ collector: EvidenceCollector; fallbackReason?: string }> {
  const kernel = new KernelCollector(port, (o) => timeline.observation(o));
  if (choice === "kernel") return Promise.resolve({ collector: kernel });
  return Promise.resolve({
    collector: kernel,
    fallbackReason: "packet capture is not built yet; using the kernel's socket table instead",
  });
}
