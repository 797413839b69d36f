import { test } from "node:test";
import assert from "node:assert/strict";
import { CommRouter, RouterRegistry } from "./router.js";
import { fakeModel } from "./fakes.js";

test("one msg:custom handler per model, whatever the number of views", () => {
  const model = fakeModel();
  const router = new CommRouter(model);
  const got = { a: [], b: [] };
  router.route("a", (msg) => got.a.push(msg.n));
  router.route("b", (msg) => got.b.push(msg.n));
  assert.equal(model.count(), 1);
  assert.equal(router.size, 2);
  model.emit({ view: "a", n: 1 });
  model.emit({ view: "b", n: 2 });
  model.emit({ view: "a", n: 3 });
  assert.deepEqual(got, { a: [1, 3], b: [2] });
});

test("messages for no registered view, without a view, or not objects go nowhere", () => {
  const model = fakeModel();
  const router = new CommRouter(model);
  const got = [];
  router.route("a", (msg, buffers) => got.push([msg, buffers]));
  for (const msg of [{ view: "other" }, {}, { view: 7 }, null, undefined, "a", 42]) model.emit(msg);
  assert.deepEqual(got, []);
});

test("buffers reach the view; a missing buffer list arrives as an empty one", () => {
  const router = new CommRouter(fakeModel());
  const got = [];
  router.route("a", (_msg, buffers) => got.push(buffers));
  const buf = new DataView(new ArrayBuffer(2));
  router.dispatch({ view: "a" }, [buf]);
  router.dispatch({ view: "a" }, undefined);
  assert.deepEqual(got, [[buf], []]);
});

test("unrouting removes only that registration, and twice is harmless", () => {
  const router = new CommRouter(fakeModel());
  const got = [];
  const first = router.route("a", () => got.push("first"));
  router.route("a", () => got.push("second")); // the same id taken over (a reconnect)
  first(); // the old connection lets go late: must not drop the new one
  router.dispatch({ view: "a" });
  assert.deepEqual(got, ["second"]);
  first();
  assert.equal(router.size, 1);
});

test("close removes the model handler and every route; sends and routes after it do nothing", () => {
  const model = fakeModel();
  const router = new CommRouter(model);
  const got = [];
  router.route("a", () => got.push("a"));
  router.close();
  assert.equal(model.count(), 0);
  assert.equal(router.size, 0);
  router.dispatch({ view: "a" });
  router.send({ livecam: "open", view: "a" });
  router.route("b", () => got.push("b"))();
  router.close(); // twice is harmless
  assert.deepEqual(got, []);
  assert.deepEqual(model.sent, []);
});

test("send goes to the model", () => {
  const model = fakeModel();
  new CommRouter(model).send({ livecam: "message", view: "a", text: "{}" });
  assert.deepEqual(model.sent, [{ livecam: "message", view: "a", text: "{}" }]);
});

test("view ids are distinct and are not ids already routed", () => {
  const router = new CommRouter(fakeModel());
  const ids = new Set(Array.from({ length: 200 }, () => router.newViewId()));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.match(id, /^v[0-9a-z]+$/);
  assert.ok([...ids].every((id) => id.length <= 64)); // the kernel keeps 64 characters
});

test("registry: a model that cannot send gets no router and no handler", () => {
  const registry = new RouterRegistry();
  const model = fakeModel({ canSend: false });
  const cleanup = registry.attach(model);
  assert.equal(model.count(), 0);
  assert.equal(registry.shared(), null);
  cleanup();
});

test("registry: the one attached router is shared; its cleanup closes it", () => {
  const registry = new RouterRegistry();
  const model = fakeModel();
  const cleanup = registry.attach(model);
  const router = registry.shared();
  assert.ok(router instanceof CommRouter);
  assert.equal(model.count(), 1);
  cleanup();
  assert.equal(registry.shared(), null);
  assert.equal(model.count(), 0);
});

test("registry: with two models attached no view can tell its own, so none is shared", () => {
  const registry = new RouterRegistry();
  const one = registry.attach(fakeModel());
  const two = registry.attach(fakeModel());
  assert.equal(registry.shared(), null);
  two();
  assert.ok(registry.shared() instanceof CommRouter);
  one();
  assert.equal(registry.shared(), null);
});
