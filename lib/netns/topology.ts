/**
 * Network namespaces made for one run and removed on every exit path. Deleting a namespace
 * removes its veth ends, addresses, routes, nftables rules and sysctls with it, so cleanup is one
 * `ip netns del` each. Names carry our pid, so a run killed with SIGKILL is recognisable later.
 */
import { mustRun, run } from "./run.ts";
import { RuntimeError } from "../errors.ts";
import { onCleanup, shutdownSignal, spawnChild } from "../process/shutdown.ts";

/**
 * Namespaces, veth links and nftables need Linux and root. Missing privilege is the world saying no,
 * like everywhere else in tcpka (exit 1, see the README's exit-status table).
 */
export function requireRoot(what: string): void {
  if (Deno.build.os !== "linux") throw new RuntimeError(`${what} needs Linux network namespaces`);
  if (Deno.uid() !== 0) {
    throw new RuntimeError(`${what} needs root to create network namespaces; run it with sudo`);
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
  #removal: Promise<void> | null = null;
  /** The step of `create` in progress: removal waits for it, so nothing is added after. */
  #step: Promise<unknown> = Promise.resolve();
  readonly #unregister: () => void;
  readonly #keepers: Deno.ChildProcess[] = [];

  private constructor(names: Record<string, string>) {
    this.names = names;
    // Registered before the first namespace exists: a Ctrl-C during creation removes what exists.
    this.#unregister = onCleanup(() => this.remove());
  }

  /** Runs one creation step unless removal has begun (then creation stops). */
  async #add(argv: string[]): Promise<void> {
    // Once the run is asked to stop, nothing new is made (the exit may already be cleaning up).
    if (this.#removal || shutdownSignal.aborted) {
      throw new RuntimeError("stopped while creating the network namespaces");
    }
    this.#step = mustRun(argv);
    await this.#step;
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
        await topology.#add(["ip", "netns", "add", name]);
        topology.#keepers.push(keeper(name));
        await topology.#add(["ip", "-n", name, "link", "set", "lo", "up"]);
      }
      for (const { a, b } of links) {
        await topology.#add([
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
          await topology.#add([
            "ip",
            "-n",
            names[end.ns],
            "addr",
            "add",
            end.cidr,
            "dev",
            end.ifname,
          ]);
          await topology.#add(["ip", "-n", names[end.ns], "link", "set", end.ifname, "up"]);
        }
      }
    } catch (err) {
      await topology.remove();
      throw err;
    }
    return topology;
  }

  /** Idempotent; safe to call from every exit path, and every caller waits for the same removal. */
  remove(): Promise<void> {
    this.#removal ??= (async () => {
      await this.#step.catch(() => {});
      await Promise.all(
        Object.values(this.names).map(async (name) => {
          await killProcessesIn(name);
          await run(["ip", "netns", "del", name]);
        }),
      );
      for (const k of this.#keepers) {
        try {
          k.kill("SIGKILL");
        } catch { /* killed with its namespace's processes */ }
        await k.status;
      }
      this.#unregister();
    })();
    return this.#removal;
  }
}

/**
 * A process that lives in namespace `name` for the topology's lifetime (`ip monitor` waits for
 * link events until killed): older tcpka versions delete any tcpka namespace with no process in
 * it, which removed a concurrent run's router (it never has one) in the middle of its run.
 */
function keeper(name: string): Deno.ChildProcess {
  const child = spawnChild(["ip", "netns", "exec", name, "ip", "monitor", "link"], {
    stdin: "null",
    stdout: "null",
    stderr: "null",
  });
  child.unref();
  return child;
}

async function killProcessesIn(name: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", name]);
  const list = pids.stdout.split(/\s+/).filter(Boolean);
  if (list.length > 0) await run(["ip", "netns", "exec", name, "kill", "-KILL", ...list]);
}

/**
 * Whether process `pid` exists. `ip netns identify PID` opens /proc/PID/ns/net and fails when there
 * is no such process; Deno itself would need --allow-all to look at /proc, and --allow-run for all
 * programs to signal another process.
 */
export async function processAlive(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  return (await run(["ip", "netns", "identify", String(pid)])).code === 0;
}

/** The pid a namespace name carries (tcpka-<pid>-<key>), or null for a name not of that form. */
export function ownerPid(name: string): number | null {
  const m = /^tcpka-(\d+)-/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Namespaces whose owner is gone: leftovers of a run killed with SIGKILL. Only the owner's death
 * counts; a namespace with no process in it may belong to a concurrent run that has just created
 * it and not yet started anything inside.
 */
export async function removeStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listOurNamespaces()) {
    const pid = ownerPid(name);
    if (pid === null || pid === Deno.pid || await processAlive(pid)) continue;
    await killProcessesIn(name);
    if ((await run(["ip", "netns", "del", name])).code === 0) removed.push(name);
  }
  return removed;
}

/** Names of our namespaces currently present. */
async function listOurNamespaces(): Promise<string[]> {
  const list = await run(["ip", "netns", "list"]);
  return list.stdout.split("\n").map((l) => l.split(/\s+/)[0]).filter((n) => n?.startsWith(PREFIX));
}
