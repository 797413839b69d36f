import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseFrame,
  Backoff,
  PullLoop,
  TransportPlan,
  overlayLines,
  closedOverlayLines,
  frameLine,
  badgeText,
  badgeMode,
  badgeVisibility,
  BADGE_FADE_MS,
  keyAction,
  fitWidth,
  framePoint,
  paintStep,
  STANDING_QUEUE_RAFS,
  PaintGate,
  Headroom,
  HEADROOM_FRAMES,
} from "./pull.js";
import { buildFrame } from "./fakes.js";

/** A PullLoop with recording callbacks and a hand-driven clock. */
function makeLoop({ visible = true, depth = 1 } = {}) {
  const rec = { sent: [], reconnects: [], wakes: [], states: [], t: 0 };
  const loop = new PullLoop({
    send: (text) => rec.sent.push(JSON.parse(text)),
    scheduleReconnect: (ms) => rec.reconnects.push(ms),
    scheduleWake: (ms) => rec.wakes.push(ms),
    onState: (state, detail) => rec.states.push([state, detail]),
    now: () => rec.t,
    visible,
    depth,
  });
  return { loop, rec };
}

const HELLO = JSON.stringify({ type: "hello", protocol: 1, max_outstanding: 2, max_messages_per_s: 0, state: "live" });
const status = (state, error) => JSON.stringify({ type: "status", state, error });

/** Open, hello, and answer the first grant with frame `seq`; returns the frame id. */
function liveWithFrame(loop, seq = 1) {
  loop.opened();
  loop.text(HELLO);
  return loop.frame({ seq, rev: 0, mime: "image/jpeg" });
}

test("parseFrame round trip, big-endian length over 255, non-ASCII header", () => {
  const header = { seq: 7, rev: 2, mime: "image/png", width: 4, height: 3, note: "é".repeat(200) };
  const image = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 255]);
  const { header: h, bytes } = parseFrame(buildFrame(header, image));
  assert.deepEqual(h, header);
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual([...bytes], [...image]);
});

test("parseFrame accepts a view with an offset (node Buffer)", () => {
  const msg = new Uint8Array(buildFrame({ seq: 1, mime: "image/jpeg" }, Uint8Array.of(1, 2, 3)));
  const padded = new Uint8Array(msg.length + 5);
  padded.set(msg, 5);
  const { header, bytes } = parseFrame(padded.subarray(5));
  assert.equal(header.seq, 1);
  assert.deepEqual([...bytes], [1, 2, 3]);
});

test("parseFrame with no image bytes gives an empty view", () => {
  const { bytes } = parseFrame(buildFrame({ seq: 1, mime: "image/jpeg" }, new Uint8Array(0)));
  assert.equal(bytes.length, 0);
});

test("parseFrame rejects truncated and garbled messages", () => {
  const good = new Uint8Array(buildFrame({ seq: 1, mime: "image/jpeg" }, Uint8Array.of(9)));
  assert.throws(() => parseFrame(new ArrayBuffer(0)), /truncated.*0 bytes/);
  assert.throws(() => parseFrame(good.slice(0, 3).buffer), /truncated/);
  // The header is cut: the length prefix promises more than the message holds.
  assert.throws(() => parseFrame(good.slice(0, 10).buffer), /truncated: header length \d+ but only 6/);

  const raw = (text) => {
    const bytes = new TextEncoder().encode(text);
    const buf = new Uint8Array(4 + bytes.length);
    new DataView(buf.buffer).setUint32(0, bytes.length);
    buf.set(bytes, 4);
    return buf.buffer;
  };
  assert.throws(() => parseFrame(raw("{not json")), /not UTF-8 JSON/);
  assert.throws(() => parseFrame(raw("[1, 2]")), /not a JSON object/);
  assert.throws(() => parseFrame(raw("null")), /not a JSON object/);
  assert.throws(() => parseFrame(raw('{"mime": "image/png"}')), /"seq"/);
  assert.throws(() => parseFrame(raw('{"seq": "1", "mime": "image/png"}')), /"seq"/);
  assert.throws(() => parseFrame(raw('{"seq": 1}')), /"mime"/);
  // Invalid UTF-8 in the header is garbage, not a string with replacement characters.
  const bad = new Uint8Array(6);
  new DataView(bad.buffer).setUint32(0, 2);
  bad.set([0xff, 0xfe], 4);
  assert.throws(() => parseFrame(bad.buffer), /not UTF-8 JSON/);
});

