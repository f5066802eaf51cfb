/**
 * A second opinion: tcpka's labels against Wireshark's (tshark's tcp.analysis.* fields) on the
 * same capture files, frame by frame, and the connections each counts (tcp.stream).
 *
 *   deno run --allow-read --allow-run scripts/tshark_compare.ts FILE...
 *
 * tcpka departs from Wireshark on purpose in three places (lib/flow/tracker.ts says why); those
 * frames are counted apart, by reason, not as mismatches:
 * - Linux's zero-window (persist) probes carry no data and seq = snd_una − 1, so Wireshark calls
 *   them (and their answers) keep-alive; tcpka, seeing the peer's window 0, zero-window probes.
 * - The first keep-alive ACK after a Linux handshake: Wireshark compares its window with the
 *   SYN's unscaled one and calls it a window update.
 * - A probe Wireshark cannot place (the capture started mid-connection, or missed the prober's
 *   own segments) but the peer's ACK of seq + 1 identifies, and that ACK.
 */
import { CaptureAnalyzer } from "../lib/capture/analyzer.ts";
import type { Label } from "../lib/flow/tracker.ts";

export interface TsharkFrame {
  stream: number;
  windowUpdate: boolean;
  dupAck: boolean;
  keepAlive: boolean;
  keepAliveAck: boolean;
  zeroWindowProbe: boolean;
  zeroWindowProbeAck: boolean;
}

const FIELDS = [
  "frame.number",
  "tcp.stream",
  "tcp.analysis.keep_alive",
  "tcp.analysis.keep_alive_ack",
  "tcp.analysis.zero_window_probe",
  "tcp.analysis.zero_window_probe_ack",
  "tcp.analysis.window_update",
  "tcp.analysis.duplicate_ack",
];

