/**
 * Bare Deno in the two roles, no tcpka code: Deno.listen/connect, setKeepAlive(true) (Deno's on/off
 * switch) and, with "read", a 1-byte read pending on each connection. Run by the bench (roles.ts):
 *
 *   bare_deno.ts server N read|idle      prints "listening PORT", then "accepted N"
 *   bare_deno.ts client PORT N read|idle  prints "opened N MICROS"
 *
 * Its listener gets the raised backlog too, or a burst would lose connections (see
 * lib/roles/backlog.ts).
 */
import { KeepAliveController } from "../../lib/keepalive/mod.ts";
import { raiseBacklog } from "../../lib/roles/backlog.ts";

const held: Deno.TcpConn[] = [];

function hold(conn: Deno.TcpConn, read: boolean): void {
  conn.setKeepAlive(true);
  if (!read) return void held.push(conn); // the connection object alone: Deno's floor
  const buf = new Uint8Array(1);
  (async () => {
    try {
      while (await conn.read(buf) !== null) { /* idle */ }
    } catch { /* reset */ }
    conn.close();
  })();
}

async function server(n: number, read: boolean): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const raised = raiseBacklog(await KeepAliveController.create(), listener);
  if (!raised.raised) throw new Error(`cannot raise the backlog: ${raised.reason}`);
  console.log(`listening ${listener.addr.port}`);
  for (let accepted = 1;; accepted++) {
    hold(await listener.accept(), read);
    if (accepted === n) console.log(`accepted ${n}`);
  }
}

async function client(port: number, n: number, read: boolean): Promise<void> {
  const started = performance.now();
  await Promise.all(Array.from({ length: n }, async () => {
    hold(await Deno.connect({ hostname: "127.0.0.1", port }), read);
  }));
  console.log(`opened ${n} ${Math.round((performance.now() - started) * 1000)}`);
  setInterval(() => {}, 1 << 30); // hold until killed, even with nothing pending
}

if (import.meta.main) {
  const [role, ...args] = Deno.args;
  const read = args[args.length - 1] === "read";
  if (role === "server") await server(Number(args[0]), read);
  else await client(Number(args[0]), Number(args[1]), read);
}
