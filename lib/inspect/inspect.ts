/**
 * `inspect`: list the connections, read each one's keep-alive from the socket itself where this
 * process may (a copy of the owner's descriptor), infer it from ss where it may not, and judge
 * each against a path idle timeout. Each socket is read as soon as ss has printed it, so the
 * reading overlaps ss's own work instead of following it.
 */
import { RuntimeError, UsageError } from "../errors.ts";
import { readSystemDefaults } from "../keepalive/system_defaults.ts";
import type { KeepAliveValues } from "../keepalive/settings.ts";
import type { ProcessAccessError, ProcessDescriptors, Sockets } from "../socket/mod.ts";
import { explainProcessError, isProcessError, openProcessChecked } from "./access.ts";
import { listSockets, type NamespaceRead } from "./enumerate.ts";
import { matchOwners, readSocketTable } from "./owner_scan.ts";
import { adoptCopy, copySocket, type SocketCopy } from "./socket_copy.ts";
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

/** Why a socket has no owner: to root, none holds it; to anyone else, it may be hidden. */
function noOwnerReason(): string {
  return Deno.uid() === 0
    ? "no process holds it (time-wait, orphaned, or not yet accepted)"
    : "owner not visible to this user (ss -p shows other users' processes only to root)";
}

/** `sockets` null: this process cannot copy descriptors at all (`noSockets` says why). */
export async function inspectConnections(
  options: InspectOptions,
  sockets: Sockets | null,
  noSockets = "reading sockets needs --allow-ffi",
): Promise<InspectReport> {
  const defaults = readSystemDefaults("linux");
  // As root every socket's TCP_INFO is read through its copy, so ss need not print it.
  const readsActivity = sockets !== null && Deno.uid() === 0;
  const scanned = readsActivity && sockets.platform.soCookie !== null
    ? await scanAndRead(options, sockets)
    : null;
  const reader = sockets && !scanned ? new LiveReader(sockets, readsActivity) : null;
  const query = { ...options.query, details: !readsActivity };
  let connections: InspectedConnection[] = [];
  let namespace;
  if (scanned) ({ connections, namespace } = scanned);
  else {
    try {
      const listing = await listSockets(query, options.pid, (socket) => {
        const owner = ownerOf(socket, options.pid);
        if (options.pid !== undefined && owner === null) return;
        const keepalive = (owner && reader?.read(socket, owner)) ?? PENDING;
        connections.push({ socket, owner, keepalive, idleMs: idleOf(socket), verdict: null });
      });
      namespace = listing.namespace;
    } finally {
      reader?.close();
    }
  }
  if (options.pid !== undefined) {
    const failure = reader?.failureOf(options.pid);
    if (failure && isProcessError(failure, "exited")) {
      throw new RuntimeError(`process ${options.pid} exited while being inspected`);
    }
    if (connections.length === 0 && sockets) await refuseIfDenied(sockets, options.pid);
  }
  const groups = groupByOwner(connections);
  for (const group of groups) {
    const failure = group.pid === null
      ? null
      : scanned
      ? scanned.refused.get(group.pid)
      : reader?.failureOf(group.pid);
    const note = group.pid === null
      ? noOwnerReason()
      : !reader && !scanned
      ? noSockets
      : failure
      ? (isProcessError(failure, "exited")
        ? "exited while being inspected"
        : await explainProcessError(failure, group.pid))
      : null;
    if (note) group.note = note;
    for (const c of group.connections) {
      if (c.keepalive === PENDING) c.keepalive = inferReading(c.socket, note ?? "not read");
    }
  }
  const systemDefaults = (await defaults).values;
  if (options.pathTimeoutMs !== null) {
    for (const group of groups) {
      for (const c of group.connections) {
        c.verdict = verdictFor(c, options.pathTimeoutMs, systemDefaults);
      }
      group.connections.sort(compareByRisk);
    }
    groups.sort((a, b) => worstRisk(a.connections) - worstRisk(b.connections));
  }
  return {
    time: Date.now(),
    namespace: namespace!,
    access: accessSummary(groups),
    pathTimeoutMs: options.pathTimeoutMs,
    groups,
    systemDefaults,
  };
}

/**
 * Root's way: ss lists the sockets without owners (fast: no /proc scan) while owner_scan.ts reads
 * the descriptor tables; each listed socket is then copied, proved by its cookie, and read. Null when ss
 * prints no cookies (then ss -p's owners and the copy-by-number way are used).
 */
