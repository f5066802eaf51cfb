/**
 * Waits for many idle sockets at once with one epoll instance (Linux, through FFI), instead of one
 * pending read per connection. A pending Deno read is an async op with its promise chain, a
 * generator and a buffer: measured at 10,000 connections it is about 3.4 KB of RSS per connection,
 * more than the connection itself. Watched here, an idle connection costs a kernel registration and
 * nothing else: the owner (lib/roles/held.ts) registers a descriptor under a slot and generation of
 * its own, is told which slot is readable, and reads only then (data, FIN, RST, a keep-alive
 * timeout).
 *
 * Registrations are one-shot: an event disarms the descriptor until the owner re-arms it, so a
 * socket is reported once per read. The 64-bit epoll data carries the slot and its generation, so
 * an event for a slot that has since been given to another connection is recognised and dropped.
 *
 * Linux only (the platform table's `epoll` row); elsewhere the owner keeps a read pending.
 */
import type { EpollEventLayout, EpollTable, PlatformTable } from "./platform.ts";
import { type Libc, libc } from "./libc.ts";
import type { Readiness, ReadinessOwner } from "./types.ts";

const MAX_EVENTS = 512;
/** A safety net: the loop re-checks this often even if a wake-up were lost. */
const WAIT_MS = 1000;
/** Slot of the eventfd that wakes epoll_wait when nothing is held any more. */
const WAKE = 0xffff_ffff;

/** The epoll functions, present wherever the table has an epoll row. */
interface EpollCalls {
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  epoll_wait(epfd: number, events: Uint8Array, max: number, timeoutMs: number): Promise<number>;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Uint8Array, count: bigint): number | bigint;
  write(fd: number, buf: Uint8Array, count: bigint): number | bigint;
}

class Poller implements Readiness {
  readonly #calls: EpollCalls;
  readonly #libc: Libc;
  readonly #table: EpollTable;
  readonly #owner: ReadinessOwner;
  readonly #eexist: number;
  readonly #eintr: number;
  readonly #watchFlags: number;
  readonly #epoll: number;
  readonly #wake: number;
  readonly #event: Uint8Array;
  readonly #eventView: DataView;
  readonly #layout: EpollEventLayout;
  readonly #events: Uint8Array;
  #running = false;
  #broken = false;

  constructor(
    c: Libc,
    table: EpollTable,
    errno: { eintr: number; eexist: number },
    owner: ReadinessOwner,
  ) {
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
    this.#owner = owner;
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
    if (!this.#ctl(table.ctlAdd, this.#wake, table.in, WAKE, 0)) {
      throw new Error("cannot watch the wake-up eventfd");
    }
  }

  arm(fd: number, slot: number, generation: number, rearm: boolean): boolean {
    if (this.#broken) return false;
    const { ctlAdd, ctlMod } = this.#table;
    let ok = this.#ctl(rearm ? ctlMod : ctlAdd, fd, this.#watchFlags, slot, generation);
    // A registration of an earlier socket with this number can outlive it if its file is still
    // open elsewhere; take it over.
    if (!ok && !rearm && this.#libc.errno() === this.#eexist) {
      ok = this.#ctl(ctlMod, fd, this.#watchFlags, slot, generation);
    }
    if (!ok) return false;
    if (!this.#running) this.#run();
    return true;
  }

  /**
   * Wakes the wait so that it sees the owner is no longer active. Registrations are left to the
   * kernel, which drops each when its socket is closed: removing one by number could remove a newer
   * socket that reused the number.
   */
  poke(): void {
    this.#eventView.setBigUint64(0, 1n, true);
    this.#calls.write(this.#wake, this.#event, 8n);
  }

  async #run(): Promise<void> {
    this.#running = true;
    const events = this.#events;
    const view = new DataView(events.buffer);
    const { bytes, dataOffset } = this.#layout;
    try {
      while (this.#owner.active) {
        const n = await this.#calls.epoll_wait(this.#epoll, events, MAX_EVENTS, WAIT_MS);
        if (n < 0 && this.#libc.errno() !== this.#eintr) {
          // Never expected; if it happens, the owner reads every connection directly.
          this.#broken = true;
          this.#owner.broken();
          return;
        }
        for (let i = 0; i < n; i++) {
          const slot = view.getUint32(i * bytes + dataOffset, true);
          if (slot === WAKE) {
            this.#calls.read(this.#wake, this.#event, 8n); // reset the counter
            continue;
          }
          this.#owner.ready(slot, view.getUint32(i * bytes + dataOffset + 4, true));
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #ctl(op: number, fd: number, flags: number, slot: number, generation: number): boolean {
    const view = this.#eventView;
    const at = this.#layout.dataOffset;
    view.setUint32(0, flags, true);
    view.setUint32(at, slot, true);
    view.setUint32(at + 4, generation, true);
    return this.#calls.epoll_ctl(this.#epoll, op, fd, this.#event) === 0;
  }
}

/**
 * An epoll instance of its own for `owner`; null where the platform has no epoll or it cannot be
 * set up (then the owner keeps a read pending on each connection).
 */
export function epollFor(platform: PlatformTable, owner: ReadinessOwner): Readiness | null {
  if (!platform.epoll || !platform.errno) return null;
  try {
    return new Poller(libc(platform), platform.epoll, platform.errno, owner);
  } catch {
    return null;
  }
}
