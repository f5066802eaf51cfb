/**
 * The platform table against the numbers in each OS's headers, the Windows argument encodings, and
 * the Windows socket layer's logic run against a fake Winsock that behaves like Wine 8.0 (no TCP_KEEP*
 * socket options) or like Windows 10 1709+ (all of them), so it is checked on every OS.
 */
import assert from "assert";
import { platformFor, PLATFORMS } from "../lib/socket/platform.ts";
import { HandleCheck, HandleFinder } from "../lib/socket/handle_finder.ts";
import { addressKeyOf, decodeSockaddr, sockaddrMatches } from "../lib/socket/sockaddr.ts";
import {
  checkFromError,
  chooseMethod,
  encodeLinger,
  encodeTcpKeepalive,
  isUnsupportedOption,
  WindowsSockets,
  WSAEINVAL,
  WSAENOPROTOOPT,
  WSAENOTCONN,
  WSAENOTSOCK,
} from "../lib/socket/windows.ts";
import { type Winsock, WINSOCK_SYMBOLS } from "../lib/socket/winsock.ts";
import { decodeTcpInfo } from "../lib/socket/posix.ts";
import { formatIp, parseIp } from "../lib/ip.ts";

Deno.test("Linux numbers (asm-generic/socket.h, netinet/tcp.h)", () => {
  const p = PLATFORMS.linux;
  assert.equal(p.library, "libc.so.6");
  assert.equal(p.solSocket, 1);
  assert.equal(p.soKeepalive, 9);
  assert.equal(p.ipprotoTcp, 6);
  assert.equal(p.tcpKeepIdle, 4);
  assert.equal(p.tcpKeepIntvl, 5);
  assert.equal(p.tcpKeepCnt, 6);
  assert.equal(p.soLinger, 13);
  assert.equal(p.lingerBytes, 8);
  assert.equal(p.afInet, 2);
  assert.equal(p.afInet6, 10);
  assert.equal(p.sockaddrLayout, "u16-family");
  assert.deepEqual([p.firstHandle, p.handleStep], [3, 1]);
  assert.equal(p.granularityMs, 1000);
  assert.deepEqual([p.maxIdleSeconds, p.maxIntervalSeconds], [32767, 32767]);
  assert.deepEqual([p.minCount, p.maxCount], [1, 127]);
  assert.equal(p.sioKeepaliveVals, null);
  assert.equal(p.fixedCount, null);
});

Deno.test("macOS numbers (sys/socket.h, netinet/tcp.h: TCP_KEEPALIVE is the idle time)", () => {
  const p = PLATFORMS.darwin;
  assert.equal(p.library, "/usr/lib/libSystem.B.dylib");
  assert.equal(p.solSocket, 0xffff);
  assert.equal(p.soKeepalive, 8);
  assert.equal(p.ipprotoTcp, 6);
  assert.equal(p.tcpKeepIdle, 0x10);
  assert.equal(p.tcpKeepIntvl, 0x101);
  assert.equal(p.tcpKeepCnt, 0x102);
  assert.equal(p.soLinger, 0x80);
  assert.equal(p.lingerBytes, 8);
  assert.equal(p.afInet, 2);
  assert.equal(p.afInet6, 30);
  assert.equal(p.sockaddrLayout, "len-u8-family");
  assert.deepEqual([p.firstHandle, p.handleStep], [3, 1]);
  assert.equal(p.granularityMs, 1000);
  assert.equal(p.sioKeepaliveVals, null);
});

Deno.test("Windows numbers (winsock2.h, ws2ipdef.h, mstcpip.h)", () => {
  const p = PLATFORMS.windows;
  assert.equal(p.library, "ws2_32.dll");
  assert.equal(p.solSocket, 0xffff);
  assert.equal(p.soKeepalive, 8);
  assert.equal(p.ipprotoTcp, 6);
  assert.equal(p.tcpKeepIdle, 3);
  assert.equal(p.tcpKeepIntvl, 17);
  assert.equal(p.tcpKeepCnt, 16);
  assert.equal(p.soLinger, 0x80);
  assert.equal(p.lingerBytes, 4);
  assert.equal(p.afInet, 2);
  assert.equal(p.afInet6, 23);
  assert.equal(p.sockaddrLayout, "u16-family");
  assert.deepEqual([p.firstHandle, p.handleStep], [4, 4]);
  assert.equal(p.granularityMs, 1);
  assert.equal(p.fixedCount, 10);
  // SIO_KEEPALIVE_VALS = _WSAIOW(IOC_VENDOR, 4) = IOC_IN | IOC_VENDOR | 4.
  const IOC_IN = 0x80000000, IOC_VENDOR = 0x18000000;
  assert.equal(p.sioKeepaliveVals, 0x98000004);
  assert.equal(p.sioKeepaliveVals, (IOC_IN | IOC_VENDOR | 4) >>> 0);
  // The control code must survive the u32 FFI parameter unchanged.
  assert.equal(new Uint32Array([p.sioKeepaliveVals!])[0], 0x98000004);
});

