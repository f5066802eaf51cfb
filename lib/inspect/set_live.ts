/**
 * `set --pid`: give a running process's connections keep-alive without restarting it. Each socket
 * is reached through a copy of the process's descriptor, checked to be the connection that was
 * listed (a mismatch is skipped and reported, never touched), changed, read back, and the copy
 * closed. Nothing else is done to the socket: no close, shutdown or write on the target's own.
 */
import { RuntimeError, UsageError } from "../errors.ts";
import type { ProcessAccessError, ProcessDescriptors, Sockets } from "../socket/mod.ts";
import { explainProcessError, isProcessError, openProcessChecked } from "./access.ts";
import { listSockets, type NamespaceRead } from "./enumerate.ts";
import { copySocket, type OptionChange, type SocketOptionsRead } from "./socket_copy.ts";
import type { ListedSocket, ListingQuery } from "./listing.ts";

export interface SetOptions {
  pid: number;
  query: ListingQuery;
  change: OptionChange;
  dryRun: boolean;
}

export type SetOutcome = "changed" | "unchanged" | "would-change" | "skipped" | "failed";

export interface SetResult {
  socket: ListedSocket;
  fd: number;
  outcome: SetOutcome;
  before: SocketOptionsRead | null;
  after: SocketOptionsRead | null;
  /** The socket now holds every value asked for. */
  holds: boolean;
  /** Why it was skipped or failed. */
  why?: string;
}

export interface SetReport {
  time: number;
  pid: number;
  command: string | null;
  namespace: NamespaceRead;
  change: OptionChange;
  dryRun: boolean;
  results: SetResult[];
}

/** Throws one-line errors: unknown pid, no permission, old kernel, process gone mid-run. */
export async function setKeepAlive(
  options: SetOptions,
  sockets: Sockets | null,
  noForeign: string,
): Promise<SetReport> {
  if (!sockets) throw new UsageError(`set: ${noForeign}`);
  const { pid } = options;
  const process = await openChecked(sockets, pid);
  try {
    const listing = await listSockets(options.query, pid);
    const results = setListed(sockets, process, listing.sockets, options);
    return {
      time: Date.now(),
      pid,
      command: listing.sockets.flatMap((s) => s.owners).find((o) => o.pid === pid)?.command ??
        null,
      namespace: listing.namespace,
      change: options.change,
      dryRun: options.dryRun,
      results,
    };
  } finally {
    process.close();
  }
}

/**
 * Sets the options on every listed socket `process` owns. The listing may be stale by now (the
 * process may have closed or reused a descriptor): each copy is checked before it is touched.
 */
export function setListed(
  sockets: Sockets,
  process: ProcessDescriptors,
  listed: ListedSocket[],
  options: SetOptions,
): SetResult[] {
  const mine = listed.flatMap((socket) => {
    const owner = socket.owners.find((o) => o.pid === process.pid);
    return owner ? [{ socket, owner }] : [];
  });
  const results: SetResult[] = [];
  for (const { socket, owner } of mine) {
    try {
      results.push(setOne(sockets, process, socket, owner.fd, options));
    } catch (err) {
      if (isProcessError(err, "exited")) {
        throw new RuntimeError(
          `process ${process.pid} exited while its sockets were being set (${results.length} of ` +
            `${mine.length} done)`,
        );
      }
      throw err;
    }
  }
  return results;
}

/** Opens `pid` and checks this process may copy its descriptors; throws one-line errors. */
export async function openChecked(sockets: Sockets, pid: number): Promise<ProcessDescriptors> {
  try {
    return openProcessChecked(sockets, pid);
  } catch (err) {
    if (!isProcessError(err)) throw err;
    const e = err as ProcessAccessError;
    if (e.failure === "exited") throw new RuntimeError(`no process with pid ${pid}`);
    const line = await explainProcessError(e, pid);
    if (e.failure === "denied") throw new UsageError(line);
    throw new RuntimeError(line);
  }
}

function setOne(
  sockets: Sockets,
  process: ProcessDescriptors,
  socket: ListedSocket,
  fd: number,
  options: SetOptions,
): SetResult {
  const base = { socket, fd, before: null, after: null, holds: false };
  const copy = copySocket(sockets, process, fd, socket);
  if (!copy) {
    return { ...base, outcome: "skipped", why: `descriptor ${fd} was closed since it was listed` };
  }
  try {
    if (!copy.isListed()) {
      return {
        ...base,
        outcome: "skipped",
        why: `descriptor ${fd} now holds another socket (reused since it was listed): not touched`,
      };
    }
    let before: SocketOptionsRead;
    try {
      before = copy.read();
    } catch (err) {
      return { ...base, outcome: "failed", why: (err as Error).message };
    }
    if (options.dryRun) {
      const holds = satisfies(before, options.change);
      return { ...base, before, holds, outcome: holds ? "unchanged" : "would-change" };
    }
    let after: SocketOptionsRead;
    try {
      copy.apply(options.change);
      after = copy.read();
    } catch (err) {
      // Part of the change may be in force: read back what is, if the socket still answers.
      let partial: SocketOptionsRead | null = null;
      try {
        partial = copy.read();
      } catch { /* it does not */ }
      return { ...base, before, after: partial, outcome: "failed", why: (err as Error).message };
    }
    return {
      ...base,
      before,
      after,
      holds: satisfies(after, options.change),
      outcome: same(before, after) ? "unchanged" : "changed",
    };
  } finally {
    copy.close();
  }
}

/** Every value `change` names is what the socket holds. */
export function satisfies(read: SocketOptionsRead, change: OptionChange): boolean {
  return (change.enabled === undefined || read.enabled === change.enabled) &&
    (change.idleMs === undefined || read.values.idleMs === change.idleMs) &&
    (change.intervalMs === undefined || read.values.intervalMs === change.intervalMs) &&
    (change.count === undefined || read.values.count === change.count) &&
    (change.userTimeoutMs === undefined || read.userTimeoutMs === change.userTimeoutMs);
}

function same(a: SocketOptionsRead, b: SocketOptionsRead): boolean {
  return a.enabled === b.enabled && a.values.idleMs === b.values.idleMs &&
    a.values.intervalMs === b.values.intervalMs && a.values.count === b.values.count &&
    a.userTimeoutMs === b.userTimeoutMs;
}

/** Exit 0 when every matching socket holds the values asked for (a dry run: when none failed). */
export function setExitCode(report: SetReport): number {
  if (report.results.length === 0) return 1;
  if (report.dryRun) return report.results.some((r) => r.outcome === "skipped") ? 1 : 0;
  return report.results.every((r) => r.holds) ? 0 : 1;
}
