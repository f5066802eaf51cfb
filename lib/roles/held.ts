/**
 * Holds every established connection of a role until it ends, and says why each ended, keeping per
 * connection only what must be remembered: the Deno connection, its descriptor, id, when it
 * connected, and a generation, in arrays indexed by slot. No closure, promise, timer or buffer per
 * idle connection: one shared epoll (lib/socket/epoll.ts) says which slot to read, one timer serves every
 * connection's hold deadline and one every --send-after (the delays are the same for all, so the
 * deadlines come in the order the connections did), and a buffer exists only while a read is in
 * flight. At 10,000 idle connections this is what brings tcpka's memory per connection down to
 * Deno's own connection object (see `deno task bench`).
 *
 * Reading is what notices the end (FIN, RST, or a keep-alive timeout surfacing as ETIMEDOUT).
 * Where there is no epoll (Windows, macOS, no FFI) or the descriptor is unknown, a connection is
 * held by holdSession (session.ts) instead, with a read pending; the events are the same.
 */
import type { EndReason } from "../events.ts";
import { endReasonOf } from "../events.ts";
import type { Readiness, ReadinessOwner, Sockets } from "../socket/mod.ts";
import {
  holdSession,
  READ_BUFFER_BYTES,
  REPLY_KEPT_BYTES,
  type SessionEnd,
  writeAll,
} from "./session.ts";

export interface HoldOptions {
  /** Close after this long; 0 = until the peer closes. */
  holdMs: number;
  /** Write whatever arrives back to the peer (the server's behaviour). */
  echo: boolean;
  signal?: AbortSignal;
  /** After `afterMs` of idling, send `message` and close once it has come back (the client). */
  exchange?: { afterMs: number; message: Uint8Array };
}

/** What the role hears about its connections; `id` is the role's own connection number. */
export interface HoldEvents {
  /** Once per connection; `connectedAt` is the performance.now() reading when it was held. */
  ended(id: number, end: SessionEnd, connectedAt: number, conn: Deno.TcpConn): void;
  data?(id: number, direction: "in" | "out", bytes: number): void;
  sent?(id: number): void;
  echo?(id: number, rttMs: number): void;
  /** The reply to the message was not the message (a server that answers rather than echoes). */
  unexpectedReply?(id: number, reply: Uint8Array, rttMs: number): void;
  /** Just before we close a connection whose hold expired (the server's --reset arms an RST). */
  beforeExpiry?(conn: Deno.TcpConn, id: number): void;
}

const READING = 1;
const SENT = 2;

