/**
 * Waits for many idle sockets at once with one epoll instance (Linux, through FFI), instead of one
 * pending read per connection. A pending Deno read is an async op with its promise chain, a
 * generator and a buffer: measured at 10,000 connections it is about 3.4 KB of RSS per connection,
 * more than the connection itself (≈2.9 KB), and an error object per connection when we close it.
 * Watched here, an idle connection costs a kernel registration and a map entry; the read happens
 * only once the kernel says there is something to read (data, FIN, RST, a keep-alive timeout).
 *
 * Linux only (the platform table's `epoll` row); posix.ts offers it for the connections whose
 * descriptor it has located, and every other case keeps the plain pending read.
 */
import type { EpollEventLayout, EpollTable, PlatformTable } from "./platform.ts";
import { type Libc, libc } from "./libc.ts";
import type { ReadableWait } from "./types.ts";

const MAX_EVENTS = 512;
/** A safety net: the loop re-checks this often even if a wake-up were lost. */
const WAIT_MS = 1000;
/** Token of the eventfd that wakes epoll_wait when nothing is watched any more. */
const WAKE = 0;

/** The epoll functions, present wherever the table has an epoll row. */
interface EpollCalls {
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  epoll_wait(epfd: number, events: Uint8Array, max: number, timeoutMs: number): Promise<number>;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Uint8Array, count: bigint): number | bigint;
  write(fd: number, buf: Uint8Array, count: bigint): number | bigint;
}

class Watch implements ReadableWait {
  armed = false;
  cancelled = false;
  resolve: (() => void) | null = null;

  constructor(readonly watcher: Watcher, readonly fd: number, readonly token: number) {}

  next(): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      this.resolve = resolve;
      if (!this.watcher.arm(this)) this.fire(); // cannot watch: let the caller read at once
    });
  }

  fire(): void {
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.watcher.forget(this);
    this.fire();
  }
}

class Watcher {
  readonly #calls: EpollCalls;
  readonly #libc: Libc;
  readonly #table: EpollTable;
  readonly #eexist: number;
  readonly #eintr: number;
  /** ONESHOT: an event disarms the registration, so a socket is reported once per wait. */
  readonly #watchFlags: number;
  readonly #epoll: number;
  readonly #wake: number;
  readonly #waiting = new Map<number, Watch>();
  readonly #event: Uint8Array;
  readonly #eventView: DataView;
  readonly #layout: EpollEventLayout;
  readonly #events: Uint8Array;
  #nextToken = WAKE + 1;
  #running = false;
  #broken = false;

  constructor(c: Libc, table: EpollTable, errno: { eintr: number; eexist: number }) {
    const s = c.symbols;
    if (!s.epoll_create1 || !s.epoll_ctl || !s.epoll_wait || !s.eventfd) {
      throw new Error("this C library has no epoll");
    }
    this.#calls = {
      epoll_create1: s.epoll_create1,
      epoll_ctl: s.epoll_ctl,
      epoll_wait: s.epoll_wait,
      eventfd: s.eventfd,
      read: s.read,
      write: s.write,
    };
    this.#libc = c;
    this.#table = table;
    this.#eintr = errno.eintr;
    this.#eexist = errno.eexist;
    this.#watchFlags = table.in | table.rdhup | table.oneshot;
    this.#layout = table.event[Deno.build.arch];
    // Big enough for the 8-byte eventfd counter too.
    this.#event = new Uint8Array(Math.max(8, this.#layout.bytes));
    this.#eventView = new DataView(this.#event.buffer);
    this.#epoll = this.#calls.epoll_create1(table.cloexec);
    this.#wake = this.#calls.eventfd(0, table.cloexec | table.efdNonblock);
    if (this.#epoll < 0 || this.#wake < 0) throw new Error("epoll/eventfd unavailable");
    this.#events = new Uint8Array(this.#layout.bytes * MAX_EVENTS);
    if (!this.#ctl(table.ctlAdd, this.#wake, table.in, WAKE)) {
      throw new Error("cannot watch the wake-up eventfd");
    }
  }

  watch(fd: number): Watch {
    const token = this.#nextToken;
    this.#nextToken = token >= 0xffff_ffff ? WAKE + 1 : token + 1;
    return new Watch(this, fd, token);
  }

  /** Registers (or re-arms) `w`; false if the kernel refuses. */
  arm(w: Watch): boolean {
    if (this.#broken) return false;
    const { ctlAdd, ctlMod } = this.#table;
    let ok = this.#ctl(w.armed ? ctlMod : ctlAdd, w.fd, this.#watchFlags, w.token);
    // A registration of an earlier socket with this number can outlive it if its file is still
    // open elsewhere; take it over.
    if (!ok && !w.armed && this.#libc.errno() === this.#eexist) {
      ok = this.#ctl(ctlMod, w.fd, this.#watchFlags, w.token);
    }
    if (!ok) return false;
    w.armed = true;
    this.#waiting.set(w.token, w);
    if (!this.#running) this.#run();
    return true;
  }

  /**
   * Stops reporting `w`. Its registration is left to the kernel, which drops it when the socket
   * is closed: removing it by number could remove a newer socket that reused the number.
   */
  forget(w: Watch): void {
    if (this.#waiting.delete(w.token) && this.#waiting.size === 0) this.#poke();
  }

  async #run(): Promise<void> {
    this.#running = true;
    const events = this.#events;
    const view = new DataView(events.buffer);
    try {
      while (this.#waiting.size > 0) {
        const n = await this.#calls.epoll_wait(this.#epoll, events, MAX_EVENTS, WAIT_MS);
        if (n < 0 && this.#libc.errno() !== this.#eintr) {
          // Never expected; if it happens, every session falls back to reading directly.
          this.#broken = true;
          for (const w of this.#waiting.values()) w.fire();
          this.#waiting.clear();
          return;
        }
        for (let i = 0; i < n; i++) {
          const token = view.getUint32(i * this.#layout.bytes + this.#layout.dataOffset, true);
          if (token === WAKE) {
            this.#calls.read(this.#wake, this.#event, 8n); // reset the counter
            continue;
          }
          const w = this.#waiting.get(token);
          if (!w) continue; // a socket that ended meanwhile
          this.#waiting.delete(token);
          w.fire();
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #poke(): void {
    this.#eventView.setBigUint64(0, 1n, true);
    this.#calls.write(this.#wake, this.#event, 8n);
  }

  #ctl(op: number, fd: number, flags: number, token: number): boolean {
    const view = this.#eventView;
    const at = this.#layout.dataOffset;
    view.setUint32(0, flags, true);
    view.setUint32(at, token, true);
    view.setUint32(at + 4, 0, true);
    return this.#calls.epoll_ctl(this.#epoll, op, fd, this.#event) === 0;
  }
}

let shared: Watcher | null | undefined;

/**
 * The process's one epoll watcher, made on first use; null where the platform has no epoll or it
 * cannot be set up (then every caller keeps a read pending).
 */
export function sharedWatcher(platform: PlatformTable): Watcher | null {
  if (shared !== undefined) return shared;
  shared = null;
  if (!platform.epoll || !platform.errno) return null;
  try {
    shared = new Watcher(libc(platform), platform.epoll, platform.errno);
  } catch {
    shared = null;
  }
  return shared;
}

export type { Watcher };
