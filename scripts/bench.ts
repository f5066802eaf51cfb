/**
 * `deno task bench`: tcpka against a reference measured in the same run on the same machine, so the
 * ratios (tcpka / reference) mean something anywhere. Progress goes to stderr, the table to stdout.
 * Every measure is the median of several runs, shown with how far the runs spread; a row whose
 * runs spread by more than 20% is flagged as too noisy to trust.
 *
 * The parts, one module each under scripts/bench/ (add one there and to PARTS):
 *   connections  N idle keep-alive connections: tcpka vs the lean Go reference and bare Deno
 *   keepalive    the cost of setting and reading back keep-alive, connection #1 vs #N
 *   capture      capture --read vs tcpdump -r on generated pcaps; memory per open connection
 *   inspect      tcpka inspect vs ss -tnoiep with 10,000 and 20,000 sockets (root; inspect.ts)
 *
 * Memory is read from outside, /proc/PID/status of the children (VmRSS, VmHWM): the bench runs
 * with --allow-all, the tool under test with its own permission set (`deno run -P`).
 *
 * Flags: --runs N (default 5), --only PART[,PART], --connections 1000,10000,
 * --captures PACKETS/FLOWS,... (default 250000/5000,1000000/5000,1000000/50000), --why (slower
 * diagnostic rows), --quick (1,000 connections, small captures, 3 runs), --keep (keep the temp dir).
 */
import { parseArgs } from "util";
import { isolateNetwork, limits, removeNetwork } from "./bench/child.ts";
import { buildGo, type GoReference } from "./bench/go.ts";
import { cpuModel } from "./bench/proc.ts";
import { printTable, type Row } from "./bench/table.ts";
import type { Bench, Options, Part } from "./bench/part.ts";
import { connectionsPart } from "./bench/connections.ts";
import { keepAlivePart } from "./bench/keepalive.ts";
import { capturePart } from "./bench/capture.ts";
import { inspectPart } from "./bench/inspect_part.ts";

const PARTS: Part[] = [connectionsPart, keepAlivePart, capturePart, inspectPart];

const log = (text: string) => console.error(`bench: ${text}`);

function usage(text: string): never {
  console.error(`bench: ${text}`);
  Deno.exit(2);
}

function parseOptions(args: string[]): Options & { only: Part[]; keep: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string" },
      only: { type: "string" },
      connections: { type: "string" },
      captures: { type: "string" },
      why: { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
    strict: true,
  });
  const quick = values.quick!;
  const numbers = (text: string, flag: string, separator = ",") =>
    text.split(separator).map((s) => {
      const n = Number(s.replaceAll("_", ""));
      if (!Number.isInteger(n) || n <= 0) usage(`--${flag}: not a positive number: ${s}`);
      return n;
    });
  const captures = (values.captures ??
    (quick ? "50000/1000,200000/1000,200000/10000" : "250000/5000,1000000/5000,1000000/50000"))
    .split(",").map((spec) => {
      const [packets, flows] = numbers(spec, "captures", "/");
      if (!flows) usage(`--captures: PACKETS/FLOWS, got ${spec}`);
      return { packets, flows };
    });
  const only = values.only?.split(",").map((name) =>
    PARTS.find((p) => p.name === name) ??
      usage(`--only: no part ${name} (parts: ${PARTS.map((p) => p.name).join(", ")})`)
  );
  return {
    runs: numbers(values.runs ?? (quick ? "3" : "5"), "runs")[0],
    connections: numbers(values.connections ?? (quick ? "1000" : "1000,10000"), "connections"),
    captures,
    why: values.why!,
    quick,
    only: only ?? PARTS,
    keep: values.keep!,
  };
}

/** Children get `ulimit -n 20000`, or the hard limit if lower (and fewer connections). */
async function fitDescriptorLimit(options: Options): Promise<void> {
  const out = await new Deno.Command("bash", { args: ["-c", "ulimit -Hn"], stdout: "piped" })
    .output();
  const hard = new TextDecoder().decode(out.stdout).trim();
  if (hard !== "unlimited" && Number(hard) < limits.nofile) {
    limits.nofile = Number(hard);
    options.connections = options.connections.map((n) => Math.min(n, limits.nofile - 200));
    log(`the descriptor limit is ${limits.nofile}: at most ${limits.nofile - 200} connections`);
  }
}

async function main(args: string[]): Promise<void> {
  const options = parseOptions(args);
  await fitDescriptorLimit(options);
  const dir = Deno.makeTempDirSync({ prefix: "tcpka-bench-" });
  limits.netns = await isolateNetwork();
  log(
    limits.netns
      ? `children run in network namespace ${limits.netns}`
      : "children share the host's network",
  );
  const cleanUp = async () => {
    if (limits.netns) await removeNetwork(limits.netns);
    if (options.keep) log(`kept ${dir}`);
    else Deno.removeSync(dir, { recursive: true });
  };
  Deno.addSignalListener("SIGINT", async () => {
    await cleanUp();
    Deno.exit(130);
  });
  const built: { go?: Promise<GoReference | null> } = {};
  const bench: Bench = { dir, options, go: () => built.go ??= buildGo(dir, log), log };
  try {
    const rows: Row[] = [];
    const notes: string[] = [];
    for (const part of options.only) {
      const result = await part.run(bench);
      rows.push(...result.rows);
      notes.push(...result.notes);
    }
    const version = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)))
      .version;
    const goVersion = built.go ? (await built.go)?.version ?? "no Go toolchain" : "not run";
    printTable(
      `tcpka ${version} (Deno ${Deno.version.deno}); Go reference: ${goVersion}; ` +
        `${navigator.hardwareConcurrency} CPUs (${cpuModel()}), Linux ${Deno.osRelease()}, ` +
        `loopback; medians of ${options.runs} runs (captures: at least 3)`,
      rows,
      notes,
    );
  } finally {
    await cleanUp();
  }
}

if (import.meta.main) await main(Deno.args);
