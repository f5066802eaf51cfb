/**
 * tcpka's one JSON schema (docs/json.md) as data, and a small strict validator for it: every
 * event of every command is checked field by field, and a field the schema does not name is an
 * error, so the output cannot drift from the documentation unnoticed.
 */

export type Schema =
  /** Any JSON value: the parts documented in their command's own section (inspect, set). */
  | "any"
  | "string"
  | "number"
  | "integer"
  | "boolean"
  | "null"
  | { enum: readonly (string | number)[] }
  | { anyOf: readonly Schema[] }
  | { object: Record<string, Schema>; optional?: Record<string, Schema> }
  | { array: Schema }
  /** An object whose keys come from `keys` (or any key), each value matching `values`. */
  | { map: Schema; keys?: readonly string[] };

/** Bump when a field is removed or changes meaning (adding a field or an event is compatible). */
export const SCHEMA_VERSION = 1;

const nullable = (s: Schema): Schema => ({ anyOf: [s, "null"] });

export const ENDPOINT: Schema = { object: { address: "string", port: "integer" } };

const END_REASONS = [
  "hold-expired",
  "peer-closed",
  "peer-reset",
  "timed-out",
  "shutdown",
  "echoed",
  "unexpected-reply",
  "error",
] as const;

// Written out rather than imported from the code: the schema is the contract the code is checked
// against, so a label renamed in the code must show up as a failure here.
const LABELS = [
  "syn",
  "syn-ack",
  "handshake-ack",
  "data",
  "keepalive",
  "keepalive-ack",
  "zero-window-probe",
  "zero-window-probe-ack",
  "fin",
  "rst",
  "retransmission",
  "dup-ack",
  "window-update",
  "ack",
] as const;

const KEEPALIVE_REQUEST: Schema = {
  object: { enabled: "boolean" },
  optional: { idleMs: "number", intervalMs: "number", count: "integer", userTimeoutMs: "number" },
};

const KEEPALIVE_VALUES: Schema = {
  object: {
    idleMs: nullable("number"),
    intervalMs: nullable("number"),
    count: nullable("integer"),
  },
};

const KEEPALIVE_REPORT: Schema = {
  object: {
    requested: KEEPALIVE_REQUEST,
    enabled: "boolean",
    effective: KEEPALIVE_VALUES,
    source: { enum: ["socket", "as-set", "system-defaults", "unknown"] },
    method: { enum: ["setsockopt", "sio_keepalive_vals", "on-off", "off"] },
    notes: { array: "string" },
  },
  optional: {
    userTimeoutMs: "number",
    lookup: { object: { handle: "integer", checks: "integer", micros: "integer" } },
  },
};

const SPREAD: Schema = {
  object: {
    count: "integer",
    minMs: "number",
    maxMs: "number",
    medianMs: "number",
    meanMs: "number",
    stdevMs: "number",
    p10Ms: "number",
    p90Ms: "number",
  },
};

/** One side's keep-alive probes in a captured connection. */
const PROBER: Schema = {
  object: {
    sent: "integer",
    answered: "integer",
    unanswered: "integer",
    idleBeforeProbe: nullable(SPREAD),
    retryInterval: nullable(SPREAD),
    answerDelay: nullable(SPREAD),
  },
};

/** Observations of the kernel's socket table (watch; demo without a capture): common fields. */
const OBSERVED = { local: ENDPOINT, remote: ENDPOINT, state: "string" } as const;

/** The verdict's values: what was configured or observed, as numbers and kinds, never text. */
const VERDICT_VALUE: Schema = {
  object: {},
  optional: {
    ms: nullable("number"),
    minMs: nullable("number"),
    maxMs: nullable("number"),
    count: nullable("integer"),
    min: nullable("integer"),
    max: nullable("integer"),
    answered: "integer",
    sent: "integer",
    unanswered: "integer",
    close: nullable("string"),
    error: nullable("string"),
    keepaliveIdleMs: nullable("number"),
    keepaliveIntervalMs: nullable("number"),
    idleMs: "number",
    firewallTimeoutMs: "number",
    result: { enum: ["echo", "no-answer"] },
    rttMs: nullable("number"),
  },
};

/** Every event, by `type`. `time` (ms since the epoch) is common to all and added below. */
export const EVENTS: Record<
  string,
  { object: Record<string, Schema>; optional?: Record<string, Schema> }
