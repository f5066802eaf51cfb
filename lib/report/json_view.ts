/**
 * The JSON view of tcpka's events: one schema for every command (docs/json.md, version 1). The
 * human view wants endpoints as text and a connection as "a → b"; programs want objects and
 * numbers. Everything written with --json passes through `jsonLine`, which turns the one into the
 * other, so no command can drift from the documented shape.
 */

import { formatEndpoint } from "../ip.ts";

/** docs/json.md's schema version; bumped when a field is removed or changes meaning. */
export const JSON_SCHEMA_VERSION = 1;

export interface JsonEndpoint {
  address: string;
  port: number;
}

let versionWritten = false;

/** Parses "1.2.3.4:80" or "[::1]:80" (formatEndpoint's text) into an endpoint object. */
export function endpointOf(text: string): JsonEndpoint {
  const at = text.lastIndexOf(":");
  const address = text.slice(0, at).replace(/^\[|\]$/g, "");
  return { address, port: Number(text.slice(at + 1)) };
}

function endpointFrom(value: unknown): unknown {
  if (typeof value === "string") return endpointOf(value);
  if (value && typeof value === "object" && "addr" in value) {
    const { addr, port } = value as { addr: string; port: number };
    return { address: addr, port };
  }
  return value;
}

/** Observation types whose name says something else elsewhere (`data` is a role's bytes). */
const RENAMED: Record<string, string> = { data: "activity" };

/**
 * discover's events, named for what they are: its `probe` (one idle connection's question) is not
 * watch's keep-alive probe, its `ended` not a role's `closed`. Its `result` keeps the name issue
 * scripts rely on (`{"type": "result", "lowMs", "highMs", "edge"}`): no other command has one.
 */
const DISCOVER_NAMES: Record<string, string> = {
  probe: "idle-probe",
  ended: "idle-ended",
};

/** The event's fields in the schema's shape (without type, time, version and source). */
function fields(event: Record<string, unknown>): [string, Record<string, unknown>] {
  const { type, time: _time, ...rest } = event;
  switch (type) {
    case "listening": {
      const { address, port: _port, ...more } = rest;
      return [type, { local: endpointFrom(address), ...more }];
    }
    case "connecting": {
      const { address, ...more } = rest;
      return [type, { remote: endpointFrom(address), ...more }];
    }
    case "connected":
      return [type, {
        ...rest,
        local: endpointFrom(rest.local),
        remote: endpointFrom(rest.remote),
      }];
    case "connect-failed":
      return [type, { ...rest, remote: endpointFrom(rest.remote) }];
    case "packet":
      return [type, { ...rest, src: endpointFrom(rest.src), dst: endpointFrom(rest.dst) }];
    case "discovering":
    case "result": {
      const { address, ...more } = rest;
      return [DISCOVER_NAMES[type] ?? type, { remote: endpointFrom(address), ...more }];
    }
    case "ended":
      return ["idle-ended", rest];
    case "probe":
      if ("outcome" in rest) return ["idle-probe", rest];
      break;
    case "connection-summary": {
      const { flowId: _flowId, startMicros, endMicros, client, server, flow, ...more } = rest;
      return [type, {
        flow,
        ...more,
        client: endpointFrom(client),
        server: endpointFrom(server),
        startTime: (startMicros as number) / 1000,
        endTime: (endMicros as number) / 1000,
      }];
    }
  }
  // Kernel-table observations: a connection as text "local → remote".
  if (typeof rest.conn === "string") {
    const { conn, ...more } = rest;
    const [local, remote] = (conn as string).split(" → ");
    return [RENAMED[type as string] ?? type as string, {
      local: endpointOf(local),
      remote: endpointOf(remote),
      ...more,
    }];
  }
  return [type as string, rest];
}

/**
 * One NDJSON line for `event` in the documented shape: `type` and `time` first, `version` on the
 * first line the process writes, `source` where several sources share one stream (the demo).
 */
export function jsonLine(event: object, source?: string): string {
  const e = event as Record<string, unknown>;
  const [type, rest] = fields(e);
  const head: Record<string, unknown> = { type, time: e.time };
  if (!versionWritten) {
    versionWritten = true;
    head.version = JSON_SCHEMA_VERSION;
  }
  if (source !== undefined) head.source = source;
  return JSON.stringify({ ...head, ...rest });
}

function endpointText(value: unknown): unknown {
  if (value && typeof value === "object" && "address" in value) {
    const { address, port } = value as JsonEndpoint;
    return formatEndpoint(address, port);
  }
  return value;
}

/**
 * The inverse of `jsonLine`: an event read from another tcpka's --json output (a role in a
 * namespace, a test driving the CLI) back in the shape the roles and the human view use.
 */
export function eventFromJson(json: Record<string, unknown>): Record<string, unknown> {
  const { version: _version, ...e } = json;
  const discover = Object.entries(DISCOVER_NAMES).find(([, to]) => to === e.type)?.[0];
  if (discover) e.type = discover;
  switch (e.type) {
    case "discovering":
    case "result": {
      const { remote, ...more } = e;
      return { ...more, address: endpointText(remote) };
    }
    case "listening": {
      const { local, ...more } = e;
      const { port } = local as JsonEndpoint;
      return { ...more, address: endpointText(local), port };
    }
    case "connecting": {
      const { remote, ...more } = e;
      return { ...more, address: endpointText(remote) };
    }
    case "connected":
      return { ...e, local: endpointText(e.local), remote: endpointText(e.remote) };
    case "connect-failed":
      return { ...e, remote: endpointText(e.remote) };
    case "packet":
      return { ...e, src: endpointText(e.src), dst: endpointText(e.dst) };
    case "connection-summary": {
      const { startTime, endTime, client, server, ...more } = e;
      const side = (v: unknown) => {
        const { address, port } = v as JsonEndpoint;
        return { addr: address, port };
      };
      return {
        ...more,
        flowId: (e.flow as number) - 1,
        client: side(client),
        server: side(server),
        startMicros: Math.round((startTime as number) * 1000),
        endMicros: Math.round((endTime as number) * 1000),
      };
    }
  }
  if (e.local && e.remote && typeof e.local === "object" && "state" in e) {
    const { local, remote, ...more } = e;
    const type = Object.entries(RENAMED).find(([, to]) => to === e.type)?.[0] ?? e.type;
    return { ...more, type, conn: `${endpointText(local)} → ${endpointText(remote)}` };
  }
  return e;
}
