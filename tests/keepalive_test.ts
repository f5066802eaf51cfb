/**
 * Keep-alive control checked against the kernel: getsockopt read-back and, from outside the
 * process, `ss -tno` showing the keep-alive timer.
 */
import assert from "assert";
import { KeepAliveController } from "../lib/keepalive/mod.ts";
import { parseSsTimer, querySockets } from "../lib/observe/ss.ts";
import { HandleCheck, HandleFinder } from "../lib/socket/handle_finder.ts";
import { PosixSockets } from "../lib/socket/posix.ts";
import { PLATFORMS } from "../lib/socket/platform.ts";
import { parseIp } from "../lib/ip.ts";
import { detectionTimeMs } from "../lib/keepalive/settings.ts";

const linux = Deno.build.os === "linux";

function ipv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
const ipv6 = ipv6Loopback();

async function pair(listener: Deno.TcpListener): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return [client, await accepted];
}

Deno.test("ss timer text parses like iproute2 prints it", () => {
  assert.equal(parseSsTimer("032ms"), 32);
  assert.equal(parseSsTimer("1.976ms"), 1976);
  assert.equal(parseSsTimer("12sec"), 12_000);
  assert.equal(parseSsTimer("1min39sec"), 99_000);
  assert.equal(parseSsTimer("119min"), 7_140_000);
  assert.equal(parseSsTimer("bogus"), null);
});