Deno.test("platformFor knows exactly the three rows", () => {
  assert.equal(platformFor("linux"), PLATFORMS.linux);
  assert.equal(platformFor("darwin"), PLATFORMS.darwin);
  assert.equal(platformFor("windows"), PLATFORMS.windows);
  assert.equal(platformFor("freebsd"), null);
  for (const [os, row] of Object.entries(PLATFORMS)) assert.equal(row.os, os);
});

Deno.test("macOS sockaddr (length byte, then a one-byte family) matches only with its layout", () => {
  const d = PLATFORMS.darwin;
  const v4 = new Uint8Array(16);
  v4.set([16, d.afInet, 0x13, 0x88, 127, 0, 0, 1]); // sin_len, sin_family, port 5000, 127.0.0.1
  const want4 = addressKeyOf({ hostname: "127.0.0.1", port: 5000 });
  assert.ok(sockaddrMatches(v4, d, want4));
  const l = PLATFORMS.linux;
  assert.ok(!sockaddrMatches(v4, l, want4));

  const v6 = new Uint8Array(28);
  v6.set([28, d.afInet6, 0x13, 0x89]); // port 5001
  v6[8 + 15] = 1; // ::1
  const want6 = addressKeyOf({ hostname: "::1", port: 5001 });
  assert.ok(sockaddrMatches(v6, d, want6));
  assert.ok(!sockaddrMatches(v6, d, want4));
});

Deno.test("struct tcp_keepalive: three little-endian u_longs, 12 bytes", () => {
  assert.deepEqual(
    [...encodeTcpKeepalive(true, 1000, 1500)],
    [1, 0, 0, 0, 0xe8, 0x03, 0, 0, 0xdc, 0x05, 0, 0],
  );
  assert.deepEqual(
    [...encodeTcpKeepalive(false, 7_200_000, 0xffff_ffff)],
    [0, 0, 0, 0, 0x00, 0xdd, 0x6d, 0x00, 0xff, 0xff, 0xff, 0xff],
  );
  assert.throws(() => encodeTcpKeepalive(true, 1.5, 1000), /idle 1.5ms is not a u_long/);
  assert.throws(() => encodeTcpKeepalive(true, 1000, -1), /interval -1ms/);
  assert.throws(() => encodeTcpKeepalive(true, 2 ** 32, 1000), /not a u_long/);
  // The largest time the table allows still fits.
  assert.equal(encodeTcpKeepalive(true, PLATFORMS.windows.maxIdleSeconds * 1000, 1).length, 12);
});

Deno.test("Windows struct linger: two u_shorts, as many bytes as the table says", () => {
  assert.deepEqual([...encodeLinger(true, 0)], [1, 0, 0, 0]);
  assert.deepEqual([...encodeLinger(true, 0x0102)], [1, 0, 2, 1]);
  assert.equal(encodeLinger(true, 0).length, PLATFORMS.windows.lingerBytes);
});

Deno.test("Winsock signatures: SOCKET is pointer-sized, results are int", () => {
  const s = WINSOCK_SYMBOLS;
  for (
    const name of ["getsockname", "getpeername", "setsockopt", "getsockopt", "WSAIoctl"] as const
  ) {
    assert.equal(s[name].parameters[0], "usize", `${name}: SOCKET`);
    assert.equal(s[name].result, "i32", `${name}: result`);
  }
  assert.deepEqual(s.setsockopt.parameters, ["usize", "i32", "i32", "buffer", "i32"]);
  assert.deepEqual(s.getsockopt.parameters, ["usize", "i32", "i32", "buffer", "buffer"]);
  assert.equal(s.WSAIoctl.parameters.length, 9);
  assert.equal(s.WSAIoctl.parameters[1], "u32"); // DWORD dwIoControlCode
  assert.deepEqual(s.WSAGetLastError, { parameters: [], result: "i32" });
});

