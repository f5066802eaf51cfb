/** Terminal colour, on only for a TTY and never when NO_COLOR is set (Deno.noColor reads it). */
import { styleText } from "util";

type Style = Parameters<typeof styleText>[0];

/** Colours `text` (or returns it unchanged when colour is off). */
export type Styler = (style: Style, text: string) => string;

export function makeStyler(enabled: boolean): Styler {
  if (!enabled) return (_style, text) => text;
  return (style, text) => styleText(style, text, { validateStream: false });
}

export function stdoutWantsColor(): boolean {
  return !Deno.noColor && Deno.stdout.isTerminal();
}