> = {
  // server and client
  listening: { object: { local: ENDPOINT, keepalive: nullable(KEEPALIVE_REQUEST) } },
  connecting: { object: { remote: ENDPOINT, connections: "integer", holdMs: "number" } },
  connected: { object: { id: "integer", local: ENDPOINT, remote: ENDPOINT } },
  "connect-failed": { object: { id: "integer", remote: ENDPOINT, error: "string" } },
  keepalive: { object: { id: "integer", report: KEEPALIVE_REPORT } },
  warning: { object: { message: "string" } },
  data: { object: { id: "integer", direction: { enum: ["in", "out"] }, bytes: "integer" } },
  sent: { object: { id: "integer", bytes: "integer", afterIdleMs: "number" } },
  echo: { object: { id: "integer", bytes: "integer", rttMs: "number" } },
  "unexpected-reply": {
    object: { id: "integer", bytes: "integer", rttMs: "number", text: "string" },
  },
  closed: {
    object: { id: "integer", reason: { enum: END_REASONS }, durationMs: "number" },
    optional: { error: "string" },
  },
  summary: {
    object: {
      role: { enum: ["server", "client"] },
      connections: "integer",
      failedToConnect: "integer",
      ended: { map: "integer", keys: END_REASONS },
    },
    optional: { resetBeforeAccept: "integer" },
  },
  // capture
  capturing: { object: { interface: "string", filter: "string" } },
  packet: {
    object: {
      flow: "integer",
      src: ENDPOINT,
      dst: ENDPOINT,
      direction: { enum: ["c2s", "s2c"] },
      flags: "string",
      label: { enum: LABELS },
      bytes: "integer",
      seq: "integer",
      ack: "integer",
      frame: "integer",
      deltaMs: nullable("number"),
      idleMs: nullable("number"),
      retryAfterMs: nullable("number"),
      encap: nullable("string"),
      relabel: nullable({
        object: { packet: "integer", from: { enum: LABELS }, to: { enum: LABELS } },
      }),
    },
  },
  "connection-summary": {
    object: {
      flow: "integer",
      ipVersion: { enum: [4, 6] },
      client: ENDPOINT,
      server: ENDPOINT,
      rolesFromHandshake: "boolean",
      packets: "integer",
      packetsC2S: "integer",
      packetsS2C: "integer",
      dataBytesC2S: "integer",
      dataBytesS2C: "integer",
      startTime: "number",
      endTime: "number",
      lifetimeMs: "number",
      probingSides: { enum: ["client", "server", "both", "none"] },
      probesSent: "integer",
      probesAnswered: "integer",
      probesUnanswered: "integer",
      probesBy: { object: { client: nullable(PROBER), server: nullable(PROBER) } },
      zeroWindowProbesBy: { object: { client: "integer", server: "integer" } },
      end: {
        object: {
          kind: { enum: ["fin", "rst", "open"] },
          by: nullable({ enum: ["client", "server"] }),
          atMs: nullable("number"),
        },
      },
      labels: { map: "integer", keys: LABELS },
    },
  },
  end: {
    object: {
      packets: "integer",
      skipped: "integer",
      connections: "integer",
      error: nullable({ object: { message: "string", offset: "integer" } }),
      unsupportedLinks: {
        array: { object: { linkType: "integer", name: "string", packets: "integer" } },
      },
      warnings: {
        object: {
          truncatedToSnaplen: "integer",
          invalidSubsecond: "integer",
          timeWentBack: "integer",
        },
      },
    },
  },
  // watch (and the demo's kernel evidence)
  watching: { object: { port: "integer", pollMs: "number" } },
  socket: { object: { ...OBSERVED, keepaliveTimerMs: nullable("number") } },
  probe: {
    object: {
      ...OBSERVED,
      seen: "integer",
      answered: "boolean",
      unanswered: "integer",
      keepaliveTimerMs: nullable("number"),
      kind: { enum: ["idle", "answered", "retry"] },
      gapMs: nullable("number"),
    },
  },
  "probe-ack": { object: { ...OBSERVED, seen: "integer" } },
  "zero-window-probe": { object: { ...OBSERVED, seen: "integer", persistTimerMs: "number" } },
  "zero-window-ack": { object: { ...OBSERVED, seen: "integer" } },
  activity: { object: { ...OBSERVED } },
  state: { object: { ...OBSERVED, from: "string" } },
  gone: { object: { ...OBSERVED, unanswered: "integer" } },
  // discover
  discovering: {
    object: {
      remote: ENDPOINT,
      connections: "integer",
      ladderMs: { array: "number" },
      precision: "number",
      worstMs: "number",
      intervalMs: "number",
      count: "integer",
    },
  },
  "idle-probe": {
    object: {
      id: "integer",
      idleMs: "number",
      outcome: { enum: ["answered", "silent-drop", "reset"] },
      lowMs: "number",
      highMs: nullable("number"),
    },
    optional: { by: { enum: ["no-answer", "kernel", "rst"] } },
  },
  "idle-ended": {
    object: {
      id: "integer",
      ageMs: "number",
      edge: { enum: ["server-close", "reset"] },
      lowMs: "number",
      highMs: nullable("number"),
    },
  },
  result: {
    object: {
      remote: ENDPOINT,
      lowMs: "number",
      highMs: nullable("number"),
      edge: { enum: ["silent-drop", "reset", "server-close", "none"] },
      rstSource: nullable({ enum: ["server", "middlebox", "unknown"] }),
      rstHint: nullable("string"),
      recommendation: nullable({
        object: { idleMs: "number", intervalMs: "number", client: "string", sysctl: "string" },
      }),
      interrupted: "boolean",
      elapsedMs: "number",
      longestIdleMs: "number",
      connectionsUsed: "integer",
      precision: "number",
    },
  },
  // inspect and set: one event with the whole report (its parts: the README's inspect and set)
  inspect: {
    object: {
      namespace: "any",
      access: "any",
      pathTimeoutMs: nullable("number"),
      groups: { array: "any" },
      systemDefaults: KEEPALIVE_VALUES,
    },
  },
  set: {
    object: {
      pid: "integer",
      command: nullable("string"),
      namespace: "any",
      change: "any",
      dryRun: "boolean",
      results: { array: "any" },
    },
  },
  // demo
  note: { object: { text: "string" } },
  verdict: {
    object: {
      scenario: { enum: ["seed", "dead-peer", "firewall-idle", "rescue"] },
      title: "string",
      evidence: nullable({ enum: ["capture", "kernel"] }),
      toleranceMs: nullable("number"),
      pass: "boolean",
      checks: {
        array: {
          object: {
            check: "string",
            pass: "boolean",
            configured: VERDICT_VALUE,
            observed: VERDICT_VALUE,
          },
        },
      },
    },
  },
};