test("Backoff doubles from 250 ms, caps at 5 s, resets", () => {
  const b = new Backoff();
  const seen = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(seen, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  b.reset();
  assert.deepEqual([b.next(), b.next()], [250, 500]);
});

test("open sends the first grant; hello makes it live", () => {
  const { loop, rec } = makeLoop();
  assert.equal(loop.state, "connecting");
  assert.deepEqual(rec.sent, []);
  loop.opened();
  assert.deepEqual(rec.sent, [{ type: "next" }]);
  assert.equal(loop.state, "connecting"); // nothing heard from the server yet
  loop.text(HELLO);
  assert.deepEqual(rec.states, [["live", null]]);
  assert.equal(rec.sent.length, 1);
});

test("one request at a time: no second grant until the frame is painted", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(HELLO);
  // Nothing below may add a grant while the first is outstanding.
  loop.setVisible(true);
  loop.wake();
  loop.text(status("live", null));
  assert.equal(rec.sent.length, 1);

  const id = loop.frame({ seq: 5, rev: 3, mime: "image/jpeg", width: 640, height: 480 });
  loop.setVisible(true);
  loop.wake();
  assert.equal(rec.sent.length, 1, "received but not painted yet");
  loop.painted(id, { decode_ms: 1.23456, paint_ms: 0.5 });
  assert.deepEqual(rec.sent[1], { type: "next", painted: { seq: 5, rev: 3, decode_ms: 1.23, paint_ms: 0.5 } });
  loop.painted(id, { decode_ms: 1, paint_ms: 1 }); // a repeated paint report must not grant again
  assert.equal(rec.sent.length, 2);
  assert.deepEqual(loop.stats, { received: 1, painted: 1, reconnects: 0 });
});

test("painted report: rev defaults to 0, timings optional, stale ids ignored", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(HELLO);
  const first = loop.frame({ seq: 9, mime: "image/png" });
  loop.painted(first);
  assert.deepEqual(rec.sent[1], { type: "next", painted: { seq: 9, rev: 0 } });
  const second = loop.frame({ seq: 10, rev: 1, mime: "image/png" });
  loop.painted(first, { decode_ms: 1 });
  loop.painted(second + 1, { decode_ms: 1 });
  assert.equal(rec.sent.length, 2);
  loop.painted(second);
  assert.deepEqual(rec.sent[2], { type: "next", painted: { seq: 10, rev: 1 } });
});

test("hidden stops requests; visible resumes exactly once", () => {
  const { loop, rec } = makeLoop();
  const id = liveWithFrame(loop, 1);
  loop.setVisible(false);
  assert.equal(loop.state, "hidden");
  loop.painted(id, { decode_ms: 1, paint_ms: 1 });
  assert.equal(rec.sent.length, 1, "painted while hidden: no grant");
  loop.setVisible(true);
  loop.setVisible(true);
  loop.wake();
  assert.equal(loop.state, "live");
  // The paint report is dropped: sent this late it would inflate the server's latency figure.
  assert.deepEqual(rec.sent.slice(1), [{ type: "next" }]);
});

test("hiding with a grant outstanding does not add another on return", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.setVisible(false);
  loop.setVisible(true);
  assert.equal(rec.sent.length, 1);
});

test("a view that starts hidden sends nothing on open", () => {
  const { loop, rec } = makeLoop({ visible: false });
  loop.opened();
  loop.text(HELLO);
  assert.deepEqual(rec.sent, []);
  assert.equal(loop.state, "hidden");
  loop.setVisible(true);
  assert.deepEqual(rec.sent, [{ type: "next" }]);
});

test("status: paused, error text, error cleared by null", () => {
  const { loop, rec } = makeLoop();
  liveWithFrame(loop);
  loop.text(status("paused", null));
  assert.equal(loop.state, "paused");
  loop.text(status("paused", "camera unplugged"));
  assert.equal(loop.state, "error");
  assert.equal(loop.detail, "camera unplugged");
  loop.text(status("live", "process() raised ValueError"));
  assert.deepEqual([loop.state, loop.detail], ["error", "process() raised ValueError"]);
  loop.text(status("live", null));
  assert.deepEqual([loop.state, loop.detail], ["live", null]);
  loop.text(status("closed", null));
  assert.equal(loop.state, "closed");
  assert.deepEqual(rec.states, [
    ["live", null],
    ["paused", null],
    ["error", "camera unplugged"],
    ["error", "process() raised ValueError"],
    ["live", null],
    ["closed", null],
  ]);
  assert.equal(rec.sent.length, 1, "status messages never grant frames");
});

test("unknown text types and junk are ignored", () => {
  const { loop, rec } = makeLoop();
  liveWithFrame(loop);
  const before = rec.states.length;
  for (const text of ['{"type": "stats", "state": "paused", "error": "x"}', "{nope", "null", "42", '"hi"']) {
    assert.doesNotThrow(() => loop.text(text));
  }
  assert.equal(loop.state, "live");
  assert.equal(rec.states.length, before);
  assert.equal(rec.sent.length, 1);
});

test("decode failure shows an error and still asks for the next frame; a good paint clears it", () => {
  const { loop, rec } = makeLoop();
  const id = liveWithFrame(loop);
  loop.failed(id, "cannot decode frame 1 (image/jpeg)");
  assert.deepEqual([loop.state, loop.detail], ["error", "cannot decode frame 1 (image/jpeg)"]);
  assert.deepEqual(rec.sent[1], { type: "next" });
  const next = loop.frame({ seq: 2, rev: 0, mime: "image/jpeg" });
  loop.painted(next);
  assert.equal(loop.state, "live");
  // An unparsable frame (null header) still answers the grant.
  const bad = loop.frame(null);
  loop.failed(bad, "truncated");
  assert.equal(loop.state, "error");
  assert.equal(rec.sent.length, 4);
});

