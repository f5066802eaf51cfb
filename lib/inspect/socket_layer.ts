/** The socket layer as inspect and set need it, or why it is not there. */
import { openSockets, type Sockets } from "../socket/mod.ts";

export function openSocketLayer(): { sockets: Sockets | null; why: string } {
  const opened = openSockets();
  if (!opened.sockets) {
    return {
      sockets: null,
      why: opened.reason.replace("setting keep-alive timings", "reading another process's sockets"),
    };
  }
  return { sockets: opened.sockets, why: "" };
}
