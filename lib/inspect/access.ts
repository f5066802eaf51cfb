/**
 * Reaching another process's descriptors, and turning a refusal into what the user needs to hear:
 * which privilege is missing, or which kernel feature, in one line.
 */
import { ProcessAccessError, type ProcessDescriptors, type Sockets } from "../socket/mod.ts";

/** Opens `pid` and checks this process may copy its descriptors; throws ProcessAccessError. */
export function openProcessChecked(sockets: Sockets, pid: number): ProcessDescriptors {
  const process = sockets.openProcess(pid);
  try {
    process.checkAccess();
    return process;
  } catch (err) {
    process.close();
    throw err;
  }
}

export function isProcessError(err: unknown, failure?: ProcessAccessError["failure"]): boolean {
  return err instanceof ProcessAccessError && (failure === undefined || err.failure === failure);
}

/** kernel.yama.ptrace_scope, or null where Yama is not in the kernel (or sysctl is unavailable). */
async function yamaScope(): Promise<number | null> {
  try {
    const out = await new Deno.Command("sysctl", {
      args: ["-n", "kernel.yama.ptrace_scope"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return out.success && Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** One line: what failed and what would make it work. */
export async function explainProcessError(err: ProcessAccessError, pid: number): Promise<string> {
  switch (err.failure) {
    case "denied": {
      const scope = await yamaScope();
      const yama = scope === null
        ? ""
        : scope === 3
        ? `; kernel.yama.ptrace_scope is 3, which forbids it even for root`
        : scope > 0
        ? `; kernel.yama.ptrace_scope is ${scope} (0 lets a process's own user in)`
        : "";
      const who = Deno.uid() === 0 ? "" : "run as root (or with CAP_SYS_PTRACE over it)";
      return `${err.call}: Operation not permitted for pid ${pid}: ${who || "root was refused"}${
        yama || (who ? ", or check kernel.yama.ptrace_scope" : "")
      }`;
    }
    case "unsupported":
      return `${err.call}: not available: reading another process's sockets needs Linux ≥ 5.6`;
    case "exited":
      return `process ${pid} exited`;
    default:
      return `${err.message} (pid ${pid})`;
  }
}
