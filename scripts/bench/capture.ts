/**
 * Part "capture": `capture --read FILE --quiet` on generated pcaps (scripts/gen_pcap.ts: every
 * connection open from start to end, with data, probes and their ACKs) against `tcpdump -r FILE
 * -nn > /dev/null`: time, and memory per open connection above the runtime's baseline (the peak
 * RSS reading a tiny file). Live heap per open connection, measured halfway through the file after
 * a full GC (capture_heap.ts), says how much of that is live data and how much V8's room.
 */
import { timedRun } from "./child.ts";
import { tcpkaArgv } from "./roles.ts";
import { count, kb, mb, median, ms, NOISY, percent, ratio, spread } from "./stats.ts";
import { atMost, compare, info, type Row, verdict } from "./table.ts";
import type { Bench, Part } from "./part.ts";
import type { CaptureHeap } from "./capture_heap.ts";
import { writeGeneratedPcap } from "../gen_pcap.ts";

const HEAP_DRIVER = new URL("./capture_heap.ts", import.meta.url).pathname;
/** The runtime's baseline: a file with hardly anything open. */
const TINY = { packets: 1_000, flows: 10 };
/** Memory per open connection the capture may use above the runtime's baseline. */
const PER_CONN_TARGET = 1024;
const SLOW_TCPDUMP_FLOWS = 10_000;

interface FileRuns {
  packets: number;
  flows: number;
  bytes: number;
  tcpkaMs: number[];
  tcpdumpMs: number[];
  tcpkaPeak: number[];
  tcpdumpPeak: number[];
  heap: CaptureHeap;
}

async function readFile(
  bench: Bench,
  spec: { packets: number; flows: number },
  withTcpdump: boolean,
): Promise<FileRuns> {
  const file = `${bench.dir}/gen-${spec.packets}-${spec.flows}.pcap`;
  const what = `${count(spec.packets)} packets, ${count(spec.flows)} connections`;
  bench.log(`generating a pcap: ${what}`);
  const gen = await writeGeneratedPcap(file, spec);
  const r: FileRuns = {
    ...spec,
    bytes: gen.bytes,
    tcpkaMs: [],
    tcpdumpMs: [],
    tcpkaPeak: [],
    tcpdumpPeak: [],
    heap: { liveHeapBytes: 0, held: 0 },
  };
  const runs = Math.max(3, bench.options.runs);
  // tcpdump -nn keeps relative sequence numbers per connection, and with tens of thousands open
  // it takes minutes: one run of it there.
  const tcpdumpRuns = spec.flows > SLOW_TCPDUMP_FLOWS ? 1 : runs;
  for (let i = 1; i <= runs; i++) {
    bench.log(`reading it (${what}): tcpka capture --read, tcpdump -r (run ${i}/${runs})`);
    const t = await timedRun(tcpkaArgv(["capture", "--read", file, "--quiet"]));
    r.tcpkaMs.push(t.ms);
    r.tcpkaPeak.push(t.peakBytes);
    if (!withTcpdump || i > tcpdumpRuns) continue;
    const d = await timedRun(["tcpdump", "-r", file, "-nn"]);
    r.tcpdumpMs.push(d.ms);
    r.tcpdumpPeak.push(d.peakBytes);
  }
  const heapArgv = [Deno.execPath(), "run", "-q", "--allow-read", "--v8-flags=--expose-gc"];
  r.heap = JSON.parse(
    (await timedRun([...heapArgv, HEAP_DRIVER, file, String(spec.packets)], true)).stdout,
  );
  Deno.removeSync(file);
  return r;
}

async function hasTcpdump(): Promise<boolean> {
  try {
    return (await new Deno.Command("tcpdump", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

export const capturePart: Part = {
  name: "capture",
  async run(bench) {
    const tcpdump = await hasTcpdump();
    if (!tcpdump) bench.log("tcpdump is not installed: capture rows without a reference");
    const base = await readFile(bench, TINY, false);
    const basePeak = median(base.tcpkaPeak);
    const rows: Row[] = [];
    const notes = [
      `capture baseline (peak RSS reading ${count(TINY.packets)} packets of ` +
      `${TINY.flows} connections): ${mb(basePeak)}, spread ${percent(spread(base.tcpkaPeak))}; ` +
      `live heap ${mb(base.heap.liveHeapBytes)}`,
    ];
    const files: FileRuns[] = [];
    for (const spec of bench.options.captures) files.push(await readFile(bench, spec, tcpdump));
    for (const f of files) {
      const at = `capture --read --quiet, ${count(f.packets)} pkts, ${count(f.flows)} open`;
      if (tcpdump) {
        rows.push(
          compare(
            `${at}: time (${mb(f.bytes)})`,
            f.tcpkaMs,
            f.tcpdumpMs,
            ms,
            {
              referenceName: "tcpdump",
              referenceLabel: "tcpdump -r: ",
              target: atMost(0.5),
            },
          ),
        );
      }
      const perConn = f.tcpkaPeak.map((p) => (p - basePeak) / f.flows);
      const s = spread(f.tcpkaPeak);
      const holds = median(perConn) <= PER_CONN_TARGET;
      rows.push(info(
        `${at}: peak memory / open conn`,
        kb(median(perConn)),
        `peak ${mb(median(f.tcpkaPeak))} − baseline ${mb(basePeak)}` +
          (tcpdump ? `; tcpdump ${mb(median(f.tcpdumpPeak))}` : ""),
        {
          spread: percent(s),
          target: `≤ 1.0 KB ${verdict(holds)}${s > NOISY ? " (noisy)" : ""}`,
          ...(s > NOISY ? { noisy: `peak RSS varied by ${percent(s)} between runs` } : {}),
        },
      ));
      const heldDelta = f.heap.held - base.heap.held;
      rows.push(info(
        `${at}: why: live heap / open conn`,
        kb((f.heap.liveHeapBytes - base.heap.liveHeapBytes) / Math.max(1, heldDelta)),
        `after a full GC, ${count(f.heap.held)} held: ${mb(f.heap.liveHeapBytes)}`,
        { spread: "1 run" },
      ));
    }
    // Flat memory: the same connections over more packets should not cost more.
    for (const flows of new Set(files.map((f) => f.flows))) {
      const same = files.filter((f) => f.flows === flows);
      if (same.length < 2) continue;
      const [small, large] = [same[0], same[same.length - 1]];
      const [a, b] = [median(small.tcpkaPeak), median(large.tcpkaPeak)];
      rows.push(info(
        `peak memory, ${count(flows)} open, ${count(small.packets)} → ${count(large.packets)} pkts`,
        `${mb(a)} → ${mb(b)}`,
        tcpdump
          ? `tcpdump ${mb(median(small.tcpdumpPeak))} → ${mb(median(large.tcpdumpPeak))}`
          : "",
        { ratio: ratio(b, a), target: `≤ 1.1× ${verdict(b <= 1.1 * a)}` },
      ));
    }
    return { rows, notes };
  },
};
