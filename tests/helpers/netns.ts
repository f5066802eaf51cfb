import { listOurNamespaces } from "../../lib/netns/topology.ts";

/**
 * Our namespaces that appeared since `before` was taken: other runs on the machine (another test
 * process, a demo in a terminal) may have their own, and they are not this test's business.
 */
export async function namespacesSince(before: string[]): Promise<string[]> {
  return (await listOurNamespaces()).filter((n) => !before.includes(n));
}

export { listOurNamespaces };
