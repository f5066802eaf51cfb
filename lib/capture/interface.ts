/** Which interface and filter a capture uses when none is named. */
import { isLoopback } from "../ip.ts";

/** The loopback interface for a loopback host (`lo`, macOS `lo0`), every interface otherwise. */
export function defaultInterface(host: string, os: string = Deno.build.os): string {
  if (!isLoopback(host)) return "any";
  return os === "darwin" ? "lo0" : "lo";
}

/** 'tcp port N', narrowed to the host when one was given (--host picks the interface too). */
export function defaultFilter(port: number, host: string | undefined): string {
  return host === undefined ? `tcp port ${port}` : `tcp port ${port} and host ${host}`;
}
