/**
 * The OS socket layer against the kernel: keep-alive set and read back on a bare descriptor
 * number, the addresses and TCP_INFO of a live connection, as `ss` and the peer see them.
 */
import assert from "assert";
import { openSockets, type Sockets } from "../lib/socket/mod.ts";
import { querySockets } from "../lib/observe/ss.ts";

const linux = Deno.build.os === "linux";

/** Runs `fn` with the socket layer and a loopback connection, closing everything afterwards. */
async function withConnection(
  fn: (
    sockets: Sockets,
    client: Deno.TcpConn,
    server: Deno.TcpConn,
    listener: Deno.TcpListener,
  ) => Promise<void>,
): Promise<void> {
  const { sockets, reason } = openSockets();
  assert.ok(sockets, reason ?? "");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  try {
    await fn(sockets, client, server, listener);
  } finally {
    for (const closable of [client, server, listener]) {
      try {
        closable.close();
      } catch { /* closed by the test */ }
    }
  }
}

Deno.test({
  name: "keep-alive on a bare descriptor number: set, read back, and seen by ss",
  ignore: !linux,
  fn: () =>
    withConnection(async (sockets, client, _server, listener) => {
      const fd = sockets.locate(client)!.handle;
      assert.equal(sockets.handleOf(client), fd);
      // From here on only the number is used, as for a descriptor copied from another process.
      sockets.setKeepAlive(fd, { enabled: true, idleMs: 3000, intervalMs: 2000, count: 4 });
      const reading = sockets.readKeepAlive(fd);
      assert.equal(reading.enabled, true);
      assert.deepEqual(reading.values, { idleMs: 3000, intervalMs: 2000, count: 4 });
      const mine = (await querySockets(listener.addr.port))
        .find((s) => s.localPort === client.localAddr.port);
      assert.equal(mine?.timer?.name, "keepalive");
      assert.ok(mine!.timer!.ms <= 3000, `keep-alive timer ${mine!.timer!.ms}ms > idle 3s`);
    }),
});

Deno.test({
  name: "addresses and TCP_INFO of a live connection, before and after the peer closes",
  ignore: !linux,
  fn: () =>
    withConnection(async (sockets, client, server, listener) => {
      const fd = sockets.locate(client)!.handle;
      assert.deepEqual(sockets.addressesOf(fd), {
        local: { hostname: "127.0.0.1", port: client.localAddr.port },
        remote: { hostname: "127.0.0.1", port: listener.addr.port },
      });
      const fresh = sockets.readTcpInfo(fd);
      assert.equal(fresh.stateName, "ESTABLISHED");
      assert.equal(fresh.probes, 0);
      assert.equal(fresh.unacked, 0);

      await server.write(new TextEncoder().encode("hi"));
      assert.equal(await client.read(new Uint8Array(8)), 2);
      await new Promise((r) => setTimeout(r, 300));
      const later = sockets.readTcpInfo(fd);
      assert.ok(
        later.lastDataRecvMs >= 250 && later.lastDataRecvMs < 10_000,
        `last data received ${later.lastDataRecvMs}ms ago, expected about 300ms`,
      );

      server.close();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sockets.readTcpInfo(fd).stateName, "CLOSE_WAIT");
      // A listener has no peer, and its TCP_INFO says LISTEN.
      const raised = sockets.raiseBacklog(listener, 128);
      assert.equal(sockets.addressesOf(raised.handle)?.remote, null);
      assert.equal(sockets.readTcpInfo(raised.handle).stateName, "LISTEN");
      assert.equal(sockets.addressesOf(1_000_000), null); // nothing there
    }),
});