Deno.test("WSA errors: WSAENOTCONN/WSAEINVAL are sockets not ours; WSAENOTSOCK and the rest free", () => {
  assert.equal(checkFromError(WSAENOTSOCK), HandleCheck.Free);
  assert.equal(checkFromError(WSAENOTCONN), HandleCheck.NotConnected);
  assert.equal(checkFromError(WSAEINVAL), HandleCheck.NotConnected);
  assert.equal(checkFromError(10093), HandleCheck.Free); // WSANOTINITIALISED: never scan forever
  assert.deepEqual([WSAEINVAL, WSAENOTSOCK, WSAENOPROTOOPT, WSAENOTCONN], [
    10022,
    10038,
    10042,
    10057,
  ]);
  assert.ok(isUnsupportedOption(WSAENOPROTOOPT));
  assert.ok(isUnsupportedOption(WSAEINVAL));
  assert.ok(!isUnsupportedOption(WSAENOTSOCK));
});

Deno.test("method choice: setsockopt for whole seconds, SIO_KEEPALIVE_VALS for ms or when refused", () => {
  assert.equal(chooseMethod({ enabled: true, idleMs: 2000, intervalMs: 1000 }, true), "setsockopt");
  assert.equal(chooseMethod({ enabled: true, idleMs: 1500 }, true), "sio_keepalive_vals");
  assert.equal(chooseMethod({ enabled: true, intervalMs: 250 }, true), "sio_keepalive_vals");
  assert.equal(chooseMethod({ enabled: true, idleMs: 2000 }, false), "sio_keepalive_vals");
  // Only a count: nothing for SIO_KEEPALIVE_VALS to do.
  assert.equal(chooseMethod({ enabled: true, count: 3 }, false), "setsockopt");
});

// ---- The Windows socket layer against a fake Winsock ----

interface FakeSocket {
  local: [number, number, number, number, number];
  remote?: [number, number, number, number, number];
  options: Map<string, number>;
  linger?: number[];
}

/** A socket table that answers like ws2_32: `tcpOptions` false is Wine 8.0, true Windows 10. */
class FakeWinsock {
  error = 0;
  readonly sockets = new Map<number, FakeSocket>();
  readonly ioctls: { handle: number; code: number; bytes: number[] }[] = [];
  readonly tcpSetCalls: number[] = [];
  constructor(readonly tcpOptions: boolean, readonly failSetsockopt: number | null = null) {}

  add(handle: number, localPort: number, remotePort?: number): void {
    this.sockets.set(handle, {
      local: [127, 0, 0, 1, localPort],
      remote: remotePort === undefined ? undefined : [127, 0, 0, 1, remotePort],
      options: new Map(),
    });
  }

