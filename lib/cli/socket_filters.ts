/** The flags that pick another process's sockets (--pid, --port, --dst), for inspect and set. */
import { UsageError } from "../errors.ts";
import { type FlagValues, integerFlag, stringFlag } from "./flags.ts";
import type { ListingQuery } from "../inspect/listing.ts";
import { parseIp } from "../ip.ts";

/** --pid, --port and --dst, shared with `set`. */
export function pidAndFilters(
  command: string,
  values: FlagValues,
  states: ListingQuery["states"],
): { pid?: number; query: ListingQuery } {
  const pid = integerFlag(command, values, "pid", 1, 4_194_304);
  const port = integerFlag(command, values, "port", 1, 65535);
  const dstText = stringFlag(values, "dst");
  return {
    ...(pid === undefined ? {} : { pid }),
    query: {
      states,
      ...(port === undefined ? {} : { port }),
      ...(dstText === undefined ? {} : { dst: parseDst(command, dstText) }),
    },
  };
}

/** "10.0.0.5", "10.0.0.5:443", "::1", "[::1]:443". */
function parseDst(command: string, text: string): { address: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([^:]+)(?::(\d+))?$/.exec(text);
  const [address, portText] = bracketed
    ? [bracketed[1], bracketed[2]]
    : v4
    ? [v4[1], v4[2]]
    : [text, undefined];
  const port = portText === undefined ? undefined : Number(portText);
  if (!parseIp(address) || (port !== undefined && !(port >= 1 && port <= 65535))) {
    throw new UsageError(
      `${command}: --dst "${text}" must be an IP address with an optional port ` +
        `(10.0.0.5, 10.0.0.5:443, [::1]:443)`,
    );
  }
  return port === undefined ? { address } : { address, port };
}
