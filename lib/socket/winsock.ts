/** Winsock (ws2_32.dll), opened once per process: the only `Deno.dlopen` of it. */

/**
 * The ws2_32 functions used. SOCKET is UINT_PTR (pointer-sized, "usize"); int results; lengths are
 * `int` for setsockopt and `int*` for the others; DWORDs are u32.
 */
export const WINSOCK_SYMBOLS = {
  getsockname: { parameters: ["usize", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["usize", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["usize", "i32", "i32", "buffer", "i32"], result: "i32" },
  getsockopt: { parameters: ["usize", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // (s, dwIoControlCode, lpvInBuffer, cbInBuffer, lpvOutBuffer, cbOutBuffer, lpcbBytesReturned,
  //  lpOverlapped, lpCompletionRoutine)
  WSAIoctl: {
    parameters: ["usize", "u32", "buffer", "u32", "pointer", "u32", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  WSAGetLastError: { parameters: [], result: "i32" },
} as const;

/** The loaded functions; tests pass a fake with the same shape to run this logic off Windows. */
export type Winsock = Deno.DynamicLibrary<typeof WINSOCK_SYMBOLS>["symbols"];

let opened: Winsock | null = null;

/** The process's one handle on Winsock; throws if it cannot be loaded. */
export function winsock(library: string): Winsock {
  opened ??= Deno.dlopen(library, WINSOCK_SYMBOLS).symbols;
  return opened;
}
