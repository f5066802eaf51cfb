/**
 * The programs the connections part pits against each other, each driven the same way: tcpka's
 * server and client as users run them, the Go reference, and bare Deno (no tcpka code).
 */
import { Child, ROOT } from "./child.ts";
import type { GoReference } from "./go.ts";
import { V8_FLAGS } from "../../lib/process/runtime_flags.ts";

/** Keep-alive on every connection, long enough that no probe is sent during a run. */
export const KA = { idleS: 60, intervalS: 10, count: 3 };

export interface Lookup {
  micros: number;
  checks: number;
}

export interface Opened {
  /** From the client starting to connect to the last connection having keep-alive set. */
  openMs: number;
  /** tcpka only: descriptor lookup of the first and last connection set up. */
  lookups?: { first: Lookup; last: Lookup };
}

/** One implementation of the two roles, as the bench drives it. */
export interface Impl {
  name: string;
  /** Starts a server expecting `n` connections; resolves with its port once it listens. */
  server(dir: string, n: number): Promise<{ child: Child; port: number }>;
  /** Resolves once the server has accepted `n` connections (and set keep-alive on them). */
  accepted(server: Child, n: number): Promise<void>;
  client(dir: string, port: number, n: number): Child;
  opened(client: Child, n: number): Promise<Opened>;
}

const KA_FLAGS = [
  "--idle",
  `${KA.idleS}s`,
  "--interval",
  `${KA.intervalS}s`,
  "--count",
  String(KA.count),
];

/** tcpka as users run it (`deno run -P` with its V8 flags); other flags for diagnostic runs. */
export const tcpkaArgv = (args: string[], denoFlags: readonly string[] = V8_FLAGS) => [
  Deno.execPath(),
  "run",
  "-q",
  "-P",
  ...denoFlags,
  `${ROOT}main.ts`,
  ...args,
];

/** Polls until `n` keep-alive events have been written; returns the first and the last. */
async function keepAliveEvents(child: Child, n: number, what: string) {
  let count = 0;
  let first: string | null = null;
  let last: string | null = null;
  let connecting: string | null = null;
  const end = performance.now() + 120_000;
  while (count < n) {
    for (const line of child.newLines()) {
      if (line.includes(`"type":"keepalive"`)) {
        count++;
        first ??= line;
        last = line;
      } else if (connecting === null && line.includes(`"type":"connecting"`)) connecting = line;
    }
    if (count >= n) break;
    if (performance.now() > end) throw new Error(`timed out: ${what} (${count}/${n})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { first: JSON.parse(first!), last: JSON.parse(last!), connecting };
}

export const tcpkaImpl = (denoFlags: readonly string[] = V8_FLAGS): Impl => ({
  name: "tcpka",
  async server(dir) {
    const child = new Child(
      dir,
      tcpkaArgv(["server", "--json", "--port", "0", "--hold", "0", ...KA_FLAGS], denoFlags),
    );
    const line = await child.waitForLine((l) => l.includes(`"type":"listening"`));
    return { child, port: JSON.parse(line).port };
  },
  async accepted(server, n) {
    await keepAliveEvents(server, n, "tcpka server accepting");
  },
  client(dir, port, n) {
    const args = ["client", "--json", "--port", `${port}`, "--connections", `${n}`, "--hold", "0"];
    return new Child(dir, tcpkaArgv([...args, ...KA_FLAGS], denoFlags));
  },
  async opened(client, n) {
    const { first, last, connecting } = await keepAliveEvents(client, n, "tcpka client opening");
    const lookup = (e: { report: { lookup?: Lookup } }) => ({
      micros: e.report.lookup?.micros ?? NaN,
      checks: e.report.lookup?.checks ?? NaN,
    });
    return {
      openMs: last.time - JSON.parse(connecting!).time,
      lookups: { first: lookup(first), last: lookup(last) },
    };
  },
});

/**
 * A pair of programs that print "listening PORT", "accepted N" once the server has N connections,
 * and "opened N MICROS" once the client has opened N: the Go reference and bare Deno.
 */
function lineImpl(
  name: string,
  serverArgv: (n: number) => string[],
  clientArgv: (port: number, n: number) => string[],
): Impl {
  return {
    name,
    async server(dir, n) {
      const child = new Child(dir, serverArgv(n));
      const line = await child.waitForLine((l) => l.startsWith("listening "));
      return { child, port: Number(line.split(" ")[1]) };
    },
    async accepted(server) {
      await server.waitForLine((l) => l.startsWith("accepted "), 120_000);
    },
    client: (dir, port, n) => new Child(dir, clientArgv(port, n)),
    async opened(client) {
      const line = await client.waitForLine((l) => l.startsWith("opened "), 120_000);
      return { openMs: Number(line.split(" ")[2]) / 1000 };
    },
  };
}

const kaArgs = () => [String(KA.idleS), String(KA.intervalS), String(KA.count)];

export function goImpl(go: GoReference): Impl {
  return lineImpl(
    "Go",
    (n) => [go.server, ...kaArgs(), String(n)],
    (port, n) => [go.client, `127.0.0.1:${port}`, String(n), ...kaArgs()],
  );
}

/**
 * Deno with none of tcpka's code (bare_deno.ts): the floor under tcpka's numbers. With `read`, a
 * 1-byte read pending on each connection as in the Go reference; without, the connection objects
 * alone.
 */
export function bareDenoImpl(read = true): Impl {
  const deno = [
    Deno.execPath(),
    "run",
    "-q",
    "--allow-net",
    "--allow-ffi",
    new URL("./bare_deno.ts", import.meta.url).pathname,
  ];
  const mode = read ? "read" : "idle";
  return lineImpl(
    read ? "bare Deno" : "bare Deno, nothing pending",
    (n) => [...deno, "server", `${n}`, mode],
    (port, n) => [...deno, "client", `${port}`, `${n}`, mode],
  );
}
