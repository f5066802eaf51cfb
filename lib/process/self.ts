/**
 * How to start another tcpka process (e.g. inside a network namespace): the compiled binary
 * itself, or `deno run -P main.ts` with the same permission set when running from source.
 */
import { fileURLToPath } from "node:url";
import { V8_FLAGS } from "./runtime_flags.ts";

export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  const main = new URL("../../main.ts", import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  return [
    Deno.execPath(),
    "run",
    "-q",
    "-P",
    ...V8_FLAGS,
    "--no-prompt",
    "--config",
    fileURLToPath(config),
    fileURLToPath(main),
  ];
}
