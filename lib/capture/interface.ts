/** Which interface a capture listens on when none is named. */
import { isLoopback } from "../ip.ts";

/** The loopback interface for a loopback host (`lo`, macOS `lo0`), every interface otherwise. */
export function defaultInterface(host: string, os: string = Deno.build.os): string {
  if (!isLoopback(host)) return "any";
  return os === "darwin" ? "lo0" : "lo";
}
