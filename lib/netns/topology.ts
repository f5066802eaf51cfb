/**
 * Network namespaces made for one run and removed on every exit path. Deleting a namespace
 * removes its veth ends, addresses, routes, nftables rules and sysctls with it, so cleanup is one
 * `ip netns del` each. Names carry our pid, so a run killed with SIGKILL is recognisable later.
 */
import { mustRun, run } from "./run.ts";
import { UsageError } from "../errors.ts";

/** Namespaces, veth links and nftables need Linux and root; anything else is a usage error. */
export function requireRoot(what: string): void {
  if (Deno.build.os !== "linux") throw new UsageError(`${what} needs Linux network namespaces`);
  if (Deno.uid() !== 0) {
    throw new UsageError(`${what} needs root to create network namespaces; run it with sudo`);
  }
}

const PREFIX = "tcpka-";

export interface Link {
  /** Namespace key and interface name on each end, with an address in CIDR form. */
  a: { ns: string; ifname: string; cidr: string };
  b: { ns: string; ifname: string; cidr: string };
}

export class Topology {
  /** Namespace key → real name. */
  readonly names: Record<string, string>;
  #removed = false;
  readonly #keepers: Deno.ChildProcess[] = [];

  private constructor(names: Record<string, string>) {
    this.names = names;
  }

  /** argv prefix that runs a command inside namespace `key`. */
  exec(key: string): string[] {
    return ["ip", "netns", "exec", this.names[key]];
  }

  static async create(keys: string[], links: Link[]): Promise<Topology> {
    await removeStale();
    const names = Object.fromEntries(keys.map((k) => [k, `${PREFIX}${Deno.pid}-${k}`]));
    const topology = new Topology(names);
    try {
      for (const name of Object.values(names)) {
        await mustRun(["ip", "netns", "add", name]);
        topology.#keepers.push(keeper(name));
        await mustRun(["ip", "-n", name, "link", "set", "lo", "up"]);
      }
      for (const { a, b } of links) {
        await mustRun([
          "ip",
          "link",
          "add",
          a.ifname,
          "netns",
          names[a.ns],
          "type",
          "veth",
          "peer",
          "name",
          b.ifname,
          "netns",
          names[b.ns],
        ]);
        for (const end of [a, b]) {
          await mustRun(["ip", "-n", names[end.ns], "addr", "add", end.cidr, "dev", end.ifname]);
          await mustRun(["ip", "-n", names[end.ns], "link", "set", end.ifname, "up"]);
        }
      }
    } catch (err) {
      await topology.remove();
      throw err;
    }
    return topology;
  }

  /** Idempotent; safe to call from every exit path. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    for (const name of Object.values(this.names)) {
      await killProcessesIn(name);
      await run(["ip", "netns", "del", name]);
    }
    for (const k of this.#keepers) {
      try {
        k.kill("SIGKILL");
      } catch { /* killed with its namespace's processes */ }
      await k.status;
    }
  }
}

/**
 * A process that lives in namespace `name` for the topology's lifetime (`ip monitor` waits for
 * link events until killed): older tcpka versions delete any tcpka namespace with no process in
 * it, which removed a concurrent run's router (it never has one) in the middle of its run.
 */
function keeper(name: string): Deno.ChildProcess {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", name, "ip", "monitor", "link"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return child;
}

async function killProcessesIn(name: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    await run(["ip", "netns", "exec", name, "kill", "-KILL", pid]);
  }
}

/**
 * Namespaces of ours whose run is over: leftovers of a run that was killed. A run is over when
 * its process (the pid in the name) is gone; whether a namespace has processes in it says nothing,
 * since a live run's router namespace never has any, and one being set up has none yet (deleting
 * those broke concurrent runs: another run's path stopped forwarding mid-measurement).
 */
async function removeStale(): Promise<void> {
  const list = await run(["ip", "netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(/\s+/)[0];
    if (!name?.startsWith(PREFIX)) continue;
    const pid = Number(name.split("-")[1]);
    if (pid === Deno.pid || await processExists(pid)) continue;
    await killProcessesIn(name);
    await run(["ip", "netns", "del", name]);
  }
}

/** `ip netns identify PID` reads /proc/PID/ns/net: it fails exactly when there is no such process. */
async function processExists(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  return (await run(["ip", "netns", "identify", String(pid)])).code === 0;
}
