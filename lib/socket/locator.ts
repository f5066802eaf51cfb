/**
 * What every implementation of the socket layer shares: finding the handle behind a Deno connection
 * by its addresses (getsockname/getpeername on candidates, see handle_finder.ts), remembering it,
 * and reading any handle's two addresses. Subclasses say how to make those two calls.
 */
import type { PlatformTable } from "./platform.ts";
import type { SocketAddresses } from "./types.ts";
import { connectionKey, type FoundHandle, HandleCheck, HandleFinder } from "./handle_finder.ts";
import {
  type AddressKey,
  addressKeyOf,
  decodeSockaddr,
  SOCKADDR_BUFFER_BYTES,
  sockaddrMatches,
  sockaddrPort,
} from "./sockaddr.ts";

export abstract class HandleLocator {
  readonly platform: PlatformTable;
  readonly finder: HandleFinder;
  /** Every connection's handle found so far (handleOf). */
  readonly #located = new WeakMap<Deno.TcpConn, number>();
  /** Address bytes by address text (see #addressKey). */
  readonly #addresses = new Map<string, Uint8Array>();
  /** The sockaddr the last sockName/peerName call filled in; reused: the lookup must not allocate. */
  protected readonly addr = new Uint8Array(SOCKADDR_BUFFER_BYTES);

  protected constructor(platform: PlatformTable, finder: HandleFinder) {
    this.platform = platform;
    this.finder = finder;
  }

  /**
   * getsockname(handle) into `addr`: null when it succeeded; otherwise what the failure means for
   * the search (Free: nothing there; NotConnected: something that is not one of our connections).
   */
  protected abstract sockName(handle: number): HandleCheck | null;
  /** getpeername(handle) into `addr`; false when it failed (not connected). */
  protected abstract peerName(handle: number): boolean;
  /** getsockopt SO_TYPE: SOCK_STREAM (1) for TCP; null when it failed (not a socket). */
  protected abstract socketType(handle: number): number | null;
  /** The connection on `handle` is gone: drop what is remembered about the handle. */
  protected forgetHandle(_handle: number): void {}

  locate(conn: Deno.TcpConn): FoundHandle | null {
    const local = this.#addressKey(conn.localAddr);
    const remote = this.#addressKey(conn.remoteAddr);
    const p = this.platform, addr = this.addr;
    const sockName = (handle: number) => this.sockName(handle);
    const peerName = (handle: number) => this.peerName(handle);
    const checker = {
      lastKey: 0,
      check(handle: number): HandleCheck {
        const failed = sockName(handle);
        if (failed !== null) return failed;
        const localMatches = sockaddrMatches(addr, p, local);
        const localPort = sockaddrPort(addr);
        if (!peerName(handle)) return HandleCheck.NotConnected;
        if (localMatches && sockaddrMatches(addr, p, remote)) return HandleCheck.Match;
        this.lastKey = connectionKey(localPort, sockaddrPort(addr));
        return HandleCheck.Other;
      },
    };
    const found = this.finder.find(connectionKey(local.port, remote.port), checker);
    if (found) this.#located.set(conn, found.handle);
    return found;
  }

  handleOf(conn: Deno.TcpConn): number | undefined {
    return this.#located.get(conn);
  }

  release(conn: Deno.TcpConn): void {
    const handle = this.#located.get(conn);
    if (handle === undefined) return;
    this.#located.delete(conn);
    this.forgetHandle(handle);
    this.finder.release(handle);
  }

  addressesOf(handle: number): SocketAddresses | null {
    if (this.sockName(handle) !== null) return null;
    const local = decodeSockaddr(this.addr, this.platform);
    if (!local) return null;
    const remote = this.peerName(handle) ? decodeSockaddr(this.addr, this.platform) : null;
    return { local, remote };
  }

  /**
   * True when `handle` is a TCP socket bound to `local` and connected to `remote` (null: connected
   * to nothing, as a listener). Three calls, no allocation: run on each of 20,000 copied handles.
   */
  isConnection(
    handle: number,
    local: { hostname: string; port: number },
    remote: { hostname: string; port: number } | null,
  ): boolean {
    const SOCK_STREAM = 1;
    if (this.socketType(handle) !== SOCK_STREAM) return false;
    let localKey: AddressKey, remoteKey: AddressKey | null;
    try {
      localKey = this.#addressKey(local);
      remoteKey = remote && this.#addressKey(remote);
    } catch {
      return false; // not an address: nothing can match it
    }
    // sockaddrMatches also checks the family is IPv4 or IPv6 (a Unix stream socket is not TCP).
    if (this.sockName(handle) !== null || !sockaddrMatches(this.addr, this.platform, localKey)) {
      return false;
    }
    const connected = this.peerName(handle);
    if (remoteKey === null) return !connected;
    return connected && sockaddrMatches(this.addr, this.platform, remoteKey);
  }

  /**
   * addressKeyOf, remembered by address text: thousands of connections share a handful of
   * addresses, and parsing them was half the cost of a one-check lookup.
   */
  #addressKey(addr: { hostname: string; port: number }): AddressKey {
    let address = this.#addresses.get(addr.hostname);
    if (address === undefined) {
      address = addressKeyOf(addr).address;
      if (this.#addresses.size >= 256) this.#addresses.clear(); // bounded on address scans
      this.#addresses.set(addr.hostname, address);
    }
    return { port: addr.port, address };
  }
}
