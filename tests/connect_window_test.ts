/** The client's connect window: how many connects it keeps in flight, and when it widens. */
import assert from "assert";
import { CONNECT_WINDOW, ConnectWindow } from "../lib/roles/connect_window.ts";

/** Connects that finish only when told to. */
function pendingConnects() {
  const started: number[] = [];
  const finish = new Map<number, (ok: boolean) => void>();
  const open = (id: number) =>
    new Promise<void>((resolve, reject) => {
      started.push(id);
      finish.set(id, (ok) => ok ? resolve() : reject(new Error(`#${id}`)));
    });
  return { started, finish, open };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("connect window: a window in flight, one more per finished, ids in order", async () => {
  const c = pendingConnects();
  const w = new ConnectWindow(1000, c.open);
  assert.equal(c.started.length, CONNECT_WINDOW);
  for (let id = 1; id <= 10; id++) c.finish.get(id)!(true);
  await settle();
  assert.equal(c.started.length, CONNECT_WINDOW + 10);
  assert.deepEqual(c.started.slice(0, 5), [1, 2, 3, 4, 5]);
  assert.equal(w.inFlight, CONNECT_WINDOW);
});

Deno.test("connect window: widens when a tick passes with nothing finished, not otherwise", async () => {
  const c = pendingConnects();
  const w = new ConnectWindow(1000, c.open);
  c.finish.get(1)!(true);
  await settle();
  w.tick(); // something finished since the start: no change
  assert.equal(c.started.length, CONNECT_WINDOW + 1);
  w.tick(); // nothing since the last tick: twice the window
  assert.equal(w.inFlight, 2 * CONNECT_WINDOW);
  w.tick();
  assert.equal(c.started.length, 1000, "then everything, if connects keep hanging");
});

Deno.test("connect window: done once every connect finished; a failure rejects it", async () => {
  const c = pendingConnects();
  const w = new ConnectWindow(3, c.open);
  for (const id of [1, 2, 3]) c.finish.get(id)!(true);
  await w.done;
  const f = pendingConnects();
  const failing = new ConnectWindow(2, f.open);
  f.finish.get(1)!(false);
  await assert.rejects(failing.done, /#1/);
});