test("server errors win over decode errors and outlive a good paint", () => {
  const { loop } = makeLoop();
  const id = liveWithFrame(loop);
  loop.failed(id, "decode");
  loop.text(status("live", "source failed"));
  assert.equal(loop.detail, "source failed");
  loop.painted(loop.frame({ seq: 2, mime: "image/jpeg" }));
  assert.deepEqual([loop.state, loop.detail], ["error", "source failed"]);
});

test("reconnects with growing delays; a painted frame resets the backoff", () => {
  const { loop, rec } = makeLoop();
  liveWithFrame(loop);
  loop.closed(1006);
  assert.equal(loop.state, "connecting");
  loop.opened(); // the DOM layer's new socket
  assert.deepEqual(rec.sent.at(-1), { type: "next" }, "a new socket gets a fresh first grant");
  loop.closed(1006);
  loop.closed(1006); // handshake refused: the browser reports 1006 without an open
  loop.closed(1008);
  assert.deepEqual(rec.reconnects, [250, 500, 1000, 2000]);

  loop.opened();
  loop.text(HELLO);
  const id = loop.frame({ seq: 3, mime: "image/jpeg" });
  loop.closed(1006); // received but not painted: not yet a success
  assert.equal(rec.reconnects.at(-1), 4000);
  loop.painted(id);
  loop.opened();
  loop.text(HELLO);
  loop.painted(loop.frame({ seq: 4, mime: "image/jpeg" }));
  loop.closed(1000);
  assert.equal(rec.reconnects.at(-1), 250);
  assert.equal(loop.stats.reconnects, 6);
});

test("a paint from before a reconnect neither grants nor counts", () => {
  const { loop, rec } = makeLoop();
  const old = liveWithFrame(loop);
  loop.closed(1006);
  loop.opened();
  const sent = rec.sent.length;
  loop.painted(old);
  assert.equal(rec.sent.length, sent);
  assert.equal(loop.stats.painted, 0);
});

test("close 1001 ends the loop for good", () => {
  const { loop, rec } = makeLoop();
  liveWithFrame(loop);
  loop.closed(1001);
  assert.equal(loop.state, "closed");
  assert.deepEqual(rec.reconnects, []);
  loop.opened();
  loop.setVisible(true);
  loop.closed(1006);
  assert.equal(rec.sent.length, 1);
  assert.deepEqual(rec.reconnects, []);
  assert.deepEqual(rec.states.at(-1), ["closed", null]);
});

test("dispose ends the loop: no sends, no reconnect", () => {
  const { loop, rec } = makeLoop();
  const id = liveWithFrame(loop);
  loop.dispose();
  assert.equal(loop.state, "closed");
  loop.painted(id);
  loop.closed(1006);
  loop.text(status("live", "boom"));
  assert.equal(rec.sent.length, 1);
  assert.deepEqual(rec.reconnects, []);
  assert.equal(loop.state, "closed");
});

test("fps counts paints in the last second of the injected clock", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(HELLO);
  for (let i = 1; i <= 12; i++) {
    rec.t = i * 100; // 10 fps for 1.2 s
    loop.painted(loop.frame({ seq: i, mime: "image/jpeg" }));
  }
  assert.equal(loop.fps, 10); // paints at 300..1200 ms
  rec.t = 1750;
  assert.equal(loop.fps, 5); // 800..1200
  rec.t = 2200;
  assert.equal(loop.fps, 0);
  assert.equal(loop.stats.painted, 12);
  assert.equal(loop.stats.received, 12);
});

test("grants are spaced to stay under hello.max_messages_per_s", () => {
  const { loop, rec } = makeLoop();
  loop.opened(); // t = 0, first grant
  loop.text(JSON.stringify({ type: "hello", protocol: 1, max_messages_per_s: 10, state: "live" }));
  // 10/s with 10% headroom: one message per 111.1 ms.
  rec.t = 50;
  loop.painted(loop.frame({ seq: 1, mime: "image/jpeg" }));
  assert.equal(rec.sent.length, 1);
  assert.deepEqual(rec.wakes, [62]);
  loop.setVisible(true); // must not schedule a second wake
  assert.deepEqual(rec.wakes, [62]);
  rec.t = 112;
  loop.wake();
  assert.deepEqual(rec.sent[1], { type: "next", painted: { seq: 1, rev: 0 } });
  rec.t = 400; // long after: no wait
  loop.painted(loop.frame({ seq: 2, mime: "image/jpeg" }));
  assert.equal(rec.sent.length, 3);
  assert.equal(rec.wakes.length, 1);
});

test("a paint report held back by the rate limit is dropped if the view hides meanwhile", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(JSON.stringify({ type: "hello", protocol: 1, max_messages_per_s: 10, state: "live" }));
  rec.t = 10;
  loop.painted(loop.frame({ seq: 1, mime: "image/jpeg" }));
  loop.setVisible(false);
  rec.t = 500;
  loop.wake();
  assert.equal(rec.sent.length, 1);
  loop.setVisible(true);
  assert.deepEqual(rec.sent.slice(1), [{ type: "next" }]);
});

