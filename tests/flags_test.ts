import assert from "assert";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import { parseClientArgs } from "../client.ts";
import { parseServerArgs } from "../server.ts";
import { UsageError } from "../lib/errors.ts";
import { PLATFORMS } from "../lib/socket/platform.ts";
import { validateRequest } from "../lib/keepalive/settings.ts";

Deno.test("durations: units and plain seconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("2"), 2000);
  assert.equal(parseDuration("1.5"), 1500);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration(" 3s "), 3000);
  assert.equal(parseDuration("0"), 0);
});

Deno.test("durations: refusals", () => {
  for (
    const bad of ["", "s", "-1s", "2x", "1.5.2s", "1e3", "0.0001s", "2 s", "1d", "99999999999999h"]
  ) {
    assert.equal(typeof parseDuration(bad), "string", `accepted ${JSON.stringify(bad)}`);
  }
});

Deno.test("durations: formatting round-trips", () => {
  for (const ms of [0, 1, 500, 1000, 1500, 2000, 60_000, 90_000, 3_600_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
  }
});

Deno.test("client defaults are the Go example's", () => {
  const c = parseClientArgs([]);
  assert.deepEqual(c, {
    host: "127.0.0.1",
    port: 12345,
    keepalive: { enabled: true, idleMs: 2000, intervalMs: 2000, count: undefined },
    holdMs: 10_000,
    connections: 1,
    sendAfterMs: null,
    message: "ping",
    connectTimeoutMs: 10_000,
    systemTimings: false,
    json: false,
  });
});

Deno.test("client: --idle/--interval override --period; --count is passed", () => {
  const c = parseClientArgs(["--period", "5s", "--interval", "1", "--count", "3"]);
  assert.deepEqual(c.keepalive, { enabled: true, idleMs: 5000, intervalMs: 1000, count: 3 });
  assert.deepEqual(parseClientArgs(["--no-keepalive"]).keepalive, { enabled: false });
  assert.equal(parseClientArgs(["--hold", "0"]).holdMs, 0);
  assert.equal(parseClientArgs(["--connections", "5000"]).connections, 5000);
});

Deno.test("server: keep-alive off unless asked, port 0 allowed", () => {
  const s = parseServerArgs(["--port", "0"]);
  assert.equal(s.keepalive, null);
  assert.equal(s.port, 0);
  assert.equal(s.holdMs, 10_000);
  assert.deepEqual(parseServerArgs(["--period", "15s"]).keepalive, {
    enabled: true,
    idleMs: 15_000,
    intervalMs: 15_000,
    count: undefined,
  });
});

const refusals: [string[], RegExp][] = [
  [["--period", "500ms"], /whole seconds|too short/],
  [["--idle", "1500ms"], /whole seconds/],
  [["--interval", "32768s"], /too long.*32767/],
  [["--idle", "10h"], /too long/],
  [["--count", "0"], /count 0 is out of range.*1 to 127/],
  [["--count", "128"], /out of range/],
  [["--count", "-1"], /^client: --count cannot be negative \(got -1\)$/],
  [["--count=-1"], /^client: --count cannot be negative \(got -1\)$/],
  [["--count", "1.5"], /^client: --count must be a whole number \(got 1\.5\)$/],
  [["--idle", "-5s"], /^client: --idle cannot be negative \(got -5s\)$/],
  [["--idle=-5s"], /^client: --idle cannot be negative \(got -5s\)$/],
  [["--port", "-1"], /^client: --port cannot be negative/],
  [["--hold", "2s", "--send-after", "5s"], /--send-after 5s never comes: --hold 2s closes/],
  [["--hold", "2s", "--send-after", "2s"], /never comes/],
  [["--message", "hi"], /--message is sent only with --send-after/],
  [["--system-timings", "--period", "2s"], /--system-timings .* cannot take --period/],
  [["--connect-timeout", "0"], /--connect-timeout must be longer than 0/],
  [["--count", "two"], /whole number/],
  [["--period", "fast"], /not a duration/],
  [["--no-keepalive", "--period", "2s"], /cannot be combined/],
  [["--port", "0"], /port.*1 to 65535/],
  [["--port", "70000"], /^client: --port 70000 is out of range \(1 to 65535\)$/],
  [["--connections", "0"], /connections/],
  [["--hold", "-1"], /cannot be negative/],
  [["--bogus"], /unknown flag --bogus/],
  [["--port"], /needs a value/],
  [["--json=yes"], /takes no value/],
  [["extra"], /unexpected argument 'extra'/],
  [["--host", ""], /must not be empty/],
  [["--message", ""], /must not be empty/],
];

for (const [args, pattern] of refusals) {
  Deno.test(`client refuses ${args.join(" ")}`, () => {
    assert.throws(() => parseClientArgs(args), (err: unknown) => {
      assert.ok(err instanceof UsageError, `not a UsageError: ${err}`);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes("\n"), "error must be one line");
      return true;
    });
  });
}

Deno.test("platform limits: Linux whole seconds up to 32767, count 1..127; Windows milliseconds", () => {
  const linux = PLATFORMS.linux;
  assert.equal(validateRequest({ enabled: true, idleMs: 32_767_000, count: 127 }, linux), null);
  assert.match(validateRequest({ enabled: true, idleMs: 32_768_000 }, linux)!, /too long/);
  assert.match(validateRequest({ enabled: true, intervalMs: 999 }, linux)!, /too short/);
  assert.match(validateRequest({ enabled: true, count: 128 }, linux)!, /out of range/);
  assert.equal(validateRequest({ enabled: true, idleMs: 1500 }, PLATFORMS.windows), null);
  assert.match(
    validateRequest({ enabled: true, idleMs: 1500 }, PLATFORMS.darwin)!,
    /whole seconds/,
  );
});
