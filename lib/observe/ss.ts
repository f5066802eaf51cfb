/**
 * The kernel's own view of TCP sockets, from `ss -tnoiH` (iproute2): state, endpoints, the running
 * timer (e.g. `timer:(keepalive,1.976ms,0)`) and segment counters. Works for any process's sockets
 * without root, and without reading /proc (which Deno only allows with --allow-all).
 */

export interface SocketTimer {
  /** on (retransmit), keepalive, timewait, persist, unknown. */
  name: string;
  /** Time until the timer fires. */
  ms: number;
  /** For keepalive: probes sent and not yet answered (icsk_probes_out). */
  count: number;
}

export interface SocketState {
  state: string;
  /** Bytes received and not yet read by the application (ss's Recv-Q). */
  recvQ: number;
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
  timer: SocketTimer | null;
  /** From `-i`: segments sent/received in total and with data; ms since the last ACK arrived. */
  segsOut: number;
  segsIn: number;
  dataSegsOut: number;
  dataSegsIn: number;
  lastAckMs: number | null;
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

/** "127.0.0.1:80", "[::1]:80", "127.0.0.53%lo:53", "0.0.0.0:*" → address and port (0 for *). */
export function splitEndpoint(text: string): [string, number] {
  // No regular expressions: inspect splits two of these per socket, for tens of thousands.
  const i = text.lastIndexOf(":");
  let host = text.slice(0, i);
  if (host.charCodeAt(0) === 91 /* [ */ && host.charCodeAt(host.length - 1) === 93 /* ] */) {
    host = host.slice(1, -1);
  }
  const zone = host.indexOf("%");
  if (zone >= 0) host = host.slice(0, zone);
  const port = Number(text.slice(i + 1));
  return [host, Number.isInteger(port) ? port : 0];
}

function counter(info: string, name: string): number {
  const m = new RegExp(`(?:^|\\s)${name}:(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

/** Parses `ss -tnoH` output, with or without `-i` (whose details follow on indented lines). */
export function parseSs(output: string): SocketState[] {
  const sockets: SocketState[] = [];
  let info = "";
  const finish = () => {
    const last = sockets.at(-1);
    if (!last || !info) return;
    last.segsOut = counter(info, "segs_out");
    last.segsIn = counter(info, "segs_in");
    last.dataSegsOut = counter(info, "data_segs_out");
    last.dataSegsIn = counter(info, "data_segs_in");
    // ss prints lastack only when it is not 0: absent from a details line means "this jiffy".
    last.lastAckMs = counter(info, "lastack");
    info = "";
  };
  for (const line of output.split("\n")) {
    if (/^\s/.test(line)) {
      info += " " + line.trim();
      continue;
    }
    finish();
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^[A-Z][A-Z0-9-]*$/.test(fields[0])) continue;
    const [state, recvQText, , localText, peerText] = fields;
    const [local, localPort] = splitEndpoint(localText);
    const [peer, peerPort] = splitEndpoint(peerText);
    const t = /timer:\(([a-z_]+),([^,]+),(\d+)\)/.exec(line);
    const ms = t ? parseSsTimer(t[2]) : null;
    sockets.push({
      state,
      recvQ: Number(recvQText) || 0,
      local,
      localPort,
      peer,
      peerPort,
      timer: t && ms !== null ? { name: t[1], ms, count: Number(t[3]) } : null,
      segsOut: 0,
      segsIn: 0,
      dataSegsOut: 0,
      dataSegsIn: 0,
      lastAckMs: null,
    });
  }
  finish();
  return sockets;
}

/**
 * Runs `ss` for TCP sockets with `port` as either end. Needs --allow-run=ss. `prefix` runs it
 * elsewhere, e.g. `["ip", "netns", "exec", NAME]` for a network namespace.
 */
export async function querySockets(port: number, prefix: string[] = []): Promise<SocketState[]> {
  const argv = [
    ...prefix,
    "ss",
    "-tnoiH",
    "state",
    "all",
    `( sport = :${port} or dport = :${port} )`,
  ];
  let out: Deno.CommandOutput;
  try {
    // Not a tracked child (lib/process would import back into this layer): ss ends in milliseconds.
    out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error("ss is not installed (Debian/Ubuntu: apt-get install iproute2)");
    }
    throw err;
  }
  if (!out.success) {
    throw new Error(`ss failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return parseSs(new TextDecoder().decode(out.stdout));
}
