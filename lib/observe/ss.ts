/**
 * The kernel's own view of TCP sockets, from `ss -tnoH` (iproute2): state, endpoints and the
 * running timer, e.g. `timer:(keepalive,1.976ms,0)`. Works for any process's sockets without
 * root, and without reading /proc (which Deno only allows with --allow-all).
 */

export interface SocketTimer {
  /** on (retransmit), keepalive, timewait, persist, unknown. */
  name: string;
  /** Time until the timer fires. */
  ms: number;
  /** For keepalive: probes sent and not yet answered. */
  count: number;
}

export interface SocketState {
  state: string;
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
  timer: SocketTimer | null;
}

/**
 * Parses ss's timer text (iproute2 print_ms_timer): "032ms", "1.976ms" (1 s 976 ms), "12sec",
 * "1min39sec", "119min". Returns ms, or null if unrecognised.
 */
export function parseSsTimer(text: string): number | null {
  const m = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === "") return null;
  const [, min, sec, , ms] = m;
  return (Number(min ?? 0) * 60 + Number(sec ?? 0)) * 1000 + Number(ms ?? 0);
}

function splitEndpoint(text: string): [string, number] {
  const i = text.lastIndexOf(":");
  const host = text.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(text.slice(i + 1));
  return [host, Number.isInteger(port) ? port : 0];
}

/** Parses `ss -tnoH` output (one socket per line). */
export function parseSs(output: string): SocketState[] {
  const sockets: SocketState[] = [];
  for (const line of output.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^[A-Z-]+[0-9-]*$/.test(fields[0])) continue;
    const [state, , , localText, peerText] = fields;
    const [local, localPort] = splitEndpoint(localText);
    const [peer, peerPort] = splitEndpoint(peerText);
    const t = /timer:\(([a-z_]+),([^,]+),(\d+)\)/.exec(line);
    const ms = t ? parseSsTimer(t[2]) : null;
    sockets.push({
      state,
      local,
      localPort,
      peer,
      peerPort,
      timer: t && ms !== null ? { name: t[1], ms, count: Number(t[3]) } : null,
    });
  }
  return sockets;
}

/** Runs `ss` for TCP sockets with `port` as either end. Needs --allow-run=ss. */
export async function querySockets(port: number): Promise<SocketState[]> {
  const out = await new Deno.Command("ss", {
    args: ["-tnoH", "state", "all", `( sport = :${port} or dport = :${port} )`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`ss failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return parseSs(new TextDecoder().decode(out.stdout));
}
