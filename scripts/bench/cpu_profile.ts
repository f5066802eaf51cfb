/**
 * A CPU profile of a Deno program started with --inspect-wait=HOST:PORT, through the inspector
 * protocol: attaches, starts the profiler, lets the program run for SECONDS, and prints where the
 * time went by function (self time). How to see what the open time of N connections is made of.
 *
 *   deno run -A scripts/bench/cpu_profile.ts 127.0.0.1:9229 SECONDS
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

async function profile(address: string, seconds: number): Promise<ProfileNode[]> {
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 100 && targets.length === 0; i++) {
    try {
      targets = await (await fetch(`http://${address}/json/list`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  await call("Runtime.runIfWaitingForDebugger");
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const result = await call("Profiler.stop") as { profile: { nodes: ProfileNode[] } };
  ws.close();
  return result.profile.nodes;
}

if (import.meta.main) {
  const nodes = await profile(Deno.args[0], Number(Deno.args[1] ?? "5"));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const n of nodes) {
    const f = n.callFrame;
    const file = f.url.split("/").slice(-2).join("/");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (n.hitCount ?? 0));
    total += n.hitCount ?? 0;
  }
  const sorted = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 40);
  for (const [k, v] of sorted) console.log(`${(v / total * 100).toFixed(1).padStart(5)}% ${k}`);
}
