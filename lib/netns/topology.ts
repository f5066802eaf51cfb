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
  }
}

async function killProcessesIn(name: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    await run(["ip", "netns", "exec", name, "kill", "-KILL", pid]);
  }
}

/** Namespaces of ours with no process left in them: leftovers of a run that was killed. */
async function removeStale(): Promise<void> {
  const list = await run(["ip", "netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(/\s+/)[0];
    if (!name?.startsWith(PREFIX)) continue;
    const pid = Number(name.split("-")[1]);
    if (pid === Deno.pid) continue;
    const pids = await run(["ip", "netns", "pids", name]);
    if (pids.code === 0 && pids.stdout.trim() === "") await run(["ip", "netns", "del", name]);
  }
}
