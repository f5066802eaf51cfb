/** Our network namespaces (named tcpka-<pid>-<role> by lib/netns/topology.ts), for the tests. */

/** Names of our namespaces currently present (tests assert none are left behind). */
export async function listOurNamespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(/\s+/)[0])
    .filter((n) => n?.startsWith("tcpka-"));
}

/**
 * Our namespaces that appeared since `before` was taken: other runs on the machine (another test
 * process, a demo in a terminal) may have their own, and they are not this test's business.
 */
export async function namespacesSince(before: string[]): Promise<string[]> {
  return (await listOurNamespaces()).filter((n) => !before.includes(n));
}

/**
 * Our namespaces that appeared since `before` and whose tcpka process (the pid in the name) is gone:
 * left behind. Another tcpka still running (another helper's test, a demo in a terminal) is busy
 * with its own, and is not counted.
 */
export async function namespacesLeftSince(before: string[]): Promise<string[]> {
  const alive = (pid: string) => {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  };
  return (await namespacesSince(before)).filter((n) => !alive(n.split("-")[1]));
}
