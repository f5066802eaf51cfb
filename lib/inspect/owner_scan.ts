/**
 * The owners of listed sockets, found by tcpka itself (root, Linux), instead of by `ss -p`, whose
 * /proc scan took most of inspect's time and came before its first line of output. Here the scan
 * (readlink of /proc/PID/fd/N, keeping "socket:[inode]", as ss does) runs while ss lists the
 * sockets, and each listed socket is then copied once with pidfd_getfd, checked to be the listed
 * socket by its cookie (SO_COOKIE = ss -e's "sk:", unique for the socket's whole life, so a
 * descriptor reused in between is caught), and read on that copy. Only sockets are ever copied:
 * closing a copy of a file would flush it (NFS, FUSE), which is not ours to cause.
 */
import { ProcessAccessError, type ProcessDescriptors, type Sockets } from "../socket/mod.ts";
import type { ListedSocket, Owner } from "./listing.ts";

/** Every process's socket descriptors, as /proc shows them, before the listing is known. */
export interface SocketTable {
  processes: { process: ProcessDescriptors; sockets: [fd: number, inode: number][] }[];
  /** Processes that exited before they could be opened. */
  exited: number[];
}

export function readSocketTable(sockets: Sockets, pids: number[]): SocketTable {
  const table: SocketTable = { processes: [], exited: [] };
  for (const pid of pids) {
    if (pid === Deno.pid) continue; // our own descriptors are copies being made
    let process;
    try {
      process = sockets.openProcess(pid);
    } catch (err) {
      if (!(err instanceof ProcessAccessError)) throw err;
      table.exited.push(pid);
      continue;
    }
    const found = process.socketInodes();
    if (found.length) table.processes.push({ process, sockets: found });
    else process.close();
  }
  return table;
}

export interface OwnerScan {
  /** Processes that refused the copy (Yama's ptrace_scope, an LSM), and why: owned, not read. */
  refused: Map<number, ProcessAccessError>;
  /** Processes that exited while being read. */
  exited: number[];
}

/**
 * Adds each owner in `table` to its listed socket (matched by inode), and calls `onFirstOwner`
 * with a copy of the socket for the first owner found, once the copy's cookie has proved it is
 * the listed socket (the copy is closed after), or `onUnread` with why it could not be read.
 * Closes the table's processes.
 */
export function matchOwners(
  sockets: Sockets,
  table: SocketTable,
  listed: ListedSocket[],
  onFirstOwner: (socket: ListedSocket, owner: Owner, handle: number) => void,
  onUnread: (socket: ListedSocket, why: string) => void,
): OwnerScan {
  const scan: OwnerScan = { refused: new Map(), exited: [...table.exited] };
  const byInode = new Map<number, ListedSocket>();
  for (const s of listed) byInode.set(s.inode, s);
  for (const { process, sockets: found } of table.processes) {
    let command: string | null = null;
    let copying = true;
    try {
      for (const [fd, inode] of found) {
        const socket = byInode.get(inode);
        if (!socket) continue;
        command ??= sockets.processCommand(process.pid) ?? "?";
        const owner = { command, pid: process.pid, fd };
        socket.owners.push(owner);
        if (socket.owners.length > 1 || !copying) continue;
        let handle;
        try {
          handle = process.copy(fd);
        } catch (err) {
          if (!(err instanceof ProcessAccessError)) throw err;
          if (err.failure === "closed") {
            onUnread(socket, `descriptor ${fd} was closed since it was listed`);
            continue;
          }
          if (err.failure === "exited") scan.exited.push(process.pid);
          else scan.refused.set(process.pid, err);
          copying = false;
          continue;
        }
        try {
          // Closed and reused for another socket since the scan: not this one, left unread.
          if (sockets.socketCookie(handle) !== socket.cookie) {
            onUnread(socket, `descriptor ${fd} now holds another socket (reused)`);
            continue;
          }
          onFirstOwner(socket, owner, handle);
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
