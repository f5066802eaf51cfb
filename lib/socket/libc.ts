/**
 * The C library, opened once per process: every libc function tcpka calls is in LIBC_SYMBOLS, and
 * this is the only `Deno.dlopen` of it. To call another function, add it to the table (with
 * `optional: true` if some supported platform lacks it, as macOS lacks epoll) and use `libc()`.
 */
import type { PlatformTable } from "./platform.ts";

export const LIBC_SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Linux only.
  epoll_create1: { parameters: ["i32"], result: "i32", optional: true },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32", optional: true },
  // On a blocking-pool thread, so the event loop keeps running while it waits.
  epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32", optional: true },
  // Directory listings (/proc/PID/fd: Deno itself may read /proc only with --allow-all).
  open: { parameters: ["buffer", "i32"], result: "i32" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  // Another process's descriptors (Linux ≥ 5.6, glibc ≥ 2.36).
  pidfd_open: { parameters: ["i32", "u32"], result: "i32", optional: true },
  pidfd_getfd: { parameters: ["i32", "i32", "u32"], result: "i32", optional: true },
  // errno's address: glibc/musl call it __errno_location, macOS __error.
  __errno_location: { parameters: [], result: "pointer", optional: true },
  __error: { parameters: [], result: "pointer", optional: true },
} as const;

export type LibcSymbols = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

export interface Libc {
  readonly symbols: LibcSymbols;
  /** errno of the calling thread, right after a call that failed. */
  errno(): number;
}

let opened: Libc | null = null;

/** The process's one handle on the C library named by `platform`; throws if it cannot be loaded. */
export function libc(platform: PlatformTable): Libc {
  if (opened) return opened;
  if (platform.errnoSymbol === null) throw new Error(`${platform.os} has no POSIX C library`);
  const symbols = Deno.dlopen(platform.library, LIBC_SYMBOLS).symbols;
  const errnoFn = symbols[platform.errnoSymbol];
  if (!errnoFn) throw new Error(`${platform.library} has no ${platform.errnoSymbol}`);
  opened = {
    symbols,
    errno() {
      const ptr = errnoFn();
      return ptr ? new Deno.UnsafePointerView(ptr).getInt32() : 0;
    },
  };
  return opened;
}
