import { listOurNamespaces } from "../../lib/netns/topology.ts";

/**
 * Our namespaces that appeared since `before` was taken: other runs on the machine (another test
 * process, a demo in a terminal) may have their own, and they are not this test's business.
 */
export async function namespacesSince(before: string[]): Promise<string[]> {
  return (await listOurNamespaces()).filter((n) => !before.includes(n));
}

export { listOurNamespaces };

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
  // Only this one: other runs on the machine may be making theirs meanwhile.
  if ((await listOurNamespaces()).includes(name)) throw new Error(`${name} was left behind`);
}