Deno.test({
  name: "idle 1s, interval 1s, count 3: read back from the socket and seen by ss",
  ignore: !linux,
  async fn() {
    const controller = await KeepAliveController.create();
    assert.ok(controller.sockets, controller.fallbackReason ?? "");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const [client, server] = await pair(listener);
    try {
      const report = controller.apply(client, {
        enabled: true,
        idleMs: 1000,
        intervalMs: 1000,
        count: 3,
      });
      assert.equal(report.source, "socket");
      assert.equal(report.method, "setsockopt");
      assert.equal(report.enabled, true);
      assert.deepEqual(report.effective, { idleMs: 1000, intervalMs: 1000, count: 3 });
      assert.deepEqual(report.notes, []);

      const sockets = await querySockets(listener.addr.port);
      const mine = sockets.find((s) => s.localPort === client.localAddr.port);
      assert.ok(mine, `ss does not list our socket: ${JSON.stringify(sockets)}`);
      assert.equal(mine.timer?.name, "keepalive");
      assert.ok(mine.timer!.ms <= 1000, `keepalive timer ${mine.timer!.ms}ms > idle 1s`);
      // The accepted side got nothing: no keep-alive timer there.
      const other = sockets.find((s) => s.localPort === listener.addr.port && s.state === "ESTAB");
      assert.notEqual(other?.timer?.name, "keepalive");

      // Turning it off is read back too, and the timer disappears.
      const off = controller.apply(client, { enabled: false });
      assert.equal(off.enabled, false);
      const after = (await querySockets(listener.addr.port))
        .find((s) => s.localPort === client.localAddr.port);
      assert.notEqual(after?.timer?.name, "keepalive");
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
});

Deno.test({
  name: "unset timings keep the system defaults, and the read-back shows them",
  ignore: !linux,
  async fn() {
    const controller = await KeepAliveController.create();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const [client, server] = await pair(listener);
    try {
      const report = controller.apply(client, { enabled: true, idleMs: 5000 });
      const sysctl = await new Deno.Command("sysctl", {
        args: ["-n", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"],
      }).output();
      const [intvl, probes] = new TextDecoder().decode(sysctl.stdout).trim().split(/\s+/).map(
        Number,
      );
      assert.deepEqual(report.effective, { idleMs: 5000, intervalMs: intvl * 1000, count: probes });
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
});

Deno.test({
  name: `IPv6 connections are found and configured${
    ipv6 ? "" : " (skipped: no IPv6 loopback ::1)"
  }`,
  ignore: !linux || !ipv6,
  async fn() {
    const listener = Deno.listen({ hostname: "::1", port: 0 });
    const controller = await KeepAliveController.create();
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "::1", port: listener.addr.port });
    const server = await accepted;
    try {
      const report = controller.apply(server, { enabled: true, idleMs: 7000, intervalMs: 3000 });
      assert.equal(report.source, "socket");
      assert.equal(report.effective.idleMs, 7000);
      assert.equal(report.effective.intervalMs, 3000);
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
});

Deno.test("IP parsing for sockaddr matching", () => {
  assert.deepEqual([...parseIp("127.0.0.1")!], [127, 0, 0, 1]);
  assert.deepEqual([...parseIp("::1")!], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...parseIp("::ffff:10.0.0.1")!].slice(10), [0xff, 0xff, 10, 0, 0, 1]);
  assert.deepEqual([...parseIp("fe80::1%eth0")!].slice(0, 2), [0xfe, 0x80]);
  for (const bad of ["1.2.3", "256.0.0.1", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:8:9"]) {
    assert.equal(parseIp(bad), null, bad);
  }
});

Deno.test("handle finder: never returns a handle the check did not confirm", () => {
  const open = new Map<number, number>([[3, 0], [5, 0], [9, 1], [10, 2]]); // handle -> key
  const finder = new HandleFinder(3, 1, 4);
  const checker = (want: number) => ({
    lastKey: 0,
    check(h: number) {
      const key = open.get(h);
      if (key === undefined) return HandleCheck.Free;
      if (key === 0) return HandleCheck.NotConnected;
      if (key === want) return HandleCheck.Match;
      this.lastKey = key;
      return HandleCheck.Other;
    },
  });
  assert.equal(finder.find(2, checker(2))?.handle, 10);
  // Key 1 was passed over on the way: found with a single check.
  assert.deepEqual(finder.find(1, checker(1)), { handle: 9, checks: 1 });
  assert.equal(finder.find(7, checker(7)), null);
  // A released handle is tried first.
  open.set(9, 4);
  finder.release(9);
  assert.deepEqual(finder.find(4, checker(4)), { handle: 9, checks: 1 });
});

Deno.test({
  name: "descriptor lookup is amortised O(1): 2,000 connections, opened concurrently and reused",
  ignore: !linux,
  async fn() {
    const sockets = new PosixSockets(PLATFORMS.linux);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const n = 1000;
    const accepting = (async () => {
      const out: Deno.TcpConn[] = [];
      for (let i = 0; i < n; i++) out.push(await listener.accept());
      return out;
    })();
    // Concurrent connects complete out of order: the worst case for a naive "newest fd" guess.
    const clients = await Promise.all(
      Array.from(
        { length: n },
        () => Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      ),
    );
    const servers = await accepting;
    const all = [...clients, ...servers];
    const handles = new Set<number>();
    const start = sockets.finder.totalChecks;
    for (const conn of all) {
      const found = sockets.locate(conn);
      assert.ok(found, "connection not found");
      handles.add(found.handle);
      // The handle really is this connection's: the kernel's keep-alive option follows it.
      sockets.setKeepAlive(found.handle, {
        enabled: true,
        idleMs: 1000 + (conn.localAddr.port % 100) * 1000,
      });
      assert.equal(
        sockets.readKeepAlive(found.handle).values.idleMs,
        1000 + (conn.localAddr.port % 100) * 1000,
      );
    }
    assert.equal(handles.size, all.length, "two connections mapped to one handle");
    const checksPerConn = (sockets.finder.totalChecks - start) / all.length;
    assert.ok(checksPerConn < 3, `${checksPerConn.toFixed(2)} checks per connection`);

    // Close half, open as many again: the freed descriptors are reused and found directly.
    for (const conn of clients.slice(0, n / 2)) {
      sockets.locate(conn);
      sockets.release(conn);
      conn.close();
    }
    const before = sockets.finder.totalChecks;
    const scansBefore = sockets.finder.fullScans;
    const again: Deno.TcpConn[] = [];
    for (let i = 0; i < n / 2; i++) {
      const accepted = listener.accept();
      again.push(await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
      again.push(await accepted);
      for (const conn of again.slice(-2)) assert.ok(sockets.locate(conn));
    }
    const perReused = (sockets.finder.totalChecks - before) / again.length;
    assert.ok(perReused < 4, `${perReused.toFixed(2)} checks per connection after reuse`);
    assert.equal(sockets.finder.fullScans, scansBefore, "fell back to full scans");
    for (const conn of [...all.slice(n / 2), ...again]) conn.close();
    listener.close();
  },
});

Deno.test({
  name: "TCP_USER_TIMEOUT is set, read back, and shortens keep-alive's verdict as Linux does",
  ignore: !linux,
  async fn() {
    const controller = await KeepAliveController.create();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const [client, server] = await pair(listener);
    try {
      const report = controller.apply(client, {
        enabled: true,
        idleMs: 2000,
        intervalMs: 2000,
        count: 9,
        userTimeoutMs: 3000,
      });
      assert.equal(report.userTimeoutMs, 3000);
      // Without it: 2 + 2 × 9 = 20 s; with it, the first probe timer after 3 s: 2 + 2 × 1 = 4 s.
      assert.equal(detectionTimeMs(report.effective), 20_000);
      assert.equal(detectionTimeMs(report.effective, report.userTimeoutMs), 4000);
      assert.equal(controller.apply(server, { enabled: false }).userTimeoutMs, undefined);
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
});