test("an unsupported protocol version is shown as an error", () => {
  const { loop } = makeLoop();
  loop.opened();
  loop.text(JSON.stringify({ type: "hello", protocol: 2, state: "live" }));
  assert.deepEqual([loop.state, loop.detail], ["error", "unsupported livecam protocol 2"]);
});

test("TransportPlan auto: an untried transport gives way after one failure, in order, then wraps", () => {
  const plan = new TransportPlan("auto", ["websocket", "proxy", "comm"]);
  assert.equal(plan.current, "websocket");
  assert.equal(plan.failed(), true);
  assert.equal(plan.current, "proxy");
  assert.equal(plan.failed(), true);
  assert.equal(plan.current, "comm");
  assert.equal(plan.failed(), true);
  assert.equal(plan.current, "websocket", "starts over so a direct port that comes back is found again");
});

test("TransportPlan: a transport that delivered is retried before falling back mid-stream", () => {
  const plan = new TransportPlan("auto", ["websocket", "proxy", "comm"], 3);
  plan.delivered();
  assert.equal(plan.failed(), false);
  assert.equal(plan.failed(), false);
  assert.equal(plan.current, "websocket");
  assert.equal(plan.failed(), true);
  assert.equal(plan.current, "proxy");
  assert.equal(plan.failed(), true, "proxy never delivered: one failure is enough");
  assert.equal(plan.current, "comm");
});

test("TransportPlan: a forced transport never switches; an unavailable one means none", () => {
  const forced = new TransportPlan("comm", ["websocket", "comm"]);
  assert.equal(forced.current, "comm");
  assert.equal(forced.failed(), false);
  assert.equal(forced.current, "comm");
  assert.equal(new TransportPlan("proxy", ["websocket", "comm"]).current, null);
  assert.equal(new TransportPlan("auto", []).current, null);
});

test("stats messages are kept for the overlay and change no state, grant nothing", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(HELLO);
  const states = rec.states.length;
  loop.text(JSON.stringify({ type: "stats", fps_source: 30, latency_ms: 41.5, dropped: 2 }));
  assert.equal(loop.serverStats.fps_source, 30);
  assert.equal(rec.states.length, states);
  assert.equal(rec.sent.length, 1);
  assert.equal(loop.state, "live");
});

test("overlayLines: painted and source fps, latency, size and bytes, dropped, transport", () => {
  const lines = overlayLines({
    fps: 29,
    server: { fps_source: 30, latency_ms: 41.6, dropped: 7 },
    header: { width: 480, height: 240, source_width: 960, source_height: 480 },
    bytes: 2048,
    transport: "proxy",
  });
  assert.deepEqual(lines, [
    "painted 29 fps · source 30.0 fps",
    "latency 42 ms",
    "480x240 (of 960x480) · 2.0 KiB",
    "dropped 7",
    "via proxy",
  ]);
});

test("overlayLines on the comm: says when the kernel handles requests on its main thread only", () => {
  const at = (where, transport = "comm") =>
    overlayLines({ fps: 30, server: { comm_requests_on: where }, header: null, bytes: 0, transport }).at(-1);
  assert.equal(at("main thread"), "via comm · pauses while a cell runs");
  assert.equal(at("subshell"), "via comm");
  assert.equal(at(undefined), "via comm");
  assert.equal(at("main thread", "websocket"), "via websocket"); // another view's comm: not this one's
});

test("overlayLines of a browser-camera widget: the camera's rate in the browser and in the kernel", () => {
  const server = { fps_source: 30, latency_ms: 30, dropped: 0, camera: { fps_browser: 30, fps_received: 29.4 } };
  const lines = overlayLines({ fps: 29, server, header: null, bytes: 0, transport: "comm" });
  assert.equal(lines[2], "camera 30 fps · kernel got 29 fps");
});

test("overlayLines before any stats or frame: placeholders, no size line", () => {
  const lines = overlayLines({ fps: 0, server: null, header: null, bytes: 0, transport: null });
  assert.deepEqual(lines, ["painted 0 fps · source – fps", "latency – ms", "dropped –", "via –"]);
  const lowered = overlayLines({ fps: 9, server: { quality_level: 2 }, header: null, bytes: 0, transport: null });
  assert.equal(lowered[3], "quality: step 2 down");
  const same = overlayLines({ fps: 1, server: {}, header: { width: 4, height: 2, source_width: 4, source_height: 2 }, bytes: 512, transport: "websocket" });
  assert.equal(same[2], "4x2 · 0.5 KiB");
});

test("pausing this view stops grants (even after a paint); resuming sends exactly one", () => {
  const { loop, rec } = makeLoop();
  const id = liveWithFrame(loop, 1);
  loop.setPaused(true);
  assert.equal(loop.state, "paused");
  loop.painted(id, { decode_ms: 1 });
  loop.wake();
  loop.setVisible(true);
  assert.equal(rec.sent.length, 1, "no grant while paused");
  loop.setPaused(false);
  assert.equal(loop.state, "live");
  assert.deepEqual(rec.sent[1], { type: "next" }, "the paint from before the pause is not reported as fresh");
  loop.setPaused(false);
  assert.equal(rec.sent.length, 2);
});

