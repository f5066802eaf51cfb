/**
 * `inspect`: list the connections, read each one's keep-alive from the socket itself where this
 * process may (a copy of the owner's descriptor), infer it from ss where it may not, and judge
 * each against a path idle timeout.
 */
import { RuntimeError, UsageError } from "../cli/errors.ts";
import { readSystemDefaults } from "../keepalive/system_defaults.ts";
import type { KeepAliveValues } from "../keepalive/settings.ts";
import type { ProcessAccessError, ProcessDescriptors, Sockets } from "../socket/mod.ts";
import { explainProcessError, isProcessError, openProcessChecked } from "./access.ts";
import { listSockets } from "./enumerate.ts";
import { copySocket } from "./foreign.ts";
import type { ListedSocket, ListingQuery, Owner } from "./listing.ts";
import {
  idleOf,
  inferReading,
  type InspectedConnection,
  type InspectReport,
  type KeepAliveReading,
  type ProcessGroup,
} from "./model.ts";
import { compareByRisk, verdictFor, worstRisk } from "./verdict.ts";

export interface InspectOptions {
  query: ListingQuery;
  /** Only this process's connections, read in its network namespace. */
  pid?: number;
  pathTimeoutMs: number | null;
}

/** `sockets` null: this process cannot copy descriptors at all (`noForeign` says why). */
export async function inspectConnections(
  options: InspectOptions,
  sockets: Sockets | null,
  noForeign = "reading sockets needs --allow-ffi",
): Promise<InspectReport> {
  const [listing, defaults] = await Promise.all([
    listSockets(options.query, options.pid),
    readSystemDefaults("linux"),
  ]);
  const groups = groupByOwner(listing.sockets, options.pid);
  if (options.pid !== undefined && groups.length === 0 && sockets) {
    await refuseIfDenied(sockets, options.pid);
  }
  for (const group of groups) {
    const why = group.pid === null
      ? "owner not visible to this user (ss -p shows other users' processes only to root)"
      : sockets
      ? null
      : noForeign;
    if (why !== null || group.pid === null) {
      group.note = why ?? undefined;
      for (const c of group.connections) c.keepalive = inferReading(c.socket, why!);
      continue;
    }
    await readGroup(group, group.pid, sockets!, options.pid !== undefined);
  }
  if (options.pathTimeoutMs !== null) {
    for (const group of groups) {
      for (const c of group.connections) {
        c.verdict = verdictFor(c, options.pathTimeoutMs, defaults.values);
      }
      group.connections.sort(compareByRisk);
    }
    groups.sort((a, b) => worstRisk(a.connections) - worstRisk(b.connections));
  }
  return {
    time: Date.now(),
    namespace: listing.namespace,
    access: accessSummary(groups),
    pathTimeoutMs: options.pathTimeoutMs,
    groups,
    systemDefaults: defaults.values,
  };
}

function groupByOwner(sockets: ListedSocket[], pid?: number): ProcessGroup[] {
  const byPid = new Map<number | null, ProcessGroup>();
  for (const socket of sockets) {
    const owner: Owner | null = pid === undefined
      ? socket.owners[0] ?? null
      : socket.owners.find((o) => o.pid === pid) ?? null;
    if (pid !== undefined && owner === null) continue;
    const key = owner?.pid ?? null;
    let group = byPid.get(key);
    if (!group) {
      group = { pid: key, command: owner?.command ?? "(owner not visible)", connections: [] };
      byPid.set(key, group);
    }
    group.connections.push({
      socket,
      owner,
      keepalive: PENDING,
      idleMs: idleOf(socket),
      verdict: null,
    });
  }
  const groups = [...byPid.values()];
  for (const g of groups) g.connections.sort((a, b) => (a.owner?.fd ?? 0) - (b.owner?.fd ?? 0));
  // Visible processes by pid; the invisible ones last.
  return groups.sort((a, b) => (a.pid ?? Infinity) - (b.pid ?? Infinity));
}

const NO_VALUES: KeepAliveValues = { idleMs: null, intervalMs: null, count: null };
const PENDING: KeepAliveReading = {
  source: "inferred",
  enabled: null,
  values: NO_VALUES,
  userTimeoutMs: null,
};

async function refuseIfDenied(sockets: Sockets, pid: number): Promise<void> {
  try {
    openProcessChecked(sockets, pid).close();
  } catch (err) {
    if (!isProcessError(err)) throw err;
    const line = await explainProcessError(err as ProcessAccessError, pid);
    if (isProcessError(err, "exited")) throw new RuntimeError(line);
    throw new UsageError(`${line}; and ss shows no sockets of pid ${pid} to this user`);
  }
}

/** Reads every connection of one process; on refusal, infers them all and says why once. */
async function readGroup(
  group: ProcessGroup,
  pid: number,
  sockets: Sockets,
  onlyThisPid: boolean,
): Promise<void> {
  let process: ProcessDescriptors | null = null;
  try {
    process = openProcessChecked(sockets, pid);
    for (const c of group.connections) c.keepalive = readOne(sockets, process, c);
  } catch (err) {
    if (!isProcessError(err)) throw err;
    if (isProcessError(err, "exited") && onlyThisPid) {
      throw new RuntimeError(`process ${pid} exited while being inspected`);
    }
    group.note = isProcessError(err, "exited")
      ? "exited while being inspected"
      : await explainProcessError(err as ProcessAccessError, pid);
    for (const c of group.connections) {
      if (c.keepalive === PENDING) c.keepalive = inferReading(c.socket, group.note);
    }
  } finally {
    process?.close();
  }
}

/**
 * One connection through a copy of its descriptor. A descriptor closed or reused since ss listed
 * it is not read: the listing's own view stands, marked inferred, with the reason.
 */
function readOne(
  sockets: Sockets,
  process: ProcessDescriptors,
  c: InspectedConnection,
): KeepAliveReading {
  const fd = c.owner!.fd;
  const copy = copySocket(sockets, process, fd, c.socket);
  if (!copy) return inferReading(c.socket, `descriptor ${fd} was closed since it was listed`);
  try {
    if (!copy.isListed()) {
      return inferReading(c.socket, `descriptor ${fd} now holds another socket (reused)`);
    }
    const read = copy.read();
    return {
      source: "socket",
      enabled: read.enabled,
      values: read.values,
      userTimeoutMs: read.userTimeoutMs,
    };
  } finally {
    copy.close();
  }
}

function accessSummary(groups: ProcessGroup[]): InspectReport["access"] {
  let socket = 0, inferred = 0;
  for (const g of groups) {
    for (const c of g.connections) c.keepalive.source === "socket" ? socket++ : inferred++;
  }
  const source = inferred === 0 ? "socket" : socket === 0 ? "inferred" : "mixed";
  const notes = [...new Set(groups.map((g) => g.note).filter((n): n is string => !!n))];
  return { source, ...(notes.length ? { note: notes.join("; ") } : {}) };
}
