/**
 * Runs ss, in tcpka's own network namespace or in a process's (`nsenter --net=/proc/P/ns/net`, so
 * a container's or pod's connections are seen from the host), and parses its output as it streams.
 */
import { RuntimeError, UsageError } from "../errors.ts";
import { spawnTool } from "../netns/run.ts";
import {
  impliedState,
  type ListedSocket,
  type ListingQuery,
  ssArgs,
  SsListingParser,
} from "./listing.ts";

/** Which network namespace was read, for the user. */
export interface NamespaceRead {
  /** null: tcpka's own. */
  pid: number | null;
  /** The name `ip netns` knows it by, if any. */
  name: string | null;
  /** Why the process's namespace could not be entered (tcpka's own was read instead). */
  fallback?: string;
}

export interface Listing {
  sockets: ListedSocket[];
  namespace: NamespaceRead;
}

type OnSocket = ((socket: ListedSocket) => void) | null;

/**
 * Lists sockets matching `query`; with `netnsOf`, inside that process's network namespace. Throws
 * one-line errors: ss missing, the process unknown. `onSocket` sees each socket as soon as ss has
 * printed it, so work on it overlaps with ss's own; if it throws, ss is stopped.
 */
export async function listSockets(
  query: ListingQuery,
  netnsOf?: number,
  onSocket: OnSocket = null,
): Promise<Listing> {
  if (netnsOf === undefined) {
    return { sockets: await runSs([], query, onSocket), namespace: { pid: null, name: null } };
  }
  const name = namespaceName(netnsOf);
  try {
    const sockets = await runSs(["nsenter", `--net=/proc/${netnsOf}/ns/net`], query, onSocket);
    return { sockets, namespace: { pid: netnsOf, name: await name } };
  } catch (err) {
    if (!(err instanceof NamespaceDenied)) throw err;
    // A plain user may not enter another namespace; its own is often the same one.
    return {
      sockets: await runSs([], query, onSocket),
      namespace: {
        pid: null,
        name: null,
        fallback: `cannot enter pid ${netnsOf}'s network namespace (${err.message}: needs root ` +
          `or CAP_SYS_ADMIN); read tcpka's own namespace instead`,
      },
    };
  }
}

class NamespaceDenied extends Error {}

async function runSs(
  prefix: string[],
  query: ListingQuery,
  onSocket: OnSocket,
): Promise<ListedSocket[]> {
  const child = spawnTool([...prefix, "ss", ...ssArgs(query)]);
  const parser = new SsListingParser(impliedState(query), onSocket);
  const stderr = new Response(child.stderr).text();
  let sockets: ListedSocket[];
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) parser.push(chunk);
    sockets = parser.end();
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await stderr;
    throw err;
  }
  const status = await child.status;
  if (status.success) return sockets;
  const why = (await stderr).trim().split("\n")[0] ?? "";
  if (prefix[0] === "nsenter") {
    const pid = /\/proc\/(\d+)\//.exec(prefix[1])?.[1];
    if (/failed to execute/.test(why)) {
      throw new RuntimeError("ss is not installed (Debian/Ubuntu: apt-get install iproute2)");
    }
    if (/No such file/.test(why)) throw new RuntimeError(`no process with pid ${pid}`);
    if (/Operation not permitted|Permission denied/.test(why)) {
      throw new NamespaceDenied("Operation not permitted");
    }
  }
  if (/Unknown|Cannot|syntax/i.test(why)) throw new UsageError(`ss refused the filter: ${why}`);
  throw new RuntimeError(`ss failed: ${why || `exit ${status.code}`}`);
}

/** The `ip netns` name of `pid`'s network namespace, or null (unnamed, or ip unavailable). */
async function namespaceName(pid: number): Promise<string | null> {
  try {
    const out = await new Deno.Command("ip", {
      args: ["netns", "identify", String(pid)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const name = new TextDecoder().decode(out.stdout).trim().split("\n")[0];
    return out.success && name ? name : null;
  } catch {
    return null;
  }
}