test("pausing with a grant outstanding adds no grant on resume", () => {
  const { loop, rec } = makeLoop();
  loop.opened();
  loop.text(HELLO);
  loop.setPaused(true);
  loop.setPaused(false);
  assert.equal(rec.sent.length, 1);
});

test("keyAction: the view's keys without modifiers, nothing else", () => {
  assert.equal(keyAction({ key: " " }), "pause");
  assert.equal(keyAction({ key: "s" }), "snapshot");
  assert.equal(keyAction({ key: "f" }), "fullscreen");
  assert.equal(keyAction({ key: "1" }), "native");
  assert.equal(keyAction({ key: "i" }), "overlay");
  assert.equal(keyAction({ key: "s", ctrlKey: true }), null);
  assert.equal(keyAction({ key: "Enter" }), null);
  assert.equal(keyAction({ key: "toString" }), null);
});

test("fitWidth: width, height or both bound the picture with its aspect ratio kept; 0 is no bound", () => {
  assert.equal(fitWidth(480, 240, 0, 0), null);
  assert.equal(fitWidth(480, 240, 300, 0), 300);
  assert.equal(fitWidth(480, 240, 0, 100), 200);
  assert.equal(fitWidth(480, 240, 300, 100), 200, "the height is the tighter bound");
  assert.equal(fitWidth(480, 240, 150, 100), 150, "the width is the tighter bound");
  assert.equal(fitWidth(0, 0, 300, 100), 300, "no frame yet: the width alone");
  assert.equal(fitWidth(0, 0, 0, 100), null);
});

test("framePoint: CSS pixels to source frame pixels, scaled, letterboxed, clamped at the far edge", () => {
  assert.deepEqual(framePoint(100, 50, 240, 120, 480, 240), [200, 100], "shown at half size");
  assert.deepEqual(framePoint(240, 120, 240, 120, 480, 240), [479, 239], "the far edge is the last pixel");
  assert.deepEqual(framePoint(0, 0, 480, 240, 480, 240), [0, 0]);
  // 480x240 in a 1000x1000 box: scale 1000/480, picture 1000 wide and ~500 high, centred vertically.
  assert.equal(framePoint(500, 100, 1000, 1000, 480, 240), null, "on the letterbox bar");
  assert.deepEqual(framePoint(500, 500, 1000, 1000, 480, 240), [240, 120]);
  assert.equal(framePoint(-1, 5, 240, 120, 480, 240), null);
  assert.equal(framePoint(5, 5, 0, 120, 480, 240), null);
});

test("pointer messages go out only on an open connection and push the next grant back", () => {
  const { loop, rec } = makeLoop();
  assert.equal(loop.pointer({ event: "click", x: 1, y: 2, button: 0 }), false);
  loop.opened();
  loop.text(HELLO);
  assert.equal(loop.pointer({ event: "click", x: 1, y: 2, button: 0 }), true);
  assert.deepEqual(rec.sent.at(-1), { type: "pointer", event: "click", x: 1, y: 2, button: 0 });
  loop.dispose();
  assert.equal(loop.pointer({ event: "click", x: 1, y: 2, button: 0 }), false);
});

test("status ended: the clip's end reads ended, not live; lf.start() brings live back", () => {
  const { loop, rec } = makeLoop();
  const id = liveWithFrame(loop);
  loop.painted(id);
  loop.text(status("ended", null));
  assert.equal(loop.state, "ended");
  loop.text(status("live", null));
  assert.equal(loop.state, "live");
  loop.text(status("ended", null));
  loop.setPaused(true); // this view's own pause does not hide that the source ended
  assert.equal(loop.state, "ended");
  loop.setVisible(false);
  assert.equal(loop.state, "hidden", "scrolled away still says hidden");
  loop.setVisible(true);
  loop.text(status("ended", "decoder failed"));
  assert.deepEqual([loop.state, loop.detail], ["error", "decoder failed"]);
  assert.deepEqual(rec.states.map(([s]) => s), ["live", "ended", "live", "ended", "hidden", "ended", "error"]);
});

test("hello of a clip that already ended, or a widget stopped with lf.stop(): ended, paused", () => {
  for (const state of ["ended", "paused"]) {
    const { loop } = makeLoop();
    loop.opened();
    loop.text(JSON.stringify({ type: "hello", protocol: 1, max_outstanding: 2, max_messages_per_s: 0, state }));
    assert.equal(loop.state, state);
  }
});

test("server paused (lf.stop()) reads paused, and live again on lf.start()", () => {
  const { loop } = makeLoop();
  liveWithFrame(loop);
  loop.text(status("paused", null));
  assert.equal(loop.state, "paused");
  loop.text(status("live", null));
  assert.equal(loop.state, "live");
});

test("badgeText: labels, the transport only when live and not direct, error text verbatim", () => {
  assert.equal(badgeText("live", null, "websocket"), "live");
  assert.equal(badgeText("live", null, "proxy"), "live · proxy");
  assert.equal(badgeText("live", null, null), "live");
  assert.equal(badgeText("ended", null, "comm"), "ended");
  assert.equal(badgeText("paused", null, "proxy"), "paused");
  assert.equal(badgeText("closed", null, "proxy"), "closed");
  assert.equal(badgeText("connecting", null, null), "connecting…");
  assert.equal(badgeText("hidden", null, "websocket"), "hidden");
  assert.equal(badgeText("error", "ValueError: boom", "websocket"), "ValueError: boom");
});

