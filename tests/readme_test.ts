/** The README gets to the point, and every document it links to exists. */
import assert from "assert";
import { ROOT } from "./helpers/cli.ts";

const readme = await Deno.readTextFile(`${ROOT}README.md`);

Deno.test("README: the first screen says what tcpka is, the two commands and what to run", () => {
  const firstScreen = readme.split("\n").slice(0, 30).join("\n");
  assert.match(firstScreen, /`tcpka` is a tool/);
  assert.match(firstScreen, /deno task demo/);
  assert.match(firstScreen, /deno task test/);
  assert.match(firstScreen, /deno task install/);
  assert.match(firstScreen, /\| your problem +\| run/);
});

Deno.test("README and docs/: every relative link points at a file that exists", async () => {
  const files = ["README.md", ...[...Deno.readDirSync(`${ROOT}docs`)].map((e) => `docs/${e.name}`)];
  const broken: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
    for (const [, target] of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
      try {
        Deno.statSync(`${ROOT}${dir}${target}`);
      } catch {
        broken.push(`${file} → ${target}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("README: benchmark tables and Windows internals live in docs/, not on the first pages", () => {
  assert.ok(!/^## Scale and speed/m.test(readme), "benchmarks belong in docs/benchmarks.md");
  assert.ok(!/^### Verified under Wine/m.test(readme), "Wine internals belong in docs/windows.md");
  assert.ok(readme.includes("docs/benchmarks.md") && readme.includes("docs/windows.md"));
});
