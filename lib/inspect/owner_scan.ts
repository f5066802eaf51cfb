/**
 * The owners of listed sockets, found by tcpka itself (root, Linux): every process's descriptors
 * (/proc/PID/fd, listed through libc) are copied with pidfd_getfd and matched to the listing by
 * socket cookie (SO_COOKIE, ss -e's "sk:"). This replaces `ss -p`, whose own /proc scan (a
 * readlink per descriptor) took most of inspect's time and came before its first line of output.
 * Each socket is read on the very copy that identified it: a cookie names one socket for its
 * whole life, so no second copy and no address check are needed, and no reuse race exists.
 */
import { ProcessAccessError, type ProcessDescriptors, type Sockets } from "../socket/mod.ts";
import type { ListedSocket, Owner } from "./listing.ts";

export interface OwnerScan {
  /**
   * Processes that refused the copy (Yama's ptrace_scope, an LSM), and why. Their sockets still
   * get their owners where /proc/PID/fd's links may be read (as ss -p does), but are not read.
   */
  refused: Map<number, ProcessAccessError>;
  /** Processes that exited while being scanned. */
  exited: number[];
}

/**
 * Adds every owner among `pids` to the sockets of `byCookie` (in descriptor order), and calls
 * `onFirstOwner` with a copy of the socket for the first one found; the copy is closed after.
 */
export function scanOwners(
  sockets: Sockets,
  pids: number[],
  byCookie: Map<number, ListedSocket>,
  onFirstOwner: (socket: ListedSocket, owner: Owner, handle: number) => void,
): OwnerScan {
  const scan: OwnerScan = { refused: new Map(), exited: [] };
  let byInode: Map<number, ListedSocket> | null = null;
  const refused = (process: ProcessDescriptors, err: ProcessAccessError) => {
    scan.refused.set(process.pid, err);
    byInode ??= new Map([...byCookie.values()].map((s) => [s.inode, s]));
    let command: string | null = null;
    for (const [fd, inode] of process.socketInodes()) {
      const socket = byInode.get(inode);
      if (!socket) continue;
      command ??= sockets.processCommand(process.pid) ?? "?";
      socket.owners.push({ command, pid: process.pid, fd });
    }
  };
  for (const pid of pids) {
    if (pid === Deno.pid) continue; // our own descriptors are copies being made
    let process;
    try {
      process = sockets.openProcess(pid);
    } catch (err) {
      if (!(err instanceof ProcessAccessError)) throw err;
      if (err.failure === "exited") scan.exited.push(pid);
      else scan.refused.set(pid, err);
      continue;
    }
    let command: string | null = null;
    try {
      for (const fd of process.list()) {
        let handle;
        try {
          handle = process.copy(fd);
        } catch (err) {
          if (!(err instanceof ProcessAccessError)) throw err;
          if (err.failure === "closed") continue; // closed since it was listed
          if (err.failure === "exited") scan.exited.push(pid);
          else refused(process, err);
          break;
        }
        try {
          const cookie = sockets.socketCookie(handle);
          const socket = cookie === null ? undefined : byCookie.get(cookie);
          if (!socket) continue;
          command ??= sockets.processCommand(pid) ?? "?";
          const owner = { command, pid, fd };
          socket.owners.push(owner);
          if (socket.owners.length === 1) onFirstOwner(socket, owner, handle);
        } finally {
          sockets.closeHandle(handle);
        }
      }
    } finally {
      process.close();
    }
  }
  return scan;
}
