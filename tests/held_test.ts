/**
 * Connections held in slots (lib/net/held.ts): every connection reports its end exactly once, with
 * the right reason, while slots are freed and given to later connections.
 */
import assert from "assert";
import { CliProcess, eventsOf, startServer } from "./helpers/cli.ts";
import type { TcpkaEvent } from "../lib/events.ts";

const N = 40;

function once(events: TcpkaEvent[], type: "closed" | "sent" | "echo", ids: number[]): void {
  const seen = eventsOf(events, type).map((e) => e.id).sort((a, b) => a - b);
  assert.deepEqual(seen, ids, `${type}: each connection exactly once`);
}

/** `tcpka client` with N connections to `port`, run to its end. */
function client(port: number, args: string[]) {
  const base = ["client", "--json", "--port", String(port), "--connections", String(N)];
  return new CliProcess([...base, ...args]).done;
}

Deno.test("held connections: --send-after echoes, hold expiry and slot reuse, each end reported once", async () => {
  const { server, port } = await startServer(["--hold", "0"]);
  const ids = (from: number) => Array.from({ length: N }, (_, i) => from + i);
  try {
    // Each sends after 300 ms, gets the echo and closes.
    const a = await client(port, ["--send-after", "300ms", "--message", "hello", "--hold", "0"]);
    assert.equal(a.code, 0, a.stderr);
    once(a.events, "sent", ids(1));
    once(a.events, "echo", ids(1));
    once(a.events, "closed", ids(1));
    assert.deepEqual(eventsOf(a.events, "summary")[0].ended, { echoed: N });
    await server.waitFor(() => eventsOf(server.events, "closed").length === N);

    // Then as many again, into the slots the first ones left; they end when their hold expires.
    const b = await client(port, ["--hold", "400ms"]);
    assert.equal(b.code, 0, b.stderr);
    once(b.events, "closed", ids(1));
    assert.deepEqual(eventsOf(b.events, "summary")[0].ended, { "hold-expired": N });
    await server.waitFor(() => eventsOf(server.events, "closed").length === 2 * N);
  } finally {
    server.stop("SIGTERM");
  }
  const end = await server.done;
  assert.equal(end.code, 0, end.stderr);
  once(end.events, "closed", ids(1).concat(ids(N + 1)));
  assert.ok(eventsOf(end.events, "closed").every((e) => e.reason === "peer-closed"));
  // Each of the first N echoed its 5 bytes back.
  const out = eventsOf(end.events, "data").filter((e) => e.direction === "out");
  assert.equal(out.reduce((sum, e) => sum + e.bytes, 0), 5 * N);
});