test("badgeMode: on and off as given, anything else (a missing key) is auto", () => {
  assert.equal(badgeMode("on"), "on");
  assert.equal(badgeMode("off"), "off");
  for (const v of ["auto", undefined, null, "", "ON", 1]) assert.equal(badgeMode(v), "auto");
});

test("badgeVisibility auto: live fades after BADGE_FADE_MS with a picture; every other state shows", () => {
  assert.deepEqual(badgeVisibility("live", "auto", null), { shown: true, recheckMs: null }, "no picture yet");
  assert.deepEqual(badgeVisibility("live", "auto", 0), { shown: true, recheckMs: BADGE_FADE_MS });
  assert.deepEqual(badgeVisibility("live", "auto", 1000), { shown: true, recheckMs: BADGE_FADE_MS - 1000 });
  assert.deepEqual(badgeVisibility("live", "auto", BADGE_FADE_MS), { shown: false, recheckMs: null });
  assert.deepEqual(badgeVisibility("live", "auto", 60_000), { shown: false, recheckMs: null });
  assert.ok(BADGE_FADE_MS >= 1000 && BADGE_FADE_MS <= 5000, "a couple of seconds");
  for (const state of ["connecting", "paused", "hidden", "ended", "error", "closed"]) {
    for (const since of [null, 0, 60_000]) {
      assert.deepEqual(badgeVisibility(state, "auto", since), { shown: true, recheckMs: null }, state);
    }
  }
});

test("badgeVisibility on: always shown; off: only error and closed", () => {
  for (const state of ["connecting", "live", "paused", "hidden", "ended", "error", "closed"]) {
    for (const since of [null, 0, 60_000]) {
      assert.deepEqual(badgeVisibility(state, "on", since), { shown: true, recheckMs: null }, state);
      const off = badgeVisibility(state, "off", since);
      assert.deepEqual(off, { shown: state === "error" || state === "closed", recheckMs: null }, state);
    }
  }
});

test("frameLine: size, source size when downscaled, KiB; null without a frame", () => {
  assert.equal(frameLine(null, 0), null);
  assert.equal(frameLine({ width: 0, height: 2 }, 10), null);
  assert.equal(frameLine({ width: 480, height: 240 }, 1536), "480x240 · 1.5 KiB");
  assert.equal(frameLine({ width: 240, height: 120, source_width: 480, source_height: 240 }, 1024), "240x120 (of 480x240) · 1.0 KiB");
});

test("frameLine names the codec the frame on screen came by", () => {
  assert.equal(frameLine({ width: 480, height: 240, mime: "video/h264" }, 1536), "480x240 · 1.5 KiB · h264");
  assert.equal(frameLine({ width: 480, height: 240, mime: "image/jpeg" }, 1536), "480x240 · 1.5 KiB · jpeg");
  assert.equal(frameLine({ width: 4, height: 2, mime: "image/png" }, 1024), "4x2 · 1.0 KiB · png");
  const high444 = { width: 480, height: 240, mime: "video/h264", codec: "avc1.f4001f" };
  assert.equal(frameLine(high444, 1536), "480x240 · 1.5 KiB · h264 4:4:4");
  assert.equal(frameLine({ ...high444, codec: "avc1.42c01f" }, 1536), "480x240 · 1.5 KiB · h264");
});

test("overlayLines: says when the widget sends H.264 but this view cannot take it, and why", () => {
  const reason = "no WebCodecs VideoDecoder in this browser";
  const header = { width: 4, height: 2, mime: "image/jpeg" };
  const lines = (format, videoUnavailable) =>
    overlayLines({ fps: 5, server: { format }, header, bytes: 1024, transport: "websocket", videoUnavailable });
  const note = `h264 off: ${reason}`;
  assert.deepEqual(lines("h264", reason).slice(2, 4), ["4x2 · 1.0 KiB · jpeg", note]);
  assert.ok(lines("auto", reason).includes(note));
  for (const format of ["jpeg", "png", undefined]) assert.ok(!lines(format, reason).some((l) => l.includes("h264")));
  assert.ok(!lines("h264", null).some((l) => l.includes("off"))); // it can, or the probe has not answered
  // Without the field (callers that know nothing of video): no such line.
  const plain = overlayLines({ fps: 5, server: { format: "h264" }, header, bytes: 1024, transport: "websocket" });
  assert.ok(!plain.some((l) => l.includes("off")));
  // "auto" on a view that could take H.264 but gets JPEG: its link keeps up.
  assert.ok(lines("auto", null).includes("auto: jpeg while this view keeps up"));
  const video = { width: 4, height: 2, mime: "video/h264" };
  const onVideo = overlayLines({ fps: 5, server: { format: "auto" }, header: video, bytes: 1024, transport: "websocket" });
  assert.ok(!onVideo.some((l) => l.startsWith("auto:")));
});

