/**
 * Everything tcpka prints on stdout goes through here, in order. Lines are gathered and written
 * once per turn of the event loop (or every 64 KiB): at thousands of connections one write per
 * event was a tenth of the time to open them. Whoever ends the process calls flushOutput() first.
 *
 * When the reader goes away (`tcpka demo | head`), a write fails with a broken pipe, often from a
 * timer where nobody could catch it. Output is then dropped and the listeners of onStdoutClosed
 * are told (lib/process/shutdown.ts), so the command shuts down through the one shutdown path
 * (children stopped, namespaces removed), as on Ctrl-C, instead of dying with a stack trace.
 */

const encoder = new TextEncoder();
const FLUSH_AT_CHARS = 1 << 16;

let pending: string[] = [];
let pendingChars = 0;
let scheduled = false;
/** The reader went away (`tcpka demo | head -3`): what is written from now on goes nowhere. */
let stdoutClosed = false;
const closedListeners: (() => void)[] = [];

/** Calls `listener` once, when the reader of stdout goes away. */
export function onStdoutClosed(listener: () => void): void {
  closedListeners.push(listener);
}

function writeAllSync(bytes: Uint8Array): void {
  if (stdoutClosed) return;
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
    stdoutClosed = true;
    for (const listener of closedListeners.splice(0)) listener();
  }
}

/**
 * Writes `text` as is (the caller adds the newline) to stderr now. A closed stderr is not an error worth dying of:
 * the message simply has no reader.
 */
export function writeError(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(text));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** Queues one line (without its newline). */
export function writeLine(text: string): void {
  pending.push(text);
  pendingChars += text.length + 1;
  if (pendingChars >= FLUSH_AT_CHARS) {
    flushOutput();
  } else if (!scheduled) {
    scheduled = true;
    setTimeout(flushOutput, 0);
  }
}

/** Writes what is queued, now. */
export function flushOutput(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join("\n") + "\n";
  pending = [];
  pendingChars = 0;
  writeAllSync(encoder.encode(text));
}

/** Writes text as is (no newline), after what is queued: for a progress line rewritten in place. */
export function writeNow(text: string): void {
  flushOutput();
  writeAllSync(encoder.encode(text));
}
