/**
 * `deno task compile`: single-file tcpka binaries in dist/, one per target, each with exactly the
 * permissions of deno.json's `permissions.default` baked in (`deno compile -P` reads that list, the
 * same one `deno task server|client` and the tests use; it is not repeated here).
 *
 *   deno task compile                      Linux x86-64 and Windows x86-64
 *   deno task compile --all                also Linux arm64 and both macOS targets
 *   deno task compile --target T [--target T …] [--out-dir DIR]
 *
 * `deno compile` downloads its runtime (denort) for each target from Deno's download host and caches
 * it in DENO_DIR. Offline, point DENORT_BIN at a denort for this machine: then only the host target
 * is built (a denort runs on one target only).
 */
import denoJson from "../deno.json" with { type: "json" };
import { V8_FLAGS } from "../lib/process/runtime_flags.ts";

export const DEFAULT_TARGETS = ["x86_64-unknown-linux-gnu", "x86_64-pc-windows-msvc"];
export const EXTRA_TARGETS = [
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];
const ALL_TARGETS = [...DEFAULT_TARGETS, ...EXTRA_TARGETS];

const ROOT = new URL("../", import.meta.url).pathname;

export function outputName(target: string): string {
  return `tcpka-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** The `deno compile` argv: `-P` bakes in deno.json's permission set and nothing else. */
export function compileArgs(target: string, output: string): string[] {
  return [
    "compile",
    "-q",
    "-P",
    ...V8_FLAGS,
    "--no-prompt",
    "--target",
    target,
    "--output",
    output,
    "main.ts",
  ];
}

/** True when `deno compile` failed because it could not fetch the runtime for a target. */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /base binary|denort/i.test(stderr) &&
    /error sending request|dns error|failed to lookup|Connect|timed out|tcp connect|proxy/i.test(
      stderr,
    );
}

/** deno.json's permission set as the user reads it, e.g. "net, ffi, run=sysctl". */
export function describePermissions(set: Record<string, unknown>): string {
  return Object.entries(set).filter(([, v]) => v !== false).map(([name, v]) =>
    Array.isArray(v) ? `${name}=${v.join(",")}` : name
  ).join(", ");
}

class CompileError extends Error {}

interface Options {
  targets: string[];
  outDir: string;
}

function parseArgs(args: string[]): Options {
  const targets: string[] = [];
  let all = false;
  let outDir = `${ROOT}dist`;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--all") all = true;
    else if (arg === "--target" || arg === "--out-dir") {
      const value = args[++i];
      if (value === undefined) throw new CompileError(`${arg} needs a value`);
      if (arg === "--out-dir") outDir = value;
      else if (!ALL_TARGETS.includes(value)) {
        throw new CompileError(`unknown target '${value}'; one of: ${ALL_TARGETS.join(", ")}`);
      } else targets.push(value);
    } else {
      throw new CompileError(
        `unknown argument '${arg}'; usage: deno task compile ` +
          `[--all] [--target T]... [--out-dir DIR]`,
      );
    }
  }
  const host = Deno.build.target;
  if (Deno.env.get("DENORT_BIN")) {
    if (all || targets.some((t) => t !== host)) {
      throw new CompileError(
        `DENORT_BIN is a runtime for one target: with it, build only this machine's (${host})`,
      );
    }
    return { targets: [host], outDir };
  }
  return { targets: targets.length > 0 ? targets : all ? ALL_TARGETS : DEFAULT_TARGETS, outDir };
}

async function compile(target: string, output: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(target, output),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) return;
  const stderr = new TextDecoder().decode(out.stderr);
  const denort = Deno.env.get("DENORT_BIN");
  if (denort && /Could not find denort/i.test(stderr)) {
    throw new CompileError(`DENORT_BIN=${denort} cannot be read; point it at a denort binary`);
  }
  if (isRuntimeDownloadFailure(stderr)) {
    throw new CompileError(
      `could not download the Deno runtime (denort ${Deno.version.deno} for ${target}) from ` +
        `Deno's download host; offline, build for this machine with ` +
        `DENORT_BIN=/path/to/denort deno task compile`,
    );
  }
  const first = stderr.split("\n").find((l) => /error/i.test(l))?.trim() ?? `exit ${out.code}`;
  throw new CompileError(`deno compile for ${target} failed: ${first}`);
}

/** A binary built from a plain `deno` (not denort) ignores the embedded program: catch that. */
async function checkRunsAsTcpka(output: string, target: string): Promise<void> {
  const out = await new Deno.Command(output, { args: ["--version"], stderr: "null" }).output()
    .catch(() => null);
  const text = out ? new TextDecoder().decode(out.stdout).trim() : "";
  if (!text.startsWith(`tcpka ${denoJson.version} (${target}`)) {
    Deno.removeSync(output);
    throw new CompileError(
      `${output} does not run as tcpka (--version said '${text.split("\n")[0]}'); ` +
        `DENORT_BIN must be a denort, not a deno`,
    );
  }
}

async function run(args: string[]): Promise<number> {
  const { targets, outDir } = parseArgs(args);
  Deno.mkdirSync(outDir, { recursive: true });
  for (const target of targets) {
    const output = `${outDir.replace(/\/$/, "")}/${outputName(target)}`;
    await compile(target, output);
    if (target === Deno.build.target) await checkRunsAsTcpka(output, target);
    const mb = (Deno.statSync(output).size / 1e6).toFixed(0);
    console.log(`built ${output} (${mb} MB)`);
  }
  console.log(
    `permissions baked in (deno.json permissions.default): ${
      describePermissions(denoJson.permissions.default)
    }`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await run(Deno.args));
  } catch (err) {
    const message = err instanceof CompileError
      ? err.message
      : `unexpected error: ${(err as Error).message}`;
    console.error(`compile: ${message.replaceAll("\n", " ")}`);
    Deno.exit(1);
  }
}