/** `source` on the demo's lines: which part of the run said it. */
export const SOURCES = [
  "demo",
  "server",
  "client",
  "wire",
  "kernel",
  "ka",
  "no-ka",
  "rescued",
  "twin",
  "fw-in",
  "fw-out",
] as const;

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Errors of `value` against `schema`, each naming the path ("" when it matches). */
export function validate(value: unknown, schema: Schema, path = "$"): string[] {
  if (typeof schema === "string") {
    switch (schema) {
      case "any":
        return [];
      case "integer":
        return Number.isInteger(value)
          ? []
          : [`${path}: expected an integer, got ${typeOf(value)}`];
      case "number":
        return typeof value === "number" && Number.isFinite(value)
          ? []
          : [`${path}: expected a number, got ${JSON.stringify(value)}`];
      case "null":
        return value === null ? [] : [`${path}: expected null, got ${typeOf(value)}`];
      default:
        return typeOf(value) === schema
          ? []
          : [`${path}: expected ${schema}, got ${typeOf(value)}`];
    }
  }
  if ("enum" in schema) {
    return schema.enum.includes(value as string | number)
      ? []
      : [`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(", ")}`];
  }
  if ("anyOf" in schema) {
    const all = schema.anyOf.map((s) => validate(value, s, path));
    return all.some((e) => e.length === 0) ? [] : all.flat();
  }
  if ("array" in schema) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${typeOf(value)}`];
    return value.flatMap((v, i) => validate(v, schema.array, `${path}[${i}]`));
  }
  if (typeOf(value) !== "object") return [`${path}: expected an object, got ${typeOf(value)}`];
  const obj = value as Record<string, unknown>;
  if ("map" in schema) {
    return Object.entries(obj).flatMap(([k, v]) =>
      schema.keys && !schema.keys.includes(k)
        ? [`${path}: unexpected key ${JSON.stringify(k)}`]
        : validate(v, schema.map, `${path}.${k}`)
    );
  }
  const errors: string[] = [];
  for (const [key, s] of Object.entries(schema.object)) {
    if (!(key in obj)) errors.push(`${path}: missing ${key}`);
    else errors.push(...validate(obj[key], s, `${path}.${key}`));
  }
  for (const [key, v] of Object.entries(obj)) {
    if (key in schema.object) continue;
    const s = schema.optional?.[key];
    if (!s) errors.push(`${path}: unexpected field ${key}`);
    else errors.push(...validate(v, s, `${path}.${key}`));
  }
  return errors;
}

/**
 * Errors of one NDJSON stream: every line an event of the schema, `version` on the first line
 * only, `source` only where `withSource` (the demo).
 */
export function validateStream(lines: string[], withSource = false): string[] {
  const errors: string[] = [];
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      errors.push(`${where}: not JSON: ${line.slice(0, 80)}`);
      return;
    }
    if (typeOf(event) !== "object") return errors.push(`${where}: not an object`);
    const { type, time, version, source, ...rest } = event;
    const schema = EVENTS[type as string];
    if (!schema) return errors.push(`${where}: unknown type ${JSON.stringify(type)}`);
    errors.push(...validate(time, "number", `${where} (${type}).time`));
    if (i === 0 && version !== SCHEMA_VERSION) {
      errors.push(`${where}: the first event needs version ${SCHEMA_VERSION}`);
    }
    if (i > 0 && version !== undefined) errors.push(`${where}: version only on the first event`);
    if (withSource) {
      errors.push(...validate(source, { enum: SOURCES }, `${where} (${type}).source`));
    } else if (source !== undefined) errors.push(`${where}: unexpected field source`);
    errors.push(...validate(rest, schema, `${where} (${type})`));
  });
  return errors;
}