/** tshark's view of every TCP frame of `file`, by frame number. */
export async function tsharkFrames(file: string): Promise<Map<number, TsharkFrame>> {
  const args = ["-n", "-r", file, "-Y", "tcp", "-T", "fields", "-E", "separator=\t"];
  for (const f of FIELDS) args.push("-e", f);
  const out = await new Deno.Command("tshark", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`tshark -r ${file} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const frames = new Map<number, TsharkFrame>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line) continue;
    const [frame, stream, ka, kaAck, zwp, zwpAck, windowUpdate, dupAck] = line.split("\t");
    frames.set(Number(frame), {
      // Tunnelled frames can carry two TCP layers' fields: the first is the one that counts here.
      stream: Number(stream.split(",")[0]),
      keepAlive: ka !== "",
      keepAliveAck: kaAck !== "",
      zeroWindowProbe: zwp !== "",
      zeroWindowProbeAck: zwpAck !== "",
      windowUpdate: windowUpdate !== "",
      dupAck: dupAck !== "",
    });
  }
  return frames;
}

/** tcpka's label for every TCP frame of `file`, by frame number, and its connection count. */
export async function tcpkaFrames(
  file: string,
): Promise<{ labels: Map<number, Label>; connections: number; proven: Set<number> }> {
  const labels = new Map<number, Label>();
  const proven = new Set<number>();
  const analyzer = new CaptureAnalyzer((lp) => {
    labels.set(lp.packet.index + 1, lp.label);
    if (lp.relabel !== null) {
      labels.set(lp.relabel.index + 1, lp.relabel.to);
      proven.add(lp.relabel.index + 1).add(lp.packet.index + 1);
    }
  });
  const f = await Deno.open(file);
  const result = await analyzer.consume(f.readable);
  if (result.error) throw new Error(`${file}: ${result.error.message}`);
  return { labels, connections: result.connections, proven };
}

export interface Comparison {
  files: number;
  /** TCP frames each decoded. */
  packets: { tcpka: number; tshark: number };
  keepAlive: { tcpka: number; tshark: number; agree: number };
  keepAliveAck: { tcpka: number; tshark: number; agree: number };
  zeroWindowProbes: { tcpka: number; tshark: number };
  /** Frames Wireshark calls keep-alive that tcpka calls zero-window probes (see above). */
  zeroWindowCalledKeepAliveByTshark: number;
  /** The known differences (see above), frames by reason. */
  knownDifferences: Record<string, number>;
  connections: { tcpka: number; tshark: number };
  /** Every frame where the two disagree on keep-alive or its ACK, beyond the known difference. */
  mismatches: { file: string; frame: number; tcpka: Label | "missing"; tshark: string }[];
}

export function emptyComparison(): Comparison {
  return {
    files: 0,
    packets: { tcpka: 0, tshark: 0 },
    keepAlive: { tcpka: 0, tshark: 0, agree: 0 },
    keepAliveAck: { tcpka: 0, tshark: 0, agree: 0 },
    zeroWindowProbes: { tcpka: 0, tshark: 0 },
    zeroWindowCalledKeepAliveByTshark: 0,
    knownDifferences: {},
    connections: { tcpka: 0, tshark: 0 },
    mismatches: [],
  };
}

/** Adds `file` to `c`. */
export async function compareFile(file: string, c: Comparison): Promise<Comparison> {
  const theirs = await tsharkFrames(file);
  const ours = await tcpkaFrames(file);
  c.files++;
  c.packets.tcpka += ours.labels.size;
  c.packets.tshark += theirs.size;
  c.connections.tcpka += ours.connections;
  c.connections.tshark += new Set([...theirs.values()].map((f) => f.stream)).size;
  const known = (reason: string) => {
    c.knownDifferences[reason] = (c.knownDifferences[reason] ?? 0) + 1;
  };
  /** Streams whose last probe tcpka placed from the peer's ACK, Wireshark not at all. */
  const placedByPeerAck = new Set<number>();
  for (const [frame, t] of theirs) {
    const label = ours.labels.get(frame);
    if (label === "keepalive") c.keepAlive.tcpka++;
    if (label === "keepalive-ack") c.keepAliveAck.tcpka++;
    if (label === "zero-window-probe") c.zeroWindowProbes.tcpka++;
    if (t.keepAlive) c.keepAlive.tshark++;
    if (t.keepAliveAck) c.keepAliveAck.tshark++;
    if (t.zeroWindowProbe) c.zeroWindowProbes.tshark++;
    if (t.keepAlive && label === "keepalive") c.keepAlive.agree++;
    if (t.keepAliveAck && label === "keepalive-ack") c.keepAliveAck.agree++;
    if (t.keepAlive && label === "zero-window-probe") {
      c.zeroWindowCalledKeepAliveByTshark++;
      known("zero-window probe (Wireshark: keep-alive)");
      continue;
    }
    if (t.keepAliveAck && label === "zero-window-probe-ack") {
      known("zero-window ACK (Wireshark: keep-alive ACK)");
      continue;
    }
    if (label === "keepalive-ack" && t.windowUpdate) {
      known("first keep-alive ACK after the handshake (Wireshark: window update vs the SYN's)");
      continue;
    }
    if (label === "keepalive" && !t.keepAlive) {
      placedByPeerAck.add(t.stream);
      known("probe placed by the peer's ACK of seq + 1 (Wireshark: none or duplicate ACK)");
      continue;
    }
    if (label === "keepalive-ack" && !t.keepAliveAck && placedByPeerAck.has(t.stream)) {
      placedByPeerAck.delete(t.stream);
      known("the ACK of such a probe");
      continue;
    }
    if (ours.proven.has(frame) && !t.keepAlive && !t.keepAliveAck) {
      known("probe placed by the peer's ACK of seq + 1 (Wireshark: none or duplicate ACK)");
      continue;
    }
    const theirLabel = t.keepAlive
      ? "keep_alive"
      : t.keepAliveAck
      ? "keep_alive_ack"
      : t.zeroWindowProbe
      ? "zero_window_probe"
      : "";
    const agrees = (label === "keepalive") === t.keepAlive &&
      (label === "keepalive-ack") === t.keepAliveAck &&
      (!t.zeroWindowProbe || label === "zero-window-probe");
    if (!agrees) c.mismatches.push({ file, frame, tcpka: label ?? "missing", tshark: theirLabel });
  }
  return c;
}

if (import.meta.main) {
  const c = emptyComparison();
  for (const file of Deno.args) await compareFile(file, c);
  console.log(JSON.stringify({ ...c, mismatches: c.mismatches.length }, null, 2));
  for (const m of c.mismatches.slice(0, 50)) {
    console.log(`${m.file} frame ${m.frame}: tcpka ${m.tcpka}, tshark ${m.tshark || "(none)"}`);
  }
}
