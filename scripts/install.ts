/**
 * `deno task install [--root DIR]`: puts a `tcpka` command on PATH that runs this checkout's
 * main.ts with exactly deno.json's `permissions.default` and the V8 flags the tasks use. Offline,
 * no `deno compile` download.
 *
 * The permission set is translated into explicit --allow-* flags: measured with Deno 2.9.6,
 * `deno install -g -P` writes a shim without the set (the installed `tcpka client` then fails with
 * "Requires net access"), while explicit flags are kept in the shim.
 */
import denoJson from "../deno.json" with { type: "json" };
import { V8_FLAGS } from "../lib/process/runtime_flags.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** One deno.json permission entry as a flag: `true` → --allow-X, a list → --allow-X=a,b. */
export function permissionFlags(set: Record<string, boolean | string[]>): string[] {
  const flags: string[] = [];
  for (const [name, value] of Object.entries(set)) {
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value) && value.length > 0) {
      flags.push(`--allow-${name}=${value.join(",")}`);
    } else if (value !== false) {
      throw new Error(`deno.json permissions.default.${name}: unexpected value`);
    }
  }
  return flags;
}

/** The `deno install` argv for this checkout; `extra` goes before the script (e.g. --root DIR). */
export function installArgs(extra: string[] = []): string[] {
  return [
    "install",
    "--global",
    "--force",
    "-q",
    "--name",
    "tcpka",
    ...permissionFlags(denoJson.permissions.default),
    "--no-prompt",
    ...V8_FLAGS,
    "--config",
    `${ROOT}deno.json`,
    ...extra,
    `${ROOT}main.ts`,
  ];
}

/**
 * The shim runs `deno` from PATH; under `sudo` that PATH (secure_path) rarely has it. Pinning the
 * Deno that installed it makes `sudo tcpka …` work, and keeps the version the checkout was tested
 * with.
 */
function pinDeno(shim: string): void {
  try {
    const text = Deno.readTextFileSync(shim);
    Deno.writeTextFileSync(shim, text.replace(/^exec deno /m, `exec '${Deno.execPath()}' `));
  } catch { /* a shim of another shape (Windows .cmd): left as deno wrote it */ }
}

/** `--root DIR` or `--root=DIR` → DIR; nothing → null; anything else → undefined (bad usage). */
export function rootOf(args: string[]): string | null | undefined {
  if (args.length === 0) return null;
  if (args.length === 1 && args[0].startsWith("--root=")) return args[0].slice(7) || undefined;
  if (args.length === 2 && args[0] === "--root" && args[1] !== "") return args[1];
  return undefined;
}

if (import.meta.main) {
  const root = rootOf(Deno.args);
  if (root === undefined) {
    console.error("usage: deno task install [--root DIR]");
    Deno.exit(2);
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: installArgs(root === null ? [] : ["--root", root]),
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) Deno.exit(out.code || 1);
  const bin = root === null ? `${Deno.env.get("HOME")}/.deno/bin` : `${root}/bin`;
  pinDeno(`${bin}/tcpka`);
  console.log(`installed tcpka in ${bin}; with it on PATH, run 'tcpka --help'`);
}
