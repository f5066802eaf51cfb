/**
 * The layering rules, checked on the source (README "How it is built"): commands on top of the
 * library, nothing importing upward, one OS socket layer that alone opens native libraries.
 */
import assert from "assert";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Every module `file` imports (static, dynamic or re-exported), as paths from the repository root. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(join(ROOT, file));
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\sfrom\s+"([^"]+)"/gms),
    ...text.matchAll(/^\s*import\s+"([^"]+)"/gm),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]);
  return specifiers.filter((s) => s.startsWith(".")).map((s) =>
    relative(ROOT, join(ROOT, file, "..", s))
  );
}

/** The unit of layering under lib/: its folder (`lib/socket`), or the file for lib/'s own files. */
function unitOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? parts.slice(0, 2).join("/") : path;
}

const LIB = sourceFiles("lib");

Deno.test("the scan sees the library: every folder and some imports", () => {
  const units = new Set(LIB.map(unitOf));
  for (const folder of ["lib/socket", "lib/keepalive", "lib/roles", "lib/report", "lib/demo"]) {
    assert.ok(units.has(folder), `${folder} not found`);
  }
  assert.ok(importsOf("lib/keepalive/mod.ts").includes("lib/socket/mod.ts"));
  assert.ok(importsOf("lib/report/style.ts").length === 0);
});

Deno.test("nothing under lib/ imports a top-level file", () => {
  const upward = LIB.flatMap((file) =>
    importsOf(file).filter((target) => !target.startsWith("lib/")).map((t) => `${file} -> ${t}`)
  );
  assert.deepEqual(upward, []);
});

Deno.test("no folder under lib/ imports one that imports it back, directly or around a cycle", () => {
  const edges = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const file of LIB) {
    const from = unitOf(file);
    for (const target of importsOf(file)) {
      const to = unitOf(target);
      if (to === from || !target.startsWith("lib/")) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
      why.set(`${from} -> ${to}`, `${file} -> ${target}`);
    }
  }
  // Depth-first search for a cycle; report it with the import that makes each step.
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (unit: string) => {
    state.set(unit, "open");
    path.push(unit);
    for (const next of edges.get(unit) ?? []) {
      if (state.get(next) === "open") {
        const loop = [...path.slice(path.indexOf(next)), next];
        cycles.push(loop.slice(1).map((to, i) => why.get(`${loop[i]} -> ${to}`)).join(", "));
      } else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(unit, "done");
  };
  for (const unit of edges.keys()) if (!state.has(unit)) visit(unit);
  assert.deepEqual(cycles, []);
});

Deno.test("only lib/socket/ opens native libraries, each in one file", () => {
  const opening = [...LIB, ...sourceFiles("scripts"), "main.ts"].filter((file) =>
    /Deno\.dlopen\(/.test(Deno.readTextFileSync(join(ROOT, file)))
  );
  assert.deepEqual(opening, ["lib/socket/libc.ts", "lib/socket/winsock.ts"]);
  const bindings = LIB.filter((file) =>
    !file.startsWith("lib/socket/") &&
    importsOf(file).some((t) => t === "lib/socket/libc.ts" || t === "lib/socket/winsock.ts")
  );
  assert.deepEqual(bindings, [], "only the socket layer may call libc or Winsock");
});

Deno.test("the command files import only the library (and each other's flag parsing)", () => {
  const commands = [
    "main.ts",
    "server.ts",
    "client.ts",
    "capture.ts",
    "demo.ts",
    "watch.ts",
    "discover.ts",
    "inspect.ts",
    "set.ts",
  ];
  for (const file of commands) {
    for (const target of importsOf(file)) {
      assert.ok(
        target.startsWith("lib/") || commands.includes(target) || target === "deno.json",
        `${file} imports ${target}`,
      );
    }
  }
});
