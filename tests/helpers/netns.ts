/** Our network namespaces (named tcpka-<pid>-<role> by lib/netns/topology.ts), for the tests. */

/**
 * The namespaces of the tcpka process `pid` that exist now. Checking one process's namespaces,
 * rather than all that appeared meanwhile, keeps other runs on the machine (another test process,
 * a demo in a terminal) out of this test's business.
 */
export async function namespacesOf(pid: number): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(/\s+/)[0])
    .filter((n) => n?.startsWith(`tcpka-${pid}-`));
}

/**
 * Runs `fn` with a network namespace of its own (loopback up), named tcpka-<pid>-<suffix>, and
 * removes it afterwards whatever happens; then checks it is gone.
 */
export async function withNamespace(
  suffix: string,
  fn: (name: string, exec: string[]) => Promise<void>,
): Promise<void> {
  const name = `tcpka-${Deno.pid}-${suffix}`;
  const ip = (...args: string[]) => new Deno.Command("ip", { args, stderr: "null" }).output();
  await ip("netns", "add", name);
  try {
    await ip("-n", name, "link", "set", "lo", "up");
    await fn(name, ["ip", "netns", "exec", name]);
  } finally {
    await ip("netns", "del", name);
  }
  if ((await namespacesOf(Deno.pid)).includes(name)) throw new Error(`${name} was left behind`);
}