test("closedOverlayLines: says closed, no rates or latency, the last frame and its real transport", () => {
  const lines = closedOverlayLines({ header: { width: 480, height: 240 }, bytes: 2048, via: "websocket" });
  assert.deepEqual(lines, ["closed · no more frames", "last frame 480x240 · 2.0 KiB", "via websocket"]);
  const text = lines.join("\n");
  assert.doesNotMatch(text, /fps|latency|ms\b|dropped/);
  assert.deepEqual(closedOverlayLines({ header: null, bytes: 0, via: null }), ["closed · no more frames", "via none"]);
});

/** A loop at depth 2, open and past the hello (which allows 2 grants): both grants are out. */
function liveAtDepth2() {
  const made = makeLoop({ depth: 2 });
  made.loop.opened();
  made.loop.text(HELLO);
  return made;
}

/** The header of frame `seq`. */
const jpeg = (seq) => ({ seq, rev: 0, mime: "image/jpeg" });

test("depth 2: the next frame is asked for while the current one decodes, never more than two at once", () => {
  const { loop, rec } = liveAtDepth2();
  assert.equal(rec.sent.length, 2); // two grants at once
  const a = loop.frame(jpeg(1));
  assert.equal(rec.sent.length, 2); // a decodes, b is on its way: full
  const b = loop.frame(jpeg(2));
  assert.equal(rec.sent.length, 2); // both received, neither painted: nothing more, however long it takes
  loop.painted(a);
  assert.deepEqual(rec.sent[2], { type: "next", painted: { seq: 1, rev: 0 } });
  assert.ok(loop.wants(b));
  loop.painted(b);
  assert.equal(rec.sent.length, 4);
  assert.equal(loop.stats.painted, 2);
});

test("depth 2: a newer frame painted first retires the older one, which is then not wanted", () => {
  const { loop, rec } = liveAtDepth2();
  const a = loop.frame(jpeg(1));
  const b = loop.frame(jpeg(2));
  loop.painted(b); // b decoded first
  assert.equal(loop.wants(a), false);
  assert.deepEqual(rec.sent.slice(2), [
    { type: "next", painted: { seq: 2, rev: 0 } },
    { type: "next" }, // both slots free again
  ]);
  loop.painted(a); // too late: ignored
  assert.equal(loop.stats.painted, 1);
});

test("depth 2 stays under the server's max_outstanding and the message rate", () => {
  const { loop, rec } = makeLoop({ depth: 2 });
  loop.opened();
  loop.text(JSON.stringify({ type: "hello", protocol: 1, max_outstanding: 1, max_messages_per_s: 0, state: "live" }));
  assert.equal(rec.sent.length, 1); // the server allows one

  const paced = makeLoop({ depth: 2 });
  paced.loop.text(JSON.stringify({ type: "hello", protocol: 1, max_outstanding: 4, max_messages_per_s: 100, state: "live" }));
  paced.loop.opened();
  assert.equal(paced.rec.sent.length, 1);
  assert.deepEqual(paced.rec.wakes, [12]); // 1000 / (100 * 0.9) ms apart
  paced.rec.t = 12;
  paced.loop.wake();
  assert.equal(paced.rec.sent.length, 2);
});

test("setDepth: deeper asks at once, shallower waits for the pipeline to drain", () => {
  const { loop, rec } = makeLoop();
  const a = liveWithFrame(loop);
  assert.equal(rec.sent.length, 1);
  loop.setDepth(2);
  assert.equal(rec.sent.length, 2);
  loop.setDepth(1);
  loop.painted(a); // the second grant is still out: nothing more until its frame is painted
  assert.equal(rec.sent.length, 2);
  const b = loop.frame(jpeg(2));
  loop.painted(b);
  assert.equal(rec.sent.length, 3);
});

test("depth 2: a reconnect starts the pipeline empty", () => {
  const { loop, rec } = liveAtDepth2();
  const a = loop.frame(jpeg(1));
  loop.closed(1006);
  assert.equal(loop.wants(a), false);
  loop.opened();
  loop.text(HELLO);
  assert.equal(rec.sent.length, 4);
});

test("paintStep skips one frame only after a standing queue lasted STANDING_QUEUE_RAFS animation frames", () => {
  let behind = 0;
  const skips = [];
  // Two decoded frames waiting at every animation frame: a standing queue.
  for (let raf = 0; raf < 2 * (STANDING_QUEUE_RAFS + 1); raf++) {
    const step = paintStep(behind, 2);
    behind = step.behind;
    skips.push(step.skip);
  }
  const once = [...Array(STANDING_QUEUE_RAFS).fill(false), true];
  assert.deepEqual(skips, [...once, ...once]);
  // One frame waiting (the page keeps up, nothing queued behind it) resets the count: no skip ever.
  assert.deepEqual(paintStep(STANDING_QUEUE_RAFS, 1), { behind: 0, skip: false });
  assert.deepEqual(paintStep(0, 0), { behind: 0, skip: false });
});

