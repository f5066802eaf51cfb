/**
 * The Go reference: the leanest Go programs doing the roles' job (go/server, go/client: one
 * goroutine per connection with a 1-byte read pending, keep-alive set with setsockopt), built
 * into the bench's temp dir. Debian: apt-get install golang-go.
 */
const GO_DIR = new URL("./go/", import.meta.url).pathname;

export interface GoReference {
  server: string;
  client: string;
  version: string;
}

/** Builds both programs into `dir`; null when there is no Go toolchain. */
export async function buildGo(
  dir: string,
  log: (text: string) => void,
): Promise<GoReference | null> {
  let version: string;
  try {
    const out = await new Deno.Command("go", { args: ["version"], stdout: "piped" }).output();
    version = new TextDecoder().decode(out.stdout).trim();
  } catch {
    return null;
  }
  log(`building the Go reference (${version})`);
  const built = { server: `${dir}/go-server`, client: `${dir}/go-client` };
  for (const [name, path] of Object.entries(built)) {
    const out = await new Deno.Command("go", {
      args: ["build", "-o", path, `./${name}`],
      cwd: GO_DIR,
      env: { GOCACHE: `${Deno.env.get("HOME") ?? dir}/.cache/go-build`, GOFLAGS: "-mod=mod" },
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`go build failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { ...built, version };
}
