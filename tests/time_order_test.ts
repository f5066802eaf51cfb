/** The demo's timeline sorts lines from sources that learn of things late by different amounts. */
import assert from "assert";
import { HOLD_MS, TimeOrder } from "../lib/demo/time_order.ts";

Deno.test("time order: lines go out sorted by their time, ties in arrival order", () => {
  const out: string[] = [];
  const order = new TimeOrder((l) => out.push(l));
  order.add(1000.5, "wire SYN"); // stamped by the kernel, arrives after the role's event
  order.add(1000.2, "client connecting");
  order.add(1001, "client connected");
  order.add(1000.5, "wire SYN-ACK");
  order.add(999, "note");
  assert.deepEqual(out, [], "nothing before the hold or a flush");
  order.flush();
  assert.deepEqual(out, [
    "note",
    "client connecting",
    "wire SYN",
    "wire SYN-ACK",
    "client connected",
  ]);
});

Deno.test("time order: lines older than the hold are released, newer ones wait", async () => {
  const out: string[] = [];
  let now = 10_000;
  const order = new TimeOrder((l) => out.push(l), () => now);
  order.add(now - HOLD_MS - 50, "old");
  order.add(now, "new");
  // The release runs on a timer; wait for one tick (a count of ticks, not a speed).
  while (out.length === 0) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(out, ["old"]);
  now += HOLD_MS + 1;
  while (out.length === 1) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(out, ["old", "new"]);
  order.flush();
});