  symbols(): Winsock {
    const fail = (code: number) => {
      this.error = code;
      return -1;
    };
    const writeAddr = (buf: Uint8Array, [a, b, c, d, port]: number[]) => {
      buf.fill(0);
      buf.set([2, 0, port >> 8, port & 0xff, a, b, c, d]);
    };
    const bytes = (b: BufferSource | null) =>
      b instanceof Uint8Array ? b : new Uint8Array((b as ArrayBufferView).buffer);
    const fake = {
      getsockname: (s: bigint, addr: BufferSource | null) => {
        const sock = this.sockets.get(Number(s));
        if (!sock) return fail(WSAENOTSOCK);
        writeAddr(bytes(addr), sock.local);
        return 0;
      },
      getpeername: (s: bigint, addr: BufferSource | null) => {
        const sock = this.sockets.get(Number(s));
        if (!sock) return fail(WSAENOTSOCK);
        if (!sock.remote) return fail(WSAENOTCONN);
        writeAddr(bytes(addr), sock.remote);
        return 0;
      },
      setsockopt: (
        s: bigint,
        level: number,
        name: number,
        buf: BufferSource | null,
        len: number,
      ) => {
        const sock = this.sockets.get(Number(s));
        if (!sock) return fail(WSAENOTSOCK);
        if (this.failSetsockopt !== null) return fail(this.failSetsockopt);
        const value = bytes(buf);
        if (level === 0xffff && name === 0x80) {
          sock.linger = [...value.subarray(0, len)];
          return 0;
        }
        if (level === 6) {
          this.tcpSetCalls.push(name);
          if (!this.tcpOptions) return fail(WSAENOPROTOOPT);
        }
        assert.equal(len, 4);
        sock.options.set(`${level}/${name}`, new DataView(value.buffer).getInt32(0, true));
        return 0;
      },
      getsockopt: (
        s: bigint,
        level: number,
        name: number,
        buf: BufferSource | null,
        len: BufferSource | null,
      ) => {
        const sock = this.sockets.get(Number(s));
        if (!sock) return fail(WSAENOTSOCK);
        if (level === 6 && !this.tcpOptions) return fail(WSAENOPROTOOPT);
        const value = sock.options.get(`${level}/${name}`) ?? 0;
        new DataView(bytes(buf).buffer).setInt32(0, value, true);
        (len as Int32Array)[0] = 4;
        return 0;
      },
      WSAIoctl: (s: bigint, code: number, input: BufferSource | null, inLen: number) => {
        const sock = this.sockets.get(Number(s));
        if (!sock) return fail(WSAENOTSOCK);
        const raw = [...bytes(input).subarray(0, inLen)];
        this.ioctls.push({ handle: Number(s), code, bytes: raw });
        const view = new DataView(new Uint8Array(raw).buffer);
        sock.options.set("65535/8", view.getUint32(0, true));
        // Windows 10 shows SIO_KEEPALIVE_VALS times through getsockopt in whole seconds.
        sock.options.set("6/3", Math.floor(view.getUint32(4, true) / 1000));
        sock.options.set("6/17", Math.floor(view.getUint32(8, true) / 1000));
        return 0;
      },
      WSAGetLastError: () => this.error,
    };
    return fake as unknown as Winsock;
  }
}

function fakeConn(localPort: number, remotePort: number): Deno.TcpConn {
  return {
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: localPort },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: remotePort },
  } as unknown as Deno.TcpConn;
}

Deno.test("Windows handle search: multiples of 4, non-sockets skipped, the README's 47 tries", () => {
  const ws = new FakeWinsock(false);
  ws.add(100, 12345); // a listener: getpeername says WSAENOTCONN
  ws.add(120, 50000, 12345); // another connection
  ws.add(188, 50001, 12345); // ours
  const sockets = new WindowsSockets(PLATFORMS.windows, ws.symbols());
  const found = sockets.locate(fakeConn(50001, 12345));
  assert.deepEqual(found, { handle: 188, checks: 47 }); // 4, 8, …, 188
  // The connection passed over on the way is remembered: found with one check.
  assert.deepEqual(sockets.locate(fakeConn(50000, 12345)), { handle: 120, checks: 1 });
  // A connection that is not there: null, never a wrong handle.
  assert.equal(sockets.locate(fakeConn(50002, 12345)), null);
});