/** Deadlines of equal delay, so in insertion order: a queue of (slot, generation, due). */
class DeadlineQueue {
  #slots = new Int32Array(64);
  #generations = new Uint32Array(64);
  #due = new Float64Array(64);
  #head = 0;
  #tail = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly delayMs: number,
    readonly fire: (slot: number, generation: number) => void,
  ) {}

  push(slot: number, generation: number): void {
    if (this.#tail === this.#slots.length) this.#compactOrGrow();
    this.#slots[this.#tail] = slot;
    this.#generations[this.#tail] = generation;
    this.#due[this.#tail] = performance.now() + this.delayMs;
    this.#tail++;
    if (this.#timer === null) this.#schedule();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    const wait = Math.max(0, this.#due[this.#head] - performance.now());
    this.#timer = setTimeout(() => this.#run(), wait);
  }

  #run(): void {
    this.#timer = null;
    const now = performance.now();
    while (this.#head < this.#tail && this.#due[this.#head] <= now) {
      const i = this.#head++;
      this.fire(this.#slots[i], this.#generations[i]);
    }
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    else if (this.#timer === null) this.#schedule();
  }

  #compactOrGrow(): void {
    const live = this.#tail - this.#head;
    const size = live * 2 > this.#slots.length ? this.#slots.length * 2 : this.#slots.length;
    const move = <T extends Int32Array | Uint32Array | Float64Array>(a: T, b: T): T => {
      b.set(a.subarray(this.#head, this.#tail));
      return b;
    };
    this.#slots = move(this.#slots, new Int32Array(size));
    this.#generations = move(this.#generations, new Uint32Array(size));
    this.#due = move(this.#due, new Float64Array(size));
    this.#head = 0;
    this.#tail = live;
  }
}

export class HeldConnections implements ReadinessOwner {
  readonly #options: HoldOptions;
  readonly #events: HoldEvents;
  readonly #poller: Readiness | null;
  // Per slot. A slot's generation changes when its connection ends, so that late news about it
  // (an epoll event, a read, a deadline) is recognised as stale.
  #conns: (Deno.TcpConn | null)[] = [];
  #ids = new Float64Array(0);
  #fds = new Int32Array(0);
  #generations = new Uint32Array(0);
  #connectedAt = new Float64Array(0);
  #flags = new Uint8Array(0);
  #sentAt = new Float64Array(0);
  #echoed = new Int32Array(0);
  #free: number[] = [];
  /** A failed --send-after write, reported if the read then fails too (rare: a map, not a slot). */
  readonly #writeFailures = new Map<number, unknown>();
  readonly #expiries: DeadlineQueue | null;
  readonly #sends: DeadlineQueue | null;
  /** Connections held, by a slot or by holdSession. */
  #open = 0;
  #idle: (() => void)[] = [];
  /** The first unexpected error of a holdSession, for the role to rethrow. */
  failure: unknown = null;

  /** `sockets`: the socket layer, whose readiness (epoll) is used where it has one. */
  constructor(options: HoldOptions, events: HoldEvents, sockets: Sockets | null) {
    this.#options = options;
    this.#events = events;
    this.#poller = sockets?.readiness(this) ?? null;
    this.#expiries = options.holdMs > 0
      ? new DeadlineQueue(options.holdMs, (s, g) => this.#ifCurrent(s, g, "hold-expired"))
      : null;
    const exchange = options.exchange;
    this.#sends = exchange ? new DeadlineQueue(exchange.afterMs, (s, g) => this.#send(s, g)) : null;
    // One listener for every connection: Deno's EventTarget scans its whole list on each add.
    options.signal?.addEventListener("abort", () => this.#shutdown(), { once: true });
  }

  /** Connections held right now. */
  get open(): number {
    return this.#open;
  }

  get active(): boolean {
    return this.#open > 0;
  }

  /** Resolves once no connection is held (at once if none is). */
  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  /** Holds `conn` until it ends; `fd` is its descriptor where the keep-alive lookup found it. */
  hold(conn: Deno.TcpConn, id: number, fd: number | undefined): void {
    this.#open++;
    if (this.#poller === null || fd === undefined) return this.#holdSession(conn, id);
    const slot = this.#free.pop() ?? this.#grow();
    const generation = this.#generations[slot];
    this.#conns[slot] = conn;
    this.#ids[slot] = id;
    this.#fds[slot] = fd;
    this.#connectedAt[slot] = performance.now();
    this.#flags[slot] = 0;
    if (this.#options.signal?.aborted) return this.#close(slot, "shutdown");
    this.#expiries?.push(slot, generation);
    this.#sends?.push(slot, generation);
    if (!this.#poller.arm(fd, slot, generation, false)) this.#read(slot);
  }

  ready(slot: number, generation: number): void {
    if (this.#generations[slot] !== generation || this.#conns[slot] === null) return;
    this.#read(slot);
  }

  broken(): void {
    for (let slot = 0; slot < this.#conns.length; slot++) {
      if (this.#conns[slot] !== null && !(this.#flags[slot] & READING)) this.#read(slot);
    }
  }

  #read(slot: number): void {
    const conn = this.#conns[slot]!;
    const generation = this.#generations[slot];
    this.#flags[slot] |= READING;
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    conn.read(buf).then(
      (n) => this.#afterRead(slot, generation, buf, n),
      (err) => this.#failed(slot, generation, err),
    );
  }

  #afterRead(slot: number, generation: number, buf: Uint8Array, n: number | null): void {
    if (this.#generations[slot] !== generation) return; // we closed it meanwhile
    this.#flags[slot] &= ~READING;
    if (n === null) return this.#close(slot, "peer-closed");
    const id = this.#ids[slot];
    this.#events.data?.(id, "in", n);
    const exchange = this.#options.exchange;
    if (exchange && this.#flags[slot] & SENT) {
      // Byte for byte against what was sent: only the same bytes back are an echo.
      const expected = exchange.message;
      const at = this.#echoed[slot];
      const same = at + n <= expected.length &&
        buf.subarray(0, n).every((b, i) => b === expected[at + i]);
      const rttMs = performance.now() - this.#sentAt[slot];
      if (!same) {
        const reply = new Uint8Array(at + Math.min(n, REPLY_KEPT_BYTES));
        reply.set(expected.subarray(0, at));
        reply.set(buf.subarray(0, reply.length - at), at);
        this.#events.unexpectedReply?.(id, reply, rttMs);
        return this.#close(slot, "unexpected-reply");
      }
      this.#echoed[slot] += n;
      if (this.#echoed[slot] >= expected.length) {
        this.#events.echo?.(id, rttMs);
        return this.#close(slot, "echoed");
      }
    }
    if (!this.#options.echo) return this.#rearm(slot);
    writeAll(this.#conns[slot]!, buf.subarray(0, n)).then(() => {
      if (this.#generations[slot] !== generation) return;
      this.#events.data?.(id, "out", n);
      this.#rearm(slot);
    }, (err) => this.#failed(slot, generation, err));
  }

  #rearm(slot: number): void {
    const ok = this.#poller!.arm(this.#fds[slot], slot, this.#generations[slot], true);
    if (!ok) this.#read(slot); // cannot watch it any more: keep a read pending instead
  }

  #failed(slot: number, generation: number, err: unknown): void {
    if (this.#generations[slot] !== generation) return; // closed by us: reported then
    const failure = this.#writeFailures.get(slot) ?? err;
    this.#close(slot, endReasonOf(failure), (failure as Error).message);
  }

  #send(slot: number, generation: number): void {
    if (this.#generations[slot] !== generation || this.#conns[slot] === null) return;
    const id = this.#ids[slot];
    this.#sentAt[slot] = performance.now();
    this.#flags[slot] |= SENT;
    writeAll(this.#conns[slot]!, this.#options.exchange!.message).then(
      () => this.#events.sent?.(id),
      // The read reports the connection's fate; a write error alone may come first.
      (err) => this.#generations[slot] === generation && this.#writeFailures.set(slot, err),
    );
  }

  #ifCurrent(slot: number, generation: number, reason: EndReason): void {
    if (this.#generations[slot] === generation && this.#conns[slot] !== null) {
      this.#close(slot, reason);
    }
  }

  #close(slot: number, reason: EndReason, error?: string): void {
    const conn = this.#conns[slot]!;
    const id = this.#ids[slot];
    if (reason === "hold-expired") this.#events.beforeExpiry?.(conn, id);
    try {
      conn.close();
    } catch { /* already closed */ }
    // Free the slot before reporting, so that nothing reported late can reach the next occupant.
    this.#conns[slot] = null;
    this.#generations[slot] = (this.#generations[slot] + 1) >>> 0;
    this.#echoed[slot] = 0;
    this.#writeFailures.delete(slot);
    this.#free.push(slot);
    this.#ended(
      id,
      error === undefined ? { reason } : { reason, error },
      this.#connectedAt[slot],
      conn,
    );
  }

  #ended(id: number, end: SessionEnd, connectedAt: number, conn: Deno.TcpConn): void {
    this.#open--;
    this.#events.ended(id, end, connectedAt, conn);
    if (this.#open > 0) return;
    this.#poller?.poke();
    this.#expiries?.stop();
    this.#sends?.stop();
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #shutdown(): void {
    for (let slot = 0; slot < this.#conns.length; slot++) {
      if (this.#conns[slot] !== null) this.#close(slot, "shutdown");
    }
  }

  /** Where there is no epoll, or no descriptor: a read kept pending, as before. */
  #holdSession(conn: Deno.TcpConn, id: number): void {
    const connectedAt = performance.now();
    const { holdMs, echo, signal, exchange } = this.#options;
    const events = this.#events;
    holdSession(conn, {
      holdMs,
      echo,
      signal,
      beforeClose: events.beforeExpiry ? () => events.beforeExpiry!(conn, id) : undefined,
      onData: events.data ? (direction, bytes) => events.data!(id, direction, bytes) : undefined,
      exchange: exchange && {
        ...exchange,
        onSent: () => events.sent?.(id),
        onEcho: (rttMs) => events.echo?.(id, rttMs),
        onUnexpectedReply: (reply, rttMs) => events.unexpectedReply?.(id, reply, rttMs),
      },
    }).then((end) => this.#ended(id, end, connectedAt, conn), (err) => {
      this.failure ??= err;
      this.#ended(id, { reason: "error", error: (err as Error).message }, connectedAt, conn);
    });
  }

  #grow(): number {
    const slot = this.#conns.length;
    if (slot === this.#ids.length) {
      const size = Math.max(64, slot * 2);
      const grown = <T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(
        a: T,
        b: T,
      ): T => (b.set(a), b);
      this.#ids = grown(this.#ids, new Float64Array(size));
      this.#fds = grown(this.#fds, new Int32Array(size));
      this.#generations = grown(this.#generations, new Uint32Array(size));
      this.#connectedAt = grown(this.#connectedAt, new Float64Array(size));
      this.#flags = grown(this.#flags, new Uint8Array(size));
      if (this.#options.exchange) {
        this.#sentAt = grown(this.#sentAt, new Float64Array(size));
        this.#echoed = grown(this.#echoed, new Int32Array(size));
      }
    }
    this.#conns.push(null);
    return slot;
  }
}
