/**
 * What the bench reads from /proc about its children and the kernel. The bench runs with
 * --allow-all, which is what allows these reads; the tool under test never reads /proc.
 */

/** A memory field of a process's /proc status, in bytes; null once it has exited. */
export function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null; // exited
  }
}

const CLK_TCK = 100; // USER_HZ is 100 on every Linux ABI the bench runs on

/** User + system CPU of a process (all threads), in ms. */
export function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces; fields after it are counted from the ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLK_TCK;
}

/** TcpExt counters (what `nstat` reads) of the network namespace process `pid` is in. */
export function tcpExt(pid: number): Record<string, number> {
  const lines = Deno.readTextFileSync(`/proc/${pid}/net/netstat`).split("\n");
  const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
  const names = lines[i].split(/\s+/).slice(1);
  const values = lines[i + 1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, j) => [n, values[j]]));
}

/** The machine, for the table's title. */
export function cpuModel(): string {
  return /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
}