async function scanAndRead(
  options: InspectOptions,
  sockets: Sockets,
): Promise<Scanned | null> {
  // ss starts now; the descriptor tables are read while it lists (it is another process).
  const listingDone = listSockets({ ...options.query, details: false, owners: false }, options.pid);
  const pids = options.pid === undefined ? sockets.processIds() : [options.pid];
  const table = readSocketTable(sockets, pids);
  let listing;
  try {
    listing = await listingDone;
  } catch (err) {
    for (const p of table.processes) p.process.close();
    throw err;
  }
  if (listing.sockets.some((s) => s.cookie === null)) {
    for (const p of table.processes) p.process.close();
    return null; // an ss without cookies: the descriptors cannot be proved to be the sockets
  }
  const readings = new Map<ListedSocket, KeepAliveReading>();
  const scan = matchOwners(
    sockets,
    table,
    listing.sockets,
    (socket, owner, handle) => {
      readings.set(socket, readListed(adoptCopy(sockets, handle, owner.fd, socket), socket, true));
    },
    (socket, why) => readings.set(socket, inferReading(socket, why)),
  );
  if (options.pid !== undefined && scan.exited.includes(options.pid)) {
    throw new RuntimeError(`process ${options.pid} exited while being inspected`);
  }

  const connections: InspectedConnection[] = [];
  for (const socket of listing.sockets) {
    const owner = ownerOf(socket, options.pid);
    if (options.pid !== undefined && owner === null) continue;
    const keepalive = readings.get(socket) ?? PENDING;
    connections.push({ socket, owner, keepalive, idleMs: idleOf(socket), verdict: null });
  }
  return { connections, namespace: listing.namespace, refused: scan.refused };
}

interface Scanned {
  connections: InspectedConnection[];
  namespace: NamespaceRead;
  /** Processes whose descriptors could not be copied, and why (their values are inferred). */
  refused: Map<number, ProcessAccessError>;
}

function ownerOf(socket: ListedSocket, pid?: number): Owner | null {
  return pid === undefined
    ? socket.owners[0] ?? null
    : socket.owners.find((o) => o.pid === pid) ?? null;
}

function groupByOwner(connections: InspectedConnection[]): ProcessGroup[] {
  const byPid = new Map<number | null, ProcessGroup>();
  for (const c of connections) {
    const key = c.owner?.pid ?? null;
    let group = byPid.get(key);
    if (!group) {
      const command = c.owner?.command ??
        (Deno.uid() === 0 ? "(no process)" : "(owner not visible)");
      group = { pid: key, command, connections: [] };
      byPid.set(key, group);
    }
    group.connections.push(c);
  }
  const groups = [...byPid.values()];
  for (const g of groups) g.connections.sort((a, b) => (a.owner?.fd ?? 0) - (b.owner?.fd ?? 0));
  // Visible processes by pid; the invisible ones last.
  return groups.sort((a, b) => (a.pid ?? Infinity) - (b.pid ?? Infinity));
}

const NO_VALUES: KeepAliveValues = { idleMs: null, intervalMs: null, count: null };
/** Not read (yet): filled in from ss's view once the reason is known. */
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

/**
 * Reads sockets through copies of their owners' descriptors, one process handle per pid, opened
 * on first use. A process that refuses (or exits) is remembered, and its sockets are not read.
 */
class LiveReader {
  readonly #sockets: Sockets;
  readonly #activity: boolean;
  readonly #processes = new Map<number, ProcessDescriptors | ProcessAccessError>();

  /** `activity`: also fill in each socket's idle times from its TCP_INFO (ss was run without -i). */
  constructor(sockets: Sockets, activity: boolean) {
    this.#sockets = sockets;
    this.#activity = activity;
  }

  /** The socket's keep-alive, or null when its process cannot be read (see failureOf). */
  read(socket: ListedSocket, owner: Owner): KeepAliveReading | null {
    let process = this.#processes.get(owner.pid);
    if (process === undefined) {
      try {
        process = openProcessChecked(this.#sockets, owner.pid);
      } catch (err) {
        if (!isProcessError(err)) throw err;
        process = err as ProcessAccessError;
      }
      this.#processes.set(owner.pid, process);
    }
    if (!("copy" in process)) return null;
    try {
      return readOne(this.#sockets, process, owner.fd, socket, this.#activity);
    } catch (err) {
      if (!isProcessError(err)) throw err;
      process.close();
      this.#processes.set(owner.pid, err as ProcessAccessError);
      return null;
    }
  }

  failureOf(pid: number): ProcessAccessError | null {
    const process = this.#processes.get(pid);
    return process && !("copy" in process) ? process : null;
  }

  close(): void {
    for (const process of this.#processes.values()) if ("copy" in process) process.close();
  }
}

/**
 * One socket through a copy of its descriptor. A descriptor closed or reused since ss listed it
 * is not read: the listing's own view stands, marked inferred, with the reason.
 */
function readOne(
  sockets: Sockets,
  process: ProcessDescriptors,
  fd: number,
  socket: ListedSocket,
  activity: boolean,
): KeepAliveReading {
  const copy = copySocket(sockets, process, fd, socket);
  if (!copy) return inferReading(socket, `descriptor ${fd} was closed since it was listed`);
  try {
    if (!copy.isListed()) {
      return inferReading(socket, `descriptor ${fd} now holds another socket (reused)`);
    }
    return readListed(copy, socket, activity);
  } finally {
    copy.close();
  }
}

/** Keep-alive (and, with `activity`, TCP_INFO's idle times) from a copy known to be `socket`. */
function readListed(copy: SocketCopy, socket: ListedSocket, activity: boolean): KeepAliveReading {
  let read;
  try {
    read = copy.read();
    if (activity) copy.readActivity(socket);
  } catch (err) {
    // The socket refused an option (it changed state under us): say so, keep going.
    return inferReading(socket, (err as Error).message);
  }
  return {
    source: "socket",
    enabled: read.enabled,
    values: read.values,
    userTimeoutMs: read.userTimeoutMs,
  };
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
