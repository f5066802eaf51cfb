/**
 * Everything tcpka prints on stdout goes through here, in order. Lines are gathered and written
 * once per turn of the event loop (or every 64 KiB): at thousands of connections one write per
 * event was a tenth of the time to open them. Whoever ends the process calls flushOutput() first.
 *
 * When the reader goes away (`tcpka demo | head`), a write fails with a broken pipe, often from a
 * timer where nobody could catch it. Output is then dropped and the listeners of
 * onReaderGone are told, so the command shuts down through its own path (children stopped,
 * namespaces removed), as on Ctrl-C, instead of dying with a stack trace and leaving them behind.
 */

const encoder = new TextEncoder();
const FLUSH_AT_CHARS = 1 << 16;

let pending: string[] = [];
let pendingChars = 0;
let scheduled = false;

let readerGone = false;
const goneListeners = new Set<() => void>();

function writeAllSync(bytes: Uint8Array): void {
  if (readerGone) return;
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
    readerGone = true;
    for (const listener of goneListeners) listener();
  }
}

/** True once stdout's reader has gone away: nothing more will be shown. */
export function stdoutReaderGone(): boolean {
  return readerGone;
}

/** Calls `listener` when stdout's reader goes away; returns the function that unsubscribes. */
export function onReaderGone(listener: () => void): () => void {
  goneListeners.add(listener);
  return () => goneListeners.delete(listener);
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
