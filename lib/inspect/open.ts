/** The ForeignSockets this process can use, or why there are none. */
import type { ForeignSockets } from "./foreign.ts";
import { openLibcForeign } from "./foreign_libc.ts";

export function openForeignSockets(): { foreign: ForeignSockets | null; why: string } {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { foreign: null, why: "reading another process's sockets needs --allow-ffi" };
  }
  try {
    return { foreign: openLibcForeign(), why: "" };
  } catch (err) {
    return { foreign: null, why: `cannot load libc: ${(err as Error).message}` };
  }
}
