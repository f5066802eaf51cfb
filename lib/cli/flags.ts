/**
 * Flag parsing on top of `node:util` parseArgs (swap for `@std/cli` in deno.json when JSR is
 * reachable), turning its long multi-sentence errors into one-line usage errors.
 */
import { parseArgs } from "util";
import { UsageError } from "../errors.ts";
import { parseDuration } from "../duration.ts";

export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
}
export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | undefined>;

export interface ParsedFlags {
  values: FlagValues;
  positionals: string[];
}

/** Parses `args` strictly against `specs`; every flag also gets `--help`/`-h`. */
export function parseCommandLine(command: string, args: string[], specs: FlagSpecs): ParsedFlags {
  refuseNegatives(command, args, specs);
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...specs, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as FlagValues, positionals };
  } catch (err) {
    throw new UsageError(`${command}: ${describeParseError(err)}; see 'tcpka ${command} --help'`);
  }
}

/**
 * `--idle -5s` would reach parseArgs as a flag with no value followed by an unknown flag '-5s'.
 * A number after a flag that takes a value is the user's value: say what is wrong with it.
 */
function refuseNegatives(command: string, args: string[], specs: FlagSpecs): void {
  for (let i = 0; i + 1 < args.length; i++) {
    if (args[i] === "--") return;
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    const value = args[i + 1];
    if (name && specs[name]?.type === "string" && /^-\.?\d/.test(value)) {
      throw new UsageError(`${command}: --${name} cannot be negative (got ${value})`);
    }
  }
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${quoted ?? message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = /^Option '(-[^ ']+)/.exec(message)?.[1] ?? quoted;
      if (message.includes("ambiguous")) {
        return `flag ${flag} needs a value (for one starting with '-', write ${flag}=VALUE)`;
      }
      if (message.includes("argument missing")) return `flag ${flag} needs a value`;
      return `flag ${flag} takes no value`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted ?? message}`;
    default:
      return message.split("\n")[0];
  }
}

/** Rejects positionals for commands that take none. */
export function noPositionals(command: string, parsed: ParsedFlags): void {
  if (parsed.positionals.length > 0) {
    throw new UsageError(
      `${command}: unexpected argument '${parsed.positionals[0]}'; see 'tcpka ${command} --help'`,
    );
  }
}

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function durationFlag(
  command: string,
  values: FlagValues,
  name: string,
): number | undefined {
  const text = stringFlag(values, name);
  if (text === undefined) return undefined;
  if (/^-\.?\d/.test(text.trim())) {
    throw new UsageError(`${command}: --${name} cannot be negative (got ${text})`);
  }
  const ms = parseDuration(text);
  if (typeof ms === "string") throw new UsageError(`${command}: --${name}: ${ms}`);
  return ms;
}

export function integerFlag(
  command: string,
  values: FlagValues,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const text = stringFlag(values, name);
  if (text === undefined) return undefined;
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min} to ${max}`;
  const fail = (why: string) => {
    throw new UsageError(`${command}: --${name} ${why}`);
  };
  const t = text.trim();
  if (/^-\.?\d/.test(t)) fail(`cannot be negative (got ${text})`);
  if (/^\d*\.\d+$|^\d+\.$/.test(t)) fail(`must be a whole number (got ${text})`);
  if (!/^\d+$/.test(t)) fail(`must be a whole number, ${range} (got "${text}")`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(`${text} is out of range (${range})`);
  return n;
}

export function portFlag(command: string, values: FlagValues, fallback: number, min = 1): number {
  return integerFlag(command, values, "port", min, 65535) ?? fallback;
}
