/**
 * A heap snapshot of a running Deno program started with --inspect=HOST:PORT, taken through the
 * inspector protocol, and what it holds by constructor: the way to see which objects each idle
 * connection costs (run the program with N connections, divide by N).
 *
 *   deno run -A scripts/bench/heap_snapshot.ts 127.0.0.1:9229 [N] [--save FILE]
 */

export interface HeapClass {
  name: string;
  count: number;
  selfBytes: number;
}

/** Takes a snapshot through the inspector at `address`; returns its JSON text. */
export async function takeSnapshot(address: string): Promise<string> {
  const targets = await (await fetch(`http://${address}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const chunks: string[] = [];
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(msg.params.chunk);
    else if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: object = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("HeapProfiler.enable");
  await call("HeapProfiler.collectGarbage");
  await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  ws.close();
  return chunks.join("");
}

/** Self sizes by constructor (or by node type and name for V8's internal objects). */
export function summarise(snapshotJson: string): HeapClass[] {
  const snap = JSON.parse(snapshotJson);
  const meta = snap.snapshot.meta;
  const fields: string[] = meta.node_fields;
  const types: string[] = meta.node_types[0];
  const stride = fields.length;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const nodes: number[] = snap.nodes;
  const strings: string[] = snap.strings;
  const classes = new Map<string, HeapClass>();
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + typeAt]];
    const raw = strings[nodes[i + nameAt]];
    const name = type === "object" || type === "closure"
      ? `${type}:${raw}`
      : type === "string" || type === "concatenated string" || type === "sliced string"
      ? "(strings)"
      : `${type}:${raw.slice(0, 40)}`;
    const c = classes.get(name) ?? { name, count: 0, selfBytes: 0 };
    c.count++;
    c.selfBytes += nodes[i + sizeAt];
    classes.set(name, c);
  }
  return [...classes.values()].sort((a, b) => b.selfBytes - a.selfBytes);
}

if (import.meta.main) {
  const [address, n = "1"] = Deno.args;
  const save = Deno.args.indexOf("--save");
  const json = await takeSnapshot(address);
  if (save >= 0) Deno.writeTextFileSync(Deno.args[save + 1], json);
  const per = Number(n);
  const classes = summarise(json);
  const total = classes.reduce((a, c) => a + c.selfBytes, 0);
  console.log(
    `total ${(total / 1024 / 1024).toFixed(1)} MB; per ${per}: ${(total / per).toFixed(0)} B`,
  );
  for (const c of classes.slice(0, 40)) {
    console.log(
      `${String(c.selfBytes).padStart(10)} B ${String(c.count).padStart(8)}× ` +
        `${(c.selfBytes / per).toFixed(1).padStart(8)} B/conn  ${c.name}`,
    );
  }
}
