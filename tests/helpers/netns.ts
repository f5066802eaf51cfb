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