Deno.test("Wine-like Winsock: SIO_KEEPALIVE_VALS fallback, values as set, count not settable", () => {
  const ws = new FakeWinsock(false);
  ws.add(8, 50000, 12345);
  ws.add(12, 50001, 12345);
  const sockets = new WindowsSockets(PLATFORMS.windows, ws.symbols());
  const applied = sockets.setKeepAlive(8, {
    enabled: true,
    idleMs: 1000,
    intervalMs: 1000,
    count: 3,
  });
  assert.equal(applied.method, "sio_keepalive_vals");
  assert.deepEqual(ws.ioctls, [{
    handle: 8,
    code: 0x98000004,
    bytes: [1, 0, 0, 0, 0xe8, 3, 0, 0, 0xe8, 3, 0, 0],
  }]);
  const notes = applied.notes.join("\n");
  assert.match(notes, /TCP_KEEPIDLE=1 failed \(WSA error 10042, WSAENOPROTOOPT\)/);
  assert.match(notes, /count 3 was not applied/);
  assert.match(notes, /fixes it at 10/);

  const read = sockets.readKeepAlive(8);
  assert.equal(read.enabled, true);
  assert.deepEqual(read.values, { idleMs: 1000, intervalMs: 1000, count: 10 });
  assert.equal(read.source, "as-set");
  assert.match(read.notes.join("\n"), /idle 1s and interval 1s as set .*not readable/);
  assert.match(read.notes.join("\n"), /count 10 is fixed by Windows and cannot be set/);

  // The refusal is remembered: the next connection goes straight to SIO_KEEPALIVE_VALS.
  const calls = ws.tcpSetCalls.length;
  const second = sockets.setKeepAlive(12, { enabled: true, idleMs: 250, intervalMs: 2000 });
  assert.equal(second.method, "sio_keepalive_vals");
  assert.equal(ws.tcpSetCalls.length, calls);
  assert.deepEqual(ws.ioctls[1].bytes.slice(4), [250, 0, 0, 0, 0xd0, 7, 0, 0]);
  assert.deepEqual(sockets.readKeepAlive(12).values, { idleMs: 250, intervalMs: 2000, count: 10 });

  // Only one time given: SIO sets both, and says the other is Windows' default.
  const third = sockets.setKeepAlive(12, { enabled: true, idleMs: 5000 });
  assert.match(third.notes.join("\n"), /interval 1s \(Windows' default\) was set too/);
  assert.deepEqual(sockets.readKeepAlive(12).values, { idleMs: 5000, intervalMs: 1000, count: 10 });

  // Off: SO_KEEPALIVE 0, nothing left "as set".
  assert.equal(sockets.setKeepAlive(12, { enabled: false }).method, "off");
  assert.equal(sockets.readKeepAlive(12).enabled, false);
  assert.deepEqual(sockets.readKeepAlive(12).notes, []);
});

Deno.test("Windows 10-like Winsock: setsockopt in seconds, read back; ms values via SIO", () => {
  const ws = new FakeWinsock(true);
  ws.add(4, 50000, 12345);
  const sockets = new WindowsSockets(PLATFORMS.windows, ws.symbols());
  const applied = sockets.setKeepAlive(4, {
    enabled: true,
    idleMs: 2000,
    intervalMs: 1000,
    count: 4,
  });
  assert.deepEqual(applied, { method: "setsockopt", notes: [] });
  assert.deepEqual(ws.ioctls, []);
  assert.deepEqual(ws.tcpSetCalls, [3, 17, 16]);
  const read = sockets.readKeepAlive(4);
  assert.deepEqual(read, {
    enabled: true,
    values: { idleMs: 2000, intervalMs: 1000, count: 4 },
    notes: [],
    source: "socket",
  });

  // 1500 ms cannot be said in seconds: SIO_KEEPALIVE_VALS, and the ms value is reported as set
  // (getsockopt would round it to 1 s); the whole-second interval and the count are read back.
  const ms = sockets.setKeepAlive(4, { enabled: true, idleMs: 1500, intervalMs: 1000, count: 3 });
  assert.equal(ms.method, "sio_keepalive_vals");
  assert.match(ms.notes.join("\n"), /takes milliseconds/);
  assert.doesNotMatch(ms.notes.join("\n"), /count/);
  const back = sockets.readKeepAlive(4);
  assert.deepEqual(back.values, { idleMs: 1500, intervalMs: 1000, count: 3 });
  assert.equal(back.source, "as-set");
  assert.match(back.notes.join("\n"), /^idle 1.5s as set with SIO_KEEPALIVE_VALS/);
});

Deno.test("Windows reset: SO_LINGER {1, 0} as two u_shorts; other errors are not swallowed", () => {
  const ws = new FakeWinsock(true);
  ws.add(4, 50000, 12345);
  const sockets = new WindowsSockets(PLATFORMS.windows, ws.symbols());
  sockets.reset(4);
  assert.deepEqual(ws.sockets.get(4)!.linger, [1, 0, 0, 0]);
  assert.throws(() => sockets.reset(8), /setsockopt SO_LINGER failed \(WSA error 10038\)/);

  const broken = new FakeWinsock(true, 10055); // WSAENOBUFS: not "unsupported", so it surfaces
  broken.add(4, 50000, 12345);
  const b = new WindowsSockets(PLATFORMS.windows, broken.symbols());
  assert.throws(() => b.setKeepAlive(4, { enabled: true, idleMs: 1000 }), /WSA error 10055/);
});

Deno.test("the Windows handle finder steps by 4 from 4", () => {
  const finder = new HandleFinder(PLATFORMS.windows.firstHandle, PLATFORMS.windows.handleStep);
  const checked: number[] = [];
  const found = finder.find(1, {
    lastKey: 0,
    check(h) {
      checked.push(h);
      return h === 16 ? HandleCheck.Match : HandleCheck.Free;
    },
  });
  assert.deepEqual(found, { handle: 16, checks: 4 });
  assert.deepEqual(checked, [4, 8, 12, 16]);
});

Deno.test("epoll_event layout per architecture: packed on x86-64, padded on aarch64", () => {
  const epoll = PLATFORMS.linux.epoll!;
  assert.deepEqual(epoll.event.x86_64, { bytes: 12, dataOffset: 4 });
  assert.deepEqual(epoll.event.aarch64, { bytes: 16, dataOffset: 8 });
  assert.deepEqual([epoll.in, epoll.rdhup, epoll.oneshot], [0x001, 0x2000, 0x40000000]);
  assert.deepEqual([epoll.ctlAdd, epoll.ctlMod, epoll.cloexec], [1, 3, 0o2000000]);
  assert.equal(PLATFORMS.darwin.epoll, null);
  assert.equal(PLATFORMS.windows.epoll, null);
});

Deno.test("struct tcp_info fields where include/uapi/linux/tcp.h puts them", () => {
  const info = PLATFORMS.linux.tcpInfo!;
  assert.equal(info.option, 11);
  const f = info.fields;
  assert.deepEqual(
    [f.state, f.retransmits, f.probes, f.backoff].map((x) => [x.offset, x.bytes]),
    [[0, 1], [2, 1], [3, 1], [4, 1]],
  );
  assert.deepEqual(
    [f.rtoMicros, f.unacked, f.sacked, f.lastDataSentMs, f.lastDataRecvMs, f.lastAckRecvMs].map(
      (x) => x.offset,
    ),
    [8, 24, 28, 44, 52, 56],
  );
  assert.equal(f.rttMicros.offset, 68);
  assert.equal(f.totalRetrans.offset, 100);
  assert.equal(f.segsIn.offset, 140);
  assert.equal(info.states[1], "ESTABLISHED");
  assert.equal(info.states[8], "CLOSE_WAIT");
  assert.equal(info.states[10], "LISTEN");
  // Decoding a hand-made struct (little-endian host) gives those fields back.
  const buf = new Uint8Array(info.bytes);
  const view = new DataView(buf.buffer);
  buf.set([1, 0, 2, 3, 1]);
  view.setUint32(24, 5, true);
  view.setUint32(52, 1234, true);
  view.setUint32(56, 567, true);
  view.setUint32(140, 9, true);
  const decoded = decodeTcpInfo(buf, info);
  assert.equal(decoded.segsIn, 9);
  assert.deepEqual(
    [decoded.stateName, decoded.retransmits, decoded.probes, decoded.backoff, decoded.unacked],
    ["ESTABLISHED", 2, 3, 1, 5],
  );
  assert.deepEqual([decoded.lastDataRecvMs, decoded.lastAckRecvMs], [1234, 567]);
  // An older kernel's shorter struct: the missing fields read 0, never garbage.
  assert.equal(decodeTcpInfo(buf.subarray(0, 40), info).lastDataRecvMs, 0);
});

Deno.test("sockaddrs decode to text in each layout", () => {
  const l = PLATFORMS.linux, d = PLATFORMS.darwin;
  const v4 = new Uint8Array(16);
  v4.set([l.afInet, 0, 0x30, 0x39, 10, 1, 2, 3]);
  assert.deepEqual(decodeSockaddr(v4, l), { hostname: "10.1.2.3", port: 12345 });
  const v6 = new Uint8Array(28);
  v6.set([28, d.afInet6, 0, 80]);
  v6.set([0x20, 0x01, 0x0d, 0xb8], 8);
  v6[23] = 1;
  assert.deepEqual(decodeSockaddr(v6, d), { hostname: "2001:db8::1", port: 80 });
  assert.equal(decodeSockaddr(new Uint8Array(16), l), null); // AF_UNSPEC
});

Deno.test("IPv6 text is RFC 5952: longest zero run compressed, IPv4-mapped dotted", () => {
  const ip = (text: string) => formatIp(parseIp(text)!);
  assert.equal(ip("::1"), "::1");
  assert.equal(ip("::"), "::");
  assert.equal(ip("2001:0db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(ip("fe80:0:0:0:0:0:0:1"), "fe80::1");
  assert.equal(ip("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7"); // a single zero group stays
  assert.equal(ip("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
  assert.equal(ip("192.168.0.1"), "192.168.0.1");
});