test("PaintGate draws a frame the moment it is decoded, unless the last one drawn is not on screen yet", () => {
  const gate = new PaintGate();
  const DRAW = { draw: true, skip: false };
  const WAIT = { draw: false, skip: false };
  assert.deepEqual(gate.decoded(1), DRAW); // nothing drawn since the last animation frame: draw now
  assert.equal(gate.wantsAnimationFrame(0), true); // to learn when that picture was shown
  assert.deepEqual(gate.decoded(1), WAIT); // drawing now would replace a picture nobody saw
  assert.deepEqual(gate.animationFrame(1), WAIT); // this frame shows the first; the second waits for the next
  assert.equal(gate.wantsAnimationFrame(1), true);
  assert.deepEqual(gate.animationFrame(1), DRAW); // drawn in the callback: this frame shows it
  assert.equal(gate.wantsAnimationFrame(0), false); // nothing waits, nothing unseen: no callbacks
  assert.deepEqual(gate.decoded(1), DRAW); // the next one, at once again
  assert.deepEqual(gate.animationFrame(0), WAIT);
  assert.equal(gate.wantsAnimationFrame(0), false);
});

test("PaintGate: a frame waiting is drawn by the first decode after the animation frame that showed the last", () => {
  const gate = new PaintGate();
  gate.decoded(1); // drawn, unseen
  assert.equal(gate.decoded(1).draw, false); // waits
  gate.animationFrame(1); // the first shown; the waiting one may go from now on
  assert.deepEqual(gate.decoded(2), { draw: true, skip: false }); // a decode before the next frame draws it
  assert.equal(gate.decoded(1).draw, false); // and the newer waits again
});

test("PaintGate drains a standing queue as paintStep says, one frame per animation frame", () => {
  const gate = new PaintGate();
  const skips = [];
  for (let raf = 0; raf < STANDING_QUEUE_RAFS + 1; raf++) skips.push(gate.animationFrame(2).skip);
  assert.deepEqual(skips, [...Array(STANDING_QUEUE_RAFS).fill(false), true]);
});

test("Headroom: a page whose work on a frame is a small share of the paint interval has time to spare", () => {
  const headroom = new Headroom();
  let now = 0;
  const paint = (/** @type {number} */ work, /** @type {number} */ gap) => headroom.painted(work, (now += gap));
  for (let i = 0; i < HEADROOM_FRAMES / 2; i++) assert.equal(paint(5, 16.7), false); // too few to judge
  assert.equal(paint(5, 16.7), true); // 5 of 16.7 ms: spare
  // A throttled page: its work takes most of the interval. The median needs a few frames to turn.
  const turned = [];
  for (let i = 0; i < HEADROOM_FRAMES; i++) turned.push(paint(30, 37));
  assert.equal(turned.at(-1), false);
  assert.ok(turned.indexOf(false) > 0 && turned.indexOf(false) <= HEADROOM_FRAMES / 2 + 1);
  // Between the two thresholds it keeps what it had: no flapping.
  for (let i = 0; i < HEADROOM_FRAMES; i++) paint(8, 16.7); // a share of 0.48
  assert.equal(headroom.spare, false);
  for (let i = 0; i < HEADROOM_FRAMES; i++) paint(4, 16.7);
  assert.equal(headroom.spare, true);
  for (let i = 0; i < HEADROOM_FRAMES; i++) paint(8, 16.7);
  assert.equal(headroom.spare, true);
});

test("requestKey: the next grant says key: true, once, with the paint report when there is one", () => {
  const { loop, rec } = makeLoop();
  const a = liveWithFrame(loop);
  loop.requestKey(); // the view's decoder cannot use frame a
  loop.skipped(a);
  assert.deepEqual(rec.sent.slice(1), [{ type: "next", key: true }]);
  const b = loop.frame(jpeg(2));
  loop.painted(b);
  assert.deepEqual(rec.sent[2], { type: "next", painted: { seq: 2, rev: 0 } }); // asked once only
  const c = loop.frame(jpeg(3));
  loop.requestKey();
  assert.equal(rec.sent.length, 3); // no grant of its own: it rides on the next one
  loop.painted(c);
  assert.deepEqual(rec.sent[3], { type: "next", painted: { seq: 3, rev: 0 }, key: true });
});

test("requestKey belongs to its connection: a new one starts with a keyframe anyway", () => {
  const { loop, rec } = makeLoop();
  liveWithFrame(loop);
  loop.requestKey();
  loop.closed(1006);
  loop.requestKey(); // no connection: nothing to ask on
  loop.opened();
  assert.deepEqual(rec.sent, [{ type: "next" }, { type: "next" }]);
});

test("skipped frees the frame's grant without an error; an unknown or retired id does nothing", () => {
  const { loop, rec } = liveAtDepth2();
  const a = loop.frame(jpeg(1));
  const b = loop.frame(jpeg(2));
  loop.skipped(a);
  assert.deepEqual(rec.sent[2], { type: "next" });
  loop.setVisible(true); // recomputes the state: still no error to show
  assert.deepEqual([loop.state, loop.detail], ["live", null]);
  assert.equal(loop.wants(a), false);
  loop.skipped(a);
  loop.skipped(99);
  assert.equal(rec.sent.length, 3);
  loop.painted(b);
  assert.equal(rec.sent.length, 4);
  assert.equal(loop.stats.painted, 1);
});
